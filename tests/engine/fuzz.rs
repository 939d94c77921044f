//! Fuzzing of configuration and record inputs, as proptest harnesses at
//! high case counts.
//!
//! - **Configurations.** Arbitrary builder settings (structured ones near
//!   every limit, and raw ones anywhere in their types) must never panic
//!   `build()`. The test works out independently, from the documented
//!   rules (`ConfigBuilder`'s and `ConfigError`'s docs, and hdrhistogram's
//!   own limits, which the docs defer to), which rules the settings break:
//!   `build()` must fail exactly when one is broken, with an error naming
//!   one of the broken rules (with the offending values), and a valid
//!   configuration must build every strategy, which must then record edge
//!   values and read back consistent, exact snapshots.
//! - **Record inputs.** Arbitrary sequences of records with raw arguments
//!   (any `Duration`, `u64`, `usize`, `u16`) under random valid
//!   configurations must never panic or corrupt a metric: every snapshot
//!   satisfies the invariants and its counts, clamp counts, totals,
//!   current values and transitions are exactly what was recorded.
//!
//! CI runs `FUZZ_CASES` cases of each (default 256); the long run:
//! `FUZZ_CASES=100000 cargo test --release --test engine fuzz::`.

use std::time::Duration;

use lockfree_metrics::{
    Atomic, Config, ConfigError, FineGrained, GlobalLock, ManualClock, MetricsCollector, Mode,
    Ring, Sharded, MAX_BATCH_SIZE_LIMIT, MAX_HISTOGRAM_COUNTERS, MAX_QUEUE_DEPTH_LIMIT,
    MAX_TRACKABLE, MAX_TRANSITION_LOG, MAX_WINDOW_SLOTS,
};
use proptest::prelude::*;

use crate::support::{cases, invariants};

fn cases() -> u32 {
    cases::cases("FUZZ_CASES", 256)
}

// ---------------------------------------------------------------------------
// Settings and the rules they may break.

#[derive(Clone, Debug)]
struct Settings {
    windows: Vec<Duration>,
    resolution: Duration,
    lowest: Duration,
    highest: Duration,
    digits: u8,
    max_batch: usize,
    max_queue: u64,
    log: usize,
}

impl Settings {
    fn build(&self) -> Result<Config, ConfigError> {
        Config::builder()
            .windows(self.windows.iter().copied())
            .window_resolution(self.resolution)
            .latency_range(self.lowest, self.highest)
            .significant_digits(self.digits)
            .max_batch_size(self.max_batch)
            .max_queue_depth(self.max_queue)
            .transition_log(self.log)
            .build()
    }
}

/// Nanoseconds, if they fit in a u64.
fn ns(d: Duration) -> Option<u64> {
    u64::try_from(d.as_nanos()).ok()
}

/// Why hdrhistogram would refuse `(low, high, digits)`, or how many
/// counters it would need: its `new_with_bounds` checks and
/// `buckets_to_cover`, restated.
fn hdr_counters(low: u64, high: u64, digits: u8) -> Result<u64, &'static str> {
    if digits > 5 {
        return Err("digits");
    }
    let unit = 63 - low.leading_zeros();
    let largest = 2 * 10_u64.pow(u32::from(digits));
    let sub_bucket_bits = 64 - (largest - 1).leading_zeros();
    if unit + sub_bucket_bits > 63 {
        return Err("digits");
    }
    let mut untrackable = 1_u64 << (sub_bucket_bits + unit);
    let mut buckets = 1;
    while untrackable <= high {
        if untrackable > u64::MAX / 2 {
            buckets += 1;
            break;
        }
        untrackable <<= 1;
        buckets += 1;
    }
    Ok((buckets + 1) * (1 << (sub_bucket_bits - 1)))
}

/// A broken rule: its name, and whether an error names it.
type Rule<'a> = (&'static str, Box<dyn Fn(&ConfigError) -> bool + 'a>);

