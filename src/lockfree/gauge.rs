//! A gauge's current value, beside the counts of every value recorded.
//! The claim both strategies keep: **a value shown as current is counted
//! in the distribution shown with it** (so it is at most the maximum
//! shown), in snapshots racing records and in intervals racing resets.
//!
//! - [`Latest`], for one writer (a `Sharded` shard): a pair of slots
//!   written alternately, each a seqlock (Lameter's seqlock, with the fence
//!   placement of Boehm, "Can Seqlocks Get Along with Programming Language
//!   Memory Models?", MSPC 2012). Record `k` opens slot `k mod 2` (odd
//!   version), writes its time and value, stores its count with
//!   `Release`, then closes the slot (even version, `Release`). A reader
//!   takes the newest closed slot, validates it, and reads the counts
//!   after it: closed means counted. Record `k + 1` writes the other slot,
//!   so a reader is never stalled by the record in progress, and retries
//!   only when the owner has finished a record and started the next one
//!   during its three loads. A reset reads the counts first and the slot
//!   versions after: any record it counted has opened its slot by then, so
//!   the reset saves a record number at least as new, and later readers
//!   show only records after it.
//! - [`Tagged`], for any writers (the `Atomic` strategy): one word packing
//!   the value with the reset epoch it was counted in, stored after the
//!   count with `Release`; readers and resets serialise on one lock, so a
//!   reader sees one epoch throughout, and a value tagged with it was
//!   counted in it.
//!
//! Across shards the current value is the one recorded at the latest clock
//! reading; the clock is monotonic across threads, so a record that
//! happens after another one (through a lock, a channel, a join) is shown
//! in its place, unless both read the same clock tick, when either may be.
//!
//! Progress: writes are wait-free; `Latest::read` is lock-free.

use crate::sync::{broken, fence, ordering, spin_wait, AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Slot {
    /// `2k - 1` while record `k` is written, `2k` once it is counted.
    version: AtomicU64,
    at_ns: AtomicU64,
    value: AtomicU64,
}

/// The latest value of a single-writer gauge (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Latest {
    slots: [Slot; 2],
}

/// A record of a [`Latest`] in progress: store its count, then
/// [`close`](Latest::close) it.
#[must_use = "a record must be closed after its count is stored"]
#[derive(Debug)]
pub(crate) struct Open {
    slot: usize,
    version: u64,
}

/// A value read from a [`Latest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shown {
    /// Which of the shard's records it is (1 for the first).
    pub(crate) record: u64,
    pub(crate) at_ns: u64,
    pub(crate) value: u64,
}

impl Latest {
    /// Opens the next record, of `value` read at `at_ns`; the caller is the
    /// only writer.
    #[inline]
    pub(crate) fn open(&self, at_ns: u64, value: u64) -> Open {
        // Relaxed: only this thread writes the versions.
        let last = self.slots[0]
            .version
            .load(Ordering::Relaxed)
            .max(self.slots[1].version.load(Ordering::Relaxed));
        let record = last / 2 + 1;
        let index = (record & 1) as usize;
        let slot = &self.slots[index];
        // Relaxed, then a Release fence: a reader whose payload loads see
        // the stores below sees this odd version when it validates (after
        // its Acquire fence), so it never takes a half-written slot; and a
        // reset whose Acquire load sees the record's count (stored after
        // the fence) sees this version, so it saves this record as opened.
        slot.version.store(2 * record - 1, Ordering::Relaxed);
        // (No fence in the broken variant, for the loom models to catch.)
        if !broken!("gauge_open_no_fence") {
            fence(Ordering::Release);
        }
        // Relaxed: published by the closing Release store.
        slot.at_ns.store(at_ns, Ordering::Relaxed);
        slot.value.store(value, Ordering::Relaxed);
        Open {
            slot: index,
            version: 2 * record,
        }
    }

    /// Closes `open`, after its count was stored.
    #[inline]
    pub(crate) fn close(&self, open: Open) {
        // Release: a reader that acquires this version sees the count (and
        // the payload) stored before it.
        self.slots[open.slot].version.store(
            open.version,
            ordering!(Release, broken "gauge_close_relaxed"),
        );
    }

