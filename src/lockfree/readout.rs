//! Raw readings of the lock-free strategies' cells, merged across shards or
//! taken from shared cells, and turned into snapshots by the same
//! constructors the reference strategies use.
//!
//! A reading is plain data: the sharded strategy subtracts the reading
//! saved at the last reset from a fresh one (counters only grow, so the
//! difference is exactly what was recorded in between); the atomic strategy
//! measures its cells' values from an empty reading.

use std::time::Duration;

use crate::{
    config::Config,
    lockfree::counters::{Counter, Counters, OwnedHistogram, SharedHistogram, Writers},
    metric::layout::Layout,
    snapshot::{
        BatchSnapshot, LatencySnapshot, ModeSnapshot, QueueDepthSnapshot, Snapshot,
        ThroughputSnapshot, WindowRate,
    },
    sync::Ordering,
};

/// The histogram layouts a configuration implies.
#[derive(Debug)]
pub(crate) struct Layouts {
    pub(crate) latency: Layout,
    pub(crate) queue: Layout,
}

impl Layouts {
    pub(crate) fn new(config: &Config) -> Self {
        Layouts {
            latency: config.latency_layout(),
            queue: config.queue_layout(),
        }
    }
}

/// `now - base`, counter by counter; an empty `base` counts as zeros.
fn counts_since<'a>(now: &'a [u64], base: &'a [u64]) -> impl Iterator<Item = u64> + 'a {
    let base = base.iter().copied().chain(std::iter::repeat(0));
    now.iter()
        .zip(base)
        .map(|(&now, then)| now.wrapping_sub(then))
}

/// The exact sum of the samples counted in `counts` (index -> count), given
/// that sum modulo 2^64.
///
/// Each counted sample lies in its counter's equivalence range, so the
/// true sum lies within half the ranges' total width of the sum of their
/// midpoints. While that half-width is below 2^63 ns, one value congruent
/// to `wrapped` lies that close to the estimate, and it is the sum. A range
/// is at most 2^-10 of its values at 3 significant digits (2^-4 at 1), so
/// this holds while the interval's summed latency stays below about 2^73 ns
/// (300,000 years; 2^67 ns, 4,700 years, at 1 digit). A reading taken while
/// threads record may pair counts and sum a few samples apart, which moves
/// neither value by anything near 2^63.
fn resolve_sum(wrapped: u64, counts: &[u64], layout: &Layout) -> u128 {
    let mut estimate = 0_u128;
    for (index, &count) in counts.iter().enumerate() {
        if count != 0 {
            let (low, width) = layout.range_at(index);
            estimate += u128::from(count) * (u128::from(low) + u128::from(width / 2));
        }
    }
    // The value congruent to `wrapped` modulo 2^64 nearest `estimate`.
    let below = estimate.saturating_sub(1 << 63);
    let base = below & !u128::from(u64::MAX);
    let candidate = base | u128::from(wrapped);
    if candidate < below {
        candidate + (1 << 64)
    } else {
        candidate
    }
}

/// The counters a reading is measured from: everything since creation for
/// `Parts::default()`, or a reading saved at a reset.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub(crate) latency: RawHistogram,
    pub(crate) queue: RawHistogram,
    pub(crate) batch: RawBatch,
    pub(crate) throughput: RawThroughput,
}

/// What one snapshot gathered.
#[derive(Debug)]
pub(crate) struct Reading {
    pub(crate) now_ns: u64,
    pub(crate) parts: Parts,
    pub(crate) batch_current: Option<u64>,
    pub(crate) queue_current: Option<u64>,
    /// Already measured from the base.
    pub(crate) windows: Vec<WindowRate>,
    /// Already measured from the base.
    pub(crate) mode: ModeSnapshot,
}

