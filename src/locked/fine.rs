//! `FineGrained`: the report's five-lock design and the reference
//! oracle for every other strategy. One mutex per metric kind, so that
//! recording one kind never waits for another; timestamps are read before
//! locking; readers copy under the lock and compute outside it; `reset`
//! takes the locks one at a time in the fixed order latency -> throughput
//! -> batch -> queue -> mode, so no two locks are ever held together and no
//! order can deadlock.
//!
//! Progress: blocking, per metric kind.

use std::time::Duration;

use crate::{
    clock::{Clock, DefaultClock},
    collector::MetricsCollector,
    config::Config,
    metric::{
        clamp_latency,
        state::{BatchState, LatencyState, ModeState, QueueState, ThroughputState},
        window::WindowSpec,
    },
    snapshot::{
        BatchSnapshot, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
        ThroughputSnapshot,
    },
    sync::{lock, AtomicU64, Mutex, Ordering},
};

/// Five mutexes, one per metric kind (the report's design; the oracle).
///
/// # Examples
///
/// ```
/// use lockfree_metrics::{Config, FineGrained, MetricsCollector, Mode};
///
/// let m = FineGrained::new(Config::default());
/// m.record_mode_transition(Mode(1));
/// m.record_mode_transition(Mode(1)); // the same mode: not a transition
/// m.record_mode_transition(Mode(2));
/// assert_eq!(m.mode().transitions, 2);
/// ```
pub struct FineGrained<C: Clock = DefaultClock> {
    config: Config,
    spec: WindowSpec,
    clock: C,
    latency: Mutex<LatencyState>,
    throughput: Mutex<ThroughputState>,
    batch: Mutex<BatchState>,
    queue: Mutex<QueueState>,
    mode: Mutex<ModeState>,
    /// Clock reading at the last reset; only feeds `since_reset`.
    reset_at_ns: AtomicU64,
}

/// The configuration, the clock and the latency count, as for
/// `GlobalLock`.
impl<C: Clock + std::fmt::Debug> std::fmt::Debug for FineGrained<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`, as in `GlobalLock`'s `Debug`.
        let latency_count = self.latency.try_lock().ok().map(|l| l.count());
        f.debug_struct("FineGrained")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("latency_count", &latency_count)
            .finish_non_exhaustive()
    }
}

impl FineGrained<DefaultClock> {
    /// A collector on the default clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, DefaultClock::new())
    }
}

impl<C: Clock> FineGrained<C> {
    /// A collector on `clock`.
    pub fn with_clock(config: Config, clock: C) -> Self {
        let spec = WindowSpec::new(&config);
        let now = clock.now_ns();
        FineGrained {
            latency: Mutex::new(LatencyState::new(&config)),
            throughput: Mutex::new(ThroughputState::new(&spec, now)),
            batch: Mutex::new(BatchState::new(&config)),
            queue: Mutex::new(QueueState::new(&config)),
            mode: Mutex::new(ModeState::new(&config)),
            reset_at_ns: AtomicU64::new(now),
            config,
            spec,
            clock,
        }
    }

    /// Resets every metric, one lock at a time in the documented order, and
    /// returns what each held; it is summarised (or freed) by the caller,
    /// outside the locks.
    fn swap_out(&self) -> Interval {
        let now = self.clock.now_ns();
        // Fresh state is allocated before its lock is taken (bound first:
        // `replace(&mut *lock(..), new(..))` would evaluate the lock first),
        // and the old state is summarised and freed after the lock is released.
        let fresh = (
            LatencyState::new(&self.config),
            ThroughputState::new(&self.spec, now),
            BatchState::new(&self.config),
            QueueState::new(&self.config),
        );
        let latency = std::mem::replace(&mut *lock(&self.latency), fresh.0);
        let throughput = std::mem::replace(&mut *lock(&self.throughput), fresh.1);
        let batch = std::mem::replace(&mut *lock(&self.batch), fresh.2);
        let queue = std::mem::replace(&mut *lock(&self.queue), fresh.3);
        let mode = {
            let mut guard = lock(&self.mode);
            let before = guard.snapshot();
            guard.reset();
            before
        };
        // Relaxed: `since_reset` is informational; no other data is
        // published through this value.
        let reset_at = self.reset_at_ns.swap(now, Ordering::Relaxed);
        Interval {
            now,
            reset_at,
            latency,
            throughput,
            batch,
            queue,
            mode,
        }
    }
}

/// What one `reset` took out of the collector.
struct Interval {
    now: u64,
    reset_at: u64,
    latency: LatencyState,
    throughput: ThroughputState,
    batch: BatchState,
    queue: QueueState,
    mode: ModeSnapshot,
}

impl Interval {
    fn snapshot(self, spec: &WindowSpec) -> Snapshot {
        Snapshot {
            taken_at: Duration::from_nanos(self.now),
            since_reset: Duration::from_nanos(self.now.saturating_sub(self.reset_at)),
            latency: self.latency.snapshot(),
            throughput: self.throughput.snapshot(spec, self.now),
            batch: self.batch.snapshot(),
            queue_depth: self.queue.snapshot(),
            mode: self.mode,
        }
    }
}

impl<C: Clock> MetricsCollector for FineGrained<C> {
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.config.latency_highest_ns());
        lock(&self.latency).record(ns, clamped);
    }

    fn record_throughput(&self, tokens: u64, requests: u64) {
        let now = self.clock.now_ns();
        lock(&self.throughput).record(&self.spec, now, tokens, requests);
    }

    fn record_batch_size(&self, size: usize) {
        lock(&self.batch).record(size);
    }

    fn record_queue_depth(&self, depth: usize) {
        lock(&self.queue).record(depth);
    }

    fn record_mode_transition(&self, mode: Mode) {
        lock(&self.mode).record(mode, || self.clock.now_ns());
    }

    fn latency(&self) -> LatencySnapshot {
        let copy = lock(&self.latency).clone();
        copy.snapshot()
    }

    fn throughput(&self) -> ThroughputSnapshot {
        let now = self.clock.now_ns();
        let copy = lock(&self.throughput).clone();
        copy.snapshot(&self.spec, now)
    }

    fn batch(&self) -> BatchSnapshot {
        let copy = lock(&self.batch).clone();
        copy.snapshot()
    }

    fn queue_depth(&self) -> QueueDepthSnapshot {
        let copy = lock(&self.queue).clone();
        copy.snapshot()
    }

    fn mode(&self) -> ModeSnapshot {
        let copy = lock(&self.mode).clone();
        copy.snapshot()
    }

    fn snapshot(&self) -> Snapshot {
        let now = self.clock.now_ns();
        // Relaxed: see `reset_at_ns`.
        let reset_at = self.reset_at_ns.load(Ordering::Relaxed);
        Snapshot {
            taken_at: Duration::from_nanos(now),
            since_reset: Duration::from_nanos(now.saturating_sub(reset_at)),
            latency: self.latency(),
            throughput: {
                let copy = lock(&self.throughput).clone();
                copy.snapshot(&self.spec, now)
            },
            batch: self.batch(),
            queue_depth: self.queue_depth(),
            mode: self.mode(),
        }
    }

    fn reset(&self) {
        self.swap_out();
    }

    fn take_interval(&self) -> Snapshot {
        self.swap_out().snapshot(&self.spec)
    }

    fn config(&self) -> &Config {
        &self.config
    }
}
