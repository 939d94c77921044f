//! The exposition formats byte for byte on small registries: names,
//! units, escapes, non-finite gauges, buckets, summaries, clashes and
//! order; the protobuf decoded back with the generated types.
#![cfg(feature = "prometheus")]

use std::time::Duration;

use lockfree_metrics::{
    export::prometheus::{
        render, render_collector_snapshot, Buckets, Exposition, Format, RenderOpts,
    },
    registry::{HistogramOpts, Registry, RegistryError},
    Config, MetricsCollector, Mode, Sharded,
};
/// The messages the crate encodes, generated from client_model's
/// metrics.proto (`.ci/gen_prometheus_proto.sh`).
#[cfg(feature = "protobuf")]
#[allow(missing_docs, unreachable_pub, clippy::all)]
#[path = "../../src/export/prometheus/proto.rs"]
mod pb;
#[cfg(feature = "protobuf")]
use prost::Message;

fn text(registry: &Registry, format: Format, opts: &RenderOpts) -> String {
    let (body, content_type) = render(&registry.snapshot(), format, opts);
    assert_eq!(content_type, format.content_type());
    String::from_utf8(body).unwrap()
}

/// Counters, gauges and a histogram with every awkward input.
fn awkward() -> Registry {
    let r = Registry::new();
    r.describe(
        "http_requests_total",
        "Requests \"served\" \\ here\nand there.",
        None,
    );
    r.counter(
        "http_requests_total",
        &[("code", "200"), ("path", "a\\b\"c\nd é")],
    )
    .unwrap()
    .increment(2);
    r.counter("hits", &[]).unwrap().increment(1);
    r.gauge("g", &[("v", "inf")]).unwrap().set(f64::INFINITY);
    r.gauge("g", &[("v", "nan")]).unwrap().set(f64::NAN);
    r.gauge("g", &[("v", "ninf")])
        .unwrap()
        .set(f64::NEG_INFINITY);
    r.describe("req_seconds", "Latency.", Some("seconds"));
    let h = r.histogram("req_seconds", &[("le", "x")]).unwrap();
    for v in [0, 1_000, 5_000_000] {
        h.record(v);
    }
    r
}

fn opts() -> RenderOpts {
    RenderOpts::default().buckets(Buckets::explicit(&[1e-6, 0.005, 0.01]))
}

#[test]
fn text_0_0_4() {
    assert_eq!(
        text(&awkward(), Format::Text, &opts()),
        r#"# HELP g 
# TYPE g gauge
g{v="inf"} +Inf
g{v="nan"} NaN
g{v="ninf"} -Inf
# HELP hits_total 
# TYPE hits_total counter
hits_total 1
# HELP http_requests_total Requests "served" \\ here\nand there.
# TYPE http_requests_total counter
http_requests_total{code="200",path="a\\b\"c\nd é"} 2
# HELP req_seconds Latency.
# TYPE req_seconds histogram
req_seconds_bucket{exported_le="x",le="1e-06"} 1
req_seconds_bucket{exported_le="x",le="0.005"} 2
req_seconds_bucket{exported_le="x",le="0.01"} 3
req_seconds_bucket{exported_le="x",le="+Inf"} 3
req_seconds_sum{exported_le="x"} 0.005001
req_seconds_count{exported_le="x"} 3
"#
    );
}

#[test]
fn openmetrics_1_0() {
    assert_eq!(
        text(&awkward(), Format::OpenMetrics, &opts()),
        r#"# HELP g 
# TYPE g gauge
g{v="inf"} +Inf
g{v="nan"} NaN
g{v="ninf"} -Inf
# HELP hits 
# TYPE hits counter
hits_total 1
# HELP http_requests Requests \"served\" \\ here\nand there.
# TYPE http_requests counter
http_requests_total{code="200",path="a\\b\"c\nd é"} 2
# HELP req_seconds Latency.
# TYPE req_seconds histogram
# UNIT req_seconds seconds
req_seconds_sum{exported_le="x"} 0.005001
req_seconds_count{exported_le="x"} 3
req_seconds_bucket{le="0.000001",exported_le="x"} 1
req_seconds_bucket{le="0.005",exported_le="x"} 2
req_seconds_bucket{le="0.01",exported_le="x"} 3
req_seconds_bucket{le="+Inf",exported_le="x"} 3
# EOF
"#
    );
}

