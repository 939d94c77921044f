//! A histogram reading's sum agrees with its counts (issue 21, item 7).
//!
//! The claim (`registry::histogram`'s module docs): every reading, a
//! snapshot's or an interval's, has a sum within its counted samples'
//! bucket ranges, `sum(count * low) <= sum <= sum(count * high)` over its
//! buckets, however long the reader is preempted; and a cell whose sum did
//! not move while it was read contributes exactly its counted samples'
//! sum but for at most one in-flight record per recording thread (the loom
//! model `loom-tests/tests/histogram_readings.rs` checks that part).
//!
//! Four threads record 1 ms while a fifth reads, alternating snapshots and
//! interval takes, for about two seconds. Every reading must keep the
//! bound. The run prints the figures of `papers/registry.md`: the share
//! of readings whose sum is not count x 1 ms, the share off by more than
//! four samples (one in flight per writer), and the largest gap in
//! samples, `|sum / 1 ms - count|`, absolute and relative to the count:
//! `cargo test --release -p lockfree-metrics --test histogram_sum_count -- --nocapture`.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::{HistogramValue, Registry};

const VALUE: u64 = 1_000_000;

/// Whether `h`'s sum lies within its buckets' ranges, and its gap in
/// samples of `VALUE`.
fn check(h: &HistogramValue) -> (bool, f64) {
    let (low, high) = h.buckets().fold((0_u128, 0_u128), |(l, u), b| {
        (
            l + u128::from(b.count) * u128::from(b.low),
            u + u128::from(b.count) * u128::from(b.high),
        )
    });
    let gap = (h.sum() as f64 / VALUE as f64 - h.count() as f64).abs();
    ((low..=high).contains(&h.sum()), gap)
}

#[test]
fn every_reading_sum_lies_within_its_counts_buckets() {
    let registry = Registry::new();
    let h = registry.histogram("stress_seconds", &[]).unwrap();
    let mut intervals = registry.interval_reader();
    let stop = AtomicBool::new(false);
    let (mut readings, mut off, mut past_in_flight) = (0_u64, 0_u64, 0_u64);
    let (mut largest, mut largest_relative, mut outside) = (0_f64, 0_f64, Vec::new());
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                // Relaxed: a stop flag; the scope's join orders the rest.
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        h.record(VALUE);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let snapshot = if readings % 2 == 0 {
                registry.snapshot()
            } else {
                intervals.take()
            };
            if let Some(v) = snapshot
                .get("stress_seconds", &[])
                .and_then(|s| s.as_histogram())
            {
                let (within, gap) = check(v);
                readings += 1;
                off += u64::from(v.sum() != u128::from(v.count()) * u128::from(VALUE));
                past_in_flight += u64::from(gap > 4.0);
                largest = largest.max(gap);
                largest_relative = largest_relative.max(gap / v.count().max(1) as f64);
                if !within && outside.len() < 5 {
                    outside.push((v.count(), v.sum()));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let share = |n: u64| 100.0 * n as f64 / readings.max(1) as f64;
    println!(
        "{readings} readings: {off} ({:.1}%) with sum != count x 1 ms, {past_in_flight} ({:.1}%) \
         off by more than 4 samples; largest gap {largest:.0} samples, {:.4}% of its count",
        share(off),
        share(past_in_flight),
        100.0 * largest_relative
    );
    assert!(readings > 100, "only {readings} readings");
    assert!(
        outside.is_empty(),
        "readings with a sum outside their buckets (count, sum): {outside:?}"
    );
}
