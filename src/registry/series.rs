//! A series: its key, its cells, and its place in the registry's
//! lifecycle.
//!
//! **Handles never orphan.** A handle is an `Arc` of its series, and the
//! series stays in the registry's index for as long as any handle exists:
//! removal and idle eviction take the index mutex and drop a series only
//! when the index holds its last reference (`Arc::strong_count == 1`). No
//! new reference can appear meanwhile: handles are made from the index
//! under that mutex, or cloned from a handle (which would make the count
//! at least 2). A series that is removed or evicted while a handle lives is
//! *hidden* instead: left in place, left out of snapshots while its value
//! is what it was when hidden, and shown again, with its cumulative value,
//! once a record changes it (the metrics#314 scenario: a handle kept across
//! an eviction keeps counting, and nothing it records is lost).
//!
//! A hidden series is marked by one word, `hidden`: 0 when shown, else
//! the series' *fingerprint* (a hash of its value, low bit set) when it
//! was hidden. A reader that finds the value changed clears the word with
//! a CAS, so a series, once recorded again, stays shown; the CAS fails
//! harmlessly if the index hid it again meanwhile.

use std::sync::Arc;

use super::{counter::CounterCells, gauge::GaugeCells, histogram::HistogramCells, spread::Budget};
use crate::{
    registry::{Kind, SeriesKey},
    sync::{AtomicU64, Ordering},
};

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

/// A series of cells `C`.
#[derive(Debug)]
pub(crate) struct Series<C> {
    pub(crate) key: Arc<SeriesKey>,
    /// The series' creation number: unique over the registry's life and
    /// increasing in creation order (assigned under the index mutex), so an
    /// interval reader's saved value never meets a recreated series, and a
    /// reading can leave out every series created after it began
    /// (`registry::list`).
    pub(crate) id: u64,
    pub(crate) cells: C,
    pub(crate) shared: Arc<Shared>,
    /// 0: shown; else the fingerprint when hidden (see the module docs).
    hidden: AtomicU64,
    /// For idle eviction: the fingerprint at the last sweep that saw it
    /// change, and when (nanoseconds since the registry started).
    pub(crate) seen: AtomicU64,
    pub(crate) seen_at_ns: AtomicU64,
}

impl<C> Series<C> {
    pub(crate) fn new(key: Arc<SeriesKey>, id: u64, cells: C, shared: Arc<Shared>) -> Self {
        Series {
            key,
            id,
            cells,
            shared,
            hidden: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            seen_at_ns: AtomicU64::new(0),
        }
    }

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

/// One slot of the registry's list: a series of any kind.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Counter(Arc<Series<CounterCells>>),
    Gauge(Arc<Series<GaugeCells>>),
    Histogram(Arc<Series<HistogramCells>>),
}

impl Entry {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Entry::Counter(_) => Kind::Counter,
            Entry::Gauge(_) => Kind::Gauge,
            Entry::Histogram(_) => Kind::Histogram,
        }
    }

    /// References held: the index's, the list's, and the handles'.
    pub(crate) fn strong_count(&self) -> usize {
        match self {
            Entry::Counter(s) => Arc::strong_count(s),
            Entry::Gauge(s) => Arc::strong_count(s),
            Entry::Histogram(s) => Arc::strong_count(s),
        }
    }

    /// The series' creation number (see [`Series::id`]).
    pub(crate) fn id(&self) -> u64 {
        match self {
            Entry::Counter(s) => s.id,
            Entry::Gauge(s) => s.id,
            Entry::Histogram(s) => s.id,
        }
    }

    pub(crate) fn key(&self) -> &Arc<SeriesKey> {
        match self {
            Entry::Counter(s) => &s.key,
            Entry::Gauge(s) => &s.key,
            Entry::Histogram(s) => &s.key,
        }
    }

    pub(crate) fn hide(&self, print: u64) {
        match self {
            Entry::Counter(s) => s.hide(print),
            Entry::Gauge(s) => s.hide(print),
            Entry::Histogram(s) => s.hide(print),
        }
    }

    pub(crate) fn show(&self) {
        match self {
            Entry::Counter(s) => s.show(),
            Entry::Gauge(s) => s.show(),
            Entry::Histogram(s) => s.show(),
        }
    }

    pub(crate) fn is_hidden(&self) -> bool {
        match self {
            Entry::Counter(s) => s.is_hidden(),
            Entry::Gauge(s) => s.is_hidden(),
            Entry::Histogram(s) => s.is_hidden(),
        }
    }

    pub(crate) fn promoted(&self) -> bool {
        match self {
            Entry::Counter(s) => s.cells.spread.promoted(),
            Entry::Gauge(_) => false,
            Entry::Histogram(s) => s.cells.lanes_claimed() > 1,
        }
    }

    /// Bytes of the series' own storage, per-thread cells excluded.
    pub(crate) fn bytes(&self) -> usize {
        let key = |k: &SeriesKey| {
            k.name().len()
                + k.labels()
                    .map(|(a, b)| a.len() + b.len() + 32)
                    .sum::<usize>()
        };
        match self {
            Entry::Counter(s) => std::mem::size_of_val(&**s) + key(&s.key),
            Entry::Gauge(s) => std::mem::size_of_val(&**s) + key(&s.key),
            Entry::Histogram(s) => {
                std::mem::size_of_val(&**s) + key(&s.key) + s.cells.storage_bytes()
            }
        }
    }
}

/// A 64-bit mix (splitmix64's finaliser), for fingerprints.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