/// Every rule `s` breaks.
fn broken_rules(s: &Settings) -> Vec<Rule<'_>> {
    let mut broken: Vec<Rule<'_>> = Vec::new();
    let is = |want: ConfigError| -> Box<dyn Fn(&ConfigError) -> bool> {
        Box::new(move |e: &ConfigError| *e == want)
    };
    if s.windows.is_empty() {
        broken.push(("no windows", is(ConfigError::NoWindows)));
    }
    if s.windows.iter().any(|w| w.is_zero()) {
        broken.push(("zero window", is(ConfigError::ZeroWindow)));
    }
    for (i, w) in s.windows.iter().enumerate() {
        if s.windows[..i].contains(w) {
            broken.push(("duplicate window", is(ConfigError::DuplicateWindow(*w))));
        }
    }
    if s.resolution.is_zero() {
        broken.push(("zero resolution", is(ConfigError::ZeroResolution)));
    }
    let too_long = s.windows.iter().any(|&w| ns(w).is_none())
        || ns(s.resolution).is_none()
        || ns(s.lowest).is_none()
        || ns(s.highest).is_none_or(|h| h > MAX_TRACKABLE);
    if too_long {
        broken.push(("duration too long", is(ConfigError::DurationTooLong)));
    }
    if let Some(res) = ns(s.resolution).filter(|&r| r > 0) {
        for &w in &s.windows {
            let Some(w_ns) = ns(w).filter(|&n| n > 0) else {
                continue;
            };
            if w_ns % res != 0 {
                broken.push((
                    "window not a multiple of the resolution",
                    Box::new(move |e: &ConfigError| {
                        matches!(e, ConfigError::WindowNotMultipleOfResolution { window, resolution }
                            if ns(*window).is_some_and(|n| n % res != 0) && *resolution == s.resolution)
                    }),
                ));
            }
            if w_ns / res > MAX_WINDOW_SLOTS {
                broken.push((
                    "too many window slots",
                    Box::new(move |e: &ConfigError| {
                        matches!(e, ConfigError::TooManyWindowSlots { window, resolution }
                            if ns(*window).is_some_and(|n| n / res > MAX_WINDOW_SLOTS) && *resolution == s.resolution)
                    }),
                ));
            }
        }
    }
    let (lowest, highest) = (ns(s.lowest), ns(s.highest));
    if lowest == Some(0) {
        broken.push(("zero lowest latency", is(ConfigError::ZeroLowestLatency)));
    }
    if let (Some(low), Some(high)) = (lowest, highest) {
        if u128::from(high) < 2 * u128::from(low) {
            broken.push((
                "inverted latency range",
                is(ConfigError::InvertedLatencyRange {
                    lowest: s.lowest,
                    highest: s.highest,
                }),
            ));
        } else if low > 0 && high <= MAX_TRACKABLE {
            match hdr_counters(low, high, s.digits) {
                Err(_) => broken.push((
                    "significant digits",
                    is(ConfigError::InvalidSignificantDigits(s.digits)),
                )),
                Ok(n) if n > MAX_HISTOGRAM_COUNTERS as u64 => broken.push((
                    "latency histogram too large",
                    Box::new(move |e: &ConfigError| {
                        matches!(e, ConfigError::HistogramTooLarge { counters } if *counters as u64 == n)
                    }),
                )),
                Ok(_) => {}
            }
        }
    }
    if s.digits > 5 {
        broken.push((
            "significant digits",
            is(ConfigError::InvalidSignificantDigits(s.digits)),
        ));
    }
    if s.max_batch == 0 || s.max_batch > MAX_BATCH_SIZE_LIMIT {
        broken.push((
            "max batch size",
            is(ConfigError::MaxBatchSizeOutOfRange(s.max_batch)),
        ));
    }
    if !(2..=MAX_QUEUE_DEPTH_LIMIT).contains(&s.max_queue) {
        broken.push((
            "max queue depth",
            is(ConfigError::MaxQueueDepthOutOfRange(s.max_queue)),
        ));
    } else if let Ok(n) = hdr_counters(1, s.max_queue, s.digits) {
        if n > MAX_HISTOGRAM_COUNTERS as u64 {
            broken.push((
                "queue histogram too large",
                Box::new(move |e: &ConfigError| {
                    matches!(e, ConfigError::HistogramTooLarge { counters } if *counters as u64 == n)
                }),
            ));
        }
    }
    if s.log > MAX_TRANSITION_LOG {
        broken.push((
            "transition log",
            is(ConfigError::TransitionLogTooLong(s.log)),
        ));
    }
    broken
}

// ---------------------------------------------------------------------------
// Generators.

