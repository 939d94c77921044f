//! Bad input to the registry (`lockfree_metrics::registry`): every value
//! a record call can take, and every name, label and option a lookup can
//! take, against the documented rule for each.
//!
//! - **Histogram values.** `record_f64(x)` records `round(x * scale)`:
//!   NaN and values below zero after rounding are rejected (not recorded,
//!   counted in the histogram's `rejected()` and `Stats::rejected_samples`);
//!   `+inf` and values past the range are clamped to the highest trackable
//!   value (counted in `clamped()` and `Stats::clamped_samples`);
//!   subnormals and `-0.0` round to 0. `record` and `record_n` clamp
//!   `u64::MAX` the same way, `record_n(v, 0)` records nothing. Counts,
//!   sums and the counts of clamped and rejected samples are exact.
//! - **Counters** saturate at `u64::MAX` (an increment past it is counted
//!   in `Stats::saturated_increments`) and never wrap; `absolute` raises
//!   and never lowers.
//! - **Gauges** store any `f64`; each write leaving a NaN or an infinity
//!   is counted in `Stats::non_finite_gauge_writes`.
//! - **Names and labels.** Invalid metric names, label names (the reserved
//!   `__` prefix included), duplicate labels, a name that holds another
//!   kind, a family lookup with the wrong number of values, a histogram
//!   key made again with other options, and histogram options that
//!   `hdrhistogram` refuses (or an invalid scale) each give their typed
//!   `RegistryError`, and create nothing. Proptest harnesses feed
//!   arbitrary strings as names, label names and values: a lookup never
//!   panics, it gives the error the rules predict or a series found in
//!   the snapshot under exactly that name and those labels; whatever
//!   `sanitize_name` and `sanitize_label_name` return is accepted.
//!   Arbitrary histogram options are accepted exactly when `hdrhistogram`
//!   accepts them within the crate's counter limit, and then record edge
//!   values exactly.
//!
//! CI runs `REGISTRY_FUZZ_CASES` cases of each harness (default 256); the
//! long run: `REGISTRY_FUZZ_CASES=100000 cargo test --release --test registry fuzz::`.

use std::{collections::BTreeMap, time::Duration};

use lockfree_metrics::{
    registry::{
        sanitize_label_name, sanitize_name, HistogramOpts, Kind, Registry, RegistryError, Value,
    },
    ConfigError, MAX_HISTOGRAM_COUNTERS,
};
use proptest::prelude::*;

use crate::support::cases;

// ---------------------------------------------------------------------------
// Histogram values.

/// What the documented rule says `record_f64(x)` does: `Some(value)`
/// recorded (before clamping), or `None`, rejected.
fn f64_rule(x: f64, scale: f64) -> Option<u64> {
    let scaled = (x * scale).round();
    if scaled.is_nan() || scaled < 0.0 {
        None
    } else if scaled >= 18_446_744_073_709_551_615.0 {
        Some(u64::MAX)
    } else {
        Some(scaled as u64)
    }
}

/// Expected figures of a histogram fed through the rules.
#[derive(Debug, Default, PartialEq)]
struct Fed {
    count: u64,
    sum: u128,
    clamped: u64,
    rejected: u64,
}

impl Fed {
    fn record_n(&mut self, highest: u64, v: u64, n: u64) {
        self.count += n;
        self.sum += u128::from(v.min(highest)) * u128::from(n);
        if v > highest {
            self.clamped += n;
        }
    }
}

fn edge_f64s() -> Vec<f64> {
    vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        -0.0,
        0.0,
        -0.4,
        -0.5,
        -0.6,
        0.4,
        0.5,
        2.5,
        5e-324,
        -5e-324,
        f64::MIN_POSITIVE,
        1e-9,
        0.4e-9,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        3_599.999,
        3_600.0,
        3_600.1,
        123_456.0,
        1e19,
    ]
}

