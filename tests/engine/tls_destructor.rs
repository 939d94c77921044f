//! Records made from thread-local destructors.
//!
//! A metrics library is called from drop paths (guards, connections,
//! pools), and some of those drops run as a thread exits, inside a
//! `thread_local!` destructor. `Ring` finds its lanes through a
//! `thread_local!` of its own, retired by its destructor, after which a
//! record goes to the collector's `late` queue. `Sharded` finds a thread's shard through
//! `thread_local::ThreadLocal`, whose thread id lives in thread-locals of
//! its own, so such a record may run before or after `thread_local`'s
//! per-thread state is destroyed. Either way it must count, and it must
//! never abort ("fatal runtime error: thread local panicked on drop").
//!
//! The cases, by when the user's thread-local is first touched (thread-local
//! destructors run in reverse order of first use):
//!
//! - `before`: before the thread's first record, so its destructor runs
//!   after `thread_local`'s own;
//! - `after`: after the thread's first record, so its destructor runs first;
//! - `only`: the thread's very first record is made inside the destructor.
//!
//! An abort takes the whole test binary with it, so each case runs in a
//! child process: the parent re-runs this binary's `child` test with
//! `TLS_DESTRUCTOR_CASE` set, checks its exit status, and checks the counts
//! it prints against the records made. `destructors_run_last_in_first_out`
//! checks the destructor order the fix relies on.

use std::{
    sync::{
        atomic::{AtomicU16, Ordering},
        Barrier, Mutex, OnceLock,
    },
    thread,
    time::Duration,
};

use lockfree_metrics::{Config, MetricsCollector, Mode, Ring, Sharded};

use crate::support::child;

/// Selects the case a child runs.
const CASE_VAR: &str = "TLS_DESTRUCTOR_CASE";

/// Threads alive at once; the rounds run one after another, so later
/// rounds reuse the ids (and, when dying, the spare shards) of earlier ones.
const THREADS: usize = 4;
const ROUNDS: usize = 3;

/// Each destructor records this many times (each of all five kinds).
const IN_DESTRUCTOR: u64 = 3;

/// Selects the strategy a child records into: `ring`, or `Sharded`.
const STRATEGY_VAR: &str = "TLS_DESTRUCTOR_STRATEGY";

fn ring_selected() -> bool {
    std::env::var(STRATEGY_VAR).as_deref() == Ok("ring")
}

fn sharded() -> &'static Sharded {
    static METRICS: OnceLock<Sharded> = OnceLock::new();
    METRICS.get_or_init(|| Sharded::new(Config::default()))
}

fn ring() -> &'static Ring {
    static METRICS: OnceLock<Ring> = OnceLock::new();
    METRICS.get_or_init(|| Ring::new(Config::default()))
}

/// The collector every thread records into.
fn metrics() -> &'static dyn MetricsCollector {
    if ring_selected() {
        ring()
    } else {
        sharded()
    }
}

/// One record of each kind; every mode is new, so every mode record is a
/// transition.
fn record_all() {
    static NEXT_MODE: AtomicU16 = AtomicU16::new(1);
    let m = metrics();
    m.record_latency(Duration::from_micros(5));
    m.record_throughput(7, 1);
    m.record_batch_size(3);
    m.record_queue_depth(5);
    // Relaxed: only uniqueness matters.
    m.record_mode_transition(Mode(NEXT_MODE.fetch_add(1, Ordering::Relaxed)));
}

/// Holds the threads of a round together, so their destructors overlap.
static BARRIER: OnceLock<Barrier> = OnceLock::new();

/// A user's thread-local whose destructor records.
struct RecordOnDrop;

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        BARRIER.get().expect("set before spawning").wait();
        for _ in 0..IN_DESTRUCTOR {
            record_all();
        }
    }
}

thread_local! {
    static RECORDER: RecordOnDrop = const { RecordOnDrop };
}

fn touch_recorder() {
    RECORDER.with(|_| ());
}

