//! Throughput under contention, and what readers cost:
//!
//! - `same_metric/<strategy>/<threads>`: every thread records latencies as
//!   fast as it can (the seed's "threads recording the same metric"), beside
//!   `hdrhistogram`'s `SyncHistogram` (one `Recorder` per thread) and a
//!   `Mutex<Histogram>`; throughput is records per second, all threads;
//! - `with_reader/<strategy>`: the same with two writers while a reader
//!   snapshots every millisecond;
//! - `snapshot_shards/<shards>`: `Sharded::snapshot` after 2, 16 and 64
//!   threads have recorded (shards outlive their threads).
//!
//! `cargo bench --bench contention`

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicBool, Ordering},
        Barrier, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::{sync::SyncHistogram, Histogram};
use lockfree_metrics::{Atomic, Config, FineGrained, GlobalLock, MetricsCollector, Ring, Sharded};

/// A latency between 1 µs and about 50 ms, in nanoseconds, from an LCG.
#[inline(always)]
fn next_ns(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    1_000 + (*state >> 33) % 50_000_000
}

/// Runs `work(thread, iters)` on `threads` threads at once and times it from
/// the moment all are ready to the moment all are done.
fn timed(threads: usize, iters: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    let start = Barrier::new(threads + 1);
    thread::scope(|s| {
        for t in 0..threads {
            let (start, work) = (&start, &work);
            s.spawn(move || {
                start.wait();
                work(t, iters);
            });
        }
        start.wait();
        let begin = Instant::now();
        // The scope joins every thread before returning.
        begin
    })
    .elapsed()
}

fn thread_counts() -> Vec<usize> {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = vec![1, 2, 2 * cores];
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// Every thread records latencies into `m` (generic, so no virtual call).
fn same_metric_row<M: MetricsCollector>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    threads: usize,
    m: &M,
) {
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| {
            timed(threads, iters, |t, iters| {
                let mut v = t as u64;
                for _ in 0..iters {
                    m.record_latency(Duration::from_nanos(next_ns(&mut v)));
                }
            })
        })
    });
}

fn same_metric(c: &mut Criterion) {
    let config = Config::default();
    let (low, high, digits) = (1_000, 3_600_000_000_000, config.significant_digits());
    let mut g = c.benchmark_group("same_metric");
    for threads in thread_counts() {
        g.throughput(Throughput::Elements(threads as u64));
        same_metric_row(
            &mut g,
            "GlobalLock",
            threads,
            &GlobalLock::new(config.clone()),
        );
        same_metric_row(
            &mut g,
            "FineGrained",
            threads,
            &FineGrained::new(config.clone()),
        );
        same_metric_row(&mut g, "Atomic", threads, &Atomic::new(config.clone()));
        same_metric_row(&mut g, "Sharded", threads, &Sharded::new(config.clone()));
        same_metric_row(&mut g, "Ring", threads, &Ring::new(config.clone()));
        let mutex = Mutex::new(Histogram::<u64>::new_with_bounds(low, high, digits).unwrap());
        g.bench_with_input(
            BenchmarkId::new("MutexHistogram", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    timed(threads, iters, |t, iters| {
                        let mut v = t as u64;
                        for _ in 0..iters {
                            let ns = next_ns(&mut v);
                            mutex.lock().unwrap().record(ns).unwrap();
                        }
                    })
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("SyncHistogram", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let mut sync: SyncHistogram<u64> =
                        Histogram::new_with_bounds(low, high, digits)
                            .unwrap()
                            .into_sync();
                    let recorders: Vec<_> =
                        (0..threads).map(|_| Mutex::new(sync.recorder())).collect();
                    let elapsed = timed(threads, iters, |t, iters| {
                        let mut recorder = recorders[t].lock().unwrap();
                        let mut v = t as u64;
                        for _ in 0..iters {
                            recorder.record(next_ns(&mut v)).unwrap();
                        }
                    });
                    drop(recorders);
                    sync.refresh();
                    elapsed
                })
            },
        );
    }
    g.finish();
}

/// Two writers record latencies into `m` while a reader snapshots every
/// millisecond.
fn with_reader_row<M: MetricsCollector>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    m: &M,
) {
    let writers = 2;
    g.throughput(Throughput::Elements(writers as u64));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(m.snapshot());
                        thread::sleep(Duration::from_millis(1));
                    }
                });
                let elapsed = timed(writers, iters, |t, iters| {
                    let mut v = t as u64;
                    for _ in 0..iters {
                        m.record_latency(Duration::from_nanos(next_ns(&mut v)));
                    }
                });
                stop.store(true, Ordering::Relaxed);
                elapsed
            })
        })
    });
}

fn with_reader(c: &mut Criterion) {
    let mut g = c.benchmark_group("with_reader");
    with_reader_row(&mut g, "FineGrained", &FineGrained::new(Config::default()));
    with_reader_row(&mut g, "Atomic", &Atomic::new(Config::default()));
    with_reader_row(&mut g, "Sharded", &Sharded::new(Config::default()));
    with_reader_row(&mut g, "Ring", &Ring::new(Config::default()));
    g.finish();
}

fn snapshot_shards(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_shards");
    for shards in [2, 16, 64] {
        let m = Sharded::new(Config::default());
        // Each thread leaves a shard behind; ids are reused only by threads
        // that start after one exits, so the threads must overlap.
        let all = Barrier::new(shards);
        thread::scope(|s| {
            for t in 0..shards {
                let (m, all) = (&m, &all);
                s.spawn(move || {
                    let mut v = t as u64;
                    for _ in 0..10_000 {
                        m.record_latency(Duration::from_nanos(next_ns(&mut v)));
                        m.record_throughput(32, 1);
                    }
                    all.wait();
                });
            }
        });
        g.bench_with_input(BenchmarkId::from_parameter(shards), &shards, |b, _| {
            b.iter(|| black_box(m.snapshot()))
        });
    }
    g.finish();
}

criterion_group! {
    name = contention;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = same_metric, with_reader, snapshot_shards
}
criterion_main!(contention);
