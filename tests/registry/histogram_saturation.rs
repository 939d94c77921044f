//! Histogram counts saturate, and the cut is counted (issue 21, item 13).
//!
//! The claims (`registry::histogram`'s module docs): a bucket's count in
//! one cell (a lane, or the shared pages) stops at 2^62, and a reading's
//! count at `u64::MAX`, cut from
//! its highest buckets; a reading's count is always its buckets' total;
//! every sample recorded is either counted or cut, and
//! `HistogramValue::saturated` (and `Stats::saturated_samples`) says how
//! many were cut; readings never go backwards; the sum of a reading that
//! cut samples is held within its buckets, and quantiles are read from the
//! counts shown. Before the fix, `record_n` wrapped the counts modulo
//! 2^64: `u64::MAX` samples and then 2 read as a count of 1.

use std::{sync::Barrier, thread};

use lockfree_metrics::registry::{HistogramValue, Registry};

const CELL_CAP: u64 = 1 << 62;

/// Runs `f(t)` on `LANES` threads that are all alive from the first
/// record to the last, so that each records into a lane of its own (a
/// thread that starts after another exited continues that one's lane).
fn in_lanes(f: impl Fn(usize) + Sync) {
    const LANES: usize = 4;
    let [start, done] = [(); 2].map(|_| Barrier::new(LANES));
    thread::scope(|s| {
        for t in 0..LANES {
            let (f, start, done) = (&f, &start, &done);
            s.spawn(move || {
                start.wait();
                f(t);
                done.wait();
            });
        }
    });
}

fn read(registry: &Registry, name: &str) -> HistogramValue {
    registry
        .snapshot()
        .get(name, &[])
        .expect("series present")
        .as_histogram()
        .expect("a histogram")
        .clone()
}

/// The count is the buckets' total, and the sum lies within their ranges.
fn consistent(h: &HistogramValue) {
    let (total, low, high) = h.buckets().fold((0_u128, 0_u128, 0_u128), |(t, l, u), b| {
        (
            t + u128::from(b.count),
            l + u128::from(b.count) * u128::from(b.low),
            u + u128::from(b.count) * u128::from(b.high),
        )
    });
    assert_eq!(u128::from(h.count()), total, "count is the buckets' total");
    assert!(
        (low..=high).contains(&h.sum()),
        "sum {} outside its buckets' {low} ..= {high}",
        h.sum()
    );
}

#[test]
fn one_thread_saturates_a_bucket_and_counts_the_cut() {
    let registry = Registry::new();
    let h = registry.histogram("big_ns", &[]).unwrap();
    h.record_n(5_000, u64::MAX);
    let r = read(&registry, "big_ns");
    consistent(&r);
    assert_eq!(r.count(), CELL_CAP, "the bucket's cell stops at 2^62");
    assert_eq!(r.saturated(), u64::MAX - CELL_CAP, "the cut counted");
    assert_eq!(r.quantile(0.5), r.range_of(5_000).1);
    assert_eq!(registry.stats().saturated_samples, r.saturated());

    // Records of fewer than 256 samples are not capped: the cell has
    // 2^62 of headroom for them, and counts them exactly.
    h.record_n(5_000, 2);
    for _ in 0..10 {
        h.record(5_000);
    }
    let after = read(&registry, "big_ns");
    consistent(&after);
    // Before the fix: count 1 after the first two records (u64::MAX + 2
    // modulo 2^64).
    assert_eq!(after.count(), CELL_CAP + 12);
    assert_eq!(
        u128::from(after.count()) + u128::from(after.saturated()),
        u128::from(u64::MAX) + 12,
        "every sample counted or cut"
    );
    // A large record into the full bucket is cut whole.
    h.record_n(5_000, 1 << 20);
    let last = read(&registry, "big_ns");
    assert_eq!(last.count(), after.count());
    assert_eq!(last.saturated(), after.saturated() + (1 << 20));
}

#[test]
fn a_readings_total_stops_at_u64_max_cut_from_the_top() {
    let registry = Registry::new();
    let h = registry.histogram("two_ns", &[]).unwrap();
    // Four lanes, each capped: two full below, two full above.
    in_lanes(|t| {
        if t < 2 {
            h.record_n(1_000, CELL_CAP + 5);
        } else {
            h.record_n(1_000_000, CELL_CAP + 7);
        }
        if t == 0 {
            h.record(1_000);
        }
    });
    let r = read(&registry, "two_ns");
    consistent(&r);
    assert_eq!(r.count(), u64::MAX);
    let buckets: Vec<_> = r.buckets().map(|b| b.count).collect();
    // 2^63 + 1 below, and what fits of 2^63 above.
    assert_eq!(buckets, [2 * CELL_CAP + 1, 2 * CELL_CAP - 2]);
    assert_eq!(
        u128::from(r.count()) + u128::from(r.saturated()),
        4 * u128::from(CELL_CAP) + 25,
        "every sample counted or cut"
    );
    // Quantiles from the counts shown: half the samples are 1 µs.
    assert_eq!(r.quantile(0.5), r.range_of(1_000).1);
    assert_eq!(r.quantile(0.99), r.range_of(1_000_000).1);
    assert_eq!(r.max(), r.range_of(1_000_000).1);
}

