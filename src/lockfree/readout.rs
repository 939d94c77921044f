//! Raw readings of the lock-free strategies' cells, merged across shards or
//! taken from shared cells, and turned into snapshots by the same
//! constructors the reference strategies use.
//!
//! A reading is plain data: the sharded strategy subtracts the reading
//! saved at the last reset from a fresh one (counters only grow, so the
//! difference is exactly what was recorded in between); the atomic strategy
//! measures its cells' values from an empty reading.

use std::{cell::Cell, time::Duration};

use crate::{
    config::Config,
    lockfree::counters::{
        Counter, Counters, Load, Owned, OwnedCounters, OwnedHistogram, OwnedWide, RelaxedLoads,
        SharedHistogram, Writers,
    },
    metric::layout::Layout,
    snapshot::{
        BatchSnapshot, Extent, HistogramSummary, LatencySnapshot, ModeSnapshot, QueueDepthSnapshot,
        Snapshot, ThroughputSnapshot, WindowRate,
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

    /// `snapshot` with the exact (latency, queue depth) extremes shown
    /// (`LatencySnapshot::with_exact`: an extreme outside its bucket keeps
    /// the bucket's bound).
    pub(crate) fn exact(
        &self,
        mut snapshot: Snapshot,
        (latency, queue): (Extent, Extent),
    ) -> Snapshot {
        let (l, q) = (&self.latency, &self.queue);
        snapshot.latency = snapshot
            .latency
            .with_exact(latency, |v, r| l.same_bucket(v, r));
        snapshot.queue_depth = snapshot
            .queue_depth
            .with_exact(queue, |v, r| q.same_bucket(v, r));
        snapshot
    }
}

/// The exact sum of the samples counted in `counts` ((index, count) pairs), given
/// that sum modulo 2^64.
///
/// Each counted sample lies in its counter's equivalence range, so the
/// true sum lies within half the ranges' total width of the sum of their
/// midpoints. While that half-width is below 2^63 ns, one value congruent
/// to `wrapped` lies that close to the estimate, and it is the sum. A range
/// is at most 2^-7 of its values at 2 significant digits, the default (2^-10
/// at 3, 2^-4 at 1), so this holds while the interval's summed latency
/// stays below about 2^70 ns (37,000 years; 2^73 ns at 3 digits, 2^67 ns at
/// 1). A reading taken while
/// threads record may pair counts and sum a few samples apart, which moves
/// neither value by anything near 2^63.
fn resolve_sum(wrapped: u64, counts: impl Iterator<Item = (usize, u64)>, layout: &Layout) -> u128 {
    let mut estimate = 0_u128;
    for (index, count) in counts {
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

/// The indexes of `mask`'s set bits, lowest first.
fn bits(mask: u64) -> impl Iterator<Item = usize> + Clone {
    let mut rest = mask;
    std::iter::from_fn(move || {
        let i = rest.trailing_zeros() as usize;
        rest &= rest.wrapping_sub(1);
        (i < 64).then_some(i)
    })
}

/// Counters `start .. end` of chunk `chunk` of a `len`-counter array.
fn chunk_range(chunk: usize, chunk_shift: u32, len: usize) -> (usize, usize) {
    let start = chunk << chunk_shift;
    (start, len.min(start + (1 << chunk_shift)))
}

/// The summary and exact sum of a difference of readings: `counts` holds
/// the chunks marked in `chunks`, in order; `wrapped` is the sum modulo
/// 2^64. Without `quantiles`, the summary's quantiles are left 0
/// ([`Layout::extent`]).
fn summarise(
    chunks: u64,
    shift: u32,
    counts: &[u64],
    wrapped: u64,
    layout: &Layout,
    quantiles: bool,
) -> (HistogramSummary, u128) {
    let len = layout.len();
    let runs = bits(chunks).scan(0, |at, i| {
        let (start, end) = chunk_range(i, shift, len);
        let run = &counts[*at..*at + end - start];
        *at += end - start;
        Some((start, run))
    });
    // A sum of zero is zero, not a multiple of 2^64, unless 2^64 could be
    // reached at all (see below).
    let summary = if quantiles {
        layout.summary(runs.clone(), wrapped != 0)
    } else {
        layout.extent(runs.clone(), wrapped != 0)
    };
    // The common case needs no recovery: counts too small to reach 2^64
    // even if every sample were the highest trackable value.
    let sum = if u128::from(summary.count) * u128::from(layout.highest()) <= u128::from(u64::MAX) {
        u128::from(wrapped)
    } else {
        let counts =
            runs.flat_map(|(start, run)| run.iter().enumerate().map(move |(j, &n)| (start + j, n)));
        resolve_sum(wrapped, counts, layout)
    };
    (summary, sum)
}

/// `sum`, held within the range its counted samples allow: at least the
/// sum of their buckets' lowest values, at most that of their highest.
/// The true sum of the counted samples lies there, so this never moves a
/// sum away from it; it bounds what a cumulative reading made while
/// threads record can pair with its counts (`registry::histogram`'s
/// module docs).
fn within_buckets<'a>(
    sum: u128,
    runs: impl Iterator<Item = (usize, &'a [u64])>,
    layout: &Layout,
) -> u128 {
    let (mut low, mut high) = (0_u128, 0_u128);
    for (start, run) in runs {
        for (j, &n) in run.iter().enumerate() {
            if n != 0 {
                let (floor, width) = layout.range_at(start + j);
                low += u128::from(n) * u128::from(floor);
                high += u128::from(n) * (u128::from(floor) + u128::from(width) - 1);
            }
        }
    }
    sum.clamp(low, high)
}

impl Reading {
    /// [`snapshot`](Self::snapshot), consuming the reading: its histograms
    /// become their own differences, with no copy.
    pub(crate) fn into_snapshot(
        self,
        base: &Parts,
        base_at_ns: u64,
        layouts: &Layouts,
    ) -> Snapshot {
        let Reading {
            now_ns,
            parts,
            batch_current,
            queue_current,
            windows,
            mode,
        } = self;
        Snapshot {
            taken_at: Duration::from_nanos(now_ns),
            since_reset: Duration::from_nanos(now_ns.saturating_sub(base_at_ns)),
            latency: parts
                .latency
                .into_latency_since(&base.latency, &layouts.latency),
            throughput: parts.throughput.since(&base.throughput).snapshot(windows),
            batch: parts.batch.since(&base.batch, batch_current),
            queue_depth: parts
                .queue
                .into_queue_since(&base.queue, &layouts.queue, queue_current),
            mode,
        }
    }
}

/// A histogram's counts, sum and clamp count. The counts are kept by
/// chunk, as the counter arrays mark them (see `lockfree::counters`): only
/// the chunks some shard wrote are held, so a reading costs what was
/// recorded, not the histogram's full size.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawHistogram {
    /// Bit `i`: chunk `i` (counters `i << chunk_shift ..`) is in `counts`;
    /// every counter of the other chunks is zero.
    chunks: u64,
    chunk_shift: u32,
    /// The held chunks, in order, each `1 << chunk_shift` counters but the
    /// array's last chunk, which ends at the layout's length.
    counts: Vec<u64>,
    /// Modulo 2^64: see `resolve_sum`.
    pub(crate) sum: u64,
    pub(crate) clamped: u64,
    /// Samples cut by saturation (the registry's histograms; 0 in the
    /// collectors'): by records at a counter's cap, and by the reading
    /// ([`saturate`](Self::saturate)).
    pub(crate) saturated: u64,
}

impl RawHistogram {
    /// Saturates a reading merged with saturating adds (the registry's
    /// histograms, `RawHistogram::from_runs`): each counter that reads
    /// `u64::MAX` is recounted exactly by `exact` (its index), what it
    /// lost is cut, and then, if the counters total more than
    /// `u64::MAX`, the highest are cut until they total exactly that.
    /// So the count stays the counters' total. Returns the samples cut.
    pub(crate) fn saturate(&mut self, layout: &Layout, exact: impl Fn(usize) -> u128) -> u128 {
        let mut cut = 0_u128;
        // The high and low halves summed apart, as in `Layout::extent`:
        // the pass vectorises; a saturated counter is rare.
        let (mut high, mut low, mut full) = (0_u64, 0_u64, false);
        for &n in &self.counts {
            high += n >> 32;
            low += n & u64::from(u32::MAX);
            full |= n == u64::MAX;
        }
        if full {
            for (start, run) in self.runs(layout) {
                for (j, &n) in run.iter().enumerate() {
                    if n == u64::MAX {
                        cut += exact(start + j).saturating_sub(u128::from(u64::MAX));
                    }
                }
            }
        }
        let total = (u128::from(high) << 32) + u128::from(low);
        let Some(mut excess) = total.checked_sub(u128::from(u64::MAX)) else {
            return cut;
        };
        cut += excess;
        // The held chunks are in index order: the highest values last.
        for n in self.counts.iter_mut().rev() {
            if excess == 0 {
                break;
            }
            // At most `*n`, so it fits a u64.
            let take = u128::from(*n).min(excess);
            *n -= take as u64;
            excess -= take;
        }
        cut
    }

    /// The offset in `counts` of held chunk `chunk`: every held chunk
    /// before it is whole.
    fn offset(&self, chunk: usize) -> usize {
        ((self.chunks & ((1 << chunk) - 1)).count_ones() as usize) << self.chunk_shift
    }

    /// The counts of chunk `chunk` of a `len`-counter array, if held.
    fn chunk(&self, chunk: usize, len: usize) -> Option<&[u64]> {
        let (start, end) = chunk_range(chunk, self.chunk_shift, len);
        let at = self.offset(chunk);
        (self.chunks & (1 << chunk) != 0).then(|| &self.counts[at..at + end - start])
    }

    /// The merge of every one-writer histogram in `cells` (all of `layout`),
    /// loading the counts with `L`'s ordering: one buffer for the chunks
    /// any of them wrote, built chunk by chunk, each chunk copied from the
    /// first array that wrote it and the others added in place.
    pub(crate) fn merged<'a, L: Load>(
        cells: impl Iterator<Item = &'a OwnedHistogram> + Clone,
        layout: &Layout,
    ) -> Self {
        let len = layout.len();
        let mut raw = RawHistogram {
            chunks: cells.clone().fold(0, |any, c| any | c.counts.chunks()),
            chunk_shift: cells.clone().next().map_or(0, |c| c.counts.chunk_shift()),
            ..RawHistogram::default()
        };
        for c in cells.clone() {
            raw.sum = raw.sum.wrapping_add(c.sum.load());
            raw.clamped = raw.clamped.wrapping_add(c.clamped.load());
        }
        let mut counts = Vec::with_capacity(
            bits(raw.chunks)
                .map(|i| {
                    let (start, end) = chunk_range(i, raw.chunk_shift, len);
                    end - start
                })
                .sum(),
        );
        let mut writers = Vec::new();
        for i in bits(raw.chunks) {
            let (start, end) = chunk_range(i, raw.chunk_shift, len);
            let at = counts.len();
            writers.clear();
            // A cells' mark missed by the union above is left out: the
            // records behind it are concurrent with this reading.
            writers.extend(
                cells
                    .clone()
                    .map(|c| &c.counts)
                    .filter(|c| c.chunks() & raw.chunks & (1 << i) != 0),
            );
            if let Some((first, rest)) = writers.split_first() {
                first.extend_with_chunk::<L>(i, &mut counts);
                // Four arrays at a time: four streams of loads in flight.
                let into = &mut counts[at..];
                for group in rest.chunks(4) {
                    match *group {
                        [a, b, c, d] => OwnedCounters::add_chunks_to::<L, 4>([a, b, c, d], i, into),
                        [a, b, c] => OwnedCounters::add_chunks_to::<L, 3>([a, b, c], i, into),
                        [a, b] => OwnedCounters::add_chunks_to::<L, 2>([a, b], i, into),
                        [a] => a.add_chunk_to::<L>(i, into),
                        _ => unreachable!("chunks(4) yields 1 to 4"),
                    }
                }
            }
            counts.resize(at + end - start, 0);
        }
        raw.counts = counts;
        raw
    }

    /// A reading of sparse counts (the registry's counter pages): `runs`
    /// are (first index, counts) pairs of a `len`-counter array, in any
    /// order, possibly overlapping (overlaps add, saturating if
    /// `saturating`, else wrapping), each at most `1 << min_shift`
    /// counters from a multiple of that. Chunks are at least that long, so
    /// every run lies in one chunk.
    pub(crate) fn from_runs<const N: usize>(
        len: usize,
        min_shift: u32,
        runs: &[(usize, [u64; N])],
        saturating: bool,
    ) -> Self {
        let chunk_shift = len
            .div_ceil(64)
            .next_power_of_two()
            .trailing_zeros()
            .max(min_shift);
        let chunks = runs
            .iter()
            .fold(0_u64, |any, &(start, _)| any | 1 << (start >> chunk_shift));
        let mut raw = RawHistogram {
            chunks,
            chunk_shift,
            ..RawHistogram::default()
        };
        let held = bits(chunks)
            .map(|i| {
                let (start, end) = chunk_range(i, chunk_shift, len);
                end - start
            })
            .sum();
        let mut counts = vec![0_u64; held];
        for (start, run) in runs {
            let at = raw.offset(start >> chunk_shift) + (start & ((1 << chunk_shift) - 1));
            let into = counts[at..].iter_mut().zip(run);
            if saturating {
                into.for_each(|(into, &n)| *into = into.saturating_add(n));
            } else {
                // Vectorises; a bucket passes `u64::MAX` over its cells
                // only after a `large` record (`registry::histogram`).
                into.for_each(|(into, &n)| *into = into.wrapping_add(n));
            }
        }
        raw.counts = counts;
        raw
    }

    /// Adds `counts` (any writers, of `layout`), its sum modulo 2^64 and
    /// its clamp count into this reading, taking in the chunks it marks
    /// that the reading lacks.
    pub(crate) fn add_counts<W: Writers>(
        &mut self,
        counts: &Counters<W>,
        sum: u64,
        clamped: u64,
        layout: &Layout,
    ) {
        // Relaxed: counters are read one by one (see `Counters`).
        self.add_counts_with::<RelaxedLoads, W>(counts, sum, clamped, layout);
    }

    /// [`add_counts`](Self::add_counts), loading the counts as `L`.
    pub(crate) fn add_counts_with<L: Load, W: Writers>(
        &mut self,
        counts: &Counters<W>,
        sum: u64,
        clamped: u64,
        layout: &Layout,
    ) {
        self.sum = self.sum.wrapping_add(sum);
        self.clamped = self.clamped.wrapping_add(clamped);
        let theirs = counts.chunks();
        if theirs == 0 {
            return;
        }
        let len = layout.len();
        if self.chunks == 0 {
            self.chunk_shift = counts.chunk_shift();
        }
        debug_assert_eq!(
            self.chunk_shift,
            counts.chunk_shift(),
            "readings of one layout"
        );
        let all = self.chunks | theirs;
        if all != self.chunks {
            // Rebuilt with the new chunks zero, in chunk order.
            let mut grown = Vec::with_capacity(
                bits(all)
                    .map(|i| {
                        let (start, end) = chunk_range(i, self.chunk_shift, len);
                        end - start
                    })
                    .sum(),
            );
            for i in bits(all) {
                let (start, end) = chunk_range(i, self.chunk_shift, len);
                match self.chunk(i, len) {
                    Some(held) => grown.extend_from_slice(held),
                    None => grown.resize(grown.len() + end - start, 0),
                }
            }
            self.counts = grown;
            self.chunks = all;
        }
        for i in bits(theirs) {
            let (start, end) = chunk_range(i, self.chunk_shift, len);
            let at = self.offset(i);
            counts.add_chunk_to::<L>(i, &mut self.counts[at..at + end - start]);
        }
    }

    /// `self - base`, as a reading of its own.
    pub(crate) fn minus(&self, base: &RawHistogram, layout: &Layout) -> RawHistogram {
        let mut counts = Vec::new();
        let (chunks, chunk_shift) = self.diff_into(base, layout.len(), &mut counts);
        if self.saturated != 0 {
            // A reading that cut samples may show a bucket below its base
            // (its top cut moves up as lower buckets grow): that bucket's
            // difference is 0, not a wrapped one.
            let len = layout.len();
            let mut at = 0;
            for i in bits(chunks) {
                let (start, end) = chunk_range(i, chunk_shift, len);
                if let Some(then) = base.chunk(i, len) {
                    let now = self.chunk(i, len);
                    for (j, &then) in then.iter().enumerate() {
                        if then > now.map_or(0, |now| now[j]) {
                            counts[at + j] = 0;
                        }
                    }
                }
                at += end - start;
            }
        }
        RawHistogram {
            chunks,
            chunk_shift,
            counts,
            sum: self.sum.wrapping_sub(base.sum),
            clamped: self.clamped.wrapping_sub(base.clamped),
            saturated: self.saturated.saturating_sub(base.saturated),
        }
    }

    /// The held runs of counters: (first index, counts), in order.
    pub(crate) fn runs<'a>(
        &'a self,
        layout: &Layout,
    ) -> impl Iterator<Item = (usize, &'a [u64])> + Clone + 'a {
        let (len, shift) = (layout.len(), self.chunk_shift);
        bits(self.chunks).scan(0, move |at, i| {
            let (start, end) = chunk_range(i, shift, len);
            let run = &self.counts[*at..*at + end - start];
            *at += end - start;
            Some((start, run))
        })
    }

    /// The count, min and max (the summary's quantiles left 0) and the
    /// exact sum: for readers that find the quantiles they need in the
    /// counts.
    pub(crate) fn extent(&self, layout: &Layout) -> (HistogramSummary, u128) {
        summarise(
            self.chunks,
            self.chunk_shift,
            &self.counts,
            self.sum,
            layout,
            false,
        )
    }

    /// [`extent`](Self::extent), the sum held within the counts' buckets
    /// (`within_buckets`).
    pub(crate) fn bounded_extent(&self, layout: &Layout) -> (HistogramSummary, u128) {
        let (summary, sum) = self.extent(layout);
        (summary, within_buckets(sum, self.runs(layout), layout))
    }

    /// What shared `cells` hold.
    pub(crate) fn load(cells: &SharedHistogram, layout: &Layout) -> Self {
        let mut raw = RawHistogram::default();
        // Relaxed: each cell is its own datum.
        // Modulo 2^64, like an owned sum (`resolve_sum` recovers it).
        let sum = cells.sum.load(Ordering::Relaxed) as u128 as u64;
        // Only the chunks a write marked, as for owned arrays.
        raw.add_counts(&cells.counts, sum, cells.clamped.load(), layout);
        raw
    }

    /// What shared `cells` hold, leaving them zero.
    pub(crate) fn take(cells: &SharedHistogram) -> Self {
        RawHistogram {
            // Every counter is taken, marked or not: all chunks are held.
            chunks: cells.counts.all_chunks(),
            chunk_shift: cells.counts.chunk_shift(),
            counts: cells.counts.take(),
            // Relaxed: each cell is its own datum.
            // Modulo 2^64, as in `load`.
            sum: cells.sum.swap(0.0, Ordering::Relaxed) as u128 as u64,
            clamped: cells.clamped.take(),
            saturated: 0,
        }
    }

    /// `self - base` over the chunks either holds (every other counter is
    /// zero in both), into `diff`: the chunks in order, each subtracted in
    /// place; returns the chunks.
    fn diff_into(&self, base: &RawHistogram, len: usize, diff: &mut Vec<u64>) -> (u64, u32) {
        debug_assert!(
            self.chunks == 0 || base.chunks == 0 || self.chunk_shift == base.chunk_shift,
            "readings of one layout"
        );
        let shift = if self.chunks != 0 {
            self.chunk_shift
        } else {
            base.chunk_shift
        };
        let chunks = self.chunks | base.chunks;
        diff.clear();
        for i in bits(chunks) {
            let (start, end) = chunk_range(i, shift, len);
            // One pass per chunk: copied, or copied and subtracted.
            match (self.chunk(i, len), base.chunk(i, len)) {
                (Some(now), None) => diff.extend_from_slice(now),
                (Some(now), Some(then)) => diff.extend(
                    now.iter()
                        .zip(then)
                        .map(|(&now, &then)| now.wrapping_sub(then)),
                ),
                (None, Some(then)) => diff.extend(then.iter().map(|&then| then.wrapping_neg())),
                (None, None) => diff.resize(diff.len() + end - start, 0),
            }
        }
        (chunks, shift)
    }

    /// The summary of `self - base`, its sum and clamp count, through a
    /// per-thread scratch for the difference.
    fn since(&self, base: &RawHistogram, layout: &Layout) -> (HistogramSummary, u128, u64) {
        thread_local! {
            /// A reading thread's scratch for the difference, kept between
            /// readings: as long as the most chunks it has read at once.
            static DIFF: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
        }
        // Taken out, so that a nested use would just start a new one.
        let mut diff = DIFF.with(Cell::take);
        let (chunks, shift) = self.diff_into(base, layout.len(), &mut diff);
        let (summary, sum) = summarise(
            chunks,
            shift,
            &diff,
            self.sum.wrapping_sub(base.sum),
            layout,
            true,
        );
        DIFF.with(|cell| cell.set(diff));
        (summary, sum, self.clamped.wrapping_sub(base.clamped))
    }

    /// [`since`](Self::since), subtracting `base` in this reading's own
    /// buffer when it holds every chunk `base` does (always, for a reading
    /// taken after its base: chunks are never unmarked).
    fn into_since(mut self, base: &RawHistogram, layout: &Layout) -> (HistogramSummary, u128, u64) {
        let len = layout.len();
        if base.chunks & !self.chunks != 0
            || (base.chunks != 0 && base.chunk_shift != self.chunk_shift)
        {
            return self.since(base, layout);
        }
        for i in bits(base.chunks) {
            let (start, end) = chunk_range(i, self.chunk_shift, len);
            let (at, then) = (self.offset(i), base.chunk(i, len).unwrap_or_default());
            for (now, &then) in self.counts[at..at + end - start].iter_mut().zip(then) {
                *now = now.wrapping_sub(then);
            }
        }
        let wrapped = self.sum.wrapping_sub(base.sum);
        let (summary, sum) = summarise(
            self.chunks,
            self.chunk_shift,
            &self.counts,
            wrapped,
            layout,
            true,
        );
        (summary, sum, self.clamped.wrapping_sub(base.clamped))
    }

    /// Latency recorded since `base` (use `RawHistogram::default()` for
    /// everything).
    pub(crate) fn latency_since(&self, base: &RawHistogram, layout: &Layout) -> LatencySnapshot {
        let (summary, sum, clamped) = self.since(base, layout);
        LatencySnapshot::from_summary(&summary, sum, clamped)
    }

    /// [`latency_since`](Self::latency_since), consuming this reading.
    pub(crate) fn into_latency_since(
        self,
        base: &RawHistogram,
        layout: &Layout,
    ) -> LatencySnapshot {
        let (summary, sum, clamped) = self.into_since(base, layout);
        LatencySnapshot::from_summary(&summary, sum, clamped)
    }

    /// [`queue_since`](Self::queue_since), consuming this reading.
    pub(crate) fn into_queue_since(
        self,
        base: &RawHistogram,
        layout: &Layout,
        current: Option<u64>,
    ) -> QueueDepthSnapshot {
        let (summary, sum, clamped) = self.into_since(base, layout);
        QueueDepthSnapshot::from_summary(&summary, sum, current, clamped)
    }

    /// Queue depths recorded since `base`.
    pub(crate) fn queue_since(
        &self,
        base: &RawHistogram,
        layout: &Layout,
        current: Option<u64>,
    ) -> QueueDepthSnapshot {
        let (summary, sum, clamped) = self.since(base, layout);
        QueueDepthSnapshot::from_summary(&summary, sum, current, clamped)
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

    /// Adds what `counts` and `clamped` hold, loading the counts as `L`.
    pub(crate) fn add<L: Load, W: Writers>(&mut self, counts: &Counters<W>, clamped: &Counter<W>) {
        self.clamped = self.clamped.wrapping_add(clamped.load());
        counts.add_all_to::<L>(&mut self.counts);
    }

    /// Batch sizes recorded since `base`.
    pub(crate) fn since(&self, base: &RawBatch, current: Option<u64>) -> BatchSnapshot {
        let clamped = self.clamped.wrapping_sub(base.clamped);
        // Two loops, each a plain pass the compiler unrolls: an empty base
        // (no reset yet) counts as zeros.
        if base.counts.len() == self.counts.len() {
            let diff = self.counts.iter().zip(&base.counts);
            BatchSnapshot::from_distribution(
                diff.map(|(&now, &then)| now.wrapping_sub(then)),
                current,
                clamped,
            )
        } else {
            debug_assert!(base.counts.is_empty(), "readings of one configuration");
            BatchSnapshot::from_distribution(self.counts.iter().copied(), current, clamped)
        }
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

    /// [`add`](Self::add) for one-writer totals that never saturate.
    pub(crate) fn add_wide(
        &mut self,
        tokens: &OwnedWide,
        requests: &OwnedWide,
        clamped: &Counter<Owned>,
    ) {
        self.tokens = self.tokens.saturating_add(tokens.load());
        self.requests = self.requests.saturating_add(requests.load());
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
            assert_eq!(
                resolve_sum(wrapped, counts.iter().copied().enumerate(), &layout),
                exact,
                "{samples:?}"
            );
        }
    }

    #[test]
    fn even_one_significant_digit_recovers_large_sums() {
        let layout = Layout::new(1, 1 << 62, 1);
        let (counts, wrapped, exact) = reading(&layout, &[(3 << 60, 1 << 4), (17, 5)]);
        assert!(exact > u128::from(u64::MAX));
        assert_eq!(
            resolve_sum(wrapped, counts.iter().copied().enumerate(), &layout),
            exact
        );
    }
}
