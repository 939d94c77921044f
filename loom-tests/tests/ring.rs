//! The transition-event ring (`src/lockfree/ring.rs`): one writer pushes
//! while a reader copies entries out. Every entry the reader accepts must be
//! exactly one pushed event (the per-entry seqlock never lets a torn entry
//! through), and once the writer is done the ring holds its newest events.
//!
//! Broken variant: `ring_no_fences` (no fences, relaxed versions).

#[cfg(loom)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use lockfree_metrics::{__loom::EventRing, Mode, Transition};
    use loom::thread;
    use loom_tests::model;

    /// Event `seq`: every field derived from `seq`, so a torn entry (fields
    /// from two different pushes) is told apart from a whole one.
    fn event(seq: u64) -> Transition {
        Transition {
            seq,
            at: Duration::from_nanos(seq * 10),
            from: Some(Mode(seq as u16 + 100)),
            to: Mode(seq as u16 + 200),
        }
    }

    fn read(ring: &EventRing) -> Vec<Transition> {
        let mut out = Vec::new();
        ring.read_into(0..=u64::MAX, &mut out);
        out.sort_by_key(|t| t.seq);
        out
    }

    /// Asserts that every entry read is a whole event pushed so far, with no
    /// duplicates, and at most `len` of them.
    fn assert_whole(read: &[Transition], pushed: u64, len: usize) {
        assert!(
            read.len() <= len,
            "more entries than the ring holds: {read:?}"
        );
        for (i, t) in read.iter().enumerate() {
            assert!(
                (1..=pushed).contains(&t.seq) && *t == event(t.seq),
                "accepted {t:?}, which no push wrote whole (a torn or stale entry)"
            );
            assert!(i == 0 || read[i - 1].seq < t.seq, "duplicate entry");
        }
    }

    /// Pushes events 1..=`pushes` into a ring of `capacity` entries from the
    /// main thread while a spawned reader reads it `reads` times.
    /// (The writer is the main thread: see "Arranging a model" in
    /// `loom-tests/src/lib.rs`.)
    fn push_while_reading(name: &str, capacity: usize, pushes: u64, reads: usize) {
        model(name, move || {
            let ring = Arc::new(EventRing::new(capacity));
            let reader = {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    for _ in 0..reads {
                        assert_whole(&read(&ring), pushes, capacity);
                    }
                })
            };
            for seq in 1..=pushes {
                ring.push(&event(seq));
            }
            reader.join().unwrap();
            // Quiescent: exactly the newest `capacity` events.
            let newest = pushes.saturating_sub(capacity as u64) + 1..=pushes;
            assert_eq!(read(&ring), newest.map(event).collect::<Vec<_>>());
        });
    }

    /// A one-entry ring: the second push overwrites the first while the
    /// reader may be copying it (a full ring).
    #[test]
    fn overwrite_while_reading() {
        push_while_reading("ring/overwrite_while_reading", 1, 2, 1);
    }

    /// A two-entry ring wrapping around: the third push reuses the first
    /// entry.
    #[test]
    fn wrap_around_while_reading() {
        push_while_reading("ring/wrap_around_while_reading", 2, 3, 1);
    }
}
