//! The OTLP push exporter against the OpenTelemetry project's Python
//! decoder (PyPI `opentelemetry-proto`, on Google's protobuf runtime), in a
//! small receiver on 127.0.0.1 (`tests/support/otlp_receiver.py`) that
//! writes out every field of every request it decodes.
//!
//! - Property-generated registries (names, kinds, label values with any
//!   Unicode, counters past `i64::MAX`, NaN and infinite gauges, histograms
//!   of three layouts and scales, descriptions with units), pushed
//!   cumulative or delta, gzipped or not, exponential or explicit: every
//!   field is checked against the registry reading: temporality, start and
//!   end times, scale, offset and bucket counts (computed here from the
//!   HDR buckets independently), zero count, count equal to the buckets'
//!   total, sum, min and max, attributes, resource and scope.
//! - Delta intervals over several pushes: contiguous, each increment once.
//! - The collector's snapshot under the Prometheus exporter's names.
//! - The OTLP/HTTP answers: 429 with `Retry-After` honoured, 503 backed
//!   off, 400 not retried, partial success counted (the receiver's answers
//!   are scripted; the decoding is still the real one).
//!
//! Missing Python module: the tests skip, or fail under
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1`.
#![cfg(feature = "otlp")]

use std::{
    collections::BTreeMap,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use lockfree_metrics::{
    export::otlp::{
        Encoder, HistogramMode, OtlpOpts, PushBuilder, PushExporter, PushStats, Temporality,
    },
    registry::{HistogramOpts, HistogramValue, Registry, RegistrySnapshot, Value},
    Config, MetricsCollector, Mode, Sharded,
};
use proptest::{
    prelude::*,
    test_runner::{Config as ProptestConfig, TestCaseError, TestRunner},
};
use serde_json::{json, Value as Json};

use crate::support::{
    generated::{self, awkward_text, Series},
    python::Script,
};

/// The Python receiver.
struct Receiver {
    script: Script,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Receiver {
    fn start() -> Option<Receiver> {
        let mut script = Script::start(
            "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
            "otlp_receiver.py",
            "the Python OTLP receiver",
        )?;
        let lines = script.lines();
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the receiver did not start");
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {first:?}"));
        Some(Receiver {
            script,
            lines,
            port,
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/metrics", self.port)
    }

    /// Scripts the answer to a later request, returning once the receiver
    /// has queued it (so that a request made after this gets it). No
    /// request may be in flight meanwhile: its line would come first.
    fn answer(&mut self, answer: Json) {
        self.script.send(&answer);
        let ack = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the receiver did not acknowledge a scripted answer within 20 s");
        assert_eq!(
            ack, "SCRIPTED",
            "a request came while an answer was scripted"
        );
    }

    /// The next request, as the receiver decoded it, and when it came.
    fn next(&self) -> (Json, Instant) {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("no request within 20 s");
        let at = Instant::now();
        (serde_json::from_str(&line).unwrap(), at)
    }

    /// No request within `d`.
    fn quiet_for(&self, d: Duration) -> bool {
        self.lines.recv_timeout(d).is_err()
    }
}

fn ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn u(v: &Json) -> u64 {
    v.as_str().unwrap_or_else(|| panic!("{v}")).parse().unwrap()
}

fn f(v: &Json) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("{v}"));
    s.parse().unwrap_or_else(|_| panic!("{s}"))
}

fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits() || (a == b && a != 0.0)
}

/// The scale this test expects per significant digits (the crate's rule:
/// the largest no finer than HDR's sub-buckets, capped at 8), by table.
fn expected_scale(digits: u8) -> i32 {
    [-1, 3, 6, 8, 8, 8][usize::from(digits)]
}

/// The exponential bucket of `v > 0` at `scale`, computed here with `exp2`
/// boundaries (exact at powers of two) and corrected against them.
fn index_of(v: f64, scale: i32) -> i32 {
    let bound = |i: i32| (f64::from(i) * 2_f64.powi(-scale)).exp2();
    let mut i = (v.log2() * 2_f64.powi(scale)).ceil() as i32 - 1;
    while bound(i + 1) < v {
        i += 1;
    }
    while bound(i) >= v {
        i -= 1;
    }
    i
}

/// (zero count, offset, dense counts) of `h` as the module docs define
/// them: each HDR bucket by its highest value divided by the scale.
fn expected_exponential(h: &HistogramValue, scale: i32) -> (u64, Option<i32>, Vec<u64>) {
    let unit = h.opts().get_scale();
    let mut zero = 0;
    let mut by_index: BTreeMap<i32, u64> = BTreeMap::new();
    for b in h.buckets() {
        if b.high == 0 {
            zero += b.count;
        } else {
            *by_index
                .entry(index_of(b.high as f64 / unit, scale))
                .or_default() += b.count;
        }
    }
    let Some((&first, _)) = by_index.first_key_value() else {
        return (zero, None, Vec::new());
    };
    let last = *by_index.last_key_value().unwrap().0;
    let dense = (first..=last)
        .map(|i| by_index.get(&i).copied().unwrap_or(0))
        .collect();
    (zero, Some(first), dense)
}

fn ucum(unit: &str) -> &str {
    match unit {
        "seconds" => "s",
        "bytes" => "By",
        other => other,
    }
}

/// What a request's times must be.
#[derive(Clone, Copy, Debug)]
struct Times {
    /// The exact start, or a window it must lie in.
    start: (u64, u64),
    end: (u64, u64),
}

/// Checks one decoded request against `snapshot`.
fn check(
    record: &Json,
    snapshot: &RegistrySnapshot,
    t: Temporality,
    times: Times,
    opts_mode: &HistogramMode,
    service: &str,
) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\nrecord: {record}"));
    if record["errors"] != json!([]) {
        return fail(format!("the receiver found errors: {}", record["errors"]));
    }
    if record["content_type"] != "application/x-protobuf" || record["path"] != "/v1/metrics" {
        return fail("content type or path".into());
    }
    let resources = record["resources"].as_array().unwrap();
    if resources.len() != 1 {
        return fail("one resource".into());
    }
    let expected_resource = json!([
        ["service.name", "string", service],
        ["telemetry.sdk.language", "string", "rust"],
        ["telemetry.sdk.name", "string", "lockfree-metrics"],
        ["telemetry.sdk.version", "string", env!("CARGO_PKG_VERSION")],
    ]);
    if resources[0]["attributes"] != expected_resource {
        return fail(format!("resource {}", resources[0]["attributes"]));
    }
    let scope = &resources[0]["scopes"][0];
    if scope["name"] != "lockfree-metrics" || scope["version"] != env!("CARGO_PKG_VERSION") {
        return fail("scope".into());
    }
    let metrics = scope["metrics"].as_array().unwrap();
    let families: Vec<_> = snapshot.families().collect();
    if metrics.len() != families.len() {
        return fail(format!(
            "{} metrics for {} families",
            metrics.len(),
            families.len()
        ));
    }
    let temporality = match t {
        Temporality::Cumulative => "AGGREGATION_TEMPORALITY_CUMULATIVE",
        Temporality::Delta => "AGGREGATION_TEMPORALITY_DELTA",
    };
    for (m, (name, series)) in metrics.iter().zip(families) {
        if m["name"] != *name {
            return fail(format!("name {} != {name}", m["name"]));
        }
        let d = snapshot.description(name);
        let help = d.map(|d| d.help.as_str()).unwrap_or("");
        if m["description"] != help {
            return fail(format!("{name}: description"));
        }
        let points = m["points"].as_array().unwrap();
        if points.len() != series.len() {
            return fail(format!("{name}: {} points", points.len()));
        }
        let mut unit = d
            .and_then(|d| d.unit.as_deref())
            .map(ucum)
            .unwrap_or("")
            .to_string();
        for (p, s) in points.iter().zip(series) {
            let labels: Vec<Json> = s
                .key
                .labels()
                .map(|(k, v)| json!([k, "string", v]))
                .collect();
            if p["attributes"] != Json::Array(labels) {
                return fail(format!("{name}: attributes {}", p["attributes"]));
            }
            let end = u(&p["time"]);
            if end < times.end.0 || end > times.end.1 {
                return fail(format!("{name}: time {end} outside {:?}", times.end));
            }
            let start = u(&p["start"]);
            let check_start = |start: u64| start >= times.start.0 && start <= times.start.1;
            match &s.value {
                Value::Counter(v) => {
                    if m["kind"] != "sum"
                        || m["monotonic"] != true
                        || m["temporality"] != temporality
                    {
                        return fail(format!("{name}: sum kind"));
                    }
                    if !check_start(start) {
                        return fail(format!("{name}: start {start} outside {:?}", times.start));
                    }
                    let ok = if *v <= i64::MAX as u64 {
                        p["kind"] == "as_int" && u(&p["value"]) == *v
                    } else {
                        p["kind"] == "as_double" && f(&p["value"]) == *v as f64
                    };
                    if !ok {
                        return fail(format!("{name}: counter {v} as {}", p["value"]));
                    }
                }
                Value::Gauge(v) => {
                    if m["kind"] != "gauge" || p["kind"] != "as_double" || start != 0 {
                        return fail(format!("{name}: gauge kind"));
                    }
                    if !same_f64(f(&p["value"]), *v) {
                        return fail(format!("{name}: gauge {v} as {}", p["value"]));
                    }
                }
                Value::Histogram(h) => {
                    let scale_unit = h.opts().get_scale();
                    let all_ns = series.iter().all(|s| {
                        s.as_histogram()
                            .is_some_and(|h| h.opts().get_scale() == 1e9)
                    });
                    if unit.is_empty() && all_ns && name.ends_with("_seconds") {
                        unit = "s".into();
                    }
                    if m["temporality"] != temporality || !check_start(start) {
                        return fail(format!("{name}: temporality or start"));
                    }
                    if u(&p["count"]) != h.count() || f(&p["sum"]) != h.sum() as f64 / scale_unit {
                        return fail(format!("{name}: count or sum"));
                    }
                    let extreme = |v: &Json| v.as_str().map(|s| s.parse::<f64>().unwrap());
                    let (min, max) = if h.count() == 0 {
                        (None, None)
                    } else {
                        (
                            Some(h.min() as f64 / scale_unit),
                            Some(h.max() as f64 / scale_unit),
                        )
                    };
                    if extreme(&p["min"]) != min || extreme(&p["max"]) != max {
                        return fail(format!("{name}: min or max ({min:?}, {max:?})"));
                    }
                    match mode_for(opts_mode) {
                        None => {
                            if m["kind"] != "exponential_histogram" {
                                return fail(format!("{name}: kind"));
                            }
                            let scale = expected_scale(h.opts().digits());
                            let (zero, offset, counts) = expected_exponential(h, scale);
                            let got: Vec<u64> = p["positive"]["bucket_counts"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(u)
                                .collect();
                            if p["scale"] != scale
                                || u(&p["zero_count"]) != zero
                                || got != counts
                                || (offset.is_some() && p["positive"]["offset"] != offset.unwrap())
                                || p["has_negative"] != false
                                || f(&p["zero_threshold"]) != 0.0
                            {
                                return fail(format!(
                                    "{name}: buckets: expected scale {scale} zero {zero} offset {offset:?} {counts:?}"
                                ));
                            }
                        }
                        Some(bounds) => {
                            if m["kind"] != "histogram" {
                                return fail(format!("{name}: kind"));
                            }
                            let bounds = if bounds.is_empty() {
                                let o = h.opts();
                                decades(
                                    o.lowest() as f64 / o.get_scale(),
                                    o.highest() as f64 / o.get_scale(),
                                )
                            } else {
                                bounds.clone()
                            };
                            let mut counts = vec![0_u64; bounds.len() + 1];
                            for b in h.buckets() {
                                let v = b.high as f64 / scale_unit;
                                counts[bounds.iter().filter(|&&le| le < v).count()] += b.count;
                            }
                            let got: Vec<u64> = p["bucket_counts"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(u)
                                .collect();
                            let got_bounds: Vec<f64> = p["explicit_bounds"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(f)
                                .collect();
                            if got != counts || got_bounds != bounds {
                                return fail(format!("{name}: explicit buckets {counts:?}"));
                            }
                        }
                    }
                }
            }
        }
        if m["unit"] != unit.as_str() {
            return fail(format!("{name}: unit {} != {unit}", m["unit"]));
        }
    }
    Ok(())
}

fn mode_for(mode: &HistogramMode) -> Option<&Vec<f64>> {
    match mode {
        HistogramMode::Exponential => None,
        HistogramMode::Explicit(b) => Some(b),
    }
}

/// 1, 2, 5 per decade from `low` to the first at or above `high` (the
/// module docs' default bounds).
fn decades(low: f64, high: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exp = low.log10().floor() as i32;
    loop {
        for m in [1, 2, 5] {
            let v: f64 = format!("{m}e{exp}").parse().unwrap();
            if v >= low {
                out.push(v);
            }
            if v >= high {
                return out;
            }
        }
        exp += 1;
    }
}

fn wait_for(exporter: &PushExporter, what: &str, done: impl Fn(&PushStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = exporter.stats();
        if done(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ---- property-generated registries ----

#[derive(Clone, Debug)]
struct Case {
    /// (name, kind 0..3, histogram options 0..3)
    names: Vec<(String, u8, u8)>,
    series: Vec<Series>,
    descriptions: Vec<(usize, String, Option<String>)>,
    delta: bool,
    gzip: bool,
    explicit: Option<Vec<f64>>,
}

fn case() -> impl Strategy<Value = Case> {
    let name = (
        prop::sample::select(vec!["a", "b_total", "c_seconds", "d_bytes", "e:f"]),
        0..3_u8,
        0..3_u8,
    )
        .prop_map(|(n, k, o)| (n.to_string(), k, o));
    let gauge = prop_oneof![
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 5e-324, f64::MAX, f64::MIN, 1e21]),
        2 => any::<f64>(),
    ];
    let counter = generated::counter();
    let values = generated::values(16);
    let label = (
        prop::sample::select(vec!["l", "path", "x_y"]).prop_map(String::from),
        awkward_text(6),
    );
    let explicit = prop::option::of(prop_oneof![
        Just(Vec::new()),
        prop::collection::btree_set(-3..12_i32, 1..6)
            .prop_map(|s| s.into_iter().map(|e| 10_f64.powi(e) * 1.5).collect()),
    ]);
    prop::collection::vec(name, 1..5)
        .prop_flat_map(move |names| {
            let n = names.len();
            let series = prop::collection::vec(
                (
                    0..n,
                    prop::collection::vec(label.clone(), 0..3),
                    counter.clone(),
                    gauge.clone(),
                    values.clone(),
                )
                    .prop_map(|(name, labels, counter, gauge, values)| Series {
                        name,
                        labels,
                        counter,
                        gauge,
                        values,
                    }),
                0..8,
            );
            let unit = prop::option::of(
                prop::sample::select(vec!["seconds", "bytes", "1", "{request}"])
                    .prop_map(String::from),
            );
            let descriptions = prop::collection::vec((0..n, awkward_text(12), unit), 0..3);
            (
                Just(names),
                series,
                descriptions,
                any::<bool>(),
                any::<bool>(),
                explicit.clone(),
            )
        })
        .prop_map(
            |(names, series, descriptions, delta, gzip, explicit)| Case {
                names,
                series,
                descriptions,
                delta,
                gzip,
                explicit,
            },
        )
}

fn opts_of(i: u8) -> HistogramOpts {
    match i {
        0 => HistogramOpts::default(),
        1 => HistogramOpts::new(1, 1_000_000, 3)
            .unwrap()
            .scale(1.0)
            .unwrap(),
        _ => HistogramOpts::new(1_000, 1_000_000_000_000, 1)
            .unwrap()
            .scale(1e3)
            .unwrap(),
    }
}

fn record(r: &Registry, case: &Case) {
    for (i, help, unit) in &case.descriptions {
        r.describe(&case.names[*i].0, help, unit.as_deref());
    }
    for s in &case.series {
        let (name, kind, opts) = &case.names[s.name];
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Kind clashes and duplicate labels: refused, the case goes on.
        match kind {
            0 => {
                if let Ok(c) = r.counter(name, &labels) {
                    c.increment(s.counter);
                }
            }
            1 => {
                if let Ok(g) = r.gauge(name, &labels) {
                    g.set(s.gauge);
                }
            }
            _ => {
                if let Ok(h) = r.histogram_with(name, &labels, opts_of(*opts)) {
                    for &v in &s.values {
                        h.record(v);
                    }
                }
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(external_python_otlp),
    ignore = "no Python with opentelemetry-proto (set LOCKFREE_METRICS_PYTHON; .ci/setup.sh makes one)"
)]
fn generated_registries_decode_field_for_field() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let receiver = std::cell::RefCell::new(receiver);
    runner
        .run(&case(), |case| {
            let receiver = receiver.borrow();
            let registry = Registry::new();
            let mode = match &case.explicit {
                None => HistogramMode::Exponential,
                Some(b) => HistogramMode::Explicit(b.clone()),
            };
            let opts = OtlpOpts::new("proptest é \"svc\"")
                .histograms(mode.clone())
                .unwrap();
            // Recorded before the encoder, for cumulative (the start is set
            // explicitly); after it, for delta (its reader starts with it).
            let start = SystemTime::now() - Duration::from_secs(3600);
            let t = if case.delta {
                Temporality::Delta
            } else {
                Temporality::Cumulative
            };
            if !case.delta {
                record(&registry, &case);
            }
            let made = ns(SystemTime::now());
            let encoder = Encoder::new(opts).start_time(start).registry(&registry, t);
            let made_end = ns(SystemTime::now());
            if case.delta {
                record(&registry, &case);
            }
            let exporter = PushBuilder::new(&receiver.endpoint())
                .unwrap()
                .interval(Duration::from_secs(3600))
                .gzip(case.gzip)
                .start(encoder)
                .unwrap();
            // One request: the final push's reading.
            let before = ns(SystemTime::now());
            let stats = exporter.shutdown();
            let after = ns(SystemTime::now());
            prop_assert_eq!((stats.sent, stats.failed, stats.dropped), (1, 0, 0));
            let (got, _) = receiver.next();
            prop_assert_eq!(
                &got["content_encoding"],
                if case.gzip { "gzip" } else { "" }
            );
            let times = Times {
                start: if case.delta {
                    (made, made_end)
                } else {
                    (ns(start), ns(start))
                },
                end: (before, after),
            };
            check(
                &got,
                &registry.snapshot(),
                t,
                times,
                &mode,
                "proptest é \"svc\"",
            )
            .map_err(TestCaseError::fail)?;
            Ok(())
        })
        .unwrap();
}

#[test]
#[cfg_attr(
    not(external_python_otlp),
    ignore = "no Python with opentelemetry-proto (set LOCKFREE_METRICS_PYTHON; .ci/setup.sh makes one)"
)]
fn delta_intervals_are_contiguous_and_count_each_record_once() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let registry = Registry::new();
    let c = registry
        .counter("requests_total", &[("route", "/")])
        .unwrap();
    let h = registry.histogram("latency_seconds", &[]).unwrap();
    let encoder = Encoder::new(OtlpOpts::new("delta")).registry(&registry, Temporality::Delta);
    let exporter = PushBuilder::new(&receiver.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .start(encoder)
        .unwrap();
    let mut previous_end = None;
    let mut total = 0;
    for i in 1..=5_u64 {
        c.increment(i);
        for _ in 0..i {
            h.record(i * 1_000_000);
        }
        exporter.push_now();
        let (r, _) = receiver.next();
        assert_eq!(r["errors"], json!([]), "{r}");
        let metrics = &r["resources"][0]["scopes"][0]["metrics"];
        let hist = &metrics[0]["points"][0];
        let sum = &metrics[1]["points"][0];
        assert_eq!(metrics[0]["name"], "latency_seconds");
        assert_eq!(metrics[1]["temporality"], "AGGREGATION_TEMPORALITY_DELTA");
        assert_eq!(u(&sum["value"]), i, "{r}");
        assert_eq!(u(&hist["count"]), i);
        assert_eq!(f(&hist["sum"]), (i * i * 1_000_000) as f64 / 1e9);
        total += u(&sum["value"]);
        let (start, end) = (u(&sum["start"]), u(&sum["time"]));
        assert!(start <= end);
        assert_eq!((u(&hist["start"]), u(&hist["time"])), (start, end));
        if let Some(p) = previous_end {
            assert_eq!(start, p, "intervals must be contiguous");
        }
        previous_end = Some(end);
    }
    assert_eq!(total, 15);
    drop(exporter);
}

#[cfg(feature = "prometheus")]
#[test]
#[cfg_attr(
    not(external_python_otlp),
    ignore = "no Python with opentelemetry-proto (set LOCKFREE_METRICS_PYTHON; .ci/setup.sh makes one)"
)]
fn the_collector_is_named_as_the_prometheus_exporter_names_it() {
    use lockfree_metrics::export::prometheus::{render_collector_snapshot, Format, RenderOpts};

    let Some(receiver) = Receiver::start() else {
        return;
    };
    let seed = Arc::new(Sharded::new(Config::default()));
    for i in 1..=100 {
        seed.record_latency(Duration::from_micros(i * 10));
    }
    seed.record_throughput(7, 2);
    seed.record_batch_size(3);
    seed.record_batch_size(9);
    seed.record_queue_depth(4);
    seed.record_mode_transition(Mode(1));
    seed.record_mode_transition(Mode(2));
    let collector: Arc<dyn MetricsCollector> = seed.clone();
    let encoder = Encoder::new(OtlpOpts::new("seed")).collector(collector, "srv");
    let exporter = PushBuilder::new(&receiver.endpoint())
        .unwrap()
        .start(encoder)
        .unwrap();
    let stats = exporter.shutdown();
    assert_eq!(stats.sent, 1);
    let (r, _) = receiver.next();
    assert_eq!(r["errors"], json!([]), "{r}");
    let metrics = r["resources"][0]["scopes"][0]["metrics"]
        .as_array()
        .unwrap();
    let by_name: BTreeMap<&str, &Json> = metrics
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m))
        .collect();

    // The Prometheus exporter's family names for the same snapshot.
    let snapshot = seed.snapshot();
    let (text, _) =
        render_collector_snapshot("srv", &snapshot, Format::Text, &RenderOpts::default());
    let prometheus: std::collections::BTreeSet<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let mut w = l.split(' ');
            let (name, kind) = (w.next().unwrap(), w.next().unwrap());
            // The text format names counters with their _total.
            if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_string()
            }
        })
        .collect();
    let ours: std::collections::BTreeSet<String> = by_name
        .keys()
        .filter(|n| **n != "srv_latency_quantile_seconds")
        .map(|n| n.to_string())
        .collect();
    assert_eq!(ours, prometheus);

    let l = &snapshot.latency;
    let lat = &by_name["srv_latency_seconds"]["points"][0];
    assert_eq!(by_name["srv_latency_seconds"]["kind"], "histogram");
    assert_eq!(u(&lat["count"]), 100);
    assert_eq!(f(&lat["min"]), l.min.as_secs_f64());
    assert_eq!(f(&lat["max"]), l.max.as_secs_f64());
    let q = &by_name["srv_latency_quantile_seconds"]["points"];
    assert_eq!(q[2]["attributes"], json!([["quantile", "string", "0.99"]]));
    assert_eq!(f(&q[2]["value"]), l.p99.as_secs_f64());
    assert_eq!(by_name["srv_mode"]["kind"], "gauge");
    assert_eq!(f(&by_name["srv_mode"]["points"][0]["value"]), 2.0);
    let transitions = by_name["srv_mode_transitions_total"];
    assert_eq!(
        (&transitions["kind"], &transitions["monotonic"]),
        (&json!("sum"), &json!(true))
    );
    assert_eq!(u(&transitions["points"][0]["value"]), 2);
    let batch = &by_name["srv_batch_size"]["points"][0];
    assert_eq!(u(&batch["count"]), 2);
    assert_eq!(f(&batch["sum"]), 12.0);
    assert_eq!(by_name["srv_queue_depth"]["kind"], "gauge");
    assert_eq!(f(&by_name["srv_queue_depth"]["points"][0]["value"]), 4.0);
    assert_eq!(u(&by_name["srv_tokens_total"]["points"][0]["value"]), 7);
    // Cumulative since the collector's last reset.
    // (The exporter read it before this test's snapshot.)
    let since = u(&lat["time"]) - u(&lat["start"]);
    assert!(
        since > 0 && since <= snapshot.since_reset.as_nanos() as u64,
        "{since} vs {:?}",
        snapshot.since_reset
    );
}

#[test]
#[cfg_attr(
    not(external_python_otlp),
    ignore = "no Python with opentelemetry-proto (set LOCKFREE_METRICS_PYTHON; .ci/setup.sh makes one)"
)]
fn answers_follow_the_otlp_http_rules() {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let registry = Registry::new();
    registry.counter("x_total", &[]).unwrap().increment(1);
    let encoder = Encoder::new(OtlpOpts::new("rules")).registry(&registry, Temporality::Cumulative);
    // A backoff far longer than the Retry-After: a retry within ~1 s is
    // the header's doing.
    let exporter = PushBuilder::new(&receiver.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .backoff(Duration::from_secs(8), Duration::from_secs(8))
        .start(encoder)
        .unwrap();

    // 429 with Retry-After: 1: retried after about a second.
    receiver.answer(json!({"status": 429, "retry_after": "1"}));
    exporter.push_now();
    let (r, first) = receiver.next();
    assert_eq!(r["answered"], 429);
    let (r, second) = receiver.next();
    assert_eq!(r["answered"], 200);
    let waited = second - first;
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "Retry-After 1 s, waited {waited:?}"
    );
    wait_for(&exporter, "sent after 429", |s| {
        s.sent == 1 && s.retried == 1
    });

    // 400: not retried; the batch is given up and counted.
    receiver.answer(json!({"status": 400}));
    exporter.push_now();
    let (r, _) = receiver.next();
    assert_eq!(r["answered"], 400);
    wait_for(&exporter, "failed after 400", |s| s.failed == 1);
    assert!(
        receiver.quiet_for(Duration::from_millis(1500)),
        "400 was retried"
    );

    // Partial success: sent, its rejected points counted.
    receiver.answer(json!({"status": 200, "rejected": 3, "message": "3 bad points"}));
    exporter.push_now();
    let (r, _) = receiver.next();
    assert_eq!(r["answered"], 200);
    wait_for(&exporter, "partial success", |s| s.partial_successes == 1);
    let s = exporter.stats();
    assert_eq!((s.sent, s.rejected_points, s.retried), (2, 3, 1), "{s:?}");
    assert!(s.last_error.unwrap_or_default().contains("3 bad points"));
    drop(exporter);
    // The final push.
    let (r, _) = receiver.next();
    assert_eq!(r["answered"], 200);
}

#[test]
#[cfg_attr(
    not(external_python_otlp),
    ignore = "no Python with opentelemetry-proto (set LOCKFREE_METRICS_PYTHON; .ci/setup.sh makes one)"
)]
fn a_503_backs_off_with_jitter_within_the_bounds() {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let registry = Registry::new();
    registry.gauge("g", &[]).unwrap().set(1.0);
    let encoder =
        Encoder::new(OtlpOpts::new("backoff")).registry(&registry, Temporality::Cumulative);
    let initial = Duration::from_millis(400);
    let exporter = PushBuilder::new(&receiver.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .backoff(initial, Duration::from_secs(10))
        .start(encoder)
        .unwrap();
    for _ in 0..3 {
        receiver.answer(json!({"status": 503}));
    }
    exporter.push_now();
    let mut at = Vec::new();
    for _ in 0..4 {
        at.push(receiver.next().1);
    }
    // Waits of [d/2, d] for d = 400, 800, 1600 ms (plus scheduling).
    for (k, w) in at.windows(2).enumerate() {
        let d = initial * (1 << k);
        let waited = w[1] - w[0];
        assert!(
            waited >= d / 2 && waited <= d + Duration::from_millis(400),
            "retry {k}: waited {waited:?} for a backoff of {d:?}"
        );
    }
    wait_for(&exporter, "sent after three 503s", |s| {
        s.sent == 1 && s.retried == 3
    });
    drop(exporter);
}
