//! Reproducer for the `scrape` workload's miscount of
//! `metrics + exporter-prometheus (buckets)`: does metrics-util's
//! `AtomicBucket` lose pushes while `clear_with` drains it?
//!
//! Writer threads push tagged values (thread, sequence) into one bucket
//! while a reader drains it with `clear_with` back to back; after the
//! writers are joined, one last `clear_with` takes what is left. Every value
//! pushed should then have been seen exactly once. The first lossy rounds
//! are printed; the summary says how many values were lost and how they
//! were grouped (a lost value alone, or a run of one writer's neighbours).
//!
//! `cargo run --release -p lockfree-metrics-compare --example atomic_bucket_drain -- [seconds] [writers] [gap_us]`
//! (defaults: 3 s, 4 writers, no gap between drains; a gap stands for a
//! render's work). Bounded by `seconds`; exits 0 either way.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use metrics_util::storage::AtomicBucket;

/// Pushes per writer in one round (small, so each round's check is cheap).
const PER_ROUND: u64 = 100_000;
/// Bits of a value that hold the sequence number; the writer is above.
const SEQ_BITS: u32 = 40;

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let writers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    // Time the reader spends between drains, as a render would.
    let gap = Duration::from_micros(args.next().and_then(|s| s.parse().ok()).unwrap_or(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);

    let mut rounds = 0u64;
    let mut pushed_total = 0u64;
    let mut lost_total = 0u64;
    let mut dup_total = 0u64;
    let mut lossy_rounds = 0u64;
    let mut group_sizes: Vec<u64> = Vec::new();
    let mut drains_total = 0u64;

    while Instant::now() < deadline {
        rounds += 1;
        let bucket = AtomicBucket::<u64>::new();
        let done = AtomicBool::new(false);
        let (mut seen, drains) = thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut seen = Vec::with_capacity(writers * PER_ROUND as usize);
                let mut drains = 0u64;
                // Release/Acquire: the reader sees every push made before the writers were joined and the flag set.
                while !done.load(Ordering::Acquire) {
                    bucket.clear_with(|block| seen.extend_from_slice(block));
                    drains += 1;
                    let until = Instant::now() + gap;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
                (seen, drains)
            });
            let handles: Vec<_> = (0..writers as u64)
                .map(|t| {
                    let bucket = &bucket;
                    s.spawn(move || {
                        for i in 0..PER_ROUND {
                            bucket.push((t << SEQ_BITS) | i);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("writer");
            }
            // Release/Acquire: the reader sees every push made before the writers were joined and the flag set.
            done.store(true, Ordering::Release);
            reader.join().expect("reader")
        });
        // Every writer has returned: nothing is in flight, so this drain
        // takes all that the concurrent ones left.
        bucket.clear_with(|block| seen.extend_from_slice(block));
        drains_total += drains;
        pushed_total += writers as u64 * PER_ROUND;

        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        dup_total += (before - seen.len()) as u64;
        let mut lost_here = 0u64;
        for t in 0..writers as u64 {
            let lo = seen.partition_point(|&v| v < t << SEQ_BITS);
            let hi = seen.partition_point(|&v| v < (t + 1) << SEQ_BITS);
            let mut next = 0u64;
            let mut record_gap = |from: u64, to: u64, lost: &mut u64| {
                if to > from {
                    *lost += to - from;
                    group_sizes.push(to - from);
                }
            };
            for &v in &seen[lo..hi] {
                let seq = v & ((1 << SEQ_BITS) - 1);
                record_gap(next, seq, &mut lost_here);
                next = seq + 1;
            }
            record_gap(next, PER_ROUND, &mut lost_here);
        }
        if lost_here > 0 {
            if lossy_rounds < 8 {
                println!(
                    "round {rounds}: {lost_here} of {} pushes lost",
                    writers as u64 * PER_ROUND
                );
            }
            lossy_rounds += 1;
            lost_total += lost_here;
        }
    }

    group_sizes.sort_unstable();
    println!(
        "{rounds} rounds, {writers} writers, {pushed_total} pushed, {drains_total} concurrent \
         clear_with calls: {lost_total} lost in {lossy_rounds} rounds, {dup_total} seen twice"
    );
    if !group_sizes.is_empty() {
        println!(
            "lost groups (consecutive sequence numbers of one writer): {} groups, sizes min {} \
             median {} max {}",
            group_sizes.len(),
            group_sizes[0],
            group_sizes[group_sizes.len() / 2],
            group_sizes[group_sizes.len() - 1]
        );
    }
}
