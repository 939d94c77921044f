//! The transition log (`src/lockfree/log.rs`): entries indexed by the mode
//! word's sequence number, written by the change that installed it and
//! validated per entry by readers. What the docs claim, and these models
//! assert:
//!
//! - every entry a reader returns is exactly the change with its sequence
//!   number (its `from`, `to` and time), even while newer changes are
//!   overwriting the entry;
//! - a change whose record returned before a read began is in that read;
//! - at rest the log holds exactly the newest `min(keep, transitions)`
//!   changes: contiguous, chained (`from` is the previous `to`), in time
//!   order, ending on the current mode.
//!
//! Broken variants: `log_reads_from_first` (the reader validates `from`
//! before reading the time: it returns a newer change's time),
//! `log_at_relaxed` (the time published `Relaxed`: a reader that sees a
//! newer time need not see the newer `from`).

#[cfg(loom)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use lockfree_metrics::{
        __loom::{Change, TransitionLog},
        Mode, Transition,
    };
    use loom::{
        sync::atomic::{AtomicBool, AtomicU64, Ordering},
        thread,
    };
    use loom_tests::model;

    /// Change `seq` of a log written by one thread, 1, 2, 3, ...: every
    /// field derived from `seq`, so an entry mixing two changes is told
    /// apart from a whole one.
    fn change(seq: u64) -> Transition {
        Transition {
            seq,
            at: Duration::from_nanos(seq * 10),
            from: (seq > 1).then(|| Mode(seq as u16 - 1)),
            to: Mode(seq as u16),
        }
    }

    /// Asserts the at-rest claim against the changes the writers reported.
    fn assert_at_rest(log: &TransitionLog, keep: usize, mut changes: Vec<(Change, Mode, u64)>) {
        changes.sort_by_key(|(c, _, _)| c.seq);
        let (state, recent) = log.read(0);
        assert_eq!(state.seq, changes.len() as u64, "{changes:?}");
        let expected: Vec<Transition> = changes
            .iter()
            .skip(changes.len().saturating_sub(keep))
            .map(|&(c, to, at)| Transition {
                seq: c.seq,
                at: Duration::from_nanos(at),
                from: c.from,
                to,
            })
            .collect();
        assert_eq!(
            recent, expected,
            "the log at rest is not the newest changes"
        );
        assert_eq!(state.current, recent.last().map(|t| t.to));
        assert!(recent
            .windows(2)
            .all(|w| w[0].to == w[1].from.unwrap() && w[0].at <= w[1].at));
    }

    /// One writer makes changes 1, 2, 3 into a log of one (two entries), so
    /// change 3 overwrites change 1's entry while a reader may be reading
    /// it. (The writer is the main thread: see "Arranging a model" in
    /// `loom-tests/src/lib.rs`.)
    #[test]
    fn read_while_overwritten() {
        model("log/read_while_overwritten", || {
            let log = Arc::new(TransitionLog::new(1));
            let reader = {
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    let (state, recent) = log.read(0);
                    assert!(recent.len() <= 1, "{recent:?}");
                    for t in &recent {
                        assert_eq!(*t, change(t.seq), "an entry mixing two changes");
                        assert!(
                            t.seq <= state.seq && t.seq + 1 > state.seq,
                            "{state:?} {t:?}"
                        );
                    }
                })
            };
            let mut changes = Vec::new();
            for seq in 1..=3 {
                let c = log.record(Mode(seq as u16), || seq * 10).unwrap();
                changes.push((c, Mode(seq as u16), seq * 10));
            }
            reader.join().unwrap();
            assert_at_rest(&log, 1, changes);
        });
    }

    /// Two threads change the mode at once (three changes in all) on a
    /// clock shared through an atomic, into a log of two (four entries):
    /// at rest the log is the newest two changes whatever the order.
    #[test]
    fn racing_changes_at_rest() {
        model("log/racing_changes_at_rest", || {
            let log = Arc::new(TransitionLog::new(2));
            let clock = Arc::new(AtomicU64::new(0));
            let other = {
                let (log, clock) = (Arc::clone(&log), Arc::clone(&clock));
                thread::spawn(move || {
                    let mut at = 0;
                    let c = log.record(Mode(7), || {
                        at = clock.fetch_add(1, Ordering::Relaxed) + 1;
                        at
                    });
                    c.map(|c| (c, Mode(7), at))
                })
            };
            let mut changes = Vec::new();
            for mode in [Mode(1), Mode(2)] {
                let mut at = 0;
                let c = log.record(mode, || {
                    at = clock.fetch_add(1, Ordering::Relaxed) + 1;
                    at
                });
                changes.extend(c.map(|c| (c, mode, at)));
            }
            changes.extend(other.join().unwrap());
            assert_eq!(changes.len(), 3);
            assert_at_rest(&log, 2, changes);
        });
    }

    /// A change whose record returned before the read began is in the
    /// read, although another change races both.
    #[test]
    fn finished_changes_are_read() {
        model("log/finished_changes_are_read", || {
            let log = Arc::new(TransitionLog::new(2));
            let done = Arc::new(AtomicBool::new(false));
            let reader = {
                let (log, done) = (Arc::clone(&log), Arc::clone(&done));
                thread::spawn(move || {
                    // Acquire: pairs with the Release below, so the change
                    // happens before this read.
                    let finished = done.load(Ordering::Acquire);
                    let (state, recent) = log.read(0);
                    if finished {
                        assert!(
                            recent.iter().any(|t| t.to == Mode(1)),
                            "a finished change is missing: {state:?} {recent:?}"
                        );
                    }
                })
            };
            let other = {
                let log = Arc::clone(&log);
                thread::spawn(move || log.record(Mode(2), || 5))
            };
            log.record(Mode(1), || 5);
            // Release: see the reader.
            done.store(true, Ordering::Release);
            other.join().unwrap();
            reader.join().unwrap();
        });
    }
}
