//! User code inside the collectors: `Clock` is a public trait, and every
//! strategy calls it from inside its record paths, the lock-based ones
//! while holding a lock (`GlobalLock::record_throughput` reads the clock
//! under its one mutex; `GlobalLock` and `FineGrained` read it for a mode
//! change under the mode lock). These tests drive the collectors with
//! clocks that stall or panic on a chosen call.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{
    Atomic, Clock, Config, FineGrained, GlobalLock, MetricsCollector, Mode, Ring, Sharded,
};

use crate::support::child;

type Make<C> = fn(Config, C) -> Box<dyn MetricsCollector>;

fn strategies<C: Clock>() -> [(&'static str, Make<C>); 5] {
    [
        ("GlobalLock", |c, k| Box::new(GlobalLock::with_clock(c, k))),
        ("FineGrained", |c, k| {
            Box::new(FineGrained::with_clock(c, k))
        }),
        ("Atomic", |c, k| Box::new(Atomic::with_clock(c, k))),
        ("Sharded", |c, k| Box::new(Sharded::with_clock(c, k))),
        ("Ring", |c, k| Box::new(Ring::with_clock(c, k))),
    ]
}

// ---------------------------------------------------------------------------
// A clock that holds one thread back.

/// A monotonic clock (each read returns one more than the last) that, when
/// armed, holds the next thread to read it until `release` is called (or
/// 200 ms pass, so that a lock-based strategy, whose other threads wait on
/// the lock held by the stalled thread, cannot deadlock).
#[derive(Clone, Default)]
struct GateClock(Arc<GateState>);

#[derive(Default)]
struct GateState {
    ticks: AtomicU64,
    armed: AtomicBool,
    released: AtomicBool,
}

impl GateClock {
    fn arm(&self) {
        self.0.released.store(false, Ordering::SeqCst);
        self.0.armed.store(true, Ordering::SeqCst);
    }

    fn release(&self) {
        self.0.released.store(true, Ordering::SeqCst);
    }
}

impl Clock for GateClock {
    fn now_ns(&self) -> u64 {
        if self.0.armed.swap(false, Ordering::SeqCst) {
            let deadline = Instant::now() + Duration::from_millis(200);
            while !self.0.released.load(Ordering::SeqCst) && Instant::now() < deadline {
                thread::yield_now();
            }
        }
        self.0.ticks.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Regression (fixed): two racing mode changes in `Atomic` and `Sharded`
/// took their sequence numbers with the mode word's CAS but read the clock
/// after it, so the first change could be stamped later than the second
/// and the transition log went back in time. Here the first changer's clock
/// read is held until a second thread has made its change.
#[test]
fn racing_mode_changes_are_stamped_in_sequence_order() {
    for (name, make) in strategies::<GateClock>() {
        let clock = GateClock::default();
        let m: Arc<dyn MetricsCollector> = Arc::from(make(Config::default(), clock.clone()));
        m.record_mode_transition(Mode(0));
        clock.arm();
        let first = {
            let m = Arc::clone(&m);
            thread::spawn(move || m.record_mode_transition(Mode(1)))
        };
        // Wait until the first changer is inside the clock.
        while clock.0.armed.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let second = {
            let m = Arc::clone(&m);
            thread::spawn(move || m.record_mode_transition(Mode(2)))
        };
        // For the lock-free strategies the second change completes while
        // the first is stalled; the lock-based ones wait for its lock.
        if name == "Atomic" || name == "Sharded" {
            second.join().unwrap();
            clock.release();
        } else {
            clock.release();
            second.join().unwrap();
        }
        first.join().unwrap();
        let log = m.mode().recent;
        assert_eq!(log.len(), 3, "{name}: {log:?}");
        for pair in log.windows(2) {
            assert!(pair[0].seq < pair[1].seq, "{name}: {log:?}");
            assert!(
                pair[0].at <= pair[1].at,
                "{name}: log times go back: {log:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// A clock that panics.
//
// What happens when a clock panics, for every strategy: each call site
// reads the clock before changing anything, so the call whose clock read
// panics is lost whole (a record is not counted, a reset or interval takes
// nothing), never half-applied; where it held a lock (`GlobalLock`'s
// mutex, the references' mode lock, `Atomic`'s readers' mutex) the lock is
// poisoned and every later call recovers it. Nothing else is affected:
// other threads' records all count, readers are never wedged, later calls
// from the panicking thread work.

thread_local! {
    /// Set by a thread to make its next clock read panic.
    static PANIC_ON_NEXT_READ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Arms the current thread's next clock read to panic.
fn arm() {
    PANIC_ON_NEXT_READ.with(|p| p.set(true));
}

/// A monotonic clock (1 us per read) whose next read panics on a thread
/// that called `arm`.
#[derive(Clone, Default)]
struct PanicClock(Arc<AtomicU64>);

impl Clock for PanicClock {
    fn now_ns(&self) -> u64 {
        if PANIC_ON_NEXT_READ.with(|p| p.replace(false)) {
            panic!("test clock failure");
        }
        self.0.fetch_add(1_000, Ordering::SeqCst) + 1_000
    }
}

/// Runs `f` with the clock armed; asserts that it panicked (so the call
/// does read the clock) and that the arm was used.
fn panics(what: &str, f: impl FnOnce()) {
    arm();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    assert!(result.is_err(), "{what} did not read the clock");
    assert!(!PANIC_ON_NEXT_READ.with(|p| p.get()));
}

/// Silences the expected panic messages of this test binary (the default
/// hook prints each one).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|m| *m == "test clock failure");
            if !expected {
                default(info);
            }
        }));
    });
}

/// Aborts the process if `f` takes longer than `limit`: a wedged reader or
/// writer fails the test instead of hanging CI.
fn within<R>(limit: Duration, what: &str, f: impl FnOnce() -> R) -> R {
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, what) = (Arc::clone(&done), what.to_string());
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !done.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    eprintln!("{what}: still running after {limit:?}: wedged");
                    std::process::abort();
                }
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let r = f();
    done.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();
    r
}