#[test]
fn record_f64_follows_the_documented_rule() {
    let r = Registry::new();
    for (name, opts) in [
        ("seconds", HistogramOpts::default()),
        (
            "plain",
            HistogramOpts::new(1, 100_000, 2)
                .unwrap()
                .scale(1.0)
                .unwrap(),
        ),
        (
            "milli",
            HistogramOpts::new(1, 1 << 40, 3)
                .unwrap()
                .scale(1e3)
                .unwrap(),
        ),
    ] {
        let h = r.histogram_with(name, &[], opts).unwrap();
        let mut fed = Fed::default();
        for x in edge_f64s() {
            h.record_f64(x);
            match f64_rule(x, opts.get_scale()) {
                Some(v) => fed.record_n(opts.highest(), v, 1),
                None => fed.rejected += 1,
            }
        }
        let s = r.snapshot();
        let v = s.get(name, &[]).unwrap().as_histogram().unwrap();
        let got = Fed {
            count: v.count(),
            sum: v.sum(),
            clamped: v.clamped(),
            rejected: v.rejected(),
        };
        assert_eq!(got, fed, "{name}");
        // The list exercises both rules at every scale: NaN (both signs),
        // -inf, -1, -1e300 and f64::MIN rejected; +inf, f64::MAX and 1e300
        // clamped.
        assert!(fed.rejected >= 7, "{name}: {fed:?}");
        assert!(fed.clamped >= 3, "{name}: {fed:?}");
        assert_eq!(v.buckets().map(|b| b.count).sum::<u64>(), v.count());
    }
    let stats = r.stats();
    let (mut clamped, mut rejected) = (0, 0);
    for s in r.snapshot().iter() {
        let h = s.as_histogram().unwrap();
        clamped += h.clamped();
        rejected += h.rejected();
    }
    assert_eq!(stats.clamped_samples, clamped);
    assert_eq!(stats.rejected_samples, rejected);
}

#[test]
fn the_documented_rounding_cases() {
    let r = Registry::new();
    let opts = HistogramOpts::new(1, 1_000, 3).unwrap().scale(1.0).unwrap();
    let h = r.histogram_with("round", &[], opts).unwrap();
    // -0.4 rounds to -0, which is not below zero: recorded as 0.
    h.record_f64(-0.4);
    h.record_f64(-0.0);
    h.record_f64(5e-324);
    // -0.5 rounds away from zero, to -1: rejected.
    h.record_f64(-0.5);
    h.record_f64(f64::NAN);
    // 2.5 rounds to 3.
    h.record_f64(2.5);
    let s = r.snapshot();
    let v = s.get("round", &[]).unwrap().as_histogram().unwrap();
    assert_eq!(
        (v.count(), v.sum(), v.rejected(), v.clamped()),
        (4, 3, 2, 0)
    );
    assert_eq!(v.quantile(0.75), 0);
    assert_eq!(v.quantile(1.0), 3);
    assert_eq!(v.min(), 0);
}

#[test]
fn u64_max_and_zero_counts() {
    let r = Registry::new();
    let opts = HistogramOpts::new(1, 1_000_000, 2).unwrap();
    let h = r.histogram_with("edge", &[], opts).unwrap();
    h.record(u64::MAX);
    h.record_n(u64::MAX, 5);
    h.record_n(1_000_001, 2);
    h.record_n(42, 0);
    h.record_n(u64::MAX, 0);
    h.record(0);
    h.record_n(1_000_000, 1 << 40);
    h.record_duration(Duration::MAX);
    h.record_duration(Duration::ZERO);
    let s = r.snapshot();
    let v = s.get("edge", &[]).unwrap().as_histogram().unwrap();
    let mut fed = Fed::default();
    for (value, n) in [
        (u64::MAX, 1),
        (u64::MAX, 5),
        (1_000_001, 2),
        (0, 1),
        (1_000_000, 1 << 40),
        (u64::MAX, 1),
        (0, 1),
    ] {
        fed.record_n(1_000_000, value, n);
    }
    let got = Fed {
        count: v.count(),
        sum: v.sum(),
        clamped: v.clamped(),
        rejected: v.rejected(),
    };
    assert_eq!(got, fed);
    assert_eq!(fed.clamped, 9);
    assert_eq!(r.stats().clamped_samples, 9);
    // Everything clamped lands at the top.
    assert!(v.max() >= 1_000_000);
    assert_eq!(v.quantile(1.0), v.max());
}

