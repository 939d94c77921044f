//! Exact accounting under thread churn, for every strategy.
//!
//! Recording threads come in two kinds: persistent ones (8) that record
//! throughout, and short-lived ones that start, record a few thousand
//! samples of every kind and exit, 8 alive at a time, hundreds (CI) or
//! tens of thousands (the long run) over a run, so thread ids, and with
//! them `Sharded`'s shards, are reused many times over. Meanwhile:
//!
//! 1. **Accounting phase.** A reader takes snapshots, per-metric getters
//!    and intervals throughout while a clock thread moves the manual clock
//!    (so records fall in many window slots); every reading must satisfy
//!    the snapshot invariants, and the intervals plus the final snapshot
//!    must add up *exactly* to what was recorded: latency, token, request
//!    and queue-depth counts, the batch-size distribution (each thread's
//!    batch size is its tag, so the distribution shows whose records were
//!    counted), and the transitions (the last transition's sequence number
//!    is the number made).
//! 2. **Reset phase.** `reset()` drops its interval, so nothing exact can
//!    be said about what one concurrent reset took. The same churn runs
//!    with a thread that calls `reset()` and `take_interval()` in turn:
//!    every reading must satisfy the invariants, the intervals can never
//!    add up to more than was recorded (a reset never resurrects or
//!    doubles records), and once the writers are done a reset must leave
//!    every metric empty but the current mode, after which new threads
//!    (taking over exited threads' shards) are counted exactly.
//!
//! CI runs a short plan per strategy; the long run is
//! `cargo test --release --test engine churn:: -- --ignored --nocapture`
//! (sized by `CHURN_THREADS`, default 20,000 short-lived threads per
//! strategy and phase).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{fence, AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use invariants::{check, check_quiescent};
use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Mode, Ring, Sharded,
    Snapshot,
};

use crate::support::{child, invariants};

struct Plan {
    persistent: u64,
    per_persistent: u64,
    churners: u64,
    per_churner: u64,
    /// Short-lived threads alive at once.
    wave: u64,
}

/// Modes recorded by the workers; `FINAL_MODE` is recorded once at the end.
const MODES: u64 = 3;
const FINAL_MODE: Mode = Mode(999);

/// What one thread records: `n` records of every kind. Batch sizes are the
/// thread's tag, so the distribution shows whose records were counted.
fn record(m: &dyn MetricsCollector, tag: u64, n: u64) {
    for i in 0..n {
        record_one(m, tag, i);
    }
}

/// Iteration `i` of thread `tag`: one record of each kind.
fn record_one(m: &dyn MetricsCollector, tag: u64, i: u64) {
    m.record_latency(Duration::from_micros(1 + (i * 37 + tag) % 20_000));
    m.record_throughput(3, 1);
    m.record_batch_size((tag % 16) as usize);
    m.record_queue_depth((i % 50) as usize);
    if i.is_multiple_of(64) {
        m.record_mode_transition(Mode((tag % MODES) as u16));
    }
}

#[derive(Clone, Default, Debug, PartialEq)]
struct Totals {
    latency: u64,
    tokens: u64,
    requests: u64,
    batch: BTreeMap<u64, u64>,
    queue: u64,
    transitions: u64,
}

impl Totals {
    fn add(&mut self, s: &Snapshot) {
        self.latency += s.latency.count;
        self.tokens += s.throughput.total_tokens;
        self.requests += s.throughput.total_requests;
        for (&size, &n) in &s.batch.distribution {
            *self.batch.entry(size).or_default() += n;
        }
        self.queue += s.queue_depth.count;
        self.transitions += s.mode.transitions;
    }

    /// What `plan` records, but the transitions (which depend on the
    /// interleaving).
    fn of(plan: &Plan) -> Self {
        let records = plan.persistent * plan.per_persistent + plan.churners * plan.per_churner;
        let mut t = Totals {
            latency: records,
            tokens: 3 * records,
            requests: records,
            queue: records,
            ..Totals::default()
        };
        for p in 0..plan.persistent {
            *t.batch.entry(persistent_tag(p) % 16).or_default() += plan.per_persistent;
        }
        for c in 0..plan.churners {
            *t.batch.entry(c % 16).or_default() += plan.per_churner;
        }
        t
    }

