//! Relative error at p50/p99/p999 (and the worst over 1,000 quantiles) vs exact
//! nearest-rank, 1M samples, for HDR 2 digits and exponential scale 5/6.
use proto::index::{Exp, Hdr};

fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    let mut u = || {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n).map(|_| (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos()).collect()
}

fn quant_sorted(sorted: &[u64], q: f64) -> u64 {
    let r = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[r - 1]
}

fn from_counts(counts: &[u64], q: f64, val: impl Fn(usize) -> f64) -> f64 {
    let total: u64 = counts.iter().sum();
    let target = ((q * total as f64).ceil() as u64).max(1);
    let mut run = 0;
    for (i, &c) in counts.iter().enumerate() {
        run += c;
        if run >= target {
            return val(i);
        }
    }
    unreachable!()
}

fn main() {
    let n = 1_000_000;
    let z = normals(2 * n, 0x5EED);
    let lognormal: Vec<u64> = z[..n].iter().map(|z| (1e6 * (1.5 * z).exp()).round().max(1.0).min(3.6e12) as u64).collect();
    let mut bimodal = Vec::with_capacity(n);
    let mut x = 77u64;
    for (i, z) in z[n..].iter().enumerate() {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        let slow = (x % 10) == 0;
        let _ = i;
        let v = if slow { 5e7 * (0.5 * z).exp() } else { 2e5 * (0.3 * z).exp() };
        bimodal.push(v.round().max(1.0) as u64);
    }
    let lu = proto::log_uniform(n, 1e3, 1e10, 9);
    let hdr = Hdr::new(1, 3_600_000_000_000, 2);
    let e5 = Exp::new(5);
    let e6 = Exp::new(6);
    println!("| distribution | index | p50 err | p99 err | p999 err | worst over q=0.001..0.999 (999 q) |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, data) in [("log-normal median 1 ms sigma 1.5", &lognormal), ("bimodal 90% 200us s0.3 / 10% 50ms s0.5", &bimodal), ("log-uniform 1us..10s", &lu)] {
        let mut sorted = data.clone();
        sorted.sort_unstable();
        let mut hc = vec![0u64; hdr.len];
        for &v in data.iter() { hc[hdr.index(v)] += 1; }
        let mut c5 = vec![0u64; 64 << 5 | 1];
        let mut c6 = vec![0u64; 64 << 6 | 1];
        for &v in data.iter() { c5[e5.index(v) as usize] += 1; c6[e6.index(v) as usize] += 1; }
        let cases: Vec<(&str, Box<dyn Fn(f64) -> f64>)> = vec![
            ("HDR 2 digits (highest equivalent, as the crate reports)", Box::new(|q| from_counts(&hc, q, |i| hdr.highest_at(i) as f64))),
            ("HDR 2 digits (midpoint)", Box::new(|q| from_counts(&hc, q, |i| (hdr.value_at(i) as f64 + hdr.highest_at(i) as f64) / 2.0))),
            ("exp scale 5 (2lh/(l+h))", Box::new(|q| from_counts(&c5, q, |i| e5.value(i as u32)))),
            ("exp scale 5 (upper bound)", Box::new(|q| from_counts(&c5, q, |i| e5.upper(i as u32)))),
            ("exp scale 6 (2lh/(l+h))", Box::new(|q| from_counts(&c6, q, |i| e6.value(i as u32)))),
        ];
        for (iname, f) in cases {
            let err = |q: f64| {
                let ex = quant_sorted(&sorted, q) as f64;
                (f(q) - ex).abs() / ex * 100.0
            };
            let worst = (1..1000).map(|i| err(i as f64 / 1000.0)).fold(0.0, f64::max);
            println!("| {name} | {iname} | {:.3}% | {:.3}% | {:.3}% | {:.3}% |", err(0.5), err(0.99), err(0.999), worst);
        }
        let nz = |c: &[u64]| c.iter().filter(|&&x| x != 0).count();
        println!("| {name} | non-zero buckets: HDR {} / scale 5 {} / scale 6 {} | | | | |", nz(&hc), nz(&c5), nz(&c6));
    }
}
