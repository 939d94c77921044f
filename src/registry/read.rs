//! Reading the registry: cumulative readings, and the readers built on
//! them.
//!
//! Every cell only grows, so a reading needs nothing from writers: it pins
//! the series list, reads each series' cells (`registry::histogram`, `registry::spread`), and
//! sorts by key. A record is in a reading or not, per cell. A histogram's
//! count is computed from the very counts the reading holds, so it always
//! equals its buckets' total; its sum agrees with them as
//! `registry::histogram` states (exact but for in-flight records when no
//! record landed during the read; a cumulative reading's always within
//! its buckets' range; an interval's is the difference of two readings'
//! raw sums, so that a consumer's intervals add up exactly). `Registry::read_each` makes the same
//! reading one series at a time, for readers that reduce each series as
//! it comes (the Prometheus exposition): one histogram's counts held at
//! a time rather than every series'.
//!
//! **Interval readers** ([`IntervalReader`]) keep the reading they last
//! returned and subtract it from the next: a private cursor per consumer,
//! so two consumers (a scraper and a log reporter) never take each other's
//! data, and every increment of a counter or histogram lands in exactly one
//! interval of each consumer that existed when it was made, dropped series
//! included. Each live reader has an *inbox* (a lock-free
//! `crossbeam_queue::SegQueue`), registered under the index mutex when the
//! reader is made (its first reading is taken under that mutex too, so no
//! series drops between the two). Whenever a counter or histogram leaves
//! the registry (removal, idle eviction, or a hidden series' last handle
//! gone), the index, still holding its mutex and with no handle left to
//! record, unlinks it from the list, then reads it one last time and
//! pushes that *tombstone* into every live reader's inbox (in that order:
//! a reader that drained the tombstone reads the list after the unlink,
//! since the queue's push and pop synchronise, so it never meets the
//! series again and counts it twice). A `take` reads the registry, then drains its inbox:
//! a dropped series' remainder (its tombstone minus the base the reader
//! last reported it from) is in this interval, once; a series that left
//! the list before the reading reached it keeps its base until its
//! tombstone arrives (every such series has one coming: its drop pushed
//! it in the same critical section as it unlinked it). If several series
//! of one key meet in one take (dropped and recreated), their increases
//! add up under the key, so the interval still lists each key once; one
//! that cannot be added (the name reused for another kind, or histogram
//! options) waits for the next take, its base unchanged. Bound: an inbox holds the tombstones of the series dropped since
//! its reader's last take (one final reading each); a dropped reader's
//! inbox is freed with it and pruned from the registry's list at the next
//! drop. Gauges have no increments and get no tombstones. A hidden series (`registry::series`) is left out of
//! intervals and windows, but its readings still serve as bases: an
//! interval reader keeps the base it last reported the series from, and a
//! window reader keeps the series' value, so when it reappears its records
//! are counted once, not its whole cumulative value again.
//!
//! **Window readers** ([`WindowReader`]) keep, for each window `w`, a few
//! readings spaced `w / steps` apart, and answer "the last `w`" with the
//! current reading minus the newest kept reading at least `w` old: exact
//! counts and quantiles of the records between two cuts, over a span
//! reported with the result (at least `w`, at most `w + w / steps` plus the
//! gap between calls, once the reader has run for `w`). Nothing of this
//! touches the record path.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use crossbeam_queue::SegQueue;

use super::{
    counter::CounterCells, entry::Entry, gauge::GaugeCells, histogram::HistogramCells,
    index::UNHANDLED_REFS, Description, HistogramOpts, Kind, Registry, SeriesKey,
};
use crate::{
    lockfree::readout::RawHistogram,
    metric::layout::Layout,
    snapshot::HistogramSummary,
    sync::{broken, lock},
};

/// A series' value in a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A counter's value (or its increase, from an [`IntervalReader`] or a
    /// [`WindowReader`]).
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's counts.
    Histogram(HistogramValue),
}

impl Value {
    /// What kind of series holds it.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Counter(_) => Kind::Counter,
            Value::Gauge(_) => Kind::Gauge,
            Value::Histogram(_) => Kind::Histogram,
        }
    }
}

