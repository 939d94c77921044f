//! A series: its [`Head`] (key, creation number, lifecycle words) and its
//! cells, whatever their kind.
//!
//! **Handles never orphan.** A handle is an `Arc` of its series, and the
//! series stays in the registry's index for as long as any handle exists:
//! removal and idle eviction take the index mutex and drop a series only
//! when the index's and the list's references are the only ones left
//! (`Arc::strong_count == UNHANDLED_REFS`, in `registry::index`). No new
//! reference can appear meanwhile: handles are made from the index under
//! that mutex, or cloned from a handle (which would make the count greater
//! than `UNHANDLED_REFS`). A series that is removed or evicted while a
//! handle lives is *hidden* instead: left in place, left out of snapshots
//! while its value is what it was when hidden, and shown again, with its
//! cumulative value, once a record changes it (the metrics#314 scenario: a
//! handle kept across an eviction keeps counting, and nothing it records is
//! lost).
//!
//! A hidden series is marked by one word, `hidden`: 0 when shown, else
//! the series' *fingerprint* (a hash of its value, low bit set) when it
//! was hidden. A reader that finds the value changed clears the word with
//! a CAS, so a series, once recorded again, stays shown; the CAS fails
//! harmlessly if the index hid it again meanwhile.

use std::sync::Arc;

use super::spread::Shared;
use crate::{
    registry::SeriesKey,
    sync::{AtomicU64, Ordering},
};

/// What a series has whatever its kind: its identity and the words of its
/// lifecycle.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) key: Arc<SeriesKey>,
    /// The series' creation number: unique over the registry's life and
    /// increasing in creation order (assigned under the index mutex), so an
    /// interval reader's saved value never meets a recreated series, and a
    /// reading can leave out every series created after it began
    /// (`registry::list`).
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    /// 0: shown; else the fingerprint when hidden (see the module docs).
    hidden: AtomicU64,
    /// For idle eviction: the fingerprint at the last sweep that saw it
    /// change, and when (nanoseconds since the registry started).
    pub(crate) seen: AtomicU64,
    pub(crate) seen_at_ns: AtomicU64,
}

/// A series of cells `C`.
#[derive(Debug)]
pub(crate) struct Series<C> {
    pub(crate) head: Head,
    pub(crate) cells: C,
}

impl<C> Series<C> {
    pub(crate) fn new(key: Arc<SeriesKey>, id: u64, cells: C, shared: Arc<Shared>) -> Self {
        Series {
            head: Head {
                key,
                id,
                shared,
                hidden: AtomicU64::new(0),
                seen: AtomicU64::new(0),
                seen_at_ns: AtomicU64::new(0),
            },
            cells,
        }
    }
}

impl Head {
    /// Hides the series at `print` (called under the index mutex).
    pub(crate) fn hide(&self, print: u64) {
        // Relaxed: the word is its own datum; readers compare it with a
        // value they read themselves.
        self.hidden.store(print | 1, Ordering::Relaxed);
    }

    /// Shows the series again (a lookup through the index wants it).
    pub(crate) fn show(&self) {
        // Relaxed: as in `hide`.
        self.hidden.store(0, Ordering::Relaxed);
    }

    /// Whether a reading whose fingerprint is `print()` leaves it out; a
    /// changed value shows it for good. `print` is called only if the
    /// series is hidden.
    pub(crate) fn hidden_at(&self, print: impl FnOnce() -> u64) -> bool {
        // Relaxed: as in `hide`.
        let hidden = self.hidden.load(Ordering::Relaxed);
        if hidden == 0 {
            return false;
        }
        if hidden == print() | 1 {
            return true;
        }
        // Relaxed: as in `hide`; failing means the index hid it again.
        let _ = self
            .hidden
            .compare_exchange(hidden, 0, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    /// Whether the series is hidden now (for statistics).
    pub(crate) fn is_hidden(&self) -> bool {
        // Relaxed: a statistic.
        self.hidden.load(Ordering::Relaxed) != 0
    }
}

/// A 64-bit mix (splitmix64's finaliser), for fingerprints.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
