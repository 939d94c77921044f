//! The registry's memory (`lockfree_metrics::registry`): per-thread cells
//! stay within `RegistryBuilder::shard_budget`, what they and the series
//! make resident stays bounded, and a budget too small for every thread
//! loses nothing: the refused threads record into the series' shared
//! cells.
//!
//! 1. **1,000 series × 64 threads.** A third each counters, gauges and
//!    histograms (the default options: nanoseconds to an hour, pages of
//!    counts made as values reach them); every thread records into every series often
//!    enough to promote it (each record crosses a probe boundary, and
//!    several threads probe each series). The resident set (`VmRSS`, as
//!    `tests/engine/resident_memory.rs` reads it) grows by at most 64 MiB for the
//!    series and the work, thread stacks left out; `stats().shard_bytes`
//!    stays within the budget (32 MiB by default); every total is exact.
//! 2. **A 32 KiB budget.** The same kind of workload: the budget refuses
//!    counters' cells (`stats().budget_refusals > 0`, `shard_bytes` within it), and
//!    every counter value and histogram count, sum and bucket is exact.
//!
//! Each test runs alone in a child process (`support::child::alone`):
//! the figures are the whole process's, which other tests would move.
//!
//! Prints the figures with
//! `cargo test --release --test registry memory:: -- --nocapture`.

use std::{sync::Barrier, thread, time::Duration};

use lockfree_metrics::registry::{
    Counter, Gauge, Histogram, HistogramOpts, Registry, RegistrySnapshot, Value,
};

use crate::support::child;
#[cfg(target_os = "linux")]
use crate::support::resident;

/// Records per thread and series: each a `PROBE` boundary crossing.
const ROUNDS: u64 = 3;
/// A counter increment and a histogram `record_n` count of this size
/// crosses a probe boundary (every 1,024th record) each time.
const PROBE: u64 = 1_024;

enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// `n` series, a third of each kind, in kind order.
fn make(r: &Registry, n: usize, opts: HistogramOpts) -> Vec<Handle> {
    (0..n)
        .map(|i| {
            let labels = [("i", i.to_string())];
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match i % 3 {
                0 => Handle::Counter(r.counter("mem_total", &labels).unwrap()),
                1 => Handle::Gauge(r.gauge("mem_gauge", &labels).unwrap()),
                _ => Handle::Histogram(r.histogram_with("mem_hist", &labels, opts).unwrap()),
            }
        })
        .collect()
}

/// The value thread `t` records into histogram `i`.
fn value(t: usize, i: usize) -> u64 {
    1_000 + ((t * 7_919 + i * 104_729) % 5_000_000) as u64
}

/// Thread `t`'s records into every series.
fn work(handles: &[Handle], t: usize) {
    for _ in 0..ROUNDS {
        for (i, h) in handles.iter().enumerate() {
            match h {
                Handle::Counter(c) => c.increment(PROBE),
                Handle::Gauge(g) => g.add(1.0),
                Handle::Histogram(h) => h.record_n(value(t, i), PROBE),
            }
        }
    }
}