/// One series in a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSnapshot {
    /// Its name and labels.
    pub key: Arc<SeriesKey>,
    /// Its value.
    pub value: Value,
}

impl SeriesSnapshot {
    /// The histogram's counts, if it is one.
    pub fn as_histogram(&self) -> Option<&HistogramValue> {
        match &self.value {
            Value::Histogram(h) => Some(h),
            _ => None,
        }
    }
}

/// A histogram bucket: the values `low ..= high` counted together, and
/// their count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The lowest value counted here.
    pub low: u64,
    /// The highest value counted here.
    pub high: u64,
    /// Samples counted.
    pub count: u64,
}

/// A histogram's counts in a snapshot, with `hdrhistogram`'s figures.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    raw: RawHistogram,
    layout: Arc<Layout>,
    opts: HistogramOpts,
    /// Count, min and max; its quantiles are not computed (`quantile`
    /// reads the counts).
    summary: HistogramSummary,
    sum: u128,
    rejected: u64,
}

impl HistogramValue {
    /// `bounded`: a cumulative reading, whose sum is held within its
    /// counts' buckets (`registry::histogram`); differences (intervals,
    /// windows) keep the difference of the raw sums, so that they add up.
    fn new(
        raw: RawHistogram,
        layout: Arc<Layout>,
        opts: HistogramOpts,
        rejected: u64,
        bounded: bool,
    ) -> Self {
        // Count, min and max: `quantile` reads the counts for the rest.
        // A reading that cut samples is bounded too: its sum may hold
        // samples its counts no longer show (`registry::histogram`).
        let (summary, sum) = if bounded || raw.saturated != 0 {
            raw.bounded_extent(&layout)
        } else {
            raw.extent(&layout)
        };
        HistogramValue {
            raw,
            layout,
            opts,
            summary,
            sum,
            rejected,
        }
    }

    /// Samples counted: exactly the buckets' total.
    pub fn count(&self) -> u64 {
        self.summary.count
    }

    /// The exact sum of the samples, in the histogram's unit.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The sum divided by the scale (seconds, at the default scale).
    pub fn sum_scaled(&self) -> f64 {
        self.sum as f64 / self.opts.get_scale()
    }

    /// The options the histogram was made with.
    pub fn opts(&self) -> HistogramOpts {
        self.opts
    }

    /// The lowest sample's bucket floor (`hdrhistogram`'s `min`).
    pub fn min(&self) -> u64 {
        self.summary.min
    }

    /// The highest sample's bucket top (`hdrhistogram`'s `max`).
    pub fn max(&self) -> u64 {
        self.summary.max
    }

    /// Samples above the highest trackable value, recorded as it.
    pub fn clamped(&self) -> u64 {
        self.raw.clamped
    }

    /// Samples cut by saturation: a bucket's count in one cell stops at
    /// 2^62 and a reading's count at `u64::MAX` (see the
    /// [`histogram` module docs](crate::registry::Histogram)); every
    /// sample recorded is counted or cut. For an interval, the samples cut
    /// in it.
    pub fn saturated(&self) -> u64 {
        self.raw.saturated
    }

