//! An immutable value published through a `crossbeam_epoch::Atomic` and
//! replaced by compare-and-swap; a replaced value is destroyed once no
//! reader that might hold it is still pinned (Fraser's epoch-based
//! reclamation, as implemented by crossbeam-epoch).
//!
//! Readers pin, load and read; they never wait, and nothing they hold is
//! freed under them. Writers build a whole new value and swap it in; a
//! writer that loses a race rebuilds from the winner's value. After each
//! replacement the retired value's destructor is deferred and the local
//! garbage flushed, so retired values do not pile up in a thread-local bag
//! between collections (crossbeam#566).
//!
//! Progress: reads are lock-free (pinning); `update` is lock-free (a CAS
//! loop that retries only when another update won).

use crossbeam_epoch::{Atomic, Collector, Guard, Owned};

use crate::sync::{broken, ordering, Ordering};

/// The orderings of the pointer's accesses; `Relaxed` in the broken
/// variant `published_relaxed`, for the loom models to catch (a reader may
/// then see the pointer but not the value's contents).
const ACQUIRE: Ordering = ordering!(Acquire, broken "published_relaxed");
const ACQ_REL: Ordering = ordering!(AcqRel, broken "published_relaxed");

/// A shared, immutable, replaceable `T`.
pub struct Published<T: Send + Sync + 'static> {
    current: Atomic<T>,
    collector: Collector,
}

impl<T: Send + Sync + 'static> Published<T> {
    /// `value`, published; replaced values are reclaimed through
    /// `collector`.
    pub fn new(value: T, collector: Collector) -> Self {
        Published {
            current: Atomic::new(value),
            collector,
        }
    }

    fn pin(&self) -> Guard {
        #[cfg(not(loom))]
        if self.collector == *crossbeam_epoch::default_collector() {
            // The thread's cached handle: no registration per pin.
            return crossbeam_epoch::pin();
        }
        // A guard keeps its participant registered until it is dropped, even
        // though the handle itself is dropped here.
        self.collector.register().pin()
    }

    /// Calls `f` on the current value.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let guard = self.pin();
        // Acquire: pairs with the Release of the CAS in `update`, so the
        // value's contents, written before it was published, are visible.
        let current = self.current.load(ACQUIRE, &guard);
        // SAFETY:
        //  * `current` is never null: it starts as a value and every CAS
        //    installs a value;
        //  * a value is destroyed only after being replaced, by a deferred
        //    destructor that runs once every guard pinned before the
        //    replacement is gone, and `guard` outlives this borrow.
        f(unsafe { current.deref() })
    }

    /// Replaces the current value with `next(current)`, retrying with the
    /// newer value if another update got in first; returns what `next`
    /// returned alongside the value it installed.
    pub fn update<R>(&self, mut next: impl FnMut(&T) -> (T, R)) -> R {
        let guard = self.pin();
        // Acquire: as in `read`.
        let mut current = self.current.load(ACQUIRE, &guard);
        loop {
            // SAFETY: as in `read`: non-null, and protected by `guard`.
            let (value, result) = next(unsafe { current.deref() });
            // AcqRel on success: Release publishes `value`'s contents to
            // readers; Acquire orders this update after the one it replaces.
            // Acquire on failure: the newer value is read next (as in `read`).
            let installed = if broken!("published_swap") {
                // Broken on purpose, for the loom models to catch: a swap
                // installs `value` over whatever is current, so an update
                // made since `current` was read is lost.
                Ok(self.current.swap(Owned::new(value), ACQ_REL, &guard))
            } else {
                self.current
                    .compare_exchange(current, Owned::new(value), ACQ_REL, ACQUIRE, &guard)
                    .map(|_| current)
                    .map_err(|failure| failure.current)
            };
            match installed {
                Ok(replaced) => {
                    // SAFETY:
                    //  * `replaced` was just unlinked by the successful CAS,
                    //    so no reader pinned from now on can load it;
                    //  * readers pinned earlier are waited for by the epoch
                    //    scheme before the destructor runs;
                    //  * it is deferred exactly once: only the CAS that
                    //    unlinked it reaches this line.
                    unsafe { guard.defer_destroy(replaced) };
                    guard.flush();
                    return result;
                }
                Err(newer) => current = newer,
            }
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Published<T> {
    fn drop(&mut self) {
        // SAFETY:
        //  * `&mut self`: no reader or updater can hold the value any more
        //    (every borrow of `self` has ended), so no pin is needed;
        //  * the pointer is non-null (see `read`) and owned by this cell;
        //    replaced values are owned by their deferred destructors instead.
        unsafe {
            let guard = crossbeam_epoch::unprotected();
            drop(self.current.load(Ordering::Relaxed, guard).into_owned());
        }
    }
}

impl<T: Send + Sync + 'static> std::fmt::Debug for Published<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published").finish_non_exhaustive()
    }
}
