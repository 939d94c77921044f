//! Label families: one name and its label names, and a cached lookup from
//! label values to handles.
//!
//! The cache is two maps. The *published* map is immutable, shared through
//! crossbeam-epoch (`lockfree::published`), and read without a lock: a
//! repeated lookup is a pin, a hash and a compare. The *recent* map, behind
//! a mutex, holds what was created since the last publication. A lookup
//! that misses the published map takes the mutex; a creation goes through
//! the registry's index. Recent entries are folded into a new published map
//! once they are a fixed fraction of it, or once locked lookups have hit
//! them often enough, so each publication's copy is paid for by that many
//! creations or lookups: O(1) amortised per call.
//!
//! The cache holds handles, so the registry purges a series from its
//! family's cache before deciding whether a handle still holds it
//! (`Registry::remove`). A purge looks up only the removed label sets'
//! buckets and drops the buckets it empties, so a label set that was only
//! in the recent map costs O(1) to remove and leaves nothing behind
//! (`with(new labels)` → record → `remove` cycles stay flat in time and
//! memory). A label set already published costs one copy of the published
//! map per purge (one per eviction batch, however many of its keys it
//! holds): O(published entries), not amortised. A map retired by the purge holds the handle until
//! crossbeam-epoch frees it; a series removed meanwhile is hidden rather
//! than dropped, and a later snapshot drops it. Label sets folded into the overflow series are not
//! cached: there may be any number of them.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Weak},
};

use super::{Counter, Gauge, Histogram, HistogramOpts, Kind, Registry, RegistryError, SeriesKey};
use crate::{
    lockfree::published::Published,
    sync::{lock, Mutex},
};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Counter {}
    impl Sealed for super::Gauge {}
    impl Sealed for super::Histogram {}
}

/// A handle kind a [`Family`] hands out: [`Counter`], [`Gauge`] or
/// [`Histogram`].
pub trait FamilyHandle: sealed::Sealed + Clone + Send + Sync + 'static {
    #[doc(hidden)]
    const KIND: Kind;
    #[doc(hidden)]
    fn get(
        registry: &Registry,
        key: SeriesKey,
        opts: Option<HistogramOpts>,
    ) -> Result<Self, RegistryError>;
    #[doc(hidden)]
    fn key(&self) -> &SeriesKey;
}

impl FamilyHandle for Counter {
    const KIND: Kind = Kind::Counter;
    fn get(r: &Registry, key: SeriesKey, _: Option<HistogramOpts>) -> Result<Self, RegistryError> {
        match r.get_or_create(key, super::SeriesSpec::Counter)? {
            super::Entry::Counter(series) => Ok(Counter { series }),
            _ => unreachable!("kind checked by get_or_create"),
        }
    }
    fn key(&self) -> &SeriesKey {
        &self.series.head.key
    }
}

impl FamilyHandle for Gauge {
    const KIND: Kind = Kind::Gauge;
    fn get(r: &Registry, key: SeriesKey, _: Option<HistogramOpts>) -> Result<Self, RegistryError> {
        match r.get_or_create(key, super::SeriesSpec::Gauge)? {
            super::Entry::Gauge(series) => Ok(Gauge { series }),
            _ => unreachable!("kind checked by get_or_create"),
        }
    }
    fn key(&self) -> &SeriesKey {
        &self.series.head.key
    }
}

impl FamilyHandle for Histogram {
    const KIND: Kind = Kind::Histogram;
    fn get(
        r: &Registry,
        key: SeriesKey,
        opts: Option<HistogramOpts>,
    ) -> Result<Self, RegistryError> {
        let opts = opts.unwrap_or_else(|| r.default_histogram_opts());
        r.histogram_of(key, opts)
    }
    fn key(&self) -> &SeriesKey {
        &self.series.head.key
    }
}

type Map<H> = HashMap<u64, Vec<(Box<[Box<str>]>, H)>>;

