//! Per-thread shard lookup.
//!
//! In normal builds this is `thread_local::ThreadLocal` behind a one-entry
//! cache: a const thread-local holding the (map id, shard) of the thread's
//! last lookup, so a thread recording into one collector finds its shard
//! with one thread-local read and a compare; a miss goes to
//! `ThreadLocal::get_or` (a thread-local read and two acquire loads) and
//! refills the cache. A thread's first lookup allocates its shard. Thread ids are reused after a thread exits,
//! and with them the exited thread's shard, which the new thread keeps
//! adding to: shards are cumulative, so the reuse neither loses nor double
//! counts anything, and memory is bounded by the peak number of live
//! recording threads, not by thread churn. `ThreadLocal` hands a shard from
//! an exiting thread to a new one through its id allocator's mutex, so the
//! new owner sees the old owner's last writes.
//!
//! **Records from thread-local destructors.** `thread_local` keeps a
//! thread's id in std thread-locals and frees it in the destructor of one
//! of them (its guard). A `get_or` after that destructor ran allocates a
//! new id and touches the destroyed guard, which panics, and a panic in a
//! thread-local destructor aborts the process. Metrics are recorded from
//! drop paths, some of which run as a thread exits, so the map never calls
//! `get_or` once that guard may be gone:
//!
//! - Each thread has a `Phase`, in a const thread-local without a
//!   destructor (readable to the thread's last instruction). It starts
//!   `Fresh`. Right *after* the thread's first successful `get_or` (of any
//!   map), the map first touches a guard of its own, whose destructor sets
//!   the phase to `Dying`, and sets the phase to `Armed`.
//! - Thread-local destructors run in the reverse order of their
//!   registration, which std makes at first use (glibc's
//!   `__cxa_thread_atexit_impl`, macOS's `_tlv_atexit` and std's own list
//!   for the other targets all run last-in first-out, including those
//!   registered while destructors run). `thread_local`'s guard was first
//!   used no later than that first `get_or`, so ours was registered after
//!   it and is destroyed before it: while the phase is `Armed`, the
//!   `thread_local` id is held and `get_or` is safe. `tests/engine/tls_destructor.rs`
//!   checks both orders of a user's destructor around the two guards.
//! - Every lookup first tries `ThreadLocal::get`, which never allocates an
//!   id: it finds the thread's shard whenever the thread holds its id, in
//!   any phase. That is the normal path. Only when it finds nothing does
//!   the phase decide: `Fresh` or `Armed` call `get_or` (the thread's first
//!   record into this map), `Dying` records into a *spare shard*.
//! - Spare shards: an append-only array of at most `SPARES` published
//!   pointers (claimed by index, published with `Release`, as in the loom
//!   registry below), and a lock-free queue of the indexes not in use
//!   (`crossbeam_queue::ArrayQueue`). A dying thread pops a free index, or
//!   allocates a new spare below the cap, records into it as its only
//!   writer, and pushes the index back when the record is done. The
//!   queue's push (a `Release` store of the slot's stamp) and pop (an
//!   `Acquire` load of it) order each user's writes before the next user's
//!   reads, so the single-writer load-then-store counters of a shard stay
//!   exact across users. Readers iterate the live shards and the published
//!   spares.
//!
//! - A record into shared cells (a registry series not yet promoted)
//!   calls [`note_record`]: the thread's first one touches a second guard,
//!   `EARLY`, whose destructor also sets `Dying`, and sets the phase to
//!   `Early`. A library that first used `thread_local` on the thread before
//!   that record had its guard registered before `EARLY`, so destroyed
//!   after it: a destructor that records into the series once it is
//!   promoted (its first map lookup on the thread) finds `Dying` and uses a
//!   spare (issue 21, item 14; `tests/registry/tls_destructor.rs`).
//!
//! What the phases cannot see (a thread's first record ever made from a
//! destructor that runs after another library's `thread_local` guard was
//! destroyed, or a guard first used between `EARLY` and the destructor's
//! own thread-local): `get_or` would touch the destroyed guard. The first
//! lookup of a thread that is not `Armed` therefore runs `get_or` under
//! `catch_unwind`; the panic (before any shard is made) marks the thread
//! `Dying` and the record goes to a spare. Nothing aborts, with
//! `panic = "unwind"` (the default): with `panic = "abort"` that last case
//! still aborts, and in either build the panic's message is printed.
//!
//! `ThreadLocal` takes its ids from std thread-locals, which loom does not
//! model, so under `--cfg loom` the map is a small append-only registry of
//! its own: a thread finds its shard by its loom thread id, and registers
//! one by claiming an index and publishing a pointer with `Release`;
//! iteration reads the published prefix with `Acquire` and skips indexes
//! claimed but not yet published (their shards have recorded nothing yet).
//! Loom threads have no thread-local destructors, so it has no spares.
//!
//! Progress: lookup is wait-free once a thread has its shard; the first
//! lookup allocates (and, in `thread_local`, may take its id allocator's
//! lock once per thread). A record made after the thread's id is released
//! allocates at most `SPARES` spares per map over the map's life, and is
//! otherwise lock-free with one exception each way: a pop may wait for a
//! concurrent push that has claimed its queue slot and not yet filled it
//! (a few instructions; Vyukov's bounded queue), and a dying thread that
//! finds all `SPARES` spares in use spins until one is pushed back, the
//! only case where a record waits for another thread's progress.

