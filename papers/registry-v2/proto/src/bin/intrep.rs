//! Integer representatives: for each scale-6 bucket, the integer in the
//! bucket minimising the worst relative error over the integers it holds;
//! the worst such error by value range.
use proto::index::Exp;
fn main() {
    let e = Exp::new(6);
    let mut worst_by_decade = vec![(0.0f64, 0u64); 12];
    // integers in bucket k: a..=b, found by scanning values (exact index).
    let mut v = 1u64;
    while v < 10_000_000_000 {
        let k = e.index(v);
        let a = v;
        // find b: last integer with the same index (scan for small, bisect for large)
        let (mut lo, mut hi) = (v, v.saturating_mul(2));
        while lo < hi { let m = lo + (hi - lo + 1) / 2; if e.index(m) == k { lo = m } else { hi = m - 1 } }
        let b = lo;
        let err = |r: u64| f64::max((r - a) as f64 / a as f64, (b - r) as f64 / b as f64);
        let rr = e.value(k);
        let cands = [(rr.floor() as u64).clamp(a, b), (rr.ceil() as u64).clamp(a, b)];
        let best = cands.iter().map(|&r| err(r)).fold(f64::MAX, f64::min);
        let d = (v as f64).log10() as usize;
        if best > worst_by_decade[d].0 { worst_by_decade[d] = (best, a); }
        v = b + 1;
    }
    for (d, (w, a)) in worst_by_decade.iter().enumerate().take(10) {
        println!("values in [1e{d}, 1e{}): worst integer-representative error {:.3}% (bucket starting at {a})", d + 1, w * 100.0);
    }
}
