//! Prototype storages for the registry's histograms, second generation.
pub mod index;
pub mod paged;
pub mod token;

/// Log-uniform latencies in [lo, hi] ns, xorshift-seeded.
pub fn log_uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (lo * (hi / lo).powf(u)) as u64
        })
        .collect()
}
