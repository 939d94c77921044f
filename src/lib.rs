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
//! | [`GlobalLock`] | the seed's v1.4.1: one mutex | blocking | blocking |
//! | [`FineGrained`] | the seed's Phase 4: five mutexes (the oracle) | blocking per metric kind | blocking per metric kind |
//!
//! All of them implement [`MetricsCollector`] and pass one conformance
//! suite, with [`FineGrained`] as the reference.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use lockfree_metrics::{Config, FineGrained, MetricsCollector, Mode};
//!
//! let metrics = FineGrained::new(Config::default());
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

mod clock;
mod collector;
mod config;
mod locked;
mod metric;
mod snapshot;
mod sync;

pub use clock::{Clock, DefaultClock, ManualClock, QuantaClock, StdClock};
pub use collector::MetricsCollector;
pub use config::{
    Config, ConfigBuilder, ConfigError, MAX_BATCH_SIZE_LIMIT, MAX_HISTOGRAM_COUNTERS,
    MAX_TRACKABLE, MAX_TRANSITION_LOG, MAX_WINDOW_SLOTS,
};
pub use locked::{FineGrained, GlobalLock};
pub use snapshot::{
    BatchSnapshot, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
    ThroughputSnapshot, Transition, WindowRate,
};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
