//! A [`metrics`] facade recorder on the [registry](crate::registry): the
//! `metrics` 0.24 API (written against 0.24.6), so that code instrumented
//! with `counter!`, `gauge!` and `histogram!` records into the registry's
//! wait-free series.
//!
//! [`FacadeRecorder`] implements all six methods of [`metrics::Recorder`]
//! (`describe_{counter,gauge,histogram}`, `register_{counter,gauge,histogram}`),
//! and the registry's handles implement [`CounterFn`] (`increment`,
//! `absolute`), [`GaugeFn`] (`increment`, `decrement`, `set`) and
//! [`HistogramFn`] (`record`, and `record_many` in one bucket update).
//!
//! # Names
//!
//! Facade names and label names (`http.requests`, `http.method`) are made
//! Prometheus names by [`sanitize_name`] and [`sanitize_label_name`]
//! (`http_requests`, `http_method`); label values are kept as given. Two
//! facade keys that sanitise alike (`a.b` and `a_b`) are one series.
//!
//! # Units and scales
//!
//! `describe_*` sets the name's HELP and UNIT ([`Registry::describe`]);
//! the unit is [`Unit::as_str`] (`"seconds"`, `"bytes"`, `"count"`), and a
//! description without a unit keeps the unit given earlier, as
//! `metrics-util`'s `DebuggingRecorder` does. A description may come
//! before or after registration, or never.
//!
//! Histograms record integers ([`HistogramOpts`]); a facade `f64` is
//! recorded as `round(value * scale)`, NaN and negative values rejected
//! and counted ([`Histogram::record_f64`]). The scale comes from the unit
//! a histogram's name is described with:
//!
//! | `describe_histogram!` unit | scale | integers recorded |
//! |---|---|---|
//! | none, or not described | the registry's default (1e9) | nanoseconds, from `f64` seconds |
//! | [`Unit::Seconds`] | 1e9 | nanoseconds |
//! | [`Unit::Milliseconds`] | 1e6 | nanoseconds |
//! | [`Unit::Microseconds`] | 1e3 | nanoseconds |
//! | [`Unit::Nanoseconds`] | 1 | nanoseconds |
//! | any other ([`Unit::Bytes`], [`Unit::Count`], ...) | 1 | the value, rounded |
//!
//! So time histograms keep nanoseconds as their integer unit whatever unit
//! the code records in, and readings divided by the scale
//! ([`HistogramValue::sum_scaled`](crate::registry::HistogramValue::sum_scaled))
//! are in the described unit. The other options (range, digits) are the
//! registry's defaults
//! ([`RegistryBuilder::histogram_opts`](crate::registry::RegistryBuilder::histogram_opts)).
//!
//! **A name's scale belongs to the registry and is fixed by its first
//! histogram registration through any of its recorders**, so that every
//! series of a name has one scale, whichever recorder (two
//! `registry.recorder()`s, say) describes it or registers a label set
//! (`tests/export/facade_registry.rs`): describe
//! a histogram before its first `histogram!` call for its unit to set the
//! scale. Described after, it gets its HELP and UNIT but keeps the scale
//! it was made with: values stay in the unit the code records in, but the
//! range is the default's (1 h in seconds: millisecond values above 3,600
//! are clamped and counted). A `Duration` reaches the recorder as `f64`
//! seconds (the facade's `IntoF64`), so record durations only into
//! histograms in seconds (or undescribed).
//!
//! # The per-thread cache
//!
//! The facade's macros call `register_*` every time they run. The
//! recorder answers a repeated call from a per-thread cache: an array of
//! [`CACHE_SLOTS`] entries (88 bytes each on 64-bit targets: 22 KiB a
//! thread, allocated on its first call) in sets of [`CACHE_WAYS`], the set chosen by
//! [`Key::get_hash`] and the metric kind, each entry checked with the
//! recorder's id and [`Key`] equality (not the hash alone: in `metrics`
//! 0.24.6, `k1` and `k11` hash alike, as do label values `5` and `55`). A
//! hit clones a handle the thread
//! owns (an `Arc` no other thread touches, so hot keys share no reference
//! count between threads) and takes no lock; a miss looks the key up in
//! the registry (under its index lock), counts in [`FacadeStats::lookups`]
//! and caches the handle, evicting its set's oldest entry. Recorders get
//! ids that are never reused, so several recorders on one thread never see
//! each other's handles.
//!
//! **A handle to a name's overflow series is never cached**: a key the
//! registry folds (its name at its cardinality limit) is looked up on
//! every call, so once the limit is raised
//! ([`Registry::set_series_limit`]) every thread's next call records into
//! the key's own series (`tests/export/facade_registry.rs`). Folded keys thus cost
//! a registry lookup a call (counted in [`FacadeStats::lookups`]) while
//! the name stays at its limit.
//!
//! A hit still returns a clone of the handle (the facade's handles are
//! `Arc`s, returned by value): `benches/programs/src/bin/facade_cost.rs` measured a cached
//! `counter!(..).increment(1)` at 31-42 ns of thread CPU time, a held
//! handle's increment at 9-12 ns (the clone alone adds about 17), and a
//! registry lookup per call at 195-280 ns, on a loaded 2-core machine. In
//! a hot loop, keep the handle the macro returns.
//!
//! **Cached handles keep their series alive**: while a thread's cache
//! holds a handle, [`Registry::remove`] and idle eviction hide its series
//! rather than drop it (see [the registry](crate::registry#lifecycle)), and
//! a record through the cache shows it again with its cumulative value.
//! An entry goes when evicted, when its thread exits, or with
//! [`clear_thread_cache`] on its thread; dropping a recorder does not
//! reach other threads' caches.
//!
//! # Errors
//!
//! A key the registry refuses (a name already holding another kind, two
//! labels that sanitise to one name, a histogram made on the registry
//! directly with other options) does not panic: `register_*` returns a
//! handle that drops its records and counts them in
//! [`FacadeStats::dropped`]; the refusal counts in
//! [`FacadeStats::failed`] and is kept in [`FacadeRecorder::last_error`].
//! Such handles are cached like the others.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use lockfree_metrics::registry::{Registry, Value};
//! use metrics::{counter, describe_histogram, histogram, Unit};
//!
//! let registry = Registry::new();
//! let recorder = registry.recorder();
//! metrics::with_local_recorder(&recorder, || {
//!     describe_histogram!("db.query", Unit::Milliseconds, "Query time.");
//!     for _ in 0..3 {
//!         counter!("http.requests", "http.method" => "GET").increment(1);
//!         histogram!("http.latency").record(Duration::from_micros(250));
//!         histogram!("db.query").record_many(1.5, 10); // ms
//!     }
//! });
//!
//! let snapshot = registry.snapshot();
//! let requests = snapshot.get("http_requests", &[("http_method", "GET")]).unwrap();
//! assert_eq!(requests.value, Value::Counter(3));
//! let latency = snapshot.get("http_latency", &[]).unwrap().as_histogram().unwrap();
//! assert_eq!((latency.count(), latency.sum()), (3, 750_000)); // nanoseconds
//! let query = snapshot.get("db_query", &[]).unwrap().as_histogram().unwrap();
//! assert_eq!((query.count(), query.sum_scaled()), (30, 45.0)); // milliseconds
//! assert_eq!(registry.description("db_query").unwrap().unit.as_deref(), Some("milliseconds"));
//! // Each key went to the registry once; the other calls hit the cache.
//! assert_eq!(recorder.stats().lookups, 3);
//! ```

