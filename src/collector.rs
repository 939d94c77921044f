//! The contract every strategy implements: the seed's `MetricsCollector`
//! with Rust names.

use std::{sync::Arc, time::Duration};

use crate::{
    config::Config,
    snapshot::{
        BatchSnapshot, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
        ThroughputSnapshot,
    },
};

/// One finished request's five records, for
/// [`MetricsCollector::record_request`].
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::{Config, MetricsCollector, Mode, RequestRecord, Sharded};
///
/// let m = Sharded::new(Config::default());
/// m.record_request(&RequestRecord {
///     latency: Duration::from_millis(3),
///     tokens: 128,
///     requests: 1,
///     batch_size: 8,
///     queue_depth: 2,
///     mode: Mode(1),
/// });
/// let s = m.snapshot();
/// assert_eq!((s.latency.count, s.throughput.total_tokens), (1, 128));
/// assert_eq!((s.batch.current, s.queue_depth.current), (Some(8), Some(2)));
/// assert_eq!(s.mode.current, Some(Mode(1)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// For [`MetricsCollector::record_latency`].
    pub latency: Duration,
    /// Tokens, for [`MetricsCollector::record_throughput`].
    pub tokens: u64,
    /// Requests, for [`MetricsCollector::record_throughput`].
    pub requests: u64,
    /// For [`MetricsCollector::record_batch_size`].
    pub batch_size: usize,
    /// For [`MetricsCollector::record_queue_depth`].
    pub queue_depth: usize,
    /// For [`MetricsCollector::record_mode_transition`].
    pub mode: Mode,
}

/// Records serving metrics from any number of threads and reads them at any
/// time.
///
/// Every method takes `&self`; implementations are `Send + Sync` and the
/// trait is object-safe, so `Arc<dyn MetricsCollector>` works.
///
/// # Contract
///
/// - **No input panics or corrupts a metric.** Values outside the
///   configured range are clamped into it and counted in the snapshot's
///   `clamped` fields (latency above the highest, batch size above the
///   largest, queue depth above the largest, a window slot at 2^32 - 1).
///   Zero is a valid latency, batch size and queue depth.
/// - **Exact accounting.** Once recording threads have finished (joined),
///   a snapshot counts every record exactly once. Under concurrency every
///   counter's increment lands on exactly one side of each `reset` or
///   `take_interval`, so consecutive intervals add up exactly, counter by
///   counter. The lock-based strategies and `Ring` apply each record
///   whole; in `Atomic` and `Sharded` a record is several counters (a latency's bucket, the
///   sum, the clamp count; a throughput record's totals and window slots),
///   and one made while a reset is reading may have some of them in the
///   interval and the rest in the next, so within one interval the mean,
///   the windows against the totals, and `clamped` against `count` can be
///   off by such records.
/// - **Current values are counted.** A batch size or queue depth shown as
///   `current` is counted in the snapshot that shows it: a key of the batch
///   distribution, at most the queue depth's `max`.
/// - **The transition log.** `recent` lists transitions in sequence and
///   time order with no gaps but for changes still being recorded by other
///   threads during the read; at rest it holds exactly the newest
///   `min(transition_log, transitions)` changes, ending on `current`.
/// - **Consistent snapshots.** `count` equals the histogram's total,
///   `min <= p50 <= p95 <= p99 <= p999 <= max`, `min <= mean <= max`, and
///   rates are finite and non-negative.
/// - **Time.** Throughput windows and timestamps use the collector's
///   [`Clock`](crate::Clock).
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, thread, time::Duration};
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
///
/// let metrics: Arc<dyn MetricsCollector> = Arc::new(Sharded::new(Config::default()));
/// let workers: Vec<_> = (0..4)
///     .map(|_| {
///         let m = Arc::clone(&metrics);
///         thread::spawn(move || {
///             for ms in 1..=100 {
///                 m.record_latency(Duration::from_millis(ms));
///                 m.record_throughput(32, 1);
///             }
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// let s = metrics.snapshot();
/// assert_eq!(s.latency.count, 400);
/// assert_eq!(s.throughput.total_tokens, 400 * 32);
/// assert!(s.latency.p50 <= s.latency.p99);
/// ```
pub trait MetricsCollector: Send + Sync {
    /// Records one request latency.
    fn record_latency(&self, latency: Duration);

