//! Exact accounting of the registry (`lockfree_metrics::registry`) under
//! thread churn, blocking-pool style: short-lived threads spawned in waves
//! (a wave's threads all live at once, and exit before the next wave
//! starts, whose threads take over their thread ids and with them their
//! per-thread cells), each recording thousands of times into shared
//! handles (a counter, a histogram and a gauge) and into two families'
//! series, enough per thread and series for the series to be promoted to
//! per-thread cells (records > 1,024 per thread per series, from several
//! threads at once). Meanwhile a reader thread takes snapshots and
//! intervals:
//!
//! - every snapshot is sorted, each histogram's count is its buckets'
//!   total, every counter and histogram count (and sum) is monotonic from
//!   one snapshot to the next, and the gauge, which each thread raises
//!   and lowers by one around each record, stays within `0 ..= wave`;
//! - the intervals, plus a last one after the writers are done, add up
//!   exactly to the final totals.
//!
//! At the end every total is exact (records lost: 0): counters, histogram
//! counts, sums and buckets (against an `hdrhistogram::Histogram` fed the
//! same values), the family series, the gauge back at 0; the series were
//! promoted, and per-thread cells number at most the live threads per
//! series (ids reused), not the threads ever started.
//!
//! CI runs a short plan (`REGISTRY_CHURN_WAVES`, default 8 waves of 8
//! threads); the long run is
//! `cargo test --release --test registry churn:: -- --ignored --nocapture`
//! (400 waves of 16 threads).
//!
//! Each test runs alone in a child process (`support::child::alone`): the
//! per-thread cell bound counts the threads alive at once, and the thread
//! ids that cells follow are the process's, which other tests' threads
//! would take.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::{HistogramOpts, Registry, RegistrySnapshot, Value};

use crate::support::child;

#[derive(Clone, Copy, Debug)]
struct Plan {
    waves: u64,
    /// Threads alive at once.
    wave: u64,
    /// Iterations per thread; each records into every series once.
    per_thread: u64,
}

/// Family label values: each thread records into two of them per
/// iteration, so every family series has several writers at once.
const WORKERS: u64 = 4;
const KINDS: [&str; 2] = ["read", "write"];

fn opts() -> HistogramOpts {
    HistogramOpts::new(1, 100_000, 2)
        .unwrap()
        .scale(1.0)
        .unwrap()
}

/// The histogram value thread `tag` records at iteration `i`.
fn value(tag: u64, i: u64) -> u64 {
    1 + (i * 37 + tag * 101) % 60_000
}

/// Counter values and histogram counts, by key.
fn totals(s: &RegistrySnapshot) -> BTreeMap<String, (u64, u128)> {
    s.iter()
        .filter_map(|s| {
            let v = match &s.value {
                Value::Counter(v) => (*v, 0),
                Value::Histogram(h) => (h.count(), h.sum()),
                Value::Gauge(_) => return None,
            };
            Some((s.key.to_string(), v))
        })
        .collect()
}

fn check_reading(s: &RegistrySnapshot, wave: u64) {
    let keys: Vec<_> = s.iter().map(|s| s.key.clone()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "unsorted: {keys:?}");
    for series in s.iter() {
        match &series.value {
            Value::Histogram(h) => {
                let buckets: u64 = h.buckets().map(|b| b.count).sum();
                assert_eq!(buckets, h.count(), "{}", series.key);
            }
            Value::Gauge(g) => {
                assert!(
                    (0.0..=wave as f64).contains(g) && g.fract() == 0.0,
                    "{}: {g} outside 0..={wave}",
                    series.key
                );
            }
            Value::Counter(_) => {}
        }
    }
}

