//! Per-series storage that starts shared and spreads over per-thread cells
//! once it is contended, within a registry-wide memory budget.
//!
//! A series starts with one set of shared cells, written by atomic
//! read-modify-writes: the right storage for the many series that few
//! threads touch. Writers *probe* now and then (a cheap test on the value
//! their RMW returns, e.g. every 1,024th record): a probe swaps a token of
//! the probing thread into the series; finding another thread's token
//! there means two threads recorded it recently, and *promotes* the series:
//! a [`ShardMap`] (the sharded strategy's per-thread lookup,
//! `lockfree::shard_map`) is published in it with a CAS. From then on each
//! thread's next record allocates that thread's own cells, line-padded, and
//! records into them with plain stores; the shared cells keep what they
//! hold and take the records of threads that have no cells.
//!
//! **Each record lands in exactly one cell.** Promotion adds cells and
//! never moves counts: a record goes to the recording thread's own cell if
//! it has one, otherwise to the shared cell, and a reader sums the shared
//! cell and every per-thread cell. Cells only grow, so every reading is a
//! valid cut of each of them, as in `lockfree::counters`.
//!
//! **The budget** caps the bytes of per-thread cells (and of their maps)
//! over the whole registry. A thread whose cells would exceed it is given a
//! *refused* entry instead, remembered in the map so that the refusal is
//! paid once, and records into the shared cell from then on: nothing is
//! lost, the series merely stays shared for that thread. Refusals are
//! counted. Freed series return their bytes.
//!
//! Progress: a record is wait-free: one Acquire load of the map pointer, and
//! either the shard map's wait-free lookup (allocating the thread's cells
//! on its first record after promotion) or the shared RMW; a probe is one
//! swap and, once per series, one CAS.

use std::{marker::PhantomData, ptr, sync::Arc};

use crossbeam_utils::CachePadded;

use crate::{
    lockfree::ShardMap,
    sync::{broken, ordering, thread_token, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
};

/// Records between a shared cell's probes: a power of two (1 under loom,
/// so that the models reach promotion).
pub(crate) const PROBE_EVERY: u64 = if cfg!(loom) { 1 } else { 1 << 10 };

/// Whether adding `add` to a cell that held `old` crosses a multiple of
/// `PROBE_EVERY << scale_log2`: the writers' test for probing, on the value
/// their RMW returned anyway.
#[inline]
pub(crate) fn crosses(old: u64, add: u64, scale_log2: u32) -> bool {
    (old ^ old.wrapping_add(add))
        .checked_shr(PROBE_EVERY.trailing_zeros() + scale_log2)
        .is_some_and(|carried| carried != 0)
}

/// Counters the registry keeps about itself, shared with its series.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) created: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) folded: AtomicU64,
    /// Names in the index (stored under the index mutex).
    pub(crate) names: AtomicU64,
    pub(crate) non_finite_gauge_writes: AtomicU64,
}

/// What every series shares with the registry.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) budget: Budget,
    pub(crate) counts: Counts,
}

