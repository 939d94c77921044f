//! Property-generated registries, rendered as text 0.0.4 and OpenMetrics
//! 1.0, parsed by the Python `prometheus_client`'s parsers
//! (`prometheus_client.parser` and the strict
//! `prometheus_client.openmetrics.parser`) and compared with the
//! snapshot: every family's name, type, help and unit, every sample's
//! name, labels and value. Names are drawn to clash (`x` and `x_total`,
//! `x` and `x_count`): the registry refuses the later one
//! (`RegistryError::NameClash`), so no family is left out; label values hold `\`, `"`, newlines, control
//! characters and any Unicode, gauges may be NaN or infinite, some names
//! are described and have no series.
//!
//! One Python process parses every case (one JSON line each way), so the
//! cases stay fast and proptest still shrinks a failure.
#![cfg(feature = "prometheus")]

use std::{
    cell::RefCell,
    collections::BTreeMap,
    time::{Duration, Instant},
};

use lockfree_metrics::{
    export::prometheus::{Exposition, Format, RenderOpts},
    registry::{HistogramOpts, Registry, RegistryError, RegistrySnapshot, Value},
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

/// The Python parsers behind one process.
struct Parser(Script);

impl Parser {
    fn start() -> Option<Parser> {
        Script::start(
            "prometheus_client",
            "parse_expositions.py",
            "the Python parser",
        )
        .map(Parser)
    }

    fn parse(&mut self, format: &str, body: &str) -> Json {
        self.0.send(&json!({ "format": format, "body": body }));
        let line = self.0.read_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the parser said {line:?}: {e}"))
    }
}

#[derive(Clone, Debug)]
struct Name {
    name: String,
    kind: u8,
    opts: u8,
}

#[derive(Clone, Debug)]
struct Case {
    names: Vec<Name>,
    series: Vec<Series>,
    /// (name index, help, unit)
    descriptions: Vec<(usize, String, Option<String>)>,
    described_only: Vec<String>,
    summaries: Option<Vec<f64>>,
}

fn case() -> impl Strategy<Value = Case> {
    let suffix = prop::sample::select(vec![
        "", "", "_total", "_seconds", "_bytes", "_count", "_sum", "_bucket", "_created",
    ]);
    // Stems from a small pool too, so that names collide across kinds.
    let stem = prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "a_b"]).prop_map(String::from),
        2 => "[a-zA-Z_:][a-zA-Z0-9_:]{0,4}",
    ];
    let name = (stem, suffix, 0..3_u8, 0..3_u8).prop_map(|(stem, suffix, kind, opts)| Name {
        name: format!("{stem}{suffix}"),
        kind,
        opts,
    });
    let label_name = prop_oneof![
        1 => Just("le".to_string()),
        1 => Just("quantile".to_string()),
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,3}".prop_filter("reserved", |l| !l.starts_with("__") && !l.starts_with("exported_")),
    ];
    let gauge = prop_oneof![
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 5e-324, f64::MIN_POSITIVE, f64::MAX, f64::MIN, 1e21, 1e-7, 123456.0, 1234567.0]),
        2 => any::<f64>(),
        2 => -1e6..1e6_f64,
    ];
    let counter = generated::counter();
    let values = generated::values(12);
    (prop::collection::vec(name, 1..6), prop::collection::vec((label_name, awkward_text(6)), 0..3))
        .prop_flat_map(move |(names, _)| {
            let n = names.len();
            let series = prop::collection::vec(
                (
                    0..n,
                    prop::collection::vec(
                        (
                            prop_oneof![
                                1 => Just("le".to_string()),
                                1 => Just("quantile".to_string()),
                                4 => "[a-zA-Z_][a-zA-Z0-9_]{0,3}".prop_filter("reserved", |l| !l.starts_with("__") && !l.starts_with("exported_")),
                            ],
                            awkward_text(6),
                        ),
                        0..3,
                    ),
                    counter.clone(),
                    gauge.clone(),
                    values.clone(),
                )
                    .prop_map(|(name, labels, counter, gauge, values)| Series { name, labels, counter, gauge, values }),
                0..10,
            );
            let unit = prop::option::of(prop::sample::select(vec!["seconds", "bytes", "total", "a unit", ""]).prop_map(String::from));
            let descriptions = prop::collection::vec((0..n, awkward_text(12), unit), 0..4);
            let described_only = prop::collection::vec("[a-z]{1,4}_unused", 0..2);
            let summaries = prop::option::weighted(0.25, prop::collection::vec(0.0..=1.0_f64, 0..4));
            (Just(names), series, descriptions, described_only, summaries)
        })
        .prop_map(|(names, series, descriptions, described_only, summaries)| Case { names, series, descriptions, described_only, summaries })
}

