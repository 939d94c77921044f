//! Untouched counter lines stay non-resident: a `Sharded` thread's first
//! record makes resident only the pages it writes, not its whole shard,
//! and a thread of request cycles stays within 48 KiB at the default
//! configuration. Linux only (it reads `VmRSS` from `/proc/self/status`).
//!
//! Prints the figures with
//! `cargo test --release --test resident_memory -- --nocapture`.

#![cfg(target_os = "linux")]

use std::{
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use lockfree_metrics::{Config, MetricsCollector, Mode, Sharded};

const THREADS: usize = 64;

/// The tests measure the whole process: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn one_record_per_thread_keeps_most_of_the_shard_non_resident() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
    // Measured: 5 KiB (a latency counter's page, the sum's, the shard).
    assert!(
        per_thread(before_records) <= 16,
        "{} KiB per thread",
        per_thread(before_records)
    );
}

/// A small PRNG: an LCG's high bits.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Log-normal around 2 ms (sigma 0.5): a server's latencies.
    fn latency(&mut self) -> Duration {
        let unit = |v: &mut Self| (v.next() as f64 + 0.5) / (1_u64 << 31) as f64;
        let (a, b) = (unit(self), unit(self));
        let z = (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos();
        Duration::from_nanos((2.0e6 * (0.5 * z).exp()) as u64)
    }
}

#[test]
fn request_cycles_stay_within_48_kib_per_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = Arc::new(Sharded::new(Config::default()));
    let [started, go, recorded] = [(); 3].map(|_| Arc::new(Barrier::new(THREADS + 1)));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = Arc::clone(&m);
            let barriers = [&started, &go, &recorded].map(Arc::clone);
            thread::spawn(move || {
                barriers[0].wait();
                barriers[1].wait();
                let mut v = Lcg(t as u64);
                for _ in 0..5_000 {
                    m.record_latency(v.latency());
                    m.record_throughput(1 + v.next() % 256, 1);
                    m.record_batch_size(1 + (v.next() % 32) as usize);
                    m.record_queue_depth((v.next() % 256) as usize);
                    m.record_mode_transition(Mode((v.next() % 4) as u16));
                }
                barriers[2].wait();
                thread::park();
            })
        })
        .collect();
    started.wait();
    let before = vm_rss_kib();
    go.wait();
    recorded.wait();
    let per_thread = vm_rss_kib().saturating_sub(before) / THREADS as u64;
    println!("VmRSS per thread of 5,000 request cycles: {per_thread} KiB");
    assert_eq!(m.latency().count, THREADS as u64 * 5_000);
    for t in &threads {
        t.thread().unpark();
    }
    for t in threads {
        t.join().unwrap();
    }
    // Measured: 24 KiB (papers/precision.md); the window ring adds at most
    // another 10 KiB once a thread has recorded in every slot.
    assert!(per_thread <= 48, "{per_thread} KiB per thread");
}
