//! A real Prometheus (the packaged 2.42) scrapes our `/metrics` on
//! 127.0.0.1, once per format: text 0.0.4 (forced by the server: 2.42
//! asks for OpenMetrics first), OpenMetrics 1.0 (its default Accept), and
//! protobuf with native histograms (`--enable-feature=native-histograms`).
//! Each run starts Prometheus with its own config (1 s scrapes) and data
//! directory, waits (bounded) for the first successful scrape, queries
//! its HTTP API, and stops it.
//!
//! Asserted: the target is up with an empty `lastError`; counters,
//! gauges (NaN and +Inf too) and their label sets (quotes, backslashes,
//! a newline, Unicode) are exactly the snapshot's; a collector's
//! summary quantiles are exactly its percentiles; histogram `_count` and
//! `_sum` are exact; `histogram_quantile(0.99, x_bucket)` equals what
//! Prometheus' interpolation gives on our classic buckets and lies in the
//! classic bucket holding the HDR p99 (|error| <= that bucket's width);
//! on the native series, `histogram_quantile(0.99, x)` is within the
//! native bucket of the HDR p99 (relative error <= 2^(2^-6) - 1, 1.09 %,
//! at the default 2 digits), `histogram_count`/`histogram_sum` are exact,
//! and the API's native buckets are ours (bounds and counts); an empty
//! histogram is still ingested as native (by its zero threshold), zeros
//! land in the zero bucket, and an undescribed family (empty HELP) scrapes.
#![cfg(feature = "http")]

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use child::ChildGuard;
use lockfree_metrics::{
    export::{
        http::MetricsServer,
        prometheus::{Exposition, Format},
    },
    registry::{HistogramValue, Registry, RegistrySnapshot, Value},
    Config, MetricsCollector, Sharded, Snapshot,
};
use serde_json::Value as Json;

