//! The data behind the default precision: for each number of significant
//! digits, the percentile error against exact order statistics, the
//! resident memory per recording thread, and the `snapshot()` cost, all
//! measured in one run.
//!
//! - **Error:** 1,000,000 latencies from each distribution, recorded into
//!   a `Sharded` collector, against the sorted samples' `ceil(q n)`-th
//!   value. Reported as the largest relative error over p50, p95, p99 and
//!   p99.9 (`hdrhistogram` reports the top of a value's bucket, so errors
//!   are overestimates).
//! - **Memory:** 64 threads, started and parked first, each runs 20,000
//!   request cycles (five records; log-normal latencies, median 2 ms,
//!   sigma 0.5) and parks again; the growth of `VmRSS` across the records,
//!   per thread (Linux only; elsewhere 0).
//! - **Read cost:** the median `snapshot()` time, wall and the reader's
//!   CPU, while 2 and 64 threads record request cycles, `FineGrained` and
//!   `Sharded`, cases interleaved over the repetitions (as
//!   `benches/programs/src/bin/snapshot_p50.rs`).
//!
//! `cargo run --release -p lockfree-metrics-programs --bin precision [reps]`

use std::time::Duration;

use lockfree_metrics::{Config, FineGrained, MetricsCollector, Sharded};
use lockfree_metrics_programs::{
    arg,
    cycles::{cycle, snapshot_cost, Lcg},
    positional, resident,
};

const USAGE: &str = "usage: precision [REPS]

Percentile error, resident memory per recording thread and snapshot cost
at 2 and 3 significant digits. REPS: repetitions of the read-cost cases,
interleaved (default 3).";

const DIGITS: [u8; 2] = [2, 3];

/// A latency distribution to draw from.
type Draw = Box<dyn Fn(&mut Lcg) -> Duration>;

fn config(digits: u8) -> Config {
    Config::builder()
        .significant_digits(digits)
        .build()
        .expect("valid precision")
}

/// Largest relative error of p50, p95, p99 and p99.9 over `samples`.
fn max_error(digits: u8, samples: &[Duration]) -> f64 {
    let m = Sharded::new(config(digits));
    for &s in samples {
        m.record_latency(s);
    }
    let l = m.latency();
    let mut sorted = samples.to_vec();
    sorted.sort();
    let exact = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).max(1) - 1];
    [(0.5, l.p50), (0.95, l.p95), (0.99, l.p99), (0.999, l.p999)]
        .iter()
        .map(|&(q, got)| {
            let want = exact(q).as_nanos() as f64;
            (got.as_nanos() as f64 - want).abs() / want
        })
        .fold(0.0, f64::max)
}

/// Resident KiB per thread that 64 threads of 20,000 request cycles add.
fn resident_per_thread(digits: u8) -> resident::Growth {
    let m = Sharded::new(config(digits));
    resident::growth_per_thread(64, |t| {
        let mut v = Lcg(t as u64 ^ 0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            cycle(&m, &mut v);
        }
    })
}

fn main() {
    let args = positional(USAGE, &["reps"]);
    let reps: usize = arg(USAGE, &args, 0, "reps", 3);

    println!("## error: largest relative error of p50, p95, p99, p99.9 (1,000,000 samples)");
    println!("distribution digits max_error_pct");
    let mut v = Lcg(7);
    let shapes: [(&str, Draw); 3] = [
        (
            "log-normal(2ms,0.5)",
            Box::new(|v| v.log_normal(2.0e6, 0.5)),
        ),
        (
            "log-normal(2ms,2.0)",
            Box::new(|v| v.log_normal(2.0e6, 2.0)),
        ),
        (
            "uniform(1us,50ms)",
            Box::new(|v| Duration::from_nanos(1_000 + v.next_u31() % 50_000_000)),
        ),
    ];
    for (name, draw) in &shapes {
        let samples: Vec<Duration> = (0..1_000_000).map(|_| draw(&mut v)).collect();
        for digits in DIGITS {
            println!("{name} {digits} {:.3}", 100.0 * max_error(digits, &samples));
        }
    }

    println!(
        "\n## memory: shard size and resident KiB per thread (64 threads, 20,000 cycles each)"
    );
    println!("digits shard_kib resident_kib_per_thread with_thread_start_kib");
    for digits in DIGITS {
        let shard = Sharded::new(config(digits)).shard_bytes() / 1024;
        let growth = resident_per_thread(digits);
        println!(
            "{digits} {shard} {} {}",
            growth.work_kib, growth.with_threads_kib
        );
    }

    println!("\n## read cost: snapshot() medians in µs while threads record (300 each)");
    println!("rep digits threads fine_wall sharded_wall fine_cpu sharded_cpu");
    for rep in 0..reps {
        for digits in DIGITS {
            for threads in [2, 64] {
                let fine = snapshot_cost(&FineGrained::new(config(digits)), threads, 300);
                let sharded = snapshot_cost(&Sharded::new(config(digits)), threads, 300);
                println!(
                    "{rep} {digits} {threads} {:.1} {:.1} {:.1} {:.1}",
                    fine.wall_us, sharded.wall_us, fine.cpu_us, sharded.cpu_us
                );
            }
        }
    }
}
