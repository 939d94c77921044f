//! `Ring`'s own claims, beyond the conformance suite:
//!
//! - **Intervals exact per record** (`intervals_are_exact_per_record`):
//!   while writers record, consecutive `take_interval`s split *records*,
//!   never one record's parts: in every interval `clamped <= count`, the
//!   latency mean is exactly the mean of that interval's records (known
//!   from `count` and `clamped`, since each writer's two values are fixed),
//!   tokens are exactly `TOKENS` per request, and the windows (the clock
//!   stands still, so every window holds the one slot) equal the totals.
//!   `Ring` and the lock-based strategies pass; the lock-free `Atomic` and
//!   `Sharded` split records at a reset by design (the contract says so),
//!   and `lock_free_strategies_split_records` (ignored: it depends on the
//!   interleaving) shows them failing the same check.
//! - **A stalled reader never blocks a writer**, and **a reader never
//!   waits for a parked writer** (`stalled_reader_and_parked_writer`): a
//!   reader stopped inside `take_interval` (in the clock, under the
//!   aggregator's lock) while a writer overflows its ring many times over;
//!   the writer finishes, parks, and the next reading counts every record,
//!   those folded into its overflow batch included.
//! - **Bounded memory under churn** (`lanes_follow_live_threads`): 5,000
//!   short-lived threads, with and without a concurrent reader, allocate a
//!   bounded number of lanes.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc, Barrier, Condvar, Mutex,
    },
    thread::{self, ThreadId},
    time::Duration,
};

use invariants::check;
use lockfree_metrics::{
    Atomic, Clock, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Ring, Sharded,
    Snapshot,
};

use crate::support::invariants;

/// Tokens per throughput record.
const TOKENS: u64 = 7;
/// The unclamped latency every writer records (1 ms).
const NORMAL_NS: u64 = 1_000_000;

type Make = fn(Config, ManualClock) -> Arc<dyn MetricsCollector>;

/// What a run of intervals added up to, and the first per-record
/// violation seen, if any.
#[derive(Debug, Default)]
struct Run {
    intervals: u64,
    latency: u64,
    clamped: u64,
    tokens: u64,
    requests: u64,
    violations: Vec<String>,
    /// (latency records, clamped, tokens, requests) made by the writers.
    made: (u64, u64, u64, u64),
}

impl Run {
    /// The intervals partition the records, counter by counter: every
    /// strategy's claim.
    fn assert_partition(&self, name: &str) {
        assert_eq!(
            (self.latency, self.clamped, self.tokens, self.requests),
            self.made,
            "{name}: intervals do not add up to the records made"
        );
    }
}

/// Checks one interval's per-record claims; returns what is wrong.
fn per_record_violations(s: &Snapshot, highest_ns: u64) -> Vec<String> {
    let mut bad = Vec::new();
    let l = &s.latency;
    if l.clamped > l.count {
        bad.push(format!("clamped {} > count {}", l.clamped, l.count));
    } else if l.count > 0 {
        // Each clamped record adds `highest_ns`, each other `NORMAL_NS`.
        let sum = u128::from(l.clamped) * u128::from(highest_ns)
            + u128::from(l.count - l.clamped) * u128::from(NORMAL_NS);
        let count = u128::from(l.count);
        let mean = ((sum + count / 2) / count).clamp(l.min.as_nanos(), l.max.as_nanos());
        if l.mean.as_nanos() != mean {
            bad.push(format!(
                "mean {} ns, but {} records of which {} clamped have mean {mean} ns",
                l.mean.as_nanos(),
                l.count,
                l.clamped
            ));
        }
    }
    let t = &s.throughput;
    if t.total_tokens != TOKENS * t.total_requests {
        bad.push(format!(
            "{} tokens for {} requests of {TOKENS}",
            t.total_tokens, t.total_requests
        ));
    }
    for w in &t.windows {
        if (w.tokens, w.requests) != (t.total_tokens, t.total_requests) {
            bad.push(format!(
                "window {:?} holds ({}, {}), totals ({}, {})",
                w.window, w.tokens, w.requests, t.total_tokens, t.total_requests
            ));
        }
    }
    bad
}

