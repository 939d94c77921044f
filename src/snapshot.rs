//! What readers get back: plain values, computed the same way by every
//! strategy so that their snapshots can be compared exactly.
//!
//! Each strategy gathers raw state (an HDR histogram, a batch-size
//! distribution, window sums, ...) and hands it to the constructors here;
//! no statistic is computed twice in two places.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;

/// A scheduler mode, as an id the caller assigns (for example an enum's
/// discriminant). Every `u16` is a valid mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(pub u16);

impl From<u16> for Mode {
    fn from(id: u16) -> Self {
        Mode(id)
    }
}

/// Everything at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// When the snapshot was taken, on the collector's clock.
    pub taken_at: Duration,
    /// Time from the last reset (or creation) to `taken_at`.
    pub since_reset: Duration,
    /// Latency percentiles.
    pub latency: LatencySnapshot,
    /// Windowed and total throughput.
    pub throughput: ThroughputSnapshot,
    /// Batch sizes.
    pub batch: BatchSnapshot,
    /// Queue depth.
    pub queue_depth: QueueDepthSnapshot,
    /// Mode and transitions.
    pub mode: ModeSnapshot,
}

/// Latency statistics over every sample since the last reset.
///
/// `min` and `max` are exact: the smallest and largest sample (as
/// recorded, so clamped to the configured highest), kept beside the
/// histogram in every strategy. In `Atomic` and `Sharded` they are exact
/// for any reading taken at rest, except that a record made while a
/// reset ran may have its extremes on the other side of that reset from
/// its count (as any of its counters may): an interval holding such
/// records, or a reading racing records or a reset, may show a
/// neighbour of the true extreme within its HDR bucket, or the bucket's
/// bound (the lowest value equivalent to the smallest sample, the highest
/// equivalent to the largest), never a value outside that bucket.
/// `GlobalLock`, `FineGrained` and `Ring` apply each record whole, so
/// theirs are always exact.
///
/// Percentiles come from the HDR histogram, so they are exact to the
/// configured significant digits (the highest value equivalent to the
/// sample at the quantile, as `hdrhistogram` reports it), kept within
/// `[min, max]`. `mean` is the mean of the
/// recorded (clamped) values, rounded to the nanosecond: exact in
/// `GlobalLock` and `FineGrained` (integer sums), and in `Sharded` while
/// half the samples' equivalence ranges add up to less than 2^63 ns (at the
/// default 2 significant digits, an interval's summed latency below about
/// 2^70 ns, 37,000 years; at 3, 2^73 ns).
/// `Atomic` sums in an `f64`: exact while the interval's summed latency
/// stays below 2^53 ns (about 104 days); beyond that each sample's add
/// rounds to `f64` precision, so for `n` samples the sum, and the mean,
/// are within a relative `n * 2^-53`. All are zero when `count` is zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySnapshot {
    /// Samples recorded.
    pub count: u64,
    /// Smallest sample.
    pub min: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Mean sample.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Samples above the configured highest latency, recorded as that
    /// highest value.
    pub clamped: u64,
}

/// The quantiles a [`LatencySnapshot`] shows, in the order of
/// [`HistogramSummary::quantiles`].
pub(crate) const QUANTILES: [f64; 4] = [0.50, 0.95, 0.99, 0.999];

/// What the snapshots take from an HDR histogram, exactly as
/// `hdrhistogram` reports it: `len()`, `min()`, `max()` and
/// `value_at_quantile` at each of [`QUANTILES`]. Lock-free strategies
/// compute it from their counts in one pass (`Layout::summary`) rather
/// than rebuilding a histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HistogramSummary {
    pub(crate) count: u64,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) quantiles: [u64; 4],
}

impl HistogramSummary {
    pub(crate) fn of(hist: &Histogram<u64>) -> Self {
        HistogramSummary {
            count: hist.len(),
            min: hist.min(),
            max: hist.max(),
            quantiles: QUANTILES.map(|q| hist.value_at_quantile(q)),
        }
    }
}

/// The exact smallest and largest value recorded, kept beside a histogram
/// (whose own `min` and `max` are only its buckets' bounds). Empty while
/// `min > max`. Public only for the loom models (`__loom::Extremes`).
#[cfg_attr(not(loom), allow(unreachable_pub))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// The smallest value (`u64::MAX` when empty).
    pub min: u64,
    /// The largest value (0 when empty).
    pub max: u64,
}

