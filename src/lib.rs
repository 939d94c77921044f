//! # lockfree-metrics
//!
//! A metrics engine for heavily multithreaded servers: request latency
//! percentiles, windowed throughput, batch sizes, queue depth and mode
//! transitions, recorded from any thread and read at any time.
//!
//! It starts from a report on a Python LLM-serving scheduler's
//! `MetricsCollector`, which replaced one global lock with five
//! fine-grained ones and proposed, without building it, a lock-free
//! version. This crate builds every step and measures it:
//!
//! | strategy | design | record path | read path |
//! |---|---|---|---|
//! | [`GlobalLock`] | the report's baseline: one mutex | blocking | blocking |
//! | [`FineGrained`] | the report's fix: five mutexes (the oracle) | blocking per metric kind | blocking per metric kind |
//! | [`Atomic`] | v1.5.0 "atomic counters": shared atomics | lock-free | wait-free but the transition log |
//! | [`Sharded`] | v1.5.0 "thread-local aggregation" and "ring buffers": per-thread cumulative shards, epoch-published reset points | wait-free | lock-free |
//!
//! All of them implement [`MetricsCollector`] and pass one conformance
//! suite, with [`FineGrained`] as the reference.
//!
//! For a server's own metrics, [`registry`] holds named, labelled
//! counters, gauges and HDR histograms on the same cells as [`Sharded`]:
//! wait-free records that spread over per-thread cells once contended,
//! lock-free sorted snapshots, per-consumer interval readers and sliding
//! windows.
//!
//! # How does `Sharded` work?
//!
//! Each recording thread owns a shard of cumulative counters laid out as an
//! HDR histogram (plus window slots and gauges) and updates it with plain
//! stores. A reader sums the shards and subtracts the reading saved at the
//! last reset; a reset saves a new reading and publishes it through
//! crossbeam-epoch. Counters only grow, so readers never need writers to
//! act, exited threads lose nothing, and each counter's increments land on
//! exactly one side of every reset. `papers/sharded-protocol.md` gives the protocol and
//! its invariants.
//!
//! # Limitations
//!
//! - Memory per recording thread: about 300 KiB of address space with the
//!   default configuration ([`Sharded::shard_bytes`]), kept for the next
//!   thread after a thread exits; counter arrays are allocated zeroed, so
//!   their pages become resident only where counters are written.
//! - A reset of a lock-free strategy is exact per counter, not per record:
//!   a record made while it runs may have its bucket, sum, window share or
//!   clamp count on different sides of it, and two records may land on
//!   different sides regardless of their order (see
//!   [`MetricsCollector`]'s contract). The lock-based strategies apply each
//!   record whole.
//! - Throughput totals saturate at `u64::MAX` and window slots at 2^32 - 1
//!   per slot (per recording thread in [`Sharded`], cumulative across
//!   resets); each call cut by either counts in
//!   [`ThroughputSnapshot::clamped`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use lockfree_metrics::{Config, MetricsCollector, Mode, Sharded};
//!
//! let metrics = Sharded::new(Config::default());
//! metrics.record_latency(Duration::from_millis(40));
//! metrics.record_throughput(128, 1);
//! metrics.record_batch_size(8);
//! metrics.record_queue_depth(3);
//! metrics.record_mode_transition(Mode(1));
//!
//! let s = metrics.snapshot();
//! assert_eq!(s.latency.count, 1);
//! assert_eq!(s.throughput.total_tokens, 128);
//! assert_eq!(s.batch.distribution[&8], 1);
//! assert_eq!(s.queue_depth.current, Some(3));
//! assert_eq!(s.mode.current, Some(Mode(1)));
//! ```
#![warn(missing_docs)]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod collector;
mod config;
pub mod export;
mod locked;
mod lockfree;
mod metric;
pub mod registry;
mod snapshot;
mod sync;

pub use clock::{Clock, CoarseClock, DefaultClock, ManualClock, QuantaClock, StdClock};
pub use collector::{MetricsCollector, RequestRecord};
pub use config::{
    Config, ConfigBuilder, ConfigError, MAX_BATCH_SIZE_LIMIT, MAX_HISTOGRAM_COUNTERS,
    MAX_QUEUE_DEPTH_LIMIT, MAX_TRACKABLE, MAX_TRANSITION_LOG, MAX_WINDOW_SLOTS,
};
pub use locked::{FineGrained, GlobalLock};
pub use lockfree::{Atomic, Sharded};
pub use snapshot::{
    BatchSnapshot, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
    ThroughputSnapshot, Transition, WindowRate,
};

/// The lock-free protocols' internals, exposed to the loom models in
/// `loom-tests/` only (they exist only under `--cfg loom`): not an API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::lockfree::{
        Change, ModeCell, ModeState, OwnedCounters, OwnedWide, Published, RelaxedLoads, ShardMap,
        SharedCounters, TransitionLog,
    };

    /// Bytes a series' per-thread map is charged to the registry's budget
    /// at promotion (before any thread's cells).
    pub const SPREAD_MAP_BYTES: usize = crate::registry::MAP_BYTES;

    /// A registry histogram's (count, sum) now, read from its cells as a
    /// snapshot reads them, but without pinning the registry's list: a
    /// reader taking two snapshots is too many interleavings for a model.
    /// The sum is the one read, not yet held within the buckets.
    pub fn histogram_count_sum(h: &crate::registry::Histogram) -> (u64, u128) {
        h.count_sum()
    }

    /// A registry histogram's (count, samples cut by saturation) now, read
    /// as [`histogram_count_sum`] reads them.
    pub fn histogram_count_cut(h: &crate::registry::Histogram) -> (u64, u64) {
        h.count_cut()
    }

    /// A bucket's cap in one cell of a registry histogram.
    pub const HISTOGRAM_CELL_CAP: u64 = crate::registry::Histogram::CELL_CAP;
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