    /// Records one request latency given in nanoseconds: the same record
    /// as [`record_latency`](Self::record_latency), for callers whose
    /// timer already counts nanoseconds (`Sharded` then skips the
    /// `Duration` conversion and its overflow check).
    ///
    /// ```
    /// use lockfree_metrics::{Config, MetricsCollector, Sharded};
    ///
    /// let m = Sharded::new(Config::default());
    /// m.record_latency_ns(2_500_000);
    /// assert_eq!(m.latency().count, 1);
    /// assert_eq!(m.latency().mean.as_nanos(), 2_500_000);
    /// ```
    fn record_latency_ns(&self, ns: u64) {
        self.record_latency(Duration::from_nanos(ns));
    }

    /// Records generated tokens and completed requests, feeding the
    /// throughput windows and totals.
    fn record_throughput(&self, tokens: u64, requests: u64);

    /// Records the size of a batch.
    fn record_batch_size(&self, size: usize);

    /// Records the current queue depth.
    fn record_queue_depth(&self, depth: usize);

    /// Records the scheduler's mode; counts a transition if it differs from
    /// the current mode (the first mode ever recorded counts, as in the
    /// seed).
    fn record_mode_transition(&self, mode: Mode);

    /// Records a finished request: the same five records as
    /// `record_latency`, `record_throughput`, `record_batch_size`,
    /// `record_queue_depth` and `record_mode_transition`, in that order,
    /// in one call. `Sharded` makes them with one shard lookup and one
    /// clock reading (its separate calls read the clock three times),
    /// `GlobalLock` under one acquisition of its lock; the others make the
    /// five calls.
    fn record_request(&self, request: &RequestRecord) {
        self.record_latency(request.latency);
        self.record_throughput(request.tokens, request.requests);
        self.record_batch_size(request.batch_size);
        self.record_queue_depth(request.queue_depth);
        self.record_mode_transition(request.mode);
    }

    /// Latency percentiles since the last reset.
    fn latency(&self) -> LatencySnapshot {
        self.snapshot().latency
    }

    /// Throughput over each window, and totals since the last reset.
    fn throughput(&self) -> ThroughputSnapshot {
        self.snapshot().throughput
    }

    /// Batch sizes since the last reset.
    fn batch(&self) -> BatchSnapshot {
        self.snapshot().batch
    }

    /// Queue depth since the last reset.
    fn queue_depth(&self) -> QueueDepthSnapshot {
        self.snapshot().queue_depth
    }

    /// The current mode and the transitions since the last reset.
    fn mode(&self) -> ModeSnapshot {
        self.snapshot().mode
    }

    /// Every metric at once.
    fn snapshot(&self) -> Snapshot;

    /// Clears every metric; keeps the configuration and the current mode.
    fn reset(&self);

    /// A snapshot and a reset in one step: each counter's increments land
    /// either in the returned interval or after it, never in both and never
    /// in neither (see the contract for whole records).
    fn take_interval(&self) -> Snapshot;

    /// The configuration the collector was built with.
    fn config(&self) -> &Config;
}

macro_rules! forward {
    ($($ptr:ty),*) => {$(
        impl<T: MetricsCollector + ?Sized> MetricsCollector for $ptr {
            fn record_latency(&self, latency: Duration) { (**self).record_latency(latency) }
            fn record_latency_ns(&self, ns: u64) { (**self).record_latency_ns(ns) }
            fn record_throughput(&self, tokens: u64, requests: u64) {
                (**self).record_throughput(tokens, requests)
            }
            fn record_batch_size(&self, size: usize) { (**self).record_batch_size(size) }
            fn record_queue_depth(&self, depth: usize) { (**self).record_queue_depth(depth) }
            fn record_mode_transition(&self, mode: Mode) { (**self).record_mode_transition(mode) }
            fn record_request(&self, request: &RequestRecord) { (**self).record_request(request) }
            fn latency(&self) -> LatencySnapshot { (**self).latency() }
            fn throughput(&self) -> ThroughputSnapshot { (**self).throughput() }
            fn batch(&self) -> BatchSnapshot { (**self).batch() }
            fn queue_depth(&self) -> QueueDepthSnapshot { (**self).queue_depth() }
            fn mode(&self) -> ModeSnapshot { (**self).mode() }
            fn snapshot(&self) -> Snapshot { (**self).snapshot() }
            fn reset(&self) { (**self).reset() }
            fn take_interval(&self) -> Snapshot { (**self).take_interval() }
            fn config(&self) -> &Config { (**self).config() }
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);
