//! `Atomic`: the seed's v1.5.0 "atomic counters" idea taken at its word.
//! Every metric lives in shared atomics that every thread updates with
//! read-modify-writes: HDR bucket counters with `fetch_add`, the latency
//! sum with an `AtomicF64` CAS loop, window slots with CAS, the current
//! gauges with plain stores (`lockfree::gauge::Tagged`), the mode and its
//! log with the CAS word and sequence-indexed entries of `lockfree::log`.
//!
//! No locks on the record path, but every record moves a cache line that
//! other threads also write: this is the design whose throughput collapses
//! with the thread count (the peers' `atomic_hist_shared` and Prometheus
//! histograms), kept to measure that collapse against `Sharded`.
//!
//! The latency and queue-depth sums are that design's `f64`s: an
//! interval's sum is exact while its summed values stay below 2^53 (ns for
//! latency: about 104 days); beyond that each add rounds to `f64`
//! precision, so for `n` samples the sum and the mean are within a relative
//! `n * 2^-53` (`LatencySnapshot`).
//!
//! A reset takes every counter with `swap(0)`, so each increment lands in
//! exactly one interval. The current gauges carry the reset epoch they were
//! written in; a reset bumps the epoch after taking the counts, and a
//! writer reads the epoch before counting, so a value shown as current was
//! counted in the same interval. Readers and resets serialise on one mutex
//! that writers never touch, so no read straddles a reset.
//!
//! Progress: records are lock-free (wait-free but for the CAS loops on the
//! latency sum, throughput totals, window slots and mode); reads and resets
//! are blocking with respect to each other only.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{
    counters::{RelaxedLoads, SharedCounter, SharedCounters, SharedHistogram},
    extremes::Extremes,
    gauge::Tagged,
    log::TransitionLog,
    readout::{Layouts, Parts, RawBatch, RawHistogram, RawThroughput, Reading},
    slots::AtomicSlots,
};
use crate::{
    clock::{Clock, DefaultClock},
    collector::MetricsCollector,
    config::Config,
    metric::{clamp, clamp_latency, window::WindowSpec},
    snapshot::{
        BatchSnapshot, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
        ThroughputSnapshot, WindowRate,
    },
    sync::{broken, lock, AtomicU64, Mutex, Ordering},
};

/// Shared atomics for every metric (see the module docs).
///
/// # Examples
///
/// ```
/// use lockfree_metrics::{Atomic, Config, MetricsCollector};
///
/// let m = Atomic::new(Config::default());
/// m.record_batch_size(16);
/// assert_eq!(m.batch().distribution[&16], 1);
/// ```
pub struct Atomic<C: Clock = DefaultClock> {
    config: Config,
    spec: WindowSpec,
    layouts: Layouts,
    clock: C,
    latency: CachePadded<SharedHistogram>,
    /// The latencies' exact min and max; the queue depths'.
    latency_extremes: CachePadded<Extremes>,
    queue_extremes: CachePadded<Extremes>,
    queue: CachePadded<SharedHistogram>,
    queue_current: CachePadded<Tagged>,
    batch: CachePadded<SharedCounters>,
    batch_clamped: CachePadded<SharedCounter>,
    batch_current: CachePadded<Tagged>,
    tokens: CachePadded<SharedCounter>,
    requests: CachePadded<SharedCounter>,
    throughput_clamped: CachePadded<SharedCounter>,
    slots: AtomicSlots,
    log: CachePadded<TransitionLog>,
    /// Bumped by each reset after it has taken the counts.
    epoch: CachePadded<AtomicU64>,
    reset_at_ns: AtomicU64,
    /// Readers' side, serialised with resets: the mode sequence number at
    /// the last reset. Holding the lock, a reader sees one epoch and one
    /// set of counts throughout.
    readers: Mutex<u64>,
}

impl<C: Clock + std::fmt::Debug> std::fmt::Debug for Atomic<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atomic")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Atomic<DefaultClock> {
    /// A collector on the default clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, DefaultClock::new())
    }
}

