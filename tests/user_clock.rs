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
    Atomic, Clock, Config, FineGrained, GlobalLock, MetricsCollector, Mode, Sharded,
};

type Make<C> = fn(Config, C) -> Box<dyn MetricsCollector>;

fn strategies<C: Clock>() -> [(&'static str, Make<C>); 4] {
    [
        ("GlobalLock", |c, k| Box::new(GlobalLock::with_clock(c, k))),
        ("FineGrained", |c, k| Box::new(FineGrained::with_clock(c, k))),
        ("Atomic", |c, k| Box::new(Atomic::with_clock(c, k))),
        ("Sharded", |c, k| Box::new(Sharded::with_clock(c, k))),
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
            assert!(pair[0].at <= pair[1].at, "{name}: log times go back: {log:?}");
        }
    }
}