fn opts_of(i: u8) -> HistogramOpts {
    match i {
        0 => HistogramOpts::default(),
        1 => HistogramOpts::new(1, 1_000_000, 3)
            .unwrap()
            .scale(1.0)
            .unwrap(),
        _ => HistogramOpts::new(1_000, 1_000_000_000_000, 1).unwrap(),
    }
}

/// The registry of `case`, and how many series it refused because their
/// name's samples clash with another name's (`RegistryError::NameClash`).
fn build(case: &Case) -> (Registry, usize) {
    let r = Registry::new();
    let mut refused = 0;
    let mut clash = |e: RegistryError| {
        refused += usize::from(matches!(e, RegistryError::NameClash { .. }));
    };
    for (i, help, unit) in &case.descriptions {
        r.describe(&case.names[*i].name, help, unit.as_deref());
    }
    for name in &case.described_only {
        r.describe(name, "Described; no series.", None);
    }
    // Every other name gets a series with no labels, so that names drawn
    // to collide do (the others only have the series drawn for them).
    let unlabelled = case
        .names
        .iter()
        .enumerate()
        .step_by(2)
        .map(|(i, _)| Series {
            name: i,
            labels: Vec::new(),
            counter: 1,
            gauge: 0.5,
            values: vec![1_000],
        });
    for s in case.series.iter().cloned().chain(unlabelled) {
        let n = &case.names[s.name];
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Kind clashes, duplicate labels and other options: the registry
        // refuses them, and the case goes on without that series.
        match n.kind {
            0 => match r.counter(&n.name, &labels) {
                Ok(c) => c.increment(s.counter),
                Err(e) => clash(e),
            },
            1 => match r.gauge(&n.name, &labels) {
                Ok(g) => g.set(s.gauge),
                Err(e) => clash(e),
            },
            _ => match r.histogram_with(&n.name, &labels, opts_of(n.opts)) {
                Ok(h) => {
                    for &v in &s.values {
                        h.record(v);
                    }
                }
                Err(e) => clash(e),
            },
        }
    }
    (r, refused)
}

type Labels = BTreeMap<String, String>;

#[derive(Debug, PartialEq)]
struct Family {
    name: String,
    kind: String,
    help: String,
    unit: String,
    /// (name, labels, value), sorted; `le` and `quantile` as parsed f64s.
    samples: Vec<(String, Labels, Float)>,
}

/// Equal when both NaN (or numerically equal, so -0 == 0).
#[derive(Debug, Clone, Copy)]
struct Float(f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        (self.0.is_nan() && other.0.is_nan()) || self.0 == other.0
    }
}

fn normalize(kind: &str, labels: &mut Labels) {
    let number = match kind {
        "histogram" => "le",
        "summary" => "quantile",
        _ => return,
    };
    if let Some(v) = labels.get_mut(number) {
        if let Ok(f) = v.parse::<f64>() {
            *v = format!("{f:?}");
        }
    }
}

fn parsed(answer: &Json) -> Result<Vec<Family>, String> {
    if answer["ok"] != json!(true) {
        return Err(answer["error"].as_str().unwrap_or("?").to_string());
    }
    let families = answer["families"].as_array().unwrap();
    Ok(families
        .iter()
        .map(|f| {
            let kind = f["type"].as_str().unwrap().to_string();
            let mut samples: Vec<(String, Labels, Float)> = f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let mut labels: Labels = serde_json::from_value(s["labels"].clone()).unwrap();
                    normalize(&kind, &mut labels);
                    let value: f64 = s["value"].as_str().unwrap().parse().unwrap();
                    (
                        s["name"].as_str().unwrap().to_string(),
                        labels,
                        Float(value),
                    )
                })
                .collect();
            samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            Family {
                name: f["name"].as_str().unwrap().to_string(),
                kind,
                help: f["help"].as_str().unwrap().to_string(),
                unit: f["unit"].as_str().unwrap().to_string(),
                samples,
            }
        })
        .collect())
}