impl<C: Clock> Atomic<C> {
    /// A collector on `clock`.
    pub fn with_clock(config: Config, clock: C) -> Self {
        let spec = WindowSpec::new(&config);
        let layouts = Layouts::new(&config);
        Atomic {
            latency: CachePadded::new(SharedHistogram::new(&layouts.latency)),
            latency_extremes: CachePadded::default(),
            queue_extremes: CachePadded::default(),
            queue: CachePadded::new(SharedHistogram::new(&layouts.queue)),
            queue_current: CachePadded::default(),
            batch: CachePadded::new(SharedCounters::new(config.max_batch_size() + 1)),
            batch_clamped: CachePadded::default(),
            batch_current: CachePadded::default(),
            tokens: CachePadded::default(),
            requests: CachePadded::default(),
            throughput_clamped: CachePadded::default(),
            slots: AtomicSlots::new(&spec),
            log: CachePadded::new(TransitionLog::new(config.transition_log())),
            epoch: CachePadded::new(AtomicU64::new(0)),
            reset_at_ns: AtomicU64::new(clock.now_ns()),
            readers: Mutex::new(0),
            config,
            spec,
            layouts,
            clock,
        }
    }

    fn epoch(&self) -> u64 {
        // Acquire: pairs with the Release bump in `take_all`, so counts a
        // writer makes after seeing the new epoch land after that reset's
        // swaps.
        self.epoch.load(Ordering::Acquire)
    }

    fn latency_raw(&self) -> RawHistogram {
        RawHistogram::load(&self.latency, &self.layouts.latency)
    }

    /// Gauges: current values first (Acquire), counts after, so a shown
    /// value's count is seen.
    fn gauges(&self) -> (RawBatch, Option<u64>, RawHistogram, Option<u64>) {
        let epoch = self.epoch();
        let batch_current = self.batch_current.load(epoch);
        let queue_current = self.queue_current.load(epoch);
        let mut batch = RawBatch::zeroed(self.config.max_batch_size() + 1);
        batch.add::<RelaxedLoads, _>(&self.batch, &self.batch_clamped);
        let queue = RawHistogram::load(&self.queue, &self.layouts.queue);
        (batch, batch_current, queue, queue_current)
    }

    fn throughput_raw(&self) -> RawThroughput {
        let mut raw = RawThroughput::default();
        raw.add(&self.tokens, &self.requests, &self.throughput_clamped);
        raw
    }

    fn windows(&self, now_ns: u64) -> Vec<WindowRate> {
        // Relaxed: informational, as in `FineGrained`.
        let from = self.reset_at_ns.load(Ordering::Relaxed);
        self.spec
            .rates(now_ns, from, |slot| self.slots.read(&self.spec, slot))
    }

    /// The mode and the logged transitions since the reset that left
    /// `seq_at_reset`.
    fn mode_snapshot(&self, seq_at_reset: u64) -> ModeSnapshot {
        let (state, recent) = self.log.read(seq_at_reset);
        ModeSnapshot {
            current: state.current,
            transitions: state.seq - seq_at_reset,
            recent,
        }
    }

    /// Takes every counter (the reset), returning what they held.
    fn take_all(&self) -> Snapshot {
        let mut seq_at_reset = lock(&self.readers);
        let now = self.clock.now_ns();
        let epoch = self.epoch();
        let batch_current = self.batch_current.load(epoch);
        let queue_current = self.queue_current.load(epoch);
        let mode = self.mode_snapshot(*seq_at_reset);
        let parts = Parts {
            latency: RawHistogram::take(&self.latency),
            queue: RawHistogram::take(&self.queue),
            batch: RawBatch {
                counts: self.batch.take(),
                clamped: self.batch_clamped.take(),
            },
            throughput: RawThroughput {
                tokens: self.tokens.take().into(),
                requests: self.requests.take().into(),
                clamped: self.throughput_clamped.take(),
            },
        };
        // The interval's windows are what the slots held; taking them leaves
        // the ring empty for the next interval.
        // Relaxed: informational, as in `FineGrained`.
        let reset_at = self.reset_at_ns.swap(now, Ordering::Relaxed);
        let spec = &self.spec;
        let windows = spec.rates(now, reset_at, |slot| self.slots.take(spec, slot));
        // Taken after the counts: a record's extremes follow its count.
        let extremes = (self.latency_extremes.take(), self.queue_extremes.take());
        // Release: see `epoch`.
        self.epoch.fetch_add(1, Ordering::Release);
        *seq_at_reset += mode.transitions;
        drop(seq_at_reset);
        let reading = Reading {
            now_ns: now,
            parts,
            batch_current,
            queue_current,
            windows,
            mode,
        };
        self.layouts.exact(
            reading.snapshot(&Parts::default(), reset_at, &self.layouts),
            extremes,
        )
    }
}