/// Every total is what `threads` threads of `work` recorded.
fn check_totals(s: &RegistrySnapshot, n: usize, threads: usize, opts: HistogramOpts) {
    assert_eq!(s.len(), n);
    let records = ROUNDS * threads as u64;
    for series in s.iter() {
        let i: usize = series.key.label("i").unwrap().parse().unwrap();
        match &series.value {
            Value::Counter(v) => assert_eq!(*v, records * PROBE, "{}", series.key),
            Value::Gauge(g) => assert_eq!(*g, records as f64, "{}", series.key),
            Value::Histogram(h) => {
                let mut want = hdrhistogram::Histogram::<u64>::new_with_bounds(
                    opts.lowest(),
                    opts.highest(),
                    opts.digits(),
                )
                .unwrap();
                let mut sum = 0_u128;
                for t in 0..threads {
                    want.record_n(value(t, i), ROUNDS * PROBE).unwrap();
                    sum += u128::from(value(t, i)) * u128::from(ROUNDS * PROBE);
                }
                assert_eq!(h.count(), records * PROBE, "{}", series.key);
                assert_eq!(h.sum(), sum, "{}", series.key);
                let got: Vec<(u64, u64)> = h.buckets().map(|b| (b.high, b.count)).collect();
                let want: Vec<(u64, u64)> = want
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect();
                assert_eq!(got, want, "{}", series.key);
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_thousand_series_on_64_threads_stay_within_64_mib() {
    child::alone(
        module_path!(),
        "a_thousand_series_on_64_threads_stay_within_64_mib",
        Duration::from_secs(300),
        || {
            const SERIES: usize = 1_000;
            const THREADS: usize = 64;
            let opts = HistogramOpts::default();
            let before = resident::vm_rss_kib();
            let r = Registry::new();
            let handles = make(&r, SERIES, opts);
            let made = resident::vm_rss_kib();
            let growth = resident::growth_per_thread(THREADS, |t| work(&handles, t));
            let series_kib = made.saturating_sub(before);
            let work_kib = growth.work_kib * THREADS as u64;
            let total_kib = series_kib + work_kib;
            let stats = r.stats();
            println!(
                "VmRSS growth: {series_kib} KiB for {SERIES} series, {work_kib} KiB for {THREADS} \
         threads' records ({} KiB per thread, {} KiB with the thread itself): {} MiB in all; \
         {} promoted, {} per-thread cells, {} KiB of the {} KiB budget, {} refusals, \
         series {} KiB",
                growth.work_kib,
                growth.with_threads_kib,
                total_kib / 1024,
                stats.promoted,
                stats.shards,
                stats.shard_bytes / 1024,
                stats.shard_budget / 1024,
                stats.budget_refusals,
                stats.series_bytes / 1024,
            );
            // The measurement means something: the work made cells resident.
            assert!(stats.shards > 0 && stats.promoted > 0, "{stats:?}");
            assert!(before > 0, "VmRSS unreadable");
            assert!(
                total_kib <= 64 * 1024,
                "{total_kib} KiB resident growth for {SERIES} series on {THREADS} threads"
            );
            assert!(stats.shard_bytes <= stats.shard_budget, "{stats:?}");
            // Histograms take lanes, bounded per series (not charged to the
            // budget); counters' cells stay within the budget.
            assert!(stats.promoted <= (0..SERIES).filter(|i| i % 3 != 1).count());
            check_totals(&r.snapshot(), SERIES, THREADS, opts);
        },
    );
}

#[test]
fn a_small_budget_refuses_cells_and_loses_nothing() {
    child::alone(
        module_path!(),
        "a_small_budget_refuses_cells_and_loses_nothing",
        Duration::from_secs(300),
        || {
            // 10 counters to promote, whose maps take 25 KiB of the budget;
            // the rest grants some threads cells (128 B a counter's) and
            // refuses others. Histograms take lanes instead, which the
            // budget does not cover.
            const SERIES: usize = 30;
            const THREADS: usize = 16;
            const BUDGET: usize = 32 << 10;
            let opts = HistogramOpts::new(1, 10_000_000, 2).unwrap();
            let r = Registry::builder().shard_budget(BUDGET).build();
            let handles = make(&r, SERIES, opts);
            // All alive from the first record to the last, so that none takes over
            // an exited one's id and cells: each thread asks for cells of its own.
            let [start, done] = [(); 2].map(|_| Barrier::new(THREADS));
            let (readings_ok, stats_during) = thread::scope(|s| {
                for t in 0..THREADS {
                    let (handles, start, done) = (&handles, &start, &done);
                    s.spawn(move || {
                        start.wait();
                        work(handles, t);
                        done.wait();
                    });
                }
                // Meanwhile: readings stay consistent, the budget is never passed.
                let mut ok = 0;
                let mut worst = 0;
                for _ in 0..20 {
                    let snap = r.snapshot();
                    for series in snap.iter() {
                        if let Some(h) = series.as_histogram() {
                            assert_eq!(h.buckets().map(|b| b.count).sum::<u64>(), h.count());
                        }
                    }
                    worst = worst.max(r.stats().shard_bytes);
                    ok += 1;
                }
                (ok, worst)
            });
            let stats = r.stats();
            println!("budget {BUDGET} B: {stats:?}; at most {stats_during} B during the records");
            assert_eq!(readings_ok, 20);
            assert!(stats_during <= BUDGET);
            assert!(stats.budget_refusals > 0, "{stats:?}");
            assert!(stats.shards > 0, "{stats:?}");
            assert!(stats.shard_bytes <= BUDGET, "{stats:?}");
            assert_eq!(stats.shard_budget, BUDGET);
            check_totals(&r.snapshot(), SERIES, THREADS, opts);

            // Freed series give their bytes back.
            drop(handles);
            for i in 0..SERIES {
                let labels = [("i", i.to_string())];
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                for name in ["mem_total", "mem_gauge", "mem_hist"] {
                    r.remove(name, &labels).unwrap();
                }
            }
            assert_eq!(r.stats().series, 0);
            // The list reclaims removed series through its epoch: a few readings
            // let it advance.
            let started = std::time::Instant::now();
            while r.stats().shard_bytes != 0 {
                r.snapshot();
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "{} bytes still charged",
                    r.stats().shard_bytes
                );
            }
        },
    );
}
