//! Wall-clock records/s, interleaved: one series at 1 and 2 threads, then
//! many series. Each case: every thread records R values; reported: Mrec/s
//! (all threads' records / wall) and on-CPU ns per record (schedstat).
use proto::index::Exp;
use proto::paged::{Dense, Hist, HistPadded, InlineDir, Tls, NO_LANES, S};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Barrier;
use std::time::Instant;

/// One Recorder per thread, each index used by one thread only.
struct PerThread<T>(Vec<std::cell::UnsafeCell<T>>);
unsafe impl<T> Sync for PerThread<T> {}
impl<T> PerThread<T> {
    #[allow(clippy::mut_from_ref)]
    fn get(&self, i: usize) -> &mut T { unsafe { &mut *self.0[i].get() } }
}

fn oncpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

type Rec<'a> = &'a (dyn Fn(usize, u64) + Sync);

/// Run `threads` threads, each recording `r` values into series chosen by
/// `choice[t][i]`; returns (Mrec/s, cpu ns/record).
fn run(threads: usize, r: usize, vals: &[u64], choice: &[Vec<u32>], rec: Rec) -> (f64, f64) {
    let b = Barrier::new(threads + 1);
    let cpu = std::sync::atomic::AtomicU64::new(0);
    let wall = std::thread::scope(|s| {
        for t in 0..threads {
            let (b, cpu, ch) = (&b, &cpu, &choice[t]);
            s.spawn(move || {
                b.wait();
                let c0 = oncpu_ns();
                let m = ch.len() - 1;
                for i in 0..r {
                    rec(ch[i & m] as usize, vals[(i + t * 977) & 4095]);
                }
                cpu.fetch_add(oncpu_ns() - c0, Relaxed);
                b.wait();
            });
        }
        b.wait();
        let t0 = Instant::now();
        b.wait();
        t0.elapsed()
    });
    let n = (threads * r) as f64;
    (n / wall.as_secs_f64() / 1e6, cpu.load(Relaxed) as f64 / n)
}

fn zipf(series: usize, n: usize, seed: u64) -> Vec<u32> {
    let w: Vec<f64> = (0..series).map(|k| ((k + 1) as f64).powf(-1.1)).collect();
    let tot: f64 = w.iter().sum();
    let mut cdf = Vec::with_capacity(series);
    let mut acc = 0.0;
    for x in &w { acc += x / tot; cdf.push(acc); }
    let mut x = seed | 1;
    (0..n).map(|_| {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        cdf.partition_point(|&c| c < u).min(series - 1) as u32
    }).collect()
}
fn uniform(series: usize, n: usize, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    (0..n).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % series as u64) as u32 }).collect()
}

