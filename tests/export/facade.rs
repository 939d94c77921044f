//! The `metrics` facade recorder against `metrics-util`'s
//! `DebuggingRecorder`, the oracle: one macro-driven workload recorded into
//! both, counters and gauges equal, histograms within HDR precision of the
//! oracle's raw samples; and a multi-threaded workload whose totals are
//! known.
#![cfg(feature = "facade")]

use std::{collections::HashMap, time::Duration};

use lockfree_metrics::registry::{
    sanitize_label_name, sanitize_name, HistogramValue, Registry, RegistrySnapshot, Value,
};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_util::{
    debugging::{DebugValue, DebuggingRecorder},
    MetricKind,
};

/// xorshift64*: the same inputs on every run, for both recorders.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// In `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Every facade call the recorder implements, through the macros: dotted
/// names and label names, counters with labels and `absolute`, gauges
/// set, incremented and decremented, histograms of `f64` seconds,
/// `Duration`s, milliseconds and bytes, `record_many`, and descriptions
/// before and after registration.
fn workload(seed: u64) {
    let mut rng = Rng(seed);
    // Before registration: these set the histograms' scales.
    describe_counter!("http.requests", Unit::Count, "Requests served.");
    describe_histogram!("db.query", Unit::Milliseconds, "Query time.");
    describe_histogram!("payload.size", Unit::Bytes, "Request body size.");
    let methods = ["GET", "POST", "PUT"];
    let statuses = ["200", "404", "500"];
    let mut seen = 0_u64;
    for i in 0..4_000_u64 {
        let method = methods[rng.below(3) as usize];
        let status = statuses[rng.below(3) as usize];
        counter!("http.requests", "http.method" => method, "status" => status)
            .increment(1 + rng.below(3));
        histogram!("http.latency", "http.method" => method)
            .record(Duration::from_nanos(1_000 + rng.below(50_000_000)));
        histogram!("rpc.seconds").record(rng.unit() * 2.0);
        histogram!("db.query").record(rng.unit() * 100.0);
        histogram!("late.ms").record(rng.unit() * 50.0);
        if i % 8 == 0 {
            histogram!("payload.size", "route" => "/upload")
                .record_many(rng.below(1 << 20) as f64, 1 + rng.below(40) as usize);
        }
        let queue = if rng.below(2) == 0 { "fast" } else { "slow" };
        match rng.below(3) {
            0 => gauge!("queue.depth", "queue" => queue).increment(0.5 * rng.below(8) as f64),
            1 => gauge!("queue.depth", "queue" => queue).decrement(0.25 * rng.below(8) as f64),
            _ => gauge!("queue.depth", "queue" => queue).set(rng.below(100) as f64),
        }
        // Never set: its value is every increment and decrement.
        if rng.below(2) == 0 {
            gauge!("pool.in.use").increment(rng.below(4) as f64);
        } else {
            gauge!("pool.in.use").decrement(0.5 * rng.below(4) as f64);
        }
        // A total mirrored from elsewhere: sometimes lower than before
        // (ignored), sometimes raised past increments.
        seen += rng.below(1_000);
        if rng.below(4) == 0 {
            counter!("bytes.seen").absolute(seen.saturating_sub(rng.below(3_000)));
        } else {
            counter!("bytes.seen").increment(rng.below(10));
        }
        if i == 100 {
            // After registration: HELP and UNIT only.
            describe_histogram!("http.latency", Unit::Seconds, "Request latency.");
            describe_histogram!("late.ms", Unit::Milliseconds, "Described late.");
            describe_gauge!("queue.depth", "Items waiting.");
            describe_counter!("bytes.seen", Unit::Bytes, "Bytes seen upstream.");
            // Again, without a unit: the help replaced, the unit kept.
            describe_counter!("http.requests", "Requests served, all routes.");
        }
    }
}

/// The oracle's exact quantile: the nearest rank, as HDR's
/// `value_at_quantile` counts ranks.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

fn histogram<'a>(
    s: &'a RegistrySnapshot,
    name: &str,
    labels: &[(&str, &str)],
) -> &'a HistogramValue {
    s.get(name, labels)
        .unwrap_or_else(|| panic!("{name} {labels:?} missing"))
        .as_histogram()
        .unwrap()
}

