//! The tests themselves, generic over a strategy constructor.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Barrier,
    },
    thread,
    time::Duration,
};

use lockfree_metrics::{
    Config, FineGrained, ManualClock, MetricsCollector, Mode, RequestRecord, Snapshot, Transition,
};

use crate::support::invariants::{assert_same, check, check_quiescent};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A deterministic xorshift generator, so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Log-uniform latencies from 1 µs to about 17 s.
    fn latency(&mut self) -> Duration {
        let exp = self.below(34);
        Duration::from_nanos(1_000 + (self.next() >> (64 - exp.max(1))))
    }
}

pub(crate) fn latency_hand_computed<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let m = make(Config::default(), ManualClock::new());
    for n in 1..=100 {
        m.record_latency(ms(n));
    }
    let l = m.latency();
    assert_eq!(l.count, 100);
    // The default 2 significant digits: every figure within 1/128 of the
    // exact one (a bucket is at most 2^-7 of its values).
    let near = |d: Duration, exact_ms: u64| {
        let exact = ms(exact_ms).as_nanos() as f64;
        ((d.as_nanos() as f64 - exact) / exact).abs() <= 1.0 / 128.0
    };
    assert!(near(l.min, 1), "{l:?}");
    assert!(near(l.p50, 50), "{l:?}");
    assert!(near(l.p95, 95), "{l:?}");
    assert!(near(l.p99, 99), "{l:?}");
    assert!(near(l.p999, 100), "{l:?}");
    assert!(near(l.max, 100), "{l:?}");
    // The mean is exact.
    assert_eq!(l.mean, Duration::from_micros(50_500));
    assert_eq!(l.clamped, 0);
}

pub(crate) fn percentiles_within_precision_of_sorted_samples<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    for digits in [1, 2, 3, 4] {
        let config = Config::builder()
            .significant_digits(digits)
            .build()
            .unwrap();
        let m = make(config.clone(), ManualClock::new());
        let mut rng = Rng(0x5EED + u64::from(digits));
        let mut samples: Vec<u64> = (0..20_000)
            .map(|_| {
                let d = rng.latency();
                m.record_latency(d);
                d.as_nanos() as u64
            })
            .collect();
        samples.sort_unstable();
        let l = m.latency();
        // hdrhistogram reports the highest value equivalent to the sample at
        // rank ceil(q * n); equivalence ranges are at most 10^-digits of the
        // value, and values below the lowest share the first unit.
        let unit = config.latency_lowest().as_nanos() as f64;
        for (q, got) in [(0.5, l.p50), (0.95, l.p95), (0.99, l.p99), (0.999, l.p999)] {
            let rank = ((q * samples.len() as f64).ceil() as usize).max(1);
            let exact = samples[rank - 1] as f64;
            let got = got.as_nanos() as f64;
            let tolerance = exact * 10f64.powi(-i32::from(digits)) + unit;
            assert!(
                (got - exact).abs() <= tolerance,
                "digits {digits} q {q}: {got} vs exact {exact}"
            );
        }
        let exact_mean = samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64;
        assert!((l.mean.as_nanos() as f64 - exact_mean).abs() <= 1.0);
    }
}

pub(crate) fn throughput_windows_follow_the_clock<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    m.record_throughput(100, 2);
    clock.advance(secs(11));
    m.record_throughput(50, 1);
    let t = m.throughput();
    let tokens: Vec<u64> = t.windows.iter().map(|w| w.tokens).collect();
    // The first record is 11 s old: outside the 1 s and 10 s windows,
    // inside the 60 s one.
    assert_eq!(tokens, [50, 50, 150]);
    assert_eq!(t.windows[2].requests, 3);
    assert_eq!((t.total_tokens, t.total_requests), (150, 3));

    // 55 s later the second record is still in the 60 s window only.
    clock.advance(secs(55));
    let t = m.throughput();
    assert_eq!(
        t.windows.iter().map(|w| w.tokens).collect::<Vec<_>>(),
        [0, 0, 50]
    );
    // And 61 s after it, in none; the totals remember everything.
    clock.advance(secs(6));
    let t = m.throughput();
    assert!(t.windows.iter().all(|w| w.tokens == 0 && w.requests == 0));
    assert_eq!((t.total_tokens, t.total_requests), (150, 3));
}

