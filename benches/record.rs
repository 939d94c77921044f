//! Single-thread cost of every operation of every strategy, through one
//! generic function over the trait, beside the peers' single-thread record
//! paths: a plain unshared `hdrhistogram::Histogram::record` (the floor)
//! and `hdrhistogram::sync::Recorder::record`; and the registry's records
//! (`registry/`: a histogram on its shared cells and after a promotion, a
//! counter, a family lookup and increment).
//!
//! `cargo bench --bench record`

use std::{hint::black_box, time::Duration};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hdrhistogram::{sync::SyncHistogram, Histogram};
use lockfree_metrics::{
    registry::Registry, Atomic, Clock, CoarseClock, Config, FineGrained, GlobalLock,
    MetricsCollector, Mode, QuantaClock, Ring, Sharded, StdClock,
};

#[path = "support/inputs.rs"]
pub mod inputs;

use inputs::{populate, Values};

/// Every operation of one strategy.
fn bench_strategy<M: MetricsCollector>(c: &mut Criterion, name: &str, make: impl Fn() -> M) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    let m = make();
    let mut v = Values(42);
    g.bench_function("record_latency", |b| {
        b.iter(|| m.record_latency(Duration::from_nanos(v.latency_ns())))
    });
    g.bench_function("record_latency_ns", |b| {
        b.iter(|| m.record_latency_ns(v.latency_ns()))
    });
    g.bench_function("record_throughput", |b| {
        b.iter(|| m.record_throughput(v.next_u31() % 512, 1))
    });
    g.bench_function("record_batch_size", |b| {
        b.iter(|| m.record_batch_size((v.next_u31() % 64) as usize))
    });
    g.bench_function("record_queue_depth", |b| {
        b.iter(|| m.record_queue_depth((v.next_u31() % 1_000) as usize))
    });
    g.bench_function("record_mode_transition/same", |b| {
        b.iter(|| m.record_mode_transition(Mode(1)))
    });
    let mut i = 0_u16;
    g.bench_function("record_mode_transition/change", |b| {
        b.iter(|| {
            i ^= 1;
            m.record_mode_transition(Mode(i))
        })
    });
    let m = make();
    populate(&m);
    g.bench_function("snapshot", |b| b.iter(|| black_box(m.snapshot())));
    g.bench_function("reset", |b| {
        b.iter_batched(
            || {
                let m = make();
                populate(&m);
                m
            },
            |m| {
                m.reset();
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The record-path floor: `hdrhistogram` without any sharing.
fn bench_peers(c: &mut Criterion) {
    let config = Config::default();
    let low = config.latency_lowest().as_nanos() as u64;
    let high = config.latency_highest().as_nanos() as u64;
    let digits = config.significant_digits();
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(1));
    let mut v = Values(42);
    let mut plain = Histogram::<u64>::new_with_bounds(low, high, digits).unwrap();
    g.bench_function("hdr_histogram_record", |b| {
        b.iter(|| plain.record(v.latency_ns()).unwrap())
    });
    let sync: SyncHistogram<u64> = Histogram::new_with_bounds(low, high, digits)
        .unwrap()
        .into_sync();
    let mut recorder = sync.recorder();
    g.bench_function("hdr_sync_recorder_record", |b| {
        b.iter(|| recorder.record(v.latency_ns()).unwrap())
    });
    g.finish();
    drop(recorder);
    drop(sync);

    // The clock `record_throughput` and the gauges read.
    let mut g = c.benchmark_group("clock");
    g.throughput(Throughput::Elements(1));
    let (quanta, std) = (QuantaClock::new(), StdClock::new());
    // The unfenced read QuantaClock used before: monotonic per thread only.
    let bare = quanta::Clock::new();
    g.bench_function("quanta_bare_now", |b| b.iter(|| black_box(bare.now())));
    g.bench_function("quanta", |b| b.iter(|| black_box(quanta.now_ns())));
    g.bench_function("std_instant", |b| b.iter(|| black_box(std.now_ns())));
    let coarse = CoarseClock::new();
    g.bench_function("coarse", |b| b.iter(|| black_box(coarse.now_ns())));
    g.finish();
}

/// The registry's single-thread records (`benches/programs/src/bin/registry_bench.rs`
/// measures them across threads).
fn bench_registry(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    g.throughput(Throughput::Elements(1));
    let registry = Registry::new();
    let mut v = Values(42);
    let shared = registry.histogram("shared_ns", &[]).unwrap();
    g.bench_function("histogram_record", |b| {
        b.iter(|| shared.record(v.latency_ns()))
    });
    // Promoted: 1,024 records of one bucket from this thread, then from
    // another, each crossing a probe boundary.
    let promoted = registry.histogram("promoted_ns", &[]).unwrap();
    promoted.record_n(1_000, 1_024);
    std::thread::scope(|s| {
        s.spawn(|| promoted.record_n(1_000, 1_024));
    });
    assert_eq!(registry.stats().promoted, 1);
    g.bench_function("histogram_record_promoted", |b| {
        b.iter(|| promoted.record(v.latency_ns()))
    });
    let counter = registry.counter("hits_total", &[]).unwrap();
    g.bench_function("counter_increment", |b| b.iter(|| counter.increment(1)));
    let family = registry
        .counter_family("requests_total", &["method", "status"])
        .unwrap();
    family.with(&["GET", "200"]).unwrap().increment(1);
    g.bench_function("family_with_increment", |b| {
        b.iter(|| family.with(&["GET", "200"]).unwrap().increment(1))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_peers(c);
    bench_registry(c);
    bench_strategy(c, "GlobalLock", || GlobalLock::new(Config::default()));
    bench_strategy(c, "FineGrained", || FineGrained::new(Config::default()));
    bench_strategy(c, "Atomic", || Atomic::new(Config::default()));
    bench_strategy(c, "Sharded", || Sharded::new(Config::default()));
    bench_strategy(c, "Ring", || Ring::new(Config::default()));
    // The clocked records with a clock read of one relaxed load.
    bench_strategy(c, "Sharded+coarse", || {
        Sharded::with_clock(Config::default(), CoarseClock::new())
    });
}

criterion_group! {
    name = record;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(record);
