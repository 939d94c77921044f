//! `snapshot()` latency while threads record: the median over a burst of
//! back-to-back snapshots, wall time and the reader's CPU time, for
//! `FineGrained` and `Sharded` with 2 and 64 live recording threads,
//! repeated with the cases interleaved so that a shared machine's load
//! falls on every case alike.
//!
//! Each recording thread runs request cycles (latency, throughput, batch
//! size, queue depth, mode: five records) with log-normal latencies whose
//! median is 2 ms, yielding every 64 cycles so that 64 threads on a few
//! cores all stay live. Wall time includes the time the reader waits for a
//! core: with more runnable threads than cores, a reader whose writers
//! never block shares the cores with them, where writers blocked on
//! `FineGrained`'s locks leave it one.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin snapshot_p50 [reps] [snapshots] [threads,...] [digits]`

use lockfree_metrics::{Config, FineGrained, Sharded};
use lockfree_metrics_programs::{arg, cycles, positional, usage_error};

const USAGE: &str = "usage: snapshot_p50 [REPS] [SNAPSHOTS] [THREADS,...] [DIGITS]

The median snapshot() time while threads record, FineGrained and Sharded.
REPS: interleaved repetitions (default 5); SNAPSHOTS: snapshots per burst
(default 300); THREADS: comma-separated recording-thread counts (default
2,64); DIGITS: HDR significant digits (default the Config default).";

fn main() {
    let args = positional(USAGE, &["reps", "snapshots", "threads", "digits"]);
    let reps: usize = arg(USAGE, &args, 0, "reps", 5);
    let n: usize = arg(USAGE, &args, 1, "snapshots", 300);
    let counts: Vec<usize> = match args.get(2) {
        None => vec![2, 64],
        Some(list) => list
            .split(',')
            .map(|t| {
                t.parse()
                    .unwrap_or_else(|e| usage_error(USAGE, &format!("threads: {t:?}: {e}")))
            })
            .collect(),
    };
    let digits: u8 = arg(
        USAGE,
        &args,
        3,
        "digits",
        Config::default().significant_digits(),
    );
    let config = Config::builder()
        .significant_digits(digits)
        .build()
        .unwrap_or_else(|e| usage_error(USAGE, &format!("digits: {e}")));
    println!("# {digits} significant digits; medians in µs");
    println!("rep threads fine_wall sharded_wall ratio fine_cpu sharded_cpu cpu_ratio");
    for rep in 0..reps {
        for &threads in &counts {
            let fine = cycles::snapshot_cost(&FineGrained::new(config.clone()), threads, n);
            let sharded = cycles::snapshot_cost(&Sharded::new(config.clone()), threads, n);
            println!(
                "{rep} {threads} {:.1} {:.1} {:.2} {:.1} {:.1} {:.2}",
                fine.wall_us,
                sharded.wall_us,
                sharded.wall_us / fine.wall_us,
                fine.cpu_us,
                sharded.cpu_us,
                sharded.cpu_us / fine.cpu_us
            );
        }
    }
}