/// Threads race near the limit, each in its own lane, with large and
/// small records mixed:
/// every sample is counted or cut, readings never go backwards, and an
/// interval reader's intervals stay consistent.
#[test]
fn racing_threads_saturate_without_wrapping() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 5;
    // 4 x 5 x 2^60 = 1.25 x 2^64 in one bucket: past each lane's cap,
    // past u64::MAX once merged from the lanes.
    const LARGE: u64 = 1 << 60;
    const COMMON: u64 = 1_000_000;
    let registry = Registry::new();
    let h = registry.histogram("race_ns", &[]).unwrap();
    let mut intervals = registry.interval_reader();
    let done = std::sync::atomic::AtomicBool::new(false);
    // Writers stay alive until all are done: one lane each.
    let finished = Barrier::new(THREADS as usize);
    let recorded: u128 = thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut last_count, mut last_cut, mut readings) = (0, 0, 0);
            while !done.load(std::sync::atomic::Ordering::Relaxed) || readings < 10 {
                let r = read(&registry, "race_ns");
                consistent(&r);
                assert!(r.count() >= last_count, "a count went backwards");
                assert!(r.saturated() >= last_cut, "the cut went backwards");
                (last_count, last_cut) = (r.count(), r.saturated());
                let i = intervals.take();
                if let Some(i) = i.get("race_ns", &[]) {
                    let i = i.as_histogram().unwrap();
                    let total: u128 = i.buckets().map(|b| u128::from(b.count)).sum();
                    assert_eq!(u128::from(i.count()), total);
                }
                readings += 1;
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (h, finished) = (h.clone(), &finished);
                s.spawn(move || {
                    let value = 1_000 * (t + 1);
                    let mut recorded = 0_u128;
                    for round in 0..ROUNDS {
                        for _ in 0..2_000 {
                            h.record(value);
                        }
                        h.record_n(COMMON, LARGE + round);
                        h.record_n(value, 70_000);
                        recorded += 2_000 + u128::from(LARGE + round) + 70_000;
                    }
                    finished.wait();
                    recorded
                })
            })
            .collect();
        let recorded = writers.into_iter().map(|w| w.join().unwrap()).sum();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        recorded
    });
    let r = read(&registry, "race_ns");
    consistent(&r);
    assert_eq!(
        u128::from(r.count()) + u128::from(r.saturated()),
        recorded,
        "every sample counted or cut"
    );
    assert!(r.count() >= CELL_CAP, "count {}", r.count());
    assert!(r.saturated() > 0);
    // Stats count what records cut; a reading may cut more to fit its
    // total in u64::MAX.
    assert!(registry.stats().saturated_samples <= r.saturated());
    // Nearly every sample is the common value; the lowest are the small
    // records'.
    assert_eq!(r.quantile(0.5), r.range_of(COMMON).1);
    assert_eq!(r.min(), r.range_of(1_000).0);
}

/// Four lanes each hold 2^62 in one bucket: merged, the bucket passes
/// `u64::MAX`, is read as that, and the sample it lost is counted; the
/// total then cuts the highest bucket.
#[test]
fn lanes_past_u64_max_are_merged_saturating() {
    let registry = Registry::new();
    let h = registry.histogram("cells_ns", &[]).unwrap();
    in_lanes(|t| {
        if t == 0 {
            for _ in 0..4_096 {
                h.record(1_000_000);
            }
        }
        h.record_n(5_000, CELL_CAP);
    });
    assert_eq!(registry.stats().promoted, 1, "more than one lane");
    assert_eq!(registry.stats().saturated_samples, 0, "no cell was cut");
    let r = read(&registry, "cells_ns");
    consistent(&r);
    assert_eq!(r.count(), u64::MAX);
    let buckets: Vec<_> = r.buckets().map(|b| (b.low, b.count)).collect();
    assert_eq!(buckets, [(r.range_of(5_000).0, u64::MAX)]);
    // One sample of the merged bucket, and the 4,096 above it.
    assert_eq!(r.saturated(), 1 + 4_096);
    assert_eq!(r.quantile(1.0), r.range_of(5_000).1);
}

/// A reading's top cut moves up as lower buckets grow, so a bucket can
/// read less than it did: an interval shows that bucket as 0, never a
/// wrapped difference, and its count stays its buckets' total.
#[test]
fn an_interval_across_a_top_cut_stays_consistent() {
    let registry = Registry::new();
    let h = registry.histogram("cut_ns", &[]).unwrap();
    in_lanes(|t| match t {
        0 | 1 => h.record_n(1_000_000, CELL_CAP),
        2 => h.record_n(1_000, CELL_CAP),
        _ => h.record_n(1_000, CELL_CAP - 10),
    });
    let mut intervals = registry.interval_reader();
    // 2^64 + 10 in all: the reading cuts 11 from the highest bucket. (This
    // thread continues an exited thread's lane.)
    h.record_n(1_000, 20);
    let taken = intervals.take();
    let i = taken.get("cut_ns", &[]).unwrap().as_histogram().unwrap();
    consistent(i);
    assert_eq!(i.count(), 20);
    assert_eq!(i.saturated(), 11);
    let r = read(&registry, "cut_ns");
    assert_eq!(r.count(), u64::MAX);
    assert_eq!(r.saturated(), 11);
}
