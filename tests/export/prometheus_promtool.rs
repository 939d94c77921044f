//! `promtool check metrics` (Prometheus' own linter, from the packaged
//! 2.42) finds no problem in our text 0.0.4 expositions: counters,
//! gauges (NaN and infinities too), histograms with units, summaries, the
//! collector's families, all described.
#![cfg(feature = "prometheus")]

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use child::ChildGuard;
use lockfree_metrics::{
    export::prometheus::{render, Buckets, Exposition, Format, RenderOpts},
    registry::{HistogramOpts, Registry},
    Config, MetricsCollector, Mode, Sharded,
};

use crate::support::child;
use crate::support::external;

/// promtool's findings on `body` (empty: none), and whether it passed.
fn promtool(body: &str) -> Option<(bool, String)> {
    let promtool = external::find(
        "promtool",
        "LOCKFREE_METRICS_PROMTOOL",
        &["/usr/bin/promtool"],
    )?;
    let guard = ChildGuard::spawn(
        Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "promtool",
        Duration::from_secs(30),
    );
    let mut stdin = guard.with(|c| c.stdin.take().unwrap());
    stdin.write_all(body.as_bytes()).unwrap();
    drop(stdin);
    let (status, out, err) = guard.wait(Duration::from_secs(30));
    Some((status.success(), format!("{out}{err}")))
}

fn registry() -> Registry {
    let r = Registry::new();
    r.describe(
        "http_requests_total",
        "Requests served, by route and code.",
        None,
    );
    let requests = r
        .counter_family("http_requests_total", &["route", "code"])
        .unwrap();
    requests.with(&["/", "200"]).unwrap().increment(41);
    requests
        .with(&["/a \"quoted\"\\path\n", "500"])
        .unwrap()
        .increment(1);
    r.describe(
        "http_request_duration_seconds",
        "Request latency.",
        Some("seconds"),
    );
    let latency = r
        .histogram("http_request_duration_seconds", &[("route", "/")])
        .unwrap();
    for ms in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89] {
        latency.record_duration(Duration::from_millis(ms));
    }
    r.describe("payload_bytes", "Payload sizes.", Some("bytes"));
    let raw = HistogramOpts::new(1, 1 << 30, 3)
        .unwrap()
        .scale(1.0)
        .unwrap();
    let payload = r.histogram_with("payload_bytes", &[], raw).unwrap();
    payload.record_n(1_500, 3);
    payload.record(1 << 20);
    r.describe("queue_length", "Items waiting.", None);
    r.gauge("queue_length", &[("queue", "a")]).unwrap().set(3.0);
    r.gauge("queue_length", &[("queue", "nan")])
        .unwrap()
        .set(f64::NAN);
    r.gauge("queue_length", &[("queue", "inf")])
        .unwrap()
        .set(f64::INFINITY);
    r.describe("temperature_celsius", "Heat.", Some("celsius"));
    r.gauge("temperature_celsius", &[]).unwrap().set(-4.5);
    r
}

#[test]
#[cfg_attr(
    not(external_promtool),
    ignore = "promtool not found (Debian: prometheus; or set LOCKFREE_METRICS_PROMTOOL)"
)]
fn promtool_accepts_registry_expositions() {
    let r = registry();
    for (what, opts) in [
        ("default buckets", RenderOpts::default()),
        (
            "snapped buckets",
            RenderOpts::default().buckets(Buckets::explicit(&[0.001, 0.01, 0.1, 1.0]).snapped()),
        ),
        (
            "summaries",
            RenderOpts::default().summaries(&[0.5, 0.9, 0.99, 0.999]),
        ),
    ] {
        let (body, _) = render(&r.snapshot(), Format::Text, &opts);
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("http_request_duration_seconds"));
        let Some((ok, findings)) = promtool(&body) else {
            return;
        };
        assert!(
            ok && findings.is_empty(),
            "{what}: promtool says:\n{findings}\non\n{body}"
        );
    }
}

#[test]
#[cfg_attr(
    not(external_promtool),
    ignore = "promtool not found (Debian: prometheus; or set LOCKFREE_METRICS_PROMTOOL)"
)]
fn promtool_accepts_a_collector_snapshot() {
    let seed = Sharded::new(Config::default());
    for ms in [5, 10, 20, 40] {
        seed.record_latency(Duration::from_millis(ms));
    }
    seed.record_throughput(512, 4);
    seed.record_batch_size(16);
    seed.record_queue_depth(2);
    seed.record_mode_transition(Mode(3));
    for snapshot in [seed.snapshot(), Sharded::new(Config::default()).snapshot()] {
        let exposition = Exposition::new()
            .registry(registry().snapshot())
            .collector_snapshot("scheduler", snapshot);
        let (body, _) = exposition.render(Format::Text, &RenderOpts::default());
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("scheduler_latency_seconds{quantile=\"0.99\"}"));
        let Some((ok, findings)) = promtool(&body) else {
            return;
        };
        assert!(
            ok && findings.is_empty(),
            "promtool says:\n{findings}\non\n{body}"
        );
    }
}

#[test]
#[cfg_attr(
    not(external_promtool),
    ignore = "promtool not found (Debian: prometheus; or set LOCKFREE_METRICS_PROMTOOL)"
)]
fn promtool_finds_what_we_should_catch() {
    // The check is live: undescribed names and non-base units are flagged.
    let r = Registry::new();
    r.gauge("latency_milliseconds", &[]).unwrap().set(1.0);
    let (body, _) = render(&r.snapshot(), Format::Text, &RenderOpts::default());
    let Some((ok, findings)) = promtool(&String::from_utf8(body).unwrap()) else {
        return;
    };
    assert!(!ok, "{findings}");
    assert!(
        findings.contains("no help text") && findings.contains("base unit"),
        "{findings}"
    );
}