fn churn(plan: Plan) {
    let registry = Registry::new();
    let requests = registry.counter("churn_requests_total", &[]).unwrap();
    let latency = registry
        .histogram_with("churn_latency", &[], opts())
        .unwrap();
    let inflight = registry.gauge("churn_inflight", &[]).unwrap();
    let by_worker = registry
        .counter_family("churn_worker_total", &["worker"])
        .unwrap();
    let by_kind = registry
        .histogram_family("churn_size", &["kind"], Some(opts()))
        .unwrap();

    let writing = AtomicBool::new(true);
    let started = Instant::now();
    // Made before any record, so that the intervals cover them all.
    let mut intervals = registry.interval_reader();
    let (readings, summed) = thread::scope(|s| {
        let (registry, writing) = (&registry, &writing);
        let reader = s.spawn(move || {
            let mut summed: BTreeMap<String, (u64, u128)> = BTreeMap::new();
            let mut last: BTreeMap<String, (u64, u128)> = BTreeMap::new();
            let mut readings = 0_u64;
            loop {
                // Read once more after the writers are done.
                let done = !writing.load(Ordering::Acquire);
                let snapshot = registry.snapshot();
                check_reading(&snapshot, plan.wave);
                let now = totals(&snapshot);
                for (k, then) in &last {
                    let now = now.get(k).unwrap_or_else(|| panic!("{k} vanished"));
                    assert!(now >= then, "{k} went back from {then:?} to {now:?}");
                }
                last = now;
                let interval = intervals.take();
                check_reading(&interval, plan.wave);
                for (k, (n, sum)) in totals(&interval) {
                    let e = summed.entry(k).or_default();
                    e.0 += n;
                    e.1 += sum;
                }
                readings += 1;
                if done {
                    return (readings, summed);
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        for w in 0..plan.waves {
            // One wave: all alive at once (the barrier), all joined before
            // the next wave takes over their ids. Joined one by one: a
            // scope's end waits for its threads' closures only, not for
            // their thread-local destructors, which release the ids.
            let barrier = Barrier::new(plan.wave as usize);
            thread::scope(|s| {
                let mut wave = Vec::new();
                for t in 0..plan.wave {
                    let tag = w * plan.wave + t;
                    let (requests, latency, inflight) = (&requests, &latency, &inflight);
                    let (by_worker, by_kind, barrier) = (&by_worker, &by_kind, &barrier);
                    wave.push(s.spawn(move || {
                        barrier.wait();
                        let workers: Vec<_> = (0..WORKERS)
                            .map(|k| by_worker.with(&[&format!("w{k}")]).unwrap())
                            .collect();
                        for i in 0..plan.per_thread {
                            inflight.add(1.0);
                            requests.increment(1);
                            latency.record(value(tag, i));
                            workers[((tag + i) % WORKERS) as usize].increment(2);
                            // Through the family each time: the cached lookup.
                            let kind = KINDS[((tag + i) % 2) as usize];
                            by_kind.with(&[kind]).unwrap().record_n(value(tag, i), 3);
                            inflight.sub(1.0);
                        }
                    }));
                }
                for thread in wave {
                    thread.join().unwrap();
                }
            });
        }
        writing.store(false, Ordering::Release);
        reader.join().unwrap()
    });
    let elapsed = started.elapsed();

    // Exact totals.
    let threads = plan.waves * plan.wave;
    let records = threads * plan.per_thread;
    let snapshot = registry.snapshot();
    check_reading(&snapshot, plan.wave);
    let counter = |name: &str, labels: &[(&str, &str)]| match snapshot.get(name, labels) {
        Some(s) => match s.value {
            Value::Counter(v) => v,
            ref v => panic!("{name}: {v:?}"),
        },
        None => panic!("{name}{labels:?} missing"),
    };
    assert_eq!(counter("churn_requests_total", &[]), records);
    let mut per_worker = [0_u64; WORKERS as usize];
    let mut expected = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 100_000, 2).unwrap();
    let mut per_kind: Vec<hdrhistogram::Histogram<u64>> =
        KINDS.iter().map(|_| expected.clone()).collect();
    for tag in 0..threads {
        for i in 0..plan.per_thread {
            per_worker[((tag + i) % WORKERS) as usize] += 2;
            expected.record(value(tag, i)).unwrap();
            per_kind[((tag + i) % 2) as usize]
                .record_n(value(tag, i), 3)
                .unwrap();
        }
    }
    for (k, &n) in per_worker.iter().enumerate() {
        assert_eq!(
            counter("churn_worker_total", &[("worker", &format!("w{k}"))]),
            n
        );
    }
    let same = |name: &str, labels: &[(&str, &str)], want: &hdrhistogram::Histogram<u64>| {
        let h = snapshot.get(name, labels).unwrap().as_histogram().unwrap();
        assert_eq!(h.count(), want.len(), "{name}{labels:?} count");
        let buckets: Vec<(u64, u64)> = h.buckets().map(|b| (b.high, b.count)).collect();
        let want_buckets: Vec<(u64, u64)> = want
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(buckets, want_buckets, "{name}{labels:?} buckets");
        assert!(h.to_hdr() == *want, "{name}{labels:?}: to_hdr");
        h.sum()
    };
    let sum: u128 = (0..threads)
        .flat_map(|tag| (0..plan.per_thread).map(move |i| u128::from(value(tag, i))))
        .sum();
    assert_eq!(same("churn_latency", &[], &expected), sum);
    let mut kinds_sum = 0;
    for (k, want) in KINDS.iter().zip(&per_kind) {
        kinds_sum += same("churn_size", &[("kind", k)], want);
    }
    assert_eq!(kinds_sum, 3 * sum);
    assert_eq!(
        snapshot.get("churn_inflight", &[]).unwrap().value,
        Value::Gauge(0.0)
    );

    // The intervals add up to the totals.
    assert_eq!(summed, totals(&snapshot), "intervals against totals");

    // Promoted, with cells for at most the threads alive at once.
    let stats = registry.stats();
    println!(
        "{threads} threads in {} waves, {records} iterations of 6 records, {:?}; \
         {readings} readings; {stats:?}",
        plan.waves, elapsed
    );
    assert_eq!(stats.series, 2 + WORKERS as usize + KINDS.len() + 1);
    assert!(stats.promoted >= 2, "{stats:?}");
    assert_eq!(stats.budget_refusals, 0, "{stats:?}");
    assert!(stats.shards > 0, "{stats:?}");
    assert!(
        stats.shards <= stats.promoted as u64 * plan.wave,
        "{} per-thread cells for {} promoted series and {} threads alive at once: \
         ids were not reused",
        stats.shards,
        stats.promoted,
        plan.wave
    );
    assert!(stats.shard_bytes <= stats.shard_budget);
}

fn waves() -> u64 {
    std::env::var("REGISTRY_CHURN_WAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

#[test]
fn waves_of_short_lived_threads_lose_nothing() {
    child::alone(
        module_path!(),
        "waves_of_short_lived_threads_lose_nothing",
        Duration::from_secs(300),
        || {
            churn(Plan {
                waves: waves(),
                wave: 8,
                per_thread: 3_000,
            });
        },
    );
}

/// The long run (say so: `-- --ignored`): 6,400 threads.
#[test]
#[ignore = "long stress run: cargo test --release --test registry churn:: -- --ignored"]
fn long_churn() {
    child::alone(
        module_path!(),
        "long_churn",
        Duration::from_secs(3600),
        || {
            churn(Plan {
                waves: 400,
                wave: 16,
                per_thread: 5_000,
            });
        },
    );
}