    /// The newest counted record, if any; read it before the counts.
    pub(crate) fn read(&self) -> Option<Shown> {
        loop {
            // Acquire: pairs with `close`, so the record's count is visible
            // to the count loads that follow this read.
            let versions = [
                self.slots[0].version.load(Ordering::Acquire),
                self.slots[1].version.load(Ordering::Acquire),
            ];
            let (index, version) = versions
                .into_iter()
                .enumerate()
                .filter(|&(_, v)| v != 0 && v % 2 == 0)
                .max_by_key(|&(_, v)| v)?;
            let slot = &self.slots[index];
            // Relaxed: validated by the version check below.
            let at_ns = slot.at_ns.load(Ordering::Relaxed);
            let value = slot.value.load(Ordering::Relaxed);
            // Acquire fence: if a load above saw a later record's store,
            // the load below sees that record's odd version.
            fence(Ordering::Acquire);
            // Relaxed: ordered by the fence above.
            if slot.version.load(Ordering::Relaxed) == version {
                return Some(Shown {
                    record: version / 2,
                    at_ns,
                    value,
                });
            }
            // The owner finished a record and opened the next in this slot.
            spin_wait();
        }
    }

    /// Records opened so far, for a reset to save; read after the counts.
    pub(crate) fn opened(&self) -> u64 {
        // Relaxed: the reset's Acquire count loads already order this after
        // the opening store of every record they counted (that store comes
        // before the record's Release count store).
        let last = self.slots[0]
            .version
            .load(Ordering::Relaxed)
            .max(self.slots[1].version.load(Ordering::Relaxed));
        last.div_ceil(2)
    }
}

/// A gauge's current value tagged with the reset epoch it was counted in:
/// `epoch << 33 | (value + 1)`, 0 meaning none. Values fit in 32 bits
/// (`Config` caps batch sizes and queue depths).
#[derive(Debug, Default)]
pub(crate) struct Tagged(AtomicU64);

const VALUE_BITS: u32 = 33;

impl Tagged {
    /// Stores `value`, counted (before this call) in `epoch`.
    #[inline]
    pub(crate) fn store(&self, epoch: u64, value: u64) {
        // Release: a reader that acquires this value sees its count.
        self.0
            .store(epoch << VALUE_BITS | (value + 1), Ordering::Release);
    }

    /// The value stored in `epoch`, if the latest store was in it.
    pub(crate) fn load(&self, epoch: u64) -> Option<u64> {
        // Acquire: pairs with `store`; see there.
        let word = self.0.load(Ordering::Acquire);
        let value = word & ((1 << VALUE_BITS) - 1);
        (value != 0 && word >> VALUE_BITS == epoch & ((1 << (64 - VALUE_BITS)) - 1))
            .then(|| value - 1)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn latest_alternates_slots_and_counts_records() {
        let g = Latest::default();
        assert_eq!(g.read(), None);
        assert_eq!(g.opened(), 0);
        let open = g.open(5, 7);
        assert_eq!(g.read(), None);
        assert_eq!(g.opened(), 1);
        g.close(open);
        let first = Shown {
            record: 1,
            at_ns: 5,
            value: 7,
        };
        assert_eq!(g.read(), Some(first));
        // A record in progress leaves the previous one readable.
        let open = g.open(6, 9);
        assert_eq!(g.read(), Some(first));
        assert_eq!(g.opened(), 2);
        g.close(open);
        assert_eq!(g.read().map(|s| (s.record, s.value)), Some((2, 9)));
        g.close(g.open(6, 1));
        assert_eq!(g.read().map(|s| (s.record, s.value)), Some((3, 1)));
    }

    #[test]
    fn tagged_values_belong_to_their_epoch() {
        let t = Tagged::default();
        assert_eq!(t.load(0), None);
        t.store(3, 0);
        assert_eq!(t.load(3), Some(0));
        assert_eq!(t.load(4), None);
    }
}