pub(crate) fn window_rates_divide_by_time_covered<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    m.record_throughput(120, 6);
    clock.advance(ms(500));
    let t = m.throughput();
    // No window is full: each covers the 0.5 s since creation.
    let per_sec: Vec<(Duration, f64, f64)> = t
        .windows
        .iter()
        .map(|w| (w.covered, w.tokens_per_sec, w.requests_per_sec))
        .collect();
    assert_eq!(per_sec, [(ms(500), 240.0, 12.0); 3]);
    assert_eq!(t.windows[0].window, secs(1));
    // At 1.55 s the 1 s window holds slots 6..=15: 0.95 s.
    clock.advance(ms(1050));
    let t = m.throughput();
    assert_eq!(
        t.windows.iter().map(|w| w.covered).collect::<Vec<_>>(),
        [ms(950), ms(1550), ms(1550)]
    );
    assert_eq!(t.windows[0].tokens_per_sec, 0.0);
    // A reset restarts what every window covers.
    m.reset();
    clock.advance(ms(250));
    m.record_throughput(50, 1);
    let t = m.throughput();
    assert!(t
        .windows
        .iter()
        .all(|w| w.covered == ms(250) && w.tokens_per_sec == 200.0));
}

pub(crate) fn batch_semantics<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let m = make(Config::default(), ManualClock::new());
    assert_eq!(m.batch().current, None);
    for size in [4, 8, 8, 1, 0] {
        m.record_batch_size(size);
    }
    let b = m.batch();
    assert_eq!(b.count, 5);
    assert_eq!(b.current, Some(0));
    assert_eq!((b.min, b.max), (0, 8));
    assert_eq!(b.mean, 21.0 / 5.0);
    assert_eq!(
        b.distribution,
        BTreeMap::from([(0, 1), (1, 1), (4, 1), (8, 2)])
    );
}

pub(crate) fn queue_depth_semantics<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let m = make(Config::default(), ManualClock::new());
    assert_eq!(m.queue_depth().current, None);
    for depth in [3, 10, 0, 7] {
        m.record_queue_depth(depth);
    }
    let q = m.queue_depth();
    assert_eq!(q.count, 4);
    assert_eq!(q.current, Some(7));
    assert_eq!(q.max, 10);
    assert_eq!(q.mean, 5.0);
}

pub(crate) fn mode_transitions_count_changes_only<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    assert_eq!(m.mode().current, None);
    for (t, mode) in [1, 1, 2, 2, 1, 3, 3].into_iter().enumerate() {
        clock.set(secs(t as u64));
        m.record_mode_transition(Mode(mode));
    }
    let s = m.mode();
    // none->1, 1->2, 2->1, 1->3; the repeats are not transitions.
    assert_eq!(s.transitions, 4);
    assert_eq!(s.current, Some(Mode(3)));
    let expect = |seq, at, from: Option<u16>, to| Transition {
        seq,
        at: secs(at),
        from: from.map(Mode),
        to: Mode(to),
    };
    assert_eq!(
        s.recent,
        [
            expect(1, 0, None, 1),
            expect(2, 2, Some(1), 2),
            expect(3, 4, Some(2), 1),
            expect(4, 5, Some(1), 3),
        ]
    );
}