#[cfg(not(loom))]
pub(crate) use std_map::{note_record, ShardMap};

/// Loom threads have no thread-local destructors: nothing to note.
#[cfg(loom)]
#[inline]
pub(crate) fn note_record() {}

#[cfg(loom)]
pub use loom_map::ShardMap;

#[cfg(not(loom))]
mod std_map {
    use std::{cell::Cell, marker::PhantomData, ptr};

    use crossbeam_queue::ArrayQueue;
    use thread_local::ThreadLocal;

    use crate::sync::{spin_wait, AtomicPtr, AtomicUsize, Ordering};

    /// The most spare shards a map allocates: the most threads that can be
    /// recording from their last destructors at the same moment without
    /// waiting for each other (a record holds a spare for its own duration
    /// only).
    const SPARES: usize = 64;

    /// Where a thread stands with `thread_local`'s thread id (see the
    /// module docs).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Phase {
        /// The thread has recorded nothing yet.
        Fresh,
        /// The thread recorded into shared cells (`note_record`), and no
        /// map has looked up a shard on it yet: `EARLY` is armed.
        Early,
        /// Our guard is alive, so `thread_local`'s is too.
        Armed,
        /// Our guard was destroyed; `thread_local`'s may be too.
        Dying,
    }

    thread_local! {
        /// No destructor, so readable at any point of the thread's life.
        static PHASE: Cell<Phase> = const { Cell::new(Phase::Fresh) };
        /// First touched right after the thread's first `get_or`, so that
        /// its destructor runs before `thread_local`'s.
        static GUARD: Guard = const { Guard };
        /// First touched at the thread's first record into shared cells
        /// (`note_record`): destroyed before the `thread_local` guard of
        /// any library that first used it earlier on the thread.
        static EARLY: Guard = const { Guard };
        /// The (map id, shard) of this thread's last lookup: the fast path.
        /// No destructor; cleared by `Guard`, before `thread_local` can
        /// release the thread's id and hand the shard to another thread.
        static CACHE: Cell<(usize, *const ())> = const { Cell::new((0, ptr::null())) };
    }

    /// Map ids, never reused, so a cached entry never matches a map other
    /// than the one that filled it (0 is no map).
    static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

    /// Marks the thread `Dying` when destroyed.
    struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            PHASE.set(Phase::Dying);
            CACHE.set((0, ptr::null()));
        }
    }

    /// Called by a record into shared cells (a registry series not yet
    /// promoted): a thread's first one arms `EARLY`, so that a record from
    /// a later thread-local destructor into a series promoted meanwhile
    /// finds the thread `Dying` once `thread_local`'s id guard may be gone
    /// (see the module docs). One thread-local read otherwise.
    #[inline]
    pub(crate) fn note_record() {
        if PHASE.get() == Phase::Fresh {
            arm_early();
        }
    }

    #[cold]
    #[inline(never)]
    fn arm_early() {
        // Registers `EARLY`'s destructor now; fails only if it was already
        // destroyed, which needs the phase to have left `Fresh`.
        let _ = EARLY.try_with(|_| ());
        PHASE.set(Phase::Early);
    }

    /// One `T` per live thread, kept after the thread exits, and spares for
    /// threads recording after their id is released.
    #[derive(Debug)]
    pub(crate) struct ShardMap<T: Send> {
        /// Tags this map's entries in `CACHE`.
        id: usize,
        live: ThreadLocal<T>,
        /// Published spares; the first `spares_len` (capped) may be set.
        spares: [AtomicPtr<T>; SPARES],
        /// Spare indexes claimed so far, at most `SPARES`.
        spares_len: AtomicUsize,
        /// Indexes of published spares not in use.
        free: ArrayQueue<usize>,
        /// The spares are owned `T`s shared between threads: the map is
        /// `Send` and `Sync` only if `T` is (`AtomicPtr` alone would make
        /// it both for any `T`).
        _owns: PhantomData<T>,
    }

    /// A spare shard held by this thread; goes back to the free queue when
    /// dropped (also if the record panics).
    struct Held<'a, T> {
        value: &'a T,
        free: &'a ArrayQueue<usize>,
        index: usize,
    }

    impl<T> Drop for Held<'_, T> {
        fn drop(&mut self) {
            // Cannot fail: the queue holds `SPARES` indexes, and each of the
            // at most `SPARES` spares is either in it or held by one `Held`.
            let pushed = self.free.push(self.index);
            debug_assert!(pushed.is_ok(), "spare {} pushed twice", self.index);
        }
    }

    impl<T: Send + Sync> ShardMap<T> {
        pub(crate) fn new() -> Self {
            ShardMap {
                // Relaxed: the counter only hands out distinct ids.
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                live: ThreadLocal::new(),
                spares: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
                spares_len: AtomicUsize::new(0),
                free: ArrayQueue::new(SPARES),
                _owns: PhantomData,
            }
        }

        /// Calls `f` with this thread's shard, created by `create` on first
        /// use; for a thread whose `thread_local` id may be released, with a
        /// spare shard (created by `create` if none is free and fewer than
        /// `SPARES` exist), held for the duration of `f`.
        #[inline]
        pub(crate) fn with<R>(&self, create: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
            let (id, cached) = CACHE.get();
            if id == self.id {
                // SAFETY:
                //  * `cached` was returned by this map's `get_or` on this
                //    thread (ids are never reused, so no other map's entry
                //    matches), and the values of a `ThreadLocal` never move
                //    and live as long as the map, which `&self` borrows;
                //  * the value is this thread's alone while it holds its
                //    `thread_local` id, and `Guard` clears the entry before
                //    `thread_local`'s guard releases the id (see the
                //    module docs), so a hit never reaches a shard that
                //    another thread may have been given.
                return f(unsafe { &*cached.cast::<T>() });
            }
            self.with_slow(create, f)
        }

        /// No shard under a held id: the first lookup, or a dying thread.
        #[cold]
        #[inline(never)]
        fn with_slow<R>(&self, create: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
            let phase = PHASE.get();
            if phase == Phase::Dying {
                return f(self.spare(create).value);
            }
            let value = if phase == Phase::Armed {
                self.live.get_or(create)
            } else {
                // The thread's first shard from any map: if this runs in a
                // thread-local destructor after another library's
                // `thread_local` guard is gone, `get_or` panics touching
                // it (before calling `create`). Caught, so that it cannot
                // abort the process: the thread is dying, and records
                // into a spare from then on. (Under `panic = "abort"` it
                // still aborts; the panic message is printed either way.)
                let mut create = Some(create);
                let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.live
                        .get_or(|| create.take().expect("called at most once")())
                }));
                match (got, create) {
                    (Ok(value), _) => value,
                    (Err(_), Some(create)) => {
                        PHASE.set(Phase::Dying);
                        return f(self.spare(create).value);
                    }
                    // `create` itself panicked: not ours to hide.
                    (Err(panic), None) => std::panic::resume_unwind(panic),
                }
            };
            if phase != Phase::Armed {
                // Registers our guard's destructor after `thread_local`'s,
                // which this `get_or` (or an earlier one) registered. Cannot
                // fail: the guard is destroyed only after `Fresh` ends.
                let _ = GUARD.try_with(|_| ());
                PHASE.set(Phase::Armed);
            }
            // Armed now, and so `Guard` will clear the entry in time.
            CACHE.set((self.id, ptr::from_ref(value).cast()));
            f(value)
        }

        /// A spare shard, held by this thread alone until the `Held` drops.
        fn spare(&self, create: impl FnOnce() -> T) -> Held<'_, T> {
            let index = match self.free.pop() {
                Some(index) => index,
                None => self.add_spare(create).unwrap_or_else(|| loop {
                    // All `SPARES` spares are in use: the one blocking case.
                    if let Some(index) = self.free.pop() {
                        break index;
                    }
                    spin_wait();
                }),
            };
            // Relaxed: the spare was published before its index was first
            // pushed, and the pop that returned the index synchronises with
            // that push (or this thread published it in `add_spare`).
            let spare = self.spares[index].load(Ordering::Relaxed);
            debug_assert!(!spare.is_null(), "spare {index} unpublished");
            // SAFETY:
            //  * the pointer was made by `Box::into_raw` in `add_spare` and
            //    stored before its index was handed out, so it is non-null
            //    and initialised (see the load's ordering);
            //  * spares are freed only in `drop`, which has `&mut self`, so
            //    none is freed while `&self` is borrowed.
            let value = unsafe { &*spare };
            Held {
                value,
                free: &self.free,
                index,
            }
        }

        /// Allocates and publishes a new spare, unless `SPARES` exist.
        fn add_spare(&self, create: impl FnOnce() -> T) -> Option<usize> {
            // Relaxed: the RMW's total order alone makes the index unique;
            // the pointer's Release store below publishes the spare.
            let index = self
                .spares_len
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < SPARES).then_some(n + 1)
                })
                .ok()?;
            let spare = Box::into_raw(Box::new(create()));
            // Release: publishes the initialised spare to `iter`.
            self.spares[index].store(spare, Ordering::Release);
            Some(index)
        }

        /// Every shard created so far (some possibly missing if created
        /// concurrently): the live threads' and exited threads' shards,
        /// then the spares.
        pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
            // Relaxed: the count only bounds the scan; each pointer, loaded
            // with Acquire below, is what publishes its spare.
            let len = self.spares_len.load(Ordering::Relaxed);
            let spares = self.spares[..len].iter().filter_map(|slot| {
                // Acquire: pairs with the Release store in `add_spare`, so
                // the spare's contents are visible.
                let spare = slot.load(Ordering::Acquire);
                // SAFETY:
                //  * a non-null pointer was made by `Box::into_raw` in
                //    `add_spare` and published initialised (Release/Acquire);
                //  * spares are freed only in `drop` (`&mut self`), so none
                //    is freed while `&self` is borrowed.
                (!spare.is_null()).then(|| unsafe { &*spare })
            });
            self.live.iter().chain(spares)
        }
    }

    impl<T: Send> Drop for ShardMap<T> {
        fn drop(&mut self) {
            for slot in &self.spares {
                // Relaxed: `&mut self` means no other thread can access the map.
                let spare = slot.load(Ordering::Relaxed);
                if !spare.is_null() {
                    // SAFETY: made by `Box::into_raw` in `add_spare`,
                    // published once, and dropped only here, once.
                    drop(unsafe { Box::from_raw(spare) });
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use std::{sync::mpsc, thread, time::Duration};

        use super::*;

        /// The cached lookup tells maps apart: maps used in turn on one
        /// thread, and a map made after another was dropped, each get their
        /// own value, once per thread.
        #[test]
        fn the_cache_never_mixes_maps() {
            let a = ShardMap::new();
            let b = ShardMap::new();
            for round in 0..3_u64 {
                assert_eq!(a.with(|| 1_u64, |v| *v), 1, "round {round}");
                assert_eq!(b.with(|| 2_u64, |v| *v), 2, "round {round}");
            }
            drop(a);
            let c = ShardMap::new();
            assert_eq!(c.with(|| 3_u64, |v| *v), 3);
            assert_eq!(b.with(|| 9_u64, |v| *v), 2);
            let other = thread::spawn(move || b.with(|| 4_u64, |v| *v));
            assert_eq!(other.join().unwrap(), 4);
            assert_eq!((c.iter().count(), c.with(|| 5_u64, |v| *v)), (1, 3));
        }

        /// Spares are reused once given back, allocated only while none is
        /// free, capped at `SPARES`, and seen by `iter`; past the cap a
        /// dying record waits for one to come back.
        #[test]
        fn spares_are_reused_capped_and_iterated() {
            let map = ShardMap::<u32>::new();
            drop(map.spare(|| 7));
            drop(map.spare(|| unreachable!("a free spare exists")));
            let held: Vec<_> = (0..SPARES as u32).map(|i| map.spare(move || i)).collect();
            assert_eq!(map.iter().count(), SPARES);
            // Spare 0 kept the 7; the others were made with their index.
            assert_eq!(
                map.iter().map(|&v| u64::from(v)).sum::<u64>(),
                7 + (1..SPARES as u64).sum::<u64>()
            );
            let map = &map;
            thread::scope(|s| {
                let (tx, rx) = mpsc::channel();
                s.spawn(move || tx.send(*map.spare(|| unreachable!("the cap is reached")).value));
                assert!(
                    rx.recv_timeout(Duration::from_millis(50)).is_err(),
                    "a record past the cap did not wait"
                );
                drop(held);
                rx.recv().expect("a given-back spare was taken");
            });
            assert_eq!(map.free.len(), SPARES);
        }
    }
}

#[cfg(loom)]
mod loom_map {
    use std::ptr;

    use loom::thread::ThreadId;

    use crate::sync::{ordering, AtomicPtr, AtomicUsize, Ordering};

    /// More than loom's limit of 5 threads per model.
    const CAPACITY: usize = 8;

    #[derive(Debug)]
    struct Entry<T> {
        owner: ThreadId,
        value: T,
    }

    /// The loom stand-in for `ThreadLocal`: an append-only registry.
    #[derive(Debug)]
    pub struct ShardMap<T> {
        entries: [AtomicPtr<Entry<T>>; CAPACITY],
        /// Indexes claimed so far; entries below it may still be null.
        len: AtomicUsize,
    }

    impl<T: Send + Sync> Default for ShardMap<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T: Send + Sync> ShardMap<T> {
        /// An empty registry.
        pub fn new() -> Self {
            ShardMap {
                entries: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
                len: AtomicUsize::new(0),
            }
        }

        fn published(&self) -> impl Iterator<Item = &Entry<T>> {
            // Relaxed: `len` only bounds the scan; each entry's pointer,
            // loaded with Acquire below, is what publishes its data.
            let len = self.len.load(Ordering::Relaxed).min(CAPACITY);
            self.entries[..len].iter().filter_map(|slot| {
                // Acquire: pairs with the Release store that published the
                // entry, so its contents are visible.
                let entry = slot.load(Ordering::Acquire);
                // SAFETY:
                //  * a non-null pointer was made by `Box::into_raw` in
                //    `get_or` and published fully initialised (Release/Acquire);
                //  * entries are freed only in `drop`, which has `&mut self`,
                //    so none is freed while `&self` is borrowed.
                (!entry.is_null()).then(|| unsafe { &*entry })
            })
        }

        /// This thread's shard, created by `create` on first use.
        pub fn get_or(&self, create: impl FnOnce() -> T) -> &T {
            let me = loom::thread::current().id();
            if let Some(entry) = self.published().find(|e| e.owner == me) {
                return &entry.value;
            }
            // Relaxed: the RMW's total order alone makes the index unique.
            let index = self.len.fetch_add(1, Ordering::Relaxed);
            assert!(
                index < CAPACITY,
                "more threads than the loom shard map holds"
            );
            let entry = Box::into_raw(Box::new(Entry {
                owner: me,
                value: create(),
            }));
            // Release: publishes the initialised entry to `published`.
            // (Relaxed in the broken variant, for the loom models to catch:
            // a reader that finds the pointer need not see the entry.)
            self.entries[index].store(entry, ordering!(Release, broken "registry_relaxed"));
            // SAFETY: the pointer was just made from a live Box and is freed
            // only in `drop` (see `published`).
            unsafe { &(*entry).value }
        }

        /// Calls `f` with this thread's shard (the normal build's API).
        pub fn with<R>(&self, create: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
            f(self.get_or(create))
        }

        /// Every shard published so far.
        pub fn iter(&self) -> impl Iterator<Item = &T> {
            self.published().map(|e| &e.value)
        }
    }

    impl<T> Drop for ShardMap<T> {
        fn drop(&mut self) {
            for slot in &self.entries {
                // Relaxed: `&mut self` means no other thread can access the map.
                let entry = slot.load(Ordering::Relaxed);
                if !entry.is_null() {
                    // SAFETY: made by `Box::into_raw` in `get_or`, published
                    // once, and dropped only here, once.
                    drop(unsafe { Box::from_raw(entry) });
                }
            }
        }
    }
}
