//! The measuring machinery every workload shares: a timed multi-thread run,
//! input values, simulated busy work, and order statistics.

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
        Barrier,
    },
    thread,
    time::{Duration, Instant},
};

/// How often the simulated scheduler changes mode during a run.
pub(crate) const MODE_PERIOD: Duration = Duration::from_millis(10);

/// Cheap varying inputs (a 64-bit LCG, as in `benches/`), so that no record
/// sees a constant and every row sees the same values.
pub(crate) struct Lcg(u64);

impl Lcg {
    pub(crate) fn new(seed: usize) -> Self {
        Lcg(seed as u64 ^ 0x9E37_79B9_7F4A_7C15)
    }

    #[inline(always)]
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A latency between 1 µs and about 50 ms, in nanoseconds.
    #[inline(always)]
    pub(crate) fn latency_ns(&mut self) -> u64 {
        1_000 + self.next() % 50_000_000
    }
}

/// What the driver shares with the threads of one run.
#[derive(Debug)]
pub(crate) struct Ctl {
    /// Set when the run's time is up.
    stop: AtomicBool,
    /// The simulated scheduler's mode, flipped by the driver every
    /// [`MODE_PERIOD`]; request cycles record it.
    pub(crate) mode: AtomicU16,
    origin: Instant,
    /// When the run ends, in ns after `origin`; 0 until the threads are
    /// released (and forever for a run bounded by a count).
    deadline_ns: AtomicU64,
}

impl Default for Ctl {
    fn default() -> Self {
        Ctl {
            stop: AtomicBool::new(false),
            mode: AtomicU16::new(0),
            origin: Instant::now(),
            deadline_ns: AtomicU64::new(0),
        }
    }
}

impl Ctl {
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn start(&self, duration: Duration) {
        let end = self.now_ns() + duration.as_nanos() as u64;
        // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
        self.deadline_ns.store(end, Ordering::Relaxed);
    }

    fn left(&self) -> Option<Duration> {
        // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
        match self.deadline_ns.load(Ordering::Relaxed) {
            0 => None,
            end => Some(Duration::from_nanos(end.saturating_sub(self.now_ns()))),
        }
    }

    /// False once the run is over. Every measured thread looks at the
    /// deadline itself, so that a driver thread the OS keeps waiting cannot
    /// stretch the run.
    pub(crate) fn running(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if self.left().is_some_and(|left| left.is_zero()) {
            // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// A thread's view of the stop condition: the shared flag at every call,
/// the clock at every `period`-th, and never before the thread's first
/// batch, so that a thread the OS starts late still measures something.
pub(crate) struct Gate<'a> {
    ctl: &'a Ctl,
    period: u32,
    calls: u32,
}

impl<'a> Gate<'a> {
    pub(crate) fn new(ctl: &'a Ctl, period: u32) -> Self {
        Gate {
            ctl,
            period,
            calls: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn open(&mut self) -> bool {
        self.calls = self.calls.wrapping_add(1);
        if self.calls == 1 {
            return true;
        }
        if self.calls.is_multiple_of(self.period) {
            self.ctl.running()
        } else {
            // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
            !self.ctl.stop.load(Ordering::Relaxed)
        }
    }
}

/// The longest a paced helper thread (reader, scraper) sleeps before it
/// looks at the stop flag again.
pub(crate) const NAP: Duration = Duration::from_millis(5);

/// Calls `each` at the start of the run and every `1 / hz` after (back to
/// back when a call outlasts its period) until the run stops, napping at
/// most [`NAP`] at a time in between: the with-reader reader and the
/// scraper. Gives each call's ns with what it returned.
pub(crate) fn paced<T>(hz: u32, ctl: &Ctl, mut each: impl FnMut() -> T) -> Vec<(u64, T)> {
    let period = Duration::from_secs_f64(1.0 / f64::from(hz));
    let mut out = Vec::new();
    let mut next = Instant::now();
    let mut gate = Gate::new(ctl, 1);
    while gate.open() {
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(NAP));
            continue;
        }
        let start = Instant::now();
        let value = each();
        out.push((start.elapsed().as_nanos() as u64, value));
        next = (next + period).max(Instant::now());
    }
    out
}

/// Nanoseconds the calling thread has spent on a core, to the nanosecond
/// (`/proc/thread-self/schedstat` lags by up to a scheduler tick).
#[cfg(unix)]
pub(crate) fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY:
    // - `ts` is a valid, writable `timespec` that outlives the call;
    // - CLOCK_THREAD_CPUTIME_ID needs no other argument.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// No thread CPU clock here: CPU-time figures are left out.
#[cfg(not(unix))]
pub(crate) fn thread_cpu_ns() -> Option<u64> {
    None
}

/// When a measured thread ran and what it counted.
#[derive(Debug)]
pub(crate) struct Timed<R> {
    pub(crate) out: R,
    /// From the thread's release to its last batch.
    pub(crate) seconds: f64,
    /// Of which on a core.
    pub(crate) cpu_seconds: Option<f64>,
    start: Instant,
    end: Instant,
}

/// Runs `f` on the calling thread, timed.
pub(crate) fn time_this<R>(f: impl FnOnce() -> R) -> Timed<R> {
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let out = f();
    let end = Instant::now();
    let cpu = thread_cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e9);
    Timed {
        out,
        seconds: (end - start).as_secs_f64(),
        cpu_seconds: cpu,
        start,
        end,
    }
}

/// Seconds from the first measured thread's start to the last one's end.
pub(crate) fn span<R>(threads: &[Timed<R>]) -> f64 {
    let start = threads.iter().map(|t| t.start).min();
    let end = threads.iter().map(|t| t.end).max();
    start.zip(end).map_or(0.0, |(s, e)| (e - s).as_secs_f64())
}

/// Runs `body(t, ctl)` for `t` in `0..workers + helpers` on scoped threads
/// released together, for `duration` from the release. Each thread times
/// itself; helpers (a reader, a refresher) are `t >= workers`, and come
/// last in the result.
pub(crate) fn timed<R: Send>(
    workers: usize,
    helpers: usize,
    duration: Duration,
    body: impl Fn(usize, &Ctl) -> R + Sync,
) -> Vec<Timed<R>> {
    let ctl = Ctl::default();
    let ready = Barrier::new(workers + helpers + 1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..workers + helpers)
            .map(|t| {
                let (ctl, ready, body) = (&ctl, &ready, &body);
                s.spawn(move || {
                    if ready.wait().is_leader() {
                        ctl.start(duration);
                    }
                    time_this(|| body(t, ctl))
                })
            })
            .collect();
        if ready.wait().is_leader() {
            ctl.start(duration);
        }
        while ctl.running() {
            let left = ctl.left().unwrap_or(MODE_PERIOD);
            thread::sleep(left.min(MODE_PERIOD));
            // Relaxed: a mode flip the writers read only to pick what to record.
            ctl.mode.fetch_xor(1, Ordering::Relaxed);
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a measured thread panicked"))
            .collect()
    })
}

