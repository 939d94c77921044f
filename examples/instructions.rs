//! Runs one operation `n` times on one strategy, for instruction counting:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='instructions::measure*' \
//!     target/release/examples/instructions <strategy> <op> <n>
//! ```
//!
//! `benches/callgrind.sh` runs every pair and prints instructions per call.
//! Only `measure` (and what it calls) is counted, so setup is left out;
//! the `baseline` op counts the loop and the value generator alone.

use std::{env, hint::black_box, process::ExitCode, time::Duration};

use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Mode, Sharded,
};

#[path = "../benches/support/inputs.rs"]
mod inputs;

use inputs::{populate, Values};

#[inline(never)]
fn measure<M: MetricsCollector>(m: &M, op: &str, n: u64) {
    let mut v = Values(42);
    match op {
        "baseline" => (0..n).for_each(|_| {
            black_box(v.next());
        }),
        "latency" => {
            (0..n).for_each(|_| m.record_latency(Duration::from_nanos(v.next() % 50_000_000)))
        }
        "latency-ns" => (0..n).for_each(|_| m.record_latency_ns(v.next() % 50_000_000)),
        "throughput" => (0..n).for_each(|_| m.record_throughput(v.next() % 512, 1)),
        "batch" => (0..n).for_each(|_| m.record_batch_size((v.next() % 64) as usize)),
        "queue" => (0..n).for_each(|_| m.record_queue_depth((v.next() % 1_000) as usize)),
        "mode-same" => (0..n).for_each(|_| {
            black_box(v.next());
            m.record_mode_transition(Mode(1));
        }),
        "mode-change" => (0..n).for_each(|i| {
            black_box(v.next());
            m.record_mode_transition(Mode((i % 2) as u16));
        }),
        "snapshot" => (0..n).for_each(|_| {
            black_box(v.next());
            black_box(m.snapshot());
        }),
        "reset" => (0..n).for_each(|_| {
            black_box(v.next());
            m.reset();
        }),
        _ => unreachable!("checked in main"),
    }
}

fn run<M: MetricsCollector>(m: M, op: &str, n: u64) {
    if matches!(op, "snapshot" | "reset") {
        populate(&m);
    }
    measure(&m, op, n);
    black_box(m.snapshot());
}

const OPS: [&str; 10] = [
    "baseline",
    "latency",
    "latency-ns",
    "throughput",
    "batch",
    "queue",
    "mode-same",
    "mode-change",
    "snapshot",
    "reset",
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (Some(strategy), Some(op), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!(
            "usage: instructions <global-lock|fine-grained|atomic|sharded> <op> <n>; ops: {OPS:?}"
        );
        return ExitCode::FAILURE;
    };
    let Ok(n) = n.parse() else {
        eprintln!("n must be a number");
        return ExitCode::FAILURE;
    };
    if !OPS.contains(&op.as_str()) {
        eprintln!("unknown op {op}; ops: {OPS:?}");
        return ExitCode::FAILURE;
    }
    let (config, clock) = (Config::default(), ManualClock::new());
    match strategy.as_str() {
        "global-lock" => run(GlobalLock::with_clock(config, clock), op, n),
        "fine-grained" => run(FineGrained::with_clock(config, clock), op, n),
        "atomic" => run(Atomic::with_clock(config, clock), op, n),
        "sharded" => run(Sharded::with_clock(config, clock), op, n),
        other => {
            eprintln!("unknown strategy {other}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
