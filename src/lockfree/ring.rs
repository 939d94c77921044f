//! The ring that carries mode-transition events from a shard to readers: a
//! single-producer, multi-reader ring that overwrites its oldest entry when
//! full, each entry guarded by a seqlock (Lameter's seqlock, with the fence
//! placement of Boehm, "Can Seqlocks Get Along with Programming Language
//! Memory Models?", MSPC 2012).
//!
//! **Full policy: overwrite the oldest, count nothing lost.** A shard's
//! ring holds at least as many entries as the transition log shows, so the
//! entries it overwrites are older than its own newest `capacity` events
//! and can never be among the log's most recent entries, which is all the
//! log reports; the transition *count* does not depend on the ring at all
//! (it lives in the mode word). So a full ring never blocks the writer and
//! never loses anything a reader is owed.
//!
//! Readers copy entries out without consuming them (there is no drain and
//! no consumer state), and retry an entry a few times if its writer is
//! mid-update; an entry still unstable after that is skipped, which can
//! only hide an event that is being written during the snapshot.
//!
//! Progress: `push` is wait-free; `read_into` is wait-free (bounded
//! retries).

use crate::{
    snapshot::{Mode, Transition},
    sync::{fence, spin_wait, AtomicU64, Ordering},
};

/// How often a reader retries an entry that a writer is updating.
const READ_TRIES: usize = 4;

#[derive(Debug, Default)]
struct Slot {
    /// Even: stable (0 = never written); odd: being written.
    version: AtomicU64,
    seq: AtomicU64,
    at_ns: AtomicU64,
    /// `code(from) << 17 | code(to)`, codes as in `lockfree::mode`.
    modes: AtomicU64,
}

fn code(mode: Option<Mode>) -> u64 {
    mode.map_or(0, |m| u64::from(m.0) + 1)
}

fn decode(code: u64) -> Option<Mode> {
    (code != 0).then(|| Mode((code - 1) as u16))
}

/// A shard's ring of recent transition events.
#[derive(Debug)]
pub struct EventRing {
    slots: Box<[Slot]>,
    /// Events pushed so far; written by the owner only.
    head: AtomicU64,
}

impl EventRing {
    /// A ring of at least `capacity` entries (a power of two; none for 0).
    pub fn new(capacity: usize) -> Self {
        let len = if capacity == 0 {
            0
        } else {
            capacity.next_power_of_two()
        };
        EventRing {
            slots: (0..len).map(|_| Slot::default()).collect(),
            head: AtomicU64::new(0),
        }
    }

    /// Appends `event`, overwriting the oldest entry if the ring is full.
    /// Only the ring's owner may call it.
    pub fn push(&self, event: &Transition) {
        if self.slots.is_empty() {
            return;
        }
        // Relaxed: `head` is the owner's private cursor.
        let head = self.head.load(Ordering::Relaxed);
        self.head.store(head + 1, Ordering::Relaxed);
        let slot = &self.slots[head as usize & (self.slots.len() - 1)];

        // Relaxed load: only this thread writes `version`.
        let version = slot.version.load(Ordering::Relaxed);
        slot.version.store(version + 1, Ordering::Relaxed);
        // Release fence: a reader whose payload load sees any store below
        // also sees the odd version above (after its own acquire fence), so
        // it cannot mistake a half-written entry for a stable one.
        #[cfg(not(lockfree_metrics_broken = "ring_no_fences"))]
        fence(Ordering::Release);
        // Relaxed payload stores: the version stores around them publish
        // them.
        slot.seq.store(event.seq, Ordering::Relaxed);
        slot.at_ns.store(
            u64::try_from(event.at.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        slot.modes.store(
            code(event.from) << 17 | code(Some(event.to)),
            Ordering::Relaxed,
        );
        // Release: a reader that acquires this even version sees the payload.
        #[cfg(not(lockfree_metrics_broken = "ring_no_fences"))]
        slot.version.store(version + 2, Ordering::Release);
        #[cfg(lockfree_metrics_broken = "ring_no_fences")]
        slot.version.store(version + 2, Ordering::Relaxed);
    }

    /// Copies every stable entry whose sequence number is in `seqs` into
    /// `out`.
    pub fn read_into(&self, seqs: std::ops::RangeInclusive<u64>, out: &mut Vec<Transition>) {
        for slot in self.slots.iter() {
            for _ in 0..READ_TRIES {
                // Acquire: pairs with the writer's final Release store, so the
                // payload loads see at least that write's payload.
                #[cfg(not(lockfree_metrics_broken = "ring_no_fences"))]
                let v1 = slot.version.load(Ordering::Acquire);
                #[cfg(lockfree_metrics_broken = "ring_no_fences")]
                let v1 = slot.version.load(Ordering::Relaxed);
                if v1 == 0 {
                    break;
                }
                if v1 % 2 == 1 {
                    spin_wait();
                    continue;
                }
                // Relaxed: validated by the version check below.
                let seq = slot.seq.load(Ordering::Relaxed);
                let at_ns = slot.at_ns.load(Ordering::Relaxed);
                let modes = slot.modes.load(Ordering::Relaxed);
                // Acquire fence: if any payload load above saw a newer write,
                // the version load below sees that write's odd version (or
                // later), and the entry is retried.
                #[cfg(not(lockfree_metrics_broken = "ring_no_fences"))]
                fence(Ordering::Acquire);
                // Relaxed: ordered by the fence above.
                let v2 = slot.version.load(Ordering::Relaxed);
                if v1 == v2 {
                    if seqs.contains(&seq) {
                        out.push(Transition {
                            seq,
                            at: std::time::Duration::from_nanos(at_ns),
                            from: decode(modes >> 17),
                            to: decode(modes & ((1 << 17) - 1)).unwrap_or(Mode(0)),
                        });
                    }
                    break;
                }
                spin_wait();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(seq: u64) -> Transition {
        Transition {
            seq,
            at: Duration::from_nanos(seq * 10),
            from: (seq > 1).then(|| Mode(seq as u16 - 1)),
            to: Mode(seq as u16),
        }
    }

    #[test]
    fn keeps_the_newest_capacity_events() {
        let ring = EventRing::new(3);
        for seq in 1..=10 {
            ring.push(&event(seq));
        }
        let mut out = Vec::new();
        ring.read_into(0..=u64::MAX, &mut out);
        out.sort_by_key(|t| t.seq);
        assert_eq!(out, (7..=10).map(event).collect::<Vec<_>>());
        out.clear();
        ring.read_into(8..=9, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn an_empty_ring_takes_nothing() {
        let ring = EventRing::new(0);
        ring.push(&event(1));
        let mut out = Vec::new();
        ring.read_into(0..=u64::MAX, &mut out);
        assert!(out.is_empty());
    }
}
