//! One timed run of one option: its library set up with `S` series, every
//! writer thread's handles made before the threads are released together,
//! pre-generated values and series choices, the library's background
//! thread where its documentation has one, and the accounting check
//! afterwards.

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicBool, Ordering},
        Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::Serialize;

use super::contenders::{check, Accounting, Contender, Library, Visit, Writer};
use crate::measure::thread_cpu_ns;

/// Records between two looks at the clock.
const BATCH: usize = 64;
/// Values per thread, cycled: a power of two, a multiple of [`BATCH`].
pub(crate) const VALUES: usize = 4_096;
/// Series choices per thread, cycled: a power of two.
pub(crate) const CHOICES: usize = 1 << 16;
/// The Zipf exponent of skewed series choice.
pub(crate) const ZIPF_S: f64 = 1.1;
/// The lowest and highest recorded latency, in ns: log-uniform between.
pub(crate) const LATENCY_NS: (f64, f64) = (1e3, 1e10);
/// The seed every generator starts from (with the thread's index).
const SEED: u64 = 0x5EED_CAFE;

/// How a series is picked for each record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Choice {
    /// Every series equally often.
    Uniform,
    /// Zipf([`ZIPF_S`]): series 0 most often, series `k` about `(k+1)^-1.1`
    /// times as often.
    Zipf,
}

impl Choice {
    /// The name in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Choice::Uniform => "uniform",
            Choice::Zipf => "zipf(1.1)",
        }
    }
}

/// Which of the option's record paths a run takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Path {
    /// The handle each thread keeps per series.
    Cached,
    /// A lookup by label value on every record.
    Labelled,
}

/// Thread `t`'s latencies: log-uniform over [`LATENCY_NS`], seeded.
pub(crate) fn values(t: usize) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(SEED ^ (t as u64).wrapping_mul(0x9E37_79B9));
    let (lo, hi) = (LATENCY_NS.0.ln(), LATENCY_NS.1.ln());
    (0..VALUES)
        .map(|_| rng.random_range(lo..hi).exp().round() as u64)
        .collect()
}

/// Thread `t`'s series choices among `series`.
pub(crate) fn choices(t: usize, series: usize, choice: Choice) -> Result<Vec<u32>, String> {
    let mut rng = SmallRng::seed_from_u64(SEED ^ 0xC0FFEE ^ (t as u64).wrapping_mul(0x9E37_79B9));
    if series == 0 || series > u32::MAX as usize {
        return Err(format!("{series} series"));
    }
    Ok(match choice {
        Choice::Uniform => (0..CHOICES)
            .map(|_| rng.random_range(0..series as u32))
            .collect(),
        Choice::Zipf => {
            let zipf = Zipf::new(series as f64, ZIPF_S).map_err(|e| e.to_string())?;
            (0..CHOICES)
                .map(|_| (zipf.sample(&mut rng) as u32).clamp(1, series as u32) - 1)
                .collect()
        }
    })
}

/// What one run asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec<'a> {
    /// Series set up (and chosen among).
    pub(crate) series: usize,
    /// The record path.
    pub(crate) path: Path,
    /// How long each writer records first, on the same instance, before
    /// the measured part (counted by the accounting, not timed).
    pub(crate) warmup: Duration,
    /// How long each writer records, measured, from its second release.
    pub(crate) duration: Duration,
    /// One value table per writer thread ([`values`]).
    pub(crate) values: &'a [Vec<u64>],
    /// One choice table per writer thread ([`choices`]); unused with one
    /// series.
    pub(crate) choices: &'a [Vec<u32>],
}

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Run {
    /// Records each writer made.
    pub(crate) records: Vec<u64>,
    /// Seconds each writer recorded for.
    pub(crate) seconds: Vec<f64>,
    /// Of which on a core (None where the platform has no thread clock).
    pub(crate) cpu_seconds: Vec<Option<f64>>,
    /// From the first writer's start to the last one's end.
    pub(crate) span_seconds: f64,
    /// Setting the library up (S series) and every writer's handles.
    pub(crate) setup_seconds: f64,
    /// Reading the library's totals back after the writers finished.
    pub(crate) read_seconds: f64,
    /// Dropping the library afterwards.
    pub(crate) drop_seconds: f64,
    /// Resident bytes before the library was made (after `malloc_trim`),
    /// once every writer held its handles, and after the read-back.
    pub(crate) rss: [Option<u64>; 3],
    /// The library's own accounting of its bytes, after the read-back.
    pub(crate) own_bytes: Option<usize>,
    /// The accounting check.
    pub(crate) accounting: Accounting,
}

/// Runs `peer` once as `spec` says, with `spec.values.len()` writers.
pub(crate) fn run(peer: Contender, spec: Spec<'_>) -> Result<Run, String> {
    peer.visit(Runner(spec))
}

struct Runner<'a>(Spec<'a>);

