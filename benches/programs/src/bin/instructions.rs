//! Runs one operation `n` times on one strategy, for instruction counting:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='instructions::measure*' \
//!     target/release/instructions <strategy> <op> <n>
//! ```
//!
//! `benches/callgrind.sh` runs every pair and prints instructions per call.
//! Only `measure` and `measure_registry` (and what they call) are counted,
//! so setup is left out; the `baseline` op counts the loop and the value
//! generator alone.
//!
//! The `registry` strategy runs the registry's records on one thread
//! (`REGISTRY_OPS`): a histogram on its shared cells (one thread never
//! promotes it), the same after a promotion forced from two threads (so
//! the thread records into its own cells), two promoted histograms in
//! turn (each record misses the per-thread lookup's one-entry cache), a
//! counter both ways, a family lookup and increment per call, and a
//! snapshot of 1,000 or 10,000 series (a third of each kind, each
//! histogram holding four values in two decades).

use std::{env, hint::black_box, process::ExitCode, thread, time::Duration};

use lockfree_metrics::{
    registry::{Counter, Family, Histogram, Registry},
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Mode, Sharded,
};

use lockfree_metrics_programs::inputs::{populate, Values};

#[inline(never)]
fn measure<M: MetricsCollector>(m: &M, op: &str, n: u64) {
    let mut v = Values(42);
    match op {
        "baseline" => (0..n).for_each(|_| {
            black_box(v.next_u31());
        }),
        "latency" => {
            (0..n).for_each(|_| m.record_latency(Duration::from_nanos(v.next_u31() % 50_000_000)))
        }
        "latency-ns" => (0..n).for_each(|_| m.record_latency_ns(v.next_u31() % 50_000_000)),
        "throughput" => (0..n).for_each(|_| m.record_throughput(v.next_u31() % 512, 1)),
        "batch" => (0..n).for_each(|_| m.record_batch_size((v.next_u31() % 64) as usize)),
        "queue" => (0..n).for_each(|_| m.record_queue_depth((v.next_u31() % 1_000) as usize)),
        "mode-same" => (0..n).for_each(|_| {
            black_box(v.next_u31());
            m.record_mode_transition(Mode(1));
        }),
        "mode-change" => (0..n).for_each(|i| {
            black_box(v.next_u31());
            m.record_mode_transition(Mode((i % 2) as u16));
        }),
        "snapshot" => (0..n).for_each(|_| {
            black_box(v.next_u31());
            black_box(m.snapshot());
        }),
        "reset" => (0..n).for_each(|_| {
            black_box(v.next_u31());
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

/// What the registry's ops record into, made before `measure_registry`.
struct Reg {
    registry: Registry,
    histograms: [Histogram; 2],
    counter: Counter,
    family: Family<Counter>,
}

const ROUTES: [[&str; 2]; 8] = [
    ["GET", "200"],
    ["GET", "404"],
    ["POST", "200"],
    ["POST", "500"],
    ["PUT", "200"],
    ["DELETE", "204"],
    ["GET", "500"],
    ["PATCH", "200"],
];

#[inline(never)]
fn measure_registry(r: &Reg, op: &str, n: u64) {
    let mut v = Values(42);
    let [h, h2] = &r.histograms;
    match op {
        "baseline" => (0..n).for_each(|_| {
            black_box(v.next_u31());
        }),
        "histogram" | "histogram-promoted" => {
            (0..n).for_each(|_| h.record(v.next_u31() % 50_000_000))
        }
        "histogram-promoted-alternating" => (0..n).for_each(|i| {
            let h = if i & 1 == 0 { h } else { h2 };
            h.record(v.next_u31() % 50_000_000)
        }),
        "counter" | "counter-promoted" => (0..n).for_each(|_| {
            black_box(v.next_u31());
            r.counter.increment(1);
        }),
        "family-lookup" => (0..n).for_each(|i| {
            black_box(v.next_u31());
            let values = &ROUTES[(i & 7) as usize];
            r.family.with(values).expect("two values").increment(1);
        }),
        "snapshot-1k" | "snapshot-10k" => (0..n).for_each(|_| {
            black_box(v.next_u31());
            black_box(r.registry.snapshot());
        }),
        _ => unreachable!("checked in main"),
    }
}

const REGISTRY_OPS: [&str; 9] = [
    "baseline",
    "histogram",
    "histogram-promoted",
    "histogram-promoted-alternating",
    "counter",
    "counter-promoted",
    "family-lookup",
    "snapshot-1k",
    "snapshot-10k",
];

/// Promotes a series: `record` from this thread and then from another,
/// each crossing a probe boundary (1,024 records of one bucket, or of a
/// counter).
fn promote(registry: &Registry, record: impl Fn() + Sync) {
    let before = registry.stats().promoted;
    record();
    thread::scope(|s| {
        s.spawn(&record);
    });
    assert_eq!(registry.stats().promoted, before + 1, "promoted");
}

fn run_registry(op: &str, n: u64) {
    let registry = Registry::new();
    let family = registry
        .counter_family("requests_total", &["method", "status"])
        .expect("valid");
    let r = Reg {
        histograms: [0, 1].map(|i| {
            registry
                .histogram("latency_ns", &[("n", &i.to_string())])
                .expect("valid")
        }),
        counter: registry.counter("hits_total", &[]).expect("valid"),
        family,
        registry,
    };
    match op {
        "histogram-promoted" | "histogram-promoted-alternating" => {
            for h in &r.histograms {
                promote(&r.registry, || h.record_n(1_000, 1_024));
                // This thread's cells, made outside `measure_registry`.
                h.record(1_000);
            }
        }
        "counter-promoted" => {
            promote(&r.registry, || r.counter.increment(1_024));
            r.counter.increment(1);
        }
        "family-lookup" => {
            // Every label set made and published outside the count.
            for _ in 0..4 {
                for values in &ROUTES {
                    r.family.with(values).expect("two values").increment(1);
                }
            }
        }
        "snapshot-1k" | "snapshot-10k" => {
            let mut v = Values(7);
            let series = if op == "snapshot-1k" { 1_000 } else { 10_000 };
            for i in 0..series {
                let labels = [
                    ("instance", format!("i{i}")),
                    ("route", format!("/r{}", i % 17)),
                ];
                let labels = labels.each_ref().map(|(k, v)| (*k, v.as_str()));
                match i % 3 {
                    0 => r
                        .registry
                        .counter(&format!("bench_total_{}", i % 10), &labels)
                        .expect("valid")
                        .increment(1 + i % 7),
                    1 => r
                        .registry
                        .gauge(&format!("bench_gauge_{}", i % 10), &labels)
                        .expect("valid")
                        .set(i as f64),
                    _ => {
                        let h = r
                            .registry
                            .histogram(&format!("bench_seconds_{}", i % 10), &labels)
                            .expect("valid");
                        for _ in 0..2 {
                            h.record(10_000 + v.next_u31() % 90_000);
                            h.record(1_000_000 + v.next_u31() % 9_000_000);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    measure_registry(&r, op, n);
    black_box(r.registry.snapshot());
}

fn main() -> ExitCode {
    let usage = format!(
        "usage: instructions <global-lock|fine-grained|atomic|sharded> <op> <n>; ops: {OPS:?}\n\
         \x20      instructions registry <op> <n>; ops: {REGISTRY_OPS:?}\n\n\
         Runs one operation n times, for callgrind (benches/callgrind.sh)."
    );
    let args: Vec<String> = env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    let (Some(strategy), Some(op), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse() else {
        eprintln!("n must be a number");
        return ExitCode::FAILURE;
    };
    if strategy == "registry" {
        if !REGISTRY_OPS.contains(&op.as_str()) {
            eprintln!("unknown registry op {op}; ops: {REGISTRY_OPS:?}");
            return ExitCode::FAILURE;
        }
        run_registry(op, n);
        return ExitCode::SUCCESS;
    }
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
