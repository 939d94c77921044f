//! Counters: a shared cell plus per-thread cells once contended
//! (`registry::spread`), and an offset that `absolute` raises and large
//! increments add to.
//!
//! A counter's value is `offset + shared + sum of the per-thread cells`,
//! summed in 128 bits and reported saturated at `u64::MAX`. Increments
//! below 2^32 are one `fetch_add` on the shared cell (its 2^64 wrap would
//! take centuries of increments) or a load and a store on the thread's own
//! cell (saturating, the cut counted); larger increments saturate by CAS on
//! the offset, so that the shared cell only ever takes small ones (one
//! `u64::MAX` there would make the next small `fetch_add` wrap it to a
//! small value).
//! `absolute(v)` raises the value to `v` by adding the shortfall to the
//! offset with a CAS against the offset it read, so two racing calls
//! never both add: the loser retries from a fresh reading. Increments
//! concurrent with it land on top of `v`, as if made just after it.

use std::sync::Arc;

use super::{
    series::{mix, Series},
    spread::{crosses, Shared, Spread},
};
use crate::{
    lockfree::counters::{OwnedCounter, SharedCounter},
    sync::{broken, AtomicU64, Ordering},
};

/// A counter's cells.
#[derive(Debug)]
pub(crate) struct CounterCells {
    shared: crossbeam_utils::CachePadded<AtomicU64>,
    pub(crate) spread: Spread<OwnedCounter>,
    offset: AtomicU64,
    /// Increments cut by saturation.
    saturated: SharedCounter,
}

impl CounterCells {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CounterCells {
            shared: Default::default(),
            spread: Spread::new(shared, 0),
            offset: AtomicU64::new(0),
            saturated: SharedCounter::default(),
        }
    }

    /// `offset + shared + cells`, unsaturated.
    fn total(&self) -> u128 {
        // Relaxed: every cell is read on its own (a valid cut per cell).
        let shared = self.shared.load(Ordering::Relaxed);
        let offset = self.offset.load(Ordering::Relaxed);
        let cells: u128 = self.spread.cells().map(|c| u128::from(c.load())).sum();
        u128::from(shared) + u128::from(offset) + cells
    }

    /// The value now, saturated, and the increments cut so far.
    pub(crate) fn read(&self) -> (u64, u64) {
        let total = self.total();
        let cut = self.saturated.load() + u64::from(total > u128::from(u64::MAX));
        (u64::try_from(total).unwrap_or(u64::MAX), cut)
    }

    pub(crate) fn fingerprint(value: u64) -> u64 {
        mix(value)
    }
}

/// A monotonic counter: cheap to clone, `Send + Sync`, wait-free to
/// increment (see the [module docs](crate::registry)).
///
/// ```
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let requests = registry.counter("requests_total", &[("route", "/")])?;
/// requests.increment(1);
/// requests.clone().increment(2);
/// assert_eq!(requests.get(), 3);
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Counter {
    pub(crate) series: Arc<Series<CounterCells>>,
}

impl Counter {
    /// Adds `n`. Wait-free below 2^32 (lock-free above, where the offset
    /// saturates by CAS); allocation-free after this thread's first
    /// record into a promoted series.
    #[inline]
    pub fn increment(&self, n: u64) {
        let s = &*self.series;
        let cells = &s.cells;
        if cells.spread.record(OwnedCounter::default, |c| {
            if c.add_owned_saturating(n) {
                cells.saturated.add_shared(1);
            }
        }) {
            return;
        }
        if n >= 1 << 32 {
            return self.increment_large(n);
        }
        // Relaxed: the cell is its own datum (see `lockfree::counters`).
        let old = cells.shared.fetch_add(n, Ordering::Relaxed);
        if crosses(old, n, 0) {
            cells.spread.probe();
            if broken!("spread_moves_counts") {
                self.move_shared_to_own();
            }
        }
    }

    /// Broken on purpose, for the loom models to catch: once promoted,
    /// drains the shared cell into this thread's own, so that a reading
    /// may miss what is moved or count it twice (and a thread refused its
    /// cells loses it).
    fn move_shared_to_own(&self) {
        let cells = &self.series.cells;
        if cells.spread.promoted() {
            // Relaxed: the cell is its own datum.
            let moved = cells.shared.swap(0, Ordering::Relaxed);
            cells.spread.record(OwnedCounter::default, |c| {
                c.add_owned_saturating(moved);
            });
        }
    }

    /// Adds `n` (at least 2^32) to the offset, saturating: never to the
    /// shared cell, whose small increments are `fetch_add`s that a value
    /// near `u64::MAX` would wrap.
    #[cold]
    fn increment_large(&self, n: u64) {
        let cells = &self.series.cells;
        // Relaxed, success and failure: the offset is its own datum; an
        // `absolute` racing with this fails its CAS and reads again.
        let (Ok(old) | Err(old)) =
            cells
                .offset
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_add(n))
                });
        if old.checked_add(n).is_none() {
            cells.saturated.add_shared(1);
        }
    }

    /// Raises the counter to `value` if it is below (a counter mirrored from
    /// a source that reports totals); never lowers it. Lock-free.
    pub fn absolute(&self, value: u64) {
        let cells = &self.series.cells;
        loop {
            // Relaxed: the CAS below is against this very load.
            let offset = cells.offset.load(Ordering::Relaxed);
            let total = cells.total();
            let Some(short) = u128::from(value).checked_sub(total).filter(|&s| s > 0) else {
                return;
            };
            let raised = u64::try_from(u128::from(offset) + short).unwrap_or(u64::MAX);
            // Relaxed: as the load; a failure means another `absolute` moved
            // the offset, so the shortfall is read again.
            if cells
                .offset
                .compare_exchange(offset, raised, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The value now (everything recorded by calls that happen before this
    /// one, and any part of concurrent ones).
    pub fn get(&self) -> u64 {
        self.series.cells.read().0
    }
}
