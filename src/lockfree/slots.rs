//! The window slot ring of `metric::window`, in atomics.
//!
//! Each entry is one `u64` per quantity (tokens, requests, side by side in
//! one cache line) packing the
//! slot's *lap* (`slot / ring_len`, low 32 bits) above its count (32 bits,
//! see [`SLOT_MAX`]). Lap and count change in one atomic store, so no
//! reader ever pairs one slot's lap with another slot's count: there is no
//! seqlock and no torn read.
//!
//! **The watermark.** The ring also keeps `newest`, one past the newest slot
//! any record has reached. A record that moves it forward first zeroes the
//! entries of the slots it skipped (at most one ring's worth), so every
//! entry of the ring always belongs to one of the `ring_len` slots up to
//! the watermark. A reader asks only for slots in that span, and compares
//! laps only to tell an entry of its slot from one a writer has since moved
//! a lap or two ahead: laps never need to be told apart across 2^32 laps,
//! however long a ring sits idle or however far the clock jumps.
//!
//! Writers come in the two modes of [`Counters`](super::counters):
//! `add_owned` (one writer: loads and stores) for shards, `add_shared` (CAS
//! loops, and `fetch_max` on the watermark) for the shared `Atomic`
//! strategy. Slot numbers come from a monotonic clock, so an owned ring's
//! records never go back; a shared ring takes records up to a ring behind
//! the watermark, from threads whose clock reading was overtaken by
//! another's. (When a shared ring's watermark jumps 2^31 laps or more, a
//! record made by another thread for one of the skipped slots at that very
//! moment may be zeroed from the windows; the totals keep it.)
//!
//! Progress: `add_owned` and reads are wait-free (a record zeroes at most
//! one ring of skipped entries); `add_shared` is lock-free.

use super::zeroed::ZeroedWords;
use crate::{
    metric::window::{slot_add, WindowSpec, SLOT_MAX},
    sync::{broken, ordering, AtomicU64, Ordering},
};

const COUNT_BITS: u32 = 32;
/// Laps kept: 32 bits, shrunk to 2 under loom so that the models reach
/// laps that repeat (as tokio shrinks its queues under loom).
#[cfg(not(loom))]
const LAP_MASK: u64 = (1 << 32) - 1;
#[cfg(loom)]
const LAP_MASK: u64 = 3;
/// Half the lap space: laps this far apart may be either order.
const LAP_HALF: u64 = LAP_MASK.div_ceil(2);

#[inline]
fn lap_of(spec: &WindowSpec, slot: u64) -> u64 {
    spec.lap_of(slot) & LAP_MASK
}

#[inline]
fn pack(lap: u64, count: u64) -> u64 {
    (lap << COUNT_BITS) | count
}

#[inline]
fn unpack(word: u64) -> (u64, u64) {
    (word >> COUNT_BITS, word & SLOT_MAX)
}

/// A ring of (tokens, requests) window slots in atomics.
#[derive(Debug)]
pub(crate) struct AtomicSlots {
    /// Entry `i`'s tokens at `2 i`, its requests at `2 i + 1`; zero pages
    /// until written (`lockfree::zeroed`).
    cells: ZeroedWords,
    /// One past the newest slot recorded (0: none yet). Every entry belongs
    /// to a slot in `newest - ring_len .. newest`.
    newest: AtomicU64,
}

impl AtomicSlots {
    pub(crate) fn new(spec: &WindowSpec) -> Self {
        AtomicSlots {
            cells: ZeroedWords::new(2 * spec.ring_len()),
            newest: AtomicU64::new(0),
        }
    }

    /// Entry `index`'s (tokens, requests) cells.
    #[inline]
    fn pair(&self, index: usize) -> [&AtomicU64; 2] {
        [&self.cells[2 * index], &self.cells[2 * index + 1]]
    }

    /// The slots from `from` (the old watermark) up to `slot`, exclusive,
    /// that a move of the watermark to `slot + 1` skips: at most one ring.
    fn skipped(spec: &WindowSpec, from: u64, slot: u64) -> std::ops::Range<u64> {
        from.max(slot.saturating_sub(spec.ring_len() as u64 - 1))..slot
    }

    /// Adds to `slot`, as the ring's only writer; true if a count saturated.
    #[inline]
    pub(crate) fn add_owned(
        &self,
        spec: &WindowSpec,
        slot: u64,
        tokens: u64,
        requests: u64,
    ) -> bool {
        // Relaxed: only this thread writes the watermark.
        let newest = self.newest.load(Ordering::Relaxed);
        // A monotonic clock never goes back; a misbehaving one's record
        // counts in the newest slot.
        let slot = slot.max(newest.saturating_sub(1));
        let index = spec.index_of(slot);
        if slot < newest {
            // The entry holds this slot: add to it.
            let mut saturated = false;
            for (cell, n) in self.pair(index).into_iter().zip([tokens, requests]) {
                // Relaxed load: this thread wrote every value the cell holds.
                let (lap, count) = unpack(cell.load(Ordering::Relaxed));
                let (sum, sat) = slot_add(count, n);
                // Relaxed: lap and count travel in this one word; readers
                // need nothing else ordered with it.
                cell.store(pack(lap, sum), Ordering::Relaxed);
                saturated |= sat;
            }
            return saturated;
        }
        self.advance(spec, newest, slot, tokens, requests)
    }