/// What the registry asks of a family's cache when it removes a series.
pub(crate) trait Purge: Send + Sync {
    /// Drops the cache's handles of `keys`; returns whether the published
    /// map held any (its retired copies let go only through [`reclaim`], as
    /// do those of a family dropped since).
    fn purge(&self, keys: &[&SeriesKey]) -> bool;
}

/// Runs the process-wide epoch's collection (where published maps are
/// retired: see [`collector`]) until `released()`, at least two rounds and
/// at most 64: each tries to advance the epoch and destroys retired maps
/// no reader can still hold (two rounds do it when no lookup is pinned
/// meanwhile, for every retired map, a dropped family's included). Called
/// under the index lock.
pub(crate) fn reclaim(released: impl Fn() -> bool) {
    #[cfg(not(loom))]
    for round in 0..64 {
        if round >= 2 && released() {
            return;
        }
        crossbeam_epoch::pin().flush();
        if round >= 4 {
            // A lookup pinned at an older epoch: let it finish.
            std::thread::yield_now();
        }
    }
    #[cfg(loom)]
    let _ = released;
}

struct Cache<H: FamilyHandle> {
    labels: Arc<[Arc<str>]>,
    published: Published<Arc<Map<H>>>,
    recent: Mutex<Recent<H>>,
    hasher: RandomState,
}

struct Recent<H> {
    map: Map<H>,
    len: usize,
    /// Locked lookups that found their handle here since the last
    /// publication.
    hits: usize,
    /// Entries in the published map.
    published_len: usize,
}

/// A name and its label names: `with(values)` is the series of those
/// label values, created on first use and cached.
///
/// ```
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let requests = registry.counter_family("requests_total", &["method", "status"])?;
/// requests.with(&["GET", "200"])?.increment(1);
/// requests.with(&["GET", "200"])?.increment(1);
/// requests.with(&["POST", "500"])?.increment(1);
/// let snapshot = registry.snapshot();
/// assert_eq!(snapshot.len(), 2);
/// assert!(requests.with(&["GET"]).is_err()); // two labels, one value
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
pub struct Family<H: FamilyHandle> {
    registry: Registry,
    name: Arc<str>,
    opts: Option<HistogramOpts>,
    cache: Arc<Cache<H>>,
}

impl<H: FamilyHandle> Clone for Family<H> {
    fn clone(&self) -> Self {
        Family {
            registry: self.registry.clone(),
            name: self.name.clone(),
            opts: self.opts,
            cache: self.cache.clone(),
        }
    }
}

impl<H: FamilyHandle> std::fmt::Debug for Family<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .field("labels", &self.cache.labels)
            .finish_non_exhaustive()
    }
}

/// The collector a family's published map is reclaimed through: the
/// process-global one, whose pins are a thread-local handle's (no
/// registration per lookup); loom needs its own.
fn collector() -> crossbeam_epoch::Collector {
    #[cfg(not(loom))]
    return crossbeam_epoch::default_collector().clone();
    #[cfg(loom)]
    return crossbeam_epoch::Collector::new();
}

impl<H: FamilyHandle> Family<H> {
    pub(crate) fn new(
        registry: &Registry,
        name: &str,
        labels: &[&str],
        opts: Option<HistogramOpts>,
    ) -> Result<Self, RegistryError> {
        // Checks the names (and duplicates) once, with empty values.
        let probe: Vec<(&str, &str)> = labels.iter().map(|l| (*l, "")).collect();
        SeriesKey::new(name, &probe)?;
        registry.check_kind(name, H::KIND)?;
        let cache = Arc::new(Cache {
            labels: labels.iter().map(|l| Arc::<str>::from(*l)).collect(),
            published: Published::new(Arc::new(Map::new()), collector()),
            recent: Mutex::new(Recent {
                map: Map::new(),
                len: 0,
                hits: 0,
                published_len: 0,
            }),
            hasher: RandomState::new(),
        });
        let weak: Weak<dyn Purge> = Arc::downgrade(&cache) as Weak<dyn Purge>;
        registry.add_family(name, weak);
        Ok(Family {
            registry: registry.clone(),
            name: name.into(),
            opts,
            cache,
        })
    }