#[test]
fn record_n_zero_leaves_a_hidden_series_hidden() {
    let r = Registry::new();
    let h = r.histogram("quiet", &[]).unwrap();
    h.record(5);
    assert_eq!(
        r.remove("quiet", &[]).unwrap(),
        lockfree_metrics::registry::Removal::Hidden
    );
    h.record_n(5, 0);
    assert!(r.snapshot().get("quiet", &[]).is_none(), "nothing recorded");
    h.record_f64(f64::NAN);
    // A rejected sample changes the value (its reject count): shown.
    let s = r.snapshot();
    let v = s.get("quiet", &[]).unwrap().as_histogram().unwrap();
    assert_eq!((v.count(), v.rejected()), (1, 1));
}

// ---------------------------------------------------------------------------
// Counters and gauges.

#[test]
fn counters_saturate_and_never_wrap() {
    let r = Registry::new();
    let c = r.counter("sat_total", &[]).unwrap();
    c.increment(u64::MAX);
    assert_eq!((c.get(), r.stats().saturated_increments), (u64::MAX, 0));
    c.increment(u64::MAX);
    assert_eq!((c.get(), r.stats().saturated_increments), (u64::MAX, 1));
    c.increment(1);
    assert_eq!((c.get(), r.stats().saturated_increments), (u64::MAX, 2));

    // A small increment after a large one that reached u64::MAX.
    let d = r.counter("sat_small_total", &[]).unwrap();
    d.increment(u64::MAX);
    d.increment(1);
    assert_eq!(d.get(), u64::MAX, "wrapped");
    d.increment((1 << 32) - 1);
    assert_eq!(d.get(), u64::MAX, "wrapped");

    // Just below u64::MAX, then over it by small steps.
    let e = r.counter("sat_near_total", &[]).unwrap();
    e.increment(u64::MAX - 3);
    for _ in 0..3 {
        e.increment(1);
    }
    assert_eq!(e.get(), u64::MAX);
    let before = r.stats().saturated_increments;
    e.increment(1);
    assert_eq!(e.get(), u64::MAX);
    assert!(r.stats().saturated_increments > before);

    // `absolute` raises, never lowers, and saturates nothing.
    let a = r.counter("abs_total", &[]).unwrap();
    a.increment(10);
    a.absolute(5);
    assert_eq!(a.get(), 10);
    a.absolute(10);
    assert_eq!(a.get(), 10);
    a.absolute(1_000);
    assert_eq!(a.get(), 1_000);
    a.increment(1);
    assert_eq!(a.get(), 1_001);
    a.absolute(u64::MAX);
    assert_eq!(a.get(), u64::MAX);
    a.absolute(0);
    assert_eq!(a.get(), u64::MAX);

    // Every reading agrees with the getters.
    let s = r.snapshot();
    for (name, c) in [
        ("sat_total", &c),
        ("sat_small_total", &d),
        ("sat_near_total", &e),
        ("abs_total", &a),
    ] {
        assert_eq!(s.get(name, &[]).unwrap().value, Value::Counter(c.get()));
    }
}

#[test]
fn gauges_store_any_f64_and_count_non_finite_writes() {
    let r = Registry::new();
    let g = r.gauge("g", &[]).unwrap();
    let writes = r.stats().non_finite_gauge_writes;
    assert_eq!(writes, 0);
    let expect = |value: f64, non_finite: u64| {
        let got = g.get();
        assert!(
            got.to_bits() == value.to_bits() || (got.is_nan() && value.is_nan()),
            "{got} != {value}"
        );
        assert_eq!(r.stats().non_finite_gauge_writes, non_finite);
        let s = r.snapshot();
        match s.get("g", &[]).unwrap().value {
            Value::Gauge(v) => assert!(v.to_bits() == got.to_bits()),
            ref v => panic!("{v:?}"),
        }
    };
    g.set(f64::NAN);
    expect(f64::NAN, 1);
    g.add(1.0); // NaN + 1: still NaN, counted again.
    expect(f64::NAN, 2);
    g.set(1.5);
    expect(1.5, 2);
    g.set(f64::INFINITY);
    expect(f64::INFINITY, 3);
    g.add(f64::NEG_INFINITY); // inf - inf: NaN.
    expect(f64::NAN, 4);
    g.set(f64::MAX);
    expect(f64::MAX, 4);
    g.add(f64::MAX); // overflows to inf.
    expect(f64::INFINITY, 5);
    g.set(-0.0);
    expect(-0.0, 5);
    g.sub(-0.0);
    expect(0.0, 5);
    g.sub(f64::INFINITY);
    expect(f64::NEG_INFINITY, 6);
    g.set(5e-324);
    expect(5e-324, 6);
}

