//! Untouched counter lines stay non-resident: a `Sharded` thread's first
//! record makes resident only the pages it writes, not its whole shard.
//! Linux only (it reads `VmRSS` from `/proc/self/status`).
//!
//! Prints the figures with
//! `cargo test --release --test resident_memory -- --nocapture`.

#![cfg(target_os = "linux")]

use std::{
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use lockfree_metrics::{Config, MetricsCollector, Sharded};

const THREADS: usize = 64;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn one_record_per_thread_keeps_most_of_the_shard_non_resident() {
    let m = Arc::new(Sharded::new(Config::default()));
    // Threads are started and parked first, so that the figure measured
    // across the records is the shards' alone.
    let started = Arc::new(Barrier::new(THREADS + 1));
    let go = Arc::new(Barrier::new(THREADS + 1));
    let recorded = Arc::new(Barrier::new(THREADS + 1));
    let before_threads = vm_rss_kib();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let m = Arc::clone(&m);
            let barriers = [&started, &go, &recorded].map(Arc::clone);
            thread::spawn(move || {
                barriers[0].wait();
                barriers[1].wait();
                m.record_latency(Duration::from_millis(5));
                barriers[2].wait();
                // Parked until the main thread has measured.
                thread::park();
            })
        })
        .collect();
    started.wait();
    let before_records = vm_rss_kib();
    go.wait();
    recorded.wait();
    let after = vm_rss_kib();
    let per_thread = |from: u64| after.saturating_sub(from) / THREADS as u64;
    println!(
        "VmRSS per thread: {} KiB for its first record, {} KiB with the thread itself; \
         shard size {} KiB",
        per_thread(before_records),
        per_thread(before_threads),
        m.shard_bytes() / 1024,
    );
    assert_eq!(m.latency().count, THREADS as u64);
    for t in &threads {
        t.thread().unpark();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        per_thread(before_records) < 128,
        "{} KiB per thread",
        per_thread(before_records)
    );
}
