//! The transition log of both lock-free strategies: the mode word of
//! `lockfree::mode` plus a ring of entries indexed by the word's sequence
//! number, so that the log is ordered by the same CAS that orders the
//! changes themselves (not by the order in which writers reach a queue).
//!
//! **Writing.** The change that installs sequence number `s` owns entry
//! `s mod capacity` for that sequence. Several changes map to one entry
//! (`s`, `s + capacity`, ...) and their writers may overlap, so an entry is
//! three words that each carry their own proof of origin, and none is ever
//! overwritten with something older:
//!
//! - `from` and `to` pack `s << 17 | mode code`, installed by a CAS that
//!   only raises the sequence number ("CAS-max");
//! - `at` is raised with `fetch_max`: change times never go back in
//!   sequence order (`ModeCell::record_at` reads the clock after the change
//!   it follows), so the newest change's time is the entry's maximum.
//!
//! At rest each entry holds the newest change of its residue class, and
//! since every change writes its entry before its record returns, the log
//! holds exactly the newest `capacity` changes: contiguous, in time order,
//! ending on the current mode.
//!
//! **Reading** (the per-entry sequence checks of Vyukov's bounded queue,
//! used as a seqlock whose two versions are the entry's own words). A
//! reader takes its cut `S` from the mode word and reads the entries of the
//! newest `keep` sequence numbers up to `S`: `to` first, `at`, then `from`
//! last, each with `Acquire`, while writers write `from` first, `at`, then
//! `to`, each with `Release`. An entry whose `to` carries `s` has `s`'s
//! `from` and `at` or newer ones; a newer `at` was raised by a change
//! `s + capacity` or later, which raised `from` before it, so the reader's
//! last load finds a newer number in `from` and the entry is disturbed. A
//! disturbed entry means the cut is stale: the reader reads again with a
//! newer one. An entry still older than `s` belongs to a change that is
//! being recorded concurrently with the read: it is skipped, and is there
//! for any read that starts after its record returns.
//!
//! The capacity is at least twice `keep`, so a read retries only when
//! `keep` changes or more completed while it ran.

//! Progress: a change is lock-free (the mode word's CAS, then at most one
//! CAS-max per packed word, which retries only when a newer change wrote
//! the word); a read is lock-free (it retries only when other changes
//! completed) and reads at most `keep` entries per try, with no
//! allocation beyond its result.

use std::time::Duration;

use super::mode::{Change, ModeCell, ModeState};
use crate::{
    snapshot::{Mode, Transition},
    sync::{broken, ordering, spin_wait, AtomicU64, Ordering},
};

const CODE_BITS: u32 = 17;
const CODE_MASK: u64 = (1 << CODE_BITS) - 1;

fn code(mode: Option<Mode>) -> u64 {
    mode.map_or(0, |m| u64::from(m.0) + 1)
}

fn decode(code: u64) -> Option<Mode> {
    (code != 0).then(|| Mode((code - 1) as u16))
}

fn pack(seq: u64, mode: Option<Mode>) -> u64 {
    seq << CODE_BITS | code(mode)
}

#[derive(Debug, Default)]
struct Entry {
    /// `seq << 17 | code(from)`.
    from: AtomicU64,
    /// Nanoseconds on the collector's clock.
    at: AtomicU64,
    /// `seq << 17 | code(to)`.
    to: AtomicU64,
}