/// Fixed busy work standing in for a request's real work: a dependent chain
/// of `iters` steps. It counts iterations, never the clock, so time spent
/// recording metrics adds to a request instead of being absorbed by it.
#[inline(never)]
pub(crate) fn spin(iters: u64) -> u64 {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..iters {
        x = black_box(x.rotate_left(7) ^ i);
    }
    x
}

/// Busy-work iterations that take `target` on this machine: the fastest of
/// several timed probes, so a noisy neighbour makes the work shorter, not
/// longer.
pub(crate) fn calibrate(target: Duration) -> u64 {
    const PROBE: u64 = 1 << 18;
    black_box(spin(PROBE));
    let best = (0..7)
        .map(|_| {
            let t = Instant::now();
            black_box(spin(PROBE));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    ((target.as_secs_f64() / best * PROBE as f64).round() as u64).max(1)
}

/// Steps of the noise calibration's dependency chain ([`spin`]): about
/// 8 ms on a current core, fixed so that every calibration of every run
/// times the same work. Longer than a scheduler slice: a 1 ms loop runs
/// through a freshly woken thread's first slice untouched by a process
/// that shares its core, and misses exactly the load it is for.
pub(crate) const NOISE_ITERS: u64 = 1 << 23;

/// Timings of the fixed calibration loop, taken between tables: the same
/// work each time, so their spread is the machine's noise. One thread sees
/// a busy SMT sibling or a frequency change; two threads at once also see
/// another process on the other core, which a CPU-time share cannot.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct Calibration {
    /// The table measured after it (the number of tables: after the last).
    pub(crate) before_table: usize,
    /// [`NOISE_ITERS`] steps on one thread, in ns (the fastest of 3 tries).
    pub(crate) one_thread_ns: f64,
    /// The same on two threads released together, from the release to the
    /// later one's end, in ns (the fastest of 3 tries).
    pub(crate) two_threads_ns: f64,
}

impl Calibration {
    /// Times the calibration loop now.
    pub(crate) fn take(before_table: usize) -> Self {
        let one = || {
            let t = Instant::now();
            black_box(spin(NOISE_ITERS));
            t.elapsed().as_nanos() as f64
        };
        let two = || {
            let ready = Barrier::new(2);
            let times: Vec<f64> = thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            ready.wait();
                            one()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a calibration thread panicked"))
                    .collect()
            });
            times.into_iter().fold(0.0, f64::max)
        };
        let fastest = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(f64::INFINITY, f64::min);
        Calibration {
            before_table,
            one_thread_ns: fastest(&one),
            two_threads_ns: fastest(&two),
        }
    }
}

/// Median, min and max of a non-empty sample.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// The nearest-rank `q` quantile of a sorted, non-empty sample.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_calls_at_its_rate_and_times_every_call() {
        let ctl = Ctl::default();
        ctl.start(Duration::from_millis(60));
        let mut n = 0;
        let calls = paced(100, &ctl, || {
            n += 1;
            n
        });
        // One at the start, then at most one per 10 ms (a loaded machine
        // may give fewer): never a busy loop.
        assert!((1..=8).contains(&calls.len()), "{}", calls.len());
        let values: Vec<i32> = calls.iter().map(|c| c.1).collect();
        assert_eq!(values, (1..=n).collect::<Vec<_>>());
    }

    #[test]
    fn spread_and_quantiles() {
        let s = Spread::of([3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert!(Spread::of([]).is_none());
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[7], 0.99), 7);
    }
}