impl<C: Clock> MetricsCollector for Atomic<C> {
    #[inline]
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.layouts.latency.highest());
        self.latency.record(&self.layouts.latency, ns, clamped);
        self.latency_extremes.record_shared(ns);
    }

    #[inline]
    fn record_throughput(&self, tokens: u64, requests: u64) {
        let now = self.clock.now_ns();
        // Totals saturate; a call cut there or in its slot counts once.
        let cut = self.tokens.add_shared_saturating(tokens)
            | self.requests.add_shared_saturating(requests);
        if self
            .slots
            .add_shared(&self.spec, self.spec.slot_of(now), tokens, requests)
            | cut
        {
            self.throughput_clamped.add_shared(1);
        }
    }

    #[inline]
    fn record_batch_size(&self, size: usize) {
        let (size, clamped) = clamp(size as u64, self.config.max_batch_size() as u64);
        let epoch = || self.epoch();
        let early = (!broken!("atomic_epoch_late")).then(epoch);
        self.batch.add_shared(size as usize, 1);
        if clamped {
            self.batch_clamped.add_shared(1);
        }
        // Broken on purpose, for the loom models to catch: a reset between
        // the count and this read takes the count, yet the value is tagged
        // with the new interval and shown there without it.
        let epoch = early.unwrap_or_else(epoch);
        self.batch_current.store(epoch, size);
    }

    #[inline]
    fn record_queue_depth(&self, depth: usize) {
        let (depth, clamped) = clamp(depth as u64, self.layouts.queue.highest());
        let epoch = self.epoch();
        self.queue.record(&self.layouts.queue, depth, clamped);
        self.queue_extremes.record_shared(depth);
        self.queue_current.store(epoch, depth);
    }

    #[inline]
    fn record_mode_transition(&self, mode: Mode) {
        self.log.record(mode, || self.clock.now_ns());
    }

    fn latency(&self) -> LatencySnapshot {
        let _reader = lock(&self.readers);
        let layout = &self.layouts.latency;
        self.latency_raw()
            .latency_since(&RawHistogram::default(), layout)
            .with_exact(self.latency_extremes.read(), |v, r| {
                layout.same_bucket(v, r)
            })
    }

    fn throughput(&self) -> ThroughputSnapshot {
        let _reader = lock(&self.readers);
        let now = self.clock.now_ns();
        self.throughput_raw().snapshot(self.windows(now))
    }

    fn batch(&self) -> BatchSnapshot {
        let _reader = lock(&self.readers);
        let (batch, current, _, _) = self.gauges();
        batch.since(&RawBatch::default(), current)
    }

    fn queue_depth(&self) -> QueueDepthSnapshot {
        let _reader = lock(&self.readers);
        let (_, _, queue, current) = self.gauges();
        let layout = &self.layouts.queue;
        queue
            .queue_since(&RawHistogram::default(), layout, current)
            .with_exact(self.queue_extremes.read(), |v, r| layout.same_bucket(v, r))
    }

    fn mode(&self) -> ModeSnapshot {
        self.mode_snapshot(*lock(&self.readers))
    }

    fn snapshot(&self) -> Snapshot {
        let seq_at_reset = lock(&self.readers);
        let now = self.clock.now_ns();
        // Relaxed: informational, as in `FineGrained`.
        let reset_at = self.reset_at_ns.load(Ordering::Relaxed);
        let mode = self.mode_snapshot(*seq_at_reset);
        let (batch, batch_current, queue, queue_current) = self.gauges();
        let reading = Reading {
            now_ns: now,
            parts: Parts {
                latency: self.latency_raw(),
                queue,
                batch,
                throughput: self.throughput_raw(),
            },
            batch_current,
            queue_current,
            windows: self.windows(now),
            mode,
        };
        let extremes = (self.latency_extremes.read(), self.queue_extremes.read());
        self.layouts.exact(
            reading.snapshot(&Parts::default(), reset_at, &self.layouts),
            extremes,
        )
    }

    fn reset(&self) {
        self.take_all();
    }

    fn take_interval(&self) -> Snapshot {
        self.take_all()
    }

    fn config(&self) -> &Config {
        &self.config
    }
}