    /// The family's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries in the family's cache: the label sets it holds handles of
    /// (two sets whose values hash alike count once). Removed and evicted
    /// series leave it, so a family whose series are all gone caches
    /// nothing.
    pub fn cached(&self) -> usize {
        let recent = lock(&self.cache.recent).map.len();
        recent + self.cache.published.read(|map| map.len())
    }

    /// The series of `values` (one per label name, in the family's order).
    /// A repeated lookup is lock-free: a pin, a hash and a compare.
    ///
    /// # Errors
    ///
    /// [`RegistryError::LabelCount`] if `values` has the wrong length.
    pub fn with(&self, values: &[&str]) -> Result<H, RegistryError> {
        let cache = &*self.cache;
        if values.len() != cache.labels.len() {
            return Err(RegistryError::LabelCount {
                expected: cache.labels.len(),
                got: values.len(),
            });
        }
        let hash = cache.hash(values);
        if let Some(h) = cache.published.read(|map| find(map, hash, values)) {
            return Ok(h);
        }
        self.with_slow(hash, values)
    }

    #[cold]
    fn with_slow(&self, hash: u64, values: &[&str]) -> Result<H, RegistryError> {
        let cache = &*self.cache;
        {
            let mut recent = lock(&cache.recent);
            if let Some(h) = find(&recent.map, hash, values) {
                recent.hits += 1;
                cache.maybe_publish(&mut recent);
                return Ok(h);
            }
        }
        // Not under the cache's lock: the registry takes its index lock,
        // and its removals take cache locks under it.
        let key = SeriesKey::from_checked(
            self.name.clone(),
            cache
                .labels
                .iter()
                .zip(values)
                .map(|(l, v)| (l.clone(), Box::<str>::from(*v)))
                .collect(),
        );
        let handle = H::get(&self.registry, key, self.opts)?;
        if handle.key().label(super::OVERFLOW_LABEL.0) == Some(super::OVERFLOW_LABEL.1)
            && !cache.labels.iter().any(|l| &**l == super::OVERFLOW_LABEL.0)
        {
            // Folded: not cached (see the module docs).
            return Ok(handle);
        }
        let mut recent = lock(&cache.recent);
        if let Some(h) = find(&recent.map, hash, values) {
            return Ok(h);
        }
        let boxed: Box<[Box<str>]> = values.iter().map(|v| Box::<str>::from(*v)).collect();
        recent
            .map
            .entry(hash)
            .or_default()
            .push((boxed, handle.clone()));
        recent.len += 1;
        cache.maybe_publish(&mut recent);
        Ok(handle)
    }
}

/// Drops the entries of `gone` (hash, values) from `map`, and the buckets
/// they empty; returns how many entries went.
fn drop_from<H>(map: &mut Map<H>, gone: &[(u64, Vec<&str>)]) -> usize {
    let mut dropped = 0;
    for (hash, values) in gone {
        let Some(entries) = map.get_mut(hash) else {
            continue;
        };
        let before = entries.len();
        entries.retain(|(k, _)| {
            !(k.len() == values.len() && k.iter().zip(values).all(|(a, b)| **a == **b))
        });
        dropped += before - entries.len();
        if entries.is_empty() {
            map.remove(hash);
        }
    }
    dropped
}

fn find<H: Clone>(map: &Map<H>, hash: u64, values: &[&str]) -> Option<H> {
    map.get(&hash)?
        .iter()
        .find(|(k, _)| k.len() == values.len() && k.iter().zip(values).all(|(a, b)| **a == **b))
        .map(|(_, h)| h.clone())
}