#[test]
fn summaries_on_request() {
    let opts = RenderOpts::default().summaries(&[0.99, 0.5, 2.0, f64::NAN]);
    let om = text(&awkward(), Format::OpenMetrics, &opts);
    let summary = &om[om.find("# HELP req_seconds").unwrap()..];
    assert_eq!(
        summary,
        r#"# HELP req_seconds Latency.
# TYPE req_seconds summary
# UNIT req_seconds seconds
req_seconds{le="x",quantile="0.5"} 1.003e-06
req_seconds{le="x",quantile="0.99"} 0.005013503
req_seconds_sum{le="x"} 0.005001
req_seconds_count{le="x"} 3
# EOF
"#
    );
    let plain = text(&awkward(), Format::Text, &opts);
    assert!(plain.ends_with(
        "# HELP req_seconds Latency.\n# TYPE req_seconds summary\n\
         req_seconds{le=\"x\",quantile=\"0.5\"} 1.003e-06\n\
         req_seconds{le=\"x\",quantile=\"0.99\"} 0.005013503\n\
         req_seconds_sum{le=\"x\"} 0.005001\nreq_seconds_count{le=\"x\"} 3\n"
    ));
    // Empty: NaN quantiles; a `quantile` label is renamed.
    let r = Registry::new();
    r.histogram("idle_seconds", &[("quantile", "q")]).unwrap();
    let om = text(
        &r,
        Format::OpenMetrics,
        &RenderOpts::default().summaries(&[1.0]),
    );
    assert!(
        om.contains("idle_seconds{exported_quantile=\"q\",quantile=\"1.0\"} NaN\n"),
        "{om}"
    );
    assert!(om.contains("idle_seconds_count{exported_quantile=\"q\"} 0\n"));
}

#[test]
fn units_and_counter_names() {
    let r = Registry::new();
    // Unit a suffix: kept. Not a suffix: HELP only.
    r.describe("copied_bytes_total", "Bytes copied.", Some("bytes"));
    r.counter("copied_bytes_total", &[]).unwrap().increment(7);
    r.describe("temperature", "Heat.", Some("celsius"));
    r.gauge("temperature", &[]).unwrap().set(-1.5);
    // A scale-1e9 histogram named _seconds: seconds, undescribed.
    r.histogram("wait_seconds", &[])
        .unwrap()
        .record(2_000_000_000);
    // Raw units at scale 1: exported as recorded.
    let raw = HistogramOpts::new(1, 1 << 20, 2)
        .unwrap()
        .scale(1.0)
        .unwrap();
    r.histogram_with("size_bytes", &[], raw)
        .unwrap()
        .record(100);
    // `_total` alone is not stripped to nothing.
    r.counter("_total", &[]).unwrap().increment(1);
    let opts = RenderOpts::default().buckets(Buckets::explicit(&[1.0, 100.0]));
    let om = text(&r, Format::OpenMetrics, &opts);
    for line in [
        "# TYPE _total counter\n_total_total 1\n",
        "# TYPE copied_bytes counter\n# UNIT copied_bytes bytes\ncopied_bytes_total 7\n",
        "# HELP temperature Heat.\n# TYPE temperature gauge\ntemperature -1.5\n",
        "# UNIT wait_seconds seconds\nwait_seconds_sum 2.0\n",
        "size_bytes_sum 100.0\n",
        "size_bytes_bucket{le=\"100.0\"} 1\n",
    ] {
        assert!(om.contains(line), "{line:?} in\n{om}");
    }
    assert!(!om.contains("UNIT temperature") && !om.contains("_total_total 7"));
    let plain = text(&r, Format::Text, &opts);
    assert!(plain.contains("# TYPE copied_bytes_total counter\ncopied_bytes_total 7\n"));
    assert!(!plain.contains("UNIT"));
}

#[test]
fn clashing_names_are_refused_by_the_registry() {
    // Issue 21, item 11: the registry refuses a name whose samples would
    // clash with an older name's, so no registry family is left out (and a
    // scraped counter never turns into another).
    let r = Registry::new();
    r.counter("jobs", &[]).unwrap().increment(1);
    assert!(matches!(
        r.counter("jobs_total", &[]), // also samples jobs_total
        Err(RegistryError::NameClash { .. })
    ));
    r.histogram("lat", &[]).unwrap().record(1);
    assert!(matches!(
        r.gauge("lat_count", &[]), // a histogram sample name
        Err(RegistryError::NameClash { .. })
    ));
    r.gauge("lat_counts", &[]).unwrap().set(1.0); // fine
    let exposition = Exposition::from(r.snapshot());
    let opts = RenderOpts::default();
    assert!(exposition.left_out(&opts).is_empty());
    for format in [Format::Text, Format::OpenMetrics] {
        let (body, _) = exposition.render(format, &opts);
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("jobs_total 1\n"));
        assert!(body.contains("lat_counts 1.0\n"));
    }
}

