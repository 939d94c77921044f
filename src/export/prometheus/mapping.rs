//! HDR buckets onto Prometheus buckets: classic `le` boundaries and native
//! (exponential) buckets, as `../shared/research/ecosystem.md` §2.3 and the
//! module docs state them.

use crate::registry::HistogramValue;

/// Classic bucket boundaries (`le`), in the exported unit: the
/// histogram's values divided by its [scale](crate::registry::HistogramOpts::scale),
/// seconds at the default 1e9.
///
/// A boundary `le` counts the HDR buckets whose highest value is at most
/// `le`: exact when `le` is an HDR bucket's top ([`snapped`](Self::snapped)
/// boundaries are), else short by at most the count of the one HDR bucket
/// that straddles it (whose width is at most 1/2^(m-1) of its values, `m =
/// ceil(log2(2 * 10^digits))`: 1/128 at 2 digits, 1/1024 at 3). Samples
/// are never counted below their value.
///
/// ```
/// use lockfree_metrics::export::prometheus::Buckets;
///
/// // Milliseconds to seconds, in seconds; moved to HDR bucket tops.
/// let b = Buckets::explicit(&[0.001, 0.01, 0.1, 1.0]).snapped();
/// assert_ne!(b, Buckets::default());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    bounds: Bounds,
    snap: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Bounds {
    /// These mantissas times each power of ten in the histogram's range.
    Decades(&'static [&'static str]),
    Explicit(Vec<f64>),
}

/// [`Buckets::decades`]' mantissas.
const ONE_TWO_FIVE: &[&str] = &["1", "2", "5"];
/// [`Buckets::fine_decades`]' mantissas.
const FINE: &[&str] = &["1", "1.5", "2", "3", "5", "7"];

impl Default for Buckets {
    /// [`Buckets::fine_decades`].
    fn default() -> Self {
        Self::fine_decades()
    }
}

impl Buckets {
    /// 1, 1.5, 2, 3, 5 and 7 times each power of ten within the
    /// histogram's range (`lowest / scale ..= highest / scale`): the
    /// default. Fixed by the histogram's options, so buckets stay the same
    /// from scrape to scrape (76 for the default 1 ns to 1 h, in seconds).
    /// Through them `histogram_quantile` read the comparison's
    /// distributions within 7 % at p50, p99 and p99.9, where
    /// [`decades`](Self::decades) read up to 26 % high, at twice the
    /// series and bytes (`benches/programs/src/bin/classic_buckets.rs`;
    /// the README's Prometheus section gives the table). A quantile's
    /// error is at most its bucket's width: 67 % between 3 and 5.
    pub fn fine_decades() -> Self {
        Buckets {
            bounds: Bounds::Decades(FINE),
            snap: false,
        }
    }

    /// 1, 2 and 5 times each power of ten within the histogram's range:
    /// the previous default (38 buckets for 1 ns to 1 h, half of
    /// [`fine_decades`](Self::fine_decades)'), whose interpolated
    /// quantiles can read up to twice the true value (between 5 and 10).
    pub fn decades() -> Self {
        Buckets {
            bounds: Bounds::Decades(ONE_TWO_FIVE),
            snap: false,
        }
    }

    /// These boundaries, in the exported unit; NaN, infinite and negative
    /// ones are left out (the samples are never negative, and `+Inf` is
    /// always added), the rest sorted and deduplicated.
    pub fn explicit(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds
            .iter()
            .copied()
            .filter(|b| b.is_finite() && *b >= 0.0)
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        Buckets {
            bounds: Bounds::Explicit(bounds),
            snap: false,
        }
    }

    /// Each boundary moved to the top of the HDR bucket holding it
    /// (rounded to the histogram's unit): up by less than one HDR bucket,
    /// and every count exact. Boundaries that land on the same top merge.
    pub fn snapped(mut self) -> Self {
        self.snap = true;
        self
    }

    /// The boundaries for `h`, ascending, `+Inf` not included.
    pub(crate) fn bounds_for(&self, h: &HistogramValue) -> Vec<f64> {
        let opts = h.opts();
        let scale = opts.get_scale();
        let mut bounds = match &self.bounds {
            Bounds::Decades(mantissas) => per_decade(
                mantissas,
                opts.lowest() as f64 / scale,
                opts.highest() as f64 / scale,
            ),
            Bounds::Explicit(b) => b.clone(),
        };
        if self.snap {
            for b in &mut bounds {
                // `as` saturates: a boundary past u64 snaps to the top bucket.
                let raw = (*b * scale).round() as u64;
                *b = h.range_of(raw).1 as f64 / scale;
            }
            bounds.dedup();
        }
        bounds
    }
}

