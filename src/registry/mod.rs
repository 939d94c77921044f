//! A registry of named, labelled counters, gauges and HDR histograms on
//! the lock-free engine's building blocks.
//!
//! | part | module | algorithm | progress |
//! |---|---|---|---|
//! | series identity | `key` | Prometheus names and labels, labels sorted | (plain data) |
//! | series list | `list` | segmented slot array, epoch-reclaimed entries | lock-free reads |
//! | storage | `spread` | shared cells, per-thread cells once contended, under a budget | wait-free records |
//! | counters | `counter` | `fetch_add`, or load + store on the thread's cell | wait-free |
//! | gauges | `gauge` | one word: store, CAS for `add` | wait-free `set`, lock-free `add` |
//! | histograms | `histogram` | HDR counts (`metric::layout`), exact sums | wait-free |
//! | families | `family` | label values to handles: published map + locked recent | lock-free hits |
//! | series | `series`, `entry` | one head (key, creation number, hidden and seen words) over each kind's cells | (plain data) |
//! | lifecycle | `mod.rs` | removal and eviction that hide, never orphan | (under the index mutex, in batches) |
//! | reading | `read` | cumulative readings; per-consumer intervals and windows | lock-free |
//!
//! The counter arrays, per-thread lookup, zero-page storage, HDR layout
//! and readings are the ones the [`Sharded`](crate::Sharded) collector is
//! built from (`lockfree::counters`, `lockfree::shard_map`,
//! `lockfree::zeroed`, `metric::layout`, `lockfree::readout`): one
//! implementation of each protocol, checked by the same loom models.
//!
//! # Recording
//!
//! A handle ([`Counter`], [`Gauge`], [`Histogram`]) is an `Arc` of its
//! series: get it once, keep it, clone it freely. Its records take no lock
//! and are wait-free (a gauge's `add` is lock-free: a CAS loop). They
//! allocate nothing but once per series the probe that promotes it (its
//! per-thread map) and once per thread and promoted series that thread's
//! cells (on its first record after the promotion). A series starts
//! on shared atomics; once two threads record it within a probe interval
//! it gains per-thread cells (within [`RegistryBuilder::shard_budget`]), so
//! hot series share no written cache line between threads while cold ones
//! cost one set of cells. Counts never move between cells: each record
//! lands in exactly one.
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
//! happens there: `tests/facade_registry.rs`).
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
mod family;
mod gauge;
mod histogram;
mod key;
mod list;
mod read;
mod series;
mod spread;

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use crossbeam_epoch::Collector;

pub use counter::Counter;
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
    counter::CounterCells,
    entry::Entry,
    family::Purge,
    gauge::GaugeCells,
    histogram::HistogramCells,
    list::SeriesList,
    series::Series,
    spread::{Budget, Counts, Shared},
};
use crate::{
    config::ConfigError,
    lockfree::published::Published,
    metric::layout::Layout,
    sync::{lock, Mutex, MutexGuard, Ordering},
};

/// References to a series that are not a handle's: the index's
/// ([`Indexed::entry`]) and the list's (`SeriesList`), one each for as long
/// as the series is in the registry. Under the index mutex, a count above
/// it means a handle exists (a family's cache holds handles too, which is
/// why removal purges the families first), and no handle can be made until
/// the mutex is released; at it or below, none does, and the series may be
/// dropped without orphaning one (`series` explains).
const UNHANDLED_REFS: usize = 2;

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