    /// Whether every count is at most `other`'s.
    fn within(&self, other: &Totals) -> bool {
        self.latency <= other.latency
            && self.tokens <= other.tokens
            && self.requests <= other.requests
            && self.queue <= other.queue
            && self
                .batch
                .iter()
                .all(|(size, &n)| n <= other.batch.get(size).copied().unwrap_or(0))
    }
}

fn persistent_tag(p: u64) -> u64 {
    1_000 + p
}

/// Checks a snapshot assembled from the per-metric getters.
fn check_getters(m: &dyn MetricsCollector) {
    check(&Snapshot {
        taken_at: Duration::ZERO,
        since_reset: Duration::ZERO,
        latency: m.latency(),
        throughput: m.throughput(),
        batch: m.batch(),
        queue_depth: m.queue_depth(),
        mode: m.mode(),
    });
}

/// Runs the plan's recording threads to completion, `plan.wave`
/// short-lived ones at a time beside the persistent ones. Returns the
/// number of threads started.
fn record_all(m: &Arc<dyn MetricsCollector>, plan: &Plan) -> u64 {
    record_all_with(m, plan, &record)
}

/// `record_all`, each thread running `body(m, tag, n)`.
fn record_all_with(
    m: &Arc<dyn MetricsCollector>,
    plan: &Plan,
    body: &(dyn Fn(&dyn MetricsCollector, u64, u64) + Sync),
) -> u64 {
    thread::scope(|scope| {
        let persistent: Vec<_> = (0..plan.persistent)
            .map(|p| {
                let m = Arc::clone(m);
                let n = plan.per_persistent;
                scope.spawn(move || body(&*m, persistent_tag(p), n))
            })
            .collect();
        let mut next = 0;
        while next < plan.churners {
            let wave: Vec<_> = (next..(next + plan.wave).min(plan.churners))
                .map(|c| {
                    let m = Arc::clone(m);
                    let n = plan.per_churner;
                    scope.spawn(move || body(&*m, c, n))
                })
                .collect();
            next += wave.len() as u64;
            for t in wave {
                t.join().unwrap();
            }
        }
        for t in persistent {
            t.join().unwrap();
        }
    });
    plan.persistent + plan.churners
}

/// A thread that moves the clock until `done`, so that records and reads
/// fall in many window slots and laps.
fn clock_mover(clock: ManualClock, done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !done.load(Ordering::Acquire) {
            clock.advance(Duration::from_millis(7));
            thread::sleep(Duration::from_micros(200));
        }
    })
}

/// What one phase did, for the long run's report.
#[derive(Debug, Default)]
struct Report {
    threads: u64,
    records: u64,
    reads: u64,
    resets: u64,
}

/// Phase 1: exact accounting with concurrent snapshots and intervals, on a
/// collector that has recorded nothing yet (so that the last transition's
/// sequence number is this phase's count).
fn accounting_phase(m: &Arc<dyn MetricsCollector>, clock: &ManualClock, plan: &Plan) -> Report {
    assert_eq!(m.mode().current, None, "a fresh collector");
    let done = Arc::new(AtomicBool::new(false));
    let mover = clock_mover(clock.clone(), Arc::clone(&done));
    let reader = {
        let (m, done) = (Arc::clone(m), Arc::clone(&done));
        thread::spawn(move || {
            let mut totals = Totals::default();
            let mut reads = 0_u64;
            while !done.load(Ordering::Acquire) {
                check(&m.snapshot());
                if reads.is_multiple_of(4) {
                    check_getters(&*m);
                }
                let interval = m.take_interval();
                check(&interval);
                totals.add(&interval);
                reads += 1;
            }
            (totals, reads)
        })
    };
    let threads = record_all(m, plan);
    done.store(true, Ordering::Release);
    mover.join().unwrap();
    let (mut totals, reads) = reader.join().unwrap();
    // One more transition, so that the last one's sequence number counts
    // every transition ever made.
    m.record_mode_transition(FINAL_MODE);
    let last = m.snapshot();
    check_quiescent(&last);
    totals.add(&last);

    let mut expected = Totals::of(plan);
    expected.transitions = last
        .mode
        .recent
        .last()
        .expect("a transition was logged")
        .seq;
    assert_eq!(last.mode.recent.last().unwrap().to, FINAL_MODE);
    assert!(reads > 0, "the reader never ran during the churn");
    assert_eq!(totals, expected, "after {reads} reads");
    Report {
        threads,
        records: expected.latency,
        reads,
        resets: 0,
    }
}

