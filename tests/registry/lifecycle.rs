//! The registry's lifecycle (`lockfree_metrics::registry`): removal,
//! idle eviction, family caches and cardinality limits.
//!
//! - **Removal.** `remove` drops a series no handle holds
//!   (`Removal::Dropped`: gone from snapshots and `stats()`, and a later
//!   lookup starts it again at zero) and hides one a handle holds
//!   (`Removal::Hidden`): left out of snapshots until a record changes its
//!   value, when it shows again with its cumulative value, or until a
//!   lookup wants it. A write that leaves the value as it was (a gauge set
//!   to its value, `increment(0)`) keeps it hidden.
//! - **Idle eviction** (metrics#314). With `RegistryBuilder::idle_timeout`
//!   (20 ms here), series unchanged for the timeout are evicted at
//!   snapshots: dropped if no handle holds them (`Stats::removed` and
//!   `Stats::evicted`), hidden otherwise; a handle kept across an eviction
//!   keeps counting, and its series reappears with its cumulative value,
//!   and an interval reader counts what it recorded once. Series recorded
//!   between snapshots are never evicted. Every wait is bounded.
//! - **Family caches** do not keep series alive: once the handles a
//!   family gave out are dropped, removing (or evicting) the series drops
//!   it, also after many lookups (the cache's lock-free published map),
//!   and also after the family itself is dropped; the family's next lookup
//!   makes a new series.
//! - **Cardinality.** Past a name's limit (`max_series_per_name`,
//!   `set_series_limit`), new label sets, through families or direct
//!   lookups, fold into the name's `overflow="true"` series; each such
//!   lookup is counted in `Stats::folded` (folded label sets are not
//!   cached, so every lookup counts), records through folded handles land
//!   in the overflow series, existing series keep theirs, other names are
//!   unaffected, and raising the limit lets new label sets have their own
//!   series again.
//! - **Timers** record their lifetime when dropped or stopped, nothing
//!   when discarded.

use std::{
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::{HistogramOpts, Registry, Removal, Value, OVERFLOW_LABEL};

fn counter_value(r: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    r.snapshot().get(name, labels).map(|s| match s.value {
        Value::Counter(v) => v,
        ref v => panic!("{name}: {v:?}"),
    })
}

// ---------------------------------------------------------------------------
// Removal.

#[test]
fn remove_drops_unhandled_series_and_hides_handled_ones() {
    let r = Registry::new();
    let c = r.counter("jobs_total", &[("q", "a")]).unwrap();
    c.increment(5);
    assert_eq!(
        r.remove("jobs_total", &[("q", "a")]).unwrap(),
        Removal::Hidden
    );
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), None);
    assert_eq!((r.stats().series, r.stats().hidden), (1, 1));
    // Recording without changing the value keeps it hidden.
    c.increment(0);
    c.absolute(3);
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), None);
    // A record shows it, with everything it counted.
    c.increment(1);
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), Some(6));
    assert_eq!(r.stats().hidden, 0);
    // Shown for good: no further record needed.
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), Some(6));

    // Hidden again, then wanted by a lookup: shown without a record.
    assert_eq!(
        r.remove("jobs_total", &[("q", "a")]).unwrap(),
        Removal::Hidden
    );
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), None);
    let again = r.counter("jobs_total", &[("q", "a")]).unwrap();
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), Some(6));
    assert_eq!(again.get(), 6);

    // No handle: dropped, and a lookup starts over.
    drop((c, again));
    assert_eq!(
        r.remove("jobs_total", &[("q", "a")]).unwrap(),
        Removal::Dropped
    );
    assert_eq!(
        r.remove("jobs_total", &[("q", "a")]).unwrap(),
        Removal::Absent
    );
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), None);
    let s = r.stats();
    assert_eq!(
        (s.series, s.hidden, s.created, s.removed, s.evicted),
        (0, 0, 1, 1, 0)
    );
    let fresh = r.counter("jobs_total", &[("q", "a")]).unwrap();
    assert_eq!(fresh.get(), 0);
    assert_eq!(counter_value(&r, "jobs_total", &[("q", "a")]), Some(0));
    assert_eq!(r.stats().created, 2);
    // Other labels of the name were never concerned.
    assert_eq!(
        r.remove("jobs_total", &[("q", "b")]).unwrap(),
        Removal::Absent
    );
}