impl<H: FamilyHandle> Cache<H> {
    fn hash(&self, values: &[&str]) -> u64 {
        self.hasher.hash_one(values)
    }

    /// Folds the recent entries into a new published map when they have
    /// earned the copy (see the module docs).
    fn maybe_publish(&self, recent: &mut Recent<H>) {
        let n = recent.published_len;
        if recent.len < 8 + n / 2 && recent.hits < 8 + n / 8 {
            return;
        }
        let moved = std::mem::take(&mut recent.map);
        let added = recent.len;
        // The cache's lock is held: this is the map's only writer, so the
        // update's closure runs once.
        self.published.update(|current| {
            let mut next = Map::clone(current);
            for (hash, entries) in &moved {
                next.entry(*hash)
                    .or_default()
                    .extend(entries.iter().cloned());
            }
            (Arc::new(next), ())
        });
        recent.published_len += added;
        recent.len = 0;
        recent.hits = 0;
    }
}

impl<H: FamilyHandle> Purge for Cache<H> {
    fn purge(&self, keys: &[&SeriesKey]) -> bool {
        // Each key's values in the family's label order, if it is one of
        // this family's.
        let gone: Vec<(u64, Vec<&str>)> = keys
            .iter()
            .filter(|key| key.labels().len() == self.labels.len())
            .filter_map(|key| {
                let values: Vec<&str> = self
                    .labels
                    .iter()
                    .map(|l| key.label(l))
                    .collect::<Option<_>>()?;
                Some((self.hash(&values), values))
            })
            .collect();
        if gone.is_empty() {
            return false;
        }
        let matches = |hash: u64, k: &[Box<str>]| {
            gone.iter()
                .any(|(h, values)| *h == hash && k.iter().zip(values).all(|(a, b)| **a == **b))
        };
        let mut recent = lock(&self.recent);
        // Only the keys' buckets, and an emptied bucket leaves the map:
        // O(keys), and nothing left behind (issue 21, item 8).
        let dropped = drop_from(&mut recent.map, &gone);
        recent.len -= dropped;
        let published = self.published.read(|map| {
            gone.iter().any(|(hash, _)| {
                map.get(hash)
                    .is_some_and(|e| e.iter().any(|(k, _)| matches(*hash, k)))
            })
        });
        if published {
            // One copy for all the keys. A retired map still holds their
            // handles until crossbeam-epoch frees it, so a series removed
            // meanwhile is hidden, and dropped by a later snapshot.
            let removed = self.published.update(|current| {
                let mut next = Map::clone(current);
                let removed = drop_from(&mut next, &gone);
                (Arc::new(next), removed)
            });
            recent.published_len = recent.published_len.saturating_sub(removed);
        }
        published
    }
}

impl Registry {
    /// A family of counters named `name` with `labels`.
    ///
    /// # Errors
    ///
    /// An invalid or repeated name, or a name that holds another kind.
    pub fn counter_family(
        &self,
        name: &str,
        labels: &[&str],
    ) -> Result<Family<Counter>, RegistryError> {
        Family::new(self, name, labels, None)
    }

    /// A family of gauges named `name` with `labels`.
    ///
    /// # Errors
    ///
    /// As [`counter_family`](Self::counter_family).
    pub fn gauge_family(
        &self,
        name: &str,
        labels: &[&str],
    ) -> Result<Family<Gauge>, RegistryError> {
        Family::new(self, name, labels, None)
    }

    /// A family of histograms named `name` with `labels`, each with `opts`
    /// (the registry's default if `None`).
    ///
    /// # Errors
    ///
    /// As [`counter_family`](Self::counter_family).
    pub fn histogram_family(
        &self,
        name: &str,
        labels: &[&str],
        opts: Option<HistogramOpts>,
    ) -> Result<Family<Histogram>, RegistryError> {
        Family::new(self, name, labels, opts)
    }
}