#[test]
fn order_is_deterministic() {
    let build = |reverse: bool| {
        let r = Registry::new();
        let mut names = ["b", "a", "c_total", "d"];
        if reverse {
            names.reverse();
        }
        for n in names {
            for (i, l) in ["y", "x"].into_iter().enumerate() {
                r.counter(n, &[("l", l)])
                    .unwrap()
                    .increment(n.len() as u64 + i as u64);
            }
        }
        r
    };
    // The same values, created in another order: the same bytes.
    let (a, b) = (build(false), build(true));
    for format in Format::ALL {
        let one = render(&a.snapshot(), format, &RenderOpts::default()).0;
        let two = render(&b.snapshot(), format, &RenderOpts::default()).0;
        assert_eq!(one, two, "{format:?}");
    }
    let (body, _) = render(&b.snapshot(), Format::Text, &RenderOpts::default());
    let samples: Vec<String> = String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(
        samples,
        [
            "a_total{l=\"x\"} 2",
            "a_total{l=\"y\"} 1",
            "b_total{l=\"x\"} 2",
            "b_total{l=\"y\"} 1",
            "c_total{l=\"x\"} 8",
            "c_total{l=\"y\"} 7",
            "d_total{l=\"x\"} 2",
            "d_total{l=\"y\"} 1",
        ]
    );
}

#[test]
fn empty_registry_and_empty_families() {
    let r = Registry::new();
    r.describe("never_used", "Described, no series.", None);
    assert_eq!(text(&r, Format::Text, &RenderOpts::default()), "");
    assert_eq!(
        text(&r, Format::OpenMetrics, &RenderOpts::default()),
        "# EOF\n"
    );
    assert!(
        render(&r.snapshot(), Format::Protobuf, &RenderOpts::default())
            .0
            .is_empty()
    );
    // An empty histogram still has its buckets and +Inf.
    r.histogram("idle_seconds", &[]).unwrap();
    let om = text(
        &r,
        Format::OpenMetrics,
        &RenderOpts::default().buckets(Buckets::explicit(&[1.0])),
    );
    assert!(om.contains("idle_seconds_count 0\nidle_seconds_bucket{le=\"1.0\"} 0\nidle_seconds_bucket{le=\"+Inf\"} 0\n"), "{om}");
}

#[cfg(feature = "protobuf")]
fn decode(body: &[u8]) -> Vec<pb::MetricFamily> {
    let mut rest = body;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.push(pb::MetricFamily::decode_length_delimited(&mut rest).unwrap());
    }
    out
}

#[cfg(feature = "protobuf")]
#[test]
fn protobuf_with_native_histograms() {
    let r = awkward();
    let (body, content_type) = render(&r.snapshot(), Format::Protobuf, &opts());
    assert_eq!(
        content_type,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    let families = decode(&body);
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["g", "hits_total", "http_requests_total", "req_seconds"]
    );
    let requests = &families[2];
    assert_eq!(requests.help, "Requests \"served\" \\ here\nand there.");
    let labels: Vec<(&str, &str)> = requests.metric[0]
        .label
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(labels, [("code", "200"), ("path", "a\\b\"c\nd é")]);
    assert_eq!(requests.metric[0].counter.as_ref().unwrap().value, 2.0);
    let gauges: Vec<f64> = families[0]
        .metric
        .iter()
        .map(|m| m.gauge.as_ref().unwrap().value)
        .collect();
    assert!(gauges[0] == f64::INFINITY && gauges[1].is_nan() && gauges[2] == f64::NEG_INFINITY);

    let h = families[3].metric[0].histogram.as_ref().unwrap();
    assert_eq!(families[3].unit, "seconds");
    assert_eq!((h.sample_count, h.sample_sum), (3, 0.005001));
    // Classic buckets too (cumulative on the wire).
    let classic: Vec<(f64, u64)> = h
        .bucket
        .iter()
        .map(|b| (b.upper_bound, b.cumulative_count))
        .collect();
    assert_eq!(
        classic,
        [(1e-6, 1), (0.005, 2), (0.01, 3), (f64::INFINITY, 3)]
    );
    // Native: schema 6 at 2 digits; 0 in the zero bucket; 1,003 ns and
    // 5,013,503 ns (the buckets' tops) at ceil(64 * log2(v)).
    assert_eq!(h.schema, 6);
    assert_eq!(h.zero_count, 1);
    assert!(h.zero_threshold > 0.0 && h.zero_threshold < 1e-9);
    let index = |v: f64| (v.log2() * 64.0).ceil() as i32;
    let (i, j) = (index(1_003e-9), index(5_013_503e-9));
    let spans: Vec<(i32, u32)> = h
        .positive_span
        .iter()
        .map(|s| (s.offset, s.length))
        .collect();
    assert_eq!(spans, [(i, 1), (j - i - 1, 1)]);
    assert_eq!(h.positive_delta, [1, 0]);
    assert!(h.negative_span.is_empty() && h.negative_delta.is_empty());

    // Without native buckets: classic only.
    let (body, _) = render(&r.snapshot(), Format::Protobuf, &opts().native(false));
    let h = decode(&body)[3].metric[0].histogram.clone().unwrap();
    assert!(h.positive_span.is_empty() && h.zero_threshold == 0.0 && h.bucket.len() == 4);
}

