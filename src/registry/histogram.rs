//! HDR histograms: counts laid out as `hdrhistogram` lays them out
//! (`metric::layout`), kept in sparse pages (`pages`) of up to [`LANES`]
//! owner lanes and a set of shared pages, with a sum modulo 2^64 that
//! readers make exact (`lockfree::readout`).
//!
//! **Storage.** A thread's first record into a series claims a free lane
//! (`registry::lanes`: a CAS of its owner word), or the lane of a thread
//! that has exited; from then on it records there with plain stores: a
//! load and a store for the bucket's `u16` counter and for the lane's sum,
//! no locked instruction. Up to `LANES` threads record a series that way
//! at once; the others take the shared pages, by `fetch_add`. Pages of 64
//! counters are made on first touch, so a series holds the pages its
//! values reach: one value costs one 144-byte page, latencies over six
//! decades about 7 KiB per lane (`papers/registry.md`).
//!
//! **Input rules.** Values are integers in the histogram's unit
//! ([`HistogramOpts`]). A value above the highest trackable one is
//! recorded as that value and counted as *clamped*. `record_f64(x)`
//! records `round(x * scale)`: `x` NaN or negative (below zero after
//! rounding) is *rejected*, not recorded, and counted; `+inf` and values
//! past the range are clamped. Nothing panics.
//!
//! **Saturation.** Counts never wrap. A bucket's count in one cell (the
//! shared pages, or a lane) stops at 2^62: `record_n` of 256 samples or
//! more adds only what keeps the cell there (a CAS in the shared pages,
//! so such records are lock-free; a checked store in a lane) and counts
//! the rest as cut. Smaller records are not checked, so `record` costs
//! what it did: above the cap a cell has 2^62 of headroom, which they
//! fill only after 2^54 records of 255 samples (years of one thread doing
//! nothing else) or 2^62 of one, and they are counted, not cut. Once a histogram has had a record of 256 samples or more (until
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
//! single cell of a histogram's bucket at 2^62 (a cell's small records
//! need the headroom above it, and a lane's top bit marks a carry).
//!
//! **Sum and count.** A reading's count is its buckets' total; its sum is
//! read from separate words (one per cell), so the two are paired as
//! follows (`tests/registry/histogram_sum_count.rs`, the loom model
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
//! `tests/registry/histogram_sum_count.rs`, with four threads recording nonstop
//! into their own lanes, a few intervals in a hundred; see
//! `papers/registry.md`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

mod pages;

use pages::{Narrow, Pages, Wide, PAGE, PAGE_SHIFT};