impl Extent {
    /// Nothing recorded.
    pub(crate) const EMPTY: Extent = Extent {
        min: u64::MAX,
        max: 0,
    };

    /// Adds one value.
    #[inline]
    pub(crate) fn add(&mut self, value: u64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Both extents' values.
    pub(crate) fn merge(self, other: Extent) -> Extent {
        Extent {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max
    }
}

impl Default for Extent {
    fn default() -> Self {
        Extent::EMPTY
    }
}

impl LatencySnapshot {
    /// Shows `exact`'s minimum and maximum where each lies in the bucket
    /// of the histogram's (`same_bucket(exact, histogram's)`), keeping the
    /// percentiles and the mean within them; otherwise, the histogram's.
    /// An extent read apart from its histogram (a lock-free reading racing
    /// a reset) can disagree with it, and a minimum above the median would
    /// be a lie.
    pub(crate) fn with_exact(
        mut self,
        exact: Extent,
        same_bucket: impl Fn(u64, u64) -> bool,
    ) -> Self {
        if self.count == 0 || exact.is_empty() {
            return self;
        }
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let (min, max) = (ns(self.min), ns(self.max));
        let min = if same_bucket(exact.min, min) {
            exact.min
        } else {
            min
        };
        let max = if same_bucket(exact.max, max) {
            exact.max
        } else {
            max
        };
        if min > max {
            return self;
        }
        let (min, max) = (Duration::from_nanos(min), Duration::from_nanos(max));
        self.min = min;
        self.max = max;
        for p in [&mut self.p50, &mut self.p95, &mut self.p99, &mut self.p999] {
            *p = (*p).clamp(min, max);
        }
        self.mean = self.mean.clamp(min, max);
        self
    }

    /// From a histogram of nanoseconds and the exact sum of its samples.
    pub(crate) fn from_histogram(hist: &Histogram<u64>, sum_ns: u128, clamped: u64) -> Self {
        Self::from_summary(&HistogramSummary::of(hist), sum_ns, clamped)
    }

    /// From a histogram's summary and the exact sum of its samples.
    pub(crate) fn from_summary(hist: &HistogramSummary, sum_ns: u128, clamped: u64) -> Self {
        let count = hist.count;
        if count == 0 {
            return LatencySnapshot {
                clamped,
                ..Self::default()
            };
        }
        let ns = Duration::from_nanos;
        let (min, max) = (hist.min, hist.max);
        // hdrhistogram reports a percentile as the highest value equivalent
        // to it, and the max as the highest equivalent to the largest
        // sample, except that a histogram of zeros has max 0 while its
        // percentiles sit at the top of the first unit; clamping keeps
        // every percentile within [min, max].
        let [p50, p95, p99, p999] = hist.quantiles.map(|q| ns(q.clamp(min, max)));
        LatencySnapshot {
            count,
            min: ns(min),
            max: ns(max),
            mean: ns(rounded_mean_within(sum_ns, count, min, max)),
            p50,
            p95,
            p99,
            p999,
            clamped,
        }
    }
}

/// `sum / count` rounded to the nearest integer (halves up), kept inside
/// `[min, max]`: a snapshot taken while other threads record may read a
/// sum that includes a sample whose histogram count it missed (or the
/// reverse), and a mean outside the range it summarises would be a lie.
/// Integer arithmetic throughout, so the mean is exact however large the
/// sum.
fn rounded_mean_within(sum: u128, count: u64, min: u64, max: u64) -> u64 {
    let count = u128::from(count);
    let mean = (sum + count / 2) / count;
    mean.clamp(u128::from(min), u128::from(max)) as u64
}

/// `sum / count` as precisely as an `f64` holds it (0 when `count` is 0):
/// the integer quotient and the remainder's fraction are each exact or
/// rounded once, where `sum as f64` would drop the low bits of a sum past
/// 2^53 before dividing.
fn exact_mean(sum: u128, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let count = u128::from(count);
    (sum / count) as f64 + (sum % count) as f64 / count as f64
}

/// [`exact_mean`] kept inside `[min, max]`, as in [`rounded_mean_within`].
fn mean_within(sum: u128, count: u64, min: u64, max: u64) -> f64 {
    exact_mean(sum, count).clamp(min as f64, max as f64)
}

/// Throughput over each configured window, plus totals since the last
/// reset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThroughputSnapshot {
    /// One entry per configured window, shortest first.
    pub windows: Vec<WindowRate>,
    /// Tokens recorded since the last reset, saturating at `u64::MAX`
    /// (never wrapping): a record that would pass it adds what fits and
    /// counts in [`clamped`](Self::clamped). `Sharded` keeps a total per
    /// recording thread, cumulative across resets (like its window slots)
    /// and 128 bits wide, so it never saturates; the difference since the
    /// reset is shown saturated at `u64::MAX` without counting the calls
    /// that passed it (they count only if they saturate their slot). A
    /// reset therefore clears a saturated total in every strategy.
    pub total_tokens: u64,
    /// Requests recorded since the last reset, saturating as
    /// [`total_tokens`](Self::total_tokens) does.
    pub total_requests: u64,
    /// Calls cut anywhere: whose tokens or requests saturated a window slot
    /// (2^32 - 1 per slot) or a total; a call counts once however many
    /// were cut. `Sharded` keeps a slot per recording thread, cumulative
    /// across resets: each thread's slot saturates on its own (so a window
    /// may hold more than 2^32 - 1 per slot across threads), and a reset
    /// that falls inside a slot leaves what the slot held before it
    /// counting toward the saturation point.
    pub clamped: u64,
}

/// Rates over one window: what was recorded in the window divided by the
/// time the window covers, [`covered`](Self::covered).
///
/// A window is a run of slots of
/// [`Config::window_resolution`](crate::Config::window_resolution) ending with the current, partly
/// elapsed slot, cut at the last reset (or creation). Until it is full,
/// after a reset, it covers only the time since the reset, and its rate
/// is over that time: 3 s after a reset the 60 s window shows the rate of
/// those 3 s, not a twentieth of it. Once full it covers its length less
/// the unelapsed part of the current slot (between `window - resolution`
/// and `window`). Rates are 0 while `covered` is zero.
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::{Config, ManualClock, MetricsCollector, Sharded};
///
/// let clock = ManualClock::new();
/// let m = Sharded::with_clock(Config::default(), clock.clone());
/// clock.advance(Duration::from_secs(3));
/// m.record_throughput(3_000, 3);
/// let w = m.throughput().windows;
/// // The 60 s window covers the 3 s since creation.
/// assert_eq!((w[2].window, w[2].covered), (Duration::from_secs(60), Duration::from_secs(3)));
/// assert_eq!(w[2].tokens_per_sec, 1_000.0);
/// // The 1 s window covers its 9 whole slots of 0.1 s and the current slot's elapsed 0 s.
/// assert_eq!(w[0].covered, Duration::from_millis(900));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowRate {
    /// The window's length.
    pub window: Duration,
    /// The time the window covers: from its first slot's start, or the
    /// last reset if later, to the reading; at most `window`.
    pub covered: Duration,
    /// Tokens recorded in the window.
    pub tokens: u64,
    /// Requests recorded in the window.
    pub requests: u64,
    /// `tokens / covered`, per second.
    pub tokens_per_sec: f64,
    /// `requests / covered`, per second.
    pub requests_per_sec: f64,
}

