//! Bucket indexes: base-2 exponential (Prometheus schema / OTel scale `s`,
//! upper-inclusive buckets) by integer arithmetic, and the crate's HDR layout.

/// Exponential index at scale `s`, integer-only: `clz` gives the octave, the
/// top `s+1` mantissa bits pick a table entry, one compare fixes the boundary.
/// Returns the Prometheus native index (= OTel index + 1) for v >= 1; v = 0 is
/// the zero bucket (callers handle it). Bucket k covers (b^(k-1), b^k], b = 2^(2^-s).
pub struct Exp {
    pub s: u32,
    /// j0 for each of the 2^(s+1) linear bins of the mantissa.
    approx: [u16; 128],
    /// boundary[j] = floor(2^64 * (2^(j/2^s) - 1)), j in 0..=2^s (last = MAX).
    bound: [u64; 128],
}

impl Exp {
    pub fn new(s: u32) -> Self {
        let n = 1usize << s;
        let mut bound = vec![0u64; n + 1];
        for (j, b) in bound.iter_mut().enumerate().take(n).skip(1) {
            // f64 is exact enough for a prototype; the implementation derives
            // the table by integer bisection (see DESIGN.md, index).
            let f = (j as f64 / n as f64).exp2() - 1.0;
            *b = (f * 18446744073709551616.0) as u64;
        }
        bound[n] = u64::MAX;
        let bins = 1usize << (s + 1);
        assert!(s <= 6);
        let mut approx = [0u16; 128];
        for (i, a) in approx.iter_mut().enumerate().take(bins) {
            let lo = (i as u64) << (64 - (s + 1));
            // largest j with bound[j] <= lo
            *a = (bound.iter().rposition(|&b| b <= lo).unwrap().min(n - 1)) as u16;
        }
        let mut b = [u64::MAX; 128];
        b[..=n].copy_from_slice(&bound);
        Exp { s, approx, bound: b }
    }

    #[inline(always)]
    pub fn index(&self, v: u64) -> u32 {
        debug_assert!(v >= 1);
        let lz = v.leading_zeros();
        let e = 63 - lz;
        let m = (v << lz) << 1; // mantissa bits, 0.64 fixed point
        let j0 = self.approx[(m >> (63 - self.s)) as usize & 127] as usize;
        // m > bound[j0+1] <=> v above boundary j0+1 (irrational, never hit)
        let j = j0 + (m > self.bound[(j0 + 1) & 127]) as usize;
        // a power of two (m == 0) closes the previous bucket: index e<<s.
        (e << self.s) + j as u32 + (m != 0) as u32
    }

    /// Upper bound of bucket k (as f64).
    pub fn upper(&self, k: u32) -> f64 {
        ((k as f64) / (1u64 << self.s) as f64).exp2()
    }
    /// The value reported for bucket k: minimises the worst relative error,
    /// 2*lo*hi/(lo+hi), error (b-1)/(b+1).
    pub fn value(&self, k: u32) -> f64 {
        let hi = self.upper(k);
        let lo = self.upper(k.wrapping_sub(1));
        2.0 * lo * hi / (lo + hi)
    }
}

/// The crate's HDR layout (copied from src/metric/layout.rs), default opts.
#[derive(Clone)]
pub struct Hdr {
    unit_magnitude: u32,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: usize,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    pub len: usize,
}

impl Hdr {
    pub fn new(low: u64, high: u64, digits: u8) -> Self {
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
        Hdr {
            unit_magnitude,
            sub_bucket_half_count_magnitude: sub_bucket_count_magnitude - 1,
            sub_bucket_half_count,
            sub_bucket_mask: (sub_bucket_count - 1) << unit_magnitude,
            leading_zero_count_base: 64 - unit_magnitude - sub_bucket_count_magnitude,
            len: (buckets + 1) * sub_bucket_half_count,
        }
    }
    #[inline(always)]
    pub fn index(&self, value: u64) -> usize {
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> (bucket + self.unit_magnitude)) as usize;
        ((bucket as usize + 1) << self.sub_bucket_half_count_magnitude) + sub_bucket
            - self.sub_bucket_half_count
    }
    pub fn value_at(&self, index: usize) -> u64 {
        let mut bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count;
        if bucket < 0 {
            sub_bucket -= self.sub_bucket_half_count;
            bucket = 0;
        }
        (sub_bucket as u64) << (bucket as u32 + self.unit_magnitude)
    }
    /// hdrhistogram's highest_equivalent (what the crate reports).
    pub fn highest_at(&self, index: usize) -> u64 {
        let bucket = if index < 2 * self.sub_bucket_half_count {
            0
        } else {
            (index >> self.sub_bucket_half_count_magnitude) as u32 - 1
        };
        self.value_at(index) + (1u64 << (bucket + self.unit_magnitude)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Against the float definition, away from boundaries (f64 log2).
    #[test]
    fn exp_matches_float_definition() {
        for s in [4, 5, 6] {
            let x = Exp::new(s);
            let mut r = 0x9E3779B97F4A7C15u64;
            for i in 0..2_000_000u64 {
                r ^= r << 13; r ^= r >> 7; r ^= r << 17;
                let v = if i < 5000 { i + 1 } else { (r >> (r % 40)).max(1) };
                let k = x.index(v);
                let exact = (v as f64).log2() * (1u64 << s) as f64;
                let want = exact.ceil();
                if (exact - exact.round()).abs() > 1e-9 || exact.fract() == 0.0 {
                    assert_eq!(k as f64, want, "s={s} v={v}");
                }
            }
            // powers of two close the bucket below
            for e in 0..63 { assert_eq!(x.index(1u64 << e), e << s); }
        }
    }
}
