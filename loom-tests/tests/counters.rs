//! Counter arrays (`src/lockfree/counters.rs`): owned arrays (one writer,
//! load and store, with a *touched* word that lets readers skip chunks) and
//! shared arrays (`fetch_add`, emptied with `swap`). Readings of an owned
//! array never go backwards and end exact; every shared increment lands in
//! exactly one of the values taken or the counter. An owned array handed
//! from an exiting thread to the next (as `thread_local` hands a shard over
//! with its id, through its id allocator's lock) keeps counting exactly.
//!
//! The exact min and max words (`Extremes` in `src/lockfree/extremes.rs`)
//! lose no value to a `take`: the extent taken and the one left hold every
//! value recorded, from one owner (load, store) or several (`fetch_min`).
//!
//! Broken variant: `counters_take_not_atomic` (`take` as a load then a
//! store of zero, or of empty for the extremes).

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use lockfree_metrics::__loom::{Extremes, OwnedCounters, RelaxedLoads, SharedCounters};
    use loom::{sync::Mutex, thread};
    use loom_tests::model;

    fn reading(c: &OwnedCounters) -> Vec<u64> {
        let mut sum = vec![0; 2];
        // Relaxed: as `Sharded` reads latency counts.
        c.add_all_to::<RelaxedLoads>(&mut sum);
        sum
    }

    /// The owner adds to two counters in different chunks while a reader
    /// reads the array twice.
    #[test]
    fn owned_readings_are_monotonic() {
        model("counters/owned_readings_are_monotonic", || {
            // Two counters, so each is its own chunk of the touched word.
            let c = Arc::new(OwnedCounters::new(2));
            let reader = {
                let c = Arc::clone(&c);
                thread::spawn(move || {
                    let first = reading(&c);
                    let second = reading(&c);
                    assert!(
                        first[0] <= second[0] && first[1] <= second[1],
                        "{first:?} then {second:?}"
                    );
                    assert!(second[0] <= 2 && second[1] <= 1, "{second:?}");
                })
            };
            c.add_owned(0, 1);
            c.add_owned(1, 1);
            c.add_owned(0, 1);
            reader.join().unwrap();
            assert_eq!(reading(&c), [2, 1]);
        });
    }

    /// Two threads add to a shared counter while one of them takes it.
    #[test]
    fn shared_adds_and_take() {
        model("counters/shared_adds_and_take", || {
            let c = Arc::new(SharedCounters::new(1));
            let adder = {
                let c = Arc::clone(&c);
                thread::spawn(move || c.add_shared(0, 1))
            };
            c.add_shared(0, 2);
            let taken = c.take()[0];
            adder.join().unwrap();
            let mut rest = vec![0];
            c.add_all_to::<RelaxedLoads>(&mut rest);
            assert_eq!(taken + rest[0], 3, "taken {taken} + rest {}", rest[0]);
        });
    }

    /// Shard reuse: a thread adds to an owned array and exits, handing it
    /// through a lock (`thread_local`'s id allocator) to a new thread, which
    /// keeps adding with loads and stores while a reader reads. The new
    /// owner sees every earlier add (nothing lost or counted twice), and
    /// readings never go backwards.
    #[test]
    fn owner_hand_off() {
        model("counters/owner_hand_off", || {
            let c = Arc::new(OwnedCounters::new(2));
            let ids = Arc::new(Mutex::new(false));
            let reader = {
                let c = Arc::clone(&c);
                thread::spawn(move || {
                    let first = reading(&c)[0];
                    let second = reading(&c)[0];
                    assert!(first <= second && second <= 2, "{first} then {second}");
                })
            };
            let next = {
                let (c, ids) = (Arc::clone(&c), Arc::clone(&ids));
                thread::spawn(move || {
                    // Waits for the id (and the array) to be released.
                    while !*ids.lock().unwrap() {
                        thread::yield_now();
                    }
                    c.add_owned(0, 1);
                })
            };
            c.add_owned(0, 1);
            *ids.lock().unwrap() = true;
            next.join().unwrap();
            reader.join().unwrap();
            assert_eq!(reading(&c), [2, 0]);
        });
    }

    /// The owner records 2, 1, 3 while a reader takes the extremes: what
    /// was taken and what is left hold 1 and 3.
    #[test]
    fn extremes_owned_take_loses_nothing() {
        model("counters/extremes_owned_take_loses_nothing", || {
            let e = Arc::new(Extremes::default());
            let taker = {
                let e = Arc::clone(&e);
                thread::spawn(move || e.take())
            };
            for v in [2, 1, 3] {
                e.record_owned(v);
            }
            let (taken, left) = (taker.join().unwrap(), e.read());
            let all = (taken.min.min(left.min), taken.max.max(left.max));
            assert_eq!(all, (1, 3), "taken {taken:?}, left {left:?}");
        });
    }

    /// Two threads record 1 and 3 while this one takes the extremes.
    #[test]
    fn extremes_shared_take_loses_nothing() {
        model("counters/extremes_shared_take_loses_nothing", || {
            let e = Arc::new(Extremes::default());
            let writers: Vec<_> = [1, 3]
                .map(|v| {
                    let e = Arc::clone(&e);
                    thread::spawn(move || e.record_shared(v))
                })
                .into_iter()
                .collect();
            let taken = e.take();
            for w in writers {
                w.join().unwrap();
            }
            let left = e.read();
            let all = (taken.min.min(left.min), taken.max.max(left.max));
            assert_eq!(all, (1, 3), "taken {taken:?}, left {left:?}");
        });
    }
}