// ---------------------------------------------------------------------------
// Names, labels and options: typed errors, nothing created.

fn created(r: &Registry) -> u64 {
    r.stats().created
}

#[test]
fn invalid_names_and_labels_are_typed_errors() {
    let r = Registry::new();
    for bad in [
        "", "1abc", "a-b", "a b", "é", "a.b", "a\n", "a{b}", "ab\u{0}",
    ] {
        assert_eq!(
            r.counter(bad, &[]).unwrap_err(),
            RegistryError::InvalidName(bad.into())
        );
        assert_eq!(
            r.gauge_family(bad, &["a"]).unwrap_err(),
            RegistryError::InvalidName(bad.into())
        );
        assert_eq!(
            r.remove(bad, &[]).unwrap_err(),
            RegistryError::InvalidName(bad.into())
        );
        assert!(!RegistryError::InvalidName(bad.into())
            .to_string()
            .is_empty());
    }
    for good in ["a", "a:b", ":x", "_x", "A_1:z", "_"] {
        r.counter(good, &[]).unwrap();
    }
    for bad in ["", "1a", "a-b", "__x", "__", "é", ":a", "a:b", "a.b"] {
        assert_eq!(
            r.counter("x_total", &[("ok", "1"), (bad, "v")])
                .unwrap_err(),
            RegistryError::InvalidLabelName(bad.into())
        );
        assert_eq!(
            r.counter_family("y_total", &["ok", bad]).unwrap_err(),
            RegistryError::InvalidLabelName(bad.into())
        );
    }
    for good in ["_", "_a", "a1", "A", "_a__"] {
        r.counter("z_total", &[(good, "")]).unwrap();
    }
    assert_eq!(
        r.counter("x_total", &[("b", "1"), ("a", "1"), ("b", "2")])
            .unwrap_err(),
        RegistryError::DuplicateLabel("b".into())
    );
    assert_eq!(
        r.histogram_family("x_total", &["a", "a"], None)
            .unwrap_err(),
        RegistryError::DuplicateLabel("a".into())
    );
    let before = created(&r);
    assert_eq!(before, 11);
    assert!(r.snapshot().get("x_total", &[]).is_none());
    assert_eq!(r.stats().series, 11);
}

