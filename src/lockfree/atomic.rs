//! `Atomic`: the seed's v1.5.0 "atomic counters" idea taken at its word.
//! Every metric lives in shared atomics that every thread updates with
//! read-modify-writes: HDR bucket counters with `fetch_add`, the latency
//! sum with an `AtomicF64` CAS loop, window slots with CAS, the current
//! gauges with plain stores, the mode with the CAS of `lockfree::mode`,
//! and the transition log in a shared `crossbeam_queue::ArrayQueue` that
//! overwrites its oldest entry when full (`force_push`).
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
//! counted in the same interval.
//!
//! Progress: records are lock-free (wait-free but for the CAS loops on the
//! latency sum, throughput totals, window slots and mode); snapshots are
//! wait-free except for draining the transition log into the readers' log,
//! which readers serialise on a mutex that writers never touch.

use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::{
    counters::{SharedCounter, SharedCounters, SharedHistogram},
    mode::ModeCell,
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
        ThroughputSnapshot, Transition, WindowRate,
    },
    sync::{lock, AtomicU64, Mutex, Ordering},
};

/// A gauge's current value tagged with the reset epoch it was written in:
/// `epoch << 33 | (value + 1)`, 0 meaning none. Values fit in 32 bits
/// (`Config` caps batch sizes and queue depths).
#[derive(Debug, Default)]
struct Tagged(AtomicU64);

const VALUE_BITS: u32 = 33;

impl Tagged {
    fn store(&self, epoch: u64, value: u64) {
        // Release: a snapshot that acquires this value sees the count the
        // writer made before it.
        self.0
            .store(epoch << VALUE_BITS | (value + 1), Ordering::Release);
    }

    fn load(&self, epoch: u64) -> Option<u64> {
        // Acquire: pairs with `store`; see there.
        let word = self.0.load(Ordering::Acquire);
        let value = word & ((1 << VALUE_BITS) - 1);
        (value != 0 && word >> VALUE_BITS == epoch & ((1 << (64 - VALUE_BITS)) - 1))
            .then(|| value - 1)
    }
}

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
    queue: CachePadded<SharedHistogram>,
    queue_current: CachePadded<Tagged>,
    batch: CachePadded<SharedCounters>,
    batch_clamped: CachePadded<SharedCounter>,
    batch_current: CachePadded<Tagged>,
    tokens: CachePadded<SharedCounter>,
    requests: CachePadded<SharedCounter>,
    throughput_clamped: CachePadded<SharedCounter>,
    slots: AtomicSlots,
    mode: CachePadded<ModeCell>,
    events: ArrayQueue<Transition>,
    /// Bumped by each reset after it has taken the counts.
    epoch: CachePadded<AtomicU64>,
    reset_at_ns: AtomicU64,
    mode_seq_at_reset: AtomicU64,
    /// Readers' side: the log drained from `events`, and the serialisation
    /// of resets (so that a reset's counts and epoch bump are one step).
    readers: Mutex<Vec<Transition>>,
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
            queue: CachePadded::new(SharedHistogram::new(&layouts.queue)),
            queue_current: CachePadded::default(),
            batch: CachePadded::new(SharedCounters::new(config.max_batch_size() + 1)),
            batch_clamped: CachePadded::default(),
            batch_current: CachePadded::default(),
            tokens: CachePadded::default(),
            requests: CachePadded::default(),
            throughput_clamped: CachePadded::default(),
            slots: AtomicSlots::new(&spec),
            mode: CachePadded::default(),
            events: ArrayQueue::new(config.transition_log().max(1)),
            epoch: CachePadded::new(AtomicU64::new(0)),
            reset_at_ns: AtomicU64::new(clock.now_ns()),
            mode_seq_at_reset: AtomicU64::new(0),
            readers: Mutex::new(Vec::new()),
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
        batch.add(&self.batch, &self.batch_clamped, Ordering::Relaxed);
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
        let first = self.spec.slot_of(self.reset_at_ns.load(Ordering::Relaxed));
        self.spec.rates(self.spec.slot_of(now_ns), first, |slot| {
            self.slots.read(&self.spec, slot)
        })
    }

    /// Moves new events from the shared queue into the readers' log, keeps
    /// its newest entries after `seq_at_reset`, and returns those up to
    /// `seq`.
    fn recent(&self, log: &mut Vec<Transition>, seq_at_reset: u64, seq: u64) -> Vec<Transition> {
        while let Some(event) = self.events.pop() {
            log.push(event);
        }
        // Events reach the queue in the order their writers get to it, not
        // always in sequence order.
        log.sort_unstable_by_key(|t| t.seq);
        log.retain(|t| t.seq > seq_at_reset);
        let keep = self.config.transition_log();
        if log.len() > keep {
            log.drain(..log.len() - keep);
        }
        log.iter().filter(|t| t.seq <= seq).copied().collect()
    }

    fn mode_snapshot(&self, log: &mut Vec<Transition>) -> ModeSnapshot {
        let state = self.mode.load();
        // Relaxed: written under the readers' lock, which this reader holds.
        let seq_at_reset = self.mode_seq_at_reset.load(Ordering::Relaxed);
        ModeSnapshot {
            current: state.current,
            transitions: state.seq - seq_at_reset,
            recent: self.recent(log, seq_at_reset, state.seq),
        }
    }

    /// Takes every counter (the reset), returning what they held.
    fn take_all(&self) -> Snapshot {
        let mut log = lock(&self.readers);
        let now = self.clock.now_ns();
        let epoch = self.epoch();
        let batch_current = self.batch_current.load(epoch);
        let queue_current = self.queue_current.load(epoch);
        let mode = self.mode_snapshot(&mut log);
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
        let windows = spec.rates(spec.slot_of(now), spec.slot_of(reset_at), |slot| {
            self.slots.take(spec, slot)
        });
        // Release: see `epoch`.
        self.epoch.fetch_add(1, Ordering::Release);
        // Relaxed: read only under the readers' lock.
        let seq_at_reset = self.mode_seq_at_reset.load(Ordering::Relaxed);
        self.mode_seq_at_reset
            .store(seq_at_reset + mode.transitions, Ordering::Relaxed);
        log.clear();
        drop(log);
        let reading = Reading {
            now_ns: now,
            parts,
            batch_current,
            queue_current,
            windows,
            mode,
        };
        reading.snapshot(&Parts::default(), reset_at, &self.layouts)
    }
}

