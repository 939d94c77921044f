//! The registry's figures (`papers/registry.md`), each section a set of
//! cases run as interleaved repetitions (case A, B, C, then A, B, C
//! again...), so that a shared machine's load falls on every case alike:
//!
//! - `records`: records/s of one hot histogram series at 1 and 2 threads:
//!   the registry's `Histogram::record` (from shared cells, and from
//!   per-thread cells after a forced promotion), `hdrhistogram`'s
//!   `SyncHistogram` (a `Recorder` per thread, refreshed at the end),
//!   `Sharded::record_latency_ns` and a plain `hdrhistogram::Histogram`
//!   per thread merged at the end (the unsynchronised floor); and one hot
//!   counter: `Counter::increment` against a shared `AtomicU64::fetch_add`.
//!   Inputs are precomputed, log-uniform from 1 µs to 1 s in nanoseconds.
//!   After each run the count read back must equal the records made.
//! - `snapshot`: `Registry::snapshot` of 1,000 and 10,000 series (a third
//!   each counters, gauges and histograms; `--mix histograms` for
//!   histograms only), each histogram holding four values in two decades;
//!   p50 and p99 of many back-to-back snapshots, with no writer and with a
//!   writer thread recording into random series meanwhile.
//! - `memory`: resident memory of 1,000 series (a third of each kind)
//!   recorded by 64 threads, every thread recording 2,000 times into every
//!   series; `VmRSS` growth and `Registry::stats`, at the default shard
//!   budget and at an unlimited one. Each case runs in a child process of
//!   its own, so that no earlier section's freed memory is reused.
//! - `lookup`: a labelled lookup on every call (`family.with(..)` then
//!   `increment`) against a cached handle, at 1 and 2 threads.
//! - `cold`: records into 10,000 histogram series chosen uniformly at
//!   random, against 10,000 plain `hdrhistogram` histograms.
//!
//! Beside wall time, every timed case reports the CPU time of the threads
//! doing the work (`CLOCK_THREAD_CPUTIME_ID`): on a machine shared with
//! other processes it leaves out the time a thread waited for a core, so
//! per-record costs survive the load (a contended line's stalls still
//! count). Every section exits nonzero if a count read back differs from
//! the records made.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin registry_bench -- [--sections records,snapshot,memory,lookup,cold] [--reps 5]`

use std::{
    hint::black_box,
    process::{Command, ExitCode},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use crossbeam_utils::CachePadded;
use hdrhistogram::{sync::SyncHistogram, Histogram as Hdr};
use lockfree_metrics::{
    registry::{Counter, Gauge, Histogram, Registry, Value},
    Config, MetricsCollector, Sharded,
};

#[path = "../../../compare/src/machine.rs"]
mod machine;

use lockfree_metrics_programs::resident;

/// The registry's default histogram bounds (1 ns to 1 h, 2 significant
/// digits), given to the `hdrhistogram` peers too.
const HDR_BOUNDS: (u64, u64, u8) = (1, 3_600_000_000_000, 2);

/// Precomputed inputs: a power of two, indexed by mask.
const INPUTS: usize = 1 << 16;
const MASK: usize = INPUTS - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Records,
    Snapshot,
    Memory,
    Lookup,
    Cold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// A third each: counters, gauges, histograms.
    Thirds,
    /// Histograms only.
    Histograms,
}

#[derive(Parser, Debug)]
#[command(
    about = "The registry's records/s, snapshot cost, resident memory, lookups and cold series"
)]
struct Args {
    /// Sections to run, in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Section::Records, Section::Snapshot, Section::Memory, Section::Lookup, Section::Cold])]
    sections: Vec<Section>,
    /// Interleaved repetitions of every timed case.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// records: records per thread in each run.
    #[arg(long, default_value_t = 4_000_000)]
    records: u64,
    /// records, lookup: thread counts.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// snapshot: series counts.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000])]
    series: Vec<usize>,
    /// snapshot: the kinds of series.
    #[arg(long, value_enum, default_value_t = Mix::Thirds)]
    mix: Mix,
    /// snapshot: snapshots per case and repetition, for 1,000 series (scaled
    /// down in proportion for more series, to at least 20).
    #[arg(long, default_value_t = 400)]
    snapshots: usize,
    /// memory: series (a third of each kind).
    #[arg(long, default_value_t = 1_000)]
    memory_series: usize,
    /// memory: recording threads.
    #[arg(long, default_value_t = 64)]
    memory_threads: usize,
    /// memory: records per thread into each series.
    #[arg(long, default_value_t = 2_000)]
    memory_records: u64,
    /// memory: shard budgets in MiB (0: the registry's default).
    #[arg(long, value_delimiter = ',', default_values_t = [0, 4096])]
    memory_budgets: Vec<usize>,
    /// memory: runs of each budget (each a fresh process).
    #[arg(long, default_value_t = 2)]
    memory_reps: usize,
    /// cold: series.
    #[arg(long, default_value_t = 10_000)]
    cold_series: usize,
    /// lookup, cold: operations per thread in each run.
    #[arg(long, default_value_t = 2_000_000)]
    ops: u64,
    /// Runs one memory case in this process (the memory section's child),
    /// with this budget in MiB (0: the default).
    #[arg(long, hide = true)]
    memory_child: Option<usize>,
}