#[test]
fn kind_count_and_option_mismatches_are_typed_errors() {
    let r = Registry::new();
    r.counter("requests_total", &[("a", "1")]).unwrap();
    let mismatch = |requested| RegistryError::KindMismatch {
        name: "requests_total".into(),
        existing: Kind::Counter,
        requested,
    };
    assert_eq!(
        r.gauge("requests_total", &[("a", "1")]).unwrap_err(),
        mismatch(Kind::Gauge)
    );
    // Per name, not per key.
    assert_eq!(
        r.histogram("requests_total", &[]).unwrap_err(),
        mismatch(Kind::Histogram)
    );
    assert_eq!(
        r.gauge_family("requests_total", &["a"]).unwrap_err(),
        mismatch(Kind::Gauge)
    );
    // A family made before the name took another kind fails at lookup.
    let f = r.histogram_family("later", &["a"], None).unwrap();
    r.counter("later", &[]).unwrap();
    assert_eq!(
        f.with(&["1"]).unwrap_err(),
        RegistryError::KindMismatch {
            name: "later".into(),
            existing: Kind::Counter,
            requested: Kind::Histogram,
        }
    );
    // Label counts.
    let f = r.counter_family("pairs_total", &["a", "b"]).unwrap();
    assert_eq!(
        f.with(&["1"]).unwrap_err(),
        RegistryError::LabelCount {
            expected: 2,
            got: 1
        }
    );
    assert_eq!(
        f.with(&["1", "2", "3"]).unwrap_err(),
        RegistryError::LabelCount {
            expected: 2,
            got: 3
        }
    );
    // Options.
    let a = HistogramOpts::new(1, 1_000, 2).unwrap();
    let b = HistogramOpts::new(1, 2_000, 2).unwrap();
    r.histogram_with("h", &[], a).unwrap();
    assert!(matches!(
        r.histogram_with("h", &[], b),
        Err(RegistryError::OptionsMismatch(_))
    ));
    assert!(matches!(
        r.histogram_with("h", &[], a.scale(2.0).unwrap()),
        Err(RegistryError::OptionsMismatch(_))
    ));
    // Another key of the name may have its own.
    r.histogram_with("h", &[("k", "v")], b).unwrap();
    let fam = r.histogram_family("h", &["k"], Some(a)).unwrap();
    assert!(matches!(
        fam.with(&["v"]),
        Err(RegistryError::OptionsMismatch(_))
    ));
    assert_eq!(created(&r), 4);
    for e in [
        mismatch(Kind::Gauge),
        RegistryError::LabelCount {
            expected: 2,
            got: 1,
        },
        RegistryError::OptionsMismatch("h".into()),
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn invalid_histogram_options_are_typed_errors() {
    for (low, high, digits) in [(1, 1_000, 6), (1, 1_000, u8::MAX)] {
        assert_eq!(
            HistogramOpts::new(low, high, digits).unwrap_err(),
            RegistryError::Histogram(ConfigError::InvalidSignificantDigits(digits))
        );
    }
    // Bounds hdrhistogram refuses: named as bounds, with the values given.
    for (low, high, digits) in [
        (0, 1_000, 2),
        (10, 19, 2),
        (1_000, 1_000, 2),
        (1, 1, 0),
        (u64::MAX / 2 + 1, u64::MAX, 0),
    ] {
        assert_eq!(
            HistogramOpts::new(low, high, digits),
            Err(RegistryError::Histogram(
                ConfigError::InvalidHistogramBounds {
                    lowest: low,
                    highest: high
                }
            )),
            "{low} {high} {digits}"
        );
    }
    // Past the crate's counter limit.
    assert!(matches!(
        HistogramOpts::new(1, u64::MAX, 5),
        Err(RegistryError::Histogram(
            ConfigError::HistogramTooLarge { .. }
        ))
    ));
    let ok = HistogramOpts::new(1, 1_000, 2).unwrap();
    for scale in [0.0, -1.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        match ok.scale(scale) {
            Err(RegistryError::InvalidScale(s)) => {
                assert!(s.to_bits() == scale.to_bits());
            }
            other => panic!("scale {scale}: {other:?}"),
        }
    }
    assert_eq!(ok.scale(5e-324).unwrap().get_scale(), 5e-324);
    assert!(!RegistryError::InvalidScale(0.0).to_string().is_empty());
}

// ---------------------------------------------------------------------------
// Arbitrary strings.

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// Strings near the rules' edges as often as anywhere.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_:]{1,2}[a-z0-9_:]{0,3}",
        2 => "[a-z_]{1,3}",
        1 => "__[a-z]{0,2}",
        1 => "[0-9\\-. :_]{0,3}",
        1 => any::<String>(),
        1 => "\\PC{0,4}",
    ]
}

/// A series' name and labels, sorted.
type Key = (String, Vec<(String, String)>);

#[derive(Clone, Debug)]
struct Lookup {
    kind: u8,
    name: String,
    labels: Vec<(String, String)>,
}

fn lookups() -> impl Strategy<Value = Vec<Lookup>> {
    let lookup = (
        0..3_u8,
        text(),
        prop::collection::vec((text(), any::<String>()), 0..4),
    )
        .prop_map(|(kind, name, labels)| Lookup { kind, name, labels });
    prop::collection::vec(lookup, 1..12)
}

