//! Registry records made from thread-local destructors (issue 21, item
//! 14): never an abort, and every record counted, including a record into
//! a series that was promoted to per-thread cells after the thread first
//! recorded it on its shared cells.
//!
//! The thread touches a thread-local of its own first, so that its
//! destructor runs last, then another library's `thread_local::ThreadLocal`
//! (so `thread_local`'s id guard is destroyed before that destructor runs);
//! it records the series on their
//! shared cells (writers probe every 1,024th record, which reads the
//! thread's token); a second thread records them while the first lives,
//! which promotes them; then the first exits and its destructor records
//! into them. As in `tests/engine/tls_destructor.rs`, an abort would take the test
//! binary with it, so the case runs in a child process.

use std::{sync::OnceLock, thread};

use lockfree_metrics::registry::{Counter, Gauge, Histogram, Registry, Value};

use crate::support::child;

const CASE_VAR: &str = "TLS_DESTRUCTOR_REGISTRY_CASE";
/// Records each thread makes in its life: past several probes.
const IN_LIFE: u64 = 5_000;
const IN_DESTRUCTOR: u64 = 3;

struct Handles {
    registry: Registry,
    counter: Counter,
    histogram: Histogram,
    gauge: Gauge,
}

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| {
        let registry = Registry::new();
        Handles {
            counter: registry.counter("records_total", &[]).unwrap(),
            histogram: registry.histogram("records_seconds", &[]).unwrap(),
            gauge: registry.gauge("records_gauge", &[]).unwrap(),
            registry,
        }
    })
}

fn record() {
    let h = handles();
    h.counter.increment(1);
    h.histogram.record(1_000);
    h.gauge.add(1.0);
}

struct RecordOnDrop;

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        for _ in 0..IN_DESTRUCTOR {
            record();
        }
    }
}

thread_local! {
    static GUARD: RecordOnDrop = const { RecordOnDrop };
}

fn run_case(case: &str) {
    let h = handles();
    if case == "first_record_late" {
        // Promoted by two other threads; the dying thread's first record
        // ever is made from its destructor.
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..IN_LIFE {
                    record();
                }
            });
            for _ in 0..IN_LIFE {
                record();
            }
        });
        thread::spawn(|| {
            GUARD.with(|_| ());
            let other = thread_local::ThreadLocal::new();
            assert_eq!(*other.get_or(|| 7_u8), 7);
        })
        .join()
        .unwrap();
    } else {
        recorded_then_promoted();
    }
    print_counts(h);
}

fn recorded_then_promoted() {
    thread::spawn(|| {
        GUARD.with(|_| ());
        // Another library's `thread_local::ThreadLocal` on this thread:
        // its id guard is destroyed before `GUARD`.
        let other = thread_local::ThreadLocal::new();
        assert_eq!(*other.get_or(|| 7_u8), 7);
        for _ in 0..IN_LIFE {
            record();
        }
        // Another thread records while this one lives: the series are
        // promoted after this thread recorded them on shared cells.
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..IN_LIFE {
                    record();
                }
            });
        });
        assert!(handles().registry.stats().promoted >= 2, "not promoted");
    })
    .join()
    .unwrap();
}

fn print_counts(h: &Handles) {
    let snapshot = h.registry.snapshot();
    let value = |name: &str| snapshot.get(name, &[]).unwrap().value.clone();
    let counter = match value("records_total") {
        Value::Counter(n) => n,
        v => panic!("{v:?}"),
    };
    let count = snapshot
        .get("records_seconds", &[])
        .and_then(|s| s.as_histogram())
        .unwrap()
        .count();
    let gauge = match value("records_gauge") {
        Value::Gauge(g) => g,
        v => panic!("{v:?}"),
    };
    println!("COUNTS counter={counter} histogram={count} gauge={gauge}");
}

#[test]
fn child() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
    }
}

#[test]
fn a_destructor_records_into_a_series_promoted_after_the_thread_recorded() {
    check("promoted_later");
}

/// The thread's first record ever, from a destructor that runs after
/// another library's `thread_local` guard is gone (caught in
/// `lockfree::shard_map`; the caught panic's message is printed).
#[test]
fn a_first_record_from_a_late_destructor() {
    check("first_record_late");
}

fn check(case: &str) {
    let line = child::reported(
        child::rerun(&child::test_path(module_path!(), "child")).env(CASE_VAR, case),
        "COUNTS ",
        &format!("case {case}"),
    );
    let want = 2 * IN_LIFE + IN_DESTRUCTOR;
    assert_eq!(
        line,
        format!("counter={want} histogram={want} gauge={want}"),
        "case {case}: every record counted"
    );
}