#[cfg(feature = "protobuf")]
#[test]
fn protobuf_summaries_keep_their_place() {
    let r = awkward();
    r.counter("zz_total", &[]).unwrap().increment(1);
    let (body, _) = render(
        &r.snapshot(),
        Format::Protobuf,
        &RenderOpts::default().summaries(&[0.5]),
    );
    let families = decode(&body);
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "g",
            "hits_total",
            "http_requests_total",
            "req_seconds",
            "zz_total"
        ]
    );
    assert_eq!(families[3].r#type, pb::MetricType::Summary as i32);
    let s = families[3].metric[0].summary.as_ref().unwrap();
    assert_eq!((s.sample_count, s.sample_sum), (3, 0.005001));
    assert_eq!(s.quantile.len(), 1);
    assert_eq!(
        (s.quantile[0].quantile, s.quantile[0].value),
        (0.5, 1.003e-6)
    );
    assert_eq!(families[3].metric[0].label[0].name, "le");
}

#[test]
fn collector_snapshot_families() {
    let seed = Sharded::new(Config::default());
    for ms in [10, 20, 30, 40] {
        seed.record_latency(Duration::from_millis(ms));
    }
    seed.record_throughput(100, 2);
    seed.record_batch_size(3);
    seed.record_batch_size(8);
    seed.record_batch_size(8);
    seed.record_queue_depth(5);
    seed.record_mode_transition(Mode(2));
    let s = seed.snapshot();
    let (body, _) = render_collector_snapshot("sched", &s, Format::Text, &RenderOpts::default());
    let body = String::from_utf8(body).unwrap();
    let p99 = s.latency.p99.as_secs_f64();
    for line in [
        format!("sched_latency_seconds{{quantile=\"0.99\"}} {p99}\n"),
        "sched_latency_seconds_sum 0.1\n".to_string(),
        "sched_latency_seconds_count 4\n".to_string(),
        "sched_tokens_total 100\n".to_string(),
        "sched_requests_total 2\n".to_string(),
        "sched_batch_size_bucket{le=\"2\"} 0\n".to_string(),
        "sched_batch_size_bucket{le=\"5\"} 1\n".to_string(),
        "sched_batch_size_bucket{le=\"10\"} 3\n".to_string(),
        "sched_batch_size_bucket{le=\"+Inf\"} 3\n".to_string(),
        "sched_batch_size_sum 19.0\n".to_string(),
        "sched_batch_size_current 8.0\n".to_string(),
        "sched_queue_depth 5.0\n".to_string(),
        "sched_mode 2.0\n".to_string(),
        "sched_mode_transitions_total 1\n".to_string(),
    ] {
        assert!(body.contains(&line), "{line:?} in\n{body}");
    }
    for w in &s.throughput.windows {
        assert!(body.contains(&format!(
            "sched_tokens_per_second{{window=\"{}s\"}}",
            w.window.as_secs()
        )));
    }
    // OpenMetrics: the summary's unit, canonical quantiles, one # EOF.
    let (om, _) =
        render_collector_snapshot("sched", &s, Format::OpenMetrics, &RenderOpts::default());
    let om = String::from_utf8(om).unwrap();
    assert!(om.contains("# UNIT sched_latency_seconds seconds\n"));
    assert!(om.contains("sched_latency_seconds{quantile=\"0.5\"}"));
    assert!(om.ends_with("sched_mode_transitions_total 1\n# EOF\n"));
    assert_eq!(om.matches("# EOF").count(), 1);
    // A fresh collector: NaN quantiles, no current values.
    let (fresh, _) = render_collector_snapshot(
        "",
        &Sharded::new(Config::default()).snapshot(),
        Format::Text,
        &RenderOpts::default(),
    );
    let fresh = String::from_utf8(fresh).unwrap();
    assert!(fresh.contains("latency_seconds{quantile=\"0.5\"} NaN\n"));
    assert!(!fresh.contains("queue_depth ") && !fresh.contains("\nmode "));
}