/// Looks `l` up; the error the rules predict, or a series.
fn check_lookup(
    r: &Registry,
    l: &Lookup,
    kinds: &mut BTreeMap<String, Kind>,
    series: &mut BTreeMap<Key, Kind>,
) -> Result<(), TestCaseError> {
    let labels: Vec<(&str, &str)> = l
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let kind = [Kind::Counter, Kind::Gauge, Kind::Histogram][usize::from(l.kind)];
    let got = match kind {
        Kind::Counter => r.counter(&l.name, &labels).map(drop),
        Kind::Gauge => r.gauge(&l.name, &labels).map(drop),
        Kind::Histogram => r.histogram(&l.name, &labels).map(drop),
    };
    let mut sorted = l.labels.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let duplicated: Vec<&str> = sorted
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[0].0.as_str())
        .collect();
    let ctx = format!("{l:?}: {got:?}");
    match got {
        Err(RegistryError::InvalidName(n)) => {
            prop_assert!(!valid_name(&l.name) && n == l.name, "{}", ctx);
        }
        Err(RegistryError::InvalidLabelName(n)) => {
            prop_assert!(valid_name(&l.name), "{}", ctx);
            prop_assert!(!valid_label(&n), "{}", ctx);
            prop_assert!(l.labels.iter().any(|(k, _)| *k == n), "{}", ctx);
        }
        Err(RegistryError::DuplicateLabel(n)) => {
            prop_assert!(valid_name(&l.name), "{}", ctx);
            prop_assert!(l.labels.iter().all(|(k, _)| valid_label(k)), "{}", ctx);
            prop_assert!(duplicated.contains(&n.as_str()), "{}", ctx);
        }
        Err(RegistryError::KindMismatch {
            name,
            existing,
            requested,
        }) => {
            prop_assert!(duplicated.is_empty(), "{}", ctx);
            prop_assert_eq!(&name, &l.name);
            prop_assert_eq!(requested, kind);
            prop_assert_eq!(kinds.get(&name), Some(&existing), "{}", ctx);
            prop_assert!(existing != kind, "{}", ctx);
        }
        Err(e) => prop_assert!(false, "unexpected {:?}: {}", e, ctx),
        Ok(()) => {
            prop_assert!(valid_name(&l.name), "{}", ctx);
            prop_assert!(l.labels.iter().all(|(k, _)| valid_label(k)), "{}", ctx);
            prop_assert!(duplicated.is_empty(), "{}", ctx);
            prop_assert!(kinds.get(&l.name).is_none_or(|k| *k == kind), "{}", ctx);
            kinds.insert(l.name.clone(), kind);
            series.insert((l.name.clone(), sorted), kind);
        }
    }
    Ok(())
}

fn cases() -> u32 {
    cases::cases("REGISTRY_FUZZ_CASES", 256)
}

