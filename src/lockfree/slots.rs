//! The window slot ring of `metric::window`, in atomics.
//!
//! Each entry is one `u64` per quantity (tokens, requests) packing the
//! slot's *lap* (`slot / ring_len`, 32 bits) above its count (32 bits, see
//! [`SLOT_MAX`]). An entry belongs to slot `s` when its lap is `s`'s; a
//! writer that finds an older lap, or an empty entry, starts the entry over
//! for its own slot. Because lap and count change in one atomic store, no
//! reader ever pairs one slot's lap with another slot's count: there is no
//! seqlock and no torn read. Laps are compared modulo 2^32; they wrap
//! after 2^31 laps of the ring (over 13,000 years at the default
//! 100 ms resolution and 1,024-entry ring), so only a clock that jumps
//! further than half of that could confuse an old lap with a new one.
//!
//! Writers come in the two modes of [`Counters`](super::counters):
//! `add_owned` (one writer: load, compute, store) for shards, `add_shared`
//! (a CAS loop) for the shared `Atomic` strategy.
//!
//! Progress: `add_owned` and reads are wait-free; `add_shared` is
//! lock-free.

use crate::{
    metric::window::{slot_add, WindowSpec, SLOT_MAX},
    sync::{AtomicU64, Ordering},
};

const COUNT_BITS: u32 = 32;
const LAP_MASK: u64 = (1 << 32) - 1;

#[inline]
fn lap_of(spec: &WindowSpec, slot: u64) -> u64 {
    (slot / spec.ring_len() as u64) & LAP_MASK
}

#[inline]
fn pack(lap: u64, count: u64) -> u64 {
    (lap << COUNT_BITS) | count
}

#[inline]
fn unpack(word: u64) -> (u64, u64) {
    (word >> COUNT_BITS, word & SLOT_MAX)
}

/// What adding to a slot entry holding `word` gives, or `None` if the entry
/// holds a newer lap (the slot is older than every window: skip it).
#[inline]
fn added(word: u64, lap: u64, n: u64) -> Option<(u64, bool)> {
    let (word_lap, count) = unpack(word);
    if word_lap == lap {
        let (sum, saturated) = slot_add(count, n);
        Some((pack(lap, sum), saturated))
    } else if count == 0 || lap.wrapping_sub(word_lap) & LAP_MASK < (1 << 31) {
        // An empty entry, or one of an older lap (modulo 2^32): start it
        // over. An empty entry holds nothing any window could miss.
        let (sum, saturated) = slot_add(0, n);
        Some((pack(lap, sum), saturated))
    } else {
        None
    }
}

/// A ring of (tokens, requests) window slots in atomics.
#[derive(Debug)]
pub(crate) struct AtomicSlots {
    tokens: Box<[AtomicU64]>,
    requests: Box<[AtomicU64]>,
}

impl AtomicSlots {
    pub(crate) fn new(spec: &WindowSpec) -> Self {
        let ring = || (0..spec.ring_len()).map(|_| AtomicU64::new(0)).collect();
        AtomicSlots {
            tokens: ring(),
            requests: ring(),
        }
    }

    /// Adds to `slot`, as its only writer; true if a count saturated.
    #[inline]
    pub(crate) fn add_owned(
        &self,
        spec: &WindowSpec,
        slot: u64,
        tokens: u64,
        requests: u64,
    ) -> bool {
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        let mut saturated = false;
        for (cells, n) in [(&self.tokens, tokens), (&self.requests, requests)] {
            let cell = &cells[index];
            // Relaxed load: this thread wrote every value the cell holds.
            if let Some((word, sat)) = added(cell.load(Ordering::Relaxed), lap, n) {
                // Relaxed store: lap and count travel in this one word, and
                // readers need nothing else ordered with it.
                cell.store(word, Ordering::Relaxed);
                saturated |= sat;
            }
        }
        saturated
    }

    /// Adds to `slot` from any thread; true if a count saturated.
    #[inline]
    pub(crate) fn add_shared(
        &self,
        spec: &WindowSpec,
        slot: u64,
        tokens: u64,
        requests: u64,
    ) -> bool {
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        let mut saturated = false;
        for (cells, n) in [(&self.tokens, tokens), (&self.requests, requests)] {
            let cell = &cells[index];
            // Relaxed throughout: the word is self-contained (see
            // `add_owned`), and the CAS makes concurrent adds sum up.
            let mut current = cell.load(Ordering::Relaxed);
            while let Some((word, sat)) = added(current, lap, n) {
                #[cfg(not(lockfree_metrics_broken = "slots_shared_not_atomic"))]
                let result =
                    cell.compare_exchange_weak(current, word, Ordering::Relaxed, Ordering::Relaxed);
                // Broken on purpose, for the loom models to catch: a
                // load-then-store loses an add made in between.
                #[cfg(lockfree_metrics_broken = "slots_shared_not_atomic")]
                let result = {
                    cell.store(word, Ordering::Relaxed);
                    Ok::<u64, u64>(current)
                };
                match result {
                    Ok(_) => {
                        saturated |= sat;
                        break;
                    }
                    Err(actual) => current = actual,
                }
            }
        }
        saturated
    }

    /// (tokens, requests) of `slot`: zero if its entry holds another lap.
    #[inline]
    pub(crate) fn read(&self, spec: &WindowSpec, slot: u64) -> (u64, u64) {
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        // Relaxed: each word is self-contained.
        let count = |cells: &[AtomicU64]| match unpack(cells[index].load(Ordering::Relaxed)) {
            (l, count) if l == lap => count,
            _ => 0,
        };
        (count(&self.tokens), count(&self.requests))
    }

    /// Takes `slot`'s counts, leaving zero under the same lap: each add
    /// lands either in what is returned or in the entry afterwards.
    pub(crate) fn take(&self, spec: &WindowSpec, slot: u64) -> (u64, u64) {
        let (index, lap) = (spec.index_of(slot), lap_of(spec, slot));
        let take = |cells: &[AtomicU64]| {
            let cell = &cells[index];
            // Relaxed: as in `add_shared`.
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
        (take(&self.tokens), take(&self.requests))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn laps_separate_slots_sharing_an_entry() {
        let spec = WindowSpec::new(&Config::default());
        let ring = spec.ring_len() as u64;
        let slots = AtomicSlots::new(&spec);
        assert!(!slots.add_owned(&spec, 5, 3, 1));
        assert!(!slots.add_shared(&spec, 5, 4, 1));
        assert_eq!(slots.read(&spec, 5), (7, 2));
        assert_eq!(slots.read(&spec, 5 + ring), (0, 0));
        // The next lap takes the entry over; the old slot reads as empty.
        slots.add_owned(&spec, 5 + ring, 1, 0);
        assert_eq!(slots.read(&spec, 5), (0, 0));
        assert_eq!(slots.read(&spec, 5 + ring), (1, 0));
        // A write for the older lap is skipped.
        slots.add_shared(&spec, 5, 9, 9);
        assert_eq!(slots.read(&spec, 5 + ring), (1, 0));
        assert_eq!(slots.take(&spec, 5 + ring), (1, 0));
        assert_eq!(slots.read(&spec, 5 + ring), (0, 0));
    }

    #[test]
    fn counts_saturate() {
        let spec = WindowSpec::new(&Config::default());
        let slots = AtomicSlots::new(&spec);
        assert!(slots.add_shared(&spec, 1, u64::MAX, 0));
        assert!(slots.add_owned(&spec, 1, 1, 0));
        assert_eq!(slots.read(&spec, 1), (SLOT_MAX, 0));
    }
}