use super::{
    lanes,
    series::{mix, Series},
    spread::Shared,
    RegistryError,
};
use crate::{
    config::check_histogram,
    lockfree::{counters::SharedCounter, readout::RawHistogram},
    metric::{clamp, layout::Layout},
    sync::{AtomicPtr, AtomicU64, Ordering},
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

/// A bucket's count in one lane, or in the shared pages, stops here
/// (module docs): `record_n` of [`LARGE`] samples or more adds only what
/// keeps it at most this, and counts the rest as cut. Records of fewer
/// are not checked: from the cap, they would need 2^62 more samples to
/// reach a lane's pending bit (`pages`), more than 2^54 records of the
/// most they hold (years of one thread doing nothing else).
pub(crate) const CELL_CAP: u64 = 1 << 62;

/// `record_n` of this many samples or more takes the capped path, and
/// marks the histogram `large`.
const LARGE: u64 = 1 << 8;

/// Readings of a histogram's cells before the last stands (see `read`).
/// Under loom, more than the models' records, so that their readings
/// always reach agreement and the models check the exact claim.
const SUM_TRIES: u32 = if cfg!(loom) { 8 } else { 4 };

/// Lanes per series: up to this many threads record a series with plain
/// stores at once; more record into its shared pages.
pub(crate) const LANES: usize = if cfg!(loom) { 2 } else { 4 };

/// One thread's storage in a series: its counter pages and its sum, on a
/// line of their own (the owner writes the sum at every record).
#[derive(Debug, Default)]
#[repr(align(64))]
struct Lane {
    /// Modulo 2^64, stored by the lane's owner.
    sum: AtomicU64,
    pages: Pages<Narrow>,
}

impl Lane {
    /// Adds `add` to the sum, after the record's count; the caller owns
    /// the lane.
    #[inline]
    fn add_sum(&self, add: u64) {
        // The count, then the sum, each Release (module docs). Relaxed
        // load: the owner's own store.
        let sum = self.sum.load(Ordering::Relaxed);
        self.sum.store(sum.wrapping_add(add), Ordering::Release);
    }
}

/// A histogram's cells: lanes that one thread each writes with plain
/// stores (`registry::lanes`), and shared pages for the threads without
/// one.
#[derive(Debug)]
pub(crate) struct HistogramCells {
    pub(crate) layout: Arc<Layout>,
    pub(crate) opts: HistogramOpts,
    /// Pages of the layout: `ceil(len / PAGE)`.
    pages: usize,
    /// Each lane's owner word (0: free), apart from the lanes, so that the
    /// threads scanning them read a line no record writes.
    owners: [AtomicU64; LANES],
    /// Lane 0, inline: a series one thread records needs nothing else.
    first: Lane,
    /// Lanes 1.., made when a second thread claims one.
    more: AtomicPtr<[Lane; LANES - 1]>,
    /// The threads without a lane: `u64` counters and sum, by RMW.
    shared: Pages<Wide>,
    /// Modulo 2^64, like a lane's sum.
    shared_sum: AtomicU64,
    clamped: SharedCounter,
    rejected: SharedCounter,
    /// Samples cut by records at [`CELL_CAP`] (saturating).
    saturated: SharedCounter,
    /// 1 once a record of [`LARGE`] samples or more was made: readings
    /// then recount any bucket that reads `u64::MAX` and cut what passes
    /// it (without one, a bucket passes `u64::MAX` only after 2^56
    /// records, years at a billion records a second).
    large: AtomicU64,
}

impl Drop for HistogramCells {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, no other thread holds the cells.
        let more = self.more.load(Ordering::Relaxed);
        if !more.is_null() {
            // SAFETY:
            //  * made by `Box::into_raw` in `lane_at` and freed only here;
            //  * `&mut self`: no reference to it is alive.
            drop(unsafe { Box::from_raw(more) });
        }
    }
}

impl HistogramCells {
    pub(crate) fn new(layout: Arc<Layout>, opts: HistogramOpts, _shared: Arc<Shared>) -> Self {
        HistogramCells {
            pages: layout.len().div_ceil(PAGE),
            layout,
            opts,
            owners: std::array::from_fn(|_| AtomicU64::new(0)),
            first: Lane::default(),
            more: AtomicPtr::new(std::ptr::null_mut()),
            shared: Pages::default(),
            shared_sum: AtomicU64::new(0),
            clamped: SharedCounter::default(),
            rejected: SharedCounter::default(),
            saturated: SharedCounter::default(),
            large: AtomicU64::new(0),
        }
    }

    /// Lane `i`, making lanes 1.. if `make` and absent.
    #[inline]
    fn lane_at(&self, i: usize, make: bool) -> Option<&Lane> {
        if i == 0 {
            return Some(&self.first);
        }
        // Acquire: pairs with the publishing CAS's Release, so the lanes
        // are seen initialised.
        let more = self.more.load(Ordering::Acquire);
        if more.is_null() {
            return if make { Some(self.make_lanes(i)) } else { None };
        }
        // SAFETY: published initialised (Release/Acquire above); freed
        // only in `drop` (`&mut self`).
        Some(&unsafe { &*more }[i - 1])
    }

