//! Records a simulated serving workload from several threads into each
//! strategy and prints what each sustained, with its final snapshot.
//!
//! `cargo run --release --example compare`

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{Atomic, Config, FineGrained, GlobalLock, MetricsCollector, Mode, Sharded};

const RUN: Duration = Duration::from_millis(500);

/// One simulated request: every metric once, as a serving scheduler does.
fn request(m: &dyn MetricsCollector, i: u64) {
    m.record_latency(Duration::from_micros(200 + (i * 7919) % 50_000));
    m.record_throughput(16 + i % 64, 1);
    m.record_batch_size(1 + (i % 32) as usize);
    m.record_queue_depth((i % 100) as usize);
    m.record_mode_transition(Mode((i / 1_000 % 2) as u16));
}

fn run(m: Arc<dyn MetricsCollector>, threads: usize) -> (u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = t as u64 * 1_000_003;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    request(&*m, i);
                    i += 1;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let start = Instant::now();
    thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let total = workers.into_iter().map(|w| w.join().unwrap()).sum();
    (total, start.elapsed())
}

fn main() {
    let threads = thread::available_parallelism().map_or(2, |n| n.get());
    println!("request cycles (5 records each), {threads} threads, {RUN:?} per strategy\n");
    println!(
        "{:<12} {:>14} {:>12} {:>10}",
        "strategy", "requests/s", "p99", "count ok"
    );
    let strategies: [(&str, Arc<dyn MetricsCollector>); 4] = [
        ("GlobalLock", Arc::new(GlobalLock::new(Config::default()))),
        ("FineGrained", Arc::new(FineGrained::new(Config::default()))),
        ("Atomic", Arc::new(Atomic::new(Config::default()))),
        ("Sharded", Arc::new(Sharded::new(Config::default()))),
    ];
    for (name, m) in strategies {
        let (requests, elapsed) = run(Arc::clone(&m), threads);
        let s = m.snapshot();
        let ok = s.latency.count == requests && s.throughput.total_requests == requests;
        println!(
            "{name:<12} {:>14.0} {:>12?} {:>10}",
            requests as f64 / elapsed.as_secs_f64(),
            s.latency.p99,
            if ok { "yes" } else { "NO" }
        );
    }
}
