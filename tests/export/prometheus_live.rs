//! `render_registry` (each series read and reduced one at a time) gives
//! the same bytes as `render` of the registry's snapshot, in every format
//! and with every histogram rendering option, for random registries:
//! counters, gauges and histograms of several options, labels that need
//! escaping or renaming (`le`, `quantile`), described names, clashing
//! names and hidden series; and, under writers, consistent readings.

use lockfree_metrics::{
    export::prometheus::{render, render_registry, Buckets, Exposition, Format, RenderOpts},
    registry::{HistogramOpts, Registry},
};
use proptest::prelude::*;

use crate::support::cases;

#[derive(Clone, Debug)]
enum Op {
    Counter(u8, u8, u64),
    Gauge(u8, u8, f64),
    Histogram(u8, u8, u8, Vec<u64>),
    Describe(u8),
    Remove(u8, u8),
}

fn name(i: u8) -> String {
    [
        "a",
        "a_total",
        "b_seconds",
        "b_seconds_count",
        "c",
        "d_bytes",
    ][usize::from(i) % 6]
        .to_string()
}

fn label(j: u8) -> Vec<(&'static str, &'static str)> {
    match j % 5 {
        0 => vec![],
        1 => vec![("le", "x")],
        2 => vec![("quantile", "0.5"), ("k", "v\"\\\n")],
        3 => vec![("k", "1")],
        _ => vec![("k", "2"), ("z", "é")],
    }
}

fn opts(o: u8) -> HistogramOpts {
    match o % 3 {
        0 => HistogramOpts::default(),
        1 => HistogramOpts::new(1, 1 << 30, 3)
            .unwrap()
            .scale(1.0)
            .unwrap(),
        _ => HistogramOpts::new(1, 1 << 20, 1)
            .unwrap()
            .scale(1e3)
            .unwrap(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), any::<u64>()).prop_map(|(i, j, v)| Op::Counter(i, j, v % 1000)),
        (any::<u8>(), any::<u8>(), any::<f64>()).prop_map(|(i, j, v)| Op::Gauge(i, j, v)),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u64>(), 0..40)
        )
            .prop_map(|(i, j, o, v)| Op::Histogram(i, j, o, v)),
        any::<u8>().prop_map(Op::Describe),
        (any::<u8>(), any::<u8>()).prop_map(|(i, j)| Op::Remove(i, j)),
    ]
}

/// The registry, and its handles: held, so that a removed series is
/// hidden rather than dropped (and shown again by a later record).
fn build(ops: &[Op]) -> (Registry, Vec<Box<dyn std::any::Any>>) {
    let r = Registry::new();
    let mut held: Vec<Box<dyn std::any::Any>> = Vec::new();
    for op in ops {
        // Kind and option mismatches are refused: skipped.
        match op {
            Op::Counter(i, j, v) => {
                if let Ok(c) = r.counter(&name(*i), &label(*j)) {
                    c.increment(*v);
                    held.push(Box::new(c));
                }
            }
            Op::Gauge(i, j, v) => {
                if let Ok(g) = r.gauge(&name(*i), &label(*j)) {
                    g.set(*v);
                    held.push(Box::new(g));
                }
            }
            Op::Histogram(i, j, o, values) => {
                if let Ok(h) = r.histogram_with(&name(*i), &label(*j), opts(*o)) {
                    for &v in values {
                        // Spread over decades, some past the highest.
                        h.record(v >> (v % 64));
                    }
                    held.push(Box::new(h));
                }
            }
            Op::Describe(i) => r.describe(&name(*i), "help \\ \"x\"\n", Some("seconds")),
            Op::Remove(i, j) => {
                let _ = r.remove(&name(*i), &label(*j));
            }
        }
    }
    (r, held)
}

fn all_opts() -> Vec<RenderOpts> {
    vec![
        RenderOpts::default(),
        RenderOpts::default().native(false),
        RenderOpts::default()
            .buckets(Buckets::explicit(&[0.001, 0.01, 0.1, 1.0, 100.0]).snapped())
            .buckets_for("c", Buckets::explicit(&[1.0, 10.0])),
        RenderOpts::default().summaries(&[0.0, 0.5, 0.99, 1.0]),
    ]
}

proptest! {
    #![proptest_config(cases::config(64))]

    #[test]
    fn live_render_is_the_snapshot_render(ops in prop::collection::vec(op(), 0..40)) {
        let (r, _held) = build(&ops);
        for opts in all_opts() {
            for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
                let snapshot = r.snapshot();
                let old = render(&snapshot, format, &opts);
                let new = render_registry(&r, format, &opts);
                prop_assert_eq!(&old, &new, "{:?}", format);
                let exposition = Exposition::new().registry_live(&r);
                prop_assert_eq!(exposition.render(format, &opts), old);
                prop_assert_eq!(
                    exposition.left_out(&opts),
                    Exposition::from(snapshot).left_out(&opts)
                );
            }
        }
    }
}

/// While two threads record, every live render's histograms are
/// consistent readings: each series' `+Inf` bucket equals its `_count`,
/// its buckets never decrease, and the series come sorted.
#[test]
fn live_render_under_writers_is_consistent() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let r = Registry::new();
    let family = r.histogram_family("w_seconds", &["series"], None).unwrap();
    let handles: Vec<_> = (0..200)
        .map(|i| family.with(&[&i.to_string()]).unwrap())
        .collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2_u64 {
            let (handles, stop) = (&handles, &stop);
            s.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ t;
                // Bounded: stops when told, or after 5 million records.
                for _ in 0..5_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    handles[x as usize % handles.len()].record(x >> (20 + x % 24));
                }
            });
        }
        for _ in 0..20 {
            let (body, _) = render_registry(&r, Format::Text, &RenderOpts::default());
            let text = String::from_utf8(body).unwrap();
            let mut order = Vec::new();
            let (mut last, mut inf) = (0_u64, None);
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let (sample, value) = line.rsplit_once(' ').unwrap();
                let series = sample.split("series=\"").nth(1).unwrap();
                let series = &series[..series.find('"').unwrap()];
                if sample.starts_with("w_seconds_bucket") {
                    let v: u64 = value.parse().unwrap();
                    if order.last().map(String::as_str) != Some(series) {
                        order.push(series.to_string());
                        last = 0;
                    }
                    assert!(v >= last, "{line}");
                    last = v;
                    if sample.contains("le=\"+Inf\"") {
                        inf = Some(v);
                    }
                } else if sample.starts_with("w_seconds_count") {
                    assert_eq!(inf.take(), Some(value.parse().unwrap()), "{series}");
                }
            }
            assert_eq!(order.len(), 200);
            assert!(order.windows(2).all(|w| w[0] < w[1]));
        }
        stop.store(true, Ordering::Relaxed);
    });
}