impl Visit for Runner<'_> {
    type Out = Result<Run, String>;

    fn visit<L: Library>(self, peer: Contender) -> Result<Run, String> {
        let spec = self.0;
        let threads = spec.values.len();
        if threads == 0 || (spec.series > 1 && spec.choices.len() < threads) {
            return Err("a value and a choice table per thread".into());
        }
        if spec.path == Path::Labelled && peer.lookup().is_none() {
            return Err(format!("{} has no lookup path", peer.name()));
        }
        trim();
        let rss0 = rss_bytes();
        let setup = Instant::now();
        let lib = L::new(peer, spec.series)?;
        let stop = AtomicBool::new(false);
        let ready = Barrier::new(threads + 1);
        let warm = Barrier::new(threads);
        let (outs, setup_seconds, rss1) = thread::scope(|s| {
            let bg = lib
                .has_background()
                .then(|| s.spawn(|| lib.background(&stop)));
            let writers: Vec<_> = (0..threads)
                .map(|t| {
                    let (lib, ready, warm) = (&lib, &ready, &warm);
                    let values = &spec.values[t][..];
                    let choices = spec.choices.get(t).map_or(&[][..], |c| &c[..]);
                    s.spawn(move || {
                        let mut w = lib.writer();
                        ready.wait();
                        let mut go = |d: Duration, from: usize, least: usize| {
                            let l = (d, from, least);
                            match (spec.path, spec.series) {
                                (Path::Cached, 1) => {
                                    drive::<_, false, true>(&mut w, l, values, choices)
                                }
                                (Path::Cached, _) => {
                                    drive::<_, false, false>(&mut w, l, values, choices)
                                }
                                (Path::Labelled, 1) => {
                                    drive::<_, true, true>(&mut w, l, values, choices)
                                }
                                (Path::Labelled, _) => {
                                    drive::<_, true, false>(&mut w, l, values, choices)
                                }
                            }
                        };
                        // The warm-up also makes one pass over the thread's
                        // series choices, so that most series (and the
                        // memory a library gives them on first write) are
                        // touched before the measured part.
                        let warmed = if spec.warmup.is_zero() {
                            0
                        } else {
                            let pass = if spec.series > 1 { CHOICES } else { 0 };
                            go(spec.warmup, 0, pass).records
                        };
                        warm.wait();
                        let mut out = go(spec.duration, warmed as usize, 0);
                        out.warmup_records = warmed;
                        w.finish();
                        out
                    })
                })
                .collect();
            ready.wait();
            let setup_seconds = setup.elapsed().as_secs_f64();
            let rss1 = rss_bytes();
            let outs: Vec<Driven> = writers
                .into_iter()
                .map(|h| h.join().expect("a writer panicked"))
                .collect();
            // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
            stop.store(true, Ordering::Relaxed);
            if let Some(bg) = bg {
                bg.join().expect("the background thread panicked");
            }
            (outs, setup_seconds, rss1)
        });
        let read = Instant::now();
        let totals = lib.totals();
        let read_seconds = read.elapsed().as_secs_f64();
        let rss2 = rss_bytes();
        let made: u64 = outs.iter().map(|o| o.warmup_records + o.records).sum();
        let made_sum: u128 = outs
            .iter()
            .zip(spec.values)
            .map(|(o, v)| cyclic_sum(v, o.warmup_records + o.records))
            .sum();
        let own_bytes = lib.own_bytes();
        let dropped = Instant::now();
        drop(lib);
        let drop_seconds = dropped.elapsed().as_secs_f64();
        let start = outs.iter().map(|o| o.start).min();
        let end = outs.iter().map(|o| o.end).max();
        Ok(Run {
            records: outs.iter().map(|o| o.records).collect(),
            seconds: outs
                .iter()
                .map(|o| (o.end - o.start).as_secs_f64())
                .collect(),
            cpu_seconds: outs.iter().map(|o| o.cpu_seconds).collect(),
            span_seconds: start.zip(end).map_or(0.0, |(s, e)| (e - s).as_secs_f64()),
            setup_seconds,
            read_seconds,
            drop_seconds,
            rss: [rss0, rss1, rss2],
            own_bytes,
            accounting: check(&totals, made, made_sum),
        })
    }
}

/// One writer's run.
struct Driven {
    /// Records of the warm-up before it (not timed).
    warmup_records: u64,
    records: u64,
    start: Instant,
    end: Instant,
    cpu_seconds: Option<f64>,
}

