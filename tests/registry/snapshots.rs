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
//!
//! **Windows**, on their own: a 40 ms window (4 steps) and a long one,
//! ticked every few milliseconds. The short window covers at least 40 ms
//! and at most a step and the longest gap between calls more, and holds
//! exactly what was recorded in that span (counts, sums and quantiles as
//! `hdrhistogram` gives them for those records), not what came before; the
//! long one, everything since the reader began. A series hidden while the
//! readings were kept counts, once shown again, only what it recorded
//! since.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::{
    HistogramOpts, HistogramValue, Registry, RegistrySnapshot, SeriesKey, Value, WindowReader,
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

/// Ticks the reader every few milliseconds for `span`, returning the
/// longest gap between two of its calls.
fn tick_for(windows: &mut WindowReader, span: Duration) -> Duration {
    let (started, mut last, mut gap) = (Instant::now(), Instant::now(), Duration::ZERO);
    while started.elapsed() < span {
        thread::sleep(Duration::from_millis(3));
        windows.tick();
        gap = gap.max(last.elapsed());
        last = Instant::now();
    }
    gap
}

fn window_counter(s: &RegistrySnapshot, name: &str) -> Option<u64> {
    s.get(name, &[]).map(|s| match s.value {
        Value::Counter(v) => v,
        ref v => panic!("{name}: {v:?}"),
    })
}

#[test]
fn windows_hold_what_their_span_recorded() {
    const W: Duration = Duration::from_millis(40);
    const STEPS: u32 = 4;
    let r = Registry::new();
    let c = r.counter("win_total", &[]).unwrap();
    let h = r
        .histogram_with("win_size", &[], HistogramOpts::new(1, 10_000, 2).unwrap())
        .unwrap();
    let hidden = r.counter("win_hidden_total", &[]).unwrap();
    hidden.increment(5);
    let mut windows = r.window_reader(&[W, Duration::from_secs(3_600)], STEPS);

    // Before: in the long window only.
    c.increment(1);
    h.record(100);
    let before_end = Instant::now();
    // Hidden while readings are kept: they keep its value in their cuts.
    assert_eq!(
        r.remove("win_hidden_total", &[]).unwrap(),
        lockfree_metrics::registry::Removal::Hidden
    );
    let gap = tick_for(&mut windows, 3 * W);

    // In both windows.
    c.increment(10);
    h.record_n(200, 3);
    h.record(7_000);
    hidden.increment(1);
    let asked = Instant::now();
    let read = windows.read();
    let since_before = asked.duration_since(before_end);
    let [(w, covered, short), (long_w, long_covered, long)] = read.windows() else {
        panic!("two windows: {:?}", read.windows().len());
    };
    assert_eq!((*w, *long_w), (W, Duration::from_secs(3_600)));
    // The span: at least the window, at most a step and a gap more; and
    // less than the time since the first records, which it leaves out.
    let gap = gap.max(asked.elapsed());
    assert!(*covered >= W, "{covered:?}");
    assert!(*covered <= W + W / STEPS + gap, "{covered:?} (gap {gap:?})");
    assert!(
        *covered < since_before,
        "{covered:?} against {since_before:?}"
    );
    assert!(*long_covered < Duration::from_secs(3_600));

    check_reading(short);
    check_reading(long);
    assert_eq!(window_counter(short, "win_total"), Some(10));
    assert_eq!(window_counter(long, "win_total"), Some(11));
    // The hidden series, shown again by its record: one, in both.
    assert_eq!(window_counter(short, "win_hidden_total"), Some(1));
    assert_eq!(window_counter(long, "win_hidden_total"), Some(1));
    // Exact counts and quantiles of the window's records.
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000, 2).unwrap();
    hdr.record_n(200, 3).unwrap();
    hdr.record(7_000).unwrap();
    let v = short.get("win_size", &[]).unwrap().as_histogram().unwrap();
    assert_eq!((v.count(), v.sum()), (4, 7_600));
    for q in [0.0, 0.5, 0.75, 0.76, 1.0] {
        assert_eq!(v.quantile(q), hdr.value_at_quantile(q), "q {q}");
    }
    hdr.record(100).unwrap();
    let v = long.get("win_size", &[]).unwrap().as_histogram().unwrap();
    assert_eq!((v.count(), v.sum()), (5, 7_700));
    for q in [0.0, 0.2, 0.5, 1.0] {
        assert_eq!(v.quantile(q), hdr.value_at_quantile(q), "q {q}");
    }
}