/// Any duration: edges, small multiples of common units, raw values.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        prop::sample::select(vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(2),
            Duration::from_nanos(MAX_TRACKABLE),
            Duration::from_nanos(MAX_TRACKABLE + 1),
            Duration::from_nanos(u64::MAX),
            Duration::from_nanos(u64::MAX) + Duration::from_nanos(1),
            Duration::MAX,
        ]),
        (
            0..10_000_u64,
            prop::sample::select(vec![1_u64, 1_000, 1_000_000, 1_000_000_000])
        )
            .prop_map(|(n, unit)| Duration::from_nanos(n * unit)),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0..1_000_000_000_u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// Settings: each one valid four times in five, otherwise at or past a
/// limit or anywhere in its type, so that most cases break no rule or one.
fn settings() -> impl Strategy<Value = Settings> {
    let resolution = prop_oneof![
        8 => prop::sample::select(vec![1_u64, 1_000, 1_000_000, 100_000_000, 1_000_000_000])
            .prop_map(Duration::from_nanos),
        1 => Just(Duration::ZERO),
        1 => duration(),
    ];
    // Windows as distinct multiples of the resolution, or with a slot count
    // at a limit, a duplicate, or raw durations.
    let slots = prop_oneof![
        8 => (1..100_u64).prop_map(Some),
        1 => prop::sample::select(vec![0, MAX_WINDOW_SLOTS, MAX_WINDOW_SLOTS + 1, u64::MAX])
            .prop_map(Some),
        1 => Just(None),
    ];
    let windows = (
        resolution,
        prop_oneof![
            4 => prop::collection::vec(slots, 1..4),
            1 => prop::collection::vec(Just(Some(1_u64)), 0..3),
        ],
        prop::collection::vec(duration(), 4),
        prop_oneof![4 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(res, slots, raw, duplicate)| {
            let mut windows: Vec<Duration> = slots
                .iter()
                .zip(&raw)
                .map(|(k, &raw)| match k {
                    Some(k) => ns(res)
                        .and_then(|r| r.checked_mul(*k))
                        .map_or(raw, Duration::from_nanos),
                    None => raw,
                })
                .collect();
            let mut seen = Vec::new();
            windows.retain(|w| {
                let new = !seen.contains(w);
                seen.push(*w);
                new
            });
            if duplicate {
                if let Some(&last) = windows.last() {
                    windows.insert(0, last);
                }
            }
            (res, windows)
        });
    let lowest = prop_oneof![
        8 => prop::sample::select(vec![1_u64, 2, 7, 1_000, 1 << 20, 1 << 40, 1 << 58, 1 << 61])
            .prop_map(Duration::from_nanos),
        1 => Just(Duration::ZERO),
        1 => duration(),
    ];
    let latency = (
        lowest,
        prop_oneof![
            4 => prop::sample::select(vec![2_u64, 3, 1_000, 1 << 20, u64::MAX]).prop_map(Some),
            1 => Just(Some(1)),
            1 => Just(None),
        ],
        duration(),
    )
        .prop_map(|(low, factor, raw)| {
            let high = match factor {
                Some(f) => ns(low).map_or(raw, |l| {
                    Duration::from_nanos(l.saturating_mul(f).min(MAX_TRACKABLE))
                }),
                None => raw,
            };
            (low, high)
        });
    let digits = prop_oneof![12 => 0..=3_u8, 2 => 4..=5_u8, 1 => Just(6), 1 => any::<u8>()];
    let max_batch = prop_oneof![
        4 => 1..=2_048_usize,
        1 => prop::sample::select(vec![0, 1, MAX_BATCH_SIZE_LIMIT, MAX_BATCH_SIZE_LIMIT + 1, usize::MAX]),
        1 => any::<usize>(),
    ];
    let max_queue = prop_oneof![
        4 => 2..=1_000_000_u64,
        1 => prop::sample::select(vec![0, 1, 2, MAX_QUEUE_DEPTH_LIMIT, MAX_QUEUE_DEPTH_LIMIT + 1, u64::MAX]),
        1 => any::<u64>(),
    ];
    let log = prop_oneof![
        4 => 0..=64_usize,
        1 => prop::sample::select(vec![0, 1, MAX_TRANSITION_LOG, MAX_TRANSITION_LOG + 1, usize::MAX]),
        1 => any::<usize>(),
    ];
    (windows, latency, digits, max_batch, max_queue, log).prop_map(
        |((resolution, windows), (lowest, highest), digits, max_batch, max_queue, log)| Settings {
            windows,
            resolution,
            lowest,
            highest,
            digits,
            max_batch,
            max_queue,
            log,
        },
    )
}

// ---------------------------------------------------------------------------
// Exact expectations for raw records.

#[derive(Clone, Copy, Debug)]
enum Record {
    Latency(Duration),
    Throughput(u64, u64),
    Batch(usize),
    Queue(usize),
    Mode(u16),
}

fn any_usize() -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![0, 1, 2, 1_024, 1_025, usize::MAX]),
        0..5_000_usize,
        any::<usize>(),
    ]
}

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![0, 1, (1 << 32) - 1, 1 << 32, u64::MAX]),
        0..1_000_u64,
        any::<u64>(),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        duration().prop_map(Record::Latency),
        (any_u64(), any_u64()).prop_map(|(t, r)| Record::Throughput(t, r)),
        any_usize().prop_map(Record::Batch),
        any_usize().prop_map(Record::Queue),
        prop_oneof![Just(0_u16), Just(u16::MAX), any::<u16>()].prop_map(Record::Mode),
    ]
}