/// Why a registry call could not be done.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*` (see
    /// [`sanitize_name`]).
    InvalidName(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or starts with `__`
    /// (see [`sanitize_label_name`]).
    InvalidLabelName(String),
    /// A label name appears twice.
    DuplicateLabel(String),
    /// The name already holds series of another kind.
    KindMismatch {
        /// The name.
        name: String,
        /// The kind its series have.
        existing: Kind,
        /// The kind asked for.
        requested: Kind,
    },
    /// A histogram of this name and labels exists with other options.
    OptionsMismatch(String),
    /// A family lookup gave a different number of values than it has
    /// label names.
    LabelCount {
        /// Label names of the family.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// Histogram bounds or precision `hdrhistogram` refuses.
    Histogram(ConfigError),
    /// A histogram scale that is not finite and positive.
    InvalidScale(f64),
    /// The name's series would be exposed under a sample name that series
    /// of another name already use (counters `requests` and
    /// `requests_total` both render `requests_total`; a gauge
    /// `latency_count` clashes with the histogram `latency`'s
    /// `latency_count`). The older name keeps it until its last series is
    /// gone, as client_golang refuses to register a clashing collector.
    NameClash {
        /// The name asked for.
        name: String,
        /// The name whose series claim the sample name now.
        existing: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::InvalidName(n) => write!(
                f,
                "invalid metric name {n:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            RegistryError::InvalidLabelName(n) => write!(
                f,
                "invalid label name {n:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
            ),
            RegistryError::DuplicateLabel(n) => write!(f, "label {n:?} is given twice"),
            RegistryError::KindMismatch {
                name,
                existing,
                requested,
            } => write!(
                f,
                "{name:?} is a {existing:?}; it cannot also be a {requested:?}"
            ),
            RegistryError::OptionsMismatch(k) => {
                write!(f, "histogram {k} exists with other options")
            }
            RegistryError::LabelCount { expected, got } => {
                write!(f, "the family has {expected} labels; {got} values given")
            }
            RegistryError::Histogram(e) => write!(f, "histogram options: {e}"),
            RegistryError::InvalidScale(s) => {
                write!(f, "histogram scale {s} is not finite and positive")
            }
            RegistryError::NameClash { name, existing } => write!(
                f,
                "{name:?} would be exposed under a sample name of {existing:?}, which has series"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

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
    /// Of them, promoted to per-thread cells.
    pub promoted: usize,
    /// Per-thread cells allocated (each one thread's cells of one series).
    pub shards: u64,
    /// Bytes of per-thread cells and their maps, charged to the budget.
    pub shard_bytes: usize,
    /// The budget for them.
    pub shard_budget: usize,
    /// Bytes of the series themselves (cells, keys; address space of
    /// histogram arrays, resident only where written), shards excluded.
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

/// Why a series leaves the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Departure {
    Removed,
    Evicted,
    /// Hidden earlier, and no handle holds it now.
    Unheld,
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
    /// Bytes of per-thread cells the registry may allocate (32 MiB by
    /// default). Past it, threads record into series' shared cells.
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

/// Get-or-create lookups, removal and eviction: the registry's one lock,
/// never taken by records or readings.
#[derive(Default)]
struct Index {
    series: HashMap<Arc<SeriesKey>, Indexed>,
    names: HashMap<Arc<str>, Name>,
    free_slots: Vec<usize>,
    next_slot: usize,
    next_id: u64,
    layouts: Vec<(HistogramOpts, Arc<Layout>)>,
    /// Each name's family caches, purged of a series before its removal.
    families: HashMap<Arc<str>, Vec<Weak<dyn Purge>>>,
    /// The sample names each name with series is exposed under
    /// (`key::claims`), to the name: a name whose claims meet another's is
    /// refused ([`RegistryError::NameClash`]).
    claims: HashMap<Box<str>, Arc<str>>,
    /// Live interval readers' inboxes, for the final readings of the series
    /// dropped (`read`).
    readers: Vec<Weak<read::Inbox>>,
}

struct Indexed {
    slot: usize,
    entry: Entry,
}

struct Name {
    kind: Kind,
    series: usize,
    limit: Option<usize>,
}

impl Index {
    /// Records `name`'s first series of `kind`: its sample names, unless
    /// another name with series claims one.
    fn claim(&mut self, name: &Arc<str>, kind: Kind) -> Result<(), RegistryError> {
        let claims = key::claims(name, kind);
        if let Some(existing) = claims.iter().find_map(|c| self.claims.get(&**c)) {
            return Err(RegistryError::NameClash {
                name: name.to_string(),
                existing: existing.to_string(),
            });
        }
        for c in claims {
            self.claims.insert(c.into_boxed_str(), name.clone());
        }
        Ok(())
    }

    /// `name`'s last series is gone: its sample names are free again, and
    /// the name leaves the index unless a limit was set for it.
    fn release(&mut self, name: &str, counts: &Counts) {
        let Some(n) = self.names.get(name) else {
            return;
        };
        for c in key::claims(name, n.kind) {
            self.claims.remove(&*c);
        }
        if n.limit.is_none() {
            self.names.remove(name);
        }
        // Dropped families' entries go with the name's last series; live
        // ones stay registered for the series they make next.
        if let Some(caches) = self.families.get_mut(name) {
            caches.retain(|c| c.strong_count() > 0);
            if caches.is_empty() {
                self.families.remove(name);
            }
        }
        // Relaxed: a statistic.
        counts
            .names
            .store(self.names.len() as u64, Ordering::Relaxed);
    }
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

/// How to make a series' cells, per kind.
enum SeriesSpec {
    Counter,
    Gauge,
    Histogram(HistogramOpts),
}

impl SeriesSpec {
    fn kind(&self) -> Kind {
        match self {
            SeriesSpec::Counter => Kind::Counter,
            SeriesSpec::Gauge => Kind::Gauge,
            SeriesSpec::Histogram(_) => Kind::Histogram,
        }
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
        let mut index = lock(&self.inner.index);
        if let Some(n) = index.names.get_mut(name) {
            n.limit = Some(limit.max(1));
        } else {
            // Recorded now, typed by its first series.
            index.names.insert(
                name.into(),
                Name {
                    kind: Kind::Counter,
                    series: 0,
                    limit: Some(limit.max(1)),
                },
            );
            // Relaxed: a statistic.
            self.inner
                .shared
                .counts
                .names
                .store(index.names.len() as u64, Ordering::Relaxed);
        }
    }

    fn get_or_create(&self, key: SeriesKey, spec: SeriesSpec) -> Result<Entry, RegistryError> {
        let kind = spec.kind();
        let mut index = lock(&self.inner.index);
        if let Some(found) = index.series.get(&key) {
            let existing = found.entry.kind();
            if existing != kind {
                return Err(RegistryError::KindMismatch {
                    name: key.name().to_string(),
                    existing,
                    requested: kind,
                });
            }
            // Wanted again: shown, whatever hid it.
            found.entry.head().show();
            return Ok(found.entry.clone());
        }
        // Broken on purpose, for the loom models to catch: the lock released
        // between the miss and the creation, so two lookups both create.
        #[cfg(lockfree_metrics_broken = "index_check_then_create")]
        let mut index = {
            drop(index);
            lock(&self.inner.index)
        };
        let limit = self.inner.config.max_series_per_name;
        let name = index
            .names
            .get(key.name())
            .map(|n| (n.series, n.kind, n.limit.unwrap_or(limit)));
        let key = match name {
            // The name's first series: its sample names must be free.
            None | Some((0, _, _)) => {
                index.claim(key.name_arc(), kind)?;
                key
            }
            Some((_, existing, _)) if existing != kind => {
                return Err(RegistryError::KindMismatch {
                    name: key.name().to_string(),
                    existing,
                    requested: kind,
                })
            }
            Some((series, _, limit)) if series >= limit => {
                // Relaxed: a statistic.
                self.inner
                    .shared
                    .counts
                    .folded
                    .fetch_add(1, Ordering::Relaxed);
                let overflow = SeriesKey::from_checked(
                    key.name_arc().clone(),
                    vec![(OVERFLOW_LABEL.0.into(), OVERFLOW_LABEL.1.into())],
                );
                if let Some(found) = index.series.get(&overflow) {
                    found.entry.head().show();
                    return Ok(found.entry.clone());
                }
                overflow
            }
            _ => key,
        };
        let entry = self.make(&mut index, key, spec)?;
        Ok(entry)
    }

    /// Creates a series under the index lock.
    fn make(
        &self,
        index: &mut Index,
        key: SeriesKey,
        spec: SeriesSpec,
    ) -> Result<Entry, RegistryError> {
        let key = Arc::new(key);
        let shared = self.inner.shared.clone();
        let id = index.next_id;
        let cells_of = |spec: SeriesSpec, index: &mut Index| -> Entry {
            match spec {
                SeriesSpec::Counter => Entry::Counter(Arc::new(Series::new(
                    key.clone(),
                    id,
                    CounterCells::new(shared.clone()),
                    shared.clone(),
                ))),
                SeriesSpec::Gauge => Entry::Gauge(Arc::new(Series::new(
                    key.clone(),
                    id,
                    GaugeCells::default(),
                    shared.clone(),
                ))),
                SeriesSpec::Histogram(opts) => {
                    let layout = index.layout(opts);
                    Entry::Histogram(Arc::new(Series::new(
                        key.clone(),
                        id,
                        HistogramCells::new(layout, opts, shared.clone()),
                        shared.clone(),
                    )))
                }
            }
        };
        let kind = spec.kind();
        let entry = cells_of(spec, index);
        let now = self.now_ns();
        entry.head().seen_at_ns.store(now, Ordering::Relaxed);
        index.next_id += 1;
        let slot = index.free_slots.pop().unwrap_or_else(|| {
            index.next_slot += 1;
            index.next_slot - 1
        });
        self.inner.list.insert(slot, Box::new(entry.clone()));
        let name = index.names.entry(key.name_arc().clone()).or_insert(Name {
            kind,
            series: 0,
            limit: None,
        });
        name.kind = kind;
        name.series += 1;
        // Relaxed: a statistic.
        shared
            .counts
            .names
            .store(index.names.len() as u64, Ordering::Relaxed);
        index.series.insert(
            key,
            Indexed {
                slot,
                entry: entry.clone(),
            },
        );
        // Relaxed: a statistic.
        shared.counts.created.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
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

    fn remove_locked(
        &self,
        index: &mut Index,
        key: &SeriesKey,
        why: Departure,
        purge: bool,
    ) -> Removal {
        match index.series.get(key) {
            None => return Removal::Absent,
            // Shown again, or held again, since it was found unheld.
            Some(found)
                if why == Departure::Unheld
                    && (!found.entry.head().is_hidden()
                        || found.entry.strong_count() > UNHANDLED_REFS) =>
            {
                return Removal::Absent
            }
            Some(_) => {}
        }
        let counts = &self.inner.shared.counts;
        let retired = purge && index.purge_families(&[key]);
        let Some(found) = index.series.get(key) else {
            return Removal::Absent;
        };
        if retired {
            // Retired published maps hold handles until the epoch destroys
            // them (see `family`).
            family::reclaim(|| found.entry.strong_count() <= UNHANDLED_REFS);
        }
        // Under the index lock, a count of the index's and the list's own
        // references means no handle exists, and none can be made until the
        // lock is released. (Broken on purpose in `remove_ignores_handles`:
        // dropped whatever holds it, orphaning live handles.)
        if cfg!(not(lockfree_metrics_broken = "remove_ignores_handles"))
            && found.entry.strong_count() > UNHANDLED_REFS
        {
            found.entry.head().hide(read::fingerprint(&found.entry));
            return Removal::Hidden;
        }
        let Some(found) = index.series.remove(key) else {
            return Removal::Absent;
        };
        // Unlinked first: a reader that has drained the tombstone below
        // (the queue's push and pop synchronise) reads the list after this
        // store, so it cannot meet the series again and count it twice.
        self.inner.list.remove(found.slot);
        // Live interval readers get the series' final reading
        // (`read::Inbox`): nothing it recorded since their last take is
        // lost.
        index.readers.retain(|r| r.strong_count() > 0);
        if !index.readers.is_empty() {
            // Acquire: the handles' last `Arc` decrements (Release) were
            // read by `strong_count` (Relaxed) above; this fence orders the
            // records made through them before the final reading.
            crate::sync::fence(Ordering::Acquire);
            if let Some(tomb) = read::Tomb::of(&found.entry) {
                for inbox in index.readers.iter().filter_map(Weak::upgrade) {
                    inbox.push(tomb.clone());
                }
            }
        }
        index.free_slots.push(found.slot);
        if let Some(n) = index.names.get_mut(key.name()) {
            n.series -= 1;
            if n.series == 0 {
                index.release(key.name(), counts);
            }
        }
        // Relaxed: statistics.
        counts.removed.fetch_add(1, Ordering::Relaxed);
        if why == Departure::Evicted {
            counts.evicted.fetch_add(1, Ordering::Relaxed);
        }
        Removal::Dropped
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

    /// One sweep; `_sweeping` proves the sweep lock held.
    fn sweep(&self, _sweeping: &MutexGuard<'_, ()>, idle: Duration) -> usize {
        let now = self.now_ns();
        let idle = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        // Candidates, read without the index lock: (key, creation number,
        // the fingerprint it was idle at, or `None` if hidden and unheld).
        let mut stale: Vec<(Arc<SeriesKey>, u64, Option<u64>)> = Vec::new();
        {
            let guard = self.inner.list.pin();
            for (_, entry) in self.inner.list.iter(&guard) {
                if entry.head().is_hidden() && entry.strong_count() <= UNHANDLED_REFS {
                    stale.push((entry.head().key.clone(), entry.head().id, None));
                    continue;
                }
                let print = read::fingerprint(entry);
                let (seen, seen_at) = (&entry.head().seen, &entry.head().seen_at_ns);
                // Relaxed: written only under the sweep lock, which this
                // holds (and at creation, before the entry was published).
                if seen.load(Ordering::Relaxed) != print {
                    seen.store(print, Ordering::Relaxed);
                    seen_at.store(now, Ordering::Relaxed);
                } else if now.saturating_sub(seen_at.load(Ordering::Relaxed)) >= idle {
                    stale.push((entry.head().key.clone(), entry.head().id, Some(print)));
                }
            }
        }
        let mut dropped = 0;
        for batch in stale.chunks(EVICT_BATCH) {
            let mut index = lock(&self.inner.index);
            // Still the series found, and still idle (a lookup may have
            // taken a handle and recorded since the scan).
            let batch: Vec<(&SeriesKey, Departure)> = batch
                .iter()
                .filter_map(|(key, id, print)| {
                    let found = index.series.get(&**key)?;
                    if found.entry.head().id != *id {
                        return None;
                    }
                    match print {
                        Some(p) if read::fingerprint(&found.entry) == *p => {
                            Some((&**key, Departure::Evicted))
                        }
                        Some(_) => None,
                        None => Some((&**key, Departure::Unheld)),
                    }
                })
                .collect();
            // Family caches let go of the batch at once: one copy per family.
            let keys: Vec<&SeriesKey> = batch.iter().map(|(k, _)| *k).collect();
            if index.purge_families(&keys) {
                // Two rounds at least: enough when no lookup is pinned meanwhile.
                family::reclaim(|| true);
            }
            dropped += batch
                .iter()
                .filter(|(key, why)| {
                    self.remove_locked(&mut index, key, *why, false) == Removal::Dropped
                })
                .count();
        }
        dropped
    }

    /// Drops hidden series whose handles are gone, when the index lock is
    /// free (never waits).
    fn drop_unheld(&self, keys: &[Arc<SeriesKey>]) {
        if keys.is_empty() {
            return;
        }
        if let Ok(mut index) = self.inner.index.try_lock() {
            if index.purge_families(&keys.iter().map(|k| &**k).collect::<Vec<_>>()) {
                family::reclaim(|| true);
            }
            for key in keys {
                // Checked again under the lock.
                self.remove_locked(&mut index, key, Departure::Unheld, false);
            }
        }
    }

    fn sweep_if_free(&self) {
        if let Some(idle) = self.inner.config.idle_timeout {
            // Never waits: a reading stays lock-free.
            if let Ok(sweeping) = self.inner.sweeping.try_lock() {
                self.sweep(&sweeping, idle);
            }
        }
    }

    /// Checks that `name` may hold series of `kind` (for a new family).
    fn check_kind(&self, name: &str, kind: Kind) -> Result<(), RegistryError> {
        let index = lock(&self.inner.index);
        match index.names.get(name) {
            Some(n) if n.series > 0 && n.kind != kind => Err(RegistryError::KindMismatch {
                name: name.to_string(),
                existing: n.kind,
                requested: kind,
            }),
            _ => Ok(()),
        }
    }

    /// Registers a family's cache for purges.
    fn add_family(&self, name: &str, cache: Weak<dyn Purge>) {
        let mut index = lock(&self.inner.index);
        let caches = index.families.entry(name.into()).or_default();
        caches.retain(|c| c.strong_count() > 0);
        caches.push(cache);
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
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

impl Index {
    /// Family caches hold handles: they let go of `keys` first, before
    /// a removal counts the handles left.
    /// Returns whether a published map held one of them (or a family of
    /// their names was dropped): its retired copies then still hold handles
    /// until [`family::reclaim`] lets the epoch destroy them.
    /// Linear in `keys` (grouped by name once).
    fn purge_families(&mut self, keys: &[&SeriesKey]) -> bool {
        let mut by_name: HashMap<&str, Vec<&SeriesKey>> = HashMap::new();
        for key in keys {
            if self.families.contains_key(key.name()) {
                by_name.entry(key.name()).or_default().push(key);
            }
        }
        let mut retired = false;
        for (name, of_name) in by_name {
            if let Some(families) = self.families.get_mut(name) {
                families.retain(|f| match f.upgrade() {
                    Some(f) => {
                        retired |= f.purge(&of_name);
                        true
                    }
                    // Dropped: its retired maps may still hold handles.
                    None => {
                        retired = true;
                        false
                    }
                });
            }
        }
        retired
    }

    /// One layout per distinct options, shared by their histograms.
    fn layout(&mut self, opts: HistogramOpts) -> Arc<Layout> {
        if let Some((_, layout)) = self.layouts.iter().find(|(o, _)| *o == opts) {
            return layout.clone();
        }
        let layout = Arc::new(opts.layout());
        self.layouts.push((opts, layout.clone()));
        layout
    }
}
