//! Plain, single-threaded state of each metric kind, as the seed's
//! `MetricsCollector` keeps it: the lock-based strategies put these behind
//! their mutexes, and the snapshot constructors turn them into the values
//! every strategy reports.

use std::{collections::VecDeque, time::Duration};

use hdrhistogram::Histogram;

use super::{
    clamp,
    window::{SlotRing, WindowSpec},
};
use crate::{
    config::Config,
    snapshot::{
        BatchSnapshot, Extent, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot,
        ThroughputSnapshot, Transition,
    },
};

/// Latency samples in nanoseconds.
#[derive(Clone, Debug)]
pub(crate) struct LatencyState {
    hist: Histogram<u64>,
    /// Exact: a `u128` holds 2^64 samples of 2^64 ns.
    sum_ns: u128,
    /// The exact min and max (the histogram's are its buckets' bounds).
    extent: Extent,
    clamped: u64,
}

impl LatencyState {
    pub(crate) fn new(config: &Config) -> Self {
        LatencyState {
            hist: config.latency_layout().empty_histogram(),
            sum_ns: 0,
            extent: Extent::EMPTY,
            clamped: 0,
        }
    }

    /// Records a latency already clamped to the configured range.
    pub(crate) fn record(&mut self, ns: u64, clamped: bool) {
        self.hist.saturating_record(ns);
        self.sum_ns += u128::from(ns);
        self.extent.add(ns);
        self.clamped = self.clamped.wrapping_add(u64::from(clamped));
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot::from_histogram(&self.hist, self.sum_ns, self.clamped)
            .with_exact(self.extent, |a, b| self.hist.equivalent(a, b))
    }

    /// Samples recorded.
    pub(crate) fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Adds `other`'s samples (same configuration): `Ring` merges a
    /// thread's overflow batch, whole, into its aggregate.
    #[cfg(not(loom))]
    pub(crate) fn merge(&mut self, other: &Self) {
        // Same layout, so every count fits: the add cannot fail.
        let added = self.hist.add(&other.hist);
        debug_assert!(added.is_ok(), "latency layouts differ");
        self.sum_ns += other.sum_ns;
        self.extent = self.extent.merge(other.extent);
        self.clamped = self.clamped.wrapping_add(other.clamped);
    }

    /// Empties it. A new histogram: `Histogram::reset` leaves the tracked
    /// maximum at the unit's mask (511 for a 512 ns unit), not 0.
    #[cfg(not(loom))]
    pub(crate) fn clear(&mut self) {
        self.hist = Histogram::new_from(&self.hist);
        self.sum_ns = 0;
        self.extent = Extent::EMPTY;
        self.clamped = 0;
    }
}

/// Throughput totals and window slots.
#[derive(Clone, Debug)]
pub(crate) struct ThroughputState {
    ring: SlotRing,
    /// When the interval began (creation or the last reset), on the
    /// collector's clock: windows cover no time before it.
    from_ns: u64,
    tokens: u64,
    requests: u64,
    clamped: u64,
}

impl ThroughputState {
    /// Empty, for an interval beginning at `from_ns`.
    pub(crate) fn new(spec: &WindowSpec, from_ns: u64) -> Self {
        ThroughputState {
            ring: SlotRing::new(spec),
            from_ns,
            tokens: 0,
            requests: 0,
            clamped: 0,
        }
    }

    /// Totals saturate at `u64::MAX`; a call cut there or in its window
    /// slot counts once as clamped.
    pub(crate) fn record(&mut self, spec: &WindowSpec, now_ns: u64, tokens: u64, requests: u64) {
        let cut = self.tokens.checked_add(tokens).is_none()
            | self.requests.checked_add(requests).is_none();
        self.tokens = self.tokens.saturating_add(tokens);
        self.requests = self.requests.saturating_add(requests);
        if self.ring.add(spec, spec.slot_of(now_ns), tokens, requests) | cut {
            self.clamped = self.clamped.wrapping_add(1);
        }
    }

    pub(crate) fn snapshot(&self, spec: &WindowSpec, now_ns: u64) -> ThroughputSnapshot {
        ThroughputSnapshot {
            // The ring is cleared on reset, so no slot before it survives.
            windows: spec.rates(now_ns, self.from_ns, |slot| self.ring.read(spec, slot)),
            total_tokens: self.tokens,
            total_requests: self.requests,
            clamped: self.clamped,
        }
    }

    /// Starts its interval at `from_ns` (a reset's clock reading).
    pub(crate) fn start_at(&mut self, from_ns: u64) {
        self.from_ns = from_ns;
    }

    /// Adds `other`'s totals and slots (keeping this one's start). A total or slot that saturates
    /// only in the sum counts one more clamped call (which of `other`'s
    /// calls were cut depends on an order the sum no longer has).
    #[cfg(not(loom))]
    pub(crate) fn merge(&mut self, spec: &WindowSpec, other: &Self) {
        let cut = self.tokens.checked_add(other.tokens).is_none()
            | self.requests.checked_add(other.requests).is_none();
        self.tokens = self.tokens.saturating_add(other.tokens);
        self.requests = self.requests.saturating_add(other.requests);
        let slots = self.ring.merge(spec, &other.ring);
        self.clamped = self
            .clamped
            .wrapping_add(other.clamped)
            .wrapping_add(u64::from(cut | slots));
    }

    /// Empties it, keeping its allocation (and its start).
    #[cfg(not(loom))]
    pub(crate) fn clear(&mut self) {
        self.ring.clear();
        self.tokens = 0;
        self.requests = 0;
        self.clamped = 0;
    }
}

/// Batch sizes as a dense distribution (index = size).
#[derive(Clone, Debug)]
pub(crate) struct BatchState {
    distribution: Vec<u64>,
    current: Option<u64>,
    clamped: u64,
}