/// Runs `case` in this process (in a child) and prints the final counts.
fn run_case(case: &str) {
    BARRIER.set(Barrier::new(THREADS)).unwrap();
    for _ in 0..ROUNDS {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| match case {
                "before" => thread::spawn(|| {
                    touch_recorder();
                    record_all();
                    // All alive at once: `THREADS` ids, so `THREADS` live
                    // shards, and any shard beyond them is a spare.
                    BARRIER.get().expect("set before spawning").wait();
                }),
                "after" => thread::spawn(|| {
                    record_all();
                    touch_recorder();
                }),
                "only" => thread::spawn(touch_recorder),
                other => panic!("unknown case {other:?}"),
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let m = metrics();
    let s = m.snapshot();
    println!(
        "COUNTS latency={} tokens={} requests={} batch={} queue={} transitions={} recent={} shards={} late={}",
        s.latency.count,
        s.throughput.total_tokens,
        s.throughput.total_requests,
        s.batch.count,
        s.queue_depth.count,
        s.mode.transitions,
        s.mode.recent.len(),
        sharded().shards_allocated(),
        ring().late_records(),
    );
}

/// The child's half: does nothing unless the parent selected a case.
#[test]
fn child() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
    }
}

/// The parent's half: runs `case` in a child and checks that it exited
/// cleanly and counted every record.
fn check(case: &str, in_life: u64) {
    check_strategy("sharded", case, in_life);
}

fn check_strategy(strategy: &str, case: &str, in_life: u64) {
    let line = child::reported(
        child::rerun(&child::test_path(module_path!(), "child"))
            .env(CASE_VAR, case)
            .env(STRATEGY_VAR, strategy),
        "COUNTS ",
        &format!("case {case}"),
    );
    let field = |name: &str| -> u64 {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("case {case}: no {name} in {line:?}"))
    };
    let records = (THREADS * ROUNDS) as u64 * (in_life + IN_DESTRUCTOR);
    let keep = Config::default().transition_log() as u64;
    for (name, want) in [
        ("latency", records),
        ("tokens", 7 * records),
        ("requests", records),
        ("batch", records),
        ("queue", records),
        ("transitions", records),
        ("recent", records.min(keep)),
    ] {
        assert_eq!(field(name), want, "case {case}: {name} in {line:?}");
    }
    if strategy == "ring" {
        // Records made after the thread's lanes were retired must not reach
        // them (a reader may have recycled them for another thread): they
        // go to the `late` queue, one message each of the four non-mode
        // kinds; before that, none do.
        let late = if case == "before" {
            (THREADS * ROUNDS) as u64 * IN_DESTRUCTOR * 4
        } else {
            0
        };
        assert_eq!(field("late"), late, "case {case}: late records in {line:?}");
    } else if case == "before" {
        // Records made after `thread_local` may have released a thread's id
        // must not reach that thread's shard (another thread may own it
        // now): they go to spare shards, beyond the live threads' own.
        assert!(
            field("shards") > THREADS as u64,
            "case {case}: late records reached the threads' own shards: {line:?}"
        );
    }
    eprintln!("case {case}: {line}");
}

/// The user's thread-local is first touched before the thread's first
/// record, so its destructor runs after `thread_local`'s own.
#[test]
fn destructor_runs_after_thread_local_guard() {
    check("before", 1);
}

/// First touched after the thread's first record: its destructor runs
/// while the thread's shard lookup still works.
#[test]
fn destructor_runs_before_thread_local_guard() {
    check("after", 1);
}

/// The thread's first record is made inside a destructor.
#[test]
fn first_record_in_destructor() {
    check("only", 0);
}

/// `Ring`, destructor after its lanes' retirement: the `late` queue.
#[test]
fn ring_destructor_runs_after_lane_retired() {
    check_strategy("ring", "before", 1);
}

/// `Ring`, destructor before the retirement: the thread's own lane.
#[test]
fn ring_destructor_runs_before_lane_retired() {
    check_strategy("ring", "after", 1);
}

/// `Ring`, the thread's first record made inside a destructor.
#[test]
fn ring_first_record_in_destructor() {
    check_strategy("ring", "only", 0);
}

/// The order the map's soundness rests on (see `src/lockfree/shard_map.rs`):
/// thread-local destructors run last-registered first, including one
/// registered while destructors run (its first use inside another
/// destructor), which runs before those registered earlier.
#[test]
fn destructors_run_last_in_first_out() {
    static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    struct Named(&'static str);
    impl Drop for Named {
        fn drop(&mut self) {
            ORDER.lock().unwrap().push(self.0);
            if self.0 == "second" {
                THIRD.with(|_| ());
            }
        }
    }
    thread_local! {
        static FIRST: Named = const { Named("first") };
        static SECOND: Named = const { Named("second") };
        static THIRD: Named = const { Named("third") };
    }
    thread::spawn(|| {
        FIRST.with(|_| ());
        SECOND.with(|_| ());
    })
    .join()
    .unwrap();
    assert_eq!(*ORDER.lock().unwrap(), ["second", "third", "first"]);
}