/// Counts of loop iterations (one record of each kind each) across all
/// recording threads of the reset phase.
#[derive(Default)]
struct Progress {
    started: AtomicU64,
    completed: AtomicU64,
}

/// `record`, counting iterations in `progress`: `started` before each
/// iteration's records, `completed` after them.
fn record_counted(m: &dyn MetricsCollector, tag: u64, n: u64, progress: &Progress) {
    for i in 0..n {
        progress.started.fetch_add(1, Ordering::SeqCst);
        record_one(m, tag, i);
        progress.completed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Phase 2: concurrent resets. What one of them drops is unknown, so the
/// checks are: the invariants; after each reset, a snapshot holds no more
/// than the iterations started since the reset began (a reset that left
/// records behind fails this); the intervals never hold more than was
/// recorded (nothing resurrected or doubled); and, quiescent, records are
/// counted exactly and a reset empties every metric but the current mode.
fn reset_phase(m: &Arc<dyn MetricsCollector>, clock: &ManualClock, plan: &Plan) -> Report {
    m.reset();
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let resets = Arc::new(AtomicU64::new(0));
    let mover = clock_mover(clock.clone(), Arc::clone(&done));
    let resetter = {
        let (m, done, resets) = (Arc::clone(m), Arc::clone(&done), Arc::clone(&resets));
        let progress = Arc::clone(&progress);
        thread::spawn(move || {
            let mut kept = Totals::default();
            let mut reads = 0_u64;
            while !done.load(Ordering::Acquire) {
                let completed = progress.completed.load(Ordering::SeqCst);
                m.reset();
                resets.fetch_add(1, Ordering::Relaxed);
                let s = m.snapshot();
                check(&s);
                // Whatever the snapshot shows was recorded after the reset.
                fence(Ordering::SeqCst);
                let since = progress.started.load(Ordering::SeqCst) - completed;
                for (what, n) in [
                    ("latency", s.latency.count),
                    ("requests", s.throughput.total_requests),
                    ("batch", s.batch.count),
                    ("queue", s.queue_depth.count),
                ] {
                    assert!(
                        n <= since,
                        "{what}: {n} after a reset, only {since} started"
                    );
                }
                let interval = m.take_interval();
                check(&interval);
                kept.add(&interval);
                reads += 1;
            }
            (kept, reads)
        })
    };
    let threads = record_all_with(m, plan, &|m, tag, n| record_counted(m, tag, n, &progress));
    done.store(true, Ordering::Release);
    mover.join().unwrap();
    let (mut kept, reads) = resetter.join().unwrap();
    let rest = m.take_interval();
    check_quiescent(&rest);
    kept.add(&rest);
    let recorded = Totals::of(plan);
    assert!(
        kept.within(&recorded),
        "intervals hold more than was recorded: {kept:?} vs {recorded:?}"
    );
    let resets = resets.load(Ordering::Relaxed);
    assert!(resets > 0, "no reset ran during the churn");

    // Quiescent: threads that take over the churned threads' ids (and
    // shards) are counted exactly from the last interval on...
    let after = Plan {
        persistent: 0,
        per_persistent: 0,
        churners: plan.wave,
        per_churner: plan.per_churner,
        wave: plan.wave,
    };
    record_all(m, &after);
    let s = m.snapshot();
    check_quiescent(&s);
    let mut got = Totals::default();
    got.add(&s);
    got.transitions = 0;
    assert_eq!(got, Totals::of(&after), "records after the churn");

    // ... and a reset empties every metric but the current mode.
    let mode = s.mode.current;
    assert!(matches!(mode, Some(Mode(id)) if u64::from(id) < MODES));
    m.reset();
    let s = m.snapshot();
    check_quiescent(&s);
    assert_eq!(
        (
            s.latency.count,
            s.throughput.total_tokens,
            s.throughput.total_requests,
            s.batch.count,
            s.queue_depth.count
        ),
        (0, 0, 0, 0, 0),
        "records survived a reset"
    );
    assert!(s.throughput.windows.iter().all(|w| w.tokens == 0));
    assert_eq!((s.batch.current, s.queue_depth.current), (None, None));
    assert_eq!((s.mode.transitions, s.mode.current), (0, mode));
    assert!(s.mode.recent.is_empty());
    Report {
        threads: threads + after.churners,
        records: recorded.latency + after.churners * after.per_churner,
        reads,
        resets,
    }
}

fn short_plan() -> Plan {
    Plan {
        persistent: 8,
        per_persistent: 10_000,
        churners: 1_000,
        per_churner: 2_000,
        wave: 8,
    }
}

type Make = fn(Config, ManualClock) -> Arc<dyn MetricsCollector>;

const STRATEGIES: [(&str, Make); 5] = [
    ("GlobalLock", |c, k| Arc::new(GlobalLock::with_clock(c, k))),
    ("FineGrained", |c, k| {
        Arc::new(FineGrained::with_clock(c, k))
    }),
    ("Atomic", |c, k| Arc::new(Atomic::with_clock(c, k))),
    ("Sharded", |c, k| Arc::new(Sharded::with_clock(c, k))),
    ("Ring", |c, k| Arc::new(Ring::with_clock(c, k))),
];

fn both_phases(make: Make, plan: &Plan) -> (Report, Report) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    let accounting = accounting_phase(&m, &clock, plan);
    let resets = reset_phase(&m, &clock, plan);
    (accounting, resets)
}

macro_rules! churn_tests {
    ($($name:ident => $index:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            both_phases(STRATEGIES[$index].1, &short_plan());
        }
    )*};
}

