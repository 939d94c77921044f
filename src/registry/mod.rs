//! A registry of named, labelled counters, gauges and HDR histograms on
//! the lock-free engine's building blocks.
//!
//! | part | module | algorithm | progress |
//! |---|---|---|---|
//! | series identity | `key` | Prometheus names and labels, labels sorted | (plain data) |
//! | series list | `list` | segmented slot array, epoch-reclaimed entries | lock-free reads |
//! | counter storage | `spread` | shared cells, per-thread cells once contended, under a budget | wait-free records |
//! | owner words | `lanes` | never-reused thread words, liveness slots, takeover of dead owners | wait-free checks |
//! | counters | `counter` | `fetch_add`, or load + store on the thread's cell | wait-free |
//! | gauges | `gauge` | one word: store, CAS for `add` | wait-free `set`, lock-free `add` |
//! | histograms | `histogram` | HDR counts (`metric::layout`) in sparse `u16` pages of owner lanes (load + store) and shared pages (`fetch_add`), exact sums | wait-free records (a lane's claim: one CAS per lane) |
//! | families | `family` | label values to handles: published map + locked recent | lock-free hits |
//! | series | `series`, `entry` | one head (key, creation number, hidden and seen words) over each kind's cells | (plain data) |
//! | index, lifecycle | `index` | get-or-create under one mutex; removal and eviction that hide, never orphan | (under the index mutex, in batches) |
//! | reading | `read` | cumulative readings; per-consumer intervals and windows | lock-free |
//!
//! Counters' per-thread lookup and cells, the HDR layout and readings are
//! the ones the [`Sharded`](crate::Sharded) collector is built from
//! (`lockfree::shard_map`, `lockfree::counters`, `metric::layout`,
//! `lockfree::readout`), checked by the same loom models; histograms keep
//! the HDR layout in storage of their own (`histogram`: owner lanes and
//! sparse pages, with models in `loom-tests/tests/histogram_lanes.rs`).
//!
//! # Recording
//!
//! A handle ([`Counter`], [`Gauge`], [`Histogram`]) is an `Arc` of its
//! series: get it once, keep it, clone it freely. Its records take no lock
//! and are wait-free (a gauge's `add` is lock-free: a CAS loop). A
//! histogram's first record on a thread claims one of the series' lanes,
//! which that thread then writes with plain stores, and its records
//! allocate a counter page the first time they reach it (`histogram`). A
//! counter starts on shared atomics; once two threads record it within a
//! probe interval it gains per-thread cells (within
//! [`RegistryBuilder::shard_budget`]), allocated once per thread. Counts
//! never move between cells: each record lands in exactly one.
//!
//! # Reading
//!
//! Everything is cumulative. [`Registry::snapshot`] is lock-free, sorted
//! by (name, labels), and every histogram's count is its buckets' total.
//! [`IntervalReader`]s keep a cursor each, so a scraper and a log
//! reporter never take each other's data, and a [`WindowReader`] gives
//! exact quantiles over sliding windows from readings it keeps: neither
//! adds anything to the record path.
//!
//! Every reading (a snapshot, an interval, a window, a scrape) lists each
//! series at most once, even while series are dropped and recreated into
//! reused slots: a reading leaves out the series created after it began
//! (`list` has the proof). Every increment of a counter or histogram
//! lands in exactly one interval of each [`IntervalReader`] that existed
//! when it was made, even if the series is then removed, evicted, or
//! dropped with a hidden series' last handle: the drop hands each live
//! interval reader the series' final reading (`read` says how, and what it
//! holds meanwhile).
//!
//! # Lifecycle
//!
//! [`Registry::remove`] and idle eviction ([`RegistryBuilder::idle_timeout`])
//! drop a series only when no handle holds it; otherwise they hide it until
//! a record changes its value, when it reappears with its cumulative value
//! (`series` explains why no handle is ever orphaned). A name leaves the
//! index with its last series ([`Stats::names`]; unless
//! [`Registry::set_series_limit`] gave it a limit), and a family's cache
//! lets go of the label sets removed ([`Family::cached`]), so series that
//! come and go leave nothing behind. [`Registry::evict_idle`] is linear in
//! the series and takes the index lock once per [`EVICT_BATCH`] series
//! removed, so lookups wait for one batch at most; records and readings
//! never wait for it. A name whose exposed sample names would clash with
//! those of an older name with series (counters `requests` and
//! `requests_total` both render `requests_total`) is refused with
//! [`RegistryError::NameClash`], as client_golang refuses to register a
//! clashing collector: a scrape never shows a new series under an old
//! series' name, so a scraped counter never goes backwards. Each name has a
//! cardinality limit ([`RegistryBuilder::max_series_per_name`],
//! [`Registry::set_series_limit`]); past it, new label sets fold into one
//! `overflow="true"` series, counted in [`Stats::folded`] (so a name with
//! limit `L` holds at most `L + 1` series, the overflow series included).
//! A histogram's overflow series has the options of the first label set
//! folded into it; a folded lookup with other options gets
//! [`RegistryError::OptionsMismatch`] naming the overflow series (through
//! the `metrics` facade a name has one set of options, so this never
//! happens there: `tests/export/facade_registry.rs`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use lockfree_metrics::registry::{Registry, Value};
//!
//! let registry = Registry::new();
//! registry.describe("http_requests_total", "Requests served.", None);
//! let requests = registry.counter_family("http_requests_total", &["method", "status"])?;
//! let latency = registry.histogram("http_request_seconds", &[])?;
//!
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             let ok = requests.with(&["GET", "200"]).unwrap();
//!             for _ in 0..1_000 {
//!                 ok.increment(1);
//!                 latency.record_duration(Duration::from_micros(250));
//!             }
//!         });
//!     }
//! });
//!
//! let snapshot = registry.snapshot();
//! let ok = snapshot.get("http_requests_total", &[("method", "GET"), ("status", "200")]);
//! assert_eq!(ok.unwrap().value, Value::Counter(4_000));
//! let h = snapshot.get("http_request_seconds", &[]).unwrap().as_histogram().unwrap();
//! assert_eq!(h.count(), 4_000);
//! assert!(h.quantile(0.99).abs_diff(250_000) <= 250_000 / 128);
//! # Ok::<(), lockfree_metrics::registry::RegistryError>(())
//! ```

