//! `Ring`'s lanes (`src/lockfree/ring/lane.rs`): a single-producer ring of
//! record messages with an overflow batch taken whole. The models drive a
//! lane directly: the producer pushes records numbered 0, 1, 2, ... and a
//! consumer drains into a sink that checks every message whole (its four
//! words belong to one record) and every drain a prefix of the records in
//! order; at rest each record is consumed exactly once. The overflow batch
//! keeps its records in a loom `UnsafeCell`, so loom reports any fold or
//! take not ordered with the other side's accesses.
//!
//! Models and the broken variants they catch:
//! - `push_racing_drain` (ring of 4, no wrap): `ring_tail_relaxed`;
//! - `wrap_around` (ring of 1, three records: the slot is reused or the
//!   records overflow): `ring_overwrites_unread`;
//! - `full_ring_batch` (ring of 1, three records, the last two folded into
//!   the overflow batch, by twin and swap, while the consumer takes it):
//!   `ring_batch_relaxed`, `ring_twin_skipped`, `ring_take_not_exclusive`,
//!   `ring_batch_before_ring`;
//! - `retire_and_reclaim` (a producer thread pushes, overflows and
//!   retires; a new producer claims the lane while the consumer drains it
//!   and, having seen the mark, requires every old record and removes
//!   it): `ring_retire_relaxed`;
//! - `claim_racing_remove` (a retired lane claimed by a new producer while
//!   the consumer drains and removes it): `ring_remove_not_exclusive`.

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use lockfree_metrics::__loom::{Fold, Lane, Msg, Sink};
    use loom::{cell::UnsafeCell, thread};
    use loom_tests::model;

    /// Record `i`'s message: four words that identify it.
    fn msg(i: u64) -> Msg {
        Msg {
            kind: 100 + i,
            at: 200 + i,
            a: i,
            b: 300 + i,
        }
    }

    /// An overflow batch: the records folded into it, in a loom cell.
    #[derive(Default)]
    struct Bag(UnsafeCell<Vec<u64>>);

    impl Fold for Bag {
        fn fold(&mut self, m: &Msg) {
            // SAFETY: `&mut self`: loom checks that this write is ordered
            // with the consumer's accesses.
            self.0.with_mut(|v| unsafe { (*v).push(m.a) });
        }

        fn clear(&mut self) {
            // SAFETY: as in `fold`.
            self.0.with_mut(|v| unsafe { (*v).clear() });
        }
    }

    /// What a consumer has taken, in order.
    #[derive(Default)]
    struct Seen(Vec<u64>);

    impl Sink<Bag> for Seen {
        fn apply(&mut self, m: &Msg) {
            assert_eq!(*m, msg(m.a), "a message read torn or stale: {m:?}");
            self.0.push(m.a);
        }

        fn absorb(&mut self, bag: &mut Bag) {
            // SAFETY: `&mut Bag`, handed over by the lane; loom checks the
            // hand-over orders this access after the producer's folds.
            let taken = bag.0.with_mut(|v| unsafe { std::mem::take(&mut *v) });
            assert!(!taken.is_empty(), "an empty batch was published");
            self.0.extend(taken);
        }
    }

    impl Seen {
        /// Records `0..n`, each once, in order (a prefix while `n` is what
        /// was pushed so far).
        fn assert_prefix(&self, what: &str) {
            let want: Vec<u64> = (0..self.0.len() as u64).collect();
            assert_eq!(self.0, want, "{what}: not a prefix of the records in order");
        }
    }

    fn push(lane: &Lane<Bag>, i: u64) {
        // SAFETY: each model's lane has one producer at a time.
        unsafe { lane.push(&msg(i), || Box::new(Bag::default())) };
    }

    fn drain(lane: &Lane<Bag>, seen: &mut Seen) {
        // SAFETY: each model's lane has one consumer at a time.
        unsafe { lane.drain(seen) };
    }

    /// The consumer drains twice while the producer (the main thread, see
    /// `loom_tests`) pushes two records into a ring of four.
    #[test]
    fn push_racing_drain() {
        model("ring/push_racing_drain", || {
            let lane = Arc::new(Lane::<Bag>::new(4));
            let consumer = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    let mut seen = Seen::default();
                    drain(&lane, &mut seen);
                    drain(&lane, &mut seen);
                    seen.assert_prefix("racing drains");
                    seen
                })
            };
            push(&lane, 0);
            push(&lane, 1);
            let mut seen = consumer.join().unwrap();
            drain(&lane, &mut seen);
            assert_eq!(seen.0, [0, 1], "a record lost or doubled");
        });
    }

    /// A ring of one: the second and third records reuse the slot once the
    /// consumer frees it, or overflow into a batch.
    #[test]
    fn wrap_around() {
        model("ring/wrap_around", || {
            let lane = Arc::new(Lane::<Bag>::new(1));
            let consumer = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    let mut seen = Seen::default();
                    drain(&lane, &mut seen);
                    drain(&lane, &mut seen);
                    seen.assert_prefix("racing drains");
                    seen
                })
            };
            for i in 0..3 {
                push(&lane, i);
            }
            let mut seen = consumer.join().unwrap();
            drain(&lane, &mut seen);
            assert_eq!(seen.0, [0, 1, 2], "a record lost or doubled");
        });
    }

    /// A ring of one, kept full: records 1 and 2 go to the overflow batch
    /// (2 folded into the published batch, or into a new one if the
    /// consumer took the first) while the consumer drains and takes it.
    #[test]
    fn full_ring_batch() {
        model("ring/full_ring_batch", || {
            let lane = Arc::new(Lane::<Bag>::new(1));
            push(&lane, 0);
            let consumer = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    let mut seen = Seen::default();
                    drain(&lane, &mut seen);
                    seen.assert_prefix("a racing drain");
                    seen
                })
            };
            push(&lane, 1);
            push(&lane, 2);
            let mut seen = consumer.join().unwrap();
            drain(&lane, &mut seen);
            assert_eq!(seen.0, [0, 1, 2], "a record lost or doubled");
        });
    }

    /// A producer thread pushes three records into a ring of one (so one or
    /// two overflow) and retires the lane, as an exiting thread does; a new
    /// producer thread tries to claim it and push record 3, while the
    /// consumer drains and, if it saw the mark before, tries to remove the
    /// lane, and if that wins, requires every record of the old producer. Exactly one of claim
    /// and removal wins; a claimed lane's record 3 is drained later, a
    /// removed lane gets none.
    #[test]
    fn retire_and_reclaim() {
        model("ring/retire_and_reclaim", || {
            let lane = Arc::new(Lane::<Bag>::new(1));
            let old = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    for i in 0..3 {
                        push(&lane, i);
                    }
                    // SAFETY: this thread is the producer, after its last
                    // push.
                    unsafe { lane.retire() };
                })
            };
            let new = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    let claimed = lane.claim();
                    if claimed {
                        push(&lane, 3);
                    }
                    claimed
                })
            };
            let mut seen = Seen::default();
            let retired = lane.retired();
            drain(&lane, &mut seen);
            // As the collector does: remove only a lane seen retired before
            // the drain; if that wins, no new producer ran since the mark,
            // and the drain had every record.
            let removed = retired.is_some_and(|mark| lane.remove(mark));
            if removed {
                assert_eq!(seen.0, [0, 1, 2], "a removed lane drained short");
            }
            seen.assert_prefix("a drain");
            old.join().unwrap();
            let claimed = new.join().unwrap();
            assert!(!(claimed && removed), "a lane both claimed and removed");
            if !removed {
                drain(&lane, &mut seen);
            }
            let want: Vec<u64> = if claimed {
                vec![0, 1, 2, 3]
            } else {
                vec![0, 1, 2]
            };
            assert_eq!(seen.0, want, "a record lost or doubled (claimed {claimed})");
        });
    }

    /// A lane retired before the race (one record in it); a new producer
    /// claims it and pushes record 1 while the consumer reads the mark,
    /// drains and removes: exactly one of claim and removal wins, and
    /// every record is consumed once.
    #[test]
    fn claim_racing_remove() {
        model("ring/claim_racing_remove", || {
            let lane = Arc::new(Lane::<Bag>::new(2));
            push(&lane, 0);
            // SAFETY: this thread was the producer, after its last push.
            unsafe { lane.retire() };
            let new = {
                let lane = Arc::clone(&lane);
                thread::spawn(move || {
                    let claimed = lane.claim();
                    if claimed {
                        push(&lane, 1);
                    }
                    claimed
                })
            };
            let mut seen = Seen::default();
            let mark = lane.retired();
            drain(&lane, &mut seen);
            let removed = mark.is_some_and(|mark| lane.remove(mark));
            let claimed = new.join().unwrap();
            assert!(!(claimed && removed), "a lane both claimed and removed");
            if !removed {
                drain(&lane, &mut seen);
            }
            let want: Vec<u64> = if claimed { vec![0, 1] } else { vec![0] };
            assert_eq!(seen.0, want, "a record lost or doubled (claimed {claimed})");
        });
    }
}