churn_tests! {
    global_lock => 0,
    fine_grained => 1,
    atomic => 2,
    sharded => 3,
    ring => 4,
}

/// Thread ids are reused, and with them shards: memory follows the peak
/// number of live threads, not the number that ever recorded. Alone in a
/// child process: `thread_local`'s ids are the process's, which other
/// tests' threads would take.
#[test]
fn sharded_memory_follows_live_threads_not_churn() {
    child::alone(
        module_path!(),
        "sharded_memory_follows_live_threads_not_churn",
        Duration::from_secs(300),
        || {
            let clock = ManualClock::new();
            let sharded = Arc::new(Sharded::with_clock(Config::default(), clock.clone()));
            let m: Arc<dyn MetricsCollector> = sharded.clone();
            let plan = short_plan();
            accounting_phase(&m, &clock, &plan);
            // 8 persistent + 8 per wave + the reader + this thread, with slack for
            // ids not yet released by exited threads.
            assert!(
                sharded.shards_allocated() <= 24,
                "{} shards for {} threads",
                sharded.shards_allocated(),
                plan.persistent + plan.churners
            );
        },
    );
}

#[test]
#[ignore = "long: cargo test --release --test engine churn:: -- --ignored --nocapture"]
fn long_churn_every_strategy() {
    let churners = std::env::var("CHURN_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let plan = Plan {
        persistent: 8,
        per_persistent: 2_000_000,
        churners,
        per_churner: 5_000,
        wave: 8,
    };
    for (name, make) in STRATEGIES {
        let start = std::time::Instant::now();
        let (a, r) = both_phases(make, &plan);
        println!(
            "{name}: accounting phase: {} threads, {} records of each kind checked exactly, \
             {} interval reads; reset phase: {} threads, {} records, {} resets; {:.1?}",
            a.threads,
            a.records,
            a.reads,
            r.threads,
            r.records,
            r.resets,
            start.elapsed()
        );
    }
}