/// Raises `word` to `new` unless it already holds a sequence number at
/// least `new`'s.
fn cas_max(word: &AtomicU64, new: u64, order: Ordering) {
    // Relaxed: the value read only decides whether to try; the CAS below
    // carries the ordering.
    let mut current = word.load(Ordering::Relaxed);
    while current >> CODE_BITS < new >> CODE_BITS {
        match word.compare_exchange_weak(current, new, order, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// The mode word and its log of recent transitions.
#[derive(Debug)]
pub struct TransitionLog {
    mode: ModeCell,
    /// A power of two at least `2 * keep` long; empty when `keep` is 0.
    entries: Box<[Entry]>,
    keep: usize,
}

impl TransitionLog {
    /// A log that shows the newest `keep` transitions (none for 0).
    pub fn new(keep: usize) -> Self {
        let len = if keep == 0 {
            0
        } else {
            (2 * keep).next_power_of_two()
        };
        TransitionLog {
            mode: ModeCell::default(),
            entries: (0..len).map(|_| Entry::default()).collect(),
            keep,
        }
    }

    fn entry(&self, seq: u64) -> &Entry {
        &self.entries[seq as usize & (self.entries.len() - 1)]
    }

    /// Records `mode`; `now` is read only for a change that is logged.
    /// Returns the change, if it was one.
    #[inline]
    pub fn record(&self, mode: Mode, now: impl FnMut() -> u64) -> Option<Change> {
        if self.entries.is_empty() {
            return self.mode.record_at(mode, || 0).map(|(change, _)| change);
        }
        let (change, at) = self.mode.record_at(mode, now)?;
        self.write(change, mode, at);
        Some(change)
    }

    #[cold]
    fn write(&self, change: Change, to: Mode, at: u64) {
        let entry = self.entry(change.seq);
        // Release, here and on `at`: a reader whose load of `at` (or
        // `from`) sees a newer change's store then sees that change's
        // `from` (see the module docs), and its mode word when it retries.
        cas_max(
            &entry.from,
            pack(change.seq, change.from),
            Ordering::Release,
        );
        entry
            .at
            .fetch_max(at, ordering!(Release, broken "log_at_relaxed"));
        // Release: a reader that acquires this sees `from` and `at` above.
        cas_max(&entry.to, pack(change.seq, Some(to)), Ordering::Release);
    }

    /// A cut of the log: the mode word, and the logged transitions after
    /// sequence number `after` up to the word's, oldest first, at most
    /// `keep` (see the module docs for what a concurrent change may leave
    /// out).
    pub fn read(&self, after: u64) -> (ModeState, Vec<Transition>) {
        loop {
            let state = self.mode.load();
            if self.entries.is_empty() || state.seq <= after {
                return (state, Vec::new());
            }
            let first = after.max(state.seq.saturating_sub(self.keep as u64)) + 1;
            let mut recent = Vec::with_capacity((state.seq - first + 1) as usize);
            let mut disturbed = false;
            for seq in first..=state.seq {
                let entry = self.entry(seq);
                // Acquire: pairs with the writer's Release CAS, so `from`
                // and `at` are at least this change's.
                let to = entry.to.load(Ordering::Acquire);
                // Acquire, all three: pair with `write`'s Release stores;
                // `from` is read last (see the module docs). Broken on
                // purpose, for the loom models to catch: `from` read before
                // `at` no longer tells whether a newer change raised `at`.
                let from = || entry.from.load(Ordering::Acquire);
                let early = broken!("log_reads_from_first").then(from);
                let at = entry.at.load(Ordering::Acquire);
                let from = early.unwrap_or_else(from);
                let (to_seq, from_seq) = (to >> CODE_BITS, from >> CODE_BITS);
                if to_seq < seq {
                    // Still being recorded by a concurrent change.
                    continue;
                }
                if to_seq > seq || from_seq > seq {
                    disturbed = true;
                    break;
                }
                recent.push(Transition {
                    seq,
                    at: Duration::from_nanos(at),
                    from: decode(from & CODE_MASK),
                    to: decode(to & CODE_MASK).unwrap_or(Mode(0)),
                });
            }
            if !disturbed {
                return (state, recent);
            }
            spin_wait();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_in_order_after_a_cut() {
        let log = TransitionLog::new(3);
        let mut t = 0;
        for i in 0..10_u16 {
            assert!(log
                .record(Mode(i % 4), || {
                    t += 10;
                    t
                })
                .is_some());
        }
        let (state, recent) = log.read(0);
        assert_eq!((state.seq, state.current), (10, Some(Mode(1))));
        let seqs: Vec<u64> = recent.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, [8, 9, 10]);
        assert_eq!(recent[2].at, Duration::from_nanos(100));
        assert_eq!(recent[0].from, Some(Mode(2)));
        assert_eq!(recent[2].to, Mode(1));
        assert_eq!(log.read(9).1.len(), 1);
        assert!(log.read(10).1.is_empty());
    }

    #[test]
    fn an_empty_log_counts_without_reading_the_clock() {
        let log = TransitionLog::new(0);
        assert!(log.record(Mode(1), || panic!("clock read")).is_some());
        assert!(log.record(Mode(1), || panic!("clock read")).is_none());
        let (state, recent) = log.read(0);
        assert_eq!((state.seq, recent.len()), (1, 0));
    }
}