    /// Moves the owned watermark past `slot`: zeroes the skipped entries,
    /// starts `slot`'s entry with the record, then publishes the watermark.
    #[cold]
    fn advance(
        &self,
        spec: &WindowSpec,
        newest: u64,
        slot: u64,
        tokens: u64,
        requests: u64,
    ) -> bool {
        for skipped in Self::skipped(spec, newest, slot) {
            let word = pack(lap_of(spec, skipped), 0);
            let index = spec.index_of(skipped);
            // Relaxed: published by the watermark's Release store below.
            for cell in self.pair(index) {
                cell.store(word, Ordering::Relaxed);
            }
        }
        let (lap, index) = (lap_of(spec, slot), spec.index_of(slot));
        let (t, t_sat) = slot_add(0, tokens);
        let (r, r_sat) = slot_add(0, requests);
        // Relaxed: published by the watermark's Release store below.
        let [t_cell, r_cell] = self.pair(index);
        t_cell.store(pack(lap, t), Ordering::Relaxed);
        r_cell.store(pack(lap, r), Ordering::Relaxed);
        // Release: a reader that acquires the watermark sees every entry it
        // covers in its new slot. (Relaxed in the broken variant, for the
        // loom models to catch: a reader may see the new watermark before
        // the zeroed entries.)
        self.newest.store(
            slot.saturating_add(1),
            ordering!(Release, broken "slots_watermark_relaxed"),
        );
        t_sat || r_sat
    }

    /// Adds to `slot` from any thread; true if a count saturated. A slot a
    /// whole ring behind the watermark is outside every window and is not
    /// added (totals still count it).
    #[inline]
    pub(crate) fn add_shared(
        &self,
        spec: &WindowSpec,
        slot: u64,
        tokens: u64,
        requests: u64,
    ) -> bool {
        // Relaxed: a stale watermark only makes this writer zero entries
        // that are already zero (the CAS below leaves newer laps alone).
        let newest = self.newest.load(Ordering::Relaxed);
        // After a jump of 2^31 laps or more, an entry's lap can look newer
        // (or equal) by wrapping: every entry is older then.
        let far = slot >= newest && spec.lap_of(slot - newest) >= LAP_HALF;
        if slot >= newest {
            for skipped in Self::skipped(spec, newest, slot) {
                let (lap, index) = (lap_of(spec, skipped), spec.index_of(skipped));
                for cell in self.pair(index) {
                    Self::restart_older(cell, lap, 0, far);
                }
            }
        } else if slot.saturating_add(spec.ring_len() as u64) <= newest.saturating_sub(1) {
            return false;
        }
        let (lap, index) = (lap_of(spec, slot), spec.index_of(slot));
        let mut saturated = false;
        for (cell, n) in self.pair(index).into_iter().zip([tokens, requests]) {
            saturated |= Self::restart_older(cell, lap, n, far);
        }
        if slot >= newest {
            // Release: as in `advance`. Concurrent movers may finish in any
            // order; the maximum wins, and each zeroed only entries of laps
            // older than the slots it skipped.
            self.newest
                .fetch_max(slot.saturating_add(1), Ordering::Release);
        }
        saturated
    }