    /// Lanes 1.., published by CAS; lane `i` of them.
    #[cold]
    #[inline(never)]
    fn make_lanes(&self, i: usize) -> &Lane {
        let new = Box::into_raw(Box::new(std::array::from_fn(|_| Lane::default())));
        // Release on success: the lanes are seen initialised by the
        // Acquire loads in `lane_at`. Acquire on failure: the winner's
        // lanes are used next.
        let more = match self.more.compare_exchange(
            std::ptr::null_mut(),
            new,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => new,
            Err(theirs) => {
                // SAFETY: `new` was never shared: the CAS failed.
                drop(unsafe { Box::from_raw(new) });
                theirs
            }
        };
        // SAFETY: published initialised (Release/Acquire above); freed
        // only in `drop` (`&mut self`).
        &(unsafe { &*more })[i - 1]
    }

    /// The calling thread's lane, claimed if it has none and one is free
    /// or held by a dead owner; `None`: record into the shared pages.
    #[inline]
    fn lane(&self) -> Option<&Lane> {
        let me = lanes::owner_word()?;
        for (i, owner) in self.owners.iter().enumerate() {
            // Relaxed: only this thread stores its own word, and it reads
            // its own store; another word here is handled by `claim`.
            if owner.load(Ordering::Relaxed) == me {
                return self.lane_at(i, true);
            }
        }
        self.claim(me)
    }