/// Two writers record latencies (every third clamped) and throughput
/// records until the main thread has taken `intervals` intervals; the
/// clock stands still.
fn run_intervals(make: Make, intervals: u64) -> Run {
    let config = Config::default();
    let highest = config.latency_highest();
    let highest_ns = highest.as_nanos() as u64;
    let m = make(config, ManualClock::new());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (m, stop, start) = (Arc::clone(&m), Arc::clone(&stop), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let mut i = 0_u64;
                while !stop.load(Ordering::Acquire) {
                    if i.is_multiple_of(3) {
                        m.record_latency(highest + Duration::from_secs(1));
                    } else {
                        m.record_latency_ns(NORMAL_NS);
                    }
                    m.record_throughput(TOKENS, 1);
                    i += 1;
                }
                i
            })
        })
        .collect();
    let mut run = Run::default();
    let add = |s: &Snapshot, run: &mut Run| {
        check(s);
        run.intervals += 1;
        run.latency += s.latency.count;
        run.clamped += s.latency.clamped;
        run.tokens += s.throughput.total_tokens;
        run.requests += s.throughput.total_requests;
        for v in per_record_violations(s, highest_ns) {
            if run.violations.len() < 5 {
                run.violations
                    .push(format!("interval {}: {v}", run.intervals));
            }
        }
    };
    start.wait();
    for _ in 0..intervals {
        let s = m.take_interval();
        add(&s, &mut run);
        // Let the writers run between intervals.
        thread::sleep(Duration::from_micros(50));
    }
    stop.store(true, Ordering::Release);
    let counts: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let last = m.take_interval();
    add(&last, &mut run);
    let n: u64 = counts.iter().sum();
    let clamped: u64 = counts.iter().map(|c| c.div_ceil(3)).sum();
    run.made = (n, clamped, TOKENS * n, n);
    run
}

#[test]
fn intervals_are_exact_per_record() {
    let strategies: [(&str, Make); 3] = [
        ("Ring", |c, k| Arc::new(Ring::with_clock(c, k))),
        ("GlobalLock", |c, k| Arc::new(GlobalLock::with_clock(c, k))),
        ("FineGrained", |c, k| {
            Arc::new(FineGrained::with_clock(c, k))
        }),
    ];
    for (name, make) in strategies {
        let run = run_intervals(make, 300);
        assert!(run.latency > 0, "{name}: nothing recorded");
        assert!(
            run.violations.is_empty(),
            "{name}: a record split across intervals: {:#?}",
            run.violations
        );
        run.assert_partition(name);
    }
}

/// A small ring (capacity 4) takes the overflow paths (a writer draining
/// its own ring under `try_lock`, or folding into its batch while the
/// reader holds the lock) on most records: still exact per record.
#[test]
fn intervals_are_exact_per_record_through_overflow() {
    let run = run_intervals(|c, k| Arc::new(Ring::with_capacity(c, k, 4)), 300);
    assert!(
        run.violations.is_empty(),
        "a record split across intervals: {:#?}",
        run.violations
    );
    run.assert_partition("Ring (capacity 4)");
}

/// The same check on the lock-free strategies that do not claim it: each
/// run should find records split across intervals. Ignored: whether a
/// reset lands inside a record depends on the interleaving (on the
/// development machine every run found some; see `papers/ring.md`).
#[test]
#[ignore = "a demonstration: cargo test --release --test engine ring:: -- --ignored --nocapture"]
fn lock_free_strategies_split_records() {
    let strategies: [(&str, Make); 2] = [
        ("Atomic", |c, k| Arc::new(Atomic::with_clock(c, k))),
        ("Sharded", |c, k| Arc::new(Sharded::with_clock(c, k))),
    ];
    for (name, make) in strategies {
        let run = run_intervals(make, 3_000);
        eprintln!(
            "{name}: {} intervals, split records seen: {:#?}",
            run.intervals, run.violations
        );
        run.assert_partition(name);
        assert!(
            !run.violations.is_empty(),
            "{name}: no record split in {} intervals",
            run.intervals
        );
    }
}

/// A manual clock that, once armed, stops the first thread that reads it
/// (other than the arming one) until opened.
#[derive(Clone, Debug, Default)]
struct GateClock {
    inner: ManualClock,
    gate: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    /// (armed for this thread, stopped there now, open)
    state: Mutex<(Option<ThreadId>, bool, bool)>,
    changed: Condvar,
}

impl GateClock {
    fn arm_for(&self, thread: ThreadId) {
        *self.gate.state.lock().unwrap() = (Some(thread), false, false);
    }

    fn wait_until_stopped(&self) {
        let mut s = self.gate.state.lock().unwrap();
        while !s.1 {
            let (next, timeout) = self
                .gate
                .changed
                .wait_timeout(s, Duration::from_secs(10))
                .unwrap();
            assert!(!timeout.timed_out(), "the reader never reached the clock");
            s = next;
        }
    }

    fn open(&self) {
        let mut s = self.gate.state.lock().unwrap();
        s.2 = true;
        self.gate.changed.notify_all();
    }
}

