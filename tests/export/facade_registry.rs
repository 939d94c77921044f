//! The facade recorder against the registry's rules (issue 21, items 12,
//! 16 and 17): a histogram name's scale belongs to the registry, not to
//! one recorder; a label set folded into a name's overflow series shares
//! its options (and the facade, one scale per name, never clashes there);
//! and a thread's cache never keeps sending a label set to the overflow
//! series once the limit is raised.
#![cfg(feature = "facade")]

use lockfree_metrics::registry::{HistogramOpts, Registry, RegistryError, Value};
use metrics::{counter, describe_histogram, histogram, Unit};

/// Item 12: two recorders of one registry, the name described through
/// only one, give every label set the described scale, whichever recorder
/// registers it first.
#[test]
fn a_histogram_names_unit_belongs_to_the_registry() {
    let registry = Registry::new();
    let (a, b) = (registry.recorder(), registry.recorder());
    metrics::with_local_recorder(&a, || {
        describe_histogram!("req.time", Unit::Milliseconds, "Request time.");
    });
    // The other recorder registers the first series.
    metrics::with_local_recorder(&b, || histogram!("req.time", "route" => "b").record(2.0));
    metrics::with_local_recorder(&a, || histogram!("req.time", "route" => "a").record(2.0));
    let snapshot = registry.snapshot();
    for route in ["a", "b"] {
        let h = snapshot
            .get("req_time", &[("route", route)])
            .and_then(|s| s.as_histogram())
            .unwrap_or_else(|| panic!("no req_time{{route={route}}}"));
        assert_eq!(h.opts().get_scale(), 1e6, "route {route}: scale");
        assert_eq!(h.sum(), 2_000_000, "route {route}: 2 ms in ns");
        assert_eq!(h.sum_scaled(), 2.0, "route {route}: in the described unit");
    }
    // Described through `b` after `a` registered: the name's scale stays.
    metrics::with_local_recorder(&b, || {
        describe_histogram!("req.time", Unit::Seconds, "Request time.");
        histogram!("req.time", "route" => "c").record(2.0);
    });
    let snapshot = registry.snapshot();
    let c = snapshot
        .get("req_time", &[("route", "c")])
        .and_then(|s| s.as_histogram())
        .unwrap();
    assert_eq!(c.opts().get_scale(), 1e6);
}

/// Item 16 (the rule): a label set folded into the overflow series shares
/// its options, which the first folded label set gave it; a folded lookup
/// with other options is refused with `OptionsMismatch` naming the
/// overflow series, and one with the same options records there.
#[test]
fn a_folded_histogram_shares_the_overflow_series_options() {
    let registry = Registry::new();
    registry.set_series_limit("h_seconds", 1);
    let ns = registry.default_histogram_opts();
    let bytes = HistogramOpts::new(1, 1 << 30, 2)
        .unwrap()
        .scale(1.0)
        .unwrap();
    registry
        .histogram_with("h_seconds", &[("k", "1")], ns)
        .unwrap()
        .record(5);
    // Folded: the overflow series is made with these options.
    registry
        .histogram_with("h_seconds", &[("k", "2")], ns)
        .unwrap()
        .record(7);
    match registry.histogram_with("h_seconds", &[("k", "3")], bytes) {
        Err(RegistryError::OptionsMismatch(key)) => {
            assert!(
                key.contains("overflow=\"true\""),
                "names the overflow: {key}"
            );
        }
        other => panic!("a folded lookup with other options: {other:?}"),
    }
    registry
        .histogram_with("h_seconds", &[("k", "4")], ns)
        .unwrap()
        .record(9);
    let snapshot = registry.snapshot();
    let overflow = snapshot
        .get("h_seconds", &[("overflow", "true")])
        .and_then(|s| s.as_histogram())
        .unwrap();
    assert_eq!((overflow.count(), overflow.sum()), (2, 16));
    // Through the facade a name has one scale, so its folded label sets
    // never clash.
    let recorder = registry.recorder();
    registry.set_series_limit("f_bytes", 1);
    metrics::with_local_recorder(&recorder, || {
        describe_histogram!("f.bytes", Unit::Bytes, "Sizes.");
        for k in ["1", "2", "3"] {
            histogram!("f.bytes", "k" => k).record(100.0);
        }
    });
    assert_eq!(recorder.stats().failed, 0, "{:?}", recorder.last_error());
    let snapshot = registry.snapshot();
    let folded = snapshot
        .get("f_bytes", &[("overflow", "true")])
        .and_then(|s| s.as_histogram())
        .unwrap();
    assert_eq!((folded.count(), folded.sum()), (2, 200));
}

/// Item 17: a thread that met the limit for a label set records it into
/// its own series once the limit is raised, as every other thread does.
#[test]
fn a_raised_limit_reaches_threads_that_folded_before() {
    let registry = Registry::new();
    registry.set_series_limit("jobs", 1);
    let recorder = registry.recorder();
    metrics::with_local_recorder(&recorder, || {
        counter!("jobs", "k" => "1").increment(1);
        counter!("jobs", "k" => "2").increment(1);
    });
    let jobs = |labels: &[(&str, &str)]| match registry.snapshot().get("jobs", labels) {
        Some(s) => match s.value {
            Value::Counter(n) => n,
            ref v => panic!("{v:?}"),
        },
        None => 0,
    };
    assert_eq!(jobs(&[("overflow", "true")]), 1);
    registry.set_series_limit("jobs", 10);
    metrics::with_local_recorder(&recorder, || {
        counter!("jobs", "k" => "2").increment(1);
        histogram!("sizes", "k" => "2").record(1.0);
    });
    assert_eq!(jobs(&[("k", "2")]), 1, "recorded into its own series");
    assert_eq!(jobs(&[("overflow", "true")]), 1);
}