#[test]
fn hidden_gauges_and_histograms_show_when_their_value_changes() {
    let r = Registry::new();
    let g = r.gauge("depth", &[]).unwrap();
    let h = r
        .histogram_with("size", &[], HistogramOpts::new(1, 1_000, 2).unwrap())
        .unwrap();
    g.set(4.0);
    h.record(10);
    assert_eq!(r.remove("depth", &[]).unwrap(), Removal::Hidden);
    assert_eq!(r.remove("size", &[]).unwrap(), Removal::Hidden);
    g.set(4.0);
    h.record_n(10, 0);
    assert!(r.snapshot().is_empty());
    g.add(1.0);
    h.record(20);
    let s = r.snapshot();
    assert_eq!(s.get("depth", &[]).unwrap().value, Value::Gauge(5.0));
    let v = s.get("size", &[]).unwrap().as_histogram().unwrap();
    assert_eq!((v.count(), v.sum()), (2, 30));
    // A value changed and changed back between two readings: still hidden.
    assert_eq!(r.remove("depth", &[]).unwrap(), Removal::Hidden);
    g.set(7.0);
    g.set(5.0);
    assert!(r.snapshot().get("depth", &[]).is_none());
    assert_eq!(r.stats().hidden, 1);
}

#[test]
fn a_handle_from_a_hidden_series_is_the_same_series() {
    let r = Registry::new();
    let a = r.counter("same_total", &[]).unwrap();
    a.increment(2);
    assert_eq!(r.remove("same_total", &[]).unwrap(), Removal::Hidden);
    let b = r.counter("same_total", &[]).unwrap();
    b.increment(3);
    assert_eq!((a.get(), b.get()), (5, 5));
    assert_eq!(r.stats().series, 1);
}

// ---------------------------------------------------------------------------
// Idle eviction.