impl Clock for GateClock {
    fn now_ns(&self) -> u64 {
        let mut s = self.gate.state.lock().unwrap();
        if s.0 == Some(thread::current().id()) && !s.2 {
            s.1 = true;
            self.gate.changed.notify_all();
            while !s.2 {
                s = self.gate.changed.wait(s).unwrap();
            }
        }
        self.inner.now_ns()
    }
}

#[test]
fn stalled_reader_and_parked_writer() {
    const CAPACITY: usize = 4;
    const RECORDS: u64 = 1_000;
    let clock = GateClock::default();
    let m = Arc::new(Ring::with_capacity(
        Config::default(),
        clock.clone(),
        CAPACITY,
    ));
    // The reader stops in the clock inside `take_interval`, holding the
    // aggregator's lock, after draining.
    let reader = {
        let (m, clock) = (Arc::clone(&m), clock.clone());
        thread::spawn(move || {
            clock.arm_for(thread::current().id());
            m.take_interval()
        })
    };
    clock.wait_until_stopped();
    // A writer records far more than its ring holds, finishes without
    // waiting for the stalled reader, and parks (alive: its lane is not
    // retired).
    let (park_tx, park_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let writer = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            for i in 0..RECORDS {
                m.record_latency_ns(1_000 + i);
                m.record_throughput(TOKENS, 1);
                m.record_queue_depth(i as usize);
            }
            done_tx.send(()).unwrap();
            // Parked until the test ends.
            let _ = park_rx.recv();
        })
    };
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a writer waited for the stalled reader");
    let (_, batches, _) = m.allocations();
    assert!(batches > 0, "the writer never overflowed into a batch");
    clock.open();
    let first = reader.join().unwrap();
    // The parked writer's records, ring and batch, are all read: no reader
    // waits for it, and none is missing.
    let s = m.snapshot();
    let got = first.latency.count + s.latency.count;
    assert_eq!(got, RECORDS, "records of a parked writer missing");
    assert_eq!(
        first.throughput.total_tokens + s.throughput.total_tokens,
        TOKENS * RECORDS
    );
    assert_eq!(first.queue_depth.count + s.queue_depth.count, RECORDS);
    // The latest depth is the writer's last one.
    assert_eq!(s.queue_depth.current, Some(RECORDS - 1));
    drop(park_tx);
    writer.join().unwrap();
}

/// 5,000 short-lived threads: one at a time with no reader (each new
/// thread claims the lane the last one retired), then eight at a time
/// with a reader taking intervals (which removes drained lanes of exited
/// threads). The lanes alive stay near the threads alive at once, and
/// every record is counted.
#[test]
fn lanes_follow_live_threads() {
    const THREADS: u64 = 5_000;
    let m = Arc::new(Ring::with_clock(Config::default(), ManualClock::new()));
    for _ in 0..THREADS / 2 {
        let m = Arc::clone(&m);
        thread::spawn(move || m.record_latency_ns(5))
            .join()
            .unwrap();
    }
    let (lanes, _, _) = m.allocations();
    assert!(lanes <= 2, "{lanes} lanes for threads one at a time");
    let done = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let reader = {
        let (m, done, counted) = (Arc::clone(&m), Arc::clone(&done), Arc::clone(&counted));
        thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let s = m.take_interval();
                counted.fetch_add(s.latency.count, Ordering::Relaxed);
                thread::sleep(Duration::from_micros(200));
            }
        })
    };
    for _ in 0..THREADS / 2 / 8 {
        let wave: Vec<_> = (0..8)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || m.record_latency_ns(5))
            })
            .collect();
        for t in wave {
            t.join().unwrap();
        }
    }
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    let total = counted.load(Ordering::Relaxed) + m.take_interval().latency.count;
    assert_eq!(total, THREADS / 2 + THREADS / 2 / 8 * 8);
    let (lanes, batches, freed) = m.allocations();
    // The reader removes drained lanes of exited threads (new threads then
    // allocate), or new threads claim them first: either way the lanes
    // alive stay near the eight threads alive at once, plus at most the 64
    // retired lanes queued for claiming.
    let alive = lanes as u64 - freed;
    assert!(
        alive <= 8 + 64,
        "{alive} lanes alive ({lanes} made, {freed} freed) for 5,000 threads, 8 at a time"
    );
    // Phase one fills the reused lane's ring (2,500 records, nobody
    // reading): its overflow batches, at most four per lane.
    assert!(batches <= 4 * lanes, "{batches} batches for {lanes} lanes");
}