    /// `record_f64` calls refused (NaN or negative).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The value at quantile `q` (clamped to `0 ..= 1`; NaN reads as 0),
    /// as `hdrhistogram`'s `value_at_quantile`: the top of the bucket where
    /// the running count first reaches `ceil(q * count)`, but at `q` 0 the
    /// lowest sample's bucket floor ([`min`](Self::min)); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        if q == 0.0 {
            // hdrhistogram's `lowest_equivalent` at quantile 0.
            return self.min();
        }
        let target = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut running = 0_u64;
        for (start, run) in self.raw.runs(&self.layout) {
            for (j, &n) in run.iter().enumerate() {
                running = running.saturating_add(n);
                if running >= target {
                    return self.layout.highest_at(start + j);
                }
            }
        }
        self.max()
    }

    /// The buckets that count anything, lowest first.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.raw.runs(&self.layout).flat_map(move |(start, run)| {
            run.iter()
                .enumerate()
                .filter(|(_, &n)| n != 0)
                .map(move |(j, &count)| {
                    let (low, high) = (
                        self.layout.value_at(start + j),
                        self.layout.highest_at(start + j),
                    );
                    Bucket { low, high, count }
                })
        })
    }

    /// The values counted together with `value` (clamped to the highest
    /// trackable value, as a record would be): `(lowest, highest)`, as
    /// `hdrhistogram`'s `lowest_equivalent` and `highest_equivalent`.
    /// Exporters use it to snap bucket boundaries to the layout.
    ///
    /// ```
    /// use lockfree_metrics::registry::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.histogram("h_seconds", &[])?.record(5_000_000);
    /// let snapshot = registry.snapshot();
    /// let h = snapshot.get("h_seconds", &[]).unwrap().as_histogram().unwrap();
    /// // 2 significant digits: 5 ms shares a bucket 32,768 ns wide.
    /// assert_eq!(h.range_of(5_000_000), (4_980_736, 5_013_503));
    /// let b = h.buckets().next().unwrap();
    /// assert_eq!((b.low, b.high), h.range_of(5_000_000));
    /// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
    /// ```
    pub fn range_of(&self, value: u64) -> (u64, u64) {
        let index = self.layout.index_of(value.min(self.layout.highest()));
        (self.layout.value_at(index), self.layout.highest_at(index))
    }

    /// The counts as an `hdrhistogram` histogram of the same layout (for
    /// its serialisers and interval logs).
    pub fn to_hdr(&self) -> hdrhistogram::Histogram<u64> {
        let mut h = self.layout.empty_histogram();
        for b in self.buckets() {
            // In range: every bucket floor is a trackable value.
            let _ = h.record_n(b.low, b.count);
        }
        h
    }

    /// Per boundary, the number of HDR buckets counted at or below it:
    /// the first index whose highest value, divided by the scale, exceeds
    /// `bound` (`bounds` ascending, so the cuts ascend too). Fixed by the
    /// layout and scale, so computed once per family, not per series.
    // Only the Prometheus exposition reduces series this way.
    #[cfg(feature = "prometheus")]
    pub(crate) fn cuts(&self, bounds: &[f64]) -> Vec<usize> {
        let scale = self.opts.get_scale();
        let len = self.layout.len();
        bounds
            .iter()
            .map(|&b| {
                // `highest_at` ascends with the index: binary search.
                let (mut lo, mut hi) = (0, len);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if self.layout.highest_at(mid) as f64 / scale <= b {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            })
            .collect()
    }

    /// Adds each HDR bucket's count to `counts[j]`, `j` the first cut
    /// above its index (`counts.len() - 1` past the last cut), saturating.
    // Only the Prometheus exposition reduces series this way.
    #[cfg(feature = "prometheus")]
    pub(crate) fn add_between(&self, cuts: &[usize], counts: &mut [u64]) {
        let mut j = 0;
        for (start, run) in self.raw.runs(&self.layout) {
            let (mut i, end) = (start, start + run.len());
            while i < end {
                while j < cuts.len() && cuts[j] <= i {
                    j += 1;
                }
                let stop = cuts.get(j).map_or(end, |&c| c.min(end));
                let total = run[i - start..stop - start]
                    .iter()
                    .fold(0_u64, |t, &n| t.saturating_add(n));
                counts[j] = counts[j].saturating_add(total);
                i = stop;
            }
        }
    }

    /// Whether `other` has this one's layout, so that they add up.
    fn adds_to(&self, other: &HistogramValue) -> bool {
        Arc::ptr_eq(&self.layout, &other.layout) || self.opts == other.opts
    }

    /// `self + other` (of one layout): `self - (0 - other)`, the counts
    /// wrapping as `minus`'s do.
    fn plus(&self, other: &HistogramValue) -> HistogramValue {
        let negated = RawHistogram::default().minus(&other.raw, &self.layout);
        HistogramValue::new(
            self.raw.minus(&negated, &self.layout),
            self.layout.clone(),
            self.opts,
            self.rejected.wrapping_add(other.rejected),
            // A sum of interval parts: raw sums, so that intervals add up.
            false,
        )
    }

    /// This reading with its raw sum, as a difference of readings has it.
    fn unbounded(&self) -> HistogramValue {
        HistogramValue::new(
            self.raw.clone(),
            self.layout.clone(),
            self.opts,
            self.rejected,
            false,
        )
    }

    fn minus(&self, base: &HistogramValue) -> HistogramValue {
        HistogramValue::new(
            self.raw.minus(&base.raw, &self.layout),
            self.layout.clone(),
            self.opts,
            self.rejected.wrapping_sub(base.rejected),
            false,
        )
    }
}

