//! Untouched counter lines stay non-resident: a `Sharded` thread's first
//! record makes resident only the pages it writes, not its whole shard,
//! and a thread of request cycles stays within 48 KiB at the default
//! configuration. Linux only (it reads `VmRSS` from `/proc/self/status`).
//!
//! Prints the figures with
//! `cargo test --release --test resident_memory -- --nocapture`.

#![cfg(target_os = "linux")]

#[allow(dead_code)] // `snapshot_cost` is for the examples.
#[path = "support/cycles.rs"]
pub mod cycles;
#[path = "support/resident.rs"]
pub mod resident;

use std::time::Duration;

use lockfree_metrics::{Config, MetricsCollector, Sharded};

const THREADS: usize = 64;

/// The tests measure the whole process: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn one_record_per_thread_keeps_most_of_the_shard_non_resident() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = Sharded::new(Config::default());
    let growth =
        resident::growth_per_thread(THREADS, |_| m.record_latency(Duration::from_millis(5)));
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
}

#[test]
fn request_cycles_stay_within_48_kib_per_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
}
