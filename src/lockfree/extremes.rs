//! Exact minimum and maximum beside a histogram of counters: two words,
//! `min` lowered and `max` raised by each record, read by readers and
//! swapped back to empty by a reset. The HDR counters hold only buckets,
//! whose bounds are all a histogram can say of its extremes (1.0 ms reads
//! as 0.999424 ms at 2 digits).
//!
//! Unlike counters, extremes cannot be subtracted from a base, so a reset
//! takes them (`take`) instead of reading them: a record racing that
//! reset may have its extremes on the other side of it from its count,
//! as each of a record's counters may be (the `MetricsCollector`
//! contract). A snapshot then shows the histogram's bucket bound for an
//! extreme not in its bucket (`LatencySnapshot::with_exact`).
//!
//! Loom model: `loom-tests/tests/counters.rs`, `extremes_*` (the values
//! taken and those left hold every value recorded); its broken variant is
//! the counters' `counters_take_not_atomic` (`take` as a load then a
//! store).

use crate::{
    snapshot::Extent,
    sync::{broken, AtomicU64, Ordering},
};

/// The extremes of the values recorded since the last `take`.
#[derive(Debug)]
pub struct Extremes {
    min: AtomicU64,
    max: AtomicU64,
}

impl Default for Extremes {
    fn default() -> Self {
        Extremes {
            min: AtomicU64::new(Extent::EMPTY.min),
            max: AtomicU64::new(Extent::EMPTY.max),
        }
    }
}

impl Extremes {
    /// Records `value` from the one thread that records here (a shard's
    /// owner). The same operations as [`record_shared`](Self::record_shared):
    /// a plain store (the owner's only writer but for `take`) failed the
    /// loom model (`extremes_owned_take_loses_nothing` lost a value stored
    /// while a take swapped the word), so a new extreme is a
    /// `fetch_min`/`fetch_max`, rare once an interval's extremes are set.
    #[inline]
    pub fn record_owned(&self, value: u64) {
        self.record_shared(value);
    }

    /// Records `value` from any thread: a read-modify-write only for a
    /// new extreme, so a steady stream mostly just loads the words.
    #[inline]
    pub fn record_shared(&self, value: u64) {
        // Relaxed: as in `record_owned`; `fetch_min`/`fetch_max` make
        // racing writers keep the extreme of both.
        if value < self.min.load(Ordering::Relaxed) {
            // Relaxed: as above.
            self.min.fetch_min(value, Ordering::Relaxed);
        }
        // Relaxed: as above.
        if value > self.max.load(Ordering::Relaxed) {
            // Relaxed: as above.
            self.max.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// The extremes recorded since the last `take`.
    pub fn read(&self) -> Extent {
        Extent {
            // Relaxed: each word is read on its own, like a counter.
            min: self.min.load(Ordering::Relaxed),
            // Relaxed: as above.
            max: self.max.load(Ordering::Relaxed),
        }
    }

    /// The extremes recorded since the last `take`, leaving them empty.
    pub fn take(&self) -> Extent {
        if broken!("counters_take_not_atomic") {
            // Broken on purpose, for the loom models to catch: a take as a
            // load then a store of empty loses a value stored between the
            // two.
            let taken = self.read();
            // Relaxed: the broken variant.
            self.min.store(Extent::EMPTY.min, Ordering::Relaxed);
            // Relaxed: the broken variant.
            self.max.store(Extent::EMPTY.max, Ordering::Relaxed);
            return taken;
        }
        Extent {
            // Relaxed: a swap loses no record's value (a racing owned store
            // lands after it, in the next interval); nothing else is
            // ordered with it.
            min: self.min.swap(Extent::EMPTY.min, Ordering::Relaxed),
            // Relaxed: as above.
            max: self.max.swap(Extent::EMPTY.max, Ordering::Relaxed),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_exact_extremes_until_taken() {
        let e = Extremes::default();
        assert_eq!(e.read(), Extent::EMPTY);
        for v in [1_000_000, 1_234_567, 999_999, 3_600_000_000_000] {
            e.record_owned(v);
        }
        e.record_shared(1_000_001);
        let want = Extent {
            min: 999_999,
            max: 3_600_000_000_000,
        };
        assert_eq!(e.read(), want);
        assert_eq!(e.take(), want);
        assert_eq!(e.read(), Extent::EMPTY);
        e.record_shared(0);
        assert_eq!(e.read(), Extent { min: 0, max: 0 });
    }
}
