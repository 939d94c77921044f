//! The counts-array layout of an HDR histogram (Gil Tene's HdrHistogram,
//! <https://hdrhistogram.github.io/HdrHistogram/>), computed exactly as the
//! `hdrhistogram` crate computes it (`index_for`, `value_for` and
//! `buckets_to_cover` in its `src/lib.rs`).
//!
//! Lock-free strategies keep their counts in atomics laid out this way, and
//! summarise them for reading with `hdrhistogram`'s own arithmetic
//! ([`Layout::summary`]), so every strategy reports the same percentiles;
//! the tests check the summary against real histograms.

use hdrhistogram::Histogram;

use crate::snapshot::{HistogramSummary, QUANTILES};

/// Where a value's count lives in a histogram of a given configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    unit_magnitude: u32,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: usize,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    len: usize,
    low: u64,
    high: u64,
    digits: u8,
}

impl Layout {
    /// The layout of `Histogram::new_with_bounds(low, high, digits)`; the
    /// arguments must have been accepted by it (see `Config`).
    pub(crate) fn new(low: u64, high: u64, digits: u8) -> Self {
        // The float arithmetic mirrors hdrhistogram's, so that the two agree
        // even where an integer log2 would round differently.
        let unit_magnitude = (low as f64).log2().floor() as u32;
        let largest = 2 * 10_u32.pow(u32::from(digits));
        let sub_bucket_count_magnitude = f64::from(largest).log2().ceil() as u32;
        let sub_bucket_count = 1_u64 << sub_bucket_count_magnitude;
        let sub_bucket_half_count = (sub_bucket_count / 2) as usize;

        let mut smallest_untrackable = sub_bucket_count << unit_magnitude;
        let mut buckets = 1_usize;
        while smallest_untrackable <= high {
            if smallest_untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            smallest_untrackable <<= 1;
            buckets += 1;
        }

        Layout {
            unit_magnitude,
            sub_bucket_half_count_magnitude: sub_bucket_count_magnitude - 1,
            sub_bucket_half_count,
            sub_bucket_mask: (sub_bucket_count - 1) << unit_magnitude,
            leading_zero_count_base: 64 - unit_magnitude - sub_bucket_count_magnitude,
            len: (buckets + 1) * sub_bucket_half_count,
            low,
            high,
            digits,
        }
    }

    /// Number of counters.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The highest value that may be recorded; callers clamp to it.
    pub(crate) fn highest(&self) -> u64 {
        self.high
    }

