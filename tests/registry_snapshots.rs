//! Registry readings under load (`lockfree_metrics::registry`): while
//! three threads record into histograms (shared at first, then promoted to
//! per-thread cells) and a counter, the main thread takes snapshots,
//! intervals and sliding windows back to back. Every reading must be
//! well-formed, and consecutive readings consistent:
//!
//! - series sorted by (name, labels);
//! - each histogram's `count()` is its `buckets()`' total; buckets are
//!   in order, not overlapping, and hold no empty bucket;
//! - `quantile(q)` lies within the buckets: at `q = 0` the lowest
//!   bucket's floor (`min()`), otherwise the top of a bucket that counts
//!   something, never decreasing in `q`, within `min() ..= max()`;
//! - from one snapshot to the next, every bucket's count, every count and
//!   sum, and the counter, never decrease (cells only grow);
//! - every interval is well-formed too, and the intervals add up, bucket
//!   by bucket, to the final snapshot; every window's counts are at most
//!   the cumulative ones read after it.
//!
//! The writers stop after a fixed number of records, or after 5 s, which
//! bounds the run.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::{
    HistogramOpts, HistogramValue, Registry, RegistrySnapshot, SeriesKey, Value,
};

const WRITERS: usize = 3;
const RECORDS: u64 = 250_000;

/// Bucket counts by bucket top.
type Buckets = BTreeMap<u64, u64>;

fn check_histogram(key: &SeriesKey, h: &HistogramValue) -> Buckets {
    let buckets: Vec<_> = h.buckets().collect();
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    assert_eq!(total, h.count(), "{key}: count against its buckets");
    for w in buckets.windows(2) {
        assert!(w[0].high < w[1].low, "{key}: buckets {w:?} out of order");
    }
    for b in &buckets {
        assert!(b.count > 0 && b.low <= b.high, "{key}: bucket {b:?}");
    }
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        assert_eq!(h.min(), first.low, "{key}: min");
        assert!(h.max() >= last.low && h.max() <= last.high, "{key}: max");
        assert_eq!(h.quantile(0.0), first.low, "{key}: quantile(0)");
        let mut previous = 0;
        for q in [0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let at = h.quantile(q);
            assert!(
                buckets.iter().any(|b| b.high == at),
                "{key}: quantile({q}) = {at} is no bucket's top"
            );
            assert!(at >= previous, "{key}: quantile({q}) decreased");
            assert!(at >= h.min() && at <= last.high, "{key}: quantile({q})");
            previous = at;
        }
    } else {
        assert_eq!((h.count(), h.quantile(0.5), h.min(), h.max()), (0, 0, 0, 0));
    }
    buckets.iter().map(|b| (b.high, b.count)).collect()
}

/// What a reading holds, checked: per series, its buckets (histograms),
/// count and sum (counters: the value and 0).
fn check_reading(s: &RegistrySnapshot) -> BTreeMap<String, (Buckets, u64, u128)> {
    let keys: Vec<_> = s.iter().map(|s| s.key.clone()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "unsorted: {keys:?}");
    s.iter()
        .map(|series| {
            let v = match &series.value {
                Value::Histogram(h) => (check_histogram(&series.key, h), h.count(), h.sum()),
                Value::Counter(v) => (Buckets::new(), *v, 0),
                Value::Gauge(g) => panic!("{}: no gauges here, {g}", series.key),
            };
            (series.key.to_string(), v)
        })
        .collect()
}

#[test]
fn readings_under_load_are_consistent() {
    let r = Registry::new();
    let latency = r.histogram("load_latency", &[]).unwrap();
    let small = HistogramOpts::new(1, 100_000, 1).unwrap();
    let sizes = [
        r.histogram_with("load_size", &[("k", "a")], small).unwrap(),
        r.histogram_with("load_size", &[("k", "b")], small).unwrap(),
    ];
    let ops = r.counter("load_ops_total", &[]).unwrap();
    let mut intervals = r.interval_reader();
    let mut windows = r.window_reader(&[Duration::from_millis(50), Duration::from_millis(200)], 4);

    let stop = AtomicBool::new(false);
    let running = AtomicUsize::new(WRITERS);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut summed: BTreeMap<String, (Buckets, u64, u128)> = BTreeMap::new();
    let mut readings = 0_u64;
    thread::scope(|s| {
        for t in 0..WRITERS as u64 {
            let (latency, sizes, ops, stop, running) = (&latency, &sizes, &ops, &stop, &running);
            s.spawn(move || {
                for i in 0..RECORDS {
                    if i % 1_024 == 0 && stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Log-spread latencies over many buckets, a few hot ones.
                    let v = if i % 4 == 0 {
                        1_000 << (i % 20)
                    } else {
                        1 + (i * 7_919 + t * 13) % 5_000_000
                    };
                    latency.record(v);
                    sizes[(i % 2) as usize].record_n((i * 31 + t) % 120_000, 1 + i % 3);
                    ops.increment(1);
                }
                running.fetch_sub(1, Ordering::Release);
            });
        }
        let mut last: Option<BTreeMap<String, (Buckets, u64, u128)>> = None;
        loop {
            let done = running.load(Ordering::Acquire) == 0;
            if Instant::now() > deadline {
                stop.store(true, Ordering::Relaxed);
            }
            let window = windows.read();
            let now = check_reading(&r.snapshot());
            for (_, _, w) in window.windows() {
                for (key, (buckets, count, _)) in check_reading(w) {
                    let (cumulative, total, _) = &now[&key];
                    assert!(count <= *total, "{key}: window count {count} > {total}");
                    for (top, n) in buckets {
                        assert!(n <= cumulative[&top], "{key}: window bucket {top}");
                    }
                }
            }
            if let Some(last) = &last {
                for (key, (buckets, count, sum)) in last {
                    let (b, c, s) = &now[key];
                    assert!(c >= count && s >= sum, "{key}: went back");
                    for (top, n) in buckets {
                        assert!(
                            b.get(top).is_some_and(|m| m >= n),
                            "{key}: bucket {top} went back"
                        );
                    }
                }
            }
            last = Some(now);
            for (key, (buckets, count, sum)) in check_reading(&intervals.take()) {
                let e = summed.entry(key).or_default();
                for (top, n) in buckets {
                    *e.0.entry(top).or_default() += n;
                }
                e.1 += count;
                e.2 += sum;
            }
            readings += 1;
            if done {
                break;
            }
        }
    });
    for (key, (buckets, count, sum)) in check_reading(&intervals.take()) {
        let e = summed.entry(key).or_default();
        for (top, n) in buckets {
            *e.0.entry(top).or_default() += n;
        }
        e.1 += count;
        e.2 += sum;
    }
    let last = check_reading(&r.snapshot());
    assert_eq!(summed, last, "the intervals add up to the totals");
    let stats = r.stats();
    println!("{readings} readings; {stats:?}");
    assert!(readings >= 2);
    assert!(stats.promoted >= 1, "{stats:?}");
    let recorded = last["load_ops_total"].1;
    assert_eq!(last["load_latency"].1, recorded);
    if !stop.load(Ordering::Relaxed) {
        assert_eq!(recorded, WRITERS as u64 * RECORDS);
    }
}
