//! The OTLP encoding without a receiver: the documented error bound of the
//! exponential buckets, property-tested; typed errors for bad settings.
//! (Field-by-field decoding by an independent decoder is in
//! `tests/export/otlp_python.rs`; a real receiver in `tests/export/otlp_victoriametrics.rs`.)
#![cfg(feature = "otlp")]

use std::time::SystemTime;

use lockfree_metrics::{
    export::otlp::{
        encode_snapshot, proto::metrics::v1::metric::Data, relative_error, HistogramMode,
        OtlpError, OtlpOpts, PushBuilder, Temporality,
    },
    registry::{HistogramOpts, Registry},
};
use proptest::prelude::*;

/// The `q` quantile's exponential bucket, `(lower, upper]` in the exported
/// unit: where the running count (zero bucket first) reaches `ceil(q n)`.
fn quantile_bucket(
    zero: u64,
    scale: i32,
    offset: i32,
    counts: &[u64],
    q: f64,
) -> Option<(f64, f64)> {
    let n = zero + counts.iter().sum::<u64>();
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    if zero >= rank {
        return Some((0.0, 0.0));
    }
    let mut running = zero;
    let base = 2_f64.powf(2_f64.powi(-scale));
    for (j, &c) in counts.iter().enumerate() {
        running += c;
        if running >= rank {
            let i = offset + j as i32;
            return Some((base.powi(i), base.powi(i + 1)));
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any value inside the quantile's exponential bucket (both ends
    /// included) lies within `relative_error(scale)` of the registry's own
    /// HDR quantile, at every precision the registry offers.
    #[test]
    fn quantiles_from_the_buckets_are_within_the_documented_error(
        digits in 0..=5_u8,
        values in prop::collection::vec(prop_oneof![0..100_u64, 0..1_000_000_u64, 0..3_600_000_000_000_u64], 1..200),
        qs in prop::collection::vec(0.0..=1.0_f64, 1..5),
    ) {
        let registry = Registry::new();
        let opts = HistogramOpts::new(1, 3_600_000_000_000, digits).unwrap();
        let h = registry.histogram_with("h_seconds", &[], opts).unwrap();
        for v in &values {
            h.record(*v);
        }
        let snapshot = registry.snapshot();
        let hv = snapshot.get("h_seconds", &[]).unwrap().as_histogram().unwrap();
        let request = encode_snapshot(&snapshot, Temporality::Cumulative, SystemTime::UNIX_EPOCH, SystemTime::now(), &OtlpOpts::default());
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::ExponentialHistogram(e)) = &metric.data else { panic!("{metric:?}") };
        let p = &e.data_points[0];
        let positive = p.positive.as_ref().unwrap();
        prop_assert_eq!(p.count, p.zero_count + positive.bucket_counts.iter().sum::<u64>());
        let bound = relative_error(p.scale);
        for &q in &qs {
            let own = hv.quantile(q) as f64 / 1e9;
            let (lo, hi) = quantile_bucket(p.zero_count, p.scale, positive.offset, &positive.bucket_counts, q).unwrap();
            if q == 0.0 {
                // The registry's q = 0 is the lowest sample's bucket floor,
                // not a bucket top: it is in the first bucket or below it.
                prop_assert!(own <= hi, "q 0: {} above ({}, {}]", own, lo, hi);
                continue;
            }
            for est in [lo, hi] {
                prop_assert!((est - own).abs() <= bound * own * (1.0 + 1e-12),
                    "q {}: bucket ({}, {}] vs the registry's {} (bound {})", q, lo, hi, own, bound);
            }
        }
    }
}

#[test]
fn bad_settings_are_typed_errors() {
    assert_eq!(
        OtlpOpts::default()
            .histograms(HistogramMode::Explicit(vec![1.0, 1.0]))
            .unwrap_err(),
        OtlpError::InvalidBounds(vec![1.0, 1.0])
    );
    assert!(matches!(
        OtlpOpts::default().histograms_for("x", HistogramMode::Explicit(vec![f64::NAN])),
        Err(OtlpError::InvalidBounds(_))
    ));
    for bad in [
        "https://example.invalid/v1/metrics",
        "127.0.0.1:4318",
        "http://",
        "http:///v1",
    ] {
        assert!(
            matches!(PushBuilder::new(bad), Err(OtlpError::InvalidEndpoint(_))),
            "{bad}"
        );
    }
    let encoder = || lockfree_metrics::export::otlp::Encoder::new(OtlpOpts::default());
    let b = PushBuilder::new("http://127.0.0.1:9/v1/metrics").unwrap();
    assert!(matches!(
        b.clone()
            .interval(std::time::Duration::ZERO)
            .start(encoder()),
        Err(OtlpError::InvalidSetting(_))
    ));
    assert!(matches!(
        b.clone().max_pending(0).start(encoder()),
        Err(OtlpError::InvalidSetting(_))
    ));
}

/// Nothing listens: the exporter keeps its bound, counts its drops, and
/// its shutdown returns within the bounded time.
#[test]
fn no_receiver_bounded_memory_and_shutdown() {
    use std::time::{Duration, Instant};
    let registry = Registry::new();
    registry.counter("c_total", &[]).unwrap().increment(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // a closed port: connections are refused
    let exporter = PushBuilder::new(&format!("http://127.0.0.1:{port}/v1/metrics"))
        .unwrap()
        .interval(Duration::from_secs(3600))
        .max_pending(3)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .shutdown_timeout(Duration::from_millis(300))
        .start(
            lockfree_metrics::export::otlp::Encoder::new(OtlpOpts::default())
                .registry(&registry, Temporality::Delta),
        )
        .unwrap();
    for i in 1..=10 {
        exporter.push_now();
        let deadline = Instant::now() + Duration::from_secs(10);
        while exporter.stats().encoded < i {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(exporter.stats().pending <= 3);
    }
    let t = Instant::now();
    let s = exporter.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // 10 readings + the final one, none sent: all dropped, counted.
    assert_eq!(
        (s.sent, s.encoded, s.dropped, s.pending),
        (0, 11, 11, 0),
        "{s:?}"
    );
    assert!(s.retried >= 1);
}

/// A receiver that takes connections and never answers: each request ends
/// at the request timeout, and shutdown returns within the request timeout
/// plus the shutdown timeout, its batches counted as dropped.
#[test]
fn a_silent_receiver_cannot_hold_shutdown() {
    use std::time::{Duration, Instant};
    // Bound but never accepted: the kernel completes the handshake, and the
    // request waits for an answer that never comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let registry = Registry::new();
    registry.gauge("g", &[]).unwrap().set(1.0);
    let exporter = PushBuilder::new(&format!("http://127.0.0.1:{port}/v1/metrics"))
        .unwrap()
        .interval(Duration::from_secs(3600))
        .timeout(Duration::from_millis(300))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .shutdown_timeout(Duration::from_millis(400))
        .start(
            lockfree_metrics::export::otlp::Encoder::new(OtlpOpts::default())
                .registry(&registry, Temporality::Cumulative),
        )
        .unwrap();
    exporter.push_now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.stats().retried == 0 {
        assert!(Instant::now() < deadline, "{:?}", exporter.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    let s = exporter.shutdown();
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(300 + 400 + 600),
        "shutdown took {took:?}"
    );
    assert_eq!((s.sent, s.pending), (0, 0), "{s:?}");
    assert!(s.dropped >= 1, "{s:?}");
    drop(listener);
}