/// A reading of the whole registry, sorted by (name, labels).
#[derive(Clone, Debug)]
pub struct RegistrySnapshot {
    series: Vec<SeriesSnapshot>,
    descriptions: Arc<BTreeMap<Arc<str>, Description>>,
}

impl RegistrySnapshot {
    /// Every series, sorted by (name, labels).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &SeriesSnapshot> {
        self.series.iter()
    }

    /// The series, sorted.
    pub fn series(&self) -> &[SeriesSnapshot] {
        &self.series
    }

    /// Series in the snapshot.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether it holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The series `name{labels}` (labels in any order), if present.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<&SeriesSnapshot> {
        let key = SeriesKey::new(name, labels).ok()?;
        self.series
            .binary_search_by(|s| (*s.key).cmp(&key))
            .ok()
            .map(|i| &self.series[i])
    }

    /// HELP and UNIT of `name`, if described.
    pub fn description(&self, name: &str) -> Option<&Description> {
        self.descriptions.get(name)
    }

    /// The series grouped by name, in order: (name, its series).
    pub fn families(&self) -> impl Iterator<Item = (&str, &[SeriesSnapshot])> {
        self.series
            .chunk_by(|a, b| a.key.name() == b.key.name())
            .map(|group| (group[0].key.name(), group))
    }
}

/// A series' reading, with what readers need to difference it.
struct Raw {
    id: u64,
    key: Arc<SeriesKey>,
    value: Value,
    /// Left out of what is shown (see `registry::series`), but still a
    /// cut of its cells that readers keep as a base.
    hidden: bool,
}

/// The fingerprint of a value (see `registry::series`).
fn print_of(value: &Value) -> u64 {
    match value {
        Value::Counter(v) => CounterCells::fingerprint(*v),
        Value::Gauge(v) => GaugeCells::fingerprint(*v),
        Value::Histogram(h) => HistogramCells::fingerprint(&h.raw, h.rejected, &h.layout),
    }
}

fn value_of(entry: &Entry) -> (u64, Value) {
    let value = match entry {
        Entry::Counter(s) => Value::Counter(s.cells.read().0),
        Entry::Gauge(s) => Value::Gauge(s.cells.read()),
        Entry::Histogram(s) => {
            let (raw, rejected) = s.cells.read();
            Value::Histogram(HistogramValue::new(
                raw,
                s.cells.layout.clone(),
                s.cells.opts,
                rejected,
                true,
            ))
        }
    };
    (entry.head().id, value)
}

/// An entry's fingerprint now.
pub(crate) fn fingerprint(entry: &Entry) -> u64 {
    print_of(&value_of(entry).1)
}

impl Registry {
    /// Every series' reading, hidden ones flagged, sorted by key; and the
    /// keys of hidden series no handle holds (to drop). Lock-free.
    fn read_raw(&self) -> (Vec<Raw>, Vec<Arc<SeriesKey>>) {
        let list = &self.inner.list;
        let guard = list.pin();
        let mut unheld = Vec::new();
        let mut out: Vec<Raw> = list
            .iter(&guard)
            .map(|(_, entry)| {
                let (id, value) = value_of(entry);
                // The fingerprint is computed for hidden series only.
                let print = || print_of(&value);
                let hidden = entry.head().hidden_at(print);
                if hidden && entry.strong_count() <= UNHANDLED_REFS {
                    unheld.push(entry.head().key.clone());
                }
                Raw {
                    id,
                    key: entry.head().key.clone(),
                    value,
                    hidden,
                }
            })
            .collect();
        drop(guard);
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        (out, unheld)
    }

    /// HELP and UNIT of every described name, now.
    pub(crate) fn descriptions(&self) -> Arc<BTreeMap<Arc<str>, Description>> {
        self.inner.descriptions.read(Arc::clone)
    }