impl Reading {
    /// The snapshot of this reading measured from `base`, saved at
    /// `base_at_ns`.
    pub(crate) fn snapshot(&self, base: &Parts, base_at_ns: u64, layouts: &Layouts) -> Snapshot {
        let now = self.now_ns;
        Snapshot {
            taken_at: Duration::from_nanos(now),
            since_reset: Duration::from_nanos(now.saturating_sub(base_at_ns)),
            latency: self
                .parts
                .latency
                .latency_since(&base.latency, &layouts.latency),
            throughput: self
                .parts
                .throughput
                .since(&base.throughput)
                .snapshot(self.windows.clone()),
            batch: self.parts.batch.since(&base.batch, self.batch_current),
            queue_depth: self.parts.queue.queue_since(
                &base.queue,
                &layouts.queue,
                self.queue_current,
            ),
            mode: self.mode.clone(),
        }
    }
}

/// A histogram's counts, sum and clamp count.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawHistogram {
    /// Empty means all zero (a reading never taken).
    pub(crate) counts: Vec<u64>,
    /// Modulo 2^64: see `resolve_sum`.
    pub(crate) sum: u64,
    pub(crate) clamped: u64,
}

impl RawHistogram {
    pub(crate) fn zeroed(layout: &Layout) -> Self {
        RawHistogram {
            counts: vec![0; layout.len()],
            ..Self::default()
        }
    }

    /// Adds what one thread's `cells` hold, loading the counts with `order`.
    pub(crate) fn add(&mut self, cells: &OwnedHistogram, order: Ordering) {
        self.sum = self.sum.wrapping_add(cells.sum.load());
        self.clamped = self.clamped.wrapping_add(cells.clamped.load());
        cells.counts.add_to(&mut self.counts, order);
    }

    /// What shared `cells` hold.
    pub(crate) fn load(cells: &SharedHistogram, layout: &Layout) -> Self {
        let mut counts = vec![0; layout.len()];
        // Relaxed: counters are read one by one (see `Counters`).
        cells.counts.add_to(&mut counts, Ordering::Relaxed);
        RawHistogram {
            counts,
            // Relaxed: each cell is its own datum.
            // Modulo 2^64, like an owned sum (`resolve_sum` recovers it).
            sum: cells.sum.load(Ordering::Relaxed) as u128 as u64,
            clamped: cells.clamped.load(),
        }
    }

    /// What shared `cells` hold, leaving them zero.
    pub(crate) fn take(cells: &SharedHistogram) -> Self {
        RawHistogram {
            counts: cells.counts.take(),
            // Relaxed: each cell is its own datum.
            // Modulo 2^64, as in `load`.
            sum: cells.sum.swap(0.0, Ordering::Relaxed) as u128 as u64,
            clamped: cells.clamped.take(),
        }
    }

    /// The histogram of `self - base`, its sum and clamp count.
    fn since(
        &self,
        base: &RawHistogram,
        layout: &Layout,
    ) -> (hdrhistogram::Histogram<u64>, u128, u64) {
        let wrapped = self.sum.wrapping_sub(base.sum);
        let mut counts = self.counts.clone();
        for (count, base) in counts.iter_mut().zip(&base.counts) {
            *count = count.wrapping_sub(*base);
        }
        // A sum of zero is zero, not a multiple of 2^64, unless 2^64 could be
        // reached at all (see below).
        let hist = layout.histogram_from(&counts, wrapped != 0);
        // The common case needs no recovery: counts too small to reach 2^64
        // even if every sample were the highest trackable value.
        let sum = if u128::from(hist.len()) * u128::from(layout.highest()) <= u128::from(u64::MAX) {
            u128::from(wrapped)
        } else {
            resolve_sum(wrapped, &counts, layout)
        };
        (hist, sum, self.clamped.wrapping_sub(base.clamped))
    }

    /// Latency recorded since `base` (use `RawHistogram::default()` for
    /// everything).
    pub(crate) fn latency_since(&self, base: &RawHistogram, layout: &Layout) -> LatencySnapshot {
        let (hist, sum, clamped) = self.since(base, layout);
        LatencySnapshot::from_histogram(&hist, sum, clamped)
    }

    /// Queue depths recorded since `base`.
    pub(crate) fn queue_since(
        &self,
        base: &RawHistogram,
        layout: &Layout,
        current: Option<u64>,
    ) -> QueueDepthSnapshot {
        let (hist, sum, clamped) = self.since(base, layout);
        QueueDepthSnapshot::from_histogram(&hist, sum, current, clamped)
    }
}

