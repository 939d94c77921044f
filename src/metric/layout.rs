//! The counts-array layout of an HDR histogram (Gil Tene's HdrHistogram,
//! <https://hdrhistogram.github.io/HdrHistogram/>), computed exactly as the
//! `hdrhistogram` crate computes it (`index_for`, `value_for` and
//! `buckets_to_cover` in its `src/lib.rs`).
//!
//! Lock-free strategies keep their counts in atomics laid out this way, then
//! rebuild a real [`Histogram`] from them for reading, so every strategy's
//! percentiles come out of the same `hdrhistogram` code.

use hdrhistogram::Histogram;

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

    /// An empty histogram with this layout.
    pub(crate) fn empty_histogram(&self) -> Histogram<u64> {
        Histogram::new_with_bounds(self.low, self.high, self.digits)
            .expect("layout arguments were validated by Config")
    }

    /// A histogram holding `counts` (index -> count), as if each sample had
    /// been recorded at its counter's lowest value, except one sample of
    /// index 0 when `any_nonzero`: index 0 holds zero and the values below
    /// the first unit (`1 ..= first_run_max()`), and `hdrhistogram` reports
    /// the max of a histogram of zeros as 0 but of one holding such a sample
    /// as the top of the run. That max is the only figure the distinction
    /// changes (min, count and percentiles are the same either way), and it
    /// matters only when every sample is in index 0, so one nonzero sample
    /// stands for all of them. Callers pass "the recorded values sum to
    /// more than zero".
    pub(crate) fn histogram_from(&self, counts: &[u64], any_nonzero: bool) -> Histogram<u64> {
        let mut hist = self.empty_histogram();
        let Some((&first, rest)) = counts.split_first() else {
            return hist;
        };
        // Even a count of zero moves hdrhistogram's max: record none.
        if first > 0 {
            let nonzero = u64::from(any_nonzero);
            if first > nonzero {
                hist.saturating_record_n(0, first - nonzero);
            }
            if nonzero > 0 {
                hist.saturating_record_n(self.first_run_max(), nonzero);
            }
        }
        for (index, &count) in rest.iter().enumerate() {
            if count != 0 {
                hist.saturating_record_n(self.value_at(index + 1), count);
            }
        }
        hist
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
    fn rebuilt_histogram_equals_recorded_one() {
        for (low, high, digits) in configs() {
            let layout = Layout::new(low, high, digits);
            let mut recorded = layout.empty_histogram();
            let mut counts = vec![0_u64; layout.len()];
            let mut sum = 0_u128;
            for v in probes(high) {
                recorded.record(v).unwrap();
                counts[layout.index_of(v)] += 1;
                sum += u128::from(v);
            }
            let rebuilt = layout.histogram_from(&counts, sum > 0);
            assert_eq!(rebuilt.len(), recorded.len());
            assert_eq!(rebuilt.min(), recorded.min());
            assert_eq!(rebuilt.max(), recorded.max());
            for q in [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                assert_eq!(rebuilt.value_at_quantile(q), recorded.value_at_quantile(q));
            }
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
            let rebuilt = layout.histogram_from(&counts, samples.iter().sum::<u64>() > 0);
            assert_eq!(rebuilt.max(), recorded.max(), "{samples:?}");
            assert_eq!(rebuilt.min(), recorded.min(), "{samples:?}");
            assert_eq!(rebuilt.len(), recorded.len(), "{samples:?}");
            assert_eq!(
                rebuilt.value_at_quantile(0.5),
                recorded.value_at_quantile(0.5)
            );
        }
    }
}