use std::{cell::RefCell, collections::HashMap, fmt, sync::Arc};

use metrics::{
    CounterFn, GaugeFn, HistogramFn, Key, KeyName, Metadata, Recorder, SetRecorderError,
    SharedString, Unit,
};

use crate::{
    registry::{
        sanitize_label_name, sanitize_name, Counter, Gauge, Histogram, HistogramOpts, Registry,
        RegistryError, SeriesKey, OVERFLOW_LABEL,
    },
    sync::{lock, AtomicU64, Mutex, Ordering},
};

/// Entries in each thread's cache: [`CACHE_WAYS`] per set, in a power of
/// two of sets.
pub const CACHE_SLOTS: usize = CACHE_WAYS << SET_BITS;
/// Entries per set of each thread's cache: two hot keys that share a set
/// do not evict each other.
pub const CACHE_WAYS: usize = 2;
const SET_BITS: u32 = 7;

/// Ids of recorders: never reused, so a cache entry of a dropped recorder
/// never answers for a new one.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A [`metrics::Recorder`] that records into a [`Registry`] (see the
/// [module docs](self)). Cheap to clone: clones share the recorder (and
/// its cache entries).
#[derive(Clone)]
pub struct FacadeRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    registry: Registry,
    lookups: AtomicU64,
    failed: AtomicU64,
    /// Shared with the handles of failed registrations.
    dropped: Arc<AtomicU64>,
    last_error: Mutex<Option<RegistryError>>,
}