    /// The counter that `value` (at most [`highest`](Self::highest)) counts
    /// in.
    #[inline]
    pub(crate) fn index_of(&self, value: u64) -> usize {
        debug_assert!(value <= self.high);
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> (bucket + self.unit_magnitude)) as usize;
        // Bucket 0 uses its whole sub-bucket range, so for it `sub_bucket`
        // may be below the half count; the base index makes up for it.
        ((bucket as usize + 1) << self.sub_bucket_half_count_magnitude) + sub_bucket
            - self.sub_bucket_half_count
    }

    /// The lowest value counted at `index`.
    pub(crate) fn value_at(&self, index: usize) -> u64 {
        let mut bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket =
            (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count;
        if bucket < 0 {
            sub_bucket -= self.sub_bucket_half_count;
            bucket = 0;
        }
        (sub_bucket as u64) << (bucket as u32 + self.unit_magnitude)
    }

    /// The lowest value counted at `index` and the width of its range.
    pub(crate) fn range_at(&self, index: usize) -> (u64, u64) {
        let low = self.value_at(index);
        let bucket = if index < 2 * self.sub_bucket_half_count {
            0
        } else {
            (index >> self.sub_bucket_half_count_magnitude) as u32 - 1
        };
        (low, 1 << (bucket + self.unit_magnitude))
    }

    /// The largest value counted at index 0 with zero: index 0 holds the
    /// first equivalence run, `0 ..= 2^unit - 1`.
    #[inline]
    pub(crate) fn first_run_max(&self) -> u64 {
        (1 << self.unit_magnitude) - 1
    }

    /// Whether `reported` (a histogram's min or max: a bound of a counter's
    /// range) lies in the range of the counter that `value` counts in;
    /// false for a `value` above [`highest`](Self::highest).
    pub(crate) fn same_bucket(&self, value: u64, reported: u64) -> bool {
        if value > self.high {
            return false;
        }
        let (low, width) = self.range_at(self.index_of(value));
        reported >= low && reported - low < width
    }

    /// An empty histogram with this layout.
    pub(crate) fn empty_histogram(&self) -> Histogram<u64> {
        Histogram::new_with_bounds(self.low, self.high, self.digits)
            .expect("layout arguments were validated by Config")
    }

    /// `hdrhistogram`'s `highest_equivalent(value_at(index))`.
    #[inline]
    pub(crate) fn highest_at(&self, index: usize) -> u64 {
        let (low, width) = self.range_at(index);
        low.saturating_add(width) - 1
    }

    /// What `hdrhistogram` reports (see [`HistogramSummary`]) for a
    /// histogram holding `runs`: (first index, counts) pairs in ascending
    /// index order, not overlapping, every index left out counting zero.
    /// It is as if each sample had been recorded at its counter's lowest
    /// value, except one sample of index 0 when `any_nonzero`: index 0
    /// holds zero and the values below the first unit (`1 ..=
    /// first_run_max()`), and `hdrhistogram` reports the max of a histogram
    /// of zeros as 0 but of one holding such a sample as the top of the
    /// run. That max is the only figure the distinction changes, and it
    /// matters only when every sample is in index 0. Callers pass "the
    /// recorded values sum to more than zero".
    ///
    /// Two passes over `runs` (the total first, then the quantiles), with
    /// `hdrhistogram`'s arithmetic (`record_n`, `min`, `max`,
    /// `value_at_quantile`): a saturating total, quantile targets
    /// `ceil(q * total)` (at least 1), each met at the first index whose
    /// running count reaches it.
    pub(crate) fn summary<'a, I>(&self, runs: I, any_nonzero: bool) -> HistogramSummary
    where
        I: Iterator<Item = (usize, &'a [u64])> + Clone,
    {
        let summary = self.extent(runs.clone(), any_nonzero);
        if summary.count == 0 {
            return summary;
        }
        HistogramSummary {
            quantiles: self.quantiles(runs, summary.count),
            ..summary
        }
    }

    /// [`summary`](Self::summary)'s first pass alone: the count, min and
    /// max, quantiles left 0 (for readers that find the quantiles they need
    /// in the counts).
    pub(crate) fn extent<'a, I>(&self, runs: I, any_nonzero: bool) -> HistogramSummary
    where
        I: Iterator<Item = (usize, &'a [u64])>,
    {
        // The exact total, and the first and last runs that count anything.
        let (mut total, mut first_run, mut last_run) = (0_u128, None, None);
        for (start, counts) in runs {
            // The high and low halves summed apart: no carry to track, so
            // the loop vectorises (no run reaches 2^32 counters).
            let (high, low) = counts.iter().fold((0_u64, 0_u64), |(high, low), &n| {
                (high + (n >> 32), low + (n & u64::from(u32::MAX)))
            });
            let run = (u128::from(high) << 32) + u128::from(low);
            if run != 0 {
                total += run;
                first_run.get_or_insert((start, counts));
                last_run = Some((start, counts));
            }
        }
        let (Some((first, low)), Some((last, high))) = (first_run, last_run) else {
            return HistogramSummary::default();
        };
        let first = first + low.iter().position(|&n| n != 0).unwrap_or(0);
        let last = last + high.iter().rposition(|&n| n != 0).unwrap_or(0);
        // hdrhistogram's total saturates: the true sum, capped.
        let total = u64::try_from(total).unwrap_or(u64::MAX);
        // hdrhistogram's min is 0 once index 0 counts anything, else the
        // lowest value of the first counted index.
        let min = if first == 0 { 0 } else { self.value_at(first) };
        // Its max is the highest equivalent of the largest recorded value
        // with the unit bits set, and 0 if that is 0.
        let max = if last > 0 {
            if self.value_at(last) | self.first_run_max() == u64::MAX {
                u64::MAX
            } else {
                self.highest_at(last)
            }
        } else if any_nonzero {
            self.first_run_max()
        } else {
            0
        };
        HistogramSummary {
            count: total,
            min,
            max,
            quantiles: [0; QUANTILES.len()],
        }
    }

    /// `hdrhistogram`'s `value_at_quantile` for each of [`QUANTILES`] over
    /// `runs`, which count `total` samples (at least 1).
    fn quantiles<'a, I>(&self, runs: I, total: u64) -> [u64; QUANTILES.len()]
    where
        I: Iterator<Item = (usize, &'a [u64])>,
    {
        let targets = QUANTILES.map(|q| ((q * total as f64).ceil() as u64).max(1));
        let mut quantiles = [0; QUANTILES.len()];
        // Wrapping, as hdrhistogram's running count in a release build.
        let (mut met, mut running) = (0, 0_u64);
        for (start, counts) in runs {
            // Whole runs short of the next target are summed, not walked.
            let run = counts.iter().fold(0_u64, |t, &n| t.wrapping_add(n));
            if running.wrapping_add(run) < targets[met] {
                running = running.wrapping_add(run);
                continue;
            }
            for (j, &count) in counts.iter().enumerate() {
                running = running.wrapping_add(count);
                while met < targets.len() && running >= targets[met] {
                    quantiles[met] = self.highest_at(start + j);
                    met += 1;
                }
                if met == targets.len() {
                    break;
                }
            }
            if met == targets.len() {
                break;
            }
        }
        quantiles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs() -> Vec<(u64, u64, u8)> {
        vec![
            (1_000, 3_600_000_000_000, 3),
            (1, 2, 0),
            (1, 1_000_000, 3),
            (1, 1 << 62, 2),
            (7, 123_456_789, 1),
            (1 << 20, 1 << 40, 5),
            (1_000_000, 1 << 62, 3),
        ]
    }

    /// Values spread over the whole range, bucket edges included.
    fn probes(high: u64) -> Vec<u64> {
        let mut v = vec![0, 1, 2, 3, high, high - 1, high / 2];
        for shift in 0..64 {
            let p = 1_u64 << shift;
            v.extend([p.wrapping_sub(1), p, p.wrapping_add(1)]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x >> (x % 64));
        }
        v.retain(|&p| p <= high);
        v
    }

    #[test]
    fn matches_hdrhistogram() {
        for (low, high, digits) in configs() {
            let layout = Layout::new(low, high, digits);
            let hist = Histogram::<u64>::new_with_bounds(low, high, digits).unwrap();
            assert_eq!(
                layout.len(),
                hist.distinct_values(),
                "{low} {high} {digits}"
            );
            for v in probes(high) {
                let i = layout.index_of(v);
                assert!(i < layout.len(), "index {i} out of range for {v}");
                assert_eq!(layout.value_at(i), hist.lowest_equivalent(v), "value {v}");
                assert_eq!(
                    layout.range_at(i),
                    (hist.lowest_equivalent(v), hist.equivalent_range(v)),
                    "value {v}"
                );
            }
        }
    }

    #[test]
    fn summary_equals_recorded_histograms() {
        for (low, high, digits) in configs() {
            let layout = Layout::new(low, high, digits);
            let mut recorded = layout.empty_histogram();
            let mut counts = vec![0_u64; layout.len()];
            let mut sum = 0_u128;
            // Counts of 1 to 7, so that quantiles fall inside a count.
            for v in probes(high) {
                let n = 1 + v % 7;
                recorded.record_n(v, n).unwrap();
                counts[layout.index_of(v)] += n;
                sum += u128::from(v) * u128::from(n);
            }
            let summary = layout.summary(std::iter::once((0, &counts[..])), sum > 0);
            assert_eq!(
                summary,
                HistogramSummary::of(&recorded),
                "{low} {high} {digits}"
            );
            // Sparse: only the runs that count something.
            let runs = counts
                .chunks(7)
                .enumerate()
                .map(|(i, run)| (7 * i, run))
                .filter(|(_, run)| run.iter().any(|&n| n != 0));
            assert_eq!(layout.summary(runs.clone(), sum > 0), summary);
            // The first pass alone: the same figures, no quantiles.
            let extent = HistogramSummary {
                quantiles: [0; QUANTILES.len()],
                ..summary
            };
            assert_eq!(layout.extent(runs, sum > 0), extent);
        }
    }

    /// Samples below the lowest discernible value share index 0 with zero,
    /// but `hdrhistogram` reports a different max for them than for zeros.
    #[test]
    fn first_run_samples_keep_their_max() {
        let layout = Layout::new(1_000, 3_600_000_000_000, 3);
        assert_eq!(layout.first_run_max(), 511);
        for samples in [
            &[300_u64][..],
            &[0],
            &[0, 1],
            &[0, 0, 511],
            &[0, 7, 5_000],
            &[0, 0, 1_000_000],
        ] {
            let mut recorded = layout.empty_histogram();
            let mut counts = vec![0_u64; layout.len()];
            for &v in samples {
                recorded.record(v).unwrap();
                counts[layout.index_of(v)] += 1;
            }
            let summary = layout.summary(
                std::iter::once((0, &counts[..])),
                samples.iter().sum::<u64>() > 0,
            );
            assert_eq!(summary, HistogramSummary::of(&recorded), "{samples:?}");
        }
    }
}