    /// Every series' cumulative value, sorted by (name, labels); hidden
    /// series (see [`Registry::remove`]) left out. Lock-free: it never waits
    /// for writers or other readers (with an idle timeout, it also evicts,
    /// when the index lock is free).
    pub fn snapshot(&self) -> RegistrySnapshot {
        self.sweep_if_free();
        let (raw, unheld) = self.read_raw();
        self.drop_unheld(&unheld);
        RegistrySnapshot {
            series: raw
                .into_iter()
                .filter(|r| !r.hidden)
                .map(|r| SeriesSnapshot {
                    key: r.key,
                    value: r.value,
                })
                .collect(),
            descriptions: self.descriptions(),
        }
    }

    /// [`snapshot`](Self::snapshot) one series at a time: `each` is given
    /// every shown series' reading in (name, labels) order, each read just
    /// before it is given and dropped after, so that a reader reducing
    /// them (the Prometheus exposition) holds one histogram's counts at a
    /// time rather than every series'. The same readings as `snapshot`
    /// (each series' cells read once, its count its buckets' total) and the
    /// same lifecycle work. Lock-free.
    // Only the Prometheus exposition reduces series this way.
    #[cfg(feature = "prometheus")]
    pub(crate) fn read_each(&self, mut each: impl FnMut(&SeriesSnapshot)) {
        self.sweep_if_free();
        let list = &self.inner.list;
        let guard = list.pin();
        let mut entries: Vec<&Entry> = list.iter(&guard).map(|(_, entry)| entry).collect();
        entries.sort_unstable_by(|a, b| a.head().key.cmp(&b.head().key));
        let mut unheld = Vec::new();
        for entry in entries {
            let (_, value) = value_of(entry);
            let print = || print_of(&value);
            let hidden = entry.head().hidden_at(print);
            if hidden {
                if entry.strong_count() <= UNHANDLED_REFS {
                    unheld.push(entry.head().key.clone());
                }
                continue;
            }
            each(&SeriesSnapshot {
                key: entry.head().key.clone(),
                value,
            });
        }
        drop(guard);
        self.drop_unheld(&unheld);
    }

    /// A reader of intervals with a cursor of its own, starting now.
    /// Takes the index lock once, to register the reader for the final
    /// readings of series dropped from now on (see the [module
    /// docs](crate::registry)).
    pub fn interval_reader(&self) -> IntervalReader {
        let inbox = Arc::new(Inbox::default());
        let mut index = lock(&self.inner.index);
        index.readers.retain(|r| r.strong_count() > 0);
        index.readers.push(Arc::downgrade(&inbox));
        // Under the index lock: no series is dropped between the
        // registration and this reading. Hidden series too: what they hold
        // now is not this reader's to report when they reappear.
        let base = by_id(&self.read_raw().0);
        drop(index);
        IntervalReader {
            registry: self.clone(),
            base,
            inbox,
            deferred: Vec::new(),
        }
    }

    /// A reader of sliding windows (`windows`, e.g. 1, 10 and 60 s), each
    /// answered from readings kept `w / steps` apart (`steps` at least 1;
    /// 4 is a good default). Zero windows are ignored.
    pub fn window_reader(&self, windows: &[Duration], steps: u32) -> WindowReader {
        let mut windows: Vec<Duration> = windows.iter().copied().filter(|w| !w.is_zero()).collect();
        windows.sort();
        windows.dedup();
        let mut reader = WindowReader {
            registry: self.clone(),
            rings: windows.iter().map(|_| VecDeque::new()).collect(),
            windows,
            steps: steps.max(1),
        };
        reader.tick();
        reader
    }
}

/// `now - base` per shown series: counters' and histograms' increase (a
/// series absent from `base` counts from zero), gauges as they are.
fn since(now: &[Raw], base: &HashMap<u64, Value>) -> Vec<SeriesSnapshot> {
    now.iter()
        .filter(|r| !r.hidden)
        .map(|r| SeriesSnapshot {
            key: r.key.clone(),
            value: increase(&r.value, base.get(&r.id)),
        })
        .collect()
}

