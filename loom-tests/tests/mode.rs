//! Mode transitions: the mode word (`src/lockfree/mode.rs`), a single CAS
//! that installs the mode and bumps the count, and through `Sharded` the
//! transition log read while transitions are recorded.
//!
//! Broken variant: `mode_not_atomic` (a load-then-store instead of the CAS).

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use crossbeam_epoch::Collector;
    use lockfree_metrics::{
        __loom::{Change, ModeCell},
        ManualClock, MetricsCollector, Mode, Sharded,
    };
    use loom::thread;
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
                thread::spawn(move || {
                    let s = m.mode();
                    assert!(s.recent.len() as u64 <= s.transitions, "{s:?}");
                    assert!(s.recent.windows(2).all(|w| w[0].seq < w[1].seq), "{s:?}");
                    assert!(s.recent.iter().all(|t| t.seq <= s.transitions), "{s:?}");
                })
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
            let seqs: Vec<u64> = s.recent.iter().map(|t| t.seq).collect();
            assert_eq!(seqs, [1, 2], "{s:?}");
            assert_eq!(s.recent[0].from, None);
            assert_eq!(s.recent[1].from, Some(s.recent[0].to));
            assert_eq!(s.current, Some(s.recent[1].to), "{s:?}");
        });
    }
}
