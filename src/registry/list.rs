//! The registry's list of series, readable without a lock: a segmented
//! array of slots (segment `k` holds `BASE << k` of them, so slots never
//! move and the array grows without copying, as `thread_local`'s buckets
//! do), each an owning pointer to an [`Entry`] or null.
//!
//! One writer at a time, the registry's index mutex, inserts and removes;
//! any number of readers iterate. An insert stores the entry's pointer
//! with `Release` after building it (and publishes a new segment, and then
//! the length, the same way); a reader loads each with `Acquire`, so what
//! it reaches is initialised. A removal nulls the slot and defers the
//! entry's destruction through crossbeam-epoch (Fraser's epochs): a reader
//! pinned before the removal may still hold the entry, and the epoch
//! scheme runs the destructor only once every such reader has unpinned.
//! Freed slots are reused by later inserts; a reader that meets a reused
//! slot sees the old entry or the new one, both valid.
//!
//! **Each reading lists a series at most once.** Slots are reused, so a
//! reader that has passed slot *i* (series K) could meet K again if K is
//! dropped and recreated into a later slot while it reads. Every entry
//! carries its creation number (`Series::id`, assigned in order under the
//! index mutex), and the list publishes how many entries it has ever
//! inserted (`created`, stored with `Release` after each insert). A
//! reading loads `created` with `Acquire` first and skips every entry
//! numbered at or above it. Proof: a key is in the index at most once, so
//! two entries of one key were inserted one after the other, the older
//! removed (its slot nulled) before the newer was inserted, both under
//! the index mutex. If the reading lists the newer (number below
//! `created`), the insert that stored the `created` it loaded happens
//! after that removal, and its `Release` store and the reading's `Acquire`
//! load make the removal happen before the reading, which therefore finds
//! the older entry's slot null or holding a later entry: never the older
//! entry. (A series created during the reading is left to the next one.)
//!
//! Progress: iteration is lock-free (pinning, then loads); inserts and
//! removals hold the index mutex and never wait for readers.

use crossbeam_epoch::{Collector, Guard};

use super::entry::Entry;
use crate::sync::{broken, ordering, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Slots in segment 0.
const BASE: usize = 32;
/// Segments: `BASE * (2^SEGMENTS - 1)` slots in all, past any address space's
/// worth of series.
const SEGMENTS: usize = 40;

/// The series list (see the module docs).
pub(crate) struct SeriesList {
    segments: [AtomicPtr<AtomicPtr<Entry>>; SEGMENTS],
    /// Slots ever used: every slot below it is in an allocated segment.
    len: AtomicUsize,
    /// Entries ever inserted: one past the newest entry's creation number.
    created: AtomicU64,
    collector: Collector,
}

/// Segment and offset of slot `index`.
fn locate(index: usize) -> (usize, usize) {
    let k = (index / BASE + 1).ilog2() as usize;
    (k, index - BASE * ((1 << k) - 1))
}

impl SeriesList {
    pub(crate) fn new(collector: Collector) -> Self {
        SeriesList {
            segments: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            len: AtomicUsize::new(0),
            created: AtomicU64::new(0),
            collector,
        }
    }

    /// A guard of this list's collector, for [`iter`](Self::iter).
    pub(crate) fn pin(&self) -> Guard {
        self.collector.register().pin()
    }

    fn slot(&self, index: usize) -> Option<&AtomicPtr<Entry>> {
        let (k, at) = locate(index);
        // Acquire: pairs with the Release that published the segment, so
        // its slots (initialised null) are seen initialised.
        let segment = self.segments.get(k)?.load(Ordering::Acquire);
        // SAFETY:
        //  * a non-null segment was made by `Box::into_raw` of a boxed slice
        //    of `BASE << k` slots in `insert` and published initialised
        //    (Release/Acquire above); `at < BASE << k` by `locate`;
        //  * segments are freed only in `drop` (`&mut self`), so not while
        //    `&self` is borrowed.
        (!segment.is_null()).then(|| unsafe { &*segment.add(at) })
    }

    /// Stores `entry` at slot `index` (free, or the next past the end).
    /// The caller holds the index mutex: the list has one writer.
    pub(crate) fn insert(&self, index: usize, entry: Box<Entry>) {
        let id = entry.head().id;
        let (k, _) = locate(index);
        assert!(k < SEGMENTS, "series list full");
        // Relaxed: only the writer stores segments, and it is this thread.
        if self.segments[k].load(Ordering::Relaxed).is_null() {
            let slots: Box<[AtomicPtr<Entry>]> = (0..BASE << k)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect();
            // Release: publishes the initialised slots to `slot`.
            self.segments[k].store(Box::into_raw(slots).cast(), Ordering::Release);
        }
        let slot = self.slot(index).expect("segment allocated above");
        // Relaxed: the writer's own slot; it is null (a free slot).
        debug_assert!(
            slot.load(Ordering::Relaxed).is_null(),
            "slot {index} in use"
        );
        // Release: publishes the initialised entry to readers' Acquire loads
        // (`Relaxed` in the broken variant `series_list_relaxed`: a reader
        // that meets the pointer in a reused slot, under a length it saw
        // before, need not see the entry built).
        slot.store(
            Box::into_raw(entry),
            ordering!(Release, broken "series_list_relaxed"),
        );
        // Relaxed load (the writer's own), Release store: a reader that sees
        // the length sees the segment stored before it.
        if self.len.load(Ordering::Relaxed) <= index {
            self.len.store(index + 1, Ordering::Release);
        }
        // Release: a reading whose Acquire load returns `id + 1` lists this
        // entry, and the removals made before it (under the index mutex)
        // happen before that reading (see the module docs).
        self.created.store(id + 1, Ordering::Release);
    }

    /// Empties slot `index`; its entry is destroyed once no reader pinned
    /// before now holds it. The caller holds the index mutex.
    pub(crate) fn remove(&self, index: usize) {
        let Some(slot) = self.slot(index) else { return };
        // Relaxed: the writer's own store is what it reads; readers are
        // protected by the epoch, not by this ordering.
        let entry = slot.swap(std::ptr::null_mut(), Ordering::Relaxed);
        if entry.is_null() {
            return;
        }
        let guard = self.pin();
        let entry = SendPtr(entry);
        // SAFETY:
        //  * `entry` came from `Box::into_raw` in `insert` and was just
        //    unlinked, so no reader pinned from now on can load it, and no
        //    other removal can: this swap took it;
        //  * readers pinned earlier are waited for by the epoch scheme
        //    before the closure runs;
        //  * the closure frees it exactly once.
        unsafe {
            guard.defer_unchecked(move || drop(Box::from_raw(entry.into_inner())));
        }
        guard.flush();
    }

    /// Every entry in the list while `guard` is held (entries removed
    /// meanwhile may or may not be met; entries inserted meanwhile are
    /// not), with its slot: each series at most once (see the module docs).
    pub(crate) fn iter<'g>(&'g self, guard: &'g Guard) -> impl Iterator<Item = (usize, &'g Entry)> {
        let _ = guard;
        // Acquire: pairs with `insert`'s Release store, so that the removals
        // made before the entries counted here are seen (the module docs'
        // proof). Broken on purpose in `list_lists_new_entries`: no bound,
        // so a series recreated into a later slot is met twice.
        let created = if broken!("list_lists_new_entries") {
            u64::MAX
        } else {
            self.created.load(Ordering::Acquire)
        };
        // Acquire: pairs with the length's Release store, so that every slot
        // below it is in a segment this thread sees published.
        let len = self.len.load(Ordering::Acquire);
        (0..len).filter_map(move |i| {
            // Acquire: pairs with `insert`'s Release store of the entry
            // (`Relaxed` in the broken variant `series_list_relaxed`).
            let entry = self
                .slot(i)?
                .load(ordering!(Acquire, broken "series_list_relaxed"));
            // SAFETY:
            //  * non-null: made by `Box::into_raw` in `insert`, initialised
            //    before its Release store;
            //  * it is destroyed only by the closure `remove` defers after
            //    unlinking it, which the epoch scheme runs only after every
            //    guard pinned before the unlink is dropped; `guard` is such
            //    a guard or was pinned after the unlink (then the load
            //    could not have returned it), and it outlives `'g`.
            (!entry.is_null())
                .then(|| (i, unsafe { &*entry }))
                .filter(|(_, entry)| entry.head().id < created)
        })
    }
}