const IDLE: Duration = Duration::from_millis(20);
/// The longest any wait below may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// Takes snapshots (each sweeps) every few milliseconds, calling `tick`
/// before each, until `done`; panics past the deadline.
fn sweep_until(r: &Registry, mut tick: impl FnMut(), done: impl Fn(&Registry) -> bool, what: &str) {
    let started = Instant::now();
    loop {
        tick();
        r.snapshot();
        if done(r) {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: {:?}", r.stats());
        thread::sleep(IDLE / 4);
    }
}

#[test]
fn idle_eviction_keeps_handles_counting() {
    let r = Registry::builder().idle_timeout(IDLE).build();
    let mut reader = r.interval_reader();
    let kept = r.counter("kept_total", &[]).unwrap();
    kept.increment(5);
    r.counter("unhandled_total", &[]).unwrap().increment(7);
    let busy = r.counter("busy_total", &[]).unwrap();
    let take = |reader: &mut lockfree_metrics::registry::IntervalReader, name: &str| {
        reader.take().get(name, &[]).map(|s| s.value.clone())
    };
    assert_eq!(take(&mut reader, "kept_total"), Some(Value::Counter(5)));

    // Both idle ones go: the unhandled one dropped, the kept one hidden;
    // the busy one, recorded before every sweep, stays.
    sweep_until(
        &r,
        || busy.increment(1),
        |r| {
            let s = r.stats();
            s.evicted == 1 && s.hidden == 1
        },
        "eviction",
    );
    let s = r.snapshot();
    assert!(s.get("kept_total", &[]).is_none());
    assert!(s.get("unhandled_total", &[]).is_none());
    assert!(s.get("busy_total", &[]).is_some());
    let stats = r.stats();
    assert_eq!((stats.series, stats.removed, stats.evicted), (2, 1, 1));
    assert_eq!(take(&mut reader, "kept_total"), None);

    // The kept handle keeps counting: its series reappears with its
    // cumulative value, and the reader counts only what is new.
    kept.increment(1);
    assert_eq!(
        r.snapshot().get("kept_total", &[]).unwrap().value,
        Value::Counter(6)
    );
    assert_eq!(take(&mut reader, "kept_total"), Some(Value::Counter(1)));
    // The unhandled one was dropped: a lookup starts it at zero.
    assert_eq!(r.counter("unhandled_total", &[]).unwrap().get(), 0);

    // Once its handle is dropped, the kept one is evicted for good (as is
    // the unhandled one again).
    drop(kept);
    sweep_until(
        &r,
        || busy.increment(1),
        |r| r.stats().series == 1,
        "eviction of the released series",
    );
    let stats = r.stats();
    assert_eq!((stats.hidden, stats.removed, stats.evicted), (0, 3, 3));
    let s = r.snapshot();
    assert_eq!(s.len(), 1);
    assert!(s.get("busy_total", &[]).is_some());
}

#[test]
fn evict_idle_without_a_timeout_does_nothing() {
    let r = Registry::new();
    drop(r.counter("a_total", &[]).unwrap());
    thread::sleep(Duration::from_millis(5));
    assert_eq!(r.evict_idle(), 0);
    assert_eq!(r.stats().series, 1);
}

#[test]
fn evict_idle_reports_what_it_dropped() {
    let r = Registry::builder().idle_timeout(IDLE).build();
    for i in 0..3 {
        drop(r.gauge("g", &[("i", &i.to_string())]).unwrap());
    }
    let _held = r.gauge("g", &[("i", "held")]).unwrap();
    let started = Instant::now();
    let mut dropped = 0;
    while dropped < 3 {
        dropped += r.evict_idle();
        assert!(started.elapsed() < DEADLINE, "{:?}", r.stats());
        thread::sleep(IDLE / 4);
    }
    assert_eq!(dropped, 3);
    let s = r.stats();
    assert_eq!((s.series, s.hidden, s.evicted), (1, 1, 3));
}

// ---------------------------------------------------------------------------
// Family caches.

#[test]
fn family_caches_do_not_keep_removed_series_alive() {
    let r = Registry::new();
    let f = r.counter_family("hits_total", &["route"]).unwrap();
    let routes: Vec<String> = (0..40).map(|i| format!("/{i}")).collect();
    // Many lookups of each: the cache publishes them all.
    for _ in 0..4 {
        for route in &routes {
            f.with(&[route]).unwrap().increment(1);
        }
    }
    for route in &routes {
        assert_eq!(
            r.remove("hits_total", &[("route", route)]).unwrap(),
            Removal::Dropped,
            "{route}"
        );
    }
    assert_eq!(r.stats().series, 0);
    // The family makes new series, from zero.
    let fresh = f.with(&["/0"]).unwrap();
    assert_eq!(fresh.get(), 0);
    assert_eq!(r.stats().created, 41);

    // A handle from the family: hidden; the family's next lookup shows it.
    fresh.increment(2);
    for _ in 0..20 {
        f.with(&["/0"]).unwrap();
    }
    assert_eq!(
        r.remove("hits_total", &[("route", "/0")]).unwrap(),
        Removal::Hidden
    );
    assert!(r.snapshot().get("hits_total", &[("route", "/0")]).is_none());
    assert_eq!(f.with(&["/0"]).unwrap().get(), 2);
    assert_eq!(
        r.snapshot()
            .get("hits_total", &[("route", "/0")])
            .unwrap()
            .value,
        Value::Counter(2)
    );
    drop(fresh);
    assert_eq!(
        r.remove("hits_total", &[("route", "/0")]).unwrap(),
        Removal::Dropped
    );
}

#[test]
fn a_dropped_family_keeps_nothing_alive() {
    let r = Registry::new();
    {
        let f = r
            .histogram_family(
                "latency",
                &["op"],
                Some(HistogramOpts::new(1, 1_000, 1).unwrap()),
            )
            .unwrap();
        for i in 0..40 {
            for _ in 0..3 {
                f.with(&[&i.to_string()]).unwrap().record(i);
            }
        }
    }
    for i in 0..40 {
        assert_eq!(
            r.remove("latency", &[("op", &i.to_string())]).unwrap(),
            Removal::Dropped,
            "{i}"
        );
    }
    assert_eq!(r.stats().series, 0);
}

#[test]
fn idle_eviction_drops_family_cached_series() {
    let r = Registry::builder().idle_timeout(IDLE).build();
    let f = r.counter_family("cached_total", &["k"]).unwrap();
    for i in 0..30 {
        for _ in 0..3 {
            f.with(&[&i.to_string()]).unwrap().increment(1);
        }
    }
    sweep_until(
        &r,
        || {},
        |r| r.stats().series == 0,
        "eviction of cached series",
    );
    let s = r.stats();
    assert_eq!((s.removed, s.evicted, s.hidden), (30, 30, 0));
    assert_eq!(f.with(&["0"]).unwrap().get(), 0);
}

// ---------------------------------------------------------------------------
// Cardinality.

fn overflow() -> [(&'static str, &'static str); 1] {
    [OVERFLOW_LABEL]
}

#[test]
fn past_the_limit_label_sets_fold_into_the_overflow_series() {
    let r = Registry::builder().max_series_per_name(3).build();
    let f = r.counter_family("requests_total", &["user"]).unwrap();
    for u in ["a", "b", "c"] {
        f.with(&[u]).unwrap().increment(1);
    }
    assert_eq!(r.stats().folded, 0);
    // Past the limit: folded, every lookup counted (none cached).
    for (i, u) in ["d", "e", "d", "f"].iter().enumerate() {
        f.with(&[u]).unwrap().increment(10);
        assert_eq!(r.stats().folded, i as u64 + 1);
    }
    // A direct lookup folds too.
    r.counter("requests_total", &[("user", "g")])
        .unwrap()
        .increment(100);
    assert_eq!(r.stats().folded, 5);
    // Existing label sets keep their series.
    f.with(&["a"]).unwrap().increment(1);
    assert_eq!(r.stats().folded, 5);

    let s = r.snapshot();
    assert_eq!(s.len(), 4);
    assert_eq!(
        s.get("requests_total", &overflow()).unwrap().value,
        Value::Counter(140)
    );
    assert_eq!(
        s.get("requests_total", &[("user", "a")]).unwrap().value,
        Value::Counter(2)
    );
    for u in ["d", "e", "f", "g"] {
        assert!(s.get("requests_total", &[("user", u)]).is_none(), "{u}");
    }
    // Other names have their own limit.
    for u in ["a", "b", "c"] {
        r.gauge("other", &[("user", u)]).unwrap().set(1.0);
    }
    assert_eq!(r.stats().folded, 5);

    // Raised: new label sets have their own series again.
    r.set_series_limit("requests_total", 10);
    f.with(&["h"]).unwrap().increment(1);
    let s = r.snapshot();
    assert_eq!(
        s.get("requests_total", &[("user", "h")]).unwrap().value,
        Value::Counter(1)
    );
    assert_eq!(r.stats().folded, 5);
}

#[test]
fn set_series_limit_applies_before_and_after_creation() {
    let r = Registry::new();
    // Before the name exists; it then takes any kind.
    r.set_series_limit("shards", 2);
    let h = r.histogram_family("shards", &["id"], None).unwrap();
    for id in ["0", "1", "2", "3"] {
        h.with(&[id]).unwrap().record(1_000);
    }
    let s = r.snapshot();
    assert_eq!(s.len(), 3);
    let folded = s
        .get("shards", &overflow())
        .unwrap()
        .as_histogram()
        .unwrap();
    assert_eq!((folded.count(), folded.sum()), (2, 2_000));
    assert_eq!(r.stats().folded, 2);

    // Lowered below what exists: existing series are kept, new ones fold.
    for u in ["a", "b", "c"] {
        r.counter("users_total", &[("u", u)]).unwrap().increment(1);
    }
    r.set_series_limit("users_total", 1);
    r.counter("users_total", &[("u", "b")])
        .unwrap()
        .increment(1);
    r.counter("users_total", &[("u", "d")])
        .unwrap()
        .increment(1);
    let s = r.snapshot();
    assert_eq!(
        s.families()
            .find(|(n, _)| *n == "users_total")
            .unwrap()
            .1
            .len(),
        4
    );
    assert_eq!(
        s.get("users_total", &[("u", "b")]).unwrap().value,
        Value::Counter(2)
    );
    assert_eq!(
        s.get("users_total", &overflow()).unwrap().value,
        Value::Counter(1)
    );
    assert_eq!(r.stats().folded, 3);
}

#[test]
fn removing_a_series_below_the_limit_frees_its_place() {
    let r = Registry::builder().max_series_per_name(2).build();
    r.counter("x_total", &[("k", "a")]).unwrap();
    r.counter("x_total", &[("k", "b")]).unwrap();
    assert_eq!(
        r.remove("x_total", &[("k", "a")]).unwrap(),
        Removal::Dropped
    );
    r.counter("x_total", &[("k", "c")]).unwrap().increment(1);
    let s = r.snapshot();
    assert_eq!(
        s.get("x_total", &[("k", "c")]).unwrap().value,
        Value::Counter(1)
    );
    assert!(s.get("x_total", &overflow()).is_none());
    assert_eq!(r.stats().folded, 0);
}

// ---------------------------------------------------------------------------
// Timers.

#[test]
fn timers_record_their_lifetime() {
    let r = Registry::new();
    let h = r.histogram("op_seconds", &[]).unwrap();
    {
        let _t = h.start_timer();
        thread::sleep(Duration::from_millis(2));
    }
    let stopped = h.start_timer();
    thread::sleep(Duration::from_millis(1));
    let took = stopped.stop();
    h.start_timer().discard();
    let s = r.snapshot();
    let v = s.get("op_seconds", &[]).unwrap().as_histogram().unwrap();
    assert_eq!(v.count(), 2);
    assert!(v.min() >= 900_000, "{}", v.min());
    assert!(took >= Duration::from_millis(1));
    assert!(v.sum() >= 3_000_000);
}
