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
//! | [`Sharded`] | v1.5.0 "thread-local aggregation": per-thread cumulative shards, epoch-published reset points | wait-free | lock-free |
//! | [`Ring`] | v1.5.0 "lock-free ring buffers" (message passing): per-thread SPSC rings of records, drained whole by readers | wait-free | blocking among readers, never waits for a writer |
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
//! # How does `Ring` work?
//!
//! Each recording thread sends every record as one message down a bounded
//! single-producer ring of its own; a reader takes the aggregator's lock,
//! drains every ring (only published messages: a writer stopped mid-record
//! holds nobody up) into plain HDR state and reads it there. A record is
//! applied whole, so [`Ring`]'s intervals are exact per record, as the
//! lock-based strategies' are. A full ring never drops or waits: the
//! writer folds the record into an overflow batch that readers take
//! whole. `papers/ring.md` gives the protocol, its proofs and its
//! measurements against the other strategies.
//!
//! # Limitations
//!
//! - Memory per recording thread: about 300 KiB of address space with the
//!   default configuration ([`Sharded::shard_bytes`]), kept for the next
//!   thread after a thread exits; counter arrays are allocated zeroed, so
//!   their pages become resident only where counters are written.
//! - [`Ring`]: 32 KiB of ring per recording thread by default
//!   ([`Ring::lane_bytes`]), plus up to four overflow batches
//!   ([`Ring::batch_bytes`], the size of a full HDR aggregate) for a
//!   thread whose ring fills between two reads; readers serialise on the
//!   aggregator's lock and do the merging, so a read costs more than
//!   [`Sharded`]'s when records are waiting. A record into a full ring
//!   (a thread recording more than its ring holds between two reads) is
//!   folded twice into the overflow batch: tens of ns against a few for
//!   the ring path (`papers/ring.md`).
//! - A reset of [`Atomic`] or [`Sharded`] is exact per counter, not per record:
//!   a record made while it runs may have its bucket, sum, window share or
//!   clamp count on different sides of it, and two records may land on
//!   different sides regardless of their order (see
//!   [`MetricsCollector`]'s contract). The lock-based strategies and
//!   [`Ring`] apply each record whole.
//! - Throughput totals saturate at `u64::MAX` and window slots at 2^32 - 1
//!   per slot (per recording thread in [`Sharded`], cumulative across
//!   resets); each call cut by either counts in
//!   [`ThroughputSnapshot::clamped`] (in [`Ring`], a thread's overflow
//!   batch that saturates only when merged counts as one call).
//!
//! # Features
//!
//! The recording core (every strategy, the [`registry`], the clocks) has
//! no optional parts: 17 crates, this one included. Exporters are cargo
//! features:
//!
//! | feature | gives | pulls in (crates with the core's, alone) | default |
//! |---|---|---|---|
//! | `prometheus` | `export::prometheus`: text 0.0.4 and OpenMetrics 1.0 renderings and `Accept` negotiation, for any HTTP server to serve | `prometheus-client` (30) | yes |
//! | `protobuf` | the Prometheus protobuf format, the one that carries native histograms (accurate quantiles); enables `prometheus`; no `.proto` is compiled at build time | `prost`, `prost-types` (38) | no |
//! | `http` | `export::http::MetricsServer`, `/metrics` on a thread of its own; enables `protobuf` | `hyper`, `tokio`, `hyper-util`, `http-body-util`, `bytes` (51) | no |
//! | `facade` | `export::facade`, a `metrics` facade `Recorder` over the registry | `metrics` (20) | no |
//! | `hdr-log` | `export::hdr_log`, HDR V2 and V2+DEFLATE encodings and interval logs | `hdrhistogram`'s `serialization` (`flate2`), `base64` (25) | no |
//! | `otlp` | `export::otlp`, OTLP/HTTP push (plain HTTP, no TLS) of registry readings and collector snapshots from a thread of its own | `opentelemetry-proto`, `ureq`, `flate2`, `fastrand`, `log` (57) | no |
//!
//! The default is the text formats: what a server needs to be scraped by
//! Prometheus, whatever serves its HTTP. `.ci/deps.sh` holds the default
//! to 30 crates. `loom` is internal: it switches crossbeam-epoch to loom
//! for `loom-tests/`. Why each crate is there: its comment in `Cargo.toml`.
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
#[cfg(not(loom))]
pub use lockfree::{Ring, DEFAULT_RING_CAPACITY};
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
        Change, Extremes, Fold, Lane, ModeCell, ModeState, Msg, OwnedCounters, OwnedWide,
        Published, Pushed, RelaxedLoads, Retired, ShardMap, SharedCounters, Sink, TransitionLog,
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

    /// Ends the calling thread's lane ownership as its exit does (loom
    /// drops a thread's thread-locals after a join returns, so a model
    /// calls this last in each thread whose exit it models).
    pub fn lanes_exit_thread() {
        crate::registry::lanes_exit_thread();
    }

    /// Records `n` samples of `value` into a registry histogram's shared
    /// pages, as a thread without a lane does.
    pub fn histogram_record_shared(h: &crate::registry::Histogram, value: u64, n: u64) {
        h.record_n_shared(value, n);
    }
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
