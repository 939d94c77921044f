//! A histogram reading's sum agrees with its counts (issue 21, item 7).
//!
//! The claims (`registry::histogram`'s module docs): every cumulative
//! reading (a snapshot) has a sum within its counted samples' bucket
//! ranges, `sum(count * low) <= sum <= sum(count * high)` over its
//! buckets, however long the reader is preempted; a cell whose sum did not
//! move while it was read contributes exactly its counted samples' sum
//! but for at most one in-flight record per recording thread (the loom
//! model `loom-tests/tests/histogram_readings.rs` checks that part); and
//! an interval reader's intervals add up exactly, sums included.
//!
//! Four threads record 1 ms while a fifth reads, alternating snapshots and
//! interval takes, for about two seconds. Every snapshot must keep the
//! bound, and the intervals must add up to the final snapshot. The run
//! prints the figures of `papers/registry.md`, for snapshots and for
//! intervals: the share of readings whose sum is not count x 1 ms, the
//! share off by more than four samples (one in flight per writer), and the
//! largest gap in samples, `|sum / 1 ms - count|`, absolute and relative
//! to the count:
//! `cargo test --release -p lockfree-metrics --test registry histogram_sum_count -- --nocapture`.

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

/// Figures over one kind of reading.
#[derive(Default)]
struct Figures {
    readings: u64,
    off: u64,
    past_in_flight: u64,
    largest: f64,
    largest_relative: f64,
    outside: Vec<(u64, u128)>,
}

impl Figures {
    fn add(&mut self, v: &HistogramValue) {
        let (within, gap) = check(v);
        self.readings += 1;
        self.off += u64::from(v.sum() != u128::from(v.count()) * u128::from(VALUE));
        self.past_in_flight += u64::from(gap > 4.0);
        self.largest = self.largest.max(gap);
        self.largest_relative = self.largest_relative.max(gap / v.count().max(1) as f64);
        if !within && self.outside.len() < 5 {
            self.outside.push((v.count(), v.sum()));
        }
    }

    fn print(&self, what: &str) {
        let share = |n: u64| 100.0 * n as f64 / self.readings.max(1) as f64;
        println!(
            "{what}: {} readings: {} ({:.1}%) with sum != count x 1 ms, {} ({:.1}%) \
             off by more than 4 samples; largest gap {:.0} samples, {:.4}% of its count; \
             {} outside their buckets",
            self.readings,
            self.off,
            share(self.off),
            self.past_in_flight,
            share(self.past_in_flight),
            self.largest,
            100.0 * self.largest_relative,
            self.outside.len(),
        );
    }
}

#[test]
fn every_snapshot_sum_lies_within_its_counts_buckets() {
    let registry = Registry::new();
    let h = registry.histogram("stress_seconds", &[]).unwrap();
    let mut intervals = registry.interval_reader();
    let stop = AtomicBool::new(false);
    let (mut snapshots, mut takes) = (Figures::default(), Figures::default());
    let (mut count, mut sum) = (0_u64, 0_u128);
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
        let mut turn = 0_u64;
        while Instant::now() < deadline {
            turn += 1;
            if turn.is_multiple_of(2) {
                if let Some(v) = registry.snapshot().get("stress_seconds", &[]) {
                    snapshots.add(v.as_histogram().unwrap());
                }
            } else if let Some(v) = intervals.take().get("stress_seconds", &[]) {
                let v = v.as_histogram().unwrap();
                takes.add(v);
                count += v.count();
                sum += v.sum();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    if let Some(v) = intervals.take().get("stress_seconds", &[]) {
        let v = v.as_histogram().unwrap();
        count += v.count();
        sum += v.sum();
    }
    snapshots.print("snapshots");
    takes.print("intervals");
    assert!(
        snapshots.readings > 100,
        "only {} snapshots",
        snapshots.readings
    );
    assert!(
        snapshots.outside.is_empty(),
        "snapshots with a sum outside their buckets (count, sum): {:?}",
        snapshots.outside
    );
    // At rest every record is in exactly one interval, sum included.
    let last = registry.snapshot();
    let last = last
        .get("stress_seconds", &[])
        .unwrap()
        .as_histogram()
        .unwrap();
    assert_eq!((count, sum), (last.count(), last.sum()));
    assert_eq!(last.sum(), u128::from(last.count()) * u128::from(VALUE));
}