/// What every recorder of one registry shares (kept in the registry, so
/// that two `registry.recorder()`s agree on each name's scale).
#[derive(Default)]
pub(crate) struct Shared {
    /// Histogram names (sanitised): the options of their series.
    histograms: Mutex<HashMap<String, Scaled>>,
}

/// A histogram name's options: described, or fixed by its first
/// registration.
#[derive(Clone, Copy)]
struct Scaled {
    opts: HistogramOpts,
    fixed: bool,
}

/// Figures about a [`FacadeRecorder`] (from [`FacadeRecorder::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FacadeStats {
    /// `register_*` calls that went to the registry: each thread's first
    /// call for a key, and calls after its cache entry was evicted. Every
    /// other call was a cache hit.
    pub lookups: u64,
    /// Of the lookups, those the registry refused.
    pub failed: u64,
    /// Records made through the handles of refused registrations (a
    /// `record_many` counts its samples), dropped.
    pub dropped: u64,
}

impl FacadeRecorder {
    /// A recorder into `registry`.
    pub fn new(registry: Registry) -> Self {
        FacadeRecorder {
            inner: Arc::new(Inner {
                // Relaxed: only uniqueness is needed.
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                registry,
                lookups: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dropped: Arc::new(AtomicU64::new(0)),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// The registry it records into.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Makes this the global recorder ([`metrics::set_global_recorder`]).
    ///
    /// # Errors
    ///
    /// If a global recorder is set already; the error gives this one back
    /// ([`SetRecorderError::into_inner`]).
    pub fn install(self) -> Result<(), SetRecorderError<FacadeRecorder>> {
        metrics::set_global_recorder(self)
    }

    /// Lookups, refusals and dropped records so far.
    pub fn stats(&self) -> FacadeStats {
        let inner = &self.inner;
        // Relaxed: statistics.
        FacadeStats {
            lookups: inner.lookups.load(Ordering::Relaxed),
            failed: inner.failed.load(Ordering::Relaxed),
            dropped: inner.dropped.load(Ordering::Relaxed),
        }
    }

    /// The registry's latest refusal, if any.
    pub fn last_error(&self) -> Option<RegistryError> {
        lock(&self.inner.last_error).clone()
    }

    /// The handle of `key` from this thread's cache, else from `make` (then
    /// cached).
    #[inline]
    fn cached<H: Cached>(&self, key: &Key, make: impl FnOnce(&Inner, &Key) -> (H, bool)) -> H {
        let id = self.inner.id;
        let at = set_of(key.get_hash(), H::KIND) * CACHE_WAYS;
        let hit = CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            // `Key`'s equality compares the hashes first, then name and
            // labels: two keys of one set, or of one hash, never answer for
            // each other; nor do two recorders' entries for one key.
            cache
                .get(at..at + CACHE_WAYS)?
                .iter()
                .flatten()
                .find(|e| e.recorder == id && e.key == *key)
                .and_then(|e| H::of(&e.handle).cloned())
        });
        if let Ok(Some(handle)) = hit {
            return handle;
        }
        self.miss(key, at, make)
    }

    #[cold]
    #[inline(never)]
    fn miss<H: Cached>(
        &self,
        key: &Key,
        at: usize,
        make: impl FnOnce(&Inner, &Key) -> (H, bool),
    ) -> H {
        let inner = &*self.inner;
        // Relaxed: a statistic.
        inner.lookups.fetch_add(1, Ordering::Relaxed);
        let (handle, folded) = make(inner, key);
        if folded {
            // A handle to the overflow series is not cached: once the
            // limit is raised, the next call finds the label set's own
            // series, as every other thread's does.
            return handle;
        }
        let entry = Entry {
            recorder: inner.id,
            key: key.clone(),
            handle: handle.clone().into_handle(),
        };
        // Not cached if the thread's cache is gone (a thread-local
        // destructor recording) or borrowed (never, but a panic is worse).
        let evicted = CACHE.try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.is_empty() {
                cache.resize_with(CACHE_SLOTS, || None);
            }
            // The newest first; the set's oldest entry goes.
            let evicted = cache[at + CACHE_WAYS - 1].replace(entry);
            cache[at..at + CACHE_WAYS].rotate_right(1);
            evicted
        });
        // Dropped here, with the cache no longer borrowed.
        drop(evicted);
        handle
    }