impl WindowRate {
    pub(crate) fn new(window: Duration, covered: Duration, tokens: u64, requests: u64) -> Self {
        let secs = covered.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        WindowRate {
            window,
            covered,
            tokens,
            requests,
            tokens_per_sec: per_sec(tokens),
            requests_per_sec: per_sec(requests),
        }
    }
}

/// Batch sizes since the last reset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchSnapshot {
    /// Batches recorded.
    pub count: u64,
    /// The most recently recorded size, if any since the last reset.
    pub current: Option<u64>,
    /// Smallest size (0 when `count` is 0).
    pub min: u64,
    /// Largest size (0 when `count` is 0).
    pub max: u64,
    /// Exact mean size (0 when `count` is 0).
    pub mean: f64,
    /// Exact distribution: size -> number of batches of that size.
    pub distribution: BTreeMap<u64, u64>,
    /// Sizes above the configured largest, recorded as that largest size.
    pub clamped: u64,
}

impl BatchSnapshot {
    /// From the dense distribution (index = size).
    pub(crate) fn from_distribution(
        counts: impl IntoIterator<Item = u64>,
        current: Option<u64>,
        clamped: u64,
    ) -> Self {
        let distribution: BTreeMap<u64, u64> = counts
            .into_iter()
            .enumerate()
            .filter(|&(_, n)| n != 0)
            .map(|(size, n)| (size as u64, n))
            .collect();
        let count = distribution.values().fold(0u64, |a, &n| a.wrapping_add(n));
        let sum: u128 = distribution
            .iter()
            .map(|(&size, &n)| u128::from(size) * u128::from(n))
            .sum();
        BatchSnapshot {
            count,
            current,
            min: distribution.keys().next().copied().unwrap_or(0),
            max: distribution.keys().next_back().copied().unwrap_or(0),
            mean: exact_mean(sum, count),
            distribution,
            clamped,
        }
    }
}

