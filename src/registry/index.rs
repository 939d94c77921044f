//! The registry's index and the lifecycle of its series: get-or-create
//! under one mutex, removal and idle eviction that hide a held series and
//! drop an unheld one (`series` explains why no handle is ever orphaned),
//! and the family caches and names that go with them. Records and readings
//! never take the index mutex.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
    time::Duration,
};

use super::{
    counter::CounterCells,
    entry::Entry,
    family::{self, Purge},
    gauge::GaugeCells,
    histogram::HistogramCells,
    key, read,
    series::Series,
    spread::Counts,
    HistogramOpts, Kind, Registry, RegistryError, Removal, SeriesKey, EVICT_BATCH, OVERFLOW_LABEL,
};
use crate::{
    metric::layout::Layout,
    sync::{broken, lock, MutexGuard, Ordering},
};

/// References to a series that are not a handle's: the index's
/// ([`Indexed::entry`]) and the list's (`SeriesList`), one each for as long
/// as the series is in the registry. Under the index mutex, a count above
/// it means a handle exists (a family's cache holds handles too, which is
/// why removal purges the families first), and no handle can be made until
/// the mutex is released; at it or below, none does, and the series may be
/// dropped without orphaning one (`series` explains).
pub(super) const UNHANDLED_REFS: usize = 2;

/// Why a series leaves the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Departure {
    Removed,
    Evicted,
    /// Hidden earlier, and no handle holds it now.
    Unheld,
}

/// Get-or-create lookups, removal and eviction: the registry's one lock,
/// never taken by records or readings.
#[derive(Default)]
pub(super) struct Index {
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
    pub(super) readers: Vec<Weak<read::Inbox>>,
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

/// How to make a series' cells, per kind.
pub(super) enum SeriesSpec {
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
    /// The series `key`, made by `spec` if new (or the name's overflow
    /// series, past its limit); shown again if hidden.
    pub(super) fn get_or_create(
        &self,
        key: SeriesKey,
        spec: SeriesSpec,
    ) -> Result<Entry, RegistryError> {
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
        if broken!("index_check_then_create") {
            drop(index);
            index = lock(&self.inner.index);
        }
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

    pub(super) fn remove_locked(
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
        if !broken!("remove_ignores_handles") && found.entry.strong_count() > UNHANDLED_REFS {
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

    /// One sweep; `_sweeping` proves the sweep lock held.
    pub(super) fn sweep(&self, _sweeping: &MutexGuard<'_, ()>, idle: Duration) -> usize {
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
    pub(super) fn drop_unheld(&self, keys: &[Arc<SeriesKey>]) {
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

    pub(super) fn sweep_if_free(&self) {
        if let Some(idle) = self.inner.config.idle_timeout {
            // Never waits: a reading stays lock-free.
            if let Ok(sweeping) = self.inner.sweeping.try_lock() {
                self.sweep(&sweeping, idle);
            }
        }
    }

    /// Checks that `name` may hold series of `kind` (for a new family).
    pub(super) fn check_kind(&self, name: &str, kind: Kind) -> Result<(), RegistryError> {
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
    pub(super) fn add_family(&self, name: &str, cache: Weak<dyn Purge>) {
        let mut index = lock(&self.inner.index);
        let caches = index.families.entry(name.into()).or_default();
        caches.retain(|c| c.strong_count() > 0);
        caches.push(cache);
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
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

    /// Sets the cardinality limit of `name` (at least 1), as
    /// [`Registry::set_series_limit`].
    pub(super) fn set_limit(&mut self, name: &str, limit: usize, counts: &Counts) {
        if let Some(n) = self.names.get_mut(name) {
            n.limit = Some(limit.max(1));
        } else {
            // Recorded now, typed by its first series.
            self.names.insert(
                name.into(),
                Name {
                    kind: Kind::Counter,
                    series: 0,
                    limit: Some(limit.max(1)),
                },
            );
            // Relaxed: a statistic.
            counts
                .names
                .store(self.names.len() as u64, Ordering::Relaxed);
        }
    }
}