/// A pointer moved into a deferred destructor (which crossbeam-epoch may run
/// on another thread): the entry it owns is `Send`.
struct SendPtr(*mut Entry);

impl SendPtr {
    /// By method, so that a closure captures the wrapper whole (edition
    /// 2021 closures capture fields, which would capture the raw pointer).
    fn into_inner(self) -> *mut Entry {
        self.0
    }
}

// SAFETY: `Entry` is `Send` (its handles are `Arc`s of `Send + Sync`
// series), and the pointer is only dereferenced by the one closure that
// owns it.
unsafe impl Send for SendPtr {}

impl Drop for SeriesList {
    fn drop(&mut self) {
        // Relaxed throughout: `&mut self`, so no other thread holds the list.
        let len = self.len.load(Ordering::Relaxed);
        for i in 0..len {
            if let Some(slot) = self.slot(i) {
                let entry = slot.load(Ordering::Relaxed);
                if !entry.is_null() {
                    // SAFETY: made by `Box::into_raw` in `insert`, still
                    // linked, so owned by the list and freed only here.
                    drop(unsafe { Box::from_raw(entry) });
                }
            }
        }
        for (k, segment) in self.segments.iter().enumerate() {
            let segment = segment.load(Ordering::Relaxed);
            if !segment.is_null() {
                let slots = std::ptr::slice_from_raw_parts_mut(segment, BASE << k);
                // SAFETY: made by `Box::into_raw` of a boxed slice of
                // `BASE << k` slots in `insert`, freed only here.
                drop(unsafe { Box::from_raw(slots) });
            }
        }
    }
}

impl std::fmt::Debug for SeriesList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesList")
            // Relaxed: a figure for debugging.
            .field("slots", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_segments() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(31), (0, 31));
        assert_eq!(locate(32), (1, 0));
        assert_eq!(locate(95), (1, 63));
        assert_eq!(locate(96), (2, 0));
        let last = BASE * ((1 << (SEGMENTS - 1)) - 1);
        assert_eq!(locate(last), (SEGMENTS - 1, 0));
    }
}