mod counter;
mod entry;
mod error;
mod family;
mod gauge;
mod histogram;
mod index;
mod key;
mod lanes;
#[cfg(loom)]
pub(crate) use lanes::exit_thread as lanes_exit_thread;
mod list;
mod read;
mod series;
mod spread;

use std::{
    collections::BTreeMap,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use crossbeam_epoch::Collector;

pub use counter::Counter;
pub use error::RegistryError;
pub use family::{Family, FamilyHandle};
pub use gauge::Gauge;
pub use histogram::{Histogram, HistogramOpts, Timer};
pub use key::{sanitize_label_name, sanitize_name, SeriesKey};
pub use read::{
    Bucket, HistogramValue, IntervalReader, RegistrySnapshot, SeriesSnapshot, Value, WindowReader,
    WindowSnapshot,
};

#[cfg(loom)]
pub(crate) use self::spread::MAP_BYTES;
use self::{
    entry::Entry,
    index::{Departure, Index, SeriesSpec},
    list::SeriesList,
    spread::{Budget, Counts, Shared},
};
use crate::{
    lockfree::published::Published,
    sync::{lock, Mutex, Ordering},
};

/// Series an idle sweep removes per hold of the index lock
/// ([`Registry::evict_idle`]).
pub const EVICT_BATCH: usize = 256;

/// The label of the series that a name's label sets fold into past its
/// cardinality limit.
pub const OVERFLOW_LABEL: (&str, &str) = ("overflow", "true");

/// What kind of series a name holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// An HDR histogram.
    Histogram,
}

/// HELP and UNIT of a name, from [`Registry::describe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// What the metric measures.
    pub help: String,
    /// Its unit (`"seconds"`, `"bytes"`), if given.
    pub unit: Option<String>,
}

/// Figures about a registry (from [`Registry::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Series in the registry, hidden ones included.
    pub series: usize,
    /// Metric names the index holds: those with series, and those given a
    /// limit by [`Registry::set_series_limit`]. A name leaves the index
    /// with its last series.
    pub names: usize,
    /// Of them, hidden (removed or evicted while a handle lives).
    pub hidden: usize,
    /// Of them, counters promoted to per-thread cells, and histograms
    /// with more than one lane claimed.
    pub promoted: usize,
    /// Counters' per-thread cells allocated (each one thread's cells of one
    /// series).
    pub shards: u64,
    /// Bytes of counters' per-thread cells and their maps, charged to the
    /// budget (histograms' lanes are bounded per series instead: at most
    /// `LANES` lanes of at most one page per 64 buckets).
    pub shard_bytes: usize,
    /// The budget for them.
    pub shard_budget: usize,
    /// Bytes of the series themselves (cells, keys, histograms' lanes and
    /// counter pages), counters' shards excluded.
    pub series_bytes: usize,
    /// Per-thread cells refused by the budget (those threads record into
    /// the shared cells instead; nothing is lost).
    pub budget_refusals: u64,
    /// Series created over the registry's life.
    pub created: u64,
    /// Series dropped by [`Registry::remove`] or eviction.
    pub removed: u64,
    /// Of them, by idle eviction.
    pub evicted: u64,
    /// Lookups of new label sets folded into an overflow series.
    pub folded: u64,
    /// Gauge writes that left a NaN or an infinity.
    pub non_finite_gauge_writes: u64,
    /// Counter increments cut at `u64::MAX`, over the series present.
    pub saturated_increments: u64,
    /// Histogram samples clamped to the highest trackable value, over the
    /// series present.
    pub clamped_samples: u64,
    /// `record_f64` values rejected (NaN or negative), over the series
    /// present.
    pub rejected_samples: u64,
    /// Histogram samples cut by records at a bucket's cap, over the series
    /// present (a reading may cut more: [`HistogramValue::saturated`]).
    pub saturated_samples: u64,
}

