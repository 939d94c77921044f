//! Base-2 exponential buckets, as Prometheus native histograms and OTLP
//! exponential histograms share them: bucket boundaries `base^i`,
//! `base = 2^(2^-scale)`. Prometheus calls the scale a schema and numbers
//! bucket `(base^(i-1), base^i]` as `i`; OTLP numbers it `i - 1`. The
//! index is computed as client_golang computes it (`Frexp`, then the
//! fraction's place among the scale's boundaries), so exact powers of two
//! land exactly, where a logarithm would round.

/// The largest standard scale (schema), at most 8.
pub(crate) const MAX_SCALE: i32 = 8;
/// The smallest standard scale (schema).
pub(crate) const MIN_SCALE: i32 = -4;

/// The largest scale whose buckets are no finer than the HDR layout's at
/// `digits`: HDR's widest relative sub-bucket is `1 / half` (`half =
/// 2^(ceil(log2(2 * 10^digits)) - 1)`), scale `s` spans about `ln 2 /
/// 2^s`, so `2^s <= half * ln 2`: 6 at 2 digits, 8 (capped) at 3, 3 at 1.
pub(crate) fn scale_for_digits(digits: u8) -> i32 {
    let largest = 2.0 * 10_f64.powi(i32::from(digits));
    let half = 2_f64.powi(largest.log2().ceil() as i32 - 1);
    ((half * std::f64::consts::LN_2).log2().floor() as i32).clamp(MIN_SCALE, MAX_SCALE)
}

/// `v`'s fraction in `[0.5, 1)` and exponent (C's and Go's `frexp`), for
/// positive finite `v`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scaled into the normal range first.
        let (frac, e) = frexp(v * 2_f64.powi(64));
        return (frac, e - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp - 1022)
}

/// The Prometheus native bucket index holding `v > 0` at `scale`:
/// `ceil(log_base v)`, bucket `i` covering `(base^(i-1), base^i]` (OTLP's
/// index is this minus one). A non-finite `v` is taken as `f64::MAX`.
pub(crate) fn native_index(v: f64, scale: i32) -> i32 {
    let v = if v.is_finite() { v } else { f64::MAX };
    let (frac, exp) = frexp(v);
    if scale > 0 {
        let n = 1_i32 << scale;
        let bound = |j: i32| (f64::from(j) / f64::from(n)).exp2() / 2.0;
        // The smallest j in 0..=n with bound(j) >= frac, from a first
        // guess corrected against the boundaries themselves.
        let mut j = (((2.0 * frac).log2() * f64::from(n)).ceil() as i32).clamp(0, n);
        while j > 0 && bound(j - 1) >= frac {
            j -= 1;
        }
        while j < n && bound(j) < frac {
            j += 1;
        }
        j + (exp - 1) * n
    } else {
        let mut key = exp;
        if frac == 0.5 {
            key -= 1;
        }
        let offset = (1 << -scale) - 1;
        (key + offset) >> -scale
    }
}
