//! Untouched counter lines stay non-resident: a `Sharded` thread's first
//! record makes resident only the pages it writes, not its whole shard,
//! and a thread of request cycles stays within 48 KiB at the default
//! configuration. Linux only (it reads `VmRSS` from `/proc/self/status`).
//!
//! Each test runs alone in a child process (`support::child::alone`):
//! the figures are the whole process's, which other tests would move.
//!
//! Prints the figures with
//! `cargo test --release --test engine resident_memory -- --nocapture`.

#![cfg(target_os = "linux")]

use std::time::Duration;

use lockfree_metrics::{Config, MetricsCollector, Sharded};

use crate::support::{child, cycles, resident};

const THREADS: usize = 64;

#[test]
fn one_record_per_thread_keeps_most_of_the_shard_non_resident() {
    child::alone(
        module_path!(),
        "one_record_per_thread_keeps_most_of_the_shard_non_resident",
        Duration::from_secs(120),
        || {
            let m = Sharded::new(Config::default());
            let growth = resident::growth_per_thread(THREADS, |_| {
                m.record_latency(Duration::from_millis(5))
            });
            println!(
                "VmRSS per thread: {} KiB for its first record, {} KiB with the thread itself; \
         shard size {} KiB",
                growth.work_kib,
                growth.with_threads_kib,
                m.shard_bytes() / 1024,
            );
            assert_eq!(m.latency().count, THREADS as u64);
            // Measured: 5 KiB (a latency counter's page, the sum's, the shard).
            assert!(growth.work_kib <= 16, "{} KiB per thread", growth.work_kib);
        },
    );
}

#[test]
fn request_cycles_stay_within_48_kib_per_thread() {
    child::alone(
        module_path!(),
        "request_cycles_stay_within_48_kib_per_thread",
        Duration::from_secs(120),
        || {
            let m = Sharded::new(Config::default());
            // The serving scheduler's five records, latencies log-normal around 2 ms.
            let per_thread = resident::growth_per_thread(THREADS, |t| {
                let mut v = cycles::Lcg(t as u64);
                for _ in 0..5_000 {
                    cycles::cycle(&m, &mut v);
                }
            })
            .work_kib;
            println!("VmRSS per thread of 5,000 request cycles: {per_thread} KiB");
            assert_eq!(m.latency().count, THREADS as u64 * 5_000);
            // Measured: 24 KiB (papers/precision.md); the window ring adds at most
            // another 16 KiB once a thread has recorded in every slot.
            assert!(per_thread <= 48, "{per_thread} KiB per thread");
        },
    );
}