/// 1, 1.5, 2, 3, 5, 7 per decade within `low ..= high` (the default
/// boundaries, restated).
fn decades(low: f64, high: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for exp in -12..=13 {
        for m in ["1", "1.5", "2", "3", "5", "7"] {
            let v: f64 = format!("{m}e{exp}").parse().unwrap();
            if v >= low && v <= high {
                out.push(v);
            }
        }
    }
    out
}

/// What the parsers should find, computed from the snapshot directly.
fn expected(
    snapshot: &RegistrySnapshot,
    left_out: &[String],
    summaries: Option<&[f64]>,
    om: bool,
) -> Vec<Family> {
    let mut out = Vec::new();
    for (name, group) in snapshot.families() {
        if left_out.iter().any(|l| l == name) {
            continue;
        }
        let description = snapshot.description(name);
        let mut unit = description.and_then(|d| d.unit.clone()).unwrap_or_default();
        let family = match &group[0].value {
            Value::Counter(_) => name
                .strip_suffix("_total")
                .filter(|s| !s.is_empty())
                .unwrap_or(name),
            _ => name,
        };
        if let Value::Histogram(h) = &group[0].value {
            if unit.is_empty() && h.opts().get_scale() == 1e9 && name.ends_with("_seconds") {
                unit = "seconds".into();
            }
        }
        let unit_fits = !unit.is_empty()
            && unit
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && family.len() > unit.len() + 1
            && family.ends_with(&format!("_{unit}"));
        let labels_of =
            |s: &lockfree_metrics::registry::SeriesSnapshot, reserved: Option<&str>| -> Labels {
                s.key
                    .labels()
                    .map(|(k, v)| {
                        let k = if Some(k) == reserved {
                            format!("exported_{k}")
                        } else {
                            k.to_string()
                        };
                        (k, v.to_string())
                    })
                    .collect()
            };
        let with = |labels: &Labels, k: &str, v: f64| {
            let mut l = labels.clone();
            l.insert(k.into(), format!("{v:?}"));
            l
        };
        let mut samples = Vec::new();
        let kind = match &group[0].value {
            Value::Counter(_) => {
                for s in group {
                    if let Value::Counter(v) = s.value {
                        samples.push((
                            format!("{family}_total"),
                            labels_of(s, None),
                            Float(v as f64),
                        ));
                    }
                }
                "counter"
            }
            Value::Gauge(_) => {
                for s in group {
                    if let Value::Gauge(v) = s.value {
                        samples.push((family.to_string(), labels_of(s, None), Float(v)));
                    }
                }
                "gauge"
            }
            Value::Histogram(_) if summaries.is_some() => {
                for s in group {
                    let h = s.as_histogram().unwrap();
                    let scale = h.opts().get_scale();
                    let labels = labels_of(s, Some("quantile"));
                    for &q in summaries.unwrap() {
                        let v = if h.count() == 0 {
                            f64::NAN
                        } else {
                            h.quantile(q) as f64 / scale
                        };
                        samples.push((family.to_string(), with(&labels, "quantile", q), Float(v)));
                    }
                    samples.push((
                        format!("{family}_sum"),
                        labels.clone(),
                        Float(h.sum_scaled()),
                    ));
                    samples.push((format!("{family}_count"), labels, Float(h.count() as f64)));
                }
                "summary"
            }
            Value::Histogram(_) => {
                for s in group {
                    let h = s.as_histogram().unwrap();
                    let o = h.opts();
                    let scale = o.get_scale();
                    let labels = labels_of(s, Some("le"));
                    let mut bounds = decades(o.lowest() as f64 / scale, o.highest() as f64 / scale);
                    bounds.push(f64::INFINITY);
                    for le in bounds {
                        let n: u64 = h
                            .buckets()
                            .filter(|b| b.high as f64 / scale <= le)
                            .map(|b| b.count)
                            .sum();
                        samples.push((
                            format!("{family}_bucket"),
                            with(&labels, "le", le),
                            Float(n as f64),
                        ));
                    }
                    samples.push((
                        format!("{family}_sum"),
                        labels.clone(),
                        Float(h.sum_scaled()),
                    ));
                    samples.push((format!("{family}_count"), labels, Float(h.count() as f64)));
                }
                "histogram"
            }
        };
        samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out.push(Family {
            name: family.to_string(),
            kind: kind.to_string(),
            // Trimmed by the exporter (parsers disagree on the ends).
            help: description.map_or_else(String::new, |d| {
                d.help
                    .trim_matches(|c: char| c.is_whitespace() || c.is_control())
                    .to_string()
            }),
            unit: if om && unit_fits { unit } else { String::new() },
            samples,
        });
    }
    out
}