pub(crate) fn transition_log_keeps_the_most_recent<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let config = Config::builder().transition_log(3).build().unwrap();
    let m = make(config, ManualClock::new());
    for i in 0..10 {
        m.record_mode_transition(Mode(i % 2));
    }
    let s = m.mode();
    assert_eq!(s.transitions, 10);
    assert_eq!(
        s.recent.iter().map(|t| t.seq).collect::<Vec<_>>(),
        [8, 9, 10]
    );

    let silent = make(
        Config::builder().transition_log(0).build().unwrap(),
        ManualClock::new(),
    );
    silent.record_mode_transition(Mode(1));
    assert_eq!(silent.mode().transitions, 1);
    assert!(silent.mode().recent.is_empty());
}

/// Records a bit of everything.
fn populate(m: &impl MetricsCollector, clock: &ManualClock, rng: &mut Rng, n: usize) {
    for _ in 0..n {
        m.record_latency(rng.latency());
        m.record_throughput(rng.below(500), rng.below(3));
        m.record_batch_size(rng.below(64) as usize);
        m.record_queue_depth(rng.below(5_000) as usize);
        if rng.below(10) == 0 {
            m.record_mode_transition(Mode(rng.below(4) as u16));
        }
        clock.advance(Duration::from_micros(rng.below(20_000)));
    }
}

pub(crate) fn getters_agree_with_snapshot<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    populate(&m, &clock, &mut Rng(7), 2_000);
    let s = m.snapshot();
    assert_eq!(m.latency(), s.latency);
    assert_eq!(m.throughput(), s.throughput);
    assert_eq!(m.batch(), s.batch);
    assert_eq!(m.queue_depth(), s.queue_depth);
    assert_eq!(m.mode(), s.mode);
    assert_eq!(
        s.taken_at,
        Duration::from_nanos(lockfree_metrics::Clock::now_ns(&clock))
    );
}

pub(crate) fn snapshot_invariants_hold<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let clock = ManualClock::new();
    let m = make(Config::default(), clock.clone());
    check_quiescent(&m.snapshot());
    let mut rng = Rng(11);
    for _ in 0..20 {
        populate(&m, &clock, &mut rng, 200);
        let s = m.snapshot();
        check_quiescent(&s);
        assert_eq!(s.latency.count, s.queue_depth.count);
    }
}

fn assert_empty(s: &Snapshot) {
    assert_eq!(s.latency.count, 0);
    assert_eq!(s.latency.clamped, 0);
    assert_eq!(s.latency.max, Duration::ZERO);
    assert_eq!(
        (s.throughput.total_tokens, s.throughput.total_requests),
        (0, 0)
    );
    assert!(s
        .throughput
        .windows
        .iter()
        .all(|w| w.tokens == 0 && w.requests == 0));
    assert_eq!(s.batch.count, 0);
    assert_eq!(s.batch.current, None);
    assert!(s.batch.distribution.is_empty());
    assert_eq!(s.queue_depth.count, 0);
    assert_eq!(s.queue_depth.current, None);
    assert_eq!(s.mode.transitions, 0);
    assert!(s.mode.recent.is_empty());
}

pub(crate) fn reset_clears_every_metric<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let clock = ManualClock::new();
    let config = Config::builder()
        .windows([secs(2), secs(4)])
        .window_resolution(ms(500))
        .build()
        .unwrap();
    let m = make(config.clone(), clock.clone());
    populate(&m, &clock, &mut Rng(3), 500);
    m.record_latency(Duration::MAX);
    m.record_mode_transition(Mode(9));
    clock.advance(secs(1));
    m.reset();
    let s = m.snapshot();
    assert_empty(&s);
    assert_eq!(s.since_reset, Duration::ZERO);
    assert_eq!(m.config(), &config, "reset changed the configuration");
    // The mode is state, not a sample: it survives, and repeating it after
    // the reset is not a transition.
    assert_eq!(s.mode.current, Some(Mode(9)));
    m.record_mode_transition(Mode(9));
    assert_eq!(m.mode().transitions, 0);

    // Records in the reset's own window slot, after it, count.
    m.record_throughput(5, 1);
    m.record_latency(ms(3));
    clock.advance(ms(100));
    let s = m.snapshot();
    assert_eq!(s.throughput.windows[0].tokens, 5);
    assert_eq!(s.latency.count, 1);
    assert_eq!(s.since_reset, ms(100));
}

