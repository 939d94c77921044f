//! Mode transitions: the mode word (`src/lockfree/mode.rs`), a single CAS
//! that installs the mode and bumps the count, and through both strategies
//! the transition log (`src/lockfree/log.rs`) read while transitions are
//! recorded and cut by resets.
//!
//! Broken variant: `mode_not_atomic` (a load-then-store instead of the CAS).

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use crossbeam_epoch::Collector;
    use lockfree_metrics::{
        __loom::{Change, ModeCell},
        Atomic, ManualClock, MetricsCollector, Mode, ModeSnapshot, Sharded,
    };
    use loom::{
        sync::atomic::{AtomicBool, Ordering},
        thread,
    };
    use loom_tests::{model, tiny_config};

    /// Checks the changes the cell reported against its final state: as
    /// many changes as the count, numbered 1..=count in a chain (each one's
    /// `from` is the previous one's mode), ending on the current mode.
    fn assert_chain(cell: &ModeCell, mut changes: Vec<(Change, Mode)>) {
        let state = cell.load();
        changes.sort_by_key(|(c, _)| c.seq);
        assert_eq!(
            state.seq,
            changes.len() as u64,
            "changes not counted exactly: {changes:?}"
        );
        let mut previous = None;
        for (i, (change, to)) in changes.iter().enumerate() {
            assert_eq!(
                change.seq,
                i as u64 + 1,
                "sequence numbers not unique: {changes:?}"
            );
            assert_eq!(change.from, previous, "broken chain: {changes:?}");
            previous = Some(*to);
        }
        assert_eq!(
            state.current, previous,
            "current mode is not the last change's"
        );
    }

    /// Three threads change the mode at once, each to its own mode: three
    /// changes, numbered 1, 2, 3 in the order they took effect.
    #[test]
    fn concurrent_changes() {
        model("mode/concurrent_changes", || {
            let cell = Arc::new(ModeCell::default());
            let spawn = |mode| {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.record(mode).map(|c| (c, mode)))
            };
            let others = [spawn(Mode(1)), spawn(Mode(2))];
            let mut changes: Vec<_> = cell
                .record(Mode(3))
                .map(|c| (c, Mode(3)))
                .into_iter()
                .collect();
            for t in others {
                changes.extend(t.join().unwrap());
            }
            assert_eq!(changes.len(), 3);
            assert_chain(&cell, changes);
        });
    }

    /// Two threads record the same mode while a third changes it and back:
    /// repeats of the current mode are not changes, so the count depends on
    /// the interleaving, but it always equals the changes reported.
    #[test]
    fn repeats_are_not_changes() {
        model("mode/repeats_are_not_changes", || {
            let cell = Arc::new(ModeCell::default());
            let other = {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.record(Mode(1)).map(|c| (c, Mode(1))))
            };
            let mut changes = Vec::new();
            for mode in [Mode(1), Mode(2), Mode(1)] {
                changes.extend(cell.record(mode).map(|c| (c, mode)));
            }
            changes.extend(other.join().unwrap());
            assert_chain(&cell, changes);
        });
    }

    /// Through `Sharded`: two threads record transitions (each change goes
    /// to its own shard's event ring) while a reader reads the mode
    /// snapshot. The log never lists more transitions than the count, its
    /// entries are distinct, and at quiescence it ends on the current mode
    /// and holds the newest `transition_log` changes.
    #[test]
    fn sharded_log_while_recording() {
        model("mode/sharded_log_while_recording", || {
            let m = Arc::new(Sharded::with_collector(
                tiny_config(1, 2),
                ManualClock::new(),
                Collector::new(),
            ));
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || assert_consistent(&m.mode(), 0))
            };
            let writer = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.record_mode_transition(Mode(1)))
            };
            m.record_mode_transition(Mode(2));
            writer.join().unwrap();
            reader.join().unwrap();
            let s = m.mode();
            assert_eq!(s.transitions, 2, "{s:?}");
            assert_at_rest(&s, 0, 2);
            assert_eq!(s.recent[0].from, None);
        });
    }

    /// The claims of a mode snapshot that may race changes: the entries are
    /// distinct changes since the cut, in sequence order, chained where
    /// adjacent, and none is newer than the count.
    fn assert_consistent(s: &ModeSnapshot, seq_at_reset: u64) {
        assert!(s.recent.len() as u64 <= s.transitions, "{s:?}");
        assert!(s.recent.windows(2).all(|w| w[0].seq < w[1].seq), "{s:?}");
        for w in s.recent.windows(2) {
            if w[0].seq + 1 == w[1].seq {
                assert_eq!(w[1].from, Some(w[0].to), "{s:?}");
            }
        }
        assert!(
            s.recent
                .iter()
                .all(|t| t.seq > seq_at_reset && t.seq <= seq_at_reset + s.transitions),
            "{s:?}"
        );
    }

    /// The claim of a log at rest: exactly the newest `min(keep,
    /// transitions)` changes since the cut, contiguous, ending on the
    /// current mode.
    fn assert_at_rest(s: &ModeSnapshot, seq_at_reset: u64, keep: u64) {
        assert_consistent(s, seq_at_reset);
        let last = seq_at_reset + s.transitions;
        let expected: Vec<u64> = (last - s.transitions.min(keep) + 1..=last).collect();
        let seqs: Vec<u64> = s.recent.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, expected, "{s:?}");
        if let Some(t) = s.recent.last() {
            assert_eq!(s.current, Some(t.to), "{s:?}");
        }
    }

    /// A reset races two changes of mode in `m`, whose log keeps `keep`:
    /// the interval and the snapshot after it count every change once, each
    /// log is consistent, and at rest the log holds the changes after the
    /// reset's cut.
    fn log_racing_a_reset(m: Arc<impl MetricsCollector + 'static>, keep: u64) {
        // The changes on the main thread: see "Arranging a model" in
        // `loom-tests/src/lib.rs`.
        let resetter = {
            let m = Arc::clone(&m);
            thread::spawn(move || m.take_interval().mode)
        };
        m.record_mode_transition(Mode(1));
        m.record_mode_transition(Mode(2));
        let interval = resetter.join().unwrap();
        assert_consistent(&interval, 0);
        let after = m.mode();
        assert_eq!(interval.transitions + after.transitions, 2);
        assert_at_rest(&after, interval.transitions, keep);
        assert_eq!(after.current, Some(Mode(2)));
    }

    /// Through `Atomic`, whose log was a shared queue drained by readers.
    #[test]
    fn atomic_log_racing_a_reset() {
        model("mode/atomic_log_racing_a_reset", || {
            let m = Atomic::with_clock(tiny_config(1, 2), ManualClock::new());
            log_racing_a_reset(Arc::new(m), 2);
        });
    }

    /// Through `Sharded`, whose log was per-shard rings read against a cut.
    #[test]
    fn sharded_log_racing_a_reset() {
        model("mode/sharded_log_racing_a_reset", || {
            let m =
                Sharded::with_collector(tiny_config(1, 1), ManualClock::new(), Collector::new());
            log_racing_a_reset(Arc::new(m), 1);
        });
    }

    /// Through `Sharded` with a log of one, whose first design read
    /// per-shard rings against a cut while their owner overwrote them: a
    /// change that returned before a read began is in it, while the next
    /// change overwrites its place.
    #[test]
    fn sharded_finished_change_is_logged() {
        model("mode/sharded_finished_change_is_logged", || {
            let m = Arc::new(Sharded::with_collector(
                tiny_config(1, 1),
                ManualClock::new(),
                Collector::new(),
            ));
            let done = Arc::new(AtomicBool::new(false));
            let reader = {
                let (m, done) = (Arc::clone(&m), Arc::clone(&done));
                thread::spawn(move || {
                    // Acquire: pairs with the Release below.
                    let finished = done.load(Ordering::Acquire);
                    let s = m.mode();
                    assert_consistent(&s, 0);
                    if finished && s.transitions == 1 {
                        let seqs: Vec<u64> = s.recent.iter().map(|t| t.seq).collect();
                        assert_eq!(seqs, [1], "a finished change is missing: {s:?}");
                    }
                })
            };
            m.record_mode_transition(Mode(1));
            // Release: the change happens before a read that sees this.
            done.store(true, Ordering::Release);
            m.record_mode_transition(Mode(2));
            reader.join().unwrap();
            assert_at_rest(&m.mode(), 0, 1);
        });
    }
}