/// Random valid configurations, sized to keep snapshots cheap.
fn valid_config() -> impl Strategy<Value = Config> {
    (
        prop::sample::select(vec![1_u64, 1_000_000, 100_000_000]),
        prop::collection::btree_set(1..=50_u64, 1..=3),
        prop::sample::select(vec![1_u64, 7, 1_000, 1 << 20]),
        prop::sample::select(vec![2_u64, 1_000, 1 << 30, u64::MAX]),
        0..=3_u8,
        prop_oneof![1..=16_usize, 1..=2_048_usize],
        prop_oneof![2..=16_u64, Just(1_000_000), Just(MAX_QUEUE_DEPTH_LIMIT)],
        0..=8_usize,
    )
        .prop_map(|(res, slots, low, span, digits, batch, queue, log)| {
            Config::builder()
                .window_resolution(Duration::from_nanos(res))
                .windows(slots.iter().map(|k| Duration::from_nanos(k * res)))
                .latency_range(
                    Duration::from_nanos(low),
                    Duration::from_nanos(low.saturating_mul(span).min(MAX_TRACKABLE)),
                )
                .significant_digits(digits)
                .max_batch_size(batch)
                .max_queue_depth(queue)
                .transition_log(log)
                .build()
                .expect("valid by construction")
        })
}

type Make = fn(Config, ManualClock) -> Box<dyn MetricsCollector>;

const STRATEGIES: [(&str, Make); 5] = [
    ("GlobalLock", |c, k| Box::new(GlobalLock::with_clock(c, k))),
    ("FineGrained", |c, k| {
        Box::new(FineGrained::with_clock(c, k))
    }),
    ("Atomic", |c, k| Box::new(Atomic::with_clock(c, k))),
    ("Sharded", |c, k| Box::new(Sharded::with_clock(c, k))),
    ("Ring", |c, k| Box::new(Ring::with_clock(c, k))),
];