/// What [`Registry::remove`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// No such series.
    Absent,
    /// Dropped: no handle held it.
    Dropped,
    /// Hidden until recorded again: a handle holds it.
    Hidden,
}

/// A registry's settings.
#[derive(Clone, Debug)]
pub struct RegistryBuilder {
    shard_budget: usize,
    idle_timeout: Option<Duration>,
    max_series_per_name: usize,
    histogram: HistogramOpts,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            shard_budget: 32 << 20,
            idle_timeout: None,
            max_series_per_name: 100_000,
            histogram: HistogramOpts::default(),
        }
    }
}

impl RegistryBuilder {
    /// Bytes of counters' per-thread cells the registry may allocate (32
    /// MiB by default). Past it, threads record into counters' shared
    /// cells. Histograms' lanes are not charged: a series has at most four,
    /// of at most one 144-byte page per 64 buckets its values reach.
    pub fn shard_budget(mut self, bytes: usize) -> Self {
        self.shard_budget = bytes;
        self
    }

    /// Evicts series unchanged for `idle` (checked at each snapshot;
    /// off by default). A series with a live handle is hidden instead.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// The most series of one name (100,000 by default); past it, new
    /// label sets fold into the name's overflow series.
    pub fn max_series_per_name(mut self, max: usize) -> Self {
        self.max_series_per_name = max.max(1);
        self
    }

    /// The options of histograms made without their own.
    pub fn histogram_opts(mut self, opts: HistogramOpts) -> Self {
        self.histogram = opts;
        self
    }

    /// The registry.
    pub fn build(self) -> Registry {
        let collector = Collector::new();
        Registry {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    budget: Budget::new(self.shard_budget),
                    counts: Counts::default(),
                }),
                list: SeriesList::new(collector.clone()),
                descriptions: Published::new(Arc::new(BTreeMap::new()), collector),
                index: Mutex::new(Index::default()),
                sweeping: Mutex::new(()),
                started: Instant::now(),
                #[cfg(feature = "facade")]
                facade: Default::default(),
                config: self,
            }),
        }
    }
}