    #[cold]
    #[inline(never)]
    fn claim(&self, me: lanes::OwnerWord) -> Option<&Lane> {
        for (i, owner) in self.owners.iter().enumerate() {
            // Acquire: pairs with the claim's Release below, so the
            // owner's liveness store (made before its claim) is seen by
            // `dead`.
            let held = owner.load(Ordering::Acquire);
            if !lanes::dead(held) {
                continue;
            }
            // The lanes exist before the claim, so an owner always finds
            // its lane.
            let lane = self.lane_at(i, true);
            // Release: this thread's liveness store comes before the
            // claim (see the Acquire above). Acquire: a dead owner's
            // stores into the lane are seen (`lanes`: its exit's Release,
            // which `dead` read, came before them).
            let claimed = if crate::sync::broken!("lane_claim_not_cas") {
                owner.store(me, Ordering::Release);
                true
            } else {
                owner
                    .compare_exchange(held, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            };
            if claimed {
                return lane;
            }
        }
        None
    }

    /// The lanes made so far.
    fn lanes(&self) -> impl Iterator<Item = &Lane> {
        std::iter::once(&self.first).chain((1..LANES).map_while(|i| self.lane_at(i, false)))
    }

    /// Lanes claimed now (for statistics).
    pub(crate) fn lanes_claimed(&self) -> usize {
        self.owners
            .iter()
            // Relaxed: a statistic.
            .filter(|o| o.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// Bytes of the counter pages (lanes and shared) and extra lanes.
    pub(crate) fn storage_bytes(&self) -> usize {
        // Relaxed: a statistic.
        let more = if self.more.load(Ordering::Relaxed).is_null() {
            0
        } else {
            std::mem::size_of::<[Lane; LANES - 1]>()
        };
        more + self.shared.bytes() + self.lanes().map(|l| l.pages.bytes()).sum::<usize>()
    }

    /// Every cell's sum: the lanes', then the shared one. Acquire: pairs
    /// with the Release of each record's sum, which follows its count
    /// (see the module docs).
    fn sums(&self, into: &mut Vec<u64>) {
        into.clear();
        into.extend(self.lanes().map(|l| l.sum.load(Ordering::Acquire)));
        into.push(self.shared_sum.load(Ordering::Acquire));
    }

    /// Every page's counts, lanes and shared, as (first index, counts)
    /// runs; with Acquire loads (`pages`), so that a thread's counted
    /// records have their sums in the sums loaded after.
    fn runs(&self, into: &mut Vec<(usize, [u64; PAGE])>) {
        into.clear();
        for lane in self.lanes() {
            for page in lane.pages.iter() {
                into.push((page.start(), page.counts()));
            }
        }
        for page in self.shared.iter() {
            into.push((page.start(), page.counts()));
        }
    }

    /// Everything recorded so far, every cell merged, with a sum that
    /// agrees with the counts (see the module docs).
    pub(crate) fn read(&self) -> (RawHistogram, u64) {
        let (mut before, mut after, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        let mut tries = 0;
        loop {
            self.sums(&mut before);
            self.runs(&mut runs);
            // Broken on purpose in `histogram_reads_sum_once`: the sums
            // read once, before the counts (the reading before issue 21).
            if crate::sync::broken!("histogram_reads_sum_once") {
                after.clone_from(&before);
            } else {
                self.sums(&mut after);
            }
            tries += 1;
            // Equal sums around the counts: no record's sum landed while
            // they were read, so the counts hold exactly the summed
            // records, and at most one more per recording thread. After
            // `SUM_TRIES` readings the last one stands: its reported sum
            // is held within its counts' buckets (`readout::summarise`).
            if before == after || tries == SUM_TRIES {
                break;
            }
        }
        // Relaxed: a large record's count, loaded above with Acquire,
        // follows its mark (`record_capped`), so the mark is seen if any
        // such count was.
        let large = self.large.load(Ordering::Relaxed) != 0;
        let mut raw = RawHistogram::from_runs(self.layout.len(), PAGE_SHIFT, &runs, large);
        raw.sum = after.iter().fold(0, |t, &s| t.wrapping_add(s));
        raw.clamped = self.clamped.load();
        let cut = if large {
            // Samples past `u64::MAX` in a bucket, recounted exactly; then
            // a total past it.
            raw.saturate(&self.layout, |index| {
                runs.iter()
                    .filter(|(start, _)| (*start..*start + PAGE).contains(&index))
                    .map(|(start, run)| u128::from(run[index - start]))
                    .sum()
            })
        } else {
            0
        };
        raw.saturated = u64::try_from(u128::from(self.saturated.load()) + cut).unwrap_or(u64::MAX);
        (raw, self.rejected.load())
    }

    /// Samples cut by records at a cell's cap (readings may cut more: see
    /// the module docs).
    pub(crate) fn saturated(&self) -> u64 {
        self.saturated.load()
    }

    /// Samples clamped and `f64`s rejected.
    pub(crate) fn rejects(&self) -> (u64, u64) {
        (self.clamped.load(), self.rejected.load())
    }

    pub(crate) fn fingerprint(raw: &RawHistogram, rejected: u64, layout: &Layout) -> u64 {
        let count: u64 = raw
            .runs(layout)
            .map(|(_, run)| run.iter().fold(0_u64, |t, &n| t.wrapping_add(n)))
            .fold(0, u64::wrapping_add);
        mix(count ^ mix(raw.sum ^ mix(rejected.wrapping_add(raw.clamped))))
    }

    /// Records `n` samples of `value`, already in range.
    ///
    /// The owner's common record first, with no call on its path (so no
    /// registers to save): a lane it owns, a page that exists, a counter
    /// that does not carry. Anything else, with nothing stored yet, goes
    /// the whole way (`record_to`).
    #[inline]
    fn record_n(&self, value: u64, n: u64, clamped: bool) {
        if n < LARGE {
            if let Some(lane) = self.owned_lane() {
                let index = self.layout.index_of(value);
                if let Some(page) = lane.pages.find(index >> PAGE_SHIFT) {
                    if page.try_add_owned(index & (PAGE - 1), n) {
                        lane.add_sum(value.wrapping_mul(n));
                        if clamped {
                            self.clamped.add_shared(n);
                        }
                        return;
                    }
                }
            }
        }
        self.record_n_slow(value, n, clamped);
    }

    /// [`record_n`](Self::record_n) the whole way: claiming a lane or an
    /// owner word, making lanes or pages, carrying, large records, and the
    /// threads without a lane.
    #[inline(never)]
    fn record_n_slow(&self, value: u64, n: u64, clamped: bool) {
        self.record_to(self.lane(), value, n, clamped);
    }

    /// The lane the calling thread already owns, if its lanes are made.
    #[inline]
    fn owned_lane(&self) -> Option<&Lane> {
        let me = lanes::claimed_word()?;
        // Relaxed: as in `lane`.
        let i = self
            .owners
            .iter()
            .position(|owner| owner.load(Ordering::Relaxed) == me)?;
        self.lane_at(i, false)
    }

    /// [`record_n`](Self::record_n) into `lane`, or the shared pages.
    #[inline]
    fn record_to(&self, lane: Option<&Lane>, value: u64, n: u64, clamped: bool) {
        // A constant test for `record` (n = 1): folded away.
        if n >= LARGE {
            return self.record_capped(lane, value, n, clamped);
        }
        let index = self.layout.index_of(value);
        let add = value.wrapping_mul(n);
        if let Some(lane) = lane {
            lane.pages
                .page(index >> PAGE_SHIFT, self.pages)
                .add_owned(index & (PAGE - 1), n);
            lane.add_sum(add);
        } else {
            self.shared
                .page(index >> PAGE_SHIFT, self.pages)
                .add_shared(index & (PAGE - 1), n);
            // Release: the sum follows the count (module docs).
            self.shared_sum.fetch_add(add, Ordering::Release);
        }
        if clamped {
            self.clamped.add_shared(n);
        }
    }

    /// [`record_n`](Self::record_n) of `LARGE` samples or more: as many
    /// as keep the bucket's cell at most `CELL_CAP`, the rest counted as
    /// cut. The count, then the sum of what was kept, each Release, as in
    /// `record_n`. Lock-free on the shared pages (a CAS loop), wait-free
    /// in a lane.
    #[cold]
    #[inline(never)]
    fn record_capped(&self, lane: Option<&Lane>, value: u64, n: u64, clamped: bool) {
        // Relaxed: the count's Release below publishes the mark to a
        // reading that loads the count (`read`). A store each time, on a
        // path this rare, rather than a load first.
        self.large.store(1, Ordering::Relaxed);
        let index = self.layout.index_of(value);
        let (no, at) = (index >> PAGE_SHIFT, index & (PAGE - 1));
        let kept = if let Some(lane) = lane {
            let page = lane.pages.page(no, self.pages);
            let kept = n.min(CELL_CAP.saturating_sub(page.owned_count(at)));
            if kept != 0 {
                page.add_owned(at, kept);
            }
            lane.add_sum(value.wrapping_mul(kept));
            kept
        } else {
            let page = self.shared.page(no, self.pages);
            let (_, kept) = page.add_shared_capped(at, n, CELL_CAP);
            // Release: the sum follows the count (module docs).
            self.shared_sum
                .fetch_add(value.wrapping_mul(kept), Ordering::Release);
            kept
        };
        if clamped {
            self.clamped.add_shared(kept);
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

    /// `record_n` through the shared pages, as a thread without a lane
    /// records (for the loom models: `__loom::histogram_record_shared`;
    /// a fifth thread is too many interleavings for a model).
    pub(crate) fn record_n_shared(&self, value: u64, n: u64) {
        self.series.cells.record_to(None, value, n, false);
    }

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

#[cfg(all(test, not(loom)))]
mod memory_tests {
    use crate::registry::Registry;

    /// The module docs' figures, by the registry's own accounting: one
    /// value costs the series and one page; latencies over six decades
    /// (1 µs to 10 s, log-uniform, one thread) about 7 KiB of pages.
    #[test]
    fn a_series_holds_the_pages_its_values_reach() {
        let registry = Registry::new();
        let h = registry.histogram("h", &[]).unwrap();
        let empty = registry.stats().series_bytes;
        h.record(1_000);
        let one = registry.stats().series_bytes - empty;
        assert!((144..=160).contains(&one), "one value: {one} B");

        let registry = Registry::new();
        let series: Vec<_> = (0..200)
            .map(|i| registry.histogram("h", &[("i", &i.to_string())]).unwrap())
            .collect();
        let mut x = 1_u64;
        for h in &series {
            for _ in 0..2_000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (x >> 11) as f64 / (1_u64 << 53) as f64;
                h.record((1e3 * 1e7f64.powf(unit)) as u64);
            }
        }
        let per_series = registry.stats().series_bytes / series.len();
        assert!(
            (6 << 10..=8 << 10).contains(&per_series),
            "{per_series} B a series"
        );
    }
}
