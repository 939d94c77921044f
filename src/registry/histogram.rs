//! HDR histograms: counts laid out as `hdrhistogram` lays them out
//! (`metric::layout`), in shared atomics plus per-thread arrays once
//! contended (`registry::spread`), with a sum modulo 2^64 that readers make
//! exact (`lockfree::readout`).
//!
//! **Input rules.** Values are integers in the histogram's unit
//! ([`HistogramOpts`]). A value above the highest trackable one is
//! recorded as that value and counted as *clamped*. `record_f64(x)`
//! records `round(x * scale)`: `x` NaN or negative (below zero after
//! rounding) is *rejected*, not recorded, and counted; `+inf` and values
//! past the range are clamped. Nothing panics.
//!
//! **Saturation.** Counts never wrap. A bucket's count in one cell (the
//! shared cells, or a thread's own) stops at 2^63: `record_n` of 256
//! samples or more adds only what keeps the cell there (a CAS on shared
//! cells, so such records are lock-free; a checked store on a thread's
//! own) and counts the rest as cut. Smaller records are not checked, so
//! `record` costs what it did: above the cap a cell has 2^63 of headroom,
//! which they fill only after 2^55 records of 255 samples (years of one
//! thread doing nothing else) or 2^63 of one, and they are counted, not
//! cut. Once a histogram has had a record of 256 samples or more (until
//! then its buckets over all cells pass `u64::MAX` only after 2^56
//! records, years at a billion a second, and readings keep the cheaper
//! wrapping merge), a reading adds its cells up saturating at `u64::MAX` (recounting
//! such a bucket exactly, to count what it lost), then, if its buckets
//! total more than `u64::MAX`, cuts the highest buckets' counts until
//! they total exactly that: its count is still its buckets' total, and
//! its quantiles are those of the counts shown (the lowest samples kept).
//! That cut moves up as lower buckets grow, so a bucket may read less than
//! it did: an interval or window shows such a bucket as 0, never a wrapped
//! difference, and its count stays its buckets' total.
//! Every sample recorded is counted or cut
//! ([`HistogramValue::saturated`](super::HistogramValue::saturated), for
//! an interval the samples cut in it; `Stats::saturated_samples` counts
//! the records' cuts). A record's sum covers only the samples it kept,
//! but a reading's cut leaves the cut samples' values in the raw sum, so
//! a reading that cut anything reports its sum held within its counts'
//! buckets, as a snapshot's (below). The sum is a `u128`: `u64::MAX`
//! samples of the highest value fit, so it never saturates itself.
//! Counters differ in one respect: a counter stops at `u64::MAX`, a
//! single cell of a histogram's bucket at 2^63 (a cell's small records
//! need the headroom above it).
//!
//! **Sum and count.** A reading's count is its buckets' total; its sum is
//! read from separate words (one per cell), so the two are paired as
//! follows (`tests/histogram_sum_count.rs`, the loom model
//! `loom-tests/tests/histogram_readings.rs`). A record stores its count,
//! then its sum, each with Release. A reading loads every cell's sum, the
//! counts, then the sums again, with Acquire; if both loads of the sums
//! agree, no sum landed while the counts were read, and the reading's sum
//! is exactly that of the counted samples but for at most one record in
//! flight per recording thread (counted, its sum not yet stored). A reader
//! never waits for writers: it tries at most four times, and if a cell's
//! sum moved each time (a thread recording into it nonstop), the last
//! reading stands, its sum off by what landed while its counts were read.
//! A cumulative reading (a snapshot, `Registry::read_each`) then reports
//! its sum held within its counts' buckets: at least the sum of their
//! lowest values, at most that of their highest (the true sum of the
//! counted samples lies there, so this never moves a sum away from it).
//! So however long a reader is preempted, a snapshot's sum is off by at
//! most the histogram's resolution (1/128 of the sum at 2 significant
//! digits). An interval or window reading is the difference of two
//! cumulative readings' raw sums, not held, so that a consumer's
//! intervals add up exactly: it is exact but for the in-flight records of
//! its two readings when both agreed, and otherwise off by what landed
//! during the last count pass of the one that did not (in
//! `tests/histogram_sum_count.rs`, with four threads recording nonstop
//! into their own cells, a few intervals in a hundred; see
//! `papers/registry.md`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    series::{mix, Series},
    spread::{crosses, Shared, Spread},
    RegistryError,
};
use crate::{
    config::check_histogram,
    lockfree::{
        counters::{OwnedHistogram, SharedCounter, SharedCounters},
        readout::RawHistogram,
    },
    metric::{clamp, layout::Layout},
    sync::{AtomicU64, Ordering},
};