/// Applies `records` to a fresh collector of each strategy and checks the
/// snapshot against what was recorded.
fn record_and_check(config: &Config, records: &[Record]) {
    let highest = config.latency_highest();
    let (max_batch, max_queue) = (config.max_batch_size() as u64, config.max_queue_depth());
    let highest_equivalent = |high: u64, low: u64| {
        hdrhistogram::Histogram::<u64>::new_with_bounds(low, high, config.significant_digits())
            .unwrap()
            .highest_equivalent(high)
    };
    let latency_top = highest_equivalent(
        highest.as_nanos() as u64,
        config.latency_lowest().as_nanos() as u64,
    );
    let queue_top = highest_equivalent(max_queue, 1);
    for (name, make) in STRATEGIES {
        let clock = ManualClock::new();
        let m = make(config.clone(), clock.clone());
        let (mut latencies, mut latency_clamped) = (0, 0);
        let (mut tokens, mut requests) = (0_u64, 0_u64);
        let (mut batches, mut batch_clamped, mut batch_last, mut batch_max) = (0, 0, None, 0);
        let (mut depths, mut queue_clamped, mut queue_last) = (0, 0, None);
        let (mut mode, mut transitions) = (None, 0);
        for (i, &r) in records.iter().enumerate() {
            match r {
                Record::Latency(d) => {
                    m.record_latency(d);
                    latencies += 1;
                    latency_clamped += u64::from(d > highest);
                }
                Record::Throughput(t, q) => {
                    m.record_throughput(t, q);
                    tokens = tokens.saturating_add(t);
                    requests = requests.saturating_add(q);
                }
                Record::Batch(b) => {
                    m.record_batch_size(b);
                    let b = b as u64;
                    batches += 1;
                    batch_clamped += u64::from(b > max_batch);
                    batch_last = Some(b.min(max_batch));
                    batch_max = batch_max.max(b.min(max_batch));
                }
                Record::Queue(d) => {
                    m.record_queue_depth(d);
                    let d = d as u64;
                    depths += 1;
                    queue_clamped += u64::from(d > max_queue);
                    queue_last = Some(d.min(max_queue));
                }
                Record::Mode(id) => {
                    m.record_mode_transition(Mode(id));
                    transitions += u64::from(mode != Some(Mode(id)));
                    mode = Some(Mode(id));
                }
            }
            if i % 7 == 0 {
                clock.advance(Duration::from_millis(i as u64));
            }
        }
        let s = m.snapshot();
        invariants::check_quiescent(&s);
        let ctx = format!("{name}: {s:?}");
        assert_eq!(
            (s.latency.count, s.latency.clamped),
            (latencies, latency_clamped),
            "{ctx}"
        );
        assert!(s.latency.max.as_nanos() as u64 <= latency_top, "{ctx}");
        assert_eq!(
            (s.throughput.total_tokens, s.throughput.total_requests),
            (tokens, requests),
            "{ctx}"
        );
        assert_eq!(
            (s.batch.count, s.batch.clamped, s.batch.current),
            (batches, batch_clamped, batch_last),
            "{ctx}"
        );
        assert_eq!(s.batch.max, batch_max, "{ctx}");
        assert!(
            s.batch.distribution.keys().all(|&k| k <= max_batch),
            "{ctx}"
        );
        assert_eq!(
            (
                s.queue_depth.count,
                s.queue_depth.clamped,
                s.queue_depth.current
            ),
            (depths, queue_clamped, queue_last),
            "{ctx}"
        );
        assert!(s.queue_depth.max <= queue_top, "{ctx}");
        assert_eq!(
            (s.mode.current, s.mode.transitions),
            (mode, transitions),
            "{ctx}"
        );
        // And a reset empties it all but the mode.
        m.reset();
        let s = m.snapshot();
        invariants::check_quiescent(&s);
        assert_eq!(
            (
                s.latency.count,
                s.batch.count,
                s.queue_depth.count,
                s.throughput.total_tokens
            ),
            (0, 0, 0, 0),
            "{name}"
        );
        assert_eq!(s.mode.current, mode, "{name}");
    }
}

proptest! {
    #![proptest_config(cases::config(cases()))]

    /// `build()` never panics; it fails exactly when a documented rule is
    /// broken, naming a broken rule; a valid configuration builds every
    /// strategy, which records edge values correctly.
    #[test]
    fn configurations(s in settings()) {
        let broken = broken_rules(&s);
        match s.build() {
            Ok(config) => {
                let names: Vec<_> = broken.iter().map(|(n, _)| *n).collect();
                prop_assert!(broken.is_empty(), "accepted, but breaks {names:?}: {s:?}");
                record_and_check(&config, &[
                    Record::Latency(Duration::MAX),
                    Record::Latency(Duration::ZERO),
                    Record::Throughput(u64::MAX, 1),
                    Record::Batch(usize::MAX),
                    Record::Queue(usize::MAX),
                    Record::Mode(u16::MAX),
                ]);
            }
            Err(e) => {
                prop_assert!(!broken.is_empty(), "refused with {e:?}, but breaks no rule: {s:?}");
                let names: Vec<_> = broken.iter().map(|(n, _)| *n).collect();
                prop_assert!(
                    broken.iter().any(|(_, matches)| matches(&e)),
                    "{e:?} names none of the broken rules {names:?}: {s:?}"
                );
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Arbitrary record inputs never panic or corrupt a metric.
    #[test]
    fn record_inputs(
        config in valid_config(),
        records in prop::collection::vec(record(), 0..64),
    ) {
        record_and_check(&config, &records);
    }
}