/// How many cases reached each situation (the generator's coverage).
#[derive(Debug, Default)]
struct Reached {
    clashes: usize,
    histograms: usize,
    summaries: usize,
    non_finite_gauges: usize,
    escaped_labels: usize,
    renamed_labels: usize,
}

fn check(parser: &mut Parser, case: &Case, reached: &mut Reached) -> Result<(), TestCaseError> {
    let (registry, refused) = build(case);
    let snapshot = registry.snapshot();
    let any =
        |f: &dyn Fn(&lockfree_metrics::registry::SeriesSnapshot) -> bool| snapshot.iter().any(f);
    let histograms = any(&|s| s.as_histogram().is_some());
    reached.histograms += usize::from(histograms && case.summaries.is_none());
    reached.summaries += usize::from(histograms && case.summaries.is_some());
    reached.non_finite_gauges += usize::from(any(
        &|s| matches!(s.value, Value::Gauge(v) if !v.is_finite()),
    ));
    reached.escaped_labels += usize::from(any(&|s| {
        s.key.labels().any(|(_, v)| v.contains(['\\', '"', '\n']))
    }));
    reached.renamed_labels += usize::from(any(&|s| {
        s.as_histogram().is_some() && s.key.labels().any(|(k, _)| k == "le" || k == "quantile")
    }));
    let mut opts = RenderOpts::default();
    if let Some(q) = &case.summaries {
        opts = opts.summaries(q);
    }
    let exposition = Exposition::from(snapshot.clone());
    let left_out = exposition.left_out(&opts);
    // The registry refuses every name whose samples would clash
    // (`RegistryError::NameClash`, issue 21 item 11), so the exposition
    // leaves none of its families out.
    reached.clashes += usize::from(refused > 0);
    prop_assert!(left_out.is_empty(), "left out: {left_out:?}");
    // Each family left out does clash with one kept before it.
    let claims = |name: &str| -> Vec<String> {
        let s = snapshot.iter().find(|s| s.key.name() == name).unwrap();
        let (family, suffixes): (&str, &[&str]) = match &s.value {
            Value::Counter(_) => (
                name.strip_suffix("_total")
                    .filter(|s| !s.is_empty())
                    .unwrap_or(name),
                &["", "_total", "_created"],
            ),
            Value::Gauge(_) => (name, &[""]),
            Value::Histogram(_) if case.summaries.is_some() => {
                (name, &["", "_sum", "_count", "_created"])
            }
            Value::Histogram(_) => (name, &["", "_bucket", "_sum", "_count", "_created"]),
        };
        suffixes.iter().map(|x| format!("{family}{x}")).collect()
    };
    let mut kept: Vec<String> = Vec::new();
    for (name, _) in snapshot.families() {
        let mine = claims(name);
        let clashes = mine.iter().any(|c| kept.contains(c));
        prop_assert_eq!(
            clashes,
            left_out.iter().any(|l| l == name),
            "{} left out: {:?}",
            name,
            left_out
        );
        if !clashes {
            kept.extend(mine);
        }
    }
    // The quantiles RenderOpts keeps: in range, sorted, deduplicated.
    let quantiles = case.summaries.as_ref().map(|q| {
        let mut q: Vec<f64> = q.clone();
        q.sort_by(f64::total_cmp);
        q.dedup();
        q
    });
    for (format, name) in [(Format::Text, "text"), (Format::OpenMetrics, "openmetrics")] {
        let (body, _) = exposition.render(format, &opts);
        let body = String::from_utf8(body).unwrap();
        let families = parsed(&parser.parse(name, &body))
            .map_err(|e| TestCaseError::fail(format!("{name} refused: {e}\n{body}")))?;
        let want = expected(
            &snapshot,
            &left_out,
            quantiles.as_deref(),
            format == Format::OpenMetrics,
        );
        prop_assert_eq!(&families, &want, "{} of\n{}", name, body);
        for unused in &case.described_only {
            prop_assert!(
                families
                    .iter()
                    .all(|f| !f.name.starts_with(unused.as_str()))
                    || snapshot.iter().any(|s| s.key.name() == unused)
            );
        }
    }
    Ok(())
}