/// Every counter's and histogram's value by series id, hidden ones
/// included: a cut of the cells either way.
fn by_id(raw: &[Raw]) -> HashMap<u64, Value> {
    raw.iter()
        .filter(|r| !matches!(r.value, Value::Gauge(_)))
        .map(|r| (r.id, r.value.clone()))
        .collect()
}

/// Intervals with a cursor of its own: each [`take`](Self::take) returns
/// what was recorded since the previous one (see the [module
/// docs](crate::registry)).
///
/// ```
/// use lockfree_metrics::registry::{Registry, Value};
///
/// let registry = Registry::new();
/// let hits = registry.counter("hits_total", &[])?;
/// let mut scraper = registry.interval_reader();
/// let mut logger = registry.interval_reader();
/// hits.increment(3);
/// assert_eq!(scraper.take().get("hits_total", &[]).unwrap().value, Value::Counter(3));
/// hits.increment(1);
/// assert_eq!(scraper.take().get("hits_total", &[]).unwrap().value, Value::Counter(1));
/// // The logger's cursor is its own: it still sees all four.
/// assert_eq!(logger.take().get("hits_total", &[]).unwrap().value, Value::Counter(4));
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Debug)]
pub struct IntervalReader {
    registry: Registry,
    base: HashMap<u64, Value>,
    /// Final readings of dropped series, pushed by the index.
    inbox: Arc<Inbox>,
    /// Tombstones that could not be added to another of their key in a
    /// take (the name reused for another kind or options): the next's.
    deferred: Vec<Tomb>,
}

/// A dropped counter's or histogram's final reading (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Tomb {
    id: u64,
    key: Arc<SeriesKey>,
    value: Value,
}

impl Tomb {
    /// The final reading of `entry`, which the caller (holding the index
    /// lock, no handle left) is dropping; `None` for gauges.
    pub(crate) fn of(entry: &Entry) -> Option<Tomb> {
        let (id, value) = value_of(entry);
        (!matches!(value, Value::Gauge(_))).then(|| Tomb {
            id,
            key: entry.head().key.clone(),
            value,
        })
    }
}

/// An interval reader's inbox of tombstones: pushed under the index lock,
/// drained by its reader without a lock.
pub(crate) type Inbox = SegQueue<Tomb>;

/// Whether an increase is nothing at all.
fn is_nothing(value: &Value) -> bool {
    match value {
        Value::Counter(v) => *v == 0,
        Value::Gauge(_) => false,
        Value::Histogram(h) => h.count() == 0 && h.rejected() == 0 && h.sum() == 0,
    }
}

/// Adds `more` to `acc` if they are of one kind (and histograms of one
/// layout); returns whether it did.
fn add(acc: &mut Value, more: &Value) -> bool {
    match (acc, more) {
        (Value::Counter(a), Value::Counter(b)) => {
            *a = a.saturating_add(*b);
            true
        }
        (Value::Histogram(a), Value::Histogram(b)) if a.adds_to(b) => {
            *a = a.plus(b);
            true
        }
        _ => false,
    }
}

/// `value - base`: a counter's or histogram's increase.
fn increase(value: &Value, base: Option<&Value>) -> Value {
    match (value, base) {
        (Value::Counter(v), Some(Value::Counter(b))) => Value::Counter(v.saturating_sub(*b)),
        (Value::Histogram(h), Some(Value::Histogram(b))) => Value::Histogram(h.minus(b)),
        // A series' first interval is its whole reading, with the raw sum
        // as every later interval has, not the cumulative reading's sum
        // held within its buckets: intervals then add up exactly.
        (Value::Histogram(h), _) => Value::Histogram(h.unbounded()),
        (v, _) => v.clone(),
    }
}