pub(crate) fn take_interval_partitions_records<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let (clock, oracle_clock) = (ManualClock::new(), ManualClock::new());
    let m = make(Config::default(), clock.clone());
    let oracle = FineGrained::with_clock(Config::default(), oracle_clock.clone());
    populate(&m, &clock, &mut Rng(5), 300);
    populate(&oracle, &oracle_clock, &mut Rng(5), 300);
    let interval = m.take_interval();
    assert_same(&interval, &oracle.snapshot(), "interval vs oracle");
    assert_eq!(interval.latency.count, 300);
    assert_empty(&m.snapshot());
    m.record_batch_size(2);
    let next = m.take_interval();
    assert_eq!(next.batch.count, 1);
    assert_eq!(next.latency.count, 0);
}

pub(crate) fn bad_input_is_clamped_and_counted<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let config = Config::builder()
        .latency_range(Duration::from_micros(1), secs(10))
        .max_batch_size(64)
        .max_queue_depth(1_000)
        .build()
        .unwrap();
    let m = make(config, ManualClock::new());

    m.record_latency(secs(11));
    m.record_latency(Duration::MAX);
    m.record_latency(ms(5));
    let l = m.latency();
    assert_eq!((l.count, l.clamped), (3, 2));
    // Within the top value's bucket: 1/128 of it at the default precision.
    assert!(
        l.max >= secs(10) && l.max <= secs(10).mul_f64(1.0 + 1.0 / 128.0),
        "{l:?}"
    );
    // The mean of what was recorded: two clamped 10 s and one 5 ms.
    assert_eq!(
        l.mean,
        Duration::from_nanos((20_005_000_000_f64 / 3.0).round() as u64)
    );

    m.record_batch_size(usize::MAX);
    m.record_batch_size(65);
    m.record_batch_size(64);
    let b = m.batch();
    assert_eq!((b.count, b.clamped, b.max), (3, 2, 64));
    assert_eq!(b.distribution, BTreeMap::from([(64, 3)]));
    assert_eq!(b.current, Some(64));

    m.record_queue_depth(usize::MAX);
    let q = m.queue_depth();
    assert_eq!((q.count, q.clamped, q.current), (1, 1, Some(1_000)));
    // The top of 1,000's bucket (depths are exact below 256 at the default
    // 2 significant digits, within 1/128 above).
    assert!((1_000..=1_000 + 1_000 / 128).contains(&q.max), "{q:?}");
    check_quiescent(&m.snapshot());
}

pub(crate) fn zero_is_a_valid_value<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let m = make(Config::default(), ManualClock::new());
    m.record_latency(Duration::ZERO);
    m.record_batch_size(0);
    m.record_queue_depth(0);
    m.record_throughput(0, 0);
    let s = m.snapshot();
    assert_eq!(
        (s.latency.count, s.latency.max, s.latency.clamped),
        (1, Duration::ZERO, 0)
    );
    assert_eq!(s.batch.distribution, BTreeMap::from([(0, 1)]));
    assert_eq!(s.batch.current, Some(0));
    assert_eq!((s.queue_depth.count, s.queue_depth.current), (1, Some(0)));
    assert_eq!(s.throughput.total_tokens, 0);
    check_quiescent(&s);
}

