//! `snapshot()` cost once the throughput windows are full: 2 or 64 shards
//! that have each recorded throughput every 50 ms for 61 s of a
//! `ManualClock` (so every slot of the 60 s window holds counts), against
//! `FineGrained` fed the same records. The median of 200 snapshots each.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin windows_read`

use std::{
    hint::black_box,
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{Config, FineGrained, ManualClock, MetricsCollector, Sharded};
use lockfree_metrics_programs::positional;

const USAGE: &str = "usage: windows_read

snapshot() cost once every throughput window is full, 2 and 64 shards,
Sharded against FineGrained (the median of 200 snapshots each). No arguments.";

fn median_us(m: &dyn MetricsCollector) -> f64 {
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let start = Instant::now();
            black_box(m.snapshot());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    positional(USAGE, &[]);
    println!("threads sharded_us fine_us");
    for threads in [2, 64] {
        let clock = ManualClock::new();
        let sharded = Sharded::with_clock(Config::default(), clock.clone());
        let fine = FineGrained::with_clock(Config::default(), clock.clone());
        for _ in 0..1_220 {
            // Short-lived threads reuse their ids, and so `threads` shards.
            thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        sharded.record_throughput(5, 1);
                        fine.record_throughput(5, 1);
                    });
                }
            });
            clock.advance(Duration::from_millis(50));
        }
        println!(
            "{threads} {:.1} {:.1}",
            median_us(&sharded),
            median_us(&fine)
        );
    }
}