impl IntervalReader {
    /// What was recorded since the previous call (or the reader's
    /// creation), series dropped meanwhile included (their remainder, once);
    /// gauges as they are now. Lock-free.
    pub fn take(&mut self) -> RegistrySnapshot {
        let (now, _) = self.registry.read_raw();
        // Broken on purpose, for the loom models to catch: the new base from
        // a second reading, so a record made between the two is in no
        // interval.
        let second = broken!("interval_reads_twice").then(|| self.registry.read_raw().0);
        let now_for_base = second.as_deref().unwrap_or(&now);
        // After the reading: every series dropped before it reached it has
        // its tombstone here, or still to come (then its base is kept).
        let mut tombs = std::mem::take(&mut self.deferred);
        while let Some(tomb) = self.inbox.pop() {
            tombs.push(tomb);
        }
        // Broken on purpose in `interval_forgets_dropped` (the old
        // behaviour): dropped series' remainders are never reported.
        if broken!("interval_forgets_dropped") {
            tombs.clear();
        }
        // Each key once: the increases of its dropped series (oldest first)
        // and of its live one add up; one that cannot (another kind, other
        // histogram options: the name was reused) waits for the next take.
        tombs.sort_unstable_by_key(|t| t.id);
        let mut by_key: HashMap<Arc<SeriesKey>, (Value, bool)> = HashMap::new();
        let mut tombed: HashSet<u64> = HashSet::new();
        for tomb in tombs {
            let more = increase(&tomb.value, self.base.get(&tomb.id));
            match by_key.get_mut(&tomb.key) {
                None => {
                    by_key.insert(tomb.key.clone(), (more, false));
                }
                Some((acc, _)) => {
                    if !add(acc, &more) {
                        self.deferred.push(tomb);
                        continue;
                    }
                }
            }
            tombed.insert(tomb.id);
        }
        // Live series whose key a tombstone has but that do not add to it:
        // left to the next take, their base unchanged.
        let mut waiting: HashSet<u64> = HashSet::new();
        let mut series: Vec<SeriesSnapshot> = Vec::new();
        for r in &now {
            if r.hidden || tombed.contains(&r.id) {
                // Hidden; or reported from its tombstone.
                continue;
            }
            let value = increase(&r.value, self.base.get(&r.id));
            match by_key.get_mut(&r.key) {
                None => series.push(SeriesSnapshot {
                    key: r.key.clone(),
                    value,
                }),
                Some((acc, live)) => {
                    if add(acc, &value) {
                        *live = true;
                    } else {
                        waiting.insert(r.id);
                    }
                }
            }
        }
        for (key, (value, live)) in by_key {
            // A dropped series that recorded nothing since it was last
            // reported is not listed; a live one always is.
            if live || !is_nothing(&value) {
                series.push(SeriesSnapshot { key, value });
            }
        }
        series.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        // The next base. A hidden series keeps the base it was last reported
        // from (or none: made since, it counts from zero), so that what it
        // recorded before it was hidden is reported once, when it
        // reappears; so does a live series left to the next take. A series
        // that left the list keeps its base until its tombstone comes.
        let base = &mut self.base;
        let mut next: HashMap<u64, Value> = HashMap::with_capacity(now_for_base.len());
        for r in now_for_base {
            if matches!(r.value, Value::Gauge(_)) || tombed.contains(&r.id) {
                continue;
            }
            // Broken on purpose in `interval_forgets_hidden` (the old
            // behaviour): a hidden series leaves the cursor, and its whole
            // value is reported again when it reappears.
            if broken!("interval_forgets_hidden") && r.hidden {
                base.remove(&r.id);
                continue;
            }
            let keep = r.hidden || waiting.contains(&r.id);
            let value = if keep {
                base.remove(&r.id)
            } else {
                base.remove(&r.id);
                Some(r.value.clone())
            };
            if let Some(value) = value {
                next.insert(r.id, value);
            }
        }
        for id in &tombed {
            base.remove(id);
        }
        // What is left: series gone from the list, tombstones to come.
        next.extend(base.drain());
        self.base = next;
        RegistrySnapshot {
            series,
            descriptions: self.registry.descriptions(),
        }
    }
}

/// A reading a window reader keeps: values by series id, shared by the
/// windows that kept it at the same moment.
type Kept = Arc<HashMap<u64, Value>>;

