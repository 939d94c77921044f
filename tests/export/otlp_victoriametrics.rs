//! The OTLP push exporter against a real receiver: Debian trixie's
//! VictoriaMetrics 1.112 (fetched and unpacked, not installed, by
//! `tests/support/fetch_victoria_metrics.sh`), on 127.0.0.1 with a
//! temporary data directory, queried through its Prometheus API.
//!
//! - cumulative: counters and gauges exact (label values with quotes,
//!   backslashes and Unicode), the resource's `service.name`, histogram
//!   `_count` and `_sum` exact, `histogram_quantile(0.99)` within
//!   `relative_error(scale)` of the registry's own p99, gzip on;
//! - delta: accepted (HTTP 200), gauges stored, and the delta sums and
//!   histograms skipped, as VictoriaMetrics 1.112 documents ("unsupported
//!   delta temporality" in its log): the delta encoding itself is checked
//!   field by field in `tests/export/otlp_python.rs`;
//! - receiver down, then up: the exporter backs off, holds at most its
//!   pending bound (the oldest dropped, counted), and every batch within
//!   the bound arrives once the receiver is back, each sample exact.
//!
//! The binary: `$LOCKFREE_METRICS_VICTORIA_METRICS`, or the fetch script's
//! cache under `target/`. Missing, the tests skip, or fail under
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1`.
#![cfg(feature = "otlp")]

use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use child::ChildGuard;
use lockfree_metrics::{
    export::otlp::{relative_error, scale_for_digits, Encoder, OtlpOpts, PushBuilder, Temporality},
    registry::Registry,
};
use serde_json::Value as Json;

use crate::support::child;
use crate::support::external;

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("lfm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binary() -> Option<PathBuf> {
    let cached = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/victoria-metrics/root/usr/bin/victoria-metrics");
    external::find(
        "victoria-metrics",
        "LOCKFREE_METRICS_VICTORIA_METRICS",
        &[cached.to_str().unwrap()],
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running VictoriaMetrics; killed on drop.
struct Victoria {
    guard: Option<ChildGuard>,
    binary: PathBuf,
    port: u16,
    data: PathBuf,
    log: PathBuf,
    http: ureq::Agent,
}

impl Victoria {
    fn start(binary: &Path, dir: &TempDir) -> Victoria {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        // The port is free when chosen; another process may take it first,
        // so a failed start is retried on another.
        for _ in 0..3 {
            let mut v = Victoria {
                guard: None,
                binary: binary.to_path_buf(),
                port: free_port(),
                data: dir.0.join("data"),
                log: dir.0.join("log"),
                http: http.clone(),
            };
            if v.up() {
                return v;
            }
            eprintln!("victoria-metrics did not start; retrying:\n{}", v.log());
        }
        panic!("victoria-metrics did not start three times");
    }

    /// Starts (again) on the same port and data: whether it became ready.
    fn up(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg(format!("-storageDataPath={}", self.data.display()))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-retentionPeriod=1d")
            .stdout(Stdio::null())
            .stderr(log);
        self.guard = Some(ChildGuard::spawn(
            &mut command,
            "victoria-metrics",
            Duration::from_secs(120),
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && self.guard.as_ref().is_some_and(|g| g.running()) {
            let ok = self
                .http
                .get(format!("{}/health", self.api()))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops it gracefully (SIGTERM: it writes its data to disk first,
    /// which a kill would lose); the data directory stays.
    fn down(&mut self) {
        if let Some(guard) = self.guard.take() {
            let pid = guard.with(|c| c.id()) as libc::pid_t;
            // SAFETY: `kill` has no memory-safety obligations; `pid` is our
            // running child, not yet reaped (the guard reaps it below).
            unsafe { libc::kill(pid, libc::SIGTERM) };
            guard.wait(Duration::from_secs(15));
        }
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn endpoint(&self) -> String {
        format!("{}/opentelemetry/v1/metrics", self.api())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str, params: &[(&str, &str)]) -> String {
        let _ = self
            .http
            .get(format!("{}/internal/force_flush", self.api()))
            .call();
        let mut request = self.http.get(format!("{}{path}", self.api()));
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        response.body_mut().read_to_string().unwrap()
    }

    /// An instant query's vector: (labels, value).
    fn query(&self, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let answer: Json = serde_json::from_str(&self.get("/api/v1/query", &[("query", q)]))
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(answer["status"], "success", "{q}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = serde_json::from_value(r["metric"].clone()).unwrap();
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// The query's one value, waiting (bounded) for it to appear.
    fn value(&self, q: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.query(q);
            if r.len() == 1 {
                return r[0].1;
            }
            assert!(
                Instant::now() < deadline && r.is_empty(),
                "{q}: {r:?}\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every raw sample of `selector`'s one series: (ms, value), oldest first.
    fn samples(&self, selector: &str) -> Vec<(i64, f64)> {
        let text = self.get("/api/v1/export", &[("match[]", selector)]);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{selector}: {text}");
        let j: Json = serde_json::from_str(lines[0]).unwrap();
        let values = j["values"].as_array().unwrap();
        let times = j["timestamps"].as_array().unwrap();
        times
            .iter()
            .zip(values)
            .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
            .collect()
    }
}

/// Waits (bounded) until `done` holds for the exporter's stats.
fn wait_for(
    exporter: &lockfree_metrics::export::otlp::PushExporter,
    what: &str,
    done: impl Fn(&lockfree_metrics::export::otlp::PushStats) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = exporter.stats();
        if done(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {s:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

const SPECIAL: &str = "/a \"quoted\" \\path é 漢 🎉";

/// Escapes a label value for a PromQL string literal.
fn promql(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[test]
#[cfg_attr(
    not(external_victoria_metrics),
    ignore = "victoria-metrics not found (run tests/support/fetch_victoria_metrics.sh, or set LOCKFREE_METRICS_VICTORIA_METRICS)"
)]
fn cumulative_push_is_exact_in_victoria_metrics() {
    let Some(binary) = binary() else { return };
    let dir = TempDir::new("vm-cumulative");
    let vm = Victoria::start(&binary, &dir);

    let registry = Registry::new();
    registry.describe("payload_bytes", "Payload sizes.", Some("bytes"));
    let hits = registry
        .counter("hits_total", &[("path", SPECIAL), ("code", "200")])
        .unwrap();
    let other = registry
        .counter("hits_total", &[("path", "/"), ("code", "500")])
        .unwrap();
    let temp = registry.gauge("temperature_celsius", &[]).unwrap();
    let latency = registry.histogram("latency_seconds", &[]).unwrap();
    hits.increment(12_345_678_901);
    other.increment(3);
    temp.set(-17.25);
    // A skewed workload over three decades (ns).
    let mut x = 1_u64;
    for i in 0..20_000_u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let v = 50_000 + (x >> 40) % 1_000_000 + if i % 100 == 0 { 40_000_000 } else { 0 };
        latency.record(v);
    }

    let encoder = Encoder::new(OtlpOpts::new("otlp-test \"svc\" é"))
        .registry(&registry, Temporality::Cumulative);
    let exporter = PushBuilder::new(&vm.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .gzip(true)
        .start(encoder)
        .unwrap();
    exporter.push_now();
    wait_for(&exporter, "one batch sent", |s| s.sent == 1);
    let stats = exporter.shutdown();
    assert_eq!(
        (stats.failed, stats.dropped, stats.pending),
        (0, 0, 0),
        "{stats:?}"
    );

    let snapshot = registry.snapshot();
    let sel = format!("path=\"{}\",code=\"200\"", promql(SPECIAL));
    assert_eq!(vm.value(&format!("hits_total{{{sel}}}")), 12_345_678_901.0);
    assert_eq!(vm.value("hits_total{code=\"500\"}"), 3.0);
    // The label value comes back byte for byte, with the resource.
    let r = vm.query(&format!("hits_total{{{sel}}}"));
    assert_eq!(r[0].0["path"], SPECIAL);
    assert_eq!(r[0].0["service.name"], "otlp-test \"svc\" é");
    assert_eq!(vm.value("temperature_celsius"), -17.25);

    let h = snapshot
        .get("latency_seconds", &[])
        .unwrap()
        .as_histogram()
        .unwrap();
    assert_eq!(vm.value("latency_seconds_count"), h.count() as f64);
    assert_eq!(vm.value("latency_seconds_sum"), h.sum() as f64 / 1e9);
    let p99 = vm.value("histogram_quantile(0.99, sum(latency_seconds_bucket) by (vmrange))");
    let own = h.quantile(0.99) as f64 / 1e9;
    let bound = relative_error(scale_for_digits(h.opts().digits()));
    assert!(
        (p99 - own).abs() <= bound * own,
        "VictoriaMetrics p99 {p99} vs the registry's {own}: off by {} > {bound}",
        (p99 - own).abs() / own
    );
    let p50 = vm.value("histogram_quantile(0.5, sum(latency_seconds_bucket) by (vmrange))");
    let own50 = h.quantile(0.5) as f64 / 1e9;
    assert!((p50 - own50).abs() <= bound * own50, "{p50} vs {own50}");
}

#[test]
#[cfg_attr(
    not(external_victoria_metrics),
    ignore = "victoria-metrics not found (run tests/support/fetch_victoria_metrics.sh, or set LOCKFREE_METRICS_VICTORIA_METRICS)"
)]
fn delta_pushes_are_taken_and_their_sums_skipped_by_victoria_metrics_1_112() {
    let Some(binary) = binary() else { return };
    let dir = TempDir::new("vm-delta");
    let vm = Victoria::start(&binary, &dir);

    let registry = Registry::new();
    let hits = registry.counter("delta_hits_total", &[]).unwrap();
    let level = registry.gauge("delta_level", &[]).unwrap();
    let h = registry.histogram("delta_latency_seconds", &[]).unwrap();
    let encoder = Encoder::new(OtlpOpts::new("otlp-delta")).registry(&registry, Temporality::Delta);
    let exporter = PushBuilder::new(&vm.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .start(encoder)
        .unwrap();
    for i in 1..=3 {
        hits.increment(i);
        level.set(i as f64);
        h.record(i * 1_000_000);
        exporter.push_now();
        wait_for(&exporter, "delta batch sent", |s| s.sent == i);
    }
    let stats = exporter.shutdown();
    assert_eq!((stats.failed, stats.dropped), (0, 0), "{stats:?}");
    // The gauge, which has no temporality, is stored; the delta sum and
    // histogram are skipped by this VictoriaMetrics, which says so.
    assert_eq!(vm.value("delta_level"), 3.0);
    assert!(vm.query("delta_hits_total").is_empty());
    assert!(vm.query("delta_latency_seconds_count").is_empty());
    let log = vm.log();
    for name in ["delta_hits_total", "delta_latency_seconds"] {
        assert!(
            log.contains(&format!("unsupported delta temporality for \"{name}\"")),
            "{name}: {log}"
        );
    }
}

#[test]
#[cfg_attr(
    not(external_victoria_metrics),
    ignore = "victoria-metrics not found (run tests/support/fetch_victoria_metrics.sh, or set LOCKFREE_METRICS_VICTORIA_METRICS)"
)]
fn a_receiver_down_then_up_gets_every_batch_within_the_bound() {
    let Some(binary) = binary() else { return };
    let dir = TempDir::new("vm-down");
    let mut vm = Victoria::start(&binary, &dir);

    let registry = Registry::new();
    let c = registry.counter("outage_total", &[]).unwrap();
    let encoder =
        Encoder::new(OtlpOpts::new("otlp-outage")).registry(&registry, Temporality::Cumulative);
    const BOUND: usize = 8;
    let (initial, max) = (Duration::from_millis(40), Duration::from_millis(160));
    let exporter = PushBuilder::new(&vm.endpoint())
        .unwrap()
        .interval(Duration::from_secs(3600))
        .timeout(Duration::from_secs(2))
        .max_pending(BOUND)
        .backoff(initial, max)
        .start(encoder)
        .unwrap();
    c.increment(1);
    exporter.push_now();
    wait_for(&exporter, "the first batch", |s| s.sent == 1);

    vm.down();
    let down_at = Instant::now();
    // 12 readings while down: the 4 oldest of them are dropped.
    for i in 0..12 {
        c.increment(1);
        exporter.push_now();
        wait_for(&exporter, "a reading", |s| s.encoded == 2 + i);
        thread::sleep(Duration::from_millis(60));
        let s = exporter.stats();
        assert!(s.pending as usize <= BOUND, "{s:?}");
    }
    let s = exporter.stats();
    assert_eq!(
        (s.sent, s.pending, s.dropped),
        (1, BOUND as u64, 4),
        "{s:?}"
    );
    assert!(s.retried >= 1, "no retry while down: {s:?}");
    // Backing off: attempts are spaced at least initial / 2 apart (the
    // jitter's floor), so their number is bounded by the time down.
    let down_for = down_at.elapsed();
    let most = down_for.as_millis() / (initial.as_millis() / 2) + 1;
    assert!(
        u128::from(s.retried) <= most,
        "{} retries in {down_for:?}: not backing off",
        s.retried
    );
    // The memory held is the bound's worth of batches.
    assert!(s.max_pending_bytes <= BOUND as u64 * 1024, "{s:?}");

    assert!(vm.up(), "victoria-metrics did not restart:\n{}", vm.log());
    wait_for(&exporter, "the pending batches", |s| {
        s.sent == 1 + BOUND as u64
    });
    let stats = exporter.shutdown();
    assert_eq!((stats.failed, stats.dropped), (0, 4), "{stats:?}");

    // Each delivered reading is one sample: the first (1), then the 8 newest
    // readings of the outage (6 ..= 13), and the final push's (13).
    let deadline = Instant::now() + Duration::from_secs(10);
    let values = loop {
        let values: Vec<f64> = vm.samples("outage_total").iter().map(|s| s.1).collect();
        if values.len() >= 10 || Instant::now() > deadline {
            break values;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let expected: Vec<f64> = [1.0]
        .into_iter()
        .chain((6..=13).map(f64::from))
        .chain([13.0])
        .collect();
    assert_eq!(values, expected, "{}", vm.log());
}