    /// Counts a refusal; the handle drops its records.
    #[cold]
    fn failed(&self, error: RegistryError) -> Arc<Dropped> {
        let inner = &*self.inner;
        // Relaxed: a statistic.
        inner.failed.fetch_add(1, Ordering::Relaxed);
        *lock(&inner.last_error) = Some(error);
        Arc::new(Dropped(inner.dropped.clone()))
    }

    fn describe(&self, key: &KeyName, unit: Option<Unit>, help: &str) {
        let registry = &self.inner.registry;
        let name = sanitize_name(key.as_str());
        let unit = unit
            .map(|u| u.as_str().to_string())
            .or_else(|| registry.description(&name).and_then(|d| d.unit));
        registry.describe(&name, help, unit.as_deref());
    }
}

impl Inner {
    /// The options a new series of histogram `name` gets.
    fn histogram_opts(&self, scaled: Option<&Scaled>) -> HistogramOpts {
        scaled.map_or_else(|| self.registry.default_histogram_opts(), |s| s.opts)
    }
}

/// The scale for `unit` (see the [module docs](self#units-and-scales)).
fn unit_scale(unit: Unit) -> f64 {
    match unit {
        Unit::Seconds => 1e9,
        Unit::Milliseconds => 1e6,
        Unit::Microseconds => 1e3,
        _ => 1.0,
    }
}

/// The registry's name and labels for `key`, sanitised.
/// Whether the registry folded facade key `key` into its name's overflow
/// series (`series` is the key of the series it returned).
fn folded(series: &SeriesKey, key: &Key) -> bool {
    series.label(OVERFLOW_LABEL.0) == Some(OVERFLOW_LABEL.1)
        && !key.labels().any(|l| {
            sanitize_label_name(l.key()) == OVERFLOW_LABEL.0 && l.value() == OVERFLOW_LABEL.1
        })
}

fn with_parts<T>(key: &Key, f: impl FnOnce(&str, &[(&str, &str)]) -> T) -> T {
    let name = sanitize_name(key.name());
    let labels: Vec<_> = key
        .labels()
        .map(|l| (sanitize_label_name(l.key()), l.value()))
        .collect();
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, *v)).collect();
    f(&name, &labels)
}

