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
//! `cargo run --release --example snapshot_p50 [reps] [snapshots] [threads,...] [digits]`

#[path = "support/cycles.rs"]
mod cycles;

use lockfree_metrics::{Config, FineGrained, Sharded};

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().map_or(5, |a| a.parse().expect("reps"));
    let n: usize = args.next().map_or(300, |a| a.parse().expect("snapshots"));
    let counts: Vec<usize> = args.next().map_or(vec![2, 64], |a| {
        a.split(',').map(|t| t.parse().expect("threads")).collect()
    });
    let digits: u8 = args
        .next()
        .map_or(Config::default().significant_digits(), |a| {
            a.parse().expect("digits")
        });
    let config = Config::builder()
        .significant_digits(digits)
        .build()
        .expect("a valid precision");
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
