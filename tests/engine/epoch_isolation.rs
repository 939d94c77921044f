//! A `Sharded` reading, however long it takes, never holds back the
//! reclamation of anyone else's garbage in crossbeam-epoch's process-global
//! collector: its reset points live in a collector of its own.
//!
//! A clock that blocks makes a snapshot stop halfway, pinned; meanwhile
//! this thread defers a destructor on the global collector and must see it
//! run. With the reset points on the global collector, the blocked reader's
//! pin keeps the global epoch from advancing and the destructor never runs.
//! The test runs alone in a child process (`support::child::alone`): any
//! other test pinning the global collector meanwhile would hold it back.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{Clock, Config, MetricsCollector, Sharded};

use crate::support::child;

/// Blocks in `now_ns` once armed, until released; tells `entered` when it
/// blocks.
struct GateClock {
    armed: AtomicBool,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Clock for GateClock {
    fn now_ns(&self) -> u64 {
        if self.armed.swap(false, Ordering::SeqCst) {
            if let Some(entered) = self.entered.lock().unwrap().take() {
                entered.send(()).unwrap();
            }
            if let Some(release) = self.release.lock().unwrap().take() {
                // Bounded, so that a failing test cannot hang.
                let _ = release.recv_timeout(Duration::from_secs(10));
            }
        }
        1
    }
}

struct Shared(Arc<GateClock>);

impl Clock for Shared {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
}

#[test]
fn a_blocked_reading_does_not_hold_back_global_garbage() {
    child::alone(
        module_path!(),
        "a_blocked_reading_does_not_hold_back_global_garbage",
        Duration::from_secs(60),
        || {
            let (entered_tx, entered_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel();
            let clock = Arc::new(GateClock {
                armed: AtomicBool::new(false),
                entered: Mutex::new(Some(entered_tx)),
                release: Mutex::new(Some(release_rx)),
            });
            let m = Arc::new(Sharded::with_clock(
                Config::default(),
                Shared(Arc::clone(&clock)),
            ));
            m.record_latency(Duration::from_millis(1));
            clock.armed.store(true, Ordering::SeqCst);
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.snapshot().latency.count)
            };
            entered_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the snapshot reached the clock");

            // The reader is now stopped inside its reading, pinned.
            let ran = Arc::new(AtomicBool::new(false));
            {
                let ran = Arc::clone(&ran);
                let guard = crossbeam_epoch::pin();
                guard.defer(move || ran.store(true, Ordering::SeqCst));
                guard.flush();
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !ran.load(Ordering::SeqCst) && Instant::now() < deadline {
                // Each pin tries to advance the global epoch and collect.
                crossbeam_epoch::pin().flush();
                thread::yield_now();
            }
            let collected = ran.load(Ordering::SeqCst);
            release_tx.send(()).unwrap();
            assert_eq!(reader.join().unwrap(), 1);
            assert!(
                collected,
                "global garbage waited for a Sharded reading: it pins the global collector"
            );
        },
    );
}
