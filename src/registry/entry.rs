//! A slot of the registry's list and index: a series of any kind. What
//! every kind has is reached through [`Entry::head`]; only what differs by
//! kind is matched here.

use std::sync::Arc;

use super::{
    counter::CounterCells,
    gauge::GaugeCells,
    histogram::HistogramCells,
    series::{Head, Series},
    Kind,
};

/// One slot of the registry's list: a series of any kind.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Counter(Arc<Series<CounterCells>>),
    Gauge(Arc<Series<GaugeCells>>),
    Histogram(Arc<Series<HistogramCells>>),
}

impl Entry {
    /// What the series has whatever its kind.
    pub(crate) fn head(&self) -> &Head {
        match self {
            Entry::Counter(s) => &s.head,
            Entry::Gauge(s) => &s.head,
            Entry::Histogram(s) => &s.head,
        }
    }

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

    pub(crate) fn promoted(&self) -> bool {
        match self {
            Entry::Counter(s) => s.cells.spread.promoted(),
            Entry::Gauge(_) => false,
            Entry::Histogram(s) => s.cells.lanes_claimed() > 1,
        }
    }

    /// Bytes of the series' own storage, per-thread cells excluded.
    pub(crate) fn bytes(&self) -> usize {
        let k = &self.head().key;
        let key = k.name().len()
            + k.labels()
                .map(|(a, b)| a.len() + b.len() + 32)
                .sum::<usize>();
        key + match self {
            Entry::Counter(s) => std::mem::size_of_val(&**s),
            Entry::Gauge(s) => std::mem::size_of_val(&**s),
            Entry::Histogram(s) => std::mem::size_of_val(&**s) + s.cells.storage_bytes(),
        }
    }
}