proptest! {
    #![proptest_config(cases::config(cases()))]

    /// Arbitrary names, labels and values: the predicted error or a series
    /// found under exactly that key; the snapshot holds exactly the series
    /// made, sorted, and nothing else.
    #[test]
    fn arbitrary_keys(ls in lookups()) {
        let r = Registry::new();
        let mut kinds = BTreeMap::new();
        let mut series = BTreeMap::new();
        for l in &ls {
            check_lookup(&r, l, &mut kinds, &mut series)?;
        }
        let s = r.snapshot();
        let got: Vec<Key> = s
            .iter()
            .map(|s| {
                // Display never panics, whatever the values hold.
                let _ = s.key.to_string();
                let labels = s.key.labels().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                (s.key.name().to_string(), labels)
            })
            .collect();
        let want: Vec<_> = series.keys().cloned().collect();
        prop_assert_eq!(got, want);
        for ((name, labels), kind) in &series {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let found = s.get(name, &labels);
            prop_assert_eq!(found.map(|f| f.value.kind()), Some(*kind));
        }
        prop_assert_eq!(r.stats().series, series.len());
    }

    /// Whatever the sanitisers return is accepted; valid names come back
    /// unchanged, and sanitising twice changes nothing more.
    #[test]
    fn sanitised_names_are_accepted(name in text(), label in text(), value in any::<String>()) {
        let r = Registry::new();
        let n = sanitize_name(&name);
        let l = sanitize_label_name(&label);
        prop_assert!(valid_name(&n), "{:?} -> {:?}", name, n);
        prop_assert!(valid_label(&l), "{:?} -> {:?}", label, l);
        prop_assert_eq!(sanitize_name(&n), n.clone());
        prop_assert_eq!(sanitize_label_name(&l), l.clone());
        if valid_name(&name) {
            prop_assert_eq!(&*n, name.as_str());
        }
        if valid_label(&label) {
            prop_assert_eq!(&*l, label.as_str());
        }
        let c = r.counter(&n, &[(&l, &value)]);
        prop_assert!(c.is_ok(), "{:?}", c);
        c.unwrap().increment(1);
        let f = r.gauge_family(&format!("{n}_g"), &[&l]);
        prop_assert!(f.is_ok(), "{:?}", f);
        f.unwrap().with(&[&value]).unwrap().set(1.0);
        let s = r.snapshot();
        prop_assert_eq!(s.get(&n, &[(&l, &value)]).map(|s| s.value.clone()), Some(Value::Counter(1)));
        prop_assert_eq!(s.len(), 2);
    }

    /// Histogram options are accepted exactly when `hdrhistogram` accepts
    /// them within the crate's counter limit; accepted ones record edge
    /// values exactly.
    #[test]
    fn arbitrary_histogram_options(
        low in prop_oneof![Just(0_u64), 1..4_u64, any::<u64>(), (0..64_u32).prop_map(|s| 1_u64 << s)],
        high in prop_oneof![any::<u64>(), (0..64_u32).prop_map(|s| (1_u64 << s).wrapping_sub(1)), 0..10_000_u64],
        digits in prop_oneof![0..=5_u8, any::<u8>()],
        scale in prop_oneof![any::<f64>(), 1e-3..1e12_f64],
        xs in prop::collection::vec(prop_oneof![any::<f64>(), -10.0..1e7_f64], 0..8),
        vs in prop::collection::vec(any::<u64>(), 0..8),
    ) {
        let hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(low, high, digits);
        let accepted = digits <= 5
            && hdr.as_ref().is_ok_and(|h| h.distinct_values() <= MAX_HISTOGRAM_COUNTERS);
        let opts = HistogramOpts::new(low, high, digits);
        prop_assert_eq!(opts.is_ok(), accepted, "{:?}", opts);
        let Ok(opts) = opts else {
            prop_assert!(matches!(opts, Err(RegistryError::Histogram(_))));
            return Ok(());
        };
        prop_assert_eq!((opts.lowest(), opts.highest(), opts.digits()), (low, high, digits));
        let opts = match opts.scale(scale) {
            Ok(o) => {
                prop_assert!(scale.is_finite() && scale > 0.0);
                o
            }
            Err(e) => {
                prop_assert!(!(scale.is_finite() && scale > 0.0));
                prop_assert!(matches!(e, RegistryError::InvalidScale(_)));
                opts
            }
        };
        let r = Registry::new();
        let h = r.histogram_with("h", &[], opts).unwrap();
        let mut fed = Fed::default();
        let mut recorded = Vec::new();
        for &x in &xs {
            h.record_f64(x);
            match f64_rule(x, opts.get_scale()) {
                Some(v) => {
                    fed.record_n(high, v, 1);
                    recorded.push(v);
                }
                None => fed.rejected += 1,
            }
        }
        for &v in vs.iter().chain(&[0, u64::MAX, high, low]) {
            h.record(v);
            fed.record_n(high, v, 1);
            recorded.push(v);
        }
        let s = r.snapshot();
        let v = s.get("h", &[]).unwrap().as_histogram().unwrap();
        let got = Fed { count: v.count(), sum: v.sum(), clamped: v.clamped(), rejected: v.rejected() };
        // The sum is exact while the samples' buckets leave less than 2^63
        // of doubt (half their widths summed: `lockfree::readout`), which
        // only 0 and 1 digit histograms of values near 2^64 exceed here.
        let hdr = hdr.unwrap();
        let doubt: u128 = recorded
            .iter()
            .map(|&v| u128::from(hdr.equivalent_range(v.min(high))) / 2)
            .sum();
        if doubt >= 1 << 63 {
            prop_assert_eq!(
                Fed { sum: 0, ..got },
                Fed { sum: 0, ..fed }
            );
        } else {
            prop_assert_eq!(got, fed);
        }
        prop_assert_eq!(v.buckets().map(|b| b.count).sum::<u64>(), v.count());
        for q in [0.0, 0.5, 0.99, 1.0] {
            let at = v.quantile(q);
            prop_assert!(at >= v.min() && at <= v.max(), "q {}: {} outside {}..={}", q, at, v.min(), v.max());
        }
    }
}
