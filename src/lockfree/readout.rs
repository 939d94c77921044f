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
    lockfree::counters::{two_sum, Counter, Counters, HistogramCells},
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
            latency: Layout::new(
                config.latency_lowest_ns(),
                config.latency_highest_ns(),
                config.significant_digits(),
            ),
            queue: Layout::new(1, config.max_queue_depth(), config.significant_digits()),
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
    /// The sum is `sum + sum_error`, kept apart so that a difference of two
    /// large sums stays exact (see `HistogramCells`).
    pub(crate) sum: f64,
    pub(crate) sum_error: f64,
    pub(crate) clamped: u64,
    /// Nonzero values counted at index 0 (see `Layout::histogram_from`).
    pub(crate) first_run_nonzero: u64,
}

impl RawHistogram {
    pub(crate) fn zeroed(layout: &Layout) -> Self {
        RawHistogram {
            counts: vec![0; layout.len()],
            ..Self::default()
        }
    }

    /// Adds what `cells` hold, loading the counts with `order`.
    pub(crate) fn add(&mut self, cells: &HistogramCells, order: Ordering) {
        // Relaxed: the sum and clamp count are read on their own.
        let (sum, error) = two_sum(self.sum, cells.sum.load(Ordering::Relaxed));
        self.sum = sum;
        self.sum_error += error + cells.sum_error.load(Ordering::Relaxed);
        self.clamped = self.clamped.wrapping_add(cells.clamped.load());
        self.first_run_nonzero = self
            .first_run_nonzero
            .wrapping_add(cells.first_run_nonzero.load());
        cells.counts.add_to(&mut self.counts, order);
    }

    /// What `cells` hold, leaving them zero.
    pub(crate) fn take(cells: &HistogramCells) -> Self {
        RawHistogram {
            counts: cells.counts.take(),
            // Relaxed: each cell is its own datum.
            sum: cells.sum.swap(0.0, Ordering::Relaxed),
            sum_error: cells.sum_error.swap(0.0, Ordering::Relaxed),
            clamped: cells.clamped.take(),
            first_run_nonzero: cells.first_run_nonzero.take(),
        }
    }

    /// The histogram of `self - base`, its sum and clamp count.
    fn since(
        &self,
        base: &RawHistogram,
        layout: &Layout,
    ) -> (hdrhistogram::Histogram<u64>, f64, u64) {
        let base_counts = base.counts.iter().copied().chain(std::iter::repeat(0));
        let counts = self
            .counts
            .iter()
            .zip(base_counts)
            .map(|(&now, then)| now.wrapping_sub(then));
        (
            layout.histogram_from(
                counts,
                self.first_run_nonzero.wrapping_sub(base.first_run_nonzero),
            ),
            {
                let (sum, error) = two_sum(self.sum, -base.sum);
                sum + (error + (self.sum_error - base.sum_error))
            },
            self.clamped.wrapping_sub(base.clamped),
        )
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

    pub(crate) fn add(&mut self, counts: &Counters, clamped: &Counter, order: Ordering) {
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

/// Throughput totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawThroughput {
    pub(crate) tokens: u64,
    pub(crate) requests: u64,
    pub(crate) clamped: u64,
}

impl RawThroughput {
    pub(crate) fn add(&mut self, tokens: &Counter, requests: &Counter, clamped: &Counter) {
        self.tokens = self.tokens.wrapping_add(tokens.load());
        self.requests = self.requests.wrapping_add(requests.load());
        self.clamped = self.clamped.wrapping_add(clamped.load());
    }

    pub(crate) fn since(self, base: &RawThroughput) -> Self {
        RawThroughput {
            tokens: self.tokens.wrapping_sub(base.tokens),
            requests: self.requests.wrapping_sub(base.requests),
            clamped: self.clamped.wrapping_sub(base.clamped),
        }
    }

    pub(crate) fn snapshot(self, windows: Vec<WindowRate>) -> ThroughputSnapshot {
        ThroughputSnapshot {
            windows,
            total_tokens: self.tokens,
            total_requests: self.requests,
            clamped: self.clamped,
        }
    }
}
