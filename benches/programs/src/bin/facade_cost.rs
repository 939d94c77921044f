//! What a counter increment costs through the `metrics` facade recorder:
//! a macro call answered by the per-thread cache, against a registry
//! lookup per call (`Registry::counter`, under the index lock) and a held
//! handle (the registry's, and the facade's).
//!
//! ```text
//! cargo run --release -p lockfree-metrics-programs --bin facade_cost [-- REPS [THREADS]]
//! ```
//!
//! Each repetition times every variant once, in turn (interleaved, so that
//! drift in the machine's state spreads over all of them), by the
//! thread's CPU time on Unix (so that time spent descheduled on a loaded
//! machine is left out; wall time elsewhere); the table gives each variant's median and range over the
//! repetitions, in ns per call. With THREADS above 1, the macro and lookup
//! variants run again on that many threads at once, on one key (the
//! slowest thread's time).

use std::{hint::black_box, sync::Barrier};

use lockfree_metrics::registry::Registry;

const CALLS: u64 = 200_000;

const VARIANTS: [&str; 5] = [
    "macro, cached: counter!(..).increment(1)",
    "registry lookup per call: registry.counter(..)?.increment(1)",
    "held registry handle: counter.increment(1)",
    "held facade handle: metrics::Counter::increment(1)",
    // What a cache hit returns: a clone of the thread's handle (two
    // uncontended atomic operations on its reference count).
    "held facade handle, cloned per call: h.clone().increment(1)",
];

struct Ctx {
    registry: Registry,
    held: lockfree_metrics::registry::Counter,
    facade: metrics::Counter,
}

const USAGE: &str = "usage: facade_cost [REPS [THREADS]]

A counter increment through the metrics facade, a registry lookup per call
and held handles, in thread CPU ns per call. REPS: interleaved repetitions
(default 21); THREADS: above 1, the macro and lookup variants again on that
many threads at once (default 1).";

fn main() {
    let args = lockfree_metrics_programs::positional(USAGE, &["reps", "threads"]);
    let reps: usize = lockfree_metrics_programs::arg(USAGE, &args, 0, "reps", 21);
    let threads: usize = lockfree_metrics_programs::arg(USAGE, &args, 1, "threads", 1);

    let registry = Registry::new();
    registry
        .recorder()
        .install()
        .expect("no other global recorder");
    let ctx = Ctx {
        held: registry
            .counter("cost_requests", &[("route", "/")])
            .unwrap(),
        facade: metrics::counter!("cost.requests", "route" => "/"),
        registry,
    };

    println!("one thread, {reps} interleaved repetitions of {CALLS} calls, thread CPU ns per call");
    report(&VARIANTS, &interleaved(&ctx, VARIANTS.len(), reps, 1));
    if threads > 1 {
        println!("\n{threads} threads at once on one key, {reps} repetitions");
        report(&VARIANTS[..2], &interleaved(&ctx, 2, reps, threads));
    }
    let total = ctx.registry.counter("cost_requests", &[("route", "/")]);
    black_box(total.unwrap().get());
}

/// `CALLS` calls of variant `i`, in thread CPU nanoseconds.
fn time(ctx: &Ctx, i: usize) -> u64 {
    // One loop per variant, each monomorphised: no indirect call in it.
    match i {
        0 => timed(|| metrics::counter!("cost.requests", "route" => "/").increment(1)),
        1 => timed(|| {
            ctx.registry
                .counter(black_box("cost_requests"), &[("route", "/")])
                .unwrap()
                .increment(1)
        }),
        2 => timed(|| black_box(&ctx.held).increment(1)),
        3 => timed(|| black_box(&ctx.facade).increment(1)),
        _ => timed(|| black_box(&ctx.facade).clone().increment(1)),
    }
}

/// ns per call of each of the first `n` variants in each repetition.
fn interleaved(ctx: &Ctx, n: usize, reps: usize, threads: usize) -> Vec<Vec<f64>> {
    let mut times = vec![Vec::with_capacity(reps); n];
    for rep in 0..=reps {
        for (i, t) in times.iter_mut().enumerate() {
            let ns = run(ctx, i, threads);
            // The first repetition warms caches and the threads' cells.
            if rep > 0 {
                t.push(ns as f64 / CALLS as f64);
            }
        }
    }
    times
}

fn run(ctx: &Ctx, i: usize, threads: usize) -> u64 {
    if threads == 1 {
        return time(ctx, i);
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // The first call fills this thread's cache entry.
                    metrics::counter!("cost.requests", "route" => "/").increment(1);
                    barrier.wait();
                    time(ctx, i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn timed(f: impl Fn()) -> u64 {
    let started = thread_cpu_ns();
    for _ in 0..CALLS {
        f();
    }
    thread_cpu_ns() - started
}

/// Nanoseconds the calling thread has spent on a core.
#[cfg(unix)]
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY:
    // - `ts` is a valid, writable `timespec` that outlives the call;
    // - CLOCK_THREAD_CPUTIME_ID needs no other argument.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// No thread CPU clock: wall-clock nanoseconds since the first call.
#[cfg(not(unix))]
fn thread_cpu_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

fn report(names: &[&str], times: &[Vec<f64>]) {
    println!("{:<62} {:>8} {:>17}", "variant", "median", "range");
    for (name, t) in names.iter().zip(times) {
        let mut t = t.clone();
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        println!(
            "{name:<62} {median:>8.1} {:>8.1} - {:>6.1}",
            t[0],
            t[t.len() - 1]
        );
    }
}
