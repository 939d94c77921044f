//! The `Atomic` strategy's resets (`src/lockfree/atomic.rs`): a reset
//! takes every counter with `swap(0)` and then bumps an epoch; gauges tag
//! their current value with the epoch read before counting. So a reset
//! racing with a record counts the record in exactly one interval, and
//! neither side shows a current value without its count. Plain reads take
//! the readers' lock that resets take, so none straddles a reset.
//!
//! Broken variants: `atomic_epoch_late` (the epoch read after counting),
//! `counters_take_not_atomic` (a reset's take losing an increment).

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use lockfree_metrics::{Atomic, BatchSnapshot, ManualClock, MetricsCollector};
    use loom::thread;
    use loom_tests::{model, tiny_config};

    /// A shown current size is a key of the distribution shown with it.
    fn assert_current_implies_count(s: &BatchSnapshot) {
        if let Some(current) = s.current {
            assert!(
                s.distribution.get(&current).is_some_and(|&n| n >= 1),
                "current {current} not in the distribution shown with it: {s:?}"
            );
        }
    }

    /// A reset (spawned) races with a batch record (main thread).
    #[test]
    fn reset_racing_a_record() {
        model("atomic/reset_racing_a_record", || {
            let m = Arc::new(Atomic::with_clock(tiny_config(2, 0), ManualClock::new()));
            let resetter = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.take_interval().batch)
            };
            m.record_batch_size(2);
            let interval = resetter.join().unwrap();
            let after = m.batch();
            assert_current_implies_count(&interval);
            assert_current_implies_count(&after);
            assert_eq!(interval.count + after.count, 1, "{interval:?} {after:?}");
        });
    }

    /// The same race the other way round: the main thread resets while a
    /// spawned thread records. Both sides write a word the other reads (the
    /// record writes counts, the reset the epoch), and loom 0.7 explores
    /// a writer's stores against the other's loads only when the writer
    /// runs first (see "Arranging a model" in `loom-tests/src/lib.rs`): at
    /// preemption bound 2, only this arrangement reaches a reset landing
    /// between a record's count and its epoch read.
    #[test]
    fn record_racing_a_reset() {
        model("atomic/record_racing_a_reset", || {
            let m = Arc::new(Atomic::with_clock(tiny_config(2, 0), ManualClock::new()));
            let recorder = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.record_batch_size(2))
            };
            let interval = m.take_interval().batch;
            recorder.join().unwrap();
            let after = m.batch();
            assert_current_implies_count(&interval);
            assert_current_implies_count(&after);
            assert_eq!(interval.count + after.count, 1, "{interval:?} {after:?}");
        });
    }

    /// A reader reads the batch gauge while the main thread records twice.
    #[test]
    fn read_racing_records() {
        model("atomic/read_racing_records", || {
            let m = Arc::new(Atomic::with_clock(tiny_config(2, 0), ManualClock::new()));
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let s = m.batch();
                    assert_current_implies_count(&s);
                    assert!(s.count <= 2, "{s:?}");
                })
            };
            m.record_batch_size(1);
            m.record_batch_size(2);
            reader.join().unwrap();
            let s = m.batch();
            assert_eq!((s.count, s.current), (2, Some(2)), "{s:?}");
        });
    }

    /// A plain read races a reset after a record: the read shows the
    /// record's value only with its count (it used to read the epoch, then
    /// the value, then counts the reset had just taken).
    #[test]
    fn plain_read_racing_a_reset() {
        model("atomic/plain_read_racing_a_reset", || {
            let m = Arc::new(Atomic::with_clock(tiny_config(2, 0), ManualClock::new()));
            m.record_batch_size(2);
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let s = m.batch();
                    assert_current_implies_count(&s);
                    let q = m.snapshot().batch;
                    assert_current_implies_count(&q);
                })
            };
            let interval = m.take_interval().batch;
            reader.join().unwrap();
            assert_current_implies_count(&interval);
            assert_eq!(interval.count, 1, "{interval:?}");
        });
    }
}