/// A 64-bit LCG's high bits: cheap, reproducible inputs.
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

    /// Log-uniform in `lo..hi`.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> u64 {
        (lo * (hi / lo).powf(self.unit())) as u64
    }
}

/// `INPUTS` values, log-uniform in `lo..hi` nanoseconds.
fn inputs(lo: f64, hi: f64, seed: u64) -> Vec<u64> {
    let mut v = Lcg(seed);
    (0..INPUTS).map(|_| v.log_uniform(lo, hi)).collect()
}

/// This thread's CPU time in ns (0 where there is no such clock).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY:
    // - `ts` is a valid, writable `timespec` that outlives the call;
    // - CLOCK_THREAD_CPUTIME_ID needs no other argument.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    } else {
        0
    }
}

/// CPU time of the workers of `run_threads` since the last `take_cpu_ns`.
static WORKER_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// The workers' CPU time (ns) since the last call: unlike wall time, it
/// leaves out the time a worker waited for a core that another process
/// held (it still counts a contended line's stalls).
fn take_cpu_ns() -> u64 {
    WORKER_CPU_NS.swap(0, Ordering::Relaxed)
}

/// Runs `work(t, state)` on one thread per state, all released at once
/// from a barrier; the wall time from the release to the last thread's
/// end, and what each returned. Each worker's CPU time goes to
/// `take_cpu_ns`.
fn run_threads<T: Send, R: Send>(
    states: Vec<T>,
    work: impl Fn(usize, T) -> R + Sync,
) -> (Duration, Vec<R>) {
    let barrier = Barrier::new(states.len() + 1);
    thread::scope(|s| {
        let handles: Vec<_> = states
            .into_iter()
            .enumerate()
            .map(|(t, state)| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let cpu = thread_cpu_ns();
                    let out = work(t, state);
                    WORKER_CPU_NS.fetch_add(thread_cpu_ns() - cpu, Ordering::Relaxed);
                    out
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let out = handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect();
        (start.elapsed(), out)
    })
}

/// Where thread `t` starts in the inputs.
fn offset(t: usize) -> usize {
    t.wrapping_mul(7_919) & MASK
}

/// Ranges and medians of repeated figures.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// `12.3M` style.
fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

fn range(values: &[f64], f: impl Fn(f64) -> String) -> String {
    let (lo, mid, hi) = summary(values);
    format!("{} [{}-{}]", f(mid), f(lo), f(hi))
}

/// An accounting mismatch: the section fails.
#[derive(Debug)]
struct Mismatch(String);

fn check(what: &str, read: u64, made: u64) -> Result<(), Mismatch> {
    if read == made {
        Ok(())
    } else {
        Err(Mismatch(format!("{what}: read back {read}, made {made}")))
    }
}

fn histogram_count(registry: &Registry, name: &str) -> u64 {
    registry
        .snapshot()
        .get(name, &[])
        .and_then(|s| s.as_histogram().map(|h| h.count()))
        .unwrap_or(0)
}

// --- records -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Registry,
    RegistryPromoted,
    RegistryPromotedPair,
    SyncHistogram,
    Sharded,
    Plain,
    RegistryCounter,
    AtomicCounter,
}

impl Case {
    const ALL: [Case; 8] = [
        Case::Registry,
        Case::RegistryPromoted,
        Case::RegistryPromotedPair,
        Case::SyncHistogram,
        Case::Sharded,
        Case::Plain,
        Case::RegistryCounter,
        Case::AtomicCounter,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Registry => "registry Histogram::record",
            Case::RegistryPromoted => "registry Histogram::record, promoted first",
            Case::RegistryPromotedPair => "registry, promoted first, 2 series in turn",
            Case::SyncHistogram => "hdrhistogram SyncHistogram (Recorder per thread)",
            Case::Sharded => "Sharded::record_latency_ns",
            Case::Plain => "hdrhistogram Histogram per thread (unsynchronised)",
            Case::RegistryCounter => "registry Counter::increment",
            Case::AtomicCounter => "shared AtomicU64::fetch_add",
        }
    }
}

/// Makes the histogram's series promoted: 1,024 records from this thread
/// and 1,024 from another cross a probe boundary each, from two threads.
/// Returns the records made.
fn promote(registry: &Registry, h: &Histogram) -> u64 {
    promote_from(registry, h, 0)
}