impl<C: Clock> MetricsCollector for Atomic<C> {
    #[inline]
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.layouts.latency.highest());
        self.latency.record(&self.layouts.latency, ns, clamped);
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
        #[cfg(not(lockfree_metrics_broken = "atomic_epoch_late"))]
        let epoch = self.epoch();
        self.batch.add_shared(size as usize, 1);
        if clamped {
            self.batch_clamped.add_shared(1);
        }
        // Broken on purpose, for the loom models to catch: a reset between
        // the count and this read takes the count, yet the value is tagged
        // with the new interval and shown there without it.
        #[cfg(lockfree_metrics_broken = "atomic_epoch_late")]
        let epoch = self.epoch();
        self.batch_current.store(epoch, size);
    }

    #[inline]
    fn record_queue_depth(&self, depth: usize) {
        let (depth, clamped) = clamp(depth as u64, self.layouts.queue.highest());
        let epoch = self.epoch();
        self.queue.record(&self.layouts.queue, depth, clamped);
        self.queue_current.store(epoch, depth);
    }

    #[inline]
    fn record_mode_transition(&self, mode: Mode) {
        let logged = self.config.transition_log() > 0;
        // The time is read only for a change that is logged.
        let now = || if logged { self.clock.now_ns() } else { 0 };
        if let Some((change, at)) = self.mode.record_at(mode, now) {
            if logged {
                // A full queue drops its oldest event: the log shows only the
                // newest anyway, and the count lives in the mode word.
                self.events.force_push(Transition {
                    seq: change.seq,
                    at: Duration::from_nanos(at),
                    from: change.from,
                    to: mode,
                });
            }
        }
    }

    fn latency(&self) -> LatencySnapshot {
        self.latency_raw()
            .latency_since(&RawHistogram::default(), &self.layouts.latency)
    }

    fn throughput(&self) -> ThroughputSnapshot {
        let now = self.clock.now_ns();
        self.throughput_raw().snapshot(self.windows(now))
    }

    fn batch(&self) -> BatchSnapshot {
        let (batch, current, _, _) = self.gauges();
        batch.since(&RawBatch::default(), current)
    }

    fn queue_depth(&self) -> QueueDepthSnapshot {
        let (_, _, queue, current) = self.gauges();
        queue.queue_since(&RawHistogram::default(), &self.layouts.queue, current)
    }

    fn mode(&self) -> ModeSnapshot {
        self.mode_snapshot(&mut lock(&self.readers))
    }

    fn snapshot(&self) -> Snapshot {
        let now = self.clock.now_ns();
        // Relaxed: informational, as in `FineGrained`.
        let reset_at = self.reset_at_ns.load(Ordering::Relaxed);
        let mode = self.mode();
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
        reading.snapshot(&Parts::default(), reset_at, &self.layouts)
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
