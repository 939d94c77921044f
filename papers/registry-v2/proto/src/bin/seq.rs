//! Would a seqlock (count as version) give readers a consistent (count, sum)
//! of a hot owner lane without waiting? Writer records flat out; a reader
//! takes 20,000 readings; we count failed attempts per reading.
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::*};
fn main() {
    let seq = AtomicU64::new(0);
    let sum = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (mut worst, mut tries_total, mut gave_up) = (0u64, 0u64, 0u64);
    let readings = 20_000u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut v = 1u64;
            while !stop.load(Relaxed) {
                for _ in 0..1000 {
                    let q = seq.load(Relaxed);
                    seq.store(q + 1, Relaxed); // odd: in progress
                    fence(Release);
                    sum.store(sum.load(Relaxed).wrapping_add(v), Relaxed);
                    seq.store(q + 2, Release);
                    v = v.wrapping_mul(6364136223846793005).wrapping_add(1) >> 40;
                }
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..readings {
            let mut tries = 0;
            loop {
                tries += 1;
                let a = seq.load(Acquire);
                let _x = sum.load(Relaxed);
                fence(Acquire);
                let b = seq.load(Relaxed);
                if a == b && a % 2 == 0 { break; }
                if tries == 1_000_000 { gave_up += 1; break; }
            }
            tries_total += tries;
            worst = worst.max(tries);
        }
        stop.store(true, Relaxed);
    });
    println!("seqlock reader vs a hot owner: {readings} readings, mean {:.2} attempts, worst {worst}, gave up after 1e6 attempts: {gave_up}; loadavg {}", tries_total as f64 / readings as f64, std::fs::read_to_string("/proc/loadavg").unwrap().trim());
}