/// Everything but the clock readings, and the window rates taken from
/// them (the time a window covers runs to the reading's clock).
fn without_times(mut s: lockfree_metrics::Snapshot) -> lockfree_metrics::Snapshot {
    s.taken_at = Duration::ZERO;
    s.since_reset = Duration::ZERO;
    for w in &mut s.throughput.windows {
        w.covered = Duration::ZERO;
        w.tokens_per_sec = 0.0;
        w.requests_per_sec = 0.0;
    }
    s
}

/// One thread: every call that reads the clock panics once, and the
/// collector is exactly as before each time; later calls work (through the
/// poisoned locks) and count exactly.
#[test]
fn a_panicking_clock_changes_nothing_and_poison_is_recovered() {
    quiet_panics();
    for (name, make) in strategies::<PanicClock>() {
        let m = make(Config::default(), PanicClock::default());
        m.record_mode_transition(Mode(1));
        m.record_throughput(10, 1);
        m.record_latency(Duration::from_millis(3));
        m.record_batch_size(4);
        m.record_queue_depth(2);
        let before = without_times(m.snapshot());

        panics("record_mode_transition", || {
            m.record_mode_transition(Mode(2))
        });
        assert_eq!(without_times(m.snapshot()), before, "{name}: mode change");
        // Not half-applied: the current mode is still 1, so recording it
        // is not a change.
        m.record_mode_transition(Mode(1));
        assert_eq!(m.mode().transitions, 1, "{name}");

        panics("record_throughput", || m.record_throughput(5, 5));
        assert_eq!(without_times(m.snapshot()), before, "{name}: throughput");
        panics("snapshot", || {
            m.snapshot();
        });
        panics("take_interval", || {
            m.take_interval();
        });
        assert_eq!(without_times(m.snapshot()), before, "{name}: interval");
        panics("reset", || m.reset());
        assert_eq!(without_times(m.snapshot()), before, "{name}: reset");

        // Later calls work and count.
        m.record_throughput(5, 5);
        m.record_mode_transition(Mode(2));
        let s = m.take_interval();
        assert_eq!(
            (
                s.throughput.total_tokens,
                s.latency.count,
                s.mode.transitions
            ),
            (15, 1, 2),
            "{name}"
        );
        assert_eq!(s.mode.current, Some(Mode(2)), "{name}");
        assert_eq!(m.snapshot().latency.count, 0, "{name}");
    }
}