#[test]
fn conforms_to_the_debugging_recorder() {
    let oracle = DebuggingRecorder::new();
    let snapshotter = oracle.snapshotter();
    metrics::with_local_recorder(&oracle, || workload(7));
    let registry = Registry::new();
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || workload(7));

    let expected = snapshotter.snapshot().into_vec();
    let ours = registry.snapshot();
    assert_eq!(ours.len(), expected.len(), "one series per facade key");
    let mut compared: HashMap<MetricKind, usize> = HashMap::new();
    for (key, unit, help, value) in expected {
        let (kind, key) = (key.kind(), key.key());
        let name = sanitize_name(key.name()).into_owned();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| {
                (
                    sanitize_label_name(l.key()).into_owned(),
                    l.value().to_string(),
                )
            })
            .collect();
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let series = ours
            .get(&name, &labels)
            .unwrap_or_else(|| panic!("{key} is not in the registry as {name}{labels:?}"));
        *compared.entry(kind).or_default() += 1;

        // Descriptions, before or after registration, carried.
        let description = registry.description(&name);
        assert_eq!(
            description.as_ref().map(|d| d.help.as_str()),
            help.as_deref(),
            "{key}: help"
        );
        let our_unit = description
            .and_then(|d| d.unit)
            .map(|u| Unit::from_string(&u));
        assert_eq!(our_unit.flatten(), unit, "{key}: unit");

        match value {
            DebugValue::Counter(v) => {
                assert_eq!(series.value, Value::Counter(v), "{key}");
            }
            DebugValue::Gauge(v) => {
                // The same f64 operations in the same order: bit-equal.
                assert_eq!(series.value, Value::Gauge(v.0), "{key}");
            }
            DebugValue::Histogram(samples) => {
                let h = series.as_histogram().unwrap();
                let mut samples: Vec<f64> = samples.into_iter().map(|s| s.0).collect();
                samples.sort_by(f64::total_cmp);
                assert_eq!(h.count(), samples.len() as u64, "{key}: count");
                assert_eq!((h.clamped(), h.rejected()), (0, 0), "{key}");
                let scale = h.opts().get_scale();
                // Each sample rounded to the histogram's unit: half a unit
                // off at most.
                let exact_sum: f64 = samples.iter().sum();
                let rounding = samples.len() as f64 * 0.5 / scale;
                assert!(
                    (h.sum_scaled() - exact_sum).abs() <= rounding + exact_sum * 1e-12,
                    "{key}: sum {} against {exact_sum}",
                    h.sum_scaled()
                );
                // 2 significant digits: a quantile is the top of a bucket
                // at most 1/128 of its value wide, plus the rounding.
                for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                    let exact = exact_quantile(&samples, q);
                    let got = h.quantile(q) as f64 / scale;
                    assert!(
                        (got - exact).abs() <= exact / 128.0 + 1.0 / scale,
                        "{key}: q{q} {got} against {exact}"
                    );
                }
            }
        }
    }
    assert_eq!(compared[&MetricKind::Counter], 9 + 1);
    assert_eq!(compared[&MetricKind::Gauge], 3);
    assert_eq!(compared[&MetricKind::Histogram], 3 + 4);

    // The unit policy: described before registration, a time unit's scale
    // (nanoseconds kept) or 1; described after, the default's.
    let scale = |name, labels: &[(&str, &str)]| histogram(&ours, name, labels).opts().get_scale();
    assert_eq!(scale("db_query", &[]), 1e6);
    assert_eq!(scale("payload_size", &[("route", "/upload")]), 1.0);
    assert_eq!(scale("rpc_seconds", &[]), 1e9);
    assert_eq!(scale("http_latency", &[("http_method", "GET")]), 1e9);
    assert_eq!(scale("late_ms", &[]), 1e9);
    // One registry lookup per key: every other macro call hit the cache.
    assert_eq!(recorder.stats().lookups, ours.len() as u64);
}