/// A registry of named, labelled series (see the [module docs](self)).
/// Cheap to clone: clones share the series.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryBuilder,
    shared: Arc<Shared>,
    list: SeriesList,
    descriptions: Published<Arc<BTreeMap<Arc<str>, Description>>>,
    index: Mutex<Index>,
    /// Held by the one sweep at a time (`Registry::sweep`): the writer of
    /// the series' `seen` and `seen_at_ns`.
    sweeping: Mutex<()>,
    started: Instant,
    /// What every `metrics` facade recorder of this registry shares: each
    /// histogram name's options (`export::facade`).
    #[cfg(feature = "facade")]
    facade: crate::export::facade::Shared,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry with the default settings.
    pub fn new() -> Self {
        RegistryBuilder::default().build()
    }

    /// Settings for a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The counter `name{labels}`, created at 0 if new.
    ///
    /// # Errors
    ///
    /// An invalid name or label, or a name that holds another kind.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<Counter, RegistryError> {
        let key = SeriesKey::new(name, labels)?;
        match self.get_or_create(key, SeriesSpec::Counter)? {
            Entry::Counter(series) => Ok(Counter { series }),
            _ => unreachable!("kind checked by get_or_create"),
        }
    }

    /// The gauge `name{labels}`, created at 0.0 if new.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Result<Gauge, RegistryError> {
        let key = SeriesKey::new(name, labels)?;
        match self.get_or_create(key, SeriesSpec::Gauge)? {
            Entry::Gauge(series) => Ok(Gauge { series }),
            _ => unreachable!("kind checked by get_or_create"),
        }
    }

    /// The histogram `name{labels}`, with the registry's default options.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter), and a histogram of this key made with
    /// other options.
    pub fn histogram(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, RegistryError> {
        self.histogram_with(name, labels, self.inner.config.histogram)
    }

    /// The histogram `name{labels}` with `opts`.
    ///
    /// # Errors
    ///
    /// As [`histogram`](Self::histogram).
    pub fn histogram_with(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        opts: HistogramOpts,
    ) -> Result<Histogram, RegistryError> {
        let key = SeriesKey::new(name, labels)?;
        self.histogram_of(key, opts)
    }

    pub(crate) fn histogram_of(
        &self,
        key: SeriesKey,
        opts: HistogramOpts,
    ) -> Result<Histogram, RegistryError> {
        match self.get_or_create(key, SeriesSpec::Histogram(opts))? {
            Entry::Histogram(series) => {
                if series.cells.opts != opts {
                    return Err(RegistryError::OptionsMismatch(series.head.key.to_string()));
                }
                Ok(Histogram { series })
            }
            _ => unreachable!("kind checked by get_or_create"),
        }
    }

    /// The default histogram options.
    pub fn default_histogram_opts(&self) -> HistogramOpts {
        self.inner.config.histogram
    }

    /// Sets HELP and UNIT for `name` (replacing an earlier description).
    /// Names that [`sanitize_name`] would change are described as given:
    /// describe the name the series use.
    pub fn describe(&self, name: &str, help: &str, unit: Option<&str>) {
        let description = Description {
            help: help.to_string(),
            unit: unit.map(str::to_string),
        };
        let name: Arc<str> = name.into();
        self.inner.descriptions.update(|current| {
            let mut next = BTreeMap::clone(current);
            next.insert(name.clone(), description.clone());
            (Arc::new(next), ())
        });
    }

    /// The facade recorders' shared state (`export::facade`).
    #[cfg(feature = "facade")]
    pub(crate) fn facade_shared(&self) -> &crate::export::facade::Shared {
        &self.inner.facade
    }

    /// The description of `name`, if any.
    pub fn description(&self, name: &str) -> Option<Description> {
        self.inner.descriptions.read(|d| d.get(name).cloned())
    }

    /// Sets the cardinality limit of `name` (at least 1), overriding
    /// [`RegistryBuilder::max_series_per_name`]; series beyond it that
    /// exist already are kept.
    pub fn set_series_limit(&self, name: &str, limit: usize) {
        lock(&self.inner.index).set_limit(name, limit, &self.inner.shared.counts);
    }

    /// Removes `name{labels}`: dropped if no handle holds it, hidden until
    /// recorded again otherwise (never orphaned: see the module docs).
    ///
    /// # Errors
    ///
    /// An invalid name or label.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) -> Result<Removal, RegistryError> {
        let key = SeriesKey::new(name, labels)?;
        let mut index = lock(&self.inner.index);
        Ok(self.remove_locked(&mut index, &key, Departure::Removed, true))
    }

    /// Evicts series unchanged for the idle timeout (or hides them, if a
    /// handle lives), and drops hidden series no handle holds any more.
    /// [`snapshot`](Self::snapshot) calls it when no other sweep runs;
    /// returns the series dropped. Does nothing without
    /// [`RegistryBuilder::idle_timeout`].
    ///
    /// Linear in the series, and never holds the index lock for long: the
    /// series are read without it, and the idle ones removed
    /// [`EVICT_BATCH`] at a time, the lock taken once a batch, so lookups
    /// wait for one batch at most (records and readings never wait).
    pub fn evict_idle(&self) -> usize {
        match self.inner.config.idle_timeout {
            Some(idle) => self.sweep(&lock(&self.inner.sweeping), idle),
            None => 0,
        }
    }

    /// Figures about the registry; lock-free.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let guard = inner.list.pin();
        let mut stats = Stats::default();
        for (_, entry) in inner.list.iter(&guard) {
            stats.series += 1;
            stats.hidden += usize::from(entry.head().is_hidden());
            stats.promoted += usize::from(entry.promoted());
            stats.series_bytes += entry.bytes();
            match entry {
                Entry::Counter(s) => stats.saturated_increments += s.cells.read().1,
                Entry::Gauge(_) => {}
                Entry::Histogram(s) => {
                    let (clamped, rejected) = s.cells.rejects();
                    stats.clamped_samples += clamped;
                    stats.rejected_samples += rejected;
                    stats.saturated_samples =
                        stats.saturated_samples.saturating_add(s.cells.saturated());
                }
            }
        }
        let budget = &inner.shared.budget;
        let counts = &inner.shared.counts;
        // Relaxed: statistics.
        let load = |c: &crate::sync::AtomicU64| c.load(Ordering::Relaxed);
        stats.shards = load(&budget.cells);
        stats.shard_bytes = budget.used();
        stats.shard_budget = budget.limit();
        stats.budget_refusals = load(&budget.refusals);
        stats.created = load(&counts.created);
        stats.removed = load(&counts.removed);
        stats.evicted = load(&counts.evicted);
        stats.folded = load(&counts.folded);
        stats.names = usize::try_from(load(&counts.names)).unwrap_or(usize::MAX);
        stats.non_finite_gauge_writes = load(&counts.non_finite_gauge_writes);
        stats
    }
}
