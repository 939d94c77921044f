//! Properties every snapshot must have, and snapshot comparison against the
//! oracle. Shared by several test crates, each using a part of it.

use lockfree_metrics::Snapshot;

/// Checks the consistency every snapshot owes its reader, concurrent or
/// not.
pub(crate) fn check(s: &Snapshot) {
    let l = &s.latency;
    if l.count > 0 {
        assert!(
            l.min <= l.p50
                && l.p50 <= l.p95
                && l.p95 <= l.p99
                && l.p99 <= l.p999
                && l.p999 <= l.max,
            "latency percentiles out of order: {l:?}"
        );
        assert!(
            l.min <= l.mean && l.mean <= l.max,
            "latency mean outside [min, max]: {l:?}"
        );
    } else {
        assert_eq!(
            l.max,
            std::time::Duration::ZERO,
            "empty latency with a max: {l:?}"
        );
    }

    for w in &s.throughput.windows {
        for rate in [w.tokens_per_sec, w.requests_per_sec] {
            assert!(rate.is_finite() && rate >= 0.0, "bad rate in {w:?}");
        }
    }
    for pair in s.throughput.windows.windows(2) {
        assert!(pair[0].window < pair[1].window, "windows not sorted");
        assert!(
            pair[0].tokens <= pair[1].tokens && pair[0].requests <= pair[1].requests,
            "a longer window holds less than a shorter one: {pair:?}"
        );
    }

    let b = &s.batch;
    let dist_total: u64 = b.distribution.values().sum();
    assert_eq!(
        b.count, dist_total,
        "batch count differs from its distribution"
    );
    assert!(
        b.distribution.values().all(|&n| n > 0),
        "zero entries in distribution"
    );
    if b.count > 0 {
        assert_eq!(b.min, *b.distribution.keys().next().unwrap());
        assert_eq!(b.max, *b.distribution.keys().next_back().unwrap());
        assert!(
            b.min as f64 <= b.mean && b.mean <= b.max as f64,
            "batch mean: {b:?}"
        );
    } else {
        assert_eq!((b.min, b.max, b.mean), (0, 0, 0.0));
    }

    let q = &s.queue_depth;
    if q.count > 0 {
        assert!(q.mean >= 0.0 && q.mean <= q.max as f64, "queue mean: {q:?}");
    } else {
        assert_eq!((q.max, q.mean), (0, 0.0));
    }

    let m = &s.mode;
    assert!(
        m.recent.len() as u64 <= m.transitions,
        "log longer than the count: {m:?}"
    );
    for pair in m.recent.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "log out of order: {m:?}");
        assert!(pair[0].at <= pair[1].at, "log times go back: {m:?}");
    }
    for t in &m.recent {
        assert_ne!(t.from, Some(t.to), "a transition to the same mode: {t:?}");
    }
}

/// Checks what only holds once recording has stopped.
pub(crate) fn check_quiescent(s: &Snapshot) {
    check(s);
    assert!(s.batch.current.is_none() || s.batch.count > 0);
    assert!(s.queue_depth.current.is_none() || s.queue_depth.count > 0);
    if let (Some(last), Some(current)) = (s.mode.recent.last(), s.mode.current) {
        assert_eq!(
            last.to, current,
            "the last transition is not to the current mode"
        );
    }
}

/// Asserts two snapshots of the same history agree: exactly, except the
/// floating-point means and rates, which may differ in the last bits from
/// summing in another order.
pub(crate) fn assert_same(actual: &Snapshot, oracle: &Snapshot, context: &str) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let mut a = actual.clone();
    let mut o = oracle.clone();
    assert!(
        a.latency.mean.abs_diff(o.latency.mean).as_nanos() <= 1,
        "{context}: latency mean {:?} vs {:?}",
        a.latency.mean,
        o.latency.mean
    );
    assert!(
        close(a.queue_depth.mean, o.queue_depth.mean),
        "{context}: queue mean"
    );
    assert!(close(a.batch.mean, o.batch.mean), "{context}: batch mean");
    a.latency.mean = o.latency.mean;
    a.queue_depth.mean = o.queue_depth.mean;
    a.batch.mean = o.batch.mean;
    for (wa, wo) in a
        .throughput
        .windows
        .iter_mut()
        .zip(&mut o.throughput.windows)
    {
        assert!(
            close(wa.tokens_per_sec, wo.tokens_per_sec),
            "{context}: rate"
        );
        wa.tokens_per_sec = wo.tokens_per_sec;
        wa.requests_per_sec = wo.requests_per_sec;
    }
    assert_eq!(a, o, "{context}");
}