/// As [`promote`], with `before` series of the registry promoted already.
fn promote_from(registry: &Registry, h: &Histogram, before: usize) -> u64 {
    h.record_n(1_000, 1_024);
    thread::scope(|s| {
        s.spawn(|| h.record_n(1_000, 1_024));
    });
    assert_eq!(registry.stats().promoted, before + 1, "the series promoted");
    2_048
}

/// Records thread 0 makes between looks at whether the series is promoted.
const WATCH_EVERY: usize = 1 << 14;

/// One run of one case: the wall time and, for the registry's 2-thread
/// runs from shared cells, the records thread 0 had made when it first saw
/// the series promoted (checked every `WATCH_EVERY` records).
fn run_case(
    case: Case,
    threads: usize,
    records: u64,
    values: &[u64],
) -> Result<(Duration, Option<Option<u64>>), Mismatch> {
    let made = threads as u64 * records;
    let n = records as usize;
    match case {
        Case::Registry | Case::RegistryPromoted => {
            let registry = Registry::new();
            let h = registry.histogram("hot_ns", &[]).expect("a valid name");
            let extra = if case == Case::RegistryPromoted {
                promote(&registry, &h)
            } else {
                0
            };
            let watch = case == Case::Registry && threads > 1;
            let (elapsed, seen) = run_threads(vec![h.clone(); threads], |t, h| {
                let off = offset(t);
                let mut seen = None;
                for i in 0..n {
                    h.record(values[(off + i) & MASK]);
                    if watch
                        && t == 0
                        && seen.is_none()
                        && i % WATCH_EVERY == WATCH_EVERY - 1
                        && registry.stats().promoted > 0
                    {
                        seen = Some(i as u64 + 1);
                    }
                }
                seen
            });
            check(
                case.name(),
                histogram_count(&registry, "hot_ns"),
                made + extra,
            )?;
            Ok((elapsed, watch.then_some(seen[0])))
        }
        Case::RegistryPromotedPair => {
            // Two hot series, recorded in turn: each record's per-thread
            // lookup misses the one-entry cache the other filled.
            let registry = Registry::new();
            let pair = [0, 1].map(|i| {
                registry
                    .histogram("hot_ns", &[("n", if i == 0 { "0" } else { "1" })])
                    .expect("a valid name")
            });
            let mut extra = 0;
            for h in &pair {
                let before = registry.stats().promoted;
                extra += promote_from(&registry, h, before);
            }
            let (elapsed, _) = run_threads(vec![&pair; threads], |t, [a, b]| {
                let off = offset(t);
                for i in (0..n).step_by(2) {
                    a.record(values[(off + i) & MASK]);
                    b.record(values[(off + i + 1) & MASK]);
                }
            });
            let snapshot = registry.snapshot();
            let count: u64 = snapshot
                .iter()
                .filter_map(|s| s.as_histogram().map(|h| h.count()))
                .sum();
            check(
                case.name(),
                count,
                threads as u64 * records.next_multiple_of(2) + extra,
            )?;
            Ok((elapsed, None))
        }
        Case::SyncHistogram => {
            let (low, high, digits) = HDR_BOUNDS;
            let mut sync: SyncHistogram<u64> = Hdr::new_with_bounds(low, high, digits)
                .expect("valid bounds")
                .into_sync();
            let recorders = (0..threads).map(|_| sync.recorder()).collect();
            let (elapsed, _) = run_threads(recorders, |t, mut r| {
                let off = offset(t);
                for i in 0..n {
                    r.saturating_record(values[(off + i) & MASK]);
                }
                // Dropped here: its counts go to the channel.
            });
            sync.refresh();
            check(case.name(), sync.len(), made)?;
            Ok((elapsed, None))
        }
        Case::Sharded => {
            let m = Sharded::new(Config::default());
            let (elapsed, _) = run_threads(vec![&m; threads], |t, m| {
                let off = offset(t);
                for i in 0..n {
                    m.record_latency_ns(values[(off + i) & MASK]);
                }
            });
            check(case.name(), m.snapshot().latency.count, made)?;
            Ok((elapsed, None))
        }
        Case::Plain => {
            let (low, high, digits) = HDR_BOUNDS;
            let hists = (0..threads)
                .map(|_| Hdr::<u64>::new_with_bounds(low, high, digits).expect("valid bounds"))
                .collect();
            let (elapsed, hists) = run_threads(hists, |t, mut h| {
                let off = offset(t);
                for i in 0..n {
                    h.saturating_record(values[(off + i) & MASK]);
                }
                h
            });
            let mut merged = Hdr::<u64>::new_with_bounds(low, high, digits).expect("bounds");
            for h in &hists {
                merged.add(h).expect("same bounds");
            }
            check(case.name(), merged.len(), made)?;
            Ok((elapsed, None))
        }
        Case::RegistryCounter => {
            let registry = Registry::new();
            let c = registry.counter("hot_total", &[]).expect("a valid name");
            let (elapsed, _) = run_threads(vec![c.clone(); threads], |_, c| {
                for _ in 0..n {
                    c.increment(1);
                }
            });
            check(case.name(), c.get(), made)?;
            Ok((elapsed, None))
        }
        Case::AtomicCounter => {
            let c = CachePadded::new(AtomicU64::new(0));
            let (elapsed, _) = run_threads(vec![&c; threads], |_, c| {
                for _ in 0..n {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
            check(case.name(), c.load(Ordering::Relaxed), made)?;
            Ok((elapsed, None))
        }
    }
}

fn records(args: &Args) -> Result<(), Mismatch> {
    let values = inputs(1e3, 1e9, 42);
    println!("## records/s of one hot series");
    println!(
        "# {} records per thread per run; histogram inputs log-uniform 1 µs..1 s (ns), \
         {INPUTS} precomputed; {} interleaved repetitions",
        args.records, args.reps
    );
    // rates[threads][case][rep]
    let mut rates = vec![vec![Vec::new(); Case::ALL.len()]; args.threads.len()];
    // Workers' CPU ns per record, [threads][case][rep].
    let mut cpu = rates.clone();
    let mut promoted_after = Vec::new();
    for rep in 0..args.reps {
        for (ti, &threads) in args.threads.iter().enumerate() {
            for (ci, &case) in Case::ALL.iter().enumerate() {
                take_cpu_ns();
                let (elapsed, seen) = run_case(case, threads, args.records, &values)?;
                let made = (threads as u64 * args.records) as f64;
                let rate = made / elapsed.as_secs_f64();
                rates[ti][ci].push(rate);
                cpu[ti][ci].push(take_cpu_ns() as f64 / made);
                if let Some(seen) = seen {
                    promoted_after.push(seen);
                }
                println!(
                    "rep {rep} threads {threads} {:<52} {:>8}/s {:>6.1} ns CPU/record",
                    case.name(),
                    si(rate),
                    cpu[ti][ci].last().expect("just pushed"),
                );
            }
        }
    }
    println!();
    println!(
        "| case | threads | records/s, median [min-max] | ÷ SyncHistogram | ÷ Sharded \
         | CPU ns/record | CPU ÷ SyncHistogram | CPU ÷ Sharded |"
    );
    println!("|---|---:|---|---|---|---|---|---|");
    let ratio = |ti: usize, a: usize, b: usize| -> Vec<f64> {
        rates[ti][a]
            .iter()
            .zip(&rates[ti][b])
            .map(|(x, y)| x / y)
            .collect()
    };
    let (sync, sharded) = (3, 4);
    for (ci, &case) in Case::ALL.iter().enumerate() {
        for (ti, &threads) in args.threads.iter().enumerate() {
            // CPU ratios as speed: the peer's CPU per record over this one's.
            let cpu_ratio = |b: usize| -> Vec<f64> {
                cpu[ti][b]
                    .iter()
                    .zip(&cpu[ti][ci])
                    .map(|(peer, me)| peer / me)
                    .collect()
            };
            let x = |x: f64| format!("{x:.2}x");
            let [vs_sync, vs_sharded, cpu_sync, cpu_sharded] = if ci < 6 {
                [
                    range(&ratio(ti, ci, sync), x),
                    range(&ratio(ti, ci, sharded), x),
                    range(&cpu_ratio(sync), x),
                    range(&cpu_ratio(sharded), x),
                ]
            } else {
                Default::default()
            };
            println!(
                "| {} | {threads} | {} | {vs_sync} | {vs_sharded} | {} | {cpu_sync} | {cpu_sharded} |",
                case.name(),
                range(&rates[ti][ci], si),
                range(&cpu[ti][ci], |x| format!("{x:.1}")),
            );
        }
    }
    let counter = ratio_vec(&rates, &args.threads, 6, 7);
    for (threads, r) in counter {
        println!(
            "# registry counter ÷ shared fetch_add, {threads} threads: {}",
            range(&r, |x| format!("{x:.2}x"))
        );
    }
    if !promoted_after.is_empty() {
        let text: Vec<String> = promoted_after
            .iter()
            .map(|s| s.map_or("never".into(), |n| si(n as f64)))
            .collect();
        println!(
            "# registry, 2+ threads from shared cells: thread 0 first saw the series promoted \
             after (records, per run; checked every {WATCH_EVERY}): {}",
            text.join(", ")
        );
    }
    println!();
    Ok(())
}

fn ratio_vec(
    rates: &[Vec<Vec<f64>>],
    threads: &[usize],
    a: usize,
    b: usize,
) -> Vec<(usize, Vec<f64>)> {
    threads
        .iter()
        .enumerate()
        .map(|(ti, &t)| {
            (
                t,
                rates[ti][a]
                    .iter()
                    .zip(&rates[ti][b])
                    .map(|(x, y)| x / y)
                    .collect(),
            )
        })
        .collect()
}

// --- snapshot ------------------------------------------------------------

/// A registry of `n` series as `mix` says, and handles to record into.
struct Populated {
    registry: Registry,
    counters: Vec<Counter>,
    histograms: Vec<Histogram>,
    /// What was recorded into them: (increments, histogram records).
    made: (u64, u64),
}

/// `n` series, names and labels as a service's: ten names per kind, two
/// labels each. Each histogram holds four values in two decades (two in
/// 10-100 µs, two in 1-10 ms); each counter a small count (below a probe
/// boundary), each gauge a value.
fn populate(n: usize, mix: Mix) -> Populated {
    let registry = Registry::new();
    let mut v = Lcg(7);
    let (mut counters, mut histograms, mut gauges) = (Vec::new(), Vec::new(), Vec::<Gauge>::new());
    let mut made = (0, 0);
    for i in 0..n {
        let instance = format!("i{i}");
        let route = format!("/api/r{}", i % 17);
        let labels = [("instance", instance.as_str()), ("route", route.as_str())];
        let kind = match mix {
            Mix::Thirds => i % 3,
            Mix::Histograms => 2,
        };
        match kind {
            0 => {
                let c = registry
                    .counter(&format!("bench_requests_total_{}", i % 10), &labels)
                    .expect("valid");
                let k = 1 + (i % 7) as u64;
                c.increment(k);
                made.0 += k;
                counters.push(c);
            }
            1 => {
                let g = registry
                    .gauge(&format!("bench_inflight_{}", i % 10), &labels)
                    .expect("valid");
                g.set(i as f64);
                gauges.push(g);
            }
            _ => {
                let h = registry
                    .histogram(&format!("bench_latency_seconds_{}", i % 10), &labels)
                    .expect("valid");
                for _ in 0..2 {
                    h.record(v.log_uniform(1e4, 1e5));
                    h.record(v.log_uniform(1e6, 1e7));
                }
                made.1 += 4;
                histograms.push(h);
            }
        }
    }
    Populated {
        registry,
        counters,
        histograms,
        made,
    }
}

/// Counter increments and histogram samples in a snapshot.
fn totals(registry: &Registry) -> (u64, u64) {
    registry
        .snapshot()
        .iter()
        .fold((0, 0), |(c, h), s| match &s.value {
            Value::Counter(v) => (c + v, h),
            Value::Histogram(x) => (c, h + x.count()),
            Value::Gauge(_) => (c, h),
        })
}

/// Wall times and the reader's CPU times of `k` back-to-back snapshots
/// (each made and dropped), in µs, with a writer recording into random
/// series meanwhile if `writer`.
fn snapshot_times(
    p: &mut Populated,
    k: usize,
    writer: bool,
) -> Result<(Vec<f64>, Vec<f64>), Mismatch> {
    let stop = AtomicBool::new(false);
    let (mut times, mut cpu) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let (increments, samples) = thread::scope(|s| {
        let w = writer.then(|| {
            let (stop, counters, histograms) = (&stop, &p.counters, &p.histograms);
            s.spawn(move || {
                let mut v = Lcg(99);
                let (mut inc, mut rec) = (0_u64, 0_u64);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let r = v.next() as usize;
                        if !counters.is_empty() && r.is_multiple_of(4) {
                            counters[(r >> 2) % counters.len()].increment(1);
                            inc += 1;
                        } else if !histograms.is_empty() {
                            let x = if r & 8 == 0 { 1e4 } else { 1e6 };
                            histograms[(r >> 4) % histograms.len()]
                                .record(v.log_uniform(x, x * 10.0));
                            rec += 1;
                        }
                    }
                }
                (inc, rec)
            })
        });
        if writer {
            // The writer under way before the first snapshot.
            thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..k {
            let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
            let snapshot = p.registry.snapshot();
            black_box(&snapshot);
            drop(snapshot);
            times.push(start.elapsed().as_secs_f64() * 1e6);
            cpu.push((thread_cpu_ns() - cpu_start) as f64 / 1e3);
        }
        stop.store(true, Ordering::Relaxed);
        w.map_or((0, 0), |w| w.join().expect("the writer panicked"))
    });
    p.made.0 += increments;
    p.made.1 += samples;
    let (c, h) = totals(&p.registry);
    check("snapshot: counter increments", c, p.made.0)?;
    check("snapshot: histogram samples", h, p.made.1)?;
    Ok((times, cpu))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn snapshot(args: &Args) -> Result<(), Mismatch> {
    let mix = match args.mix {
        Mix::Thirds => "a third each counters, gauges, histograms",
        Mix::Histograms => "histograms only",
    };
    println!("## snapshot cost ({mix}; each histogram 4 values in 10-100 µs and 1-10 ms)");
    let mut populated: Vec<Populated> =
        args.series.iter().map(|&n| populate(n, args.mix)).collect();
    // [series][writer] -> per rep (p50, p99, mean, reader CPU p50, p99) in µs
    let mut figures = vec![[Vec::new(), Vec::new()]; args.series.len()];
    for rep in 0..args.reps {
        for (si_, &n) in args.series.iter().enumerate() {
            let k = (args.snapshots * 1_000 / n).max(20);
            for (wi, writer) in [false, true].into_iter().enumerate() {
                let (mut times, mut cpu) = snapshot_times(&mut populated[si_], k, writer)?;
                times.sort_by(f64::total_cmp);
                cpu.sort_by(f64::total_cmp);
                let mean = times.iter().sum::<f64>() / times.len() as f64;
                let (p50, p99) = (quantile(&times, 0.5), quantile(&times, 0.99));
                let (cpu50, cpu99) = (quantile(&cpu, 0.5), quantile(&cpu, 0.99));
                println!(
                    "rep {rep} series {n} writer {writer:<5} snapshots {k:>4}: p50 {p50:.0} µs, \
                     p99 {p99:.0} µs, mean {mean:.0} µs, reader CPU p50 {cpu50:.0} µs, p99 {cpu99:.0} µs"
                );
                figures[si_][wi].push((p50, p99, mean, cpu50, cpu99));
            }
        }
    }
    println!();
    println!(
        "| series | writer | p50, median [min-max] | p99, median [min-max] | p50 per series \
         | reader CPU p50 | reader CPU p99 |"
    );
    println!("|---:|---|---|---|---|---|---|");
    let us = |x: f64| format!("{x:.0} µs");
    for (si_, &n) in args.series.iter().enumerate() {
        for (wi, writer) in ["none", "1 thread"].into_iter().enumerate() {
            let f = &figures[si_][wi];
            let p50: Vec<f64> = f.iter().map(|x| x.0).collect();
            let p99: Vec<f64> = f.iter().map(|x| x.1).collect();
            let per: Vec<f64> = p50.iter().map(|x| x * 1e3 / n as f64).collect();
            let cpu50: Vec<f64> = f.iter().map(|x| x.3).collect();
            let cpu99: Vec<f64> = f.iter().map(|x| x.4).collect();
            println!(
                "| {n} | {writer} | {} | {} | {} | {} | {} |",
                range(&p50, us),
                range(&p99, us),
                range(&per, |x| format!("{x:.0} ns")),
                range(&cpu50, us),
                range(&cpu99, us),
            );
        }
    }
    println!();
    Ok(())
}

// --- memory --------------------------------------------------------------

fn memory(args: &Args) -> Result<(), Mismatch> {
    println!(
        "## resident memory: {} series (a third each kind) x {} threads, {} records per thread per series",
        args.memory_series, args.memory_threads, args.memory_records
    );
    println!("# each line from a fresh process; budget 0 is the registry's default (32 MiB)");
    let exe = std::env::current_exe().expect("this executable");
    for rep in 0..args.memory_reps {
        for &budget in &args.memory_budgets {
            let status = Command::new(&exe)
                .args([
                    "--memory-child",
                    &budget.to_string(),
                    "--memory-series",
                    &args.memory_series.to_string(),
                    "--memory-threads",
                    &args.memory_threads.to_string(),
                    "--memory-records",
                    &args.memory_records.to_string(),
                ])
                .status()
                .expect("the child ran");
            if !status.success() {
                return Err(Mismatch(format!(
                    "memory child (rep {rep}, budget {budget} MiB) failed"
                )));
            }
        }
    }
    println!();
    Ok(())
}

fn memory_child(args: &Args, budget_mib: usize) -> Result<(), Mismatch> {
    let (n, threads, records) = (args.memory_series, args.memory_threads, args.memory_records);
    let rss_start = resident::vm_rss_kib();
    let builder = Registry::builder();
    let builder = if budget_mib == 0 {
        builder
    } else {
        builder.shard_budget(budget_mib << 20)
    };
    let registry = builder.build();
    let (mut counters, mut gauges, mut histograms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let id = format!("s{i}");
        let labels = [("series", id.as_str())];
        match i % 3 {
            0 => counters.push(registry.counter("mem_total", &labels).expect("valid")),
            1 => gauges.push(registry.gauge("mem_gauge", &labels).expect("valid")),
            _ => histograms.push(registry.histogram("mem_ns", &labels).expect("valid")),
        }
    }
    let rss_series = resident::vm_rss_kib();
    let values = inputs(1e4, 1e6, 3);
    let records_n = records as usize;
    let start = Instant::now();
    let growth = resident::growth_per_thread(threads, |t| {
        // Each thread starts at its own series, so that threads overlap on
        // every series at different moments.
        let first = t * n / threads;
        let off = offset(t);
        for k in 0..n {
            let i = (first + k) % n;
            match i % 3 {
                0 => {
                    let c = &counters[i / 3];
                    for _ in 0..records_n {
                        c.increment(1);
                    }
                }
                1 => {
                    let g = &gauges[i / 3];
                    for r in 0..records_n {
                        g.set(r as f64);
                    }
                }
                _ => {
                    let h = &histograms[i / 3];
                    for r in 0..records_n {
                        h.record(values[(off + r) & MASK]);
                    }
                }
            }
        }
    });
    let work_s = start.elapsed().as_secs_f64();
    let stats = registry.stats();
    let made = threads as u64 * records;
    for c in &counters {
        check("memory: a counter", c.get(), made)?;
    }
    let snapshot = registry.snapshot();
    for s in snapshot.iter() {
        if let Some(h) = s.as_histogram() {
            check("memory: a histogram", h.count(), made)?;
        }
    }
    drop(snapshot);
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let start = Instant::now();
            black_box(registry.snapshot());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let budget = if budget_mib == 0 {
        "default".to_string()
    } else {
        format!("{budget_mib} MiB")
    };
    println!(
        "budget {budget}: series made +{} KiB; threads' records +{} KiB ({} KiB/thread; with thread starts {} KiB/thread); \
         shard_bytes {} KiB of {} KiB budget, shards {}, refusals {}, promoted {} of {} (series_bytes {} KiB); \
         work {work_s:.1} s ({}/s); snapshot p50 {:.0} µs",
        rss_series.saturating_sub(rss_start),
        growth.work_kib * threads as u64,
        growth.work_kib,
        growth.with_threads_kib,
        stats.shard_bytes >> 10,
        stats.shard_budget >> 10,
        stats.shards,
        stats.budget_refusals,
        stats.promoted,
        stats.series,
        stats.series_bytes >> 10,
        si((threads * n) as f64 * records as f64 / work_s),
        quantile(&times, 0.5),
    );
    Ok(())
}

// --- lookup and cold -----------------------------------------------------

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

fn lookup(args: &Args) -> Result<(), Mismatch> {
    println!(
        "## labelled lookup on every call against a cached handle ({} increments per thread, \
         8 label sets of 2 labels cycled)",
        args.ops
    );
    let n = args.ops as usize;
    // [threads][case] -> rates, and CPU ns per call
    let mut rates = vec![[Vec::new(), Vec::new()]; args.threads.len()];
    let mut cpu = rates.clone();
    for rep in 0..args.reps {
        for (ti, &threads) in args.threads.iter().enumerate() {
            for (ci, name) in ["cached handles", "family.with(..) per call"]
                .into_iter()
                .enumerate()
            {
                let registry = Registry::new();
                let family = registry
                    .counter_family("requests_total", &["method", "status"])
                    .expect("valid");
                let handles: Vec<Counter> = ROUTES
                    .iter()
                    .map(|r| family.with(r).expect("two values"))
                    .collect();
                take_cpu_ns();
                let (elapsed, _) = run_threads(vec![(); threads], |t, ()| {
                    if ci == 0 {
                        for i in 0..n {
                            handles[(i + t) & 7].increment(1);
                        }
                    } else {
                        for i in 0..n {
                            family
                                .with(&ROUTES[(i + t) & 7])
                                .expect("two values")
                                .increment(1);
                        }
                    }
                });
                let total: u64 = handles.iter().map(Counter::get).sum();
                check(name, total, threads as u64 * args.ops)?;
                let rate = (threads * n) as f64 / elapsed.as_secs_f64();
                rates[ti][ci].push(rate);
                let ns = take_cpu_ns() as f64 / (threads * n) as f64;
                cpu[ti][ci].push(ns);
                println!(
                    "rep {rep} threads {threads} {name:<26} {:>8}/s {ns:>6.1} ns CPU/call",
                    si(rate)
                );
            }
        }
    }
    println!();
    println!(
        "| case | threads | increments/s, median [min-max] | CPU ns per call | lookup ÷ cached |"
    );
    println!("|---|---:|---|---|---|");
    for (ti, &threads) in args.threads.iter().enumerate() {
        for (ci, name) in ["cached handles", "family.with(..) per call"]
            .into_iter()
            .enumerate()
        {
            let ns = range(&cpu[ti][ci], |x| format!("{x:.1}"));
            let ratio = if ci == 1 {
                let r: Vec<f64> = rates[ti][1]
                    .iter()
                    .zip(&rates[ti][0])
                    .map(|(a, b)| a / b)
                    .collect();
                range(&r, |x| format!("{x:.2}x"))
            } else {
                String::new()
            };
            println!(
                "| {name} | {threads} | {} | {ns} | {ratio} |",
                range(&rates[ti][ci], si)
            );
        }
    }
    println!();
    Ok(())
}

fn cold(args: &Args) -> Result<(), Mismatch> {
    let n = args.cold_series;
    println!(
        "## cold series: {n} histogram series, each record into one chosen uniformly at random \
         ({} records per thread, inputs log-uniform 1 µs..1 s)",
        args.ops
    );
    let values = inputs(1e3, 1e9, 11);
    let mut v = Lcg(5);
    let picks: Vec<u32> = (0..INPUTS).map(|_| (v.next() % n as u64) as u32).collect();
    let registry = Registry::new();
    let handles: Vec<Histogram> = (0..n)
        .map(|i| {
            registry
                .histogram("cold_ns", &[("series", &format!("s{i}"))])
                .expect("valid")
        })
        .collect();
    let (low, high, digits) = HDR_BOUNDS;
    let mut plain: Vec<Hdr<u64>> = (0..n)
        .map(|_| Hdr::new_with_bounds(low, high, digits).expect("bounds"))
        .collect();
    let ops = args.ops as usize;
    let mut made = 0_u64;
    let mut plain_made = 0_u64;
    // (name, rates, CPU ns per record)
    let mut cases: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for rep in 0..args.reps {
        let mut i = 0;
        for &threads in &args.threads {
            take_cpu_ns();
            let (elapsed, _) = run_threads(vec![(); threads], |t, ()| {
                let off = offset(t);
                for j in 0..ops {
                    let k = (off + j) & MASK;
                    handles[picks[k] as usize].record(values[k]);
                }
            });
            made += (threads * ops) as u64;
            let rate = (threads * ops) as f64 / elapsed.as_secs_f64();
            let ns = take_cpu_ns() as f64 / (threads * ops) as f64;
            let name = format!("registry, {threads} thread(s)");
            println!(
                "rep {rep} {name:<34} {:>8}/s {ns:>6.1} ns CPU/record",
                si(rate)
            );
            if rep == 0 {
                cases.push((name, Vec::new(), Vec::new()));
            }
            cases[i].1.push(rate);
            cases[i].2.push(ns);
            i += 1;
        }
        let (start, cpu) = (Instant::now(), thread_cpu_ns());
        for j in 0..ops {
            let k = j & MASK;
            plain[picks[k] as usize].saturating_record(values[k]);
        }
        let rate = ops as f64 / start.elapsed().as_secs_f64();
        let ns = (thread_cpu_ns() - cpu) as f64 / ops as f64;
        plain_made += ops as u64;
        let name = "plain hdrhistogram, 1 thread".to_string();
        println!(
            "rep {rep} {name:<34} {:>8}/s {ns:>6.1} ns CPU/record",
            si(rate)
        );
        if rep == 0 {
            cases.push((name, Vec::new(), Vec::new()));
        }
        cases[i].1.push(rate);
        cases[i].2.push(ns);
    }
    let (_, read) = totals(&registry);
    check("cold: registry samples", read, made)?;
    check(
        "cold: plain samples",
        plain.iter().map(Hdr::len).sum(),
        plain_made,
    )?;
    let stats = registry.stats();
    println!();
    println!("| case | records/s, median [min-max] | CPU ns per record |");
    println!("|---|---|---|");
    for (name, rates, cpu) in &cases {
        println!(
            "| {name} | {} | {} |",
            range(rates, si),
            range(cpu, |x| format!("{x:.1}"))
        );
    }
    println!(
        "# registry after the runs: promoted {} of {}, shards {}",
        stats.promoted, stats.series, stats.shards
    );
    println!();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(budget) = args.memory_child {
        return match memory_child(&args, budget) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Mismatch(m)) => {
                eprintln!("ACCOUNTING MISMATCH: {m}");
                ExitCode::FAILURE
            }
        };
    }
    let mut machine = machine::Machine::detect();
    println!("# registry_bench at {}", machine.git_commit);
    println!("# machine: {}", machine.one_line());
    println!("# load at start: {}", load_text(machine.load_at_start));
    println!(
        "# command: cargo run --release -p lockfree-metrics-programs --bin registry_bench -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    println!();
    let started = Instant::now();
    for section in &args.sections {
        let result = match section {
            Section::Records => records(&args),
            Section::Snapshot => snapshot(&args),
            Section::Memory => memory(&args),
            Section::Lookup => lookup(&args),
            Section::Cold => cold(&args),
        };
        if let Err(Mismatch(m)) = result {
            eprintln!("ACCOUNTING MISMATCH: {m}");
            return ExitCode::FAILURE;
        }
    }
    machine.load_at_end = machine::load();
    println!(
        "# load at end: {}; {:.0} s in all",
        load_text(machine.load_at_end),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// A load average as the comparison prints it, or "unknown".
fn load_text(load: Option<machine::LoadAverage>) -> String {
    load.map_or_else(|| "unknown".into(), |l| l.to_string())
}
