//! The current mode and the transition count in one atomic word.
//!
//! The word packs the number of transitions so far (47 bits) above the
//! mode's code (17 bits: 0 for "no mode yet", `id + 1` otherwise). A
//! record of the current mode is a load and nothing else; a change is one
//! CAS that installs the new mode *and* bumps the count, so the count is
//! exactly the number of changes in the CAS order, and each change gets a
//! unique sequence number that agrees with that order.
//!
//! The seed's suggestion, an atomic swap of the mode plus an atomic
//! increment of a counter, counts exactly too, but two racing changes can
//! take their counter tickets in the opposite order to their swaps, so a
//! transition log numbered by the tickets could end on a mode that is not
//! the current one; and the swap writes (and moves the cache line) even
//! when the mode does not change.
//!
//! Progress: lock-free (a CAS loop that retries only when another change
//! won).

use crate::{
    snapshot::Mode,
    sync::{AtomicU64, Ordering},
};

const CODE_BITS: u32 = 17;
const CODE_MASK: u64 = (1 << CODE_BITS) - 1;

fn code(mode: Mode) -> u64 {
    u64::from(mode.0) + 1
}

fn decode(code: u64) -> Option<Mode> {
    (code != 0).then(|| Mode((code - 1) as u16))
}

/// What the word says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeState {
    /// Transitions since creation.
    pub seq: u64,
    /// The mode most recently installed, if any.
    pub current: Option<Mode>,
}

impl ModeState {
    fn unpack(word: u64) -> Self {
        ModeState {
            seq: word >> CODE_BITS,
            current: decode(word & CODE_MASK),
        }
    }
}

/// A change the cell accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its sequence number (1 for the first change ever).
    pub seq: u64,
    /// The mode it replaced.
    pub from: Option<Mode>,
}

/// The shared mode word.
#[derive(Debug, Default)]
pub struct ModeCell(AtomicU64);

impl ModeCell {
    /// Records `mode`: `Some` if it changed the mode.
    #[inline]
    pub fn record(&self, mode: Mode) -> Option<Change> {
        let code = code(mode);
        // Relaxed everywhere: the word is the whole state; its modification
        // order alone defines the transitions, and no other memory is
        // published through it (the transition log has its own protocol).
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if current & CODE_MASK == code {
                return None;
            }
            let seq = (current >> CODE_BITS) + 1;
            let new = (seq << CODE_BITS) | code;
            #[cfg(not(lockfree_metrics_broken = "mode_not_atomic"))]
            let result =
                self.0
                    .compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed);
            // A load-then-store "update" that loses concurrent changes, for
            // the loom models to catch.
            #[cfg(lockfree_metrics_broken = "mode_not_atomic")]
            let result = {
                self.0.store(new, Ordering::Relaxed);
                Ok::<u64, u64>(current)
            };
            match result {
                Ok(_) => {
                    return Some(Change {
                        seq,
                        from: decode(current & CODE_MASK),
                    })
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The mode and transition count now.
    pub fn load(&self) -> ModeState {
        // Relaxed: see `record`.
        ModeState::unpack(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_changes_and_numbers_them() {
        let cell = ModeCell::default();
        assert_eq!(
            cell.load(),
            ModeState {
                seq: 0,
                current: None
            }
        );
        assert_eq!(
            cell.record(Mode(u16::MAX)),
            Some(Change { seq: 1, from: None })
        );
        assert_eq!(cell.record(Mode(u16::MAX)), None);
        assert_eq!(
            cell.record(Mode(0)),
            Some(Change {
                seq: 2,
                from: Some(Mode(u16::MAX))
            })
        );
        assert_eq!(
            cell.load(),
            ModeState {
                seq: 2,
                current: Some(Mode(0))
            }
        );
    }
}