/// Several threads: writers record known amounts while a victim thread
/// makes every clock-reading call panic in turn (between normal records of
/// its own) and a reader takes snapshots and intervals. Nothing but the
/// victim's panicking calls is lost, nobody is wedged, and the intervals
/// add up exactly.
#[test]
fn a_panicking_clock_loses_no_other_threads_data() {
    quiet_panics();
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 5_000;
    const VICTIM_ROUNDS: u64 = 300;
    for (name, make) in strategies::<PanicClock>() {
        let m: Arc<dyn MetricsCollector> =
            Arc::from(make(Config::default(), PanicClock::default()));
        within(Duration::from_secs(120), name, || {
            let done = Arc::new(AtomicBool::new(false));
            let reader = {
                let (m, done) = (Arc::clone(&m), Arc::clone(&done));
                thread::spawn(move || {
                    let (mut latency, mut tokens, mut batches, mut reads) = (0, 0, 0, 0);
                    while !done.load(Ordering::SeqCst) {
                        let s = m.take_interval();
                        latency += s.latency.count;
                        tokens += s.throughput.total_tokens;
                        batches += s.batch.count;
                        m.snapshot();
                        reads += 1;
                    }
                    (latency, tokens, batches, reads)
                })
            };
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let m = Arc::clone(&m);
                    thread::spawn(move || {
                        for i in 0..PER_WRITER {
                            m.record_latency(Duration::from_micros(1 + i % 1_000));
                            m.record_throughput(2, 1);
                            m.record_batch_size(w as usize);
                            m.record_queue_depth(1);
                            m.record_mode_transition(Mode((i % 2) as u16));
                        }
                    })
                })
                .collect();
            let victim = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for round in 0..VICTIM_ROUNDS {
                        m.record_latency(Duration::from_millis(1));
                        m.record_throughput(7, 0);
                        m.record_batch_size(9);
                        panics("record_throughput", || m.record_throughput(1_000, 1_000));
                        // A mode nobody else records: always a change.
                        let mode = Mode(100 + (round % 100) as u16);
                        panics("record_mode_transition", || m.record_mode_transition(mode));
                        panics("snapshot", || {
                            m.snapshot();
                        });
                        panics("take_interval", || {
                            m.take_interval();
                        });
                        panics("reset", || m.reset());
                    }
                })
            };
            for w in writers {
                w.join().unwrap();
            }
            victim.join().unwrap();
            done.store(true, Ordering::SeqCst);
            let (mut latency, mut tokens, mut batches, reads) = reader.join().unwrap();
            let last = m.snapshot();
            latency += last.latency.count;
            tokens += last.throughput.total_tokens;
            batches += last.batch.count;
            let n = WRITERS * PER_WRITER;
            assert!(reads > 0, "{name}");
            assert_eq!(latency, n + VICTIM_ROUNDS, "{name}: latency");
            assert_eq!(tokens, 2 * n + 7 * VICTIM_ROUNDS, "{name}: tokens");
            assert_eq!(batches, n + VICTIM_ROUNDS, "{name}: batches");
            // No panicking mode change took effect.
            assert!(
                m.mode().recent.iter().all(|t| t.to.0 < 100),
                "{name}: {:?}",
                m.mode()
            );
        });
    }
}

/// Threads that record and then panic (in user code, owning a shard in
/// `Sharded`) lose nothing; the threads that take over their ids (and
/// shards) record normally, and `Sharded` allocates no shard per panic.
/// Alone in a child process: `thread_local`'s ids are the process's, which
/// other tests' threads would take.
#[test]
fn threads_that_panic_after_recording_lose_nothing() {
    child::alone(
        module_path!(),
        "threads_that_panic_after_recording_lose_nothing",
        Duration::from_secs(120),
        || {
            quiet_panics();
            const THREADS: u64 = 64;
            const PER_THREAD: u64 = 500;
            for (name, make) in strategies::<PanicClock>() {
                let m: Arc<dyn MetricsCollector> =
                    Arc::from(make(Config::default(), PanicClock::default()));
                for wave in 0..THREADS / 4 {
                    let threads: Vec<_> = (0..4)
                        .map(|t| {
                            let m = Arc::clone(&m);
                            thread::spawn(move || {
                                for i in 0..PER_THREAD {
                                    m.record_latency(Duration::from_micros(i + 1));
                                    m.record_throughput(1, 1);
                                    m.record_batch_size(1);
                                }
                                if (wave + t) % 2 == 0 {
                                    // In user code, not inside the library.
                                    std::panic::panic_any("test clock failure");
                                }
                            })
                        })
                        .collect();
                    for t in threads {
                        let _ = t.join();
                    }
                }
                let s = m.snapshot();
                let n = THREADS * PER_THREAD;
                assert_eq!(
                    (s.latency.count, s.throughput.total_tokens, s.batch.count),
                    (n, n, n),
                    "{name}"
                );
            }
            let m = Arc::new(Sharded::with_clock(
                Config::default(),
                PanicClock::default(),
            ));
            for _ in 0..50 {
                let m = Arc::clone(&m);
                let _ = thread::spawn(move || {
                    m.record_latency(Duration::from_micros(1));
                    std::panic::panic_any("test clock failure");
                })
                .join();
            }
            assert_eq!(m.snapshot().latency.count, 50);
            assert!(m.shards_allocated() <= 4, "{} shards", m.shards_allocated());
        },
    );
}
