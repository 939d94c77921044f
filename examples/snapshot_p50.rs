//! `snapshot()` latency while threads record: the median over a burst of
//! back-to-back snapshots, for `FineGrained` and `Sharded` with 2 and 64
//! live recording threads, repeated with the cases interleaved so that a
//! shared machine's load falls on every case alike.
//!
//! Each recording thread runs request cycles (latency, throughput, batch
//! size, queue depth, mode: five records) with log-normal latencies whose
//! median is 2 ms, yielding every 64 cycles so that 64 threads on a few
//! cores all stay live.
//!
//! `cargo run --release --example snapshot_p50 [reps] [snapshots] [threads,...]`

use std::{
    hint::black_box,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{Config, FineGrained, MetricsCollector, Mode, Sharded};

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

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() as f64 + 0.5) / (1_u64 << 31) as f64
    }

    /// Log-normal with median 2 ms and sigma 0.5 (Box-Muller).
    fn latency(&mut self) -> Duration {
        let z = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        Duration::from_nanos((2.0e6 * (0.5 * z).exp()) as u64)
    }
}

fn cycles<M: MetricsCollector>(m: &M, t: usize, stop: &AtomicBool) {
    let mut v = Lcg(t as u64 ^ 0x9E37_79B9_7F4A_7C15);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..64 {
            m.record_latency(v.latency());
            m.record_throughput(1 + v.next() % 256, 1);
            m.record_batch_size(1 + (v.next() % 32) as usize);
            m.record_queue_depth((v.next() % 256) as usize);
            m.record_mode_transition(Mode((v.next() % 4) as u16));
        }
        thread::yield_now();
    }
}

/// The median `snapshot()` time, in µs, over `n` snapshots taken while
/// `threads` threads record into a fresh collector.
fn p50<M: MetricsCollector + Sync>(m: M, threads: usize, n: usize) -> f64 {
    let stop = AtomicBool::new(false);
    let mut times = thread::scope(|s| {
        for t in 0..threads {
            let (m, stop) = (&m, &stop);
            s.spawn(move || cycles(m, t, stop));
        }
        // Let every thread record (and allocate its shard) first.
        thread::sleep(Duration::from_millis(200));
        let times: Vec<f64> = (0..n)
            .map(|_| {
                let start = Instant::now();
                black_box(m.snapshot());
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        times
    });
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().map_or(5, |a| a.parse().expect("reps"));
    let n: usize = args.next().map_or(300, |a| a.parse().expect("snapshots"));
    let counts: Vec<usize> = args.next().map_or(vec![2, 64], |a| {
        a.split(',').map(|t| t.parse().expect("threads")).collect()
    });
    println!("rep threads fine_us sharded_us ratio");
    for rep in 0..reps {
        for &threads in &counts {
            let fine = p50(FineGrained::new(Config::default()), threads, n);
            let sharded = p50(Sharded::new(Config::default()), threads, n);
            println!(
                "{rep} {threads} {fine:.1} {sharded:.1} {:.2}",
                sharded / fine
            );
        }
    }
}