#[test]
#[cfg_attr(
    not(external_python_prometheus),
    ignore = "no Python with prometheus_client (set LOCKFREE_METRICS_PYTHON, or make target/dev-venv)"
)]
fn python_parsers_round_trip_generated_registries() {
    let Some(parser) = Parser::start() else {
        return;
    };
    let parser = RefCell::new(parser);
    let reached = RefCell::new(Reached::default());
    let started = Instant::now();
    let cases = 256;
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&case(), |case| {
        check(&mut parser.borrow_mut(), &case, &mut reached.borrow_mut())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let reached = reached.into_inner();
    eprintln!("{cases} cases in {:?}: {reached:?}", started.elapsed());
    let Reached {
        clashes,
        histograms,
        summaries,
        non_finite_gauges,
        escaped_labels,
        renamed_labels,
    } = reached;
    for (what, n) in [
        ("clashing names", clashes),
        ("histograms", histograms),
        ("summaries", summaries),
        ("non-finite gauges", non_finite_gauges),
        ("escaped label values", escaped_labels),
        ("renamed le/quantile labels", renamed_labels),
    ] {
        assert!(
            n >= 3,
            "only {n} cases with {what}: the generator should reach them"
        );
    }
}

#[test]
#[cfg_attr(
    not(external_python_prometheus),
    ignore = "no Python with prometheus_client (set LOCKFREE_METRICS_PYTHON, or make target/dev-venv)"
)]
fn python_parsers_read_a_collector_snapshot() {
    let Some(mut parser) = Parser::start() else {
        return;
    };
    let seed = Sharded::new(Config::default());
    seed.record_latency(Duration::from_millis(12));
    seed.record_throughput(10, 1);
    seed.record_batch_size(4);
    seed.record_queue_depth(3);
    seed.record_mode_transition(Mode(1));
    for snapshot in [seed.snapshot(), Sharded::new(Config::default()).snapshot()] {
        let s = snapshot.clone();
        for (format, name) in [(Format::Text, "text"), (Format::OpenMetrics, "openmetrics")] {
            let (body, _) = Exposition::new()
                .collector_snapshot("sched", s.clone())
                .render(format, &RenderOpts::default());
            let body = String::from_utf8(body).unwrap();
            let families = parsed(&parser.parse(name, &body))
                .unwrap_or_else(|e| panic!("{name}: {e}\n{body}"));
            let latency = families
                .iter()
                .find(|f| f.name == "sched_latency_seconds")
                .unwrap();
            assert_eq!(latency.kind, "summary");
            assert_eq!(
                latency.unit,
                if name == "openmetrics" { "seconds" } else { "" }
            );
            let count = latency
                .samples
                .iter()
                .find(|s| s.0 == "sched_latency_seconds_count")
                .unwrap();
            assert_eq!(count.2, Float(s.latency.count as f64));
            let p99 = latency
                .samples
                .iter()
                .find(|s| s.1.get("quantile").map(String::as_str) == Some("0.99"))
                .unwrap();
            let want = if s.latency.count == 0 {
                f64::NAN
            } else {
                s.latency.p99.as_secs_f64()
            };
            assert_eq!(p99.2, Float(want));
            let batch = families
                .iter()
                .find(|f| f.name == "sched_batch_size")
                .unwrap();
            assert_eq!(batch.kind, "histogram");
        }
    }
}