/// Records from input index `from` until `duration` is up and at least
/// `least` records are made, looking at the clock every [`BATCH`]
/// records. `ONE`: a single series (no choice table read).
#[inline(never)]
fn drive<W: Writer, const LABELLED: bool, const ONE: bool>(
    w: &mut W,
    (duration, from, least): (Duration, usize, usize),
    values: &[u64],
    choices: &[u32],
) -> Driven {
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let until = start + duration;
    let mut i = from;
    let least = from + least;
    loop {
        for _ in 0..BATCH {
            let ns = values[i & (VALUES - 1)];
            let series = if ONE {
                0
            } else {
                choices[i & (CHOICES - 1)] as usize
            };
            if LABELLED {
                w.record_labelled(series, ns);
            } else {
                w.record(series, ns);
            }
            i += 1;
        }
        if i >= least && Instant::now() >= until {
            break;
        }
    }
    let end = Instant::now();
    let cpu_seconds = thread_cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e9);
    Driven {
        warmup_records: 0,
        records: (black_box(i) - from) as u64,
        start,
        end,
        cpu_seconds,
    }
}

/// The sum of the first `n` values of `values` repeated.
fn cyclic_sum(values: &[u64], n: u64) -> u128 {
    let len = values.len() as u64;
    let all: u128 = values.iter().map(|&v| u128::from(v)).sum();
    let rest: u128 = values[..(n % len) as usize]
        .iter()
        .map(|&v| u128::from(v))
        .sum();
    u128::from(n / len) * all + rest
}

/// The process's resident bytes (/proc/self/statm), where readable.
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY:
        // - sysconf takes no pointer and has no preconditions;
        // - _SC_PAGESIZE is a valid name on every unix.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size > 0 {
            return size as u64;
        }
    }
    4_096
}

/// Hands freed heap back to the kernel, so that resident growth measured
/// from here is the next library's, not what earlier runs freed.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY:
    // - malloc_trim(0) only releases free memory at the heap's top and in
    //   free pages; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_spread_over_decades() {
        let v = values(0);
        assert_eq!(v.len(), VALUES);
        assert!(v.iter().all(|&x| (1_000..=10_000_000_000).contains(&x)));
        // Log-uniform over 7 decades: about 1/7 of the values in each.
        for decade in 3..10 {
            let lo = 10u64.pow(decade);
            let n = v.iter().filter(|&&x| x >= lo && x < lo * 10).count();
            let share = n as f64 / VALUES as f64;
            assert!((share - 1.0 / 7.0).abs() < 0.03, "decade {decade}: {share}");
        }
        assert_eq!(values(0), v, "seeded");
        assert_ne!(values(1), v, "one table per thread");
    }

    #[test]
    fn zipf_choice_has_the_right_skew() {
        let series = 1_000;
        let c = choices(0, series, Choice::Zipf).unwrap();
        assert!(c.iter().all(|&i| (i as usize) < series));
        let mut counts = vec![0u64; series];
        for &i in &c {
            counts[i as usize] += 1;
        }
        let n = c.len() as f64;
        // P(rank k) = k^-s / H(series, s).
        let h: f64 = (1..=series).map(|k| (k as f64).powf(-ZIPF_S)).sum();
        for k in [1usize, 2, 10] {
            let want = (k as f64).powf(-ZIPF_S) / h;
            let got = counts[k - 1] as f64 / n;
            assert!((got - want).abs() < 0.1 * want, "rank {k}: {got} vs {want}");
        }
        // The ratio of the two top ranks is 2^1.1.
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((ratio - 2f64.powf(ZIPF_S)).abs() < 0.15, "{ratio}");
        // Uniform: the top rank has about 1/series.
        let u = choices(0, series, Choice::Uniform).unwrap();
        let top = u.iter().filter(|&&i| i == 0).count() as f64 / n;
        assert!(top < 3.0 / series as f64, "{top}");
    }

    #[test]
    fn cyclic_sums() {
        let v = [1, 2, 3, 4];
        assert_eq!(cyclic_sum(&v, 0), 0);
        assert_eq!(cyclic_sum(&v, 3), 6);
        assert_eq!(cyclic_sum(&v, 9), 10 + 10 + 1);
    }

    #[test]
    fn a_run_counts_exactly_and_reports_a_missing_lookup() {
        let values: Vec<Vec<u64>> = (0..2).map(values).collect();
        let choices: Vec<Vec<u32>> = (0..2)
            .map(|t| choices(t, 50, Choice::Zipf).unwrap())
            .collect();
        let spec = Spec {
            series: 50,
            path: Path::Cached,
            warmup: Duration::from_millis(2),
            duration: Duration::from_millis(5),
            values: &values,
            choices: &choices,
        };
        let r = run(Contender::Registry, spec).unwrap();
        assert!(r.accounting.mismatches.is_empty(), "{:?}", r.accounting);
        assert!(r.records.iter().all(|&n| n > 0));
        assert!(r.span_seconds > 0.0);
        let labelled = Spec {
            path: Path::Labelled,
            ..spec
        };
        assert!(run(Contender::AtomicBucket, labelled).is_err());
        assert!(run(Contender::Sharded, spec).is_err(), "one series only");
    }
}
