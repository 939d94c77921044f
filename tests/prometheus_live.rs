//! `render_registry` (each series read and reduced one at a time) gives
//! the same bytes as `render` of the registry's snapshot, in every format
//! and with every histogram rendering option, for random registries:
//! counters, gauges and histograms of several options, labels that need
//! escaping or renaming (`le`, `quantile`), described names, clashing
//! names and hidden series.

use lockfree_metrics::{
    export::prometheus::{render, render_registry, Buckets, Exposition, Format, RenderOpts},
    registry::{HistogramOpts, Registry},
};
use proptest::prelude::*;

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
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