pub(crate) fn extreme_modes_and_throughput<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let m = make(Config::default(), ManualClock::new());
    m.record_mode_transition(Mode(0));
    m.record_mode_transition(Mode(u16::MAX));
    m.record_mode_transition(Mode(0));
    let s = m.mode();
    assert_eq!(s.transitions, 3);
    assert_eq!(s.current, Some(Mode(0)));
    assert_eq!(s.recent[1].to, Mode(u16::MAX));

    // Totals saturate at u64::MAX (documented); a window slot saturates at
    // 2^32 - 1; a call cut by either counts once as clamped.
    m.record_throughput(u64::MAX, 1);
    m.record_throughput(2, u64::MAX);
    let t = m.throughput();
    assert_eq!((t.total_tokens, t.total_requests), (u64::MAX, u64::MAX));
    assert_eq!(t.clamped, 2);
    assert_eq!(t.windows[0].tokens, (1 << 32) - 1);
    assert_eq!(t.windows[0].requests, (1 << 32) - 1);
    check_quiescent(&m.snapshot());
}

/// A fixed pseudo-random history applied to the strategy and to the
/// `FineGrained` oracle, compared after every few operations.
pub(crate) fn agrees_with_the_oracle<M: MetricsCollector>(make: fn(Config, ManualClock) -> M) {
    let clock = ManualClock::new();
    let config = Config::builder()
        .windows([secs(1), secs(5)])
        .window_resolution(ms(250))
        .max_batch_size(32)
        .max_queue_depth(500)
        .transition_log(4)
        .build()
        .unwrap();
    let m = make(config.clone(), clock.clone());
    let oracle = FineGrained::with_clock(config, clock.clone());
    let both: [&dyn MetricsCollector; 2] = [&m, &oracle];
    let mut rng = Rng(0xACE);
    for step in 0..5_000 {
        let op = rng.below(100);
        let arg = rng.next();
        for c in both {
            match op {
                0..=29 => c.record_latency(Duration::from_nanos(arg % 20_000_000_000)),
                30..=49 => c.record_throughput(arg % 1_000, arg % 4),
                50..=64 => c.record_batch_size((arg % 40) as usize),
                65..=79 => c.record_queue_depth((arg % 600) as usize),
                80..=89 => c.record_mode_transition(Mode((arg % 3) as u16)),
                90 => c.reset(),
                _ => {}
            }
        }
        match op {
            91..=95 => clock.advance(Duration::from_millis(arg % 700)),
            96 => {
                let (a, o) = (m.take_interval(), oracle.take_interval());
                assert_same(&a, &o, &format!("interval at step {step}"));
            }
            _ => {}
        }
        if step % 50 == 0 {
            assert_same(&m.snapshot(), &oracle.snapshot(), &format!("step {step}"));
        }
    }
    assert_same(&m.snapshot(), &oracle.snapshot(), "end");
}

const THREADS: usize = 8;
const PER_THREAD: u64 = 100_000;

/// 8 threads x 100,000 records of each kind, with a reader taking
/// snapshots throughout; the final counts are exactly what was recorded.
pub(crate) fn exact_accounting_under_concurrency<M: MetricsCollector + 'static>(
    make: fn(Config, ManualClock) -> M,
) {
    let clock = ManualClock::new();
    let m = Arc::new(make(Config::default(), clock.clone()));
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let reader = {
        let (m, done, clock) = (Arc::clone(&m), Arc::clone(&done), clock.clone());
        thread::spawn(move || {
            let mut last = 0;
            let mut snapshots = 0;
            while !done.load(Ordering::Acquire) {
                let s = m.snapshot();
                check(&s);
                assert!(s.latency.count >= last, "latency count went back");
                last = s.latency.count;
                snapshots += 1;
                clock.advance(ms(1));
                // A paced reader: `GlobalLock` computes percentiles under its
                // one lock, and a reader looping flat out would starve the
                // writers for minutes in a debug build.
                thread::sleep(ms(2));
            }
            snapshots
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, start) = (Arc::clone(&m), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    m.record_latency(Duration::from_micros(1 + (i % 5_000)));
                    m.record_throughput(3, 1);
                    m.record_batch_size(t + 1);
                    m.record_queue_depth((i % 100) as usize);
                    m.record_mode_transition(Mode((i % 2) as u16));
                }
            })
        })
        .collect();
    start.wait();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let snapshots = reader.join().unwrap();
    assert!(snapshots > 0);

    let n = THREADS as u64 * PER_THREAD;
    let s = m.snapshot();
    check_quiescent(&s);
    assert_eq!(s.latency.count, n);
    assert_eq!(s.throughput.total_tokens, 3 * n);
    assert_eq!(s.throughput.total_requests, n);
    assert_eq!(s.batch.count, n);
    for t in 1..=THREADS as u64 {
        assert_eq!(s.batch.distribution[&t], PER_THREAD, "batch size {t}");
    }
    assert_eq!(s.queue_depth.count, n);
    assert_eq!(s.queue_depth.max, 99);
    // Interleaving decides how many records change the mode, but never
    // more than were made, and a single thread alone would change it
    // every time.
    assert!(s.mode.transitions >= 1 && s.mode.transitions <= n);
}