#[test]
fn threads_total_exactly() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 20_000;
    let registry = Registry::new();
    let recorder = registry.recorder();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let recorder = &recorder;
            s.spawn(move || {
                metrics::with_local_recorder(recorder, || {
                    let parity = if t % 2 == 0 { "even" } else { "odd" };
                    for i in 0..CALLS {
                        counter!("mt.requests", "worker.parity" => parity).increment(1);
                        counter!("mt.all").increment(2);
                        gauge!("mt.gauge").increment(3.0);
                        gauge!("mt.gauge").decrement(2.0);
                        histogram!("mt.latency").record(Duration::from_micros(i % 1_000));
                        histogram!("mt.batch").record_many(0.5, 3);
                    }
                });
            });
        }
    });
    let s = registry.snapshot();
    let half = THREADS / 2 * CALLS;
    let counter = |labels: &[(&str, &str)], name| s.get(name, labels).unwrap().value.clone();
    assert_eq!(
        counter(&[("worker_parity", "even")], "mt_requests"),
        Value::Counter(half)
    );
    assert_eq!(
        counter(&[("worker_parity", "odd")], "mt_requests"),
        Value::Counter(half)
    );
    assert_eq!(counter(&[], "mt_all"), Value::Counter(2 * THREADS * CALLS));
    assert_eq!(
        counter(&[], "mt_gauge"),
        Value::Gauge((THREADS * CALLS) as f64)
    );
    let latency = histogram(&s, "mt_latency", &[]);
    assert_eq!(latency.count(), THREADS * CALLS);
    let per_thread: u128 = (0..CALLS).map(|i| u128::from(i % 1_000) * 1_000).sum();
    assert_eq!(latency.sum(), per_thread * u128::from(THREADS));
    let batch = histogram(&s, "mt_batch", &[]);
    assert_eq!(batch.count(), 3 * THREADS * CALLS);
    assert_eq!(batch.sum_scaled(), 1.5 * (THREADS * CALLS) as f64);
    // Each thread looked each of its five keys up once.
    assert_eq!(recorder.stats().lookups, THREADS * 5);
}

#[test]
fn bad_samples_are_rejected_and_counted() {
    let registry = Registry::new();
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || {
        histogram!("odd.values").record(f64::NAN);
        histogram!("odd.values").record_many(-1.0, 7);
        histogram!("odd.values").record_many(0.002, 5);
        histogram!("odd.values").record(f64::INFINITY);
    });
    let s = registry.snapshot();
    let h = histogram(&s, "odd_values", &[]);
    assert_eq!((h.count(), h.rejected(), h.clamped()), (6, 8, 1));
    assert_eq!(registry.stats().rejected_samples, 8);
}

#[test]
fn refused_keys_drop_and_count() {
    let registry = Registry::new();
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || {
        // Two label names that sanitise to one.
        counter!("clash", "a.b" => "1", "a_b" => "2").increment(1);
        // A name already a counter.
        counter!("taken").increment(1);
        gauge!("taken").set(1.0);
        histogram!("taken").record(1.0);
    });
    let stats = recorder.stats();
    assert_eq!((stats.failed, stats.dropped), (3, 3));
    assert!(registry.snapshot().get("clash", &[("a_b", "2")]).is_none());
    assert_eq!(
        registry.snapshot().get("taken", &[]).unwrap().value,
        Value::Counter(1)
    );
}

/// Described after its first registration, a histogram keeps its scale:
/// a later lookup (another thread, a new label set) finds or makes series
/// of that scale, never one the first series would refuse.
#[test]
fn late_descriptions_keep_the_scale() {
    let registry = Registry::new();
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || {
        histogram!("late.ms", "part" => "a").record(2.0);
        describe_histogram!("late.ms", Unit::Milliseconds, "Described late.");
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            metrics::with_local_recorder(&recorder, || {
                histogram!("late.ms", "part" => "a").record(3.0);
                histogram!("late.ms", "part" => "b").record(4.0);
            });
        });
    });
    assert_eq!(recorder.stats().failed, 0, "{:?}", recorder.last_error());
    let s = registry.snapshot();
    for (part, count, sum) in [("a", 2, 5.0), ("b", 1, 4.0)] {
        let h = histogram(&s, "late_ms", &[("part", part)]);
        assert_eq!((h.count(), h.sum_scaled()), (count, sum));
        assert_eq!(h.opts().get_scale(), 1e9);
    }
    let unit = registry.description("late_ms").unwrap().unit;
    assert_eq!(unit.as_deref(), Some("milliseconds"));
}

/// `record_many` is one bucket update: 2^36 samples at once (hours as a
/// loop of `record`s).
#[test]
fn record_many_is_one_update() {
    let registry = Registry::new();
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || {
        histogram!("bulk.seconds").record_many(0.001, 1 << 36);
    });
    let s = registry.snapshot();
    let h = histogram(&s, "bulk_seconds", &[]);
    assert_eq!((h.count(), h.sum()), (1 << 36, 1_000_000 << 36));
}
