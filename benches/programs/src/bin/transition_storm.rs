//! How long `take_interval` takes while another thread changes the mode as
//! fast as it can (a transition storm), against an idle collector, for the
//! two lock-free strategies. Their logs used to be drained by readers: an
//! unbounded drain under a storm.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin transition_storm [intervals]`

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{Atomic, Config, MetricsCollector, Mode, Sharded};

fn run(name: &str, m: Arc<dyn MetricsCollector>, intervals: usize) {
    for storm in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = storm.then(|| {
            let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0_u16;
                // Relaxed: a stop flag, ordered with nothing.
                while !stop.load(Ordering::Relaxed) {
                    m.record_mode_transition(Mode(i % 3));
                    i = i.wrapping_add(1);
                }
            })
        });
        thread::sleep(Duration::from_millis(50));
        let mut ns: Vec<u128> = (0..intervals)
            .map(|_| {
                let start = Instant::now();
                let _ = m.take_interval();
                start.elapsed().as_nanos()
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        if let Some(w) = writer {
            w.join().expect("the storm thread panicked");
        }
        ns.sort_unstable();
        let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64 / 1e3;
        println!(
            "{name:8} {:6}: take_interval p50 {:8.1} us  p99 {:8.1} us  max {:8.1} us",
            if storm { "storm" } else { "idle" },
            at(0.5),
            at(0.99),
            at(1.0),
        );
    }
}

const USAGE: &str = "usage: transition_storm [INTERVALS]

take_interval() time during a storm of mode changes against an idle
collector, Atomic and Sharded. INTERVALS: intervals taken (default 2000).";

fn main() {
    let args = lockfree_metrics_programs::positional(USAGE, &["intervals"]);
    let intervals = lockfree_metrics_programs::arg(USAGE, &args, 0, "intervals", 2_000);
    run(
        "Atomic",
        Arc::new(Atomic::new(Config::default())),
        intervals,
    );
    run(
        "Sharded",
        Arc::new(Sharded::new(Config::default())),
        intervals,
    );
}