/// The registry-wide budget for per-thread cells.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    pub(crate) refusals: AtomicU64,
    pub(crate) cells: AtomicU64,
    pub(crate) promotions: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            refusals: AtomicU64::new(0),
            cells: AtomicU64::new(0),
            promotions: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` from the budget, or refuses (and counts the refusal).
    fn reserve(&self, bytes: usize) -> bool {
        // Relaxed: the budget is its own datum; the RMW's total order keeps
        // concurrent reservations from both fitting in one remainder.
        let fits = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok();
        if !fits {
            // Relaxed: a statistic.
            self.refusals.fetch_add(1, Ordering::Relaxed);
        }
        fits
    }

    fn release(&self, bytes: usize) {
        // Relaxed: as in `reserve`; only bytes reserved are released.
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes of per-thread cells and maps held now.
    pub(crate) fn used(&self) -> usize {
        // Relaxed: a statistic.
        self.used.load(Ordering::Relaxed)
    }

    /// The cap on [`used`](Self::used).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// A thread's entry in a promoted series' map.
#[derive(Debug)]
enum Slot<T> {
    /// The thread's own cells, boxed and padded: the map's entries of
    /// neighbouring threads share lines, but are written only once.
    Own(Box<CachePadded<T>>),
    /// The budget refused them: this thread records into the shared cells.
    Refused,
}

/// What the map itself costs, charged to the budget at promotion: the
/// `ShardMap` (its `ThreadLocal` bucket array and spare slots, 1,536 bytes
/// on 64-bit targets) and its spare queue's heap (64 slots of a value and a
/// stamp, 1,024); `the_map_charge_covers_the_map` checks it.
pub(crate) const MAP_BYTES: usize = 2560;

/// A series' per-thread cells of type `T`, absent until promotion.
pub(crate) struct Spread<T: Send + Sync> {
    map: AtomicPtr<ShardMap<Slot<T>>>,
    /// The token of the thread that probed last (0: none yet).
    probe: AtomicUsize,
    /// Whose budget the cells are charged to.
    shared: Arc<Shared>,
    /// Bytes each thread's cells own besides `T` (a histogram's counts).
    extra: usize,
    _owns: PhantomData<T>,
}

impl<T: Send + Sync> Spread<T> {
    /// A thread's cells as charged to the budget, besides `extra`: the
    /// boxed cells and the thread's entry in the map (`ThreadLocal` stores
    /// the `Slot` and a presence flag).
    const CELL_BYTES: usize =
        std::mem::size_of::<CachePadded<T>>() + 2 * std::mem::size_of::<usize>();

    /// No per-thread cells yet; each thread's will own `extra` bytes
    /// besides `T`.
    pub(crate) fn new(shared: Arc<Shared>, extra: usize) -> Self {
        Spread {
            map: AtomicPtr::new(ptr::null_mut()),
            probe: AtomicUsize::new(0),
            shared,
            extra,
            _owns: PhantomData,
        }
    }

    fn budget(&self) -> &Budget {
        &self.shared.budget
    }

    fn map(&self) -> Option<&ShardMap<Slot<T>>> {
        // Acquire: pairs with the Release of `promote`'s CAS, so the map is
        // seen initialised (`Relaxed` in the broken variant
        // `spread_publish_relaxed`).
        let map = self
            .map
            .load(ordering!(Acquire, broken "spread_publish_relaxed"));
        // SAFETY:
        //  * a non-null map was made by `Box::into_raw` in `promote` and
        //    published initialised (Release/Acquire above);
        //  * it is freed only in `drop` (`&mut self`), so not while `&self`
        //    is borrowed.
        (!map.is_null()).then(|| unsafe { &*map })
    }

    /// Calls `record` on this thread's own cells and returns true, or
    /// returns false if the series is not promoted or this thread has no
    /// cells (the caller then records into the shared cells). `new` makes
    /// the cells on the thread's first record after promotion, if the
    /// budget grants `CELL_BYTES + extra` bytes.
    #[inline]
    pub(crate) fn record(&self, new: impl FnOnce() -> T, record: impl FnOnce(&T)) -> bool {
        let Some(map) = self.map() else {
            // A record into shared cells: arms the thread's destructor
            // guard (`lockfree::shard_map`), so that a record from one of
            // its thread-local destructors into this series, once
            // promoted, never aborts.
            crate::lockfree::note_record();
            return false;
        };
        map.with(
            || {
                let budget = self.budget();
                if budget.reserve(Self::CELL_BYTES + self.extra) {
                    // Relaxed: a statistic.
                    budget.cells.fetch_add(1, Ordering::Relaxed);
                    Slot::Own(Box::new(CachePadded::new(new())))
                } else {
                    Slot::Refused
                }
            },
            |slot| match slot {
                Slot::Own(cells) => {
                    record(cells);
                    true
                }
                // Broken on purpose in `spread_refused_drops`: a refused
                // thread's record reported as made, so it lands in no cell.
                Slot::Refused => broken!("spread_refused_drops"),
            },
        )
    }

    /// A writer's probe: promotes the series if another thread probed it
    /// last.
    #[cold]
    #[inline(never)]
    pub(crate) fn probe(&self) {
        let me = thread_token();
        // Relaxed: the token is a hint; promoting is decided by the CAS.
        let last = self.probe.swap(me, Ordering::Relaxed);
        if last != 0 && last != me {
            self.promote();
        }
    }

    /// Publishes the per-thread map, unless it exists or the budget
    /// refuses it; returns whether the series is promoted now.
    pub(crate) fn promote(&self) -> bool {
        let budget = self.budget();
        if self.map().is_some() {
            return true;
        }
        if !budget.reserve(MAP_BYTES) {
            return false;
        }
        let map = Box::into_raw(Box::new(ShardMap::new()));
        // Release on success: publishes the initialised map to `map()`
        // (`Relaxed` in the broken variant `spread_publish_relaxed`).
        // Relaxed on failure: the map is dropped, nothing is read from it.
        match self.map.compare_exchange(
            ptr::null_mut(),
            map,
            ordering!(Release, broken "spread_publish_relaxed"),
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                // Relaxed: a statistic.
                budget.promotions.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                // SAFETY: made by `Box::into_raw` just above and never
                // published: this thread owns it alone.
                drop(unsafe { Box::from_raw(map) });
                budget.release(MAP_BYTES);
            }
        }
        true
    }

    /// Whether the series has per-thread cells.
    pub(crate) fn promoted(&self) -> bool {
        self.map().is_some()
    }

    /// Every thread's own cells (some possibly missing if made
    /// concurrently).
    pub(crate) fn cells(&self) -> impl Iterator<Item = &T> {
        self.map().into_iter().flat_map(|map| {
            map.iter().filter_map(|slot| match slot {
                Slot::Own(cells) => Some(&***cells),
                Slot::Refused => None,
            })
        })
    }
}

impl<T: Send + Sync> Drop for Spread<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, so no other thread holds the series.
        let map = self.map.load(Ordering::Relaxed);
        if !map.is_null() {
            // The cells' bytes go back to the budget.
            // SAFETY: as in `map()`: published, and not yet freed.
            let cells = unsafe { &*map }
                .iter()
                .filter(|slot| matches!(slot, Slot::Own(_)))
                .count();
            self.budget()
                .release(MAP_BYTES + cells * (Self::CELL_BYTES + self.extra));
            // SAFETY: made by `Box::into_raw` in `promote`, published once,
            // freed only here.
            drop(unsafe { Box::from_raw(map) });
        }
    }
}

impl<T: Send + Sync> std::fmt::Debug for Spread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spread")
            .field("promoted", &self.promoted())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `crosses` at scale 0 is "the count moved to another multiple of
    /// `PROBE_EVERY`", the bucket and counter rule.
    #[test]
    fn crossing_is_moving_to_another_multiple() {
        let multiple = |v: u64| v & !(PROBE_EVERY - 1);
        for old in [0, 1, 1_022, 1_023, 1_024, 5_000, u64::MAX - 3, u64::MAX] {
            for add in [0, 1, 2, 1_023, 1_024, 1 << 40, u64::MAX] {
                assert_eq!(
                    crosses(old, add, 0),
                    multiple(old) != multiple(old.wrapping_add(add)),
                    "{old} + {add}"
                );
            }
        }
        // A scale past the word never crosses (nor panics).
        assert!(!crosses(u64::MAX, 1, 63));
    }

    /// The map's charge covers the map itself and its spare queue's heap
    /// (its thread entries are charged per cell).
    #[test]
    fn the_map_charge_covers_the_map() {
        let map = std::mem::size_of::<ShardMap<Slot<u64>>>();
        // `ArrayQueue` of 64 `usize` slots, each a value and a stamp.
        let queue = 64 * 2 * std::mem::size_of::<usize>();
        assert!(map + queue <= MAP_BYTES, "{map} + {queue} > {MAP_BYTES}");
    }
}