/// 1, 2 and 5 times the powers of ten in `low ..= high`, each the `f64`
/// nearest its decimal (parsed, not multiplied, so 0.005 is 0.005).
pub(crate) fn decades(low: f64, high: f64) -> Vec<f64> {
    per_decade(ONE_TWO_FIVE, low, high)
}

/// `mantissas` (decimal strings) times the powers of ten in
/// `low ..= high`, as [`decades`] does 1, 2 and 5.
fn per_decade(mantissas: &[&str], low: f64, high: f64) -> Vec<f64> {
    if !(low > 0.0 && low <= high && high.is_finite()) {
        return Vec::new();
    }
    let first = (low.log10().floor() as i32 - 1).max(-330);
    let last = (high.log10().ceil() as i32 + 1).min(310);
    let mut out = Vec::new();
    for exp in first..=last {
        for m in mantissas {
            if let Ok(v) = format!("{m}e{exp}").parse::<f64>() {
                if v >= low && v <= high && v > 0.0 {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Per-bucket (not cumulative) counts for `bounds` and `+Inf`: what
/// prometheus-client's `encode_histogram` takes (it sums them itself).
/// An HDR bucket counts in the first boundary at or above its top.
#[cfg(test)]
pub(crate) fn classic(h: &HistogramValue, bounds: &[f64]) -> Vec<(f64, u64)> {
    classic_cut(h, bounds, &h.cuts(bounds))
}

/// [`classic`] from the boundaries' HDR cuts (`HistogramValue::cuts` of
/// `bounds`): the same counts, summed over index ranges rather than
/// assigned bucket by bucket.
pub(crate) fn classic_cut(h: &HistogramValue, bounds: &[f64], cuts: &[usize]) -> Vec<(f64, u64)> {
    let mut counts = vec![0_u64; bounds.len() + 1];
    h.add_between(cuts, &mut counts);
    saturate_running(&mut counts);
    bounds
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(counts)
        .collect()
}

/// Caps counts so that their running total never passes `u64::MAX`: the
/// encoder adds them up unchecked (a panic in debug builds).
pub(crate) fn saturate_running(counts: &mut [u64]) {
    let mut total = 0_u64;
    for c in counts {
        *c = (*c).min(u64::MAX - total);
        total += *c;
    }
}

pub(crate) use crate::metric::exponential::{native_index, scale_for_digits as schema_for_digits};
/// client_golang's default zero threshold, 2^-128: a positive threshold
/// also marks the histogram native to Prometheus 2.42 when it is empty.
pub(crate) const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// A native histogram's buckets (the encoder's `NativeHistogram` fields).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Native {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) spans: Vec<(i32, u32)>,
    pub(crate) deltas: Vec<i64>,
}

/// Empty buckets between two touched ones that a span absorbs rather than
/// starting a new one (as the spec's examples do).
const MAX_GAP_IN_SPAN: i32 = 2;

/// `h` as a native histogram at the schema its precision allows: each
/// non-zero HDR bucket's highest value, in the exported unit, goes to
/// native bucket `ceil(log_b v)`; the bucket of 0 goes to the zero bucket.
pub(crate) fn native(h: &HistogramValue) -> Native {
    let scale = h.opts().get_scale();
    let schema = schema_for_digits(h.opts().digits());
    // Below every positive value exported (1 / scale at least).
    let zero_threshold = ZERO_THRESHOLD.min(0.5 / scale);
    let mut zero_count = 0_u64;
    let mut touched: Vec<(i32, u64)> = Vec::new();
    for b in h.buckets() {
        if b.high == 0 {
            zero_count = zero_count.saturating_add(b.count);
            continue;
        }
        let i = native_index(b.high as f64 / scale, schema);
        match touched.last_mut() {
            // HDR buckets ascend, so equal indices are adjacent.
            Some((last, n)) if *last == i => *n = n.saturating_add(b.count),
            _ => touched.push((i, b.count)),
        }
    }
    let (spans, deltas) = spans_and_deltas(&touched);
    Native {
        schema,
        zero_threshold,
        zero_count,
        spans,
        deltas,
    }
}

/// Spans (first offset absolute, then the gap since the previous span)
/// and deltas (each bucket's count minus the previous one's) of ascending
/// `(index, count)` pairs.
pub(crate) fn spans_and_deltas(touched: &[(i32, u64)]) -> (Vec<(i32, u32)>, Vec<i64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::with_capacity(touched.len());
    let mut previous_count = 0_i64;
    let mut previous_index: Option<i32> = None;
    for &(index, count) in touched {
        match previous_index {
            Some(p) if index - p - 1 <= MAX_GAP_IN_SPAN => {
                for _ in 0..index - p - 1 {
                    deltas.push(-previous_count);
                    previous_count = 0;
                }
                if let Some(span) = spans.last_mut() {
                    span.1 += (index - p) as u32;
                }
            }
            Some(p) => spans.push((index - p - 1, 1)),
            None => spans.push((index, 1)),
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        deltas.push(count - previous_count);
        previous_count = count;
        previous_index = Some(index);
    }
    (spans, deltas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{HistogramOpts, Registry};

    /// A histogram of `values` (raw units) with `opts`, read back.
    fn histogram(opts: HistogramOpts, values: &[u64]) -> HistogramValue {
        let registry = Registry::new();
        let h = registry.histogram_with("h", &[], opts).unwrap();
        for &v in values {
            h.record(v);
        }
        let snapshot = registry.snapshot();
        snapshot
            .get("h", &[])
            .unwrap()
            .as_histogram()
            .unwrap()
            .clone()
    }

    /// A small xorshift: values spread over many HDR buckets.
    fn values(n: usize, high: u64) -> Vec<u64> {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> (x % 40)) % high
            })
            .collect()
    }

    /// The reference for `classic_cut`: each HDR bucket assigned to the
    /// first boundary at or above its top, one by one.
    fn classic_by_bucket(h: &HistogramValue, bounds: &[f64]) -> Vec<(f64, u64)> {
        let scale = h.opts().get_scale();
        let mut counts = vec![0_u64; bounds.len() + 1];
        let mut j = 0;
        for b in h.buckets() {
            let top = b.high as f64 / scale;
            while j < bounds.len() && bounds[j] < top {
                j += 1;
            }
            counts[j] = counts[j].saturating_add(b.count);
        }
        saturate_running(&mut counts);
        bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts)
            .collect()
    }

    #[test]
    fn classic_cut_matches_bucket_by_bucket() {
        for digits in 1..=3 {
            for scale in [1.0, 1e3, 1e9] {
                let opts = HistogramOpts::new(1, 1 << 40, digits)
                    .unwrap()
                    .scale(scale)
                    .unwrap();
                let mut recorded = values(4_000, 1 << 40);
                recorded.extend([0, 1, 2, 1000, 1 << 40]);
                let h = histogram(opts, &recorded);
                let low = opts.lowest() as f64 / scale;
                let high = opts.highest() as f64 / scale;
                let mut all = vec![
                    decades(low, high),
                    Buckets::explicit(&decades(low, high))
                        .snapped()
                        .bounds_for(&h),
                    vec![],
                    vec![0.0, high * 2.0],
                ];
                // Every HDR top and the values next to it.
                all.push(
                    h.buckets()
                        .flat_map(|b| {
                            let t = b.high as f64 / scale;
                            [t, t * (1.0 - 1e-12), t * (1.0 + 1e-12)]
                        })
                        .collect(),
                );
                for bounds in &mut all {
                    bounds.sort_by(f64::total_cmp);
                    bounds.dedup();
                    assert_eq!(
                        classic(&h, bounds),
                        classic_by_bucket(&h, bounds),
                        "digits {digits} scale {scale}"
                    );
                }
            }
        }
    }

    fn cumulative(per_bucket: &[(f64, u64)]) -> Vec<(f64, u64)> {
        let mut total = 0;
        per_bucket
            .iter()
            .map(|&(le, n)| {
                total += n;
                (le, total)
            })
            .collect()
    }

    #[test]
    fn classic_counts_are_exact_at_hdr_tops_and_bounded_elsewhere() {
        let opts = HistogramOpts::new(1, 1 << 30, 2)
            .unwrap()
            .scale(1.0)
            .unwrap();
        let recorded = values(5_000, 1 << 30);
        let h = histogram(opts, &recorded);
        let exact = |le: f64| recorded.iter().filter(|&&v| v as f64 <= le).count() as u64;
        let straddler = |le: f64| {
            h.buckets()
                .find(|b| (b.low as f64) <= le && le < b.high as f64)
                .map_or(0, |b| b.count)
        };

        // Snapped: every boundary an HDR top, every count exact.
        let requested = decades(1.0, (1 << 30) as f64);
        let snapped = Buckets::explicit(&requested).snapped().bounds_for(&h);
        assert!(snapped.windows(2).all(|w| w[0] < w[1]));
        for (&le, &asked) in snapped.iter().zip(&requested) {
            let (low, high) = h.range_of(asked as u64);
            assert_eq!(le, high as f64);
            assert!(low as f64 <= asked);
        }
        let counts = cumulative(&classic(&h, &snapped));
        for &(le, n) in &counts[..counts.len() - 1] {
            assert_eq!(n, exact(le), "snapped le={le}");
        }
        assert_eq!(counts.last(), Some(&(f64::INFINITY, h.count())));

        // Unsnapped 1-2-5: low by at most the straddling bucket, never high.
        let counts = cumulative(&classic(&h, &requested));
        let mut straddled = 0;
        for &(le, n) in &counts[..counts.len() - 1] {
            let (exact, slack) = (exact(le), straddler(le));
            assert!(
                n <= exact && exact - n <= slack,
                "le={le}: {n} vs {exact} (slack {slack})"
            );
            straddled += u64::from(exact != n);
        }
        assert!(
            straddled > 0,
            "the workload should straddle some boundaries"
        );

        // At a top: exact; one below it: short by exactly that bucket.
        let b = h.buckets().find(|b| b.high > b.low).unwrap();
        let at = cumulative(&classic(&h, &[b.high as f64]))[0].1;
        let below = cumulative(&classic(&h, &[b.high as f64 - 1.0]))[0].1;
        assert_eq!(at, exact(b.high as f64));
        assert_eq!(at - below, b.count);
    }

    #[test]
    fn classic_in_seconds_and_the_default_series() {
        let h = histogram(HistogramOpts::default(), &[5_000_000, 1_000, 0]);
        let bounds = Buckets::default().bounds_for(&h);
        // 1 ns to 1 h in seconds: 1e-9 ..= 3000, six per decade.
        assert_eq!(bounds, Buckets::fine_decades().bounds_for(&h));
        assert_eq!(bounds.len(), 76);
        assert_eq!(bounds[..4], [1e-9, 1.5e-9, 2e-9, 3e-9]);
        assert_eq!(bounds[bounds.len() - 1], 3000.0);
        assert!(bounds.contains(&0.005) && bounds.contains(&0.001) && bounds.contains(&0.007));
        let counts = cumulative(&classic(&h, &bounds));
        let at = |le: f64| counts.iter().find(|c| c.0 == le).unwrap().1;
        assert_eq!(at(1e-9), 1); // the 0
                                 // 1,000 ns shares 1,000 ..= 1,003 ns: counted from 1.5e-6 on.
        assert_eq!(at(1e-6), 1);
        assert_eq!(at(1.5e-6), 2);
        // 5 ms shares a bucket with 4.98..5.01 ms: counted from 0.007 on.
        assert_eq!(at(0.005), 2);
        assert_eq!(at(0.007), 3);
        // The previous default, 1-2-5: 38 boundaries, 1e-9 ..= 2000.
        let old = Buckets::decades().bounds_for(&h);
        assert_eq!(old.len(), 38);
        assert_eq!(
            (old[0], old[1], old[2], old[37]),
            (1e-9, 2e-9, 5e-9, 2000.0)
        );
        let snapped = Buckets::explicit(&[0.005]).snapped().bounds_for(&h);
        assert_eq!(snapped, vec![0.005_013_503]);
        assert_eq!(cumulative(&classic(&h, &snapped))[0].1, 3);
    }

    #[test]
    fn schema_matches_precision() {
        assert_eq!(
            (0..=5).map(schema_for_digits).collect::<Vec<_>>(),
            vec![-1, 3, 6, 8, 8, 8]
        );
        for digits in 0..=2 {
            // Unclamped: the largest s with 2^s <= half * ln 2.
            let half = 2_f64.powi((2.0 * 10_f64.powi(digits.into())).log2().ceil() as i32 - 1);
            let s = schema_for_digits(digits);
            assert!(2_f64.powi(s) <= half * std::f64::consts::LN_2);
            assert!(2_f64.powi(s + 1) > half * std::f64::consts::LN_2);
        }
    }

    #[test]
    fn native_index_is_ceil_log_base() {
        use crate::metric::exponential::{MAX_SCALE, MIN_SCALE};
        for schema in MIN_SCALE..=MAX_SCALE {
            let per_octave = 2_f64.powi(schema);
            // Powers of two are bucket tops: index k * 2^s (rounded up
            // for negative schemas).
            for k in -40..40 {
                let want = (f64::from(k) * per_octave).ceil() as i32;
                assert_eq!(
                    native_index(2_f64.powi(k), schema),
                    want,
                    "2^{k} at schema {schema}"
                );
            }
            // Elsewhere, away from the boundaries, the plain formula.
            let mut x = 0x9E37_79B9_7F4A_7C15_u64;
            for _ in 0..2_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x >> 11) as f64 / (1_u64 << 53) as f64 * 2_f64.powi((x % 60) as i32 - 30);
                let exact = v.log2() * per_octave;
                if v == 0.0 || (exact - exact.round()).abs() < 1e-6 {
                    continue;
                }
                assert_eq!(
                    native_index(v, schema),
                    exact.ceil() as i32,
                    "{v} at schema {schema}"
                );
            }
        }
        // Subnormals and the largest values stay in range.
        assert_eq!(native_index(f64::MIN_POSITIVE / 4.0, 0), -1024);
        assert_eq!(native_index(f64::MAX, 8), 1024 * 256);
        assert_eq!(native_index(f64::INFINITY, 8), 1024 * 256);
    }

    #[test]
    fn spans_and_deltas_by_hand() {
        // Gaps of 2 are absorbed; a gap of 5 starts a span.
        let (spans, deltas) = spans_and_deltas(&[(-3, 1), (-2, 2), (1, 3), (7, 4)]);
        assert_eq!(spans, vec![(-3, 5), (5, 1)]);
        assert_eq!(deltas, vec![1, 1, -2, 0, 3, 1]);
        assert_eq!(spans_and_deltas(&[]), (vec![], vec![]));
        assert_eq!(spans_and_deltas(&[(4, 9)]), (vec![(4, 1)], vec![9]));
    }

    /// Expands spans and deltas back to (index, count).
    fn decode(n: &Native) -> Vec<(i32, u64)> {
        let (mut out, mut index, mut count, mut deltas) = (Vec::new(), 0, 0_i64, n.deltas.iter());
        for (i, &(offset, length)) in n.spans.iter().enumerate() {
            index += offset + if i == 0 { 0 } else { 1 };
            for j in 0..length {
                if j > 0 {
                    index += 1;
                }
                count += deltas.next().unwrap();
                out.push((index, count as u64));
            }
        }
        assert!(deltas.next().is_none());
        out
    }

    #[test]
    fn native_matches_a_direct_computation() {
        for (digits, schema) in [(1, 3), (2, 6), (3, 8)] {
            let opts = HistogramOpts::new(1, 3_600_000_000_000, digits).unwrap();
            let mut recorded = values(3_000, 1 << 36);
            recorded.extend([0, 0, 0, 1, 2, 1_000_000_000]);
            let h = histogram(opts, &recorded);
            let n = native(&h);
            assert_eq!(n.schema, schema);
            assert!(n.zero_threshold > 0.0 && n.zero_threshold < 1e-9);
            assert_eq!(n.zero_count, 3);
            // Directly: each HDR bucket's top in seconds, ceil(log_b v).
            let mut direct = std::collections::BTreeMap::new();
            for b in h.buckets().filter(|b| b.high > 0) {
                let v = b.high as f64 / 1e9;
                let i = (v.log2() * 2_f64.powi(schema)).ceil() as i32;
                *direct.entry(i).or_insert(0_u64) += b.count;
            }
            let decoded: std::collections::BTreeMap<i32, u64> =
                decode(&n).into_iter().filter(|&(_, c)| c > 0).collect();
            assert_eq!(decoded, direct, "digits {digits}");
            assert_eq!(decoded.values().sum::<u64>() + n.zero_count, h.count());
            // Spans never hold a run of more than two empty buckets.
            let counts = decode(&n);
            assert!(counts.windows(3).all(|w| w.iter().any(|&(_, c)| c > 0)));
        }
    }
}