/// Writers record known amounts while a reader takes intervals and resets;
/// the intervals and the final snapshot add up exactly.
pub(crate) fn concurrent_intervals_partition_records<M: MetricsCollector + 'static>(
    make: fn(Config, ManualClock) -> M,
) {
    let m = Arc::new(make(Config::default(), ManualClock::new()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (m, done) = (Arc::clone(&m), Arc::clone(&done));
        thread::spawn(move || {
            let mut sums = [0_u64; 4];
            let mut takes = 0;
            while !done.load(Ordering::Acquire) {
                let s = m.take_interval();
                check(&s);
                sums[0] += s.latency.count;
                sums[1] += s.throughput.total_tokens;
                sums[2] += s.batch.count;
                sums[3] += s.queue_depth.count;
                takes += 1;
            }
            (sums, takes)
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                for i in 0..50_000_u64 {
                    m.record_latency(Duration::from_micros(i % 1_000));
                    m.record_throughput(2, 1);
                    m.record_batch_size(1);
                    m.record_queue_depth(1);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let (mut sums, takes) = reader.join().unwrap();
    let last = m.snapshot();
    sums[0] += last.latency.count;
    sums[1] += last.throughput.total_tokens;
    sums[2] += last.batch.count;
    sums[3] += last.queue_depth.count;
    assert!(takes > 0);
    assert_eq!(sums, [200_000, 400_000, 200_000, 200_000]);
}

/// `record_request` is the five records it stands for: two collectors, one
/// fed through it and one through the five calls, in the same clock steps,
/// show the same snapshot (clamped values, mode changes and repeats,
/// several window slots included).
pub(crate) fn record_request_is_its_five_records<M: MetricsCollector>(
    make: fn(Config, ManualClock) -> M,
) {
    let config = Config::builder()
        .max_batch_size(64)
        .max_queue_depth(1_000)
        .build()
        .unwrap();
    let (clock_a, clock_b) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (
        make(config.clone(), clock_a.clone()),
        make(config, clock_b.clone()),
    );
    let mut rng = Rng(0xC0FFEE);
    for i in 0..2_000_u64 {
        let r = RequestRecord {
            latency: if i % 97 == 0 {
                secs(7_200)
            } else {
                rng.latency()
            },
            tokens: rng.below(300),
            requests: 1 + rng.below(2),
            batch_size: rng.below(70) as usize,
            queue_depth: rng.below(1_100) as usize,
            mode: Mode((i / 50 % 3) as u16),
        };
        a.record_request(&r);
        b.record_latency(r.latency);
        b.record_throughput(r.tokens, r.requests);
        b.record_batch_size(r.batch_size);
        b.record_queue_depth(r.queue_depth);
        b.record_mode_transition(r.mode);
        if i % 10 == 0 {
            clock_a.advance(ms(37));
            clock_b.advance(ms(37));
        }
    }
    let (sa, sb) = (a.snapshot(), b.snapshot());
    assert!(sa.latency.clamped > 0 && sa.batch.clamped > 0 && sa.queue_depth.clamped > 0);
    assert_eq!(sa, sb);
}