    /// Adds `n` to `cell` if it holds `lap`; starts it over at `n` if it
    /// holds an older lap, or any lap when `older` says all are; leaves a
    /// newer lap alone. True if it saturated.
    fn restart_older(cell: &AtomicU64, lap: u64, n: u64, older: bool) -> bool {
        // Relaxed throughout: the word is self-contained, and the CAS makes
        // concurrent adds sum up.
        let mut current = cell.load(Ordering::Relaxed);
        // Once a CAS fails, whoever changed the entry wrote in this epoch.
        let mut older = older;
        loop {
            let (word_lap, count) = unpack(current);
            // Laps compared within a few of each other: see the module docs.
            let count = if word_lap == lap && !older {
                count
            } else if older || lap.wrapping_sub(word_lap) & LAP_MASK < LAP_HALF {
                0
            } else {
                return false;
            };
            let (sum, saturated) = slot_add(count, n);
            let result = if broken!("slots_shared_not_atomic") {
                // Broken on purpose, for the loom models to catch: a
                // load-then-store loses an add made in between.
                cell.store(pack(lap, sum), Ordering::Relaxed);
                Ok(current)
            } else {
                cell.compare_exchange_weak(
                    current,
                    pack(lap, sum),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
            };
            match result {
                Ok(_) => return saturated,
                Err(actual) => {
                    older = false;
                    current = actual;
                }
            }
        }
    }

    /// (tokens, requests) of `slot`: zero if no record has reached it or the
    /// ring has moved past it.
    #[inline]
    pub(crate) fn read(&self, spec: &WindowSpec, slot: u64) -> (u64, u64) {
        // Acquire: pairs with the watermark's Release, so every entry it
        // covers is seen in (at least) that move's slot.
        let newest = self
            .newest
            .load(ordering!(Acquire, broken "slots_watermark_relaxed"));
        if slot >= newest || slot.saturating_add(spec.ring_len() as u64) <= newest.saturating_sub(1)
        {
            return (0, 0);
        }
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        // Relaxed: each word is self-contained; a lap other than the slot's
        // means a writer has since moved the entry on.
        let count = |cell: &AtomicU64| match unpack(cell.load(Ordering::Relaxed)) {
            (l, count) if l == lap => count,
            _ => 0,
        };
        let [tokens, requests] = self.pair(index).map(count);
        (tokens, requests)
    }

    /// Takes `slot`'s counts, leaving zero under the same lap: each add
    /// lands either in what is returned or in the entry afterwards.
    pub(crate) fn take(&self, spec: &WindowSpec, slot: u64) -> (u64, u64) {
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        let take = |cell: &AtomicU64| {
            // Relaxed: as in `restart_older`.
            let mut current = cell.load(Ordering::Relaxed);
            loop {
                let (l, count) = unpack(current);
                if l != lap || count == 0 {
                    return 0;
                }
                match cell.compare_exchange_weak(
                    current,
                    pack(lap, 0),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return count,
                    Err(actual) => current = actual,
                }
            }
        };
        if self.read(spec, slot) == (0, 0) {
            return (0, 0);
        }
        let [tokens, requests] = self.pair(index).map(take);
        (tokens, requests)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::config::Config;

    fn spec() -> WindowSpec {
        WindowSpec::new(&Config::default())
    }

    #[test]
    fn laps_separate_slots_sharing_an_entry() {
        let spec = spec();
        let ring = spec.ring_len() as u64;
        for shared in [false, true] {
            let slots = AtomicSlots::new(&spec);
            let add = |slot, t, r| {
                if shared {
                    slots.add_shared(&spec, slot, t, r)
                } else {
                    slots.add_owned(&spec, slot, t, r)
                }
            };
            assert!(!add(5, 3, 1));
            assert!(!add(5, 4, 1));
            assert_eq!(slots.read(&spec, 5), (7, 2));
            assert_eq!(slots.read(&spec, 5 + ring), (0, 0));
            // The next lap takes the entry over; the old slot reads as empty.
            add(5 + ring, 1, 0);
            assert_eq!(slots.read(&spec, 5), (0, 0));
            assert_eq!(slots.read(&spec, 5 + ring), (1, 0));
            assert_eq!(slots.take(&spec, 5 + ring), (1, 0));
            assert_eq!(slots.read(&spec, 5 + ring), (0, 0));
        }
    }

    #[test]
    fn a_shared_write_a_ring_behind_is_dropped() {
        let spec = spec();
        let ring = spec.ring_len() as u64;
        let slots = AtomicSlots::new(&spec);
        slots.add_shared(&spec, 5 + ring, 1, 1);
        slots.add_shared(&spec, 5, 9, 9);
        assert_eq!(slots.read(&spec, 5 + ring), (1, 1));
        // A slot within the ring, behind the watermark, still counts.
        slots.add_shared(&spec, 6, 2, 2);
        assert_eq!(slots.read(&spec, 6), (2, 2));
    }

    #[test]
    fn idle_rings_never_confuse_laps() {
        let spec = spec();
        let ring = spec.ring_len() as u64;
        for shared in [false, true] {
            let slots = AtomicSlots::new(&spec);
            let add = |slot| {
                if shared {
                    slots.add_shared(&spec, slot, 1, 1)
                } else {
                    slots.add_owned(&spec, slot, 1, 1)
                }
            };
            add(3);
            // Exactly 2^32 laps later the lap bits repeat; the skipped
            // entries were zeroed, so nothing old is read as new.
            let later = 3 + (ring << 32);
            add(later + 1);
            assert_eq!(slots.read(&spec, later), (0, 0));
            assert_eq!(slots.read(&spec, later + 1), (1, 1));
            add(later);
            // Owned, a record behind the watermark counts in the newest
            // slot; shared, in its own.
            let newest = if shared { 1 } else { 2 };
            assert_eq!(slots.read(&spec, later + 1), (newest, newest));
        }
    }

    #[test]
    fn counts_saturate() {
        let spec = spec();
        let slots = AtomicSlots::new(&spec);
        assert!(slots.add_shared(&spec, 1, u64::MAX, 0));
        assert!(slots.add_shared(&spec, 1, 1, 0));
        assert_eq!(slots.read(&spec, 1), (SLOT_MAX, 0));
        let owned = AtomicSlots::new(&spec);
        assert!(owned.add_owned(&spec, 1, u64::MAX, 0));
        assert!(owned.add_owned(&spec, 1, 1, 0));
        assert_eq!(owned.read(&spec, 1), (SLOT_MAX, 0));
    }
}
