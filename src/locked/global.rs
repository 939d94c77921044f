//! `GlobalLock`: the report's single-lock baseline. One mutex guards every
//! metric; records and reads (percentiles included) all happen under it,
//! and the timestamp is read inside the lock, as the report's `time.time()`
//! was.
//!
//! Progress: blocking, for writers and readers alike.

use std::time::Duration;

use crate::{
    clock::{Clock, DefaultClock},
    collector::{MetricsCollector, RequestRecord},
    config::Config,
    metric::{
        clamp_latency,
        state::{BatchState, LatencyState, ModeState, QueueState, ThroughputState},
        window::WindowSpec,
    },
    snapshot::{Mode, Snapshot},
    sync::{lock, Mutex},
};

/// One mutex over all state (the report's baseline).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::{Config, GlobalLock, MetricsCollector};
///
/// let m = GlobalLock::new(Config::default());
/// m.record_latency(Duration::from_millis(12));
/// assert_eq!(m.latency().count, 1);
/// ```
pub struct GlobalLock<C: Clock = DefaultClock> {
    config: Config,
    spec: WindowSpec,
    clock: C,
    state: Mutex<State>,
}

struct State {
    latency: LatencyState,
    throughput: ThroughputState,
    batch: BatchState,
    queue: QueueState,
    mode: ModeState,
    reset_at_ns: u64,
}

impl State {
    fn new(config: &Config, spec: &WindowSpec, now_ns: u64) -> Self {
        State {
            latency: LatencyState::new(config),
            throughput: ThroughputState::new(spec, now_ns),
            batch: BatchState::new(config),
            queue: QueueState::new(config),
            mode: ModeState::new(config),
            reset_at_ns: now_ns,
        }
    }

    fn snapshot(&self, spec: &WindowSpec, now_ns: u64) -> Snapshot {
        Snapshot {
            taken_at: Duration::from_nanos(now_ns),
            since_reset: Duration::from_nanos(now_ns.saturating_sub(self.reset_at_ns)),
            latency: self.latency.snapshot(),
            throughput: self.throughput.snapshot(spec, now_ns),
            batch: self.batch.snapshot(),
            queue_depth: self.queue.snapshot(),
            mode: self.mode.snapshot(),
        }
    }

    /// Clears every metric but the current mode; returns the old state so
    /// that the caller frees it after unlocking.
    fn reset(&mut self, fresh: State) -> State {
        let mut old = std::mem::replace(self, fresh);
        // The mode is the scheduler's state, not a sample: carry it over.
        std::mem::swap(&mut self.mode, &mut old.mode);
        self.mode.reset();
        old
    }
}

/// The configuration, the clock and the latency count: the state holds
/// every histogram counter, far too much for a log line.
impl<C: Clock + std::fmt::Debug> std::fmt::Debug for GlobalLock<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`: formatting must not block (or deadlock, if it runs
        // under this lock inside a user clock); a busy lock shows `None`.
        let latency_count = self.state.try_lock().ok().map(|s| s.latency.count());
        f.debug_struct("GlobalLock")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("latency_count", &latency_count)
            .finish_non_exhaustive()
    }
}

impl GlobalLock<DefaultClock> {
    /// A collector on the default clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, DefaultClock::new())
    }
}

impl<C: Clock> GlobalLock<C> {
    /// A collector on `clock`.
    pub fn with_clock(config: Config, clock: C) -> Self {
        let spec = WindowSpec::new(&config);
        let state = Mutex::new(State::new(&config, &spec, clock.now_ns()));
        GlobalLock {
            config,
            spec,
            clock,
            state,
        }
    }
}

impl<C: Clock> MetricsCollector for GlobalLock<C> {
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.config.latency_highest_ns());
        lock(&self.state).latency.record(ns, clamped);
    }

    fn record_throughput(&self, tokens: u64, requests: u64) {
        let mut state = lock(&self.state);
        let now = self.clock.now_ns();
        state.throughput.record(&self.spec, now, tokens, requests);
    }

    fn record_batch_size(&self, size: usize) {
        lock(&self.state).batch.record(size);
    }

    fn record_queue_depth(&self, depth: usize) {
        lock(&self.state).queue.record(depth);
    }

    fn record_mode_transition(&self, mode: Mode) {
        lock(&self.state).mode.record(mode, || self.clock.now_ns());
    }

    fn record_request(&self, r: &RequestRecord) {
        let (ns, clamped) = clamp_latency(r.latency, self.config.latency_highest_ns());
        // One acquisition for all five; the clock is read under it, as in
        // the report's baseline.
        let mut state = lock(&self.state);
        state.latency.record(ns, clamped);
        let now = self.clock.now_ns();
        state
            .throughput
            .record(&self.spec, now, r.tokens, r.requests);
        state.batch.record(r.batch_size);
        state.queue.record(r.queue_depth);
        state.mode.record(r.mode, || now);
    }

    fn snapshot(&self) -> Snapshot {
        let state = lock(&self.state);
        state.snapshot(&self.spec, self.clock.now_ns())
    }

    fn reset(&self) {
        let mut fresh = State::new(&self.config, &self.spec, 0);
        let mut state = lock(&self.state);
        let now = self.clock.now_ns();
        fresh.throughput.start_at(now);
        let old = state.reset(State {
            reset_at_ns: now,
            ..fresh
        });
        drop(state);
        drop(old);
    }

    fn take_interval(&self) -> Snapshot {
        let mut fresh = State::new(&self.config, &self.spec, 0);
        let mut state = lock(&self.state);
        let now = self.clock.now_ns();
        fresh.throughput.start_at(now);
        let interval = state.snapshot(&self.spec, now);
        let old = state.reset(State {
            reset_at_ns: now,
            ..fresh
        });
        drop(state);
        drop(old);
        interval
    }

    fn config(&self) -> &Config {
        &self.config
    }
}
