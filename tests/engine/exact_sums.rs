//! Latency means from sums past 2^53 and 2^64 ns, per strategy, as each
//! strategy's docs state them: `GlobalLock`, `FineGrained`, `Sharded` and
//! `Ring` (which drains into `GlobalLock`'s state) keep exact integer sums, so their means are the exact mean rounded to
//! the nanosecond; `Atomic` keeps an `f64` sum, exact below 2^53 ns and
//! within `n * 2^-53` of the sum beyond (`n` samples in the interval).

use std::time::Duration;

use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Ring, Sharded,
};

/// An hour less a nanosecond: 10,000 of them sum past 2^53 ns.
const NEAR_HOUR: u64 = 3_599_999_999_999;

/// The exact mean of `samples` (value, times), rounded to the nanosecond.
fn exact_mean(samples: &[(u64, u64)]) -> (u128, u128, Duration) {
    let sum: u128 = samples
        .iter()
        .map(|&(v, n)| u128::from(v) * u128::from(n))
        .sum();
    let count: u128 = samples.iter().map(|&(_, n)| u128::from(n)).sum();
    let mean = (sum + count / 2) / count;
    (sum, count, Duration::from_nanos(mean as u64))
}

fn record(m: &dyn MetricsCollector, samples: &[(u64, u64)]) {
    for &(value, times) in samples {
        for _ in 0..times {
            m.record_latency(Duration::from_nanos(value));
        }
    }
}

/// A range wide enough for sums past 2^64 in a few samples.
fn wide() -> Config {
    Config::builder()
        .latency_range(Duration::from_micros(1), Duration::from_nanos(1 << 62))
        .build()
        .unwrap()
}

fn past_2_pow_64() -> Vec<(u64, u64)> {
    vec![((1 << 62) - 1, 7), (12_345_678, 1)]
}

fn exact_strategies(config: &Config) -> Vec<(&'static str, Box<dyn MetricsCollector>)> {
    let clock = ManualClock::new;
    vec![
        (
            "GlobalLock",
            Box::new(GlobalLock::with_clock(config.clone(), clock())),
        ),
        (
            "FineGrained",
            Box::new(FineGrained::with_clock(config.clone(), clock())),
        ),
        (
            "Sharded",
            Box::new(Sharded::with_clock(config.clone(), clock())),
        ),
        ("Ring", Box::new(Ring::with_clock(config.clone(), clock()))),
    ]
}

#[test]
fn exact_strategies_give_the_exact_mean_past_2_pow_53() {
    let samples = [(NEAR_HOUR, 10_000)];
    let (sum, _, mean) = exact_mean(&samples);
    assert!(sum > 1 << 53);
    assert_eq!(mean, Duration::from_nanos(NEAR_HOUR));
    for (name, m) in exact_strategies(&Config::default()) {
        record(&*m, &samples);
        assert_eq!(m.latency().mean, mean, "{name}");
        assert_eq!(m.take_interval().latency.mean, mean, "{name}");
    }
}

#[test]
fn exact_strategies_give_the_exact_mean_past_2_pow_64() {
    let samples = past_2_pow_64();
    let (sum, _, mean) = exact_mean(&samples);
    assert!(sum > u128::from(u64::MAX));
    for (name, m) in exact_strategies(&wide()) {
        record(&*m, &samples);
        assert_eq!(m.latency().mean, mean, "{name}");
    }
}

/// `Atomic`'s documented bound: exact below 2^53 ns, and beyond it each
/// add rounds, so the sum is within `n * 2^-53` of the exact sum.
fn assert_atomic_within_bound(samples: &[(u64, u64)], config: Config) {
    let (sum, count, exact) = exact_mean(samples);
    let m = Atomic::with_clock(config, ManualClock::new());
    record(&m, samples);
    let got = m.latency().mean.as_nanos();
    // A relative `n * 2^-53` of the sum, and so of the mean.
    let bound = count as f64 * (f64::EPSILON / 2.0) * (sum as f64 / count as f64);
    let error = got.abs_diff(exact.as_nanos()) as f64;
    // Plus half a nanosecond for the mean's rounding.
    assert!(
        error <= bound + 0.5,
        "{got} vs {exact:?}: {error} > {bound}"
    );
}

#[test]
fn atomic_is_exact_below_2_pow_53() {
    let samples = [(NEAR_HOUR, 2_000), (1_234_567, 3)];
    let (sum, _, mean) = exact_mean(&samples);
    assert!(sum < 1 << 53);
    let m = Atomic::with_clock(Config::default(), ManualClock::new());
    record(&m, &samples);
    assert_eq!(m.latency().mean, mean);
}

#[test]
fn atomic_stays_within_its_bound_above_2_pow_53() {
    assert_atomic_within_bound(&[(NEAR_HOUR, 10_000)], Config::default());
    assert_atomic_within_bound(&past_2_pow_64(), wide());
}