/// Sliding windows (see [`Registry::window_reader`] and the [module
/// docs](crate::registry)).
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let latency = registry.histogram("latency_seconds", &[])?;
/// latency.record(1_000_000); // before the reader: in none of its windows
/// let mut windows = registry.window_reader(&[Duration::from_secs(1), Duration::from_secs(10)], 4);
/// latency.record(2_000_000);
/// let read = windows.read();
/// let (asked, covered, last) = &read.windows()[0];
/// assert_eq!(*asked, Duration::from_secs(1));
/// assert!(*covered < Duration::from_secs(1)); // the reader has just started
/// let h = last.get("latency_seconds", &[]).unwrap().as_histogram().unwrap();
/// assert_eq!((h.count(), h.sum()), (1, 2_000_000));
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Debug)]
pub struct WindowReader {
    registry: Registry,
    windows: Vec<Duration>,
    steps: u32,
    /// Per window: (time, reading) oldest first.
    rings: Vec<VecDeque<(Instant, Kept)>>,
}

/// Each window's reading (from [`WindowReader::read`]).
#[derive(Clone, Debug)]
pub struct WindowSnapshot {
    windows: Vec<(Duration, Duration, RegistrySnapshot)>,
}

impl WindowSnapshot {
    /// (window asked for, span actually covered, what was recorded in that
    /// span), per window, shortest first.
    pub fn windows(&self) -> &[(Duration, Duration, RegistrySnapshot)] {
        &self.windows
    }
}

impl WindowReader {
    /// Keeps a reading if a window is due one, without answering: call it
    /// at least every `shortest window / steps` to keep spans tight.
    pub fn tick(&mut self) {
        let (now, _) = self.registry.read_raw();
        self.keep(Instant::now(), &now);
    }

    fn keep(&mut self, at: Instant, now: &[Raw]) {
        let mut reading: Option<Kept> = None;
        for (w, ring) in self.windows.iter().zip(&mut self.rings) {
            let step = *w / self.steps;
            let due = ring
                .back()
                .is_none_or(|(t, _)| at.duration_since(*t) >= step);
            if due {
                let r = reading.get_or_insert_with(|| Arc::new(by_id(now)));
                ring.push_back((at, r.clone()));
            }
            // Keep the newest reading at least `w` old as the base; drop
            // what is older than it.
            while ring.len() >= 2 && at.duration_since(ring[1].0) >= *w {
                ring.pop_front();
            }
        }
    }

    /// Every window's records: the current reading minus the window's
    /// base. Lock-free.
    pub fn read(&mut self) -> WindowSnapshot {
        let at = Instant::now();
        let (now, _) = self.registry.read_raw();
        self.keep(at, &now);
        let descriptions = self.registry.descriptions();
        let windows = self
            .windows
            .iter()
            .zip(&self.rings)
            .map(|(w, ring)| {
                let (t, base) = ring.front().expect("keep pushes a first reading");
                let snapshot = RegistrySnapshot {
                    series: since(&now, base),
                    descriptions: descriptions.clone(),
                };
                (*w, at.duration_since(*t), snapshot)
            })
            .collect();
        WindowSnapshot { windows }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::registry::Removal;

    fn counter(snapshot: &RegistrySnapshot) -> Option<u64> {
        snapshot.get("x", &[]).map(|s| match s.value {
            Value::Counter(v) => v,
            ref v => panic!("not a counter: {v:?}"),
        })
    }

    /// A series hidden while a handle holds it (the metrics#314 scenario)
    /// and shown again by a record: each interval reader reports each of
    /// its increments once, whether they were made before the reader, before
    /// the hiding, while hidden or after, and a window counts from the value
    /// the series had when its base was kept, hidden or not.
    #[test]
    fn hidden_series_are_counted_once() {
        let registry = Registry::new();
        let c = registry.counter("x", &[]).unwrap();
        c.increment(2);
        let mut early = registry.interval_reader();
        c.increment(5);
        assert_eq!(counter(&early.take()), Some(5));
        c.increment(1);
        assert_eq!(registry.remove("x", &[]).unwrap(), Removal::Hidden);
        let mut late = registry.interval_reader();
        let mut windows = registry.window_reader(&[Duration::from_secs(3600)], 1);
        assert_eq!(counter(&early.take()), None);
        assert_eq!(counter(&registry.snapshot()), None);
        c.increment(3);
        assert_eq!(counter(&registry.snapshot()), Some(11));
        assert_eq!(counter(&early.take()), Some(4));
        assert_eq!(counter(&late.take()), Some(3));
        assert_eq!(counter(&windows.read().windows()[0].2), Some(3));
    }
}