/// A histogram's range, precision and `f64` scale.
///
/// The default suits durations in nanoseconds: 1 ns to 1 hour, 2
/// significant digits (a quantile is within 1/128 of its value: see
/// `papers/precision.md`), and a scale of 1e9, so that
/// [`Histogram::record_f64`] takes seconds, as Prometheus' base unit.
///
/// ```
/// use lockfree_metrics::registry::HistogramOpts;
///
/// // Payload sizes in bytes, 1 B to 1 GiB, 3 significant digits.
/// let opts = HistogramOpts::new(1, 1 << 30, 3)?.scale(1.0)?;
/// assert_eq!(opts.highest(), 1 << 30);
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramOpts {
    lowest: u64,
    highest: u64,
    digits: u8,
    scale: f64,
}

impl Default for HistogramOpts {
    fn default() -> Self {
        HistogramOpts {
            lowest: 1,
            highest: 3_600_000_000_000,
            digits: 2,
            scale: 1e9,
        }
    }
}

impl HistogramOpts {
    /// Values from `lowest` (the unit of the lowest bucket, at least 1) to
    /// `highest`, to `digits` significant digits (0 to 5).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Histogram`] if `hdrhistogram` would refuse the
    /// bounds, or the counts array would exceed the crate's limit.
    pub fn new(lowest: u64, highest: u64, digits: u8) -> Result<Self, RegistryError> {
        check_histogram(lowest, highest, digits).map_err(RegistryError::Histogram)?;
        Ok(HistogramOpts {
            lowest,
            highest,
            digits,
            scale: 1e9,
        })
    }

