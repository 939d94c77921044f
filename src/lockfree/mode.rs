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
    sync::{broken, AtomicU64, Ordering},
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
    /// Records `mode`: `Some` if it changed the mode. (The strategies use
    /// `record_at`; this is kept for the unit tests and loom models.)
    #[inline]
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub fn record(&self, mode: Mode) -> Option<Change> {
        self.record_at(mode, || 0).map(|(change, _)| change)
    }

    /// Records `mode`, and for a change also the time `now` reads, taken
    /// after the change it follows and before its own: so the times of
    /// changes never go back in sequence order (reading the clock after the
    /// CAS instead lets two racing changes stamp their times in the
    /// opposite order to their sequence numbers).
    #[inline]
    pub fn record_at(&self, mode: Mode, mut now: impl FnMut() -> u64) -> Option<(Change, u64)> {
        let code = code(mode);
        // The word's modification order alone defines the transitions. The
        // one thing published through it is the time of a change: Acquire
        // loads (and failed CASes) pair with the Release of the CAS that
        // installed the change they read, so the clock reading of that
        // change happens before the one taken here.
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & CODE_MASK == code {
                return None;
            }
            let seq = (current >> CODE_BITS) + 1;
            let new = (seq << CODE_BITS) | code;
            let at = now();
            let result = if broken!("mode_not_atomic") {
                // A load-then-store "update" that loses concurrent changes,
                // for the loom models to catch.
                self.0.store(new, Ordering::Relaxed);
                Ok(current)
            } else {
                self.0
                    .compare_exchange_weak(current, new, Ordering::Release, Ordering::Acquire)
            };
            match result {
                Ok(_) => {
                    return Some((
                        Change {
                            seq,
                            from: decode(current & CODE_MASK),
                        },
                        at,
                    ))
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The mode and transition count now.
    pub fn load(&self) -> ModeState {
        // Relaxed: a reader needs the word alone; only changers need the
        // time ordering of `record_at`.
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