/// The batch-size distribution and clamp count.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawBatch {
    /// Empty means all zero.
    pub(crate) counts: Vec<u64>,
    pub(crate) clamped: u64,
}

impl RawBatch {
    pub(crate) fn zeroed(len: usize) -> Self {
        RawBatch {
            counts: vec![0; len],
            clamped: 0,
        }
    }

    pub(crate) fn add<W: Writers>(
        &mut self,
        counts: &Counters<W>,
        clamped: &Counter<W>,
        order: Ordering,
    ) {
        self.clamped = self.clamped.wrapping_add(clamped.load());
        counts.add_to(&mut self.counts, order);
    }

    /// Batch sizes recorded since `base`.
    pub(crate) fn since(&self, base: &RawBatch, current: Option<u64>) -> BatchSnapshot {
        BatchSnapshot::from_distribution(
            counts_since(&self.counts, &base.counts),
            current,
            self.clamped.wrapping_sub(base.clamped),
        )
    }
}

/// Throughput totals. Each counter saturates at `u64::MAX`; their merged
/// sums are `u128`, so that merging many shards never wraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawThroughput {
    pub(crate) tokens: u128,
    pub(crate) requests: u128,
    pub(crate) clamped: u64,
}

impl RawThroughput {
    pub(crate) fn add<W: Writers>(
        &mut self,
        tokens: &Counter<W>,
        requests: &Counter<W>,
        clamped: &Counter<W>,
    ) {
        self.tokens += u128::from(tokens.load());
        self.requests += u128::from(requests.load());
        self.clamped = self.clamped.wrapping_add(clamped.load());
    }

    pub(crate) fn since(self, base: &RawThroughput) -> Self {
        // Saturating: totals only grow, so `base` never exceeds a later
        // reading; nothing may wrap if that ever failed.
        RawThroughput {
            tokens: self.tokens.saturating_sub(base.tokens),
            requests: self.requests.saturating_sub(base.requests),
            clamped: self.clamped.wrapping_sub(base.clamped),
        }
    }

    /// The snapshot, with totals past `u64::MAX` shown as `u64::MAX`.
    pub(crate) fn snapshot(self, windows: Vec<WindowRate>) -> ThroughputSnapshot {
        let saturated = |total: u128| u64::try_from(total).unwrap_or(u64::MAX);
        ThroughputSnapshot {
            windows,
            total_tokens: saturated(self.tokens),
            total_requests: saturated(self.requests),
            clamped: self.clamped,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Records `samples` into counts and a wrapping sum, as shards do.
    fn reading(layout: &Layout, samples: &[(u64, u64)]) -> (Vec<u64>, u64, u128) {
        let mut counts = vec![0; layout.len()];
        let (mut wrapped, mut exact) = (0_u64, 0_u128);
        for &(value, times) in samples {
            counts[layout.index_of(value)] += times;
            wrapped = wrapped.wrapping_add(value.wrapping_mul(times));
            exact += u128::from(value) * u128::from(times);
        }
        (counts, wrapped, exact)
    }

    #[test]
    fn sums_are_recovered_past_2_pow_64() {
        let layout = Layout::new(1_000, 1 << 62, 3);
        for samples in [
            vec![(5, 3)],
            vec![(1 << 62, 7), (12_345, 1_000)],
            vec![(1 << 62, 1 << 10), (999, 3)],
            vec![(3_600_000_000_000, 1 << 30), (1, 1)],
            vec![((1 << 62) - 1, 1_000), (7, 1 << 40)],
        ] {
            let (counts, wrapped, exact) = reading(&layout, &samples);
            assert_eq!(resolve_sum(wrapped, &counts, &layout), exact, "{samples:?}");
        }
    }

    #[test]
    fn even_one_significant_digit_recovers_large_sums() {
        let layout = Layout::new(1, 1 << 62, 1);
        let (counts, wrapped, exact) = reading(&layout, &[(3 << 60, 1 << 4), (17, 5)]);
        assert!(exact > u128::from(u64::MAX));
        assert_eq!(resolve_sum(wrapped, &counts, &layout), exact);
    }
}