    /// The factor [`Histogram::record_f64`] multiplies by (1e9 by default:
    /// seconds to nanoseconds; 1.0 to record `f64`s as they are).
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidScale`] unless `scale` is finite and above 0.
    pub fn scale(mut self, scale: f64) -> Result<Self, RegistryError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(RegistryError::InvalidScale(scale));
        }
        self.scale = scale;
        Ok(self)
    }

    /// The lowest bucket's unit.
    pub fn lowest(&self) -> u64 {
        self.lowest
    }

    /// The highest trackable value.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Significant digits.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The `f64` scale.
    pub fn get_scale(&self) -> f64 {
        self.scale
    }

    pub(crate) fn layout(&self) -> Layout {
        Layout::new(self.lowest, self.highest, self.digits)
    }
}

/// A bucket's count in one cell stops here (module docs): `record_n` of
/// [`LARGE`] samples or more adds only what keeps it at most this, and
/// counts the rest as cut. Records of fewer are not checked: from the cap,
/// they would need 2^63 more samples to wrap the cell, more than 2^55
/// records of the most they hold (years of one thread doing nothing else).
pub(crate) const CELL_CAP: u64 = 1 << 63;

/// `record_n` of this many samples or more takes the capped path, and
/// marks the histogram `large`.
const LARGE: u64 = 1 << 8;

/// Readings of a histogram's cells before the last stands (see `read`).
/// Under loom, more than the models' records, so that their readings
/// always reach agreement and the models check the exact claim.
const SUM_TRIES: u32 = if cfg!(loom) { 8 } else { 4 };

/// A histogram's cells.
#[derive(Debug)]
pub(crate) struct HistogramCells {
    pub(crate) layout: Arc<Layout>,
    pub(crate) opts: HistogramOpts,
    counts: SharedCounters,
    /// Modulo 2^64, like an owned sum.
    sum: crossbeam_utils::CachePadded<AtomicU64>,
    clamped: SharedCounter,
    rejected: SharedCounter,
    /// Samples cut by records at [`CELL_CAP`] (saturating).
    saturated: SharedCounter,
    /// 1 once a record of [`LARGE`] samples or more was made: readings
    /// then add cells up saturating and cut what passes `u64::MAX`.
    /// Without one, a bucket over all cells passes `u64::MAX` only after
    /// 2^56 records (years at a billion records a second), so readings
    /// keep the plain wrapping merge, which costs about a fifth fewer
    /// instructions (`papers/adversarial.md`).
    large: AtomicU64,
    pub(crate) spread: Spread<OwnedHistogram>,
}

/// Whether adding `add` to the sum `old` crosses a multiple of
/// `PROBE_EVERY << log2(add)`: a shared histogram probes when its bucket's
/// count crosses a multiple of `PROBE_EVERY`, or its sum one of this. The
/// bucket rule alone probes a histogram whose values spread over `b`
/// buckets only every `PROBE_EVERY * b` records or so (a few million for
/// latencies over six decades), while every record's RMW of the sum
/// contends all along; the sum's rule probes records of one magnitude
/// once every `PROBE_EVERY / 2` to `PROBE_EVERY` of them, whatever buckets
/// they fall in (a record much smaller than the others, with a chance of
/// about `add / (PROBE_EVERY << log2(add))`). Zero never crosses.
#[inline]
fn sum_crossed(old: u64, add: u64) -> bool {
    crosses(old, add, (add | 1).ilog2())
}

#[cfg(all(test, not(loom)))]
mod probe_tests {
    use super::*;
    use crate::registry::{spread::PROBE_EVERY, Registry};

    #[test]
    fn the_sum_probes_every_half_to_whole_probe_interval_of_like_records() {
        for value in [1, 3, 1_000, 1_023, 1_024, 1 << 40] {
            let (mut sum, mut probes) = (0_u64, 0_u64);
            for _ in 0..PROBE_EVERY * 100 {
                probes += u64::from(sum_crossed(sum, value));
                sum = sum.wrapping_add(value);
            }
            assert!((100..=200).contains(&probes), "{value}: {probes} probes");
        }
        assert!(!sum_crossed(12_345, 0), "a zero leaves the sum alone");
    }

    #[test]
    fn two_threads_promote_a_histogram_spread_over_six_decades() {
        let registry = Registry::new();
        let h = registry.histogram("spread_ns", &[]).unwrap();
        // Log-uniform 1 µs to 1 s: about 2,500 buckets, none of which
        // reaches 1,024 records here.
        let record = |seed: u64| {
            let mut x = seed;
            for _ in 0..20_000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (x >> 11) as f64 / (1_u64 << 53) as f64;
                h.record((1e3 * 1e6f64.powf(unit)) as u64);
            }
        };
        // This thread, then another while this one lives: two tokens (a
        // thread that starts after another exits may reuse its token).
        record(1);
        std::thread::scope(|s| {
            s.spawn(|| record(2));
        });
        assert_eq!(registry.stats().promoted, 1);
        let snapshot = registry.snapshot();
        let count = snapshot
            .get("spread_ns", &[])
            .unwrap()
            .as_histogram()
            .unwrap()
            .count();
        assert_eq!(count, 40_000);
    }
}

impl HistogramCells {
    pub(crate) fn new(layout: Arc<Layout>, opts: HistogramOpts, shared: Arc<Shared>) -> Self {
        HistogramCells {
            spread: Spread::new(shared, layout.len() * 8),
            counts: SharedCounters::new(layout.len()),
            layout,
            opts,
            sum: Default::default(),
            clamped: SharedCounter::default(),
            rejected: SharedCounter::default(),
            saturated: SharedCounter::default(),
            large: AtomicU64::new(0),
        }
    }

    /// Bytes of the shared counts array (address space; resident only
    /// where written).
    pub(crate) fn shared_bytes(&self) -> usize {
        self.layout.len() * 8
    }

    /// Every cell's sum: the per-thread cells' in order, then the shared
    /// one's. Acquire: pairs with the Release of each record's sum, which
    /// follows its count (see the module docs).
    fn sums(&self, cells: &[&OwnedHistogram], into: &mut Vec<u64>) {
        into.clear();
        into.extend(cells.iter().map(|c| c.sum.load_acquire()));
        into.push(self.sum.load(Ordering::Acquire));
    }

    /// Everything recorded so far: shared and per-thread cells, merged,
    /// with a sum that agrees with the counts (see the module docs).
    pub(crate) fn read(&self) -> (RawHistogram, u64) {
        use crate::lockfree::counters::{Acquire, AcquireSaturating};
        // The cells made during the reading are left out, counts and sums
        // alike.
        let cells: Vec<&OwnedHistogram> = self.spread.cells().collect();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut tries = 0;
        // Relaxed: checked again after the counts (below).
        let mut large = self.large.load(Ordering::Relaxed) != 0;
        loop {
            self.sums(&cells, &mut before);
            // Acquire loads of the counts: each pairs with the Release of
            // its record's count, so a thread's earlier records have their
            // sums in `after`; and they stay after `before`'s loads.
            // Once `large`, added up saturating: cells hold up to
            // `CELL_CAP` each (and more by records of fewer than `LARGE`),
            // so their sum may pass `u64::MAX`; `saturate` below recounts
            // such a bucket.
            let mut raw = if large {
                let mut raw =
                    RawHistogram::merged::<AcquireSaturating>(cells.iter().copied(), &self.layout);
                raw.add_counts_with::<AcquireSaturating, _>(
                    &self.counts,
                    0,
                    self.clamped.load(),
                    &self.layout,
                );
                raw
            } else {
                let mut raw = RawHistogram::merged::<Acquire>(cells.iter().copied(), &self.layout);
                raw.add_counts_with::<Acquire, _>(
                    &self.counts,
                    0,
                    self.clamped.load(),
                    &self.layout,
                );
                raw
            };
            // A large record whose count this reading loaded marked
            // `large` before its count's Release, which the Acquire load
            // of that count synchronises with: this load sees the mark,
            // and the reading is made again, saturating.
            if !large && self.large.load(Ordering::Relaxed) != 0 {
                large = true;
                continue;
            }
            // Broken on purpose in `histogram_reads_sum_once`: the sums
            // read once, before the counts (the reading before issue 21).
            #[cfg(lockfree_metrics_broken = "histogram_reads_sum_once")]
            after.clone_from(&before);
            #[cfg(not(lockfree_metrics_broken = "histogram_reads_sum_once"))]
            self.sums(&cells, &mut after);
            tries += 1;
            // Equal sums around the counts: no record's sum landed while
            // they were read, so the counts hold exactly the summed
            // records, and at most one more per recording thread. After
            // `SUM_TRIES` readings the last one stands: its reported sum
            // is held within its counts' buckets (`readout::summarise`).
            if before == after || tries == SUM_TRIES {
                raw.sum = after.iter().fold(0, |t, &s| t.wrapping_add(s));
                // Samples the records cut, then those the reading cuts:
                // a bucket past `u64::MAX` over its cells, a total past it.
                let cut = u128::from(self.saturated.load())
                    + if large {
                        raw.saturate(&self.layout, |index| {
                            cells
                                .iter()
                                .map(|c| u128::from(c.counts.get(index)))
                                .sum::<u128>()
                                + u128::from(self.counts.get(index))
                        })
                    } else {
                        0
                    };
                raw.saturated = u64::try_from(cut).unwrap_or(u64::MAX);
                return (raw, self.rejected.load());
            }
        }
    }

    /// Samples cut by records at a cell's cap (readings may cut more: see
    /// the module docs).
    pub(crate) fn saturated(&self) -> u64 {
        self.saturated.load()
    }

    /// Samples clamped and `f64`s rejected, over every cell.
    pub(crate) fn rejects(&self) -> (u64, u64) {
        let clamped = self
            .spread
            .cells()
            .fold(self.clamped.load(), |t, c| t.wrapping_add(c.clamped.load()));
        (clamped, self.rejected.load())
    }

    pub(crate) fn fingerprint(raw: &RawHistogram, rejected: u64, layout: &Layout) -> u64 {
        let count: u64 = raw
            .runs(layout)
            .map(|(_, run)| run.iter().fold(0_u64, |t, &n| t.wrapping_add(n)))
            .fold(0, u64::wrapping_add);
        mix(count ^ mix(raw.sum ^ mix(rejected.wrapping_add(raw.clamped))))
    }

    /// Records `n` samples of `value`, already in range.
    #[inline]
    fn record_n(&self, value: u64, n: u64, clamped: bool) {
        // A constant test for `record` (n = 1): folded away.
        if n >= LARGE {
            return self.record_capped(value, n, clamped);
        }
        let layout = &*self.layout;
        if self.spread.record(
            || OwnedHistogram::new(layout),
            |h| h.record_n(layout, value, n, clamped),
        ) {
            return;
        }
        // The count, then the sum, each Release (as in
        // `OwnedHistogram::record_n`; see the module docs).
        let old = self.counts.add_shared_release(layout.index_of(value), n);
        let add = value.wrapping_mul(n);
        // Release: the sum follows the count (module docs); modulo 2^64.
        let sum = self.sum.fetch_add(add, Ordering::Release);
        if clamped {
            self.clamped.add_shared(n);
        }
        if crosses(old, n, 0) || sum_crossed(sum, add) {
            self.spread.probe();
        }
    }
}

impl HistogramCells {
    /// [`record_n`](Self::record_n) of `LARGE` samples or more: as many
    /// as keep the bucket's cell at most `CELL_CAP`, the rest counted as
    /// cut. The count, then the sum of what was kept, each Release, as in
    /// `record_n`. Lock-free on shared cells (a CAS loop), wait-free on
    /// the thread's own.
    #[cold]
    #[inline(never)]
    fn record_capped(&self, value: u64, n: u64, clamped: bool) {
        // Relaxed: the count's Release below publishes the mark to a
        // reading that loads the count (`read`). A store each time, on a
        // path this rare, rather than a load first.
        self.large.store(1, Ordering::Relaxed);
        let layout = &*self.layout;
        let mut kept = 0;
        let own = self.spread.record(
            || OwnedHistogram::new(layout),
            |h| kept = h.record_n_capped(layout, value, n, clamped, CELL_CAP),
        );
        if !own {
            let (old, k) =
                self.counts
                    .add_shared_release_capped(layout.index_of(value), n, CELL_CAP);
            kept = k;
            let add = value.wrapping_mul(kept);
            // Release: the sum follows the count (module docs).
            let sum = self.sum.fetch_add(add, Ordering::Release);
            if clamped {
                self.clamped.add_shared(kept);
            }
            if crosses(old, kept, 0) || sum_crossed(sum, add) {
                self.spread.probe();
            }
        }
        if kept < n {
            self.saturated.add_shared_saturating(n - kept);
        }
    }
}

/// An HDR histogram: cheap to clone, `Send + Sync`, wait-free to record.
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let latency = registry.histogram("request_seconds", &[("route", "/")])?;
/// latency.record_duration(Duration::from_millis(3));
/// latency.record_f64(0.004); // seconds, at the default scale
/// latency.record_n(5_000_000, 2); // nanoseconds
/// latency.record_f64_n(0.002, 3); // three samples of 2 ms, one update
/// {
///     let _timer = latency.start_timer(); // records when dropped
/// }
/// let snapshot = registry.snapshot();
/// let h = snapshot.get("request_seconds", &[("route", "/")]).unwrap().as_histogram().unwrap();
/// assert_eq!(h.count(), 8);
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    pub(crate) series: Arc<Series<HistogramCells>>,
}

impl Histogram {
    /// Records `value` (in the histogram's unit); above the highest
    /// trackable value it is clamped and counted.
    #[inline]
    pub fn record(&self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `n` samples of `value` at once (`n` 0 records nothing).
    #[inline]
    pub fn record_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let cells = &self.series.cells;
        let (value, clamped) = clamp(value, cells.layout.highest());
        cells.record_n(value, n, clamped);
    }

    /// Records `round(value * scale)` ([`HistogramOpts::scale`]): NaN and
    /// negative values are rejected and counted, `+inf` and values past the
    /// range clamped and counted.
    #[inline]
    pub fn record_f64(&self, value: f64) {
        self.record_f64_n(value, 1);
    }

    /// Records `n` samples of `round(value * scale)` at once, as `n` calls
    /// of [`record_f64`](Self::record_f64) would, in one bucket update (`n`
    /// 0 records nothing; a rejected value counts `n` rejections).
    #[inline]
    pub fn record_f64_n(&self, value: f64, n: u64) {
        if n == 0 {
            return;
        }
        let cells = &self.series.cells;
        let scaled = (value * cells.opts.scale).round();
        // NaN compares as nothing, so it fails `is_ge` too.
        if !scaled
            .partial_cmp(&0.0)
            .is_some_and(std::cmp::Ordering::is_ge)
        {
            cells.rejected.add_shared(n);
            return;
        }
        // `as` saturates: +inf and anything past u64 become u64::MAX, which
        // the clamp then cuts to the range (and counts).
        self.record_n(scaled as u64, n);
    }

    /// Records a duration in the histogram's unit, `duration * scale`
    /// seconds' worth: nanoseconds, exactly, at the default scale.
    #[inline]
    pub fn record_duration(&self, duration: Duration) {
        let scale = self.series.cells.opts.scale;
        if scale == 1e9 {
            let (ns, _) = crate::metric::clamp_latency(duration, u64::MAX);
            self.record(ns);
        } else {
            self.record_f64(duration.as_secs_f64());
        }
    }

    /// A guard that records the time from now until it is dropped.
    pub fn start_timer(&self) -> Timer<'_> {
        Timer {
            histogram: self,
            started: Instant::now(),
        }
    }
}

#[cfg(loom)]
impl Histogram {
    /// (count, sum) of what is recorded now, as a snapshot reads them,
    /// the sum as read, before `readout::summarise` holds it within the
    /// buckets (for the loom models: `__loom::histogram_count_sum`).
    pub(crate) fn count_sum(&self) -> (u64, u128) {
        let cells = &self.series.cells;
        let raw = cells.read().0;
        (raw.extent(&cells.layout).0.count, u128::from(raw.sum))
    }

    /// A bucket's cap in one cell (for the loom models).
    pub(crate) const CELL_CAP: u64 = CELL_CAP;

    /// (count, samples cut) now, as a snapshot reads them (for the loom
    /// models: `__loom::histogram_count_cut`).
    pub(crate) fn count_cut(&self) -> (u64, u64) {
        let cells = &self.series.cells;
        let raw = cells.read().0;
        (raw.extent(&cells.layout).0.count, raw.saturated)
    }
}

/// Records the time it lived into its histogram when dropped (see
/// [`Histogram::start_timer`]); [`Timer::discard`] records nothing.
#[derive(Debug)]
#[must_use = "a timer records when dropped; dropping it at once records ~0"]
pub struct Timer<'a> {
    histogram: &'a Histogram,
    started: Instant,
}

impl Timer<'_> {
    /// Records now, and returns the time recorded.
    pub fn stop(self) -> Duration {
        let elapsed = self.started.elapsed();
        self.histogram.record_duration(elapsed);
        std::mem::forget(self);
        elapsed
    }

    /// Drops the timer without recording.
    pub fn discard(self) {
        std::mem::forget(self);
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.histogram.record_duration(self.started.elapsed());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::registry::Registry;

    /// `record_f64_n(x, n)` leaves what `n` calls of `record_f64(x)` leave:
    /// buckets, sum, clamps and rejections.
    #[test]
    fn record_f64_n_is_n_record_f64() {
        let registry = Registry::new();
        let once = registry.histogram("once_seconds", &[]).unwrap();
        let many = registry.histogram("many_seconds", &[]).unwrap();
        for (x, n) in [
            (0.25e-3, 3),
            (1.5, 1),
            (0.0, 2),
            (f64::NAN, 4),
            (-1.0, 2),
            (f64::INFINITY, 3),
            (7e9, 2),
            (0.1, 0),
        ] {
            for _ in 0..n {
                once.record_f64(x);
            }
            many.record_f64_n(x, n);
        }
        let snapshot = registry.snapshot();
        let read = |name| snapshot.get(name, &[]).unwrap().as_histogram().unwrap();
        let (a, b) = (read("once_seconds"), read("many_seconds"));
        assert_eq!(a.count(), 11);
        assert_eq!(
            a.buckets().collect::<Vec<_>>(),
            b.buckets().collect::<Vec<_>>()
        );
        assert_eq!(
            (a.sum(), a.clamped(), a.rejected()),
            (b.sum(), b.clamped(), b.rejected())
        );
        assert_eq!((b.clamped(), b.rejected()), (5, 6));
    }
}