fn med(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("one");
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let ix = Exp::new(S);
    let vals = proto::log_uniform(4096, 1e3, 1e10, 5);
    let hdr = proto::index::Hdr::new(1, 3_600_000_000_000, 2);
    println!("loadavg before: {}", std::fs::read_to_string("/proc/loadavg").unwrap().trim());
    if what == "one" {
        let r = 4_000_000;
        let one = vec![vec![0u32; 1]; 2];
        // case name, threads, maker
        let cases: Vec<(&str, usize)> = vec![
            ("(a) dense HDR shared atomics", 1), ("(a) dense HDR shared atomics", 2),
            ("(b) owner lane (plain stores)", 1),
            ("(b) owner + 1 foreigner, foreigner on shared RMWs", 2),
            ("(b) owner + 1 foreigner, foreigner given a lane", 2),
            ("(b) 2 foreigners (owner idle), shared RMWs", 102),
            ("(b) 2 foreigners (owner idle), given lanes", 202),
            ("(b') padded header: owner lane", 1),
            ("(b') padded header: owner + 1 foreigner, foreigner on shared RMWs", 2),
            ("(b') padded header: owner + 1 foreigner, foreigner given a lane", 2),
            ("(b') padded header: 2 foreigners (owner idle), given lanes", 202),
            ("(c) thread_local cells", 1), ("(c) thread_local cells", 2),
            ("SyncHistogram, a Recorder per thread", 1), ("SyncHistogram, a Recorder per thread", 2),
        ];
        let mut res: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); cases.len()];
        for _ in 0..reps {
            for (ci, &(name, th)) in cases.iter().enumerate() {
                let threads = th % 100;
                let (m, c) = if name.starts_with("(a)") {
                    let d = Dense::new(hdr.clone());
                    let x = run(threads, r, &vals, &one, &|_, v| d.record(v));
                    assert_eq!(d.count(), (threads * r) as u64); x
                } else if name.starts_with("(b)") {
                    NO_LANES.store(name.contains("shared RMWs"), Relaxed);
                    let h = Hist::default();
                    if name.contains("owner idle") { h.record(&ix, 1); } // this thread owns it, then idles
                    let x = run(threads, r, &vals, &one, &|_, v| h.record(&ix, v));
                    let want = (threads * r) as u64 + name.contains("owner idle") as u64;
                    assert_eq!(h.count(), want); x
                } else if name.starts_with("(b')") {
                    NO_LANES.store(name.contains("shared RMWs"), Relaxed);
                    let h = HistPadded::default();
                    if name.contains("owner idle") { h.record(&ix, 1); }
                    let x = run(threads, r, &vals, &one, &|_, v| h.record(&ix, v));
                    let want = (threads * r) as u64 + name.contains("owner idle") as u64;
                    assert_eq!(h.count(), want); x
                } else if name.starts_with("(c)") {
                    let h = Tls::default();
                    let x = run(threads, r, &vals, &one, &|_, v| h.record(&ix, v));
                    assert_eq!(h.count(), (threads * r) as u64); x
                } else {
                    let s: hdrhistogram::sync::SyncHistogram<u64> = hdrhistogram::Histogram::new_with_bounds(1000, 3_600_000_000_000, 2).unwrap().into_sync();
                    let recs = PerThread((0..threads).map(|_| std::cell::UnsafeCell::new(s.recorder())).collect());
                    let tid = std::sync::atomic::AtomicUsize::new(0);
                    thread_local!(static MY: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) });
                    let _ = &tid;
                    run(threads, r, &vals, &one, &|_, v| {
                        let me = MY.with(|m| { if m.get() == usize::MAX { m.set(tid.fetch_add(1, Relaxed)); } m.get() });
                        recs.get(me).record(v).unwrap();
                    })
                };
                res[ci].0.push(m);
                res[ci].1.push(c);
            }
        }
        NO_LANES.store(false, Relaxed);
        println!("| case | threads | Mrec/s median [min-max] | on-CPU ns/record median [min-max] |\n|---|---:|---|---|");
        for (ci, &(name, th)) in cases.iter().enumerate() {
            let (a, b, c) = med(&mut res[ci].0);
            let (d, e, f) = med(&mut res[ci].1);
            println!("| {name} | {} | {a:.1} [{b:.1}-{c:.1}] | {d:.2} [{e:.2}-{f:.2}] |", th % 100);
        }
    }
    if what == "dirhop" {
        // One thread, many series: does the directory hop matter? (owner-only)
        let r = 2_000_000;
        println!("| series | choice | candidate (header -> dir -> page) | inline directory (header -> page) | ratio inline/candidate (per-rep medians) |\n|---:|---|---|---|---|");
        for &n in &[1_000usize, 10_000] {
            for choice in ["uniform", "zipf"] {
                let a: Vec<Hist> = (0..n).map(|_| Hist::default()).collect();
                let b: Vec<InlineDir> = (0..n).map(|_| InlineDir::default()).collect();
                let ch: Vec<Vec<u32>> = vec![if choice == "uniform" { uniform(n, 1 << 16, 7) } else { zipf(n, 1 << 16, 7) }];
                // one thread for every rep, so it owns every series throughout
                let (mut x, mut y, mut q) = std::thread::scope(|s| s.spawn(|| {
                    let (mut x, mut y, mut q) = (vec![], vec![], vec![]);
                    for _ in 0..reps {
                        let t0 = oncpu_ns();
                        for i in 0..r { a[ch[0][i & 0xffff] as usize].record(&ix, vals[i & 4095]); }
                        let t1 = oncpu_ns();
                        for i in 0..r { b[ch[0][i & 0xffff] as usize].record(&ix, vals[i & 4095]); }
                        let t2 = oncpu_ns();
                        let (p1, p2) = ((t1 - t0) as f64 / r as f64, (t2 - t1) as f64 / r as f64);
                        x.push(p1); y.push(p2); q.push(p2 / p1);
                    }
                    (x, y, q)
                }).join().unwrap());
                let (m1, l1, h1) = med(&mut x); let (m2, l2, h2) = med(&mut y); let (m3, l3, h3) = med(&mut q);
                println!("| {n} | {choice} | {m1:.1} [{l1:.1}-{h1:.1}] | {m2:.1} [{l2:.1}-{h2:.1}] | {m3:.2} [{l3:.2}-{h3:.2}] |");
                assert_eq!(b.iter().map(|h| h.count()).sum::<u64>(), (reps * r) as u64);
                assert_eq!(a.iter().map(|h| h.count()).sum::<u64>(), (reps * r) as u64);
            }
        }
    }
    if what == "many" {
        use prometheus_client::metrics::histogram::{exponential_buckets, Histogram as PcH};
        let r = 2_000_000;
        println!("| series | choice | threads | candidate | Mrec/s median [min-max] | on-CPU ns/record median [min-max] |\n|---:|---|---:|---|---|---|");
        for &n in &[1_000usize, 10_000] {
            let hist: Vec<Hist> = (0..n).map(|_| Hist::default()).collect();
            let hist2: Vec<Hist> = (0..n).map(|_| Hist::default()).collect();
            let tls: Vec<Tls> = (0..n).map(|_| Tls::default()).collect();
            let pc: Vec<PcH> = (0..n).map(|_| PcH::new(exponential_buckets(1e-6, 2.0, 24))).collect();
            let sync: Vec<hdrhistogram::sync::SyncHistogram<u64>> = (0..n).map(|_| hdrhistogram::Histogram::new_with_bounds(1000, 3_600_000_000_000, 2).unwrap().into_sync()).collect();
            let recs = PerThread((0..2).map(|_| std::cell::UnsafeCell::new(sync.iter().map(|s| s.recorder()).collect::<Vec<_>>())).collect());
            for choice in ["uniform", "zipf"] {
                let ch: Vec<Vec<u32>> = (0..2).map(|t| if choice == "uniform" { uniform(n, 1 << 16, 7 + t as u64) } else { zipf(n, 1 << 16, 7 + t as u64) }).collect();
                for threads in [1usize, 2] {
 let names = ["candidate: owner lane + shared + lanes (exp scale 6, u16 pages)", "candidate, lanes off (foreigners stay on shared RMWs)", "(c) thread_local cells per series", "hdrhistogram SyncHistogram per series", "prometheus-client Histogram (24 buckets)"];
                    let mut res: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); names.len()];
                    for _ in 0..reps {
                        for (ci, _) in names.iter().enumerate() {
                            let x = match ci {
                                0 => { NO_LANES.store(false, Relaxed); run(threads, r, &vals, &ch, &|i, v| hist[i].record(&ix, v)) }
                                1 => { NO_LANES.store(true, Relaxed); let x = run(threads, r, &vals, &ch, &|i, v| hist2[i].record(&ix, v)); NO_LANES.store(false, Relaxed); x }
                                2 => run(threads, r, &vals, &ch, &|i, v| tls[i].record(&ix, v)),
                                3 => {
                                    let tid = std::sync::atomic::AtomicUsize::new(0);
                                    thread_local!(static MY: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) });
                                    run(threads, r, &vals, &ch, &|i, v| {
                                        let me = MY.with(|m| { if m.get() == usize::MAX { m.set(tid.fetch_add(1, Relaxed)); } m.get() });
                                        recs.get(me)[i].record(v).unwrap();
                                    })
                                }
                                _ => run(threads, r, &vals, &ch, &|i, v| pc[i].observe(v as f64 * 1e-9)),
                            };
                            res[ci].0.push(x.0);
                            res[ci].1.push(x.1);
                        }
                    }
                    for (ci, name) in names.iter().enumerate() {
                        let (a, b, c) = med(&mut res[ci].0);
                        let (d, e, f) = med(&mut res[ci].1);
                        println!("| {n} | {choice} | {threads} | {name} | {a:.1} [{b:.1}-{c:.1}] | {d:.2} [{e:.2}-{f:.2}] |");
                    }
                }
            }
            let total: u64 = hist.iter().map(|h| h.count()).sum();
            println!("candidate count check: {total} records read back (expected {})", (reps * 3 * r * 2) as u64);
            assert_eq!(total, (reps * 3 * r * 2) as u64);
            println!("lanes-off candidate pages: {:.1} per series", hist2.iter().map(|h| h.pages()).sum::<usize>() as f64 / n as f64);
            println!("candidate pages: {:.1} per series, {} bytes of pages+dirs+lanes allocated in all",
                hist.iter().map(|h| h.pages()).sum::<usize>() as f64 / n as f64, proto::paged::BYTES.load(Relaxed));
        }
    }
    println!("loadavg after: {}", std::fs::read_to_string("/proc/loadavg").unwrap().trim());
}
