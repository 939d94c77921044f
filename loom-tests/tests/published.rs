//! Publication and reclamation of a replaceable value through
//! crossbeam-epoch (`src/lockfree/published.rs`, which holds `Sharded`'s
//! reset point), with an explicit `Collector` per execution. A reader
//! holding the old value while an update replaces it sees it whole and
//! unchanged, nothing is destroyed while held, every value is destroyed
//! once at the end, and concurrent updates all take effect.
//!
//! The value keeps its number in a loom `UnsafeCell` that its destructor
//! overwrites: loom reports any read not ordered after the value's
//! construction (a publication without Release/Acquire) and any destruction
//! not ordered after every read (a value freed while held).
//!
//! Broken variants: `published_relaxed` (the pointer loaded and installed
//! with `Relaxed`), `published_swap` (installed with a swap, not a CAS).

#[cfg(loom)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use crossbeam_epoch::Collector;
    use lockfree_metrics::__loom::Published;
    use loom::{cell::UnsafeCell, thread};
    use loom_tests::model;

    /// A published value: a number, and the counts of values made and
    /// destroyed (std atomics: bookkeeping read after the threads are
    /// joined, not part of the protocol).
    struct Value {
        n: UnsafeCell<u64>,
        counts: Arc<Counts>,
    }

    #[derive(Default)]
    struct Counts {
        made: AtomicUsize,
        dropped: AtomicUsize,
    }

    impl Counts {
        /// Asserts that every value made was destroyed exactly once.
        fn assert_all_dropped(&self) {
            // Relaxed: read after every thread is joined.
            let made = self.made.load(Ordering::Relaxed);
            let dropped = self.dropped.load(Ordering::Relaxed);
            assert_eq!(made, dropped, "values leaked or destroyed twice");
        }
    }

    // SAFETY: `n` is written only at construction and in `drop` (which has
    // `&mut self`), so shared references only ever read it; loom checks
    // that those reads are ordered with both writes.
    unsafe impl Sync for Value {}

    impl Value {
        fn new(n: u64, counts: &Arc<Counts>) -> Self {
            // Relaxed: see `Counts::assert_all_dropped`.
            counts.made.fetch_add(1, Ordering::Relaxed);
            Value {
                n: UnsafeCell::new(n),
                counts: Arc::clone(counts),
            }
        }

        fn get(&self) -> u64 {
            // SAFETY: no `&mut` access exists while `&self` does (see the
            // `Sync` impl); loom checks the read against the writes.
            self.n.with(|n| unsafe { *n })
        }
    }

    impl Drop for Value {
        fn drop(&mut self) {
            if std::thread::panicking() {
                // A model already failed; a second panic here would abort
                // the test binary and hide the first.
                return;
            }
            // SAFETY: `&mut self`: no other access to `n` can exist; loom
            // reports a read that is not ordered before this write.
            self.n.with_mut(|n| unsafe { *n = u64::MAX });
            // Relaxed: see `Counts::assert_all_dropped`.
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn increment(p: &Published<Value>, counts: &Arc<Counts>) -> u64 {
        p.update(|v| (Value::new(v.get() + 1, counts), v.get()))
    }

    /// A reader holds the current value (reading it twice, with a
    /// scheduling point between) while the main thread replaces it twice.
    #[test]
    fn read_while_replaced() {
        model("published/read_while_replaced", || {
            let counts = Arc::new(Counts::default());
            let p = Arc::new(Published::new(Value::new(0, &counts), Collector::new()));
            let reader = {
                let p = Arc::clone(&p);
                thread::spawn(move || {
                    p.read(|v| {
                        let first = v.get();
                        thread::yield_now();
                        assert_eq!(v.get(), first, "the value changed while held");
                        assert!(first <= 2, "read a value never published: {first}");
                    })
                })
            };
            assert_eq!(increment(&p, &counts), 0);
            assert_eq!(increment(&p, &counts), 1);
            reader.join().unwrap();
            assert_eq!(p.read(Value::get), 2);
            drop(p);
            // Dropping the last handle on the collector runs what was
            // deferred: each value is destroyed exactly once.
            counts.assert_all_dropped();
        });
    }

    /// Two threads update at once: both updates take effect (the loser of
    /// the CAS retries from the winner's value), and each saw a different
    /// value.
    #[test]
    fn concurrent_updates() {
        model("published/concurrent_updates", || {
            let counts = Arc::new(Counts::default());
            let p = Arc::new(Published::new(Value::new(0, &counts), Collector::new()));
            let other = {
                let (p, counts) = (Arc::clone(&p), Arc::clone(&counts));
                thread::spawn(move || increment(&p, &counts))
            };
            let mine = increment(&p, &counts);
            let theirs = other.join().unwrap();
            assert_eq!(p.read(Value::get), 2, "an update was lost");
            assert_ne!(mine, theirs, "both updates replaced the same value");
            drop(p);
            counts.assert_all_dropped();
        });
    }
}
