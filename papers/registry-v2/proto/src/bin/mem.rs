//! Memory per series: the candidate measured (allocator count and VmRSS
//! delta at 10,000 series) and the layout options computed from touched pages.
use proto::index::Exp;
use proto::paged::{Hist, BYTES, S};
use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status").unwrap().lines()
        .find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let e5 = Exp::new(5);
    let e6 = Exp::new(6);
    let n = 10_000;
    println!("| records per series | candidate (s6, u16 octave pages): allocator B/series | VmRSS B/series | pages/series | option s6 u32 octave pages (256 B) | s6 u16 half-octave pages (64 B, 130-entry dir) | s5 u32 octave pages (128 B) | dense HDR today (address space) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rs: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let rs = if rs.is_empty() { vec![1usize, 10, 100, 1_000, 10_000] } else { rs };
    for r in rs {
        let vals = proto::log_uniform(n * r.min(1000), 1e3, 1e10, r as u64 + 1);
        let b0 = BYTES.load(Relaxed);
        let rss0 = rss_kib();
        let hs: Vec<Hist> = (0..n).map(|_| Hist::default()).collect();
        let mut sets5: Vec<HashSet<u32>> = vec![HashSet::new(); n];
        let mut sets6: Vec<HashSet<u32>> = vec![HashSet::new(); n];
        let mut sets6h: Vec<HashSet<u32>> = vec![HashSet::new(); n];
        let get = |i: usize, j: usize| if r <= 1000 { vals[i * r + j] } else { vals[(i * 7919 + j * 104_729) % vals.len()] };
        for (i, h) in hs.iter().enumerate() {
            for j in 0..r {
                h.record(&e6, get(i, j));
            }
        }
        let head = std::mem::size_of::<Hist>() as f64;
        let alloc = (BYTES.load(Relaxed) - b0) as f64 / n as f64 + head;
        let rss = (rss_kib() - rss0) as f64 * 1024.0 / n as f64;
        for i in 0..n {
            for j in 0..r {
                let v = get(i, j);
                sets5[i].insert(e5.index(v) >> 5);
                sets6[i].insert(e6.index(v) >> 6);
                sets6h[i].insert(e6.index(v) >> 5);
            }
        }
        let pages = hs.iter().map(|h| h.pages()).sum::<usize>() as f64 / n as f64;
        let opt = |sets: &[HashSet<u32>], page: f64, dir: f64| sets.iter().map(|s| head + s.len() as f64 * page + if s.len() > 1 { dir } else { 0.0 }).sum::<f64>() / n as f64;
        println!("| {r} | {alloc:.0} | {rss:.0} | {pages:.1} | {:.0} | {:.0} | {:.0} | {} |",
            opt(&sets6, 256.0, 520.0), opt(&sets6h, 64.0, 1040.0), opt(&sets5, 128.0, 520.0),
            proto::index::Hdr::new(1, 3_600_000_000_000, 2).len * 8);
        drop(hs);
        let _ = S;
    }
}