impl Recorder for FacadeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(unit) = unit {
            let name = sanitize_name(key.as_str()).into_owned();
            let mut histograms = lock(&self.inner.registry.facade_shared().histograms);
            let scaled = histograms.entry(name).or_insert(Scaled {
                opts: self.inner.registry.default_histogram_opts(),
                fixed: false,
            });
            if !scaled.fixed {
                // Valid: the scales are finite and positive.
                if let Ok(opts) = self
                    .inner
                    .registry
                    .default_histogram_opts()
                    .scale(unit_scale(unit))
                {
                    scaled.opts = opts;
                }
            }
        }
        self.describe(&key, unit, &description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        self.cached(key, |inner, key| {
            match with_parts(key, |name, labels| inner.registry.counter(name, labels)) {
                Ok(counter) => {
                    let folded = folded(&counter.series.head.key, key);
                    (metrics::Counter::from_arc(Arc::new(counter)), folded)
                }
                Err(e) => (metrics::Counter::from_arc(self.failed(e)), false),
            }
        })
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        self.cached(key, |inner, key| {
            match with_parts(key, |name, labels| inner.registry.gauge(name, labels)) {
                Ok(gauge) => {
                    let folded = folded(&gauge.series.head.key, key);
                    (metrics::Gauge::from_arc(Arc::new(gauge)), folded)
                }
                Err(e) => (metrics::Gauge::from_arc(self.failed(e)), false),
            }
        })
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        self.cached(key, |inner, key| {
            let made = with_parts(key, |name, labels| {
                // Held across the lookup, so that a description racing the
                // first registration cannot give a name two scales.
                let mut histograms = lock(&inner.registry.facade_shared().histograms);
                let opts = inner.histogram_opts(histograms.get(name));
                let made = inner.registry.histogram_with(name, labels, opts);
                if made.is_ok() {
                    histograms.insert(name.to_string(), Scaled { opts, fixed: true });
                }
                made
            });
            match made {
                Ok(histogram) => {
                    let folded = folded(&histogram.series.head.key, key);
                    (metrics::Histogram::from_arc(Arc::new(histogram)), folded)
                }
                Err(e) => (metrics::Histogram::from_arc(self.failed(e)), false),
            }
        })
    }
}

impl fmt::Debug for FacadeRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacadeRecorder")
            .field("id", &self.inner.id)
            .field("registry", &self.inner.registry)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A [`metrics`] facade recorder into this registry
    /// ([`FacadeRecorder::new`]).
    #[cfg_attr(docsrs, doc(cfg(feature = "facade")))]
    pub fn recorder(&self) -> FacadeRecorder {
        FacadeRecorder::new(self.clone())
    }
}

/// Lets go of every handle this thread's cache holds, for every recorder
/// (so that a removed series no handle holds any more is dropped; see the
/// [module docs](self#the-per-thread-cache)). Later macro calls look their
/// keys up again.
pub fn clear_thread_cache() {
    let cleared =
        CACHE.try_with(|cache| cache.try_borrow_mut().map(|mut c| std::mem::take(&mut *c)));
    drop(cleared);
}

impl CounterFn for Counter {
    fn increment(&self, value: u64) {
        Counter::increment(self, value);
    }

    fn absolute(&self, value: u64) {
        Counter::absolute(self, value);
    }
}

impl GaugeFn for Gauge {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.sub(value);
    }

    fn set(&self, value: f64) {
        Gauge::set(self, value);
    }
}

impl HistogramFn for Histogram {
    fn record(&self, value: f64) {
        self.record_f64(value);
    }

    /// One bucket update, however many samples.
    fn record_many(&self, value: f64, count: usize) {
        self.record_f64_n(value, u64::try_from(count).unwrap_or(u64::MAX));
    }
}

/// The handle of a refused registration: counts what it drops.
struct Dropped(Arc<AtomicU64>);

