//! Per-thread shard lookup.
//!
//! In normal builds this is `thread_local::ThreadLocal`: a lookup is a
//! thread-local read and two acquire loads (1.35 to 1.53 ns as
//! thread_local-rs#40 and #86 measured it); a thread's first
//! lookup allocates its shard. Thread ids are reused after a thread exits,
//! and with them the exited thread's shard, which the new thread keeps
//! adding to: shards are cumulative, so the reuse neither loses nor double
//! counts anything, and memory is bounded by the peak number of live
//! recording threads, not by thread churn. `ThreadLocal` hands a shard from
//! an exiting thread to a new one through its id allocator's mutex, so the
//! new owner sees the old owner's last writes.
//!
//! `ThreadLocal` takes its ids from std thread-locals, which loom does not
//! model, so under `--cfg loom` the map is a small append-only registry of
//! its own: a thread finds its shard by its loom thread id, and registers
//! one by claiming an index and publishing a pointer with `Release`;
//! iteration reads the published prefix with `Acquire` and skips indexes
//! claimed but not yet published (their shards have recorded nothing yet).
//!
//! Progress: lookup is wait-free once a thread has its shard; the first
//! lookup allocates (and, in `thread_local`, may take its id allocator's
//! lock once per thread).

#[cfg(not(loom))]
pub(crate) use std_map::ShardMap;

#[cfg(loom)]
pub use loom_map::ShardMap;

#[cfg(not(loom))]
mod std_map {
    use thread_local::ThreadLocal;

    /// One `T` per live thread, kept after the thread exits.
    #[derive(Debug)]
    pub(crate) struct ShardMap<T: Send>(ThreadLocal<T>);

    impl<T: Send + Sync> ShardMap<T> {
        pub(crate) fn new() -> Self {
            ShardMap(ThreadLocal::new())
        }

        /// This thread's shard, created by `create` on first use.
        #[inline]
        pub(crate) fn get_or(&self, create: impl FnOnce() -> T) -> &T {
            self.0.get_or(create)
        }

        /// Every shard created so far (some possibly missing if created
        /// concurrently).
        pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
            self.0.iter()
        }
    }
}

#[cfg(loom)]
mod loom_map {
    use std::ptr;

    use loom::thread::ThreadId;

    use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

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
            #[cfg(not(lockfree_metrics_broken = "registry_relaxed"))]
            self.entries[index].store(entry, Ordering::Release);
            // Broken on purpose, for the loom models to catch: a reader that
            // finds the pointer need not see the entry it points to.
            #[cfg(lockfree_metrics_broken = "registry_relaxed")]
            self.entries[index].store(entry, Ordering::Relaxed);
            // SAFETY: the pointer was just made from a live Box and is freed
            // only in `drop` (see `published`).
            unsafe { &(*entry).value }
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