use crate::support::child;
use crate::support::external;

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "lfm-{tag}-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        let dir = PathBuf::from(
            dir.to_string_lossy()
                .replace([' ', '{', '}', ':', ','], "_"),
        );
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Prometheus; killed (then its directory removed) on drop.
struct Prometheus {
    guard: ChildGuard,
    api: String,
    dir: TempDir,
    http: ureq::Agent,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    fn start(binary: &Path, target: SocketAddr, native: bool) -> Prometheus {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        // The port is free when chosen; another process may take it
        // before Prometheus binds, so a failed start is retried.
        for _ in 0..3 {
            let dir = TempDir::new("prometheus");
            let config = dir.0.join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                     scrape_configs:\n  - job_name: lockfree\n    static_configs:\n      - targets: ['{target}']\n"
                ),
            )
            .unwrap();
            let port = free_port();
            let log = std::fs::File::create(dir.0.join("log")).unwrap();
            let mut command = Command::new(binary);
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(log);
            if native {
                command.arg("--enable-feature=native-histograms");
            }
            let guard = ChildGuard::spawn(&mut command, "prometheus", Duration::from_secs(60));
            let p = Prometheus {
                guard,
                api: format!("http://127.0.0.1:{port}"),
                dir,
                http: http.clone(),
            };
            if p.wait_ready() {
                return p;
            }
            eprintln!("prometheus did not start; retrying:\n{}", p.log());
        }
        panic!("prometheus did not start three times");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("log")).unwrap_or_default()
    }

    fn get(&self, path: &str, query: Option<&str>) -> Option<Json> {
        let mut request = self.http.get(format!("{}{path}", self.api));
        if let Some(q) = query {
            request = request.query("query", q);
        }
        let mut response = request.call().ok()?;
        let body = response.body_mut().read_to_string().ok()?;
        serde_json::from_str(&body).ok()
    }

    fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && self.guard.running() {
            if self
                .http
                .get(format!("{}/-/ready", self.api))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Waits for the target's first successful scrape; its health and
    /// last error.
    fn wait_scraped(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = (String::new(), String::new());
        while Instant::now() < deadline {
            if let Some(t) = self.get("/api/v1/targets", None) {
                let target = &t["data"]["activeTargets"][0];
                last = (
                    target["health"].as_str().unwrap_or("").to_string(),
                    target["lastError"].as_str().unwrap_or("").to_string(),
                );
                if last.0 == "up" {
                    return last;
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("no successful scrape in 20 s: {last:?}\n{}", self.log());
    }

    /// An instant query's vector: (labels without job and instance, the
    /// sample: a float's text, or a native histogram's JSON).
    fn query(&self, q: &str) -> Vec<(BTreeMap<String, String>, Json)> {
        let answer = self
            .get("/api/v1/query", Some(q))
            .unwrap_or_else(|| panic!("query {q} failed"));
        assert_eq!(answer["status"], "success", "{q}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut labels: BTreeMap<String, String> =
                    serde_json::from_value(r["metric"].clone()).unwrap();
                labels.remove("job");
                labels.remove("instance");
                let value = if r["histogram"].is_null() {
                    r["value"][1].clone()
                } else {
                    r["histogram"][1].clone()
                };
                (labels, value)
            })
            .collect()
    }

    fn value(&self, q: &str) -> f64 {
        let result = self.query(q);
        assert_eq!(result.len(), 1, "{q}: {result:?}");
        number(&result[0].1)
    }
}

fn number(v: &Json) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

/// A static workload: recorded once, scraped as is.
struct Workload {
    registry: Registry,
    seed: Arc<Sharded>,
}

const SPECIAL: &str = "/a \"quoted\" \\path\nnext é 漢";

fn workload() -> Workload {
    let registry = Registry::new();
    registry.describe("http_requests_total", "Requests served.", None);
    registry
        .counter("http_requests_total", &[("route", "/"), ("code", "200")])
        .unwrap()
        .increment(1_234);
    registry
        .counter(
            "http_requests_total",
            &[("route", SPECIAL), ("code", "500")],
        )
        .unwrap()
        .increment(7);
    registry.describe("queue_length", "Items waiting.", None);
    for (queue, v) in [
        ("a", 3.5),
        ("b", -2.0),
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
    ] {
        registry
            .gauge("queue_length", &[("queue", queue)])
            .unwrap()
            .set(v);
    }
    registry.describe(
        "http_request_duration_seconds",
        "Request latency.",
        Some("seconds"),
    );
    let latency = registry
        .histogram("http_request_duration_seconds", &[("route", "/")])
        .unwrap();
    // 1 to 99 ms, ten of each, and a slow tail: p99 among the tail.
    for ms in 1..100 {
        latency.record_n(ms * 1_000_000 + 123_457, 10);
    }
    latency.record_n(237_000_000, 5);
    latency.record_n(1_300_000_000, 7);
    // Undescribed (an empty HELP); an empty histogram (native to 2.42 only
    // by its zero threshold); zeros (the native zero bucket).
    registry.gauge("undescribed_ratio", &[]).unwrap().set(0.25);
    registry.histogram("idle_seconds", &[]).unwrap();
    let zeros = registry.histogram("zeros_seconds", &[]).unwrap();
    zeros.record_n(0, 3);
    zeros.record(1_000_000);
    let seed = Arc::new(Sharded::new(Config::default()));
    for i in 0..1_000_u64 {
        seed.record_latency(Duration::from_micros(200 + i * 37));
    }
    seed.record_throughput(4_096, 32);
    seed.record_batch_size(8);
    seed.record_queue_depth(12);
    Workload { registry, seed }
}

fn serve(w: &Workload, format: Option<Format>) -> MetricsServer {
    let (r, s) = (w.registry.clone(), w.seed.clone());
    let builder = MetricsServer::builder();
    let builder = match format {
        Some(f) => builder.format(f),
        None => builder,
    };
    builder
        .start("127.0.0.1:0", move || {
            Exposition::new()
                .registry(r.snapshot())
                .collector_snapshot("scheduler", s.snapshot())
        })
        .unwrap()
}

fn labels_of(s: &lockfree_metrics::registry::SeriesSnapshot) -> BTreeMap<String, String> {
    s.key
        .labels()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Counters, gauges and the seed's summary, exactly.
fn check_scalars(p: &Prometheus, snapshot: &RegistrySnapshot, seed: &Snapshot) {
    for name in ["http_requests_total", "queue_length"] {
        let mut got: Vec<(BTreeMap<String, String>, String)> = p
            .query(name)
            .into_iter()
            .map(|(mut l, v)| {
                l.remove("__name__");
                (l, v.as_str().unwrap().to_string())
            })
            .collect();
        got.sort();
        let mut want: Vec<(BTreeMap<String, String>, String)> = snapshot
            .iter()
            .filter(|s| s.key.name() == name)
            .map(|s| {
                let v = match s.value {
                    Value::Counter(v) => v as f64,
                    Value::Gauge(v) => v,
                    Value::Histogram(_) => unreachable!(),
                };
                // Prometheus' API writes NaN and +Inf so; finite values
                // as shortest decimals, which parse back exactly.
                let text = if v.is_nan() {
                    "NaN".into()
                } else if v == f64::INFINITY {
                    "+Inf".into()
                } else {
                    format!("{v}")
                };
                (labels_of(s), text)
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{name}");
    }
    assert!(p
        .query("http_requests_total")
        .iter()
        .any(|(l, _)| l.get("route").map(String::as_str) == Some(SPECIAL)));
    let quantiles: BTreeMap<String, f64> = p
        .query("scheduler_latency_seconds")
        .into_iter()
        .map(|(l, v)| {
            (
                format!("{:?}", l["quantile"].parse::<f64>().unwrap()),
                number(&v),
            )
        })
        .collect();
    let l = &seed.latency;
    let want: BTreeMap<String, f64> = [(0.5, l.p50), (0.95, l.p95), (0.99, l.p99), (0.999, l.p999)]
        .into_iter()
        .map(|(q, d)| (format!("{q:?}"), d.as_secs_f64()))
        .collect();
    assert_eq!(quantiles, want);
    assert_eq!(p.value("scheduler_latency_seconds_count"), l.count as f64);
    assert_eq!(p.value("scheduler_tokens_total"), 4_096.0);
    assert_eq!(p.value("scheduler_batch_size_count"), 1.0);
    assert_eq!(p.value("undescribed_ratio"), 0.25);
}

fn histogram(snapshot: &RegistrySnapshot) -> &HistogramValue {
    snapshot
        .get("http_request_duration_seconds", &[("route", "/")])
        .unwrap()
        .as_histogram()
        .unwrap()
}

/// Prometheus' `bucketQuantile` (promql/quantile.go) on cumulative
/// `(le, count)` buckets ending at +Inf.
fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let mut rank = q * total;
    let b = buckets[..buckets.len() - 1]
        .iter()
        .position(|&(_, c)| c >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn check_classic(p: &Prometheus, snapshot: &RegistrySnapshot, le_spelling: &str) {
    let h = histogram(snapshot);
    let p99 = h.quantile(0.99) as f64 / 1e9;
    assert_eq!(
        p.value("http_request_duration_seconds_count"),
        h.count() as f64
    );
    assert_eq!(p.value("http_request_duration_seconds_sum"), h.sum_scaled());
    assert_eq!(p.value("idle_seconds_count"), 0.0);
    assert_eq!(p.value("zeros_seconds_bucket{le=\"+Inf\"}"), 4.0);
    let mut buckets: Vec<(f64, f64)> = p
        .query("http_request_duration_seconds_bucket")
        .iter()
        .map(|(l, v)| (l["le"].parse::<f64>().unwrap(), number(v)))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The format really was the one meant: `le` as that format spells it.
    assert!(p
        .query("http_request_duration_seconds_bucket")
        .iter()
        .any(|(l, _)| l["le"] == le_spelling));
    let got = p.value("histogram_quantile(0.99, http_request_duration_seconds_bucket)");
    let want = bucket_quantile(0.99, &buckets);
    assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
    let i = buckets.iter().position(|&(le, _)| p99 <= le).unwrap();
    let (low, high) = (buckets[i - 1].0, buckets[i].0);
    assert!(
        low < got && got <= high,
        "{got} outside ({low}, {high}] holding the HDR p99 {p99}"
    );
    assert!((got - p99).abs() <= high - low);
    eprintln!("classic p99: Prometheus {got}, HDR {p99}, bucket ({low}, {high}]");
}

fn check_native(p: &Prometheus, snapshot: &RegistrySnapshot) {
    let h = histogram(snapshot);
    let p99 = h.quantile(0.99) as f64 / 1e9;
    // Native buckets replace the classic ones in 2.42.
    assert!(p.query("http_request_duration_seconds_bucket").is_empty());
    assert_eq!(
        p.value("histogram_count(http_request_duration_seconds)"),
        h.count() as f64
    );
    assert_eq!(
        p.value("histogram_sum(http_request_duration_seconds)"),
        h.sum_scaled()
    );
    let got = p.value("histogram_quantile(0.99, http_request_duration_seconds)");
    let bound = 2_f64.powf(2_f64.powi(-6)) - 1.0;
    assert!(
        (got - p99).abs() <= bound * p99 * (1.0 + 1e-9),
        "{got} vs HDR {p99}: beyond {bound}"
    );
    eprintln!(
        "native p99: Prometheus {got}, HDR {p99}, relative {:.5}",
        (got - p99).abs() / p99
    );
    // The API's buckets: (b^(i-1), b^i] with our counts, per touched index.
    let native = p.query("http_request_duration_seconds");
    let buckets = native[0].1["buckets"].as_array().unwrap();
    let mut want: BTreeMap<i32, u64> = BTreeMap::new();
    for b in h.buckets() {
        *want
            .entry(((b.high as f64 / 1e9).log2() * 64.0).ceil() as i32)
            .or_default() += b.count;
    }
    assert_eq!(buckets.len(), want.len());
    for (b, (&i, &count)) in buckets.iter().zip(&want) {
        let upper = number(&b[2]);
        let expected_upper = 2_f64.powf(f64::from(i) / 64.0);
        assert!(
            (upper - expected_upper).abs() <= 1e-12 * expected_upper,
            "{b} vs index {i}"
        );
        assert_eq!(number(&b[3]), count as f64, "{b}");
    }
    assert_eq!(number(&native[0].1["count"]), h.count() as f64);
    // Empty: still native (its zero threshold says so to 2.42).
    assert!(p.query("idle_seconds_bucket").is_empty());
    assert_eq!(p.value("histogram_count(idle_seconds)"), 0.0);
    // Zeros: in the zero bucket, [-threshold, threshold].
    let zeros = p.query("zeros_seconds");
    let buckets = zeros[0].1["buckets"].as_array().unwrap();
    let zero = buckets
        .iter()
        .find(|b| number(&b[1]) <= 0.0 && 0.0 <= number(&b[2]))
        .expect("a zero bucket");
    assert_eq!(number(&zero[3]), 3.0, "{zeros:?}");
    assert!(number(&zero[2]) < 1e-9);
    assert_eq!(p.value("histogram_count(zeros_seconds)"), 4.0);
}

#[test]
#[cfg_attr(
    not(external_prometheus),
    ignore = "prometheus not found (Debian: prometheus; or set LOCKFREE_METRICS_PROMETHEUS)"
)]
fn a_real_prometheus_scrapes_every_format() {
    let Some(binary) = external::find(
        "prometheus",
        "LOCKFREE_METRICS_PROMETHEUS",
        &["/usr/bin/prometheus"],
    ) else {
        return;
    };
    let started = Instant::now();
    let w = workload();
    let snapshot = w.registry.snapshot();
    let seed = w.seed.snapshot();
    for (run, format, native, le) in [
        ("text 0.0.4", Some(Format::Text), false, "1e-06"),
        ("OpenMetrics", None, false, "0.000001"),
        ("protobuf, native histograms", None, true, ""),
    ] {
        let run_started = Instant::now();
        let server = serve(&w, format);
        let p = Prometheus::start(&binary, server.addr(), native);
        let (health, last_error) = p.wait_scraped();
        assert_eq!((health.as_str(), last_error.as_str()), ("up", ""), "{run}");
        check_scalars(&p, &snapshot, &seed);
        if native {
            check_native(&p, &snapshot);
        } else {
            check_classic(&p, &snapshot, le);
        }
        drop(p);
        assert!(server.shutdown(), "{run}: the server did not stop");
        eprintln!("{run}: {:?}", run_started.elapsed());
    }
    eprintln!("three Prometheus runs in {:?}", started.elapsed());
}