impl Dropped {
    fn drop_n(&self, n: u64) {
        // Relaxed: a statistic.
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

impl CounterFn for Dropped {
    fn increment(&self, _: u64) {
        self.drop_n(1);
    }

    fn absolute(&self, _: u64) {
        self.drop_n(1);
    }
}

impl GaugeFn for Dropped {
    fn increment(&self, _: f64) {
        self.drop_n(1);
    }

    fn decrement(&self, _: f64) {
        self.drop_n(1);
    }

    fn set(&self, _: f64) {
        self.drop_n(1);
    }
}

impl HistogramFn for Dropped {
    fn record(&self, _: f64) {
        self.drop_n(1);
    }

    fn record_many(&self, _: f64, count: usize) {
        self.drop_n(u64::try_from(count).unwrap_or(u64::MAX));
    }
}

thread_local! {
    /// This thread's cache: empty until its first miss, then
    /// [`CACHE_SLOTS`] slots.
    static CACHE: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// A cached handle: whose, for which key.
struct Entry {
    recorder: u64,
    key: Key,
    handle: Handle,
}

enum Handle {
    Counter(metrics::Counter),
    Gauge(metrics::Gauge),
    Histogram(metrics::Histogram),
}

/// A facade handle type the cache holds.
trait Cached: Clone {
    /// Mixed into the slot, so that a key registered as two kinds does not
    /// evict itself.
    const KIND: u64;
    fn of(handle: &Handle) -> Option<&Self>;
    fn into_handle(self) -> Handle;
}

impl Cached for metrics::Counter {
    const KIND: u64 = 1;
    fn of(handle: &Handle) -> Option<&Self> {
        match handle {
            Handle::Counter(h) => Some(h),
            _ => None,
        }
    }
    fn into_handle(self) -> Handle {
        Handle::Counter(self)
    }
}

impl Cached for metrics::Gauge {
    const KIND: u64 = 2;
    fn of(handle: &Handle) -> Option<&Self> {
        match handle {
            Handle::Gauge(h) => Some(h),
            _ => None,
        }
    }
    fn into_handle(self) -> Handle {
        Handle::Gauge(self)
    }
}

impl Cached for metrics::Histogram {
    const KIND: u64 = 3;
    fn of(handle: &Handle) -> Option<&Self> {
        match handle {
            Handle::Histogram(h) => Some(h),
            _ => None,
        }
    }
    fn into_handle(self) -> Handle {
        Handle::Histogram(self)
    }
}

/// The set of a key's hash and kind: Fibonacci hashing, top bits (the
/// facade's key hash skips its final mix, so its low bits alone would
/// index poorly). Not of the recorder: a key's set is the same in every
/// run, and several recorders' entries for it share its ways.
#[inline]
fn set_of(hash: u64, kind: u64) -> usize {
    const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
    ((hash ^ kind.rotate_right(8)).wrapping_mul(PHI) >> (64 - SET_BITS)) as usize
}

#[cfg(all(test, not(loom)))]
mod tests {
    use metrics::{counter, gauge, histogram, Label, Level};

    use super::*;
    use crate::registry::Value;

    const META: Metadata<'static> = Metadata::new("t", Level::INFO, None);

    fn value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<Value> {
        registry
            .snapshot()
            .get(name, labels)
            .map(|s| s.value.clone())
    }

    /// `n` names `k0`, `k1`, ... whose counter keys share one set, of
    /// distinct hashes (`k1` and `k11` hash alike: see below).
    fn one_set(n: usize) -> Vec<String> {
        let mut sets: HashMap<usize, Vec<String>> = HashMap::new();
        let mut hashes = std::collections::HashSet::new();
        for i in 0.. {
            let name = format!("k{i}");
            let hash = Key::from_name(name.clone()).get_hash();
            if !hashes.insert(hash) {
                continue;
            }
            let names = sets.entry(set_of(hash, 1)).or_default();
            names.push(name);
            if names.len() == n {
                return names.clone();
            }
        }
        unreachable!()
    }

    #[test]
    fn entries_are_small() {
        // The module docs' 88 bytes an entry, with room for other targets.
        assert!(std::mem::size_of::<Option<Entry>>() <= 100);
    }

    #[test]
    fn repeated_calls_hit_the_cache() {
        clear_thread_cache();
        let registry = Registry::new();
        let recorder = registry.recorder();
        metrics::with_local_recorder(&recorder, || {
            for i in 0..1_000 {
                counter!("hits.total", "kind" => "a").increment(1);
                gauge!("depth").set(f64::from(i));
                histogram!("wait.seconds").record(0.001);
            }
        });
        // One registry lookup per key; 2,997 calls found their handles in
        // the thread's cache, without the registry's index lock.
        assert_eq!(recorder.stats().lookups, 3);
        assert_eq!(
            value(&registry, "hits_total", &[("kind", "a")]),
            Some(Value::Counter(1_000))
        );
        assert_eq!(value(&registry, "depth", &[]), Some(Value::Gauge(999.0)));
    }

    /// Keys of one set: two stay cached; a third evicts the oldest, and
    /// each gets its own series throughout.
    #[test]
    fn keys_sharing_a_set_are_told_apart() {
        clear_thread_cache();
        let registry = Registry::new();
        let recorder = registry.recorder();
        let names = one_set(CACHE_WAYS + 1);
        let keys: Vec<Key> = names.iter().map(|n| Key::from_name(n.clone())).collect();
        for _ in 0..3 {
            recorder.register_counter(&keys[0], &META).increment(1);
            recorder.register_counter(&keys[1], &META).increment(10);
        }
        assert_eq!(recorder.stats().lookups, 2, "two ways: both cached");
        for _ in 0..3 {
            for (i, key) in keys.iter().enumerate() {
                recorder.register_counter(key, &META).increment(100 << i);
            }
        }
        // The first round finds the first two and evicts the oldest for
        // the third; from then on, three keys cycling through two ways
        // evict the key called next: every call a lookup.
        assert_eq!(recorder.stats().lookups, 2 + 1 + 3 + 3);
        assert_eq!(value(&registry, &names[0], &[]), Some(Value::Counter(303)));
        assert_eq!(value(&registry, &names[1], &[]), Some(Value::Counter(630)));
        assert_eq!(
            value(&registry, &names[2], &[]),
            Some(Value::Counter(1_200))
        );
    }

    /// Keys of one hash that `Key` equality tells apart: the cache must
    /// not answer for one with the other's handle. The facade's hash
    /// (rapidhash v3 nano without its final mix) reads a 1-3 byte string
    /// as its first, middle and last bytes, length left out, so `k1` and
    /// `k11`, or label values `5` and `55`, hash alike.
    #[test]
    fn keys_of_one_hash_are_told_apart() {
        clear_thread_cache();
        let registry = Registry::new();
        let recorder = registry.recorder();
        let pairs = [
            (Key::from_name("k1"), Key::from_name("k11")),
            (
                Key::from_parts("codes", vec![Label::new("code", "5")]),
                Key::from_parts("codes", vec![Label::new("code", "55")]),
            ),
        ];
        for (a, b) in &pairs {
            assert_eq!(a.get_hash(), b.get_hash(), "{a} {b}");
            assert_ne!(a, b);
            for _ in 0..3 {
                recorder.register_counter(a, &META).increment(1);
                recorder.register_counter(b, &META).increment(10);
            }
        }
        assert_eq!(value(&registry, "k1", &[]), Some(Value::Counter(3)));
        assert_eq!(value(&registry, "k11", &[]), Some(Value::Counter(30)));
        let code = |c| value(&registry, "codes", &[("code", c)]);
        assert_eq!(
            (code("5"), code("55")),
            (Some(Value::Counter(3)), Some(Value::Counter(30)))
        );
        // One set each, two ways: each key looked up once.
        assert_eq!(recorder.stats().lookups, 4);

        // The same with a permuted label list with a repeated name (label
        // hashes are added): two keys the registry refuses, each counted.
        let labels = |v: [(&'static str, &'static str); 3]| {
            v.iter().map(|&(k, v)| Label::new(k, v)).collect::<Vec<_>>()
        };
        let ka = Key::from_parts("x", labels([("a", "1"), ("a", "2"), ("b", "3")]));
        let kb = Key::from_parts("x", labels([("a", "2"), ("a", "1"), ("b", "3")]));
        assert_eq!(ka.get_hash(), kb.get_hash());
        assert_ne!(ka, kb);
        recorder.register_counter(&ka, &META).increment(1);
        recorder.register_counter(&kb, &META).increment(1);
        recorder.register_counter(&ka, &META).increment(1);
        let stats = recorder.stats();
        // ka's second call hits; kb, told apart, was looked up.
        assert_eq!((stats.lookups, stats.failed, stats.dropped), (6, 2, 3));
        assert!(matches!(
            recorder.last_error(),
            Some(RegistryError::DuplicateLabel(l)) if l == "a"
        ));
    }

    /// Two recorders on one thread: their entries for a key share its set,
    /// and each finds its own handle, never the other's.
    #[test]
    fn recorders_do_not_share_entries() {
        clear_thread_cache();
        let (r1, r2) = (Registry::new(), Registry::new());
        let (f1, f2) = (r1.recorder(), r2.recorder());
        for _ in 0..100 {
            metrics::with_local_recorder(&f1, || counter!("own").increment(1));
            metrics::with_local_recorder(&f2, || counter!("own").increment(2));
        }
        assert_eq!(value(&r1, "own", &[]), Some(Value::Counter(100)));
        assert_eq!(value(&r2, "own", &[]), Some(Value::Counter(200)));
        assert_eq!((f1.stats().lookups, f2.stats().lookups), (1, 1));
        // A new recorder's id is new: it finds nothing of a dropped one's.
        drop(f1);
        let f3 = r2.recorder();
        metrics::with_local_recorder(&f3, || counter!("own").increment(4));
        assert_eq!(f3.stats().lookups, 1);
        assert_eq!(value(&r2, "own", &[]), Some(Value::Counter(204)));
    }

    #[test]
    fn a_kind_mismatch_drops_and_counts() {
        clear_thread_cache();
        let registry = Registry::new();
        let recorder = registry.recorder();
        metrics::with_local_recorder(&recorder, || {
            counter!("jobs").increment(1);
            for _ in 0..4 {
                gauge!("jobs").set(3.0);
                histogram!("jobs").record_many(1.0, 5);
            }
        });
        let stats = recorder.stats();
        // Refusals are cached too: one lookup per key and kind.
        assert_eq!((stats.lookups, stats.failed, stats.dropped), (3, 2, 4 + 20));
        assert!(matches!(
            recorder.last_error(),
            Some(RegistryError::KindMismatch { .. })
        ));
        assert_eq!(value(&registry, "jobs", &[]), Some(Value::Counter(1)));
    }

    #[test]
    fn clearing_lets_removal_drop() {
        clear_thread_cache();
        let registry = Registry::new();
        let recorder = registry.recorder();
        metrics::with_local_recorder(&recorder, || counter!("gone").increment(1));
        assert_eq!(
            registry.remove("gone", &[]).unwrap(),
            crate::registry::Removal::Hidden
        );
        clear_thread_cache();
        let _ = registry.snapshot();
        metrics::with_local_recorder(&recorder, || counter!("gone").increment(1));
        // Recreated from zero: the hidden series was dropped once unheld.
        assert_eq!(value(&registry, "gone", &[]), Some(Value::Counter(1)));
    }
}