impl BatchState {
    pub(crate) fn new(config: &Config) -> Self {
        BatchState {
            distribution: vec![0; config.max_batch_size() + 1],
            current: None,
            clamped: 0,
        }
    }

    pub(crate) fn record(&mut self, size: usize) {
        let (size, clamped) = clamp(size as u64, (self.distribution.len() - 1) as u64);
        let slot = &mut self.distribution[size as usize];
        *slot = slot.wrapping_add(1);
        self.current = Some(size);
        self.clamped = self.clamped.wrapping_add(u64::from(clamped));
    }

    pub(crate) fn snapshot(&self) -> BatchSnapshot {
        BatchSnapshot::from_distribution(
            self.distribution.iter().copied(),
            self.current,
            self.clamped,
        )
    }

    /// The largest size recorded as itself; larger ones are clamped to it.
    #[cfg(not(loom))]
    pub(crate) fn max_size(&self) -> u64 {
        (self.distribution.len() - 1) as u64
    }

    /// Adds `other`'s counts (same configuration); `current` becomes
    /// `other`'s if it has one.
    #[cfg(not(loom))]
    pub(crate) fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.distribution.iter_mut().zip(&other.distribution) {
            *mine = mine.wrapping_add(*theirs);
        }
        self.current = other.current.or(self.current);
        self.clamped = self.clamped.wrapping_add(other.clamped);
    }

    /// Empties it, keeping its allocation.
    #[cfg(not(loom))]
    pub(crate) fn clear(&mut self) {
        self.distribution.fill(0);
        self.current = None;
        self.clamped = 0;
    }
}

/// Queue depths in a histogram, with their exact sum.
#[derive(Clone, Debug)]
pub(crate) struct QueueState {
    hist: Histogram<u64>,
    /// Exact, as in `LatencyState`.
    sum: u128,
    extent: Extent,
    current: Option<u64>,
    clamped: u64,
}

impl QueueState {
    pub(crate) fn new(config: &Config) -> Self {
        QueueState {
            hist: config.queue_layout().empty_histogram(),
            sum: 0,
            extent: Extent::EMPTY,
            current: None,
            clamped: 0,
        }
    }

    pub(crate) fn record(&mut self, depth: usize) {
        let (depth, clamped) = clamp(depth as u64, self.hist.high());
        self.hist.saturating_record(depth);
        self.sum += u128::from(depth);
        self.extent.add(depth);
        self.current = Some(depth);
        self.clamped = self.clamped.wrapping_add(u64::from(clamped));
    }

    pub(crate) fn snapshot(&self) -> QueueDepthSnapshot {
        QueueDepthSnapshot::from_histogram(&self.hist, self.sum, self.current, self.clamped)
            .with_exact(self.extent, |a, b| self.hist.equivalent(a, b))
    }

    /// The largest depth recorded as itself; deeper ones are clamped to it.
    #[cfg(not(loom))]
    pub(crate) fn max_depth(&self) -> u64 {
        self.hist.high()
    }

    /// Adds `other`'s samples (same configuration); `current` becomes
    /// `other`'s if it has one.
    #[cfg(not(loom))]
    pub(crate) fn merge(&mut self, other: &Self) {
        // Same layout, so every count fits: the add cannot fail.
        let added = self.hist.add(&other.hist);
        debug_assert!(added.is_ok(), "queue layouts differ");
        self.sum += other.sum;
        self.extent = self.extent.merge(other.extent);
        self.current = other.current.or(self.current);
        self.clamped = self.clamped.wrapping_add(other.clamped);
    }

    /// Empties it (a new histogram, as in `LatencyState::clear`).
    #[cfg(not(loom))]
    pub(crate) fn clear(&mut self) {
        self.hist = Histogram::new_from(&self.hist);
        self.sum = 0;
        self.extent = Extent::EMPTY;
        self.current = None;
        self.clamped = 0;
    }
}

/// The current mode, the transition sequence and the recent-transition log.
#[derive(Clone, Debug)]
pub(crate) struct ModeState {
    current: Option<Mode>,
    /// Transitions since creation.
    seq: u64,
    /// `seq` at the last reset.
    seq_at_reset: u64,
    log: VecDeque<Transition>,
    log_len: usize,
}

impl ModeState {
    pub(crate) fn new(config: &Config) -> Self {
        ModeState {
            current: None,
            seq: 0,
            seq_at_reset: 0,
            log: VecDeque::with_capacity(config.transition_log()),
            log_len: config.transition_log(),
        }
    }

    /// Records `mode`; `now_ns` is read only if the mode changes and the
    /// log is kept, and before anything changes: it is user code (a
    /// [`Clock`](crate::Clock)) run under the caller's lock, and if it
    /// panics the state must be left as it was, not half-updated.
    pub(crate) fn record(&mut self, mode: Mode, now_ns: impl FnOnce() -> u64) {
        if self.current == Some(mode) {
            return;
        }
        let at = if self.log_len > 0 {
            Duration::from_nanos(now_ns())
        } else {
            Duration::ZERO
        };
        self.seq += 1;
        if self.log_len > 0 {
            if self.log.len() == self.log_len {
                self.log.pop_front();
            }
            self.log.push_back(Transition {
                seq: self.seq,
                at,
                from: self.current,
                to: mode,
            });
        }
        self.current = Some(mode);
    }

    pub(crate) fn snapshot(&self) -> ModeSnapshot {
        ModeSnapshot {
            current: self.current,
            transitions: self.seq - self.seq_at_reset,
            recent: self.log.iter().copied().collect(),
        }
    }

    /// Forgets the transitions; the current mode is state and stays.
    pub(crate) fn reset(&mut self) {
        self.seq_at_reset = self.seq;
        self.log.clear();
    }
}
