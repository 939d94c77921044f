//! Gauges: one `f64` in one atomic word, on a line of its own.
//!
//! **Last writer wins, by the word's modification order.** `set` is one
//! store; `add` and `sub` are a CAS loop on the same word. All writes to
//! one atomic are totally ordered (its modification order), every reader's
//! load returns a value of that order no older than any it could have
//! seen before (coherence), and the order is consistent with each thread's
//! program order and with happens-before. So the value read is the last
//! write in one order all threads agree on, and an `add` is never lost to a
//! concurrent `set` or `add`: each CAS applies its delta to the exact
//! value it replaces. Per-thread cells cannot give that without a global
//! order (the sharded strategy's gauges need record numbers and fences for
//! it), and a gauge is written at the rate of what it measures, so a gauge
//! written from many threads at once is shared by nature: this is the one
//! kind of series that never spreads.
//!
//! Any `f64` is stored as given, NaN and infinities included (Prometheus
//! carries them); each write that leaves a non-finite value is counted in
//! [`Stats::non_finite_gauge_writes`](super::Stats::non_finite_gauge_writes).

use std::sync::Arc;

use super::series::{mix, Series};
use crate::sync::{AtomicU64, Ordering};

/// A gauge's cell: the value's bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCells {
    bits: crossbeam_utils::CachePadded<AtomicU64>,
}

impl GaugeCells {
    pub(crate) fn read(&self) -> f64 {
        // Relaxed: the word is its own datum (see the module docs).
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }

    /// Every NaN prints alike: arithmetic on NaN leaves its payload and sign
    /// unspecified, so a hidden gauge that stays NaN stays hidden.
    pub(crate) fn fingerprint(value: f64) -> u64 {
        let bits = if value.is_nan() {
            f64::NAN.to_bits()
        } else {
            value.to_bits()
        };
        mix(bits)
    }
}

/// A gauge: cheap to clone, `Send + Sync`; `set` is wait-free, `add` and
/// `sub` lock-free.
///
/// ```
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let depth = registry.gauge("queue_depth", &[])?;
/// depth.set(4.0);
/// depth.add(2.5);
/// depth.sub(0.5);
/// assert_eq!(depth.get(), 6.0);
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gauge {
    pub(crate) series: Arc<Series<GaugeCells>>,
}

impl Gauge {
    /// Sets the value: the last write in the word's modification order
    /// wins (see the [module docs](crate::registry)).
    #[inline]
    pub fn set(&self, value: f64) {
        // Relaxed: the word is its own datum; its modification order is the
        // gauge's order of writes.
        self.series
            .cells
            .bits
            .store(value.to_bits(), Ordering::Relaxed);
        self.count_non_finite(value);
    }

    /// Adds `delta` (negative to lower it). Lock-free: a CAS loop that
    /// retries only when another write got in first.
    #[inline]
    pub fn add(&self, delta: f64) {
        // Relaxed, success and failure: each CAS replaces the exact value it
        // read, which is all the gauge's order needs.
        let (Ok(old) | Err(old)) =
            self.series
                .cells
                .bits
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + delta).to_bits())
                });
        self.count_non_finite(f64::from_bits(old) + delta);
    }

    /// Subtracts `delta`: `add(-delta)`.
    #[inline]
    pub fn sub(&self, delta: f64) {
        self.add(-delta);
    }

    /// The value now.
    pub fn get(&self) -> f64 {
        self.series.cells.read()
    }

    #[inline]
    fn count_non_finite(&self, value: f64) {
        if !value.is_finite() {
            // Relaxed: a statistic.
            self.series
                .head
                .shared
                .counts
                .non_finite_gauge_writes
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}
