//! Exact accounting under thread churn, for every strategy: persistent
//! writers, short-lived threads that start, record and exit (thousands of
//! them, so thread ids and shards are reused), and a reader that snapshots
//! and takes intervals throughout. The intervals plus the final snapshot
//! must add up to exactly what was recorded, and every snapshot must be
//! consistent.
//!
//! `reset()` is `take_interval()` without the result, so the intervals
//! stand for resets too. A long run: `cargo test --release --test churn --
//! --ignored` (sized by `CHURN_THREADS`, default 20,000 short-lived threads).

#[path = "common/invariants.rs"]
mod invariants;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use invariants::{check, check_quiescent};
use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Mode, Sharded, Snapshot,
};

struct Plan {
    persistent: u64,
    per_persistent: u64,
    churners: u64,
    per_churner: u64,
    /// Short-lived threads alive at once.
    wave: u64,
}

/// What one thread records: `n` records of every kind. Batch sizes are the
/// thread's tag, so the distribution shows whose records were counted.
fn record(m: &dyn MetricsCollector, tag: u64, n: u64) {
    for i in 0..n {
        m.record_latency(Duration::from_micros(1 + (i * 37 + tag) % 20_000));
        m.record_throughput(3, 1);
        m.record_batch_size((tag % 16) as usize);
        m.record_queue_depth((i % 50) as usize);
        if i % 64 == 0 {
            m.record_mode_transition(Mode((tag % 3) as u16));
        }
    }
}

#[derive(Default, Debug, PartialEq)]
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
}

fn churn(m: Arc<dyn MetricsCollector>, clock: ManualClock, plan: &Plan) -> (Totals, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (m, done) = (Arc::clone(&m), Arc::clone(&done));
        thread::spawn(move || {
            let mut totals = Totals::default();
            let mut reads = 0;
            while !done.load(Ordering::Acquire) {
                check(&m.snapshot());
                let interval = m.take_interval();
                check(&interval);
                totals.add(&interval);
                clock.advance(Duration::from_millis(7));
                reads += 1;
            }
            (totals, reads)
        })
    };
    let persistent: Vec<_> = (0..plan.persistent)
        .map(|t| {
            let m = Arc::clone(&m);
            let n = plan.per_persistent;
            thread::spawn(move || record(&*m, 1_000 + t, n))
        })
        .collect();
    let mut next = 0;
    while next < plan.churners {
        let wave: Vec<_> = (next..(next + plan.wave).min(plan.churners))
            .map(|t| {
                let m = Arc::clone(&m);
                let n = plan.per_churner;
                thread::spawn(move || record(&*m, t, n))
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
    done.store(true, Ordering::Release);
    let (mut totals, reads) = reader.join().unwrap();
    let last = m.snapshot();
    check_quiescent(&last);
    totals.add(&last);

    let mut expected = Totals::default();
    let records = plan.persistent * plan.per_persistent + plan.churners * plan.per_churner;
    expected.latency = records;
    expected.tokens = 3 * records;
    expected.requests = records;
    expected.queue = records;
    for t in 0..plan.persistent {
        *expected.batch.entry((1_000 + t) % 16).or_default() += plan.per_persistent;
    }
    for t in 0..plan.churners {
        *expected.batch.entry(t % 16).or_default() += plan.per_churner;
    }
    // Transitions depend on the interleaving; every one ever made is
    // numbered, so the last number is the total.
    expected.transitions = last
        .mode
        .recent
        .last()
        .map_or(totals.transitions, |t| t.seq);
    assert!(reads > 0, "the reader never ran during the churn");
    assert_eq!(totals, expected, "after {reads} reads");
    (totals, reads)
}

fn short_plan() -> Plan {
    Plan {
        persistent: 4,
        per_persistent: 50_000,
        churners: 400,
        per_churner: 1_000,
        wave: 4,
    }
}

macro_rules! churn_tests {
    ($($name:ident => $make:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            let clock = ManualClock::new();
            let m: Arc<dyn MetricsCollector> = Arc::new($make(Config::default(), clock.clone()));
            churn(m, clock, &short_plan());
        }
    )*};
}

churn_tests! {
    global_lock => GlobalLock::with_clock,
    fine_grained => FineGrained::with_clock,
    atomic => Atomic::with_clock,
    sharded => Sharded::with_clock,
}

/// Thread ids are reused, and with them shards: memory follows the peak
/// number of live threads, not the number that ever recorded.
#[test]
fn sharded_memory_follows_live_threads_not_churn() {
    let clock = ManualClock::new();
    let m = Arc::new(Sharded::with_clock(Config::default(), clock.clone()));
    churn(m.clone(), clock, &short_plan());
    // 4 persistent + 4 per wave + the reader + this thread, with slack for
    // ids not yet released by exited threads.
    assert!(
        m.shards_allocated() <= 16,
        "{} shards for 400 short-lived threads",
        m.shards_allocated()
    );
}

#[test]
#[ignore = "long: run with --release --ignored"]
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
    type Make = fn(ManualClock) -> Arc<dyn MetricsCollector>;
    let makers: [(&str, Make); 4] = [
        ("GlobalLock", |c| {
            Arc::new(GlobalLock::with_clock(Config::default(), c))
        }),
        ("FineGrained", |c| {
            Arc::new(FineGrained::with_clock(Config::default(), c))
        }),
        ("Atomic", |c| {
            Arc::new(Atomic::with_clock(Config::default(), c))
        }),
        ("Sharded", |c| {
            Arc::new(Sharded::with_clock(Config::default(), c))
        }),
    ];
    for (name, make) in makers {
        let clock = ManualClock::new();
        let start = std::time::Instant::now();
        let (totals, reads) = churn(make(clock.clone()), clock, &plan);
        println!(
            "{name}: {} records of each kind checked, {} short-lived threads, {reads} interval reads, {:?}",
            totals.latency,
            plan.churners,
            start.elapsed()
        );
    }
}