/// Queue depth since the last reset. `max` is the exact largest depth
/// recorded (as [`LatencySnapshot`]'s `max` is, with the same exception
/// for `Atomic` and `Sharded` readings racing a reset); `mean` is the exact
/// mean as an `f64`, but in `Atomic`, whose `f64` sum is exact only while
/// the interval's summed depth stays below 2^53 (see
/// [`LatencySnapshot`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueDepthSnapshot {
    /// Depths recorded.
    pub count: u64,
    /// The most recently recorded depth, if any since the last reset.
    pub current: Option<u64>,
    /// Largest depth (0 when `count` is 0).
    pub max: u64,
    /// Mean depth (0 when `count` is 0).
    pub mean: f64,
    /// Depths above the configured largest, recorded as that largest depth.
    pub clamped: u64,
}

impl QueueDepthSnapshot {
    /// Shows `exact`'s maximum where it lies in the bucket of the
    /// histogram's, keeping the mean at most it (as
    /// [`LatencySnapshot::with_exact`]).
    pub(crate) fn with_exact(
        mut self,
        exact: Extent,
        same_bucket: impl Fn(u64, u64) -> bool,
    ) -> Self {
        if self.count != 0 && !exact.is_empty() && same_bucket(exact.max, self.max) {
            self.max = exact.max;
            self.mean = self.mean.min(exact.max as f64);
        }
        self
    }

    pub(crate) fn from_histogram(
        hist: &Histogram<u64>,
        sum: u128,
        current: Option<u64>,
        clamped: u64,
    ) -> Self {
        Self::from_summary(&HistogramSummary::of(hist), sum, current, clamped)
    }

    /// From a histogram's summary (its quantiles unused).
    pub(crate) fn from_summary(
        hist: &HistogramSummary,
        sum: u128,
        current: Option<u64>,
        clamped: u64,
    ) -> Self {
        let count = hist.count;
        if count == 0 {
            return QueueDepthSnapshot {
                current,
                clamped,
                ..Self::default()
            };
        }
        QueueDepthSnapshot {
            count,
            current,
            max: hist.max,
            mean: mean_within(sum, count, hist.min, hist.max),
            clamped,
        }
    }
}

/// The current mode and the transitions since the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeSnapshot {
    /// The mode most recently recorded (kept across resets: it is the
    /// scheduler's state, not a sample).
    pub current: Option<Mode>,
    /// Changes of mode since the last reset; recording the current mode
    /// again is not a change.
    pub transitions: u64,
    /// The most recent transitions since the last reset, oldest first, at
    /// most [`Config::transition_log`](crate::Config::transition_log).
    pub recent: Vec<Transition>,
}

/// One change of mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// 1 for the first change the collector ever saw, 2 for the next, ...
    /// (not reset, so gaps show transitions missing from a log).
    pub seq: u64,
    /// When it was recorded, on the collector's clock.
    pub at: Duration,
    /// The mode before (`None` for the first mode ever recorded).
    pub from: Option<Mode>,
    /// The mode after.
    pub to: Mode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_exact_past_2_pow_53() {
        // Depths 2^32 - 1 and 2^32, 2^21 + 1 times each: the sum is odd and
        // past 2^53, the mean 2^32 - 0.5.
        let m: u128 = (1 << 21) + 1;
        let sum = m * ((1 << 33) - 1);
        assert!(sum > 1 << 53);
        let count = 2 * m as u64;
        assert_eq!(exact_mean(sum, count), (1_u64 << 32) as f64 - 0.5);
        assert_eq!(rounded_mean_within(sum, count, 0, u64::MAX), 1 << 32);
        assert_eq!(rounded_mean_within(sum, count, 0, 7), 7);
        assert_eq!(exact_mean(0, 0), 0.0);
    }
}
