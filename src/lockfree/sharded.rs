//! `Sharded`: the seed's proposed v1.5.0, built. Every recording thread
//! writes only to its own shard; readers merge the shards; a reset saves a
//! merged reading, published through crossbeam-epoch, that later readings
//! are measured from. The protocol, its invariants and its reasons are in
//! `papers/sharded-protocol.md`.
//!
//! **Record path** (wait-free, allocation-free after a thread's first
//! record): look up the thread's shard (`thread_local`), then relaxed loads
//! and plain stores to counters nobody else writes: no lock, no
//! read-modify-write, no cache line shared with another writer (but for
//! the exact min and max words, `lockfree::extremes`, which a reset swaps
//! empty: a relaxed load per record, and a `fetch_min`/`fetch_max` only
//! for a new extreme). The one
//! exception is a *change* of mode: a CAS on the shared mode word and the
//! change's entry in the shared log, since transitions are only defined
//! in one global order; recording the current mode again is a load. A
//! record made from a thread-local destructor after `thread_local`
//! released the thread's id goes to a spare shard instead, borrowed from a
//! lock-free pool for that one record (`lockfree::shard_map`), and counts
//! like any other.
//!
//! **Shards are cumulative.** Counters only grow, so a reader can read
//! them at any moment, in any order, without the writers' help (unlike
//! `hdrhistogram`'s `SyncHistogram::refresh`, which waits for every
//! recorder): each record is either in a reading or not, per counter.
//! A thread that exits leaves its shard behind for the next thread that
//! gets its id, which simply keeps adding: nothing is lost or counted
//! twice, and memory follows the peak number of threads.
//!
//! **Resets are readings.** A reset merges every shard into a [`Base`] and
//! publishes it; a snapshot is the current merged reading minus the base.
//! `take_interval` computes both from one reading, and installs its base
//! with a CAS that fails if another reset got in first (then it reads
//! again), so every counter's increments land in exactly one interval (a
//! record made during the reading may have its counters on both sides:
//! see `papers/sharded-protocol.md`). Old bases are reclaimed by
//! crossbeam-epoch once no reader holds them. The exact min and max cannot
//! be measured from a base: the reset that installed its base takes them
//! from every shard afterwards (`lockfree::extremes`).
//!
//! **Windows** are per-shard slot rings (`lockfree::slots`) keyed by the
//! clock; **gauges** keep their current value per shard
//! (`lockfree::gauge`); **the transition log** is the one shared log of
//! `lockfree::log`, written only by changes of mode.
//!
//! Progress: records are wait-free (a mode change is lock-free; a record
//! into a spare shard is as `lockfree::shard_map` describes); snapshots
//! are lock-free and never block writers or each other; `reset` and
//! `take_interval` are lock-free.

use std::time::Duration;

use crossbeam_epoch::Collector;

use super::{
    counters::{
        AcquireLoads, OwnedCounter, OwnedCounters, OwnedHistogram, OwnedWide, RelaxedLoads,
    },
    extremes::Extremes,
    gauge::{Latest, Shown},
    log::TransitionLog,
    published::Published,
    readout::{Layouts, Parts, RawBatch, RawHistogram, RawThroughput, Reading},
    shard_map::ShardMap,
    slots::AtomicSlots,
};
use crate::{
    clock::{Clock, DefaultClock},
    collector::{MetricsCollector, RequestRecord},
    config::Config,
    metric::{clamp, clamp_latency, layout::Layout, window::WindowSpec},
    snapshot::{
        BatchSnapshot, Extent, LatencySnapshot, Mode, ModeSnapshot, QueueDepthSnapshot, Snapshot,
        ThroughputSnapshot, WindowRate,
    },
    sync::{broken, AtomicUsize, Ordering},
};

/// One recording thread's cells. Only its thread writes them. Boxed and
/// aligned to 128 bytes (a cache line pair), so that no other thread's data
/// shares its lines.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    /// Index into a base's saved gauge record numbers.
    id: usize,
    latency: OwnedHistogram,
    queue: OwnedHistogram,
    /// The exact min and max of the latencies and queue depths since the
    /// last reset, which takes them (not cumulative: see
    /// `lockfree::extremes`).
    latency_extremes: Extremes,
    queue_extremes: Extremes,
    queue_current: Latest,
    batch: OwnedCounters,
    batch_clamped: OwnedCounter,
    batch_current: Latest,
    /// Cumulative across resets and never saturated (`OwnedWide`), so a
    /// reset that saved a huge total still sees what comes after it.
    tokens: OwnedWide,
    requests: OwnedWide,
    throughput_clamped: OwnedCounter,
    slots: AtomicSlots,
}

impl Shard {
    fn new(id: usize, layouts: &Layouts, spec: &WindowSpec, config: &Config) -> Self {
        Shard {
            id,
            latency: OwnedHistogram::new(&layouts.latency),
            queue: OwnedHistogram::new(&layouts.queue),
            latency_extremes: Extremes::default(),
            queue_extremes: Extremes::default(),
            queue_current: Latest::default(),
            batch: OwnedCounters::new(config.max_batch_size() + 1),
            batch_clamped: OwnedCounter::default(),
            batch_current: Latest::default(),
            tokens: OwnedWide::default(),
            requests: OwnedWide::default(),
            throughput_clamped: OwnedCounter::default(),
            slots: AtomicSlots::new(spec),
        }
    }
}

/// A merged reading saved at a reset; snapshots are measured from it.
#[derive(Debug, Default)]
struct Base {
    at_ns: u64,
    parts: Parts,
    /// The slot the reset fell in, and what that slot held then.
    slot: u64,
    slot_counts: (u64, u64),
    mode_seq: u64,
    /// Per shard id: the (batch, queue) gauge records opened by the reset;
    /// only later ones can be current after it.
    opened: Vec<(u64, u64)>,
}

impl Base {
    fn opened(&self, shard: usize) -> (u64, u64) {
        self.opened.get(shard).copied().unwrap_or((0, 0))
    }
}

/// The lock-free sharded strategy (see the module docs).
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, thread, time::Duration};
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
///
/// let m = Arc::new(Sharded::new(Config::default()));
/// let t = {
///     let m = Arc::clone(&m);
///     thread::spawn(move || m.record_latency(Duration::from_millis(5)))
/// };
/// m.record_latency(Duration::from_millis(7));
/// t.join().unwrap();
/// // The exited thread's records are kept.
/// assert_eq!(m.latency().count, 2);
/// let interval = m.take_interval();
/// assert_eq!(interval.latency.count, 2);
/// assert_eq!(m.latency().count, 0);
/// ```
pub struct Sharded<C: Clock = DefaultClock> {
    config: Config,
    spec: WindowSpec,
    layouts: Layouts,
    clock: C,
    shards: ShardMap<Box<Shard>>,
    next_shard: AtomicUsize,
    log: TransitionLog,
    base: Published<Base>,
}

impl<C: Clock + std::fmt::Debug> std::fmt::Debug for Sharded<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Sharded<DefaultClock> {
    /// A collector on the default clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, DefaultClock::new())
    }
}

impl<C: Clock> Sharded<C> {
    /// A collector on `clock`, whose retired reset points are reclaimed by
    /// an epoch collector of its own: a reading pins it for as long as the
    /// reading takes (tens of µs, more with many shards), which then delays
    /// only this collector's garbage, never that of other crossbeam-epoch
    /// users of the process-global collector.
    pub fn with_clock(config: Config, clock: C) -> Self {
        Self::with_collector(config, clock, Collector::new())
    }

    /// A collector on `clock` whose retired reset points are reclaimed by
    /// `collector` (for example crossbeam-epoch's global one, whose pins
    /// reuse each thread's cached handle instead of registering one).
    pub fn with_collector(config: Config, clock: C, collector: Collector) -> Self {
        let spec = WindowSpec::new(&config);
        let layouts = Layouts::new(&config);
        let now = clock.now_ns();
        let base = Base {
            at_ns: now,
            slot: spec.slot_of(now),
            ..Base::default()
        };
        Sharded {
            base: Published::new(base, collector),
            shards: ShardMap::new(),
            next_shard: AtomicUsize::new(0),
            log: TransitionLog::new(config.transition_log()),
            config,
            spec,
            layouts,
            clock,
        }
    }

    /// Shards allocated so far: one per thread that ever recorded, less
    /// those reused after their thread exited, plus the spares that exiting
    /// threads record into from thread-local destructors that run after
    /// `thread_local` released their id (at most 64: the most such records
    /// ever in progress at once). Memory is this times
    /// [`shard_bytes`](Self::shard_bytes), plus the reset point and the
    /// spare pool (64 pointers and a 64-slot queue: about 1.5 KiB).
    pub fn shards_allocated(&self) -> usize {
        // Relaxed: a count for diagnostics, ordered with nothing.
        self.next_shard.load(Ordering::Relaxed)
    }

    /// Heap and inline bytes of one shard under this configuration.
    pub fn shard_bytes(&self) -> usize {
        let words = self.layouts.latency.len()
            + self.layouts.queue.len()
            + self.config.max_batch_size()
            + 1
            + 2 * self.spec.ring_len();
        std::mem::size_of::<Shard>() + 8 * words
    }

    /// Calls `f` with this thread's shard or, for a record from a late
    /// thread-local destructor, a spare one, held for the duration of `f`.
    #[inline]
    fn with_shard<R>(&self, f: impl FnOnce(&Shard) -> R) -> R {
        // Boxed, so that the lookup's inlined slow path does not reserve a
        // shard-sized (and aligned) stack frame on every record.
        self.shards.with(|| self.new_shard(), |shard| f(shard))
    }

    /// A thread's first record, or a new spare: allocates a shard.
    #[cold]
    #[inline(never)]
    fn new_shard(&self) -> Box<Shard> {
        // Relaxed: the counter only hands out distinct ids.
        let id = self.next_shard.fetch_add(1, Ordering::Relaxed);
        Box::new(Shard::new(id, &self.layouts, &self.spec, &self.config))
    }

    fn shards(&self) -> Vec<&Shard> {
        self.shards.iter().map(|shard| &**shard).collect()
    }

    fn latency_reading(shards: &[&Shard], layout: &Layout) -> RawHistogram {
        // Relaxed: counters are read one by one (see `Counters`).
        RawHistogram::merged::<RelaxedLoads>(shards.iter().map(|s| &s.latency), layout)
    }

    /// The merged exact (latency, queue depth) extremes of `shards`; with
    /// `take`, taken (left empty for the next interval).
    fn extremes(shards: &[&Shard], take: bool) -> (Extent, Extent) {
        shards
            .iter()
            .fold((Extent::EMPTY, Extent::EMPTY), |(l, q), s| {
                let (sl, sq) = if take {
                    (s.latency_extremes.take(), s.queue_extremes.take())
                } else {
                    (s.latency_extremes.read(), s.queue_extremes.read())
                };
                (l.merge(sl), q.merge(sq))
            })
    }

    fn throughput_reading(shards: &[&Shard]) -> RawThroughput {
        let mut raw = RawThroughput::default();
        for shard in shards {
            raw.add_wide(&shard.tokens, &shard.requests, &shard.throughput_clamped);
        }
        raw
    }

    /// Merged (tokens, requests) of `slot`.
    fn slot_reading(&self, shards: &[&Shard], slot: u64) -> (u64, u64) {
        shards.iter().fold((0, 0), |(t, r), shard| {
            let (st, sr) = shard.slots.read(&self.spec, slot);
            (t.wrapping_add(st), r.wrapping_add(sr))
        })
    }

    /// Window rates at `now_ns`, measured from `base`, given `current`, the
    /// merged reading of `now_ns`'s slot (a reset saves that same reading).
    fn windows(
        &self,
        shards: &[&Shard],
        base: &Base,
        now_ns: u64,
        current: (u64, u64),
    ) -> Vec<WindowRate> {
        let now_slot = self.spec.slot_of(now_ns);
        self.spec.rates(now_ns, base.at_ns, |slot| {
            let (tokens, requests) = if slot == now_slot {
                current
            } else {
                self.slot_reading(shards, slot)
            };
            if slot == base.slot {
                (
                    tokens.wrapping_sub(base.slot_counts.0),
                    requests.wrapping_sub(base.slot_counts.1),
                )
            } else {
                (tokens, requests)
            }
        })
    }

    /// Batch and queue gauges: the merged counts and the value recorded at
    /// the latest clock reading since `base`, read in the order
    /// `lockfree::gauge` requires for a snapshot (values, then counts).
    fn gauge_reading(&self, shards: &[&Shard], base: &Base) -> Gauges {
        let counts = || {
            let mut batch = RawBatch::zeroed(self.config.max_batch_size() + 1);
            for shard in shards {
                // Acquire: a count seen synchronises with its record's
                // opening Release fence, so a reset then sees the record
                // opened; see `lockfree::gauge`.
                batch.add::<AcquireLoads, _>(&shard.batch, &shard.batch_clamped);
            }
            // Acquire: as for the batch counts.
            let queue = RawHistogram::merged::<AcquireLoads>(
                shards.iter().map(|s| &s.queue),
                &self.layouts.queue,
            );
            (batch, queue)
        };
        // Broken on purpose, for the loom models to catch: counts read
        // before the values miss the count of a record whose value is shown.
        let early = broken!("gauge_counts_before_stamps").then(counts);
        let mut newest = [None::<Shown>; 2];
        for shard in shards {
            let opened = base.opened(shard.id);
            let reads = [
                (shard.batch_current.read(), opened.0),
                (shard.queue_current.read(), opened.1),
            ];
            for (best, (read, opened)) in newest.iter_mut().zip(reads) {
                if let Some(shown) = read.filter(|s| s.record > opened) {
                    if best.is_none_or(|b| shown.at_ns >= b.at_ns) {
                        *best = Some(shown);
                    }
                }
            }
        }
        let (batch, queue) = early.unwrap_or_else(counts);
        Gauges {
            batch,
            batch_current: newest[0].map(|s| s.value),
            queue,
            queue_current: newest[1].map(|s| s.value),
        }
    }

    /// The mode word, and the logged transitions since `base`.
    fn mode_reading(&self, base: &Base) -> (u64, ModeSnapshot) {
        let (state, recent) = self.log.read(base.mode_seq);
        let mode = ModeSnapshot {
            current: state.current,
            transitions: state.seq - base.mode_seq,
            recent,
        };
        (state.seq, mode)
    }

    /// Everything since `base`, and, if `keep`, the reading a reset would
    /// save (without it, the reading is measured in place).
    fn read_all(&self, base: &Base, keep: bool) -> (Snapshot, Option<Base>) {
        let shards = self.shards();
        let now = self.clock.now_ns();
        let (mode_seq, mode) = self.mode_reading(base);
        let gauges = self.gauge_reading(&shards, base);
        // Read after the counts (see `lockfree::gauge`).
        let mut opened = vec![(0, 0); shards.iter().map(|s| s.id + 1).max().unwrap_or(0)];
        for shard in &shards {
            opened[shard.id] = (shard.batch_current.opened(), shard.queue_current.opened());
        }
        // One reading of the current slot serves both this interval's
        // windows and the next base, so a record made in that slot during a
        // reset lands on exactly one side of it; two readings would lose
        // one made between them.
        let slot = self.spec.slot_of(now);
        let slot_counts = self.slot_reading(&shards, slot);
        let reading = Reading {
            now_ns: now,
            parts: Parts {
                latency: Self::latency_reading(&shards, &self.layouts.latency),
                queue: gauges.queue,
                batch: gauges.batch,
                throughput: Self::throughput_reading(&shards),
            },
            batch_current: gauges.batch_current,
            queue_current: gauges.queue_current,
            windows: self.windows(&shards, base, now, slot_counts),
            mode,
        };
        if !keep {
            let extremes = Self::extremes(&shards, false);
            let snapshot = reading.into_snapshot(&base.parts, base.at_ns, &self.layouts);
            return (self.layouts.exact(snapshot, extremes), None);
        }
        let snapshot = reading.snapshot(&base.parts, base.at_ns, &self.layouts);
        let next = Base {
            at_ns: now,
            parts: reading.parts,
            slot,
            // Broken on purpose, for the loom models to catch: a second
            // reading of the slot for the base loses a record made after
            // the first.
            slot_counts: if broken!("window_slot_read_twice") {
                self.slot_reading(&shards, slot)
            } else {
                slot_counts
            },
            mode_seq,
            opened,
        };
        (snapshot, Some(next))
    }
}

/// The record paths on this thread's shard, given the clock's reading.
impl<C: Clock> Sharded<C> {
    #[inline(always)]
    fn throughput_into(&self, shard: &Shard, now: u64, tokens: u64, requests: u64) {
        // Totals never saturate in the shard (a reading saturates what it
        // shows); a call cut in its slot counts.
        shard.tokens.add_owned(tokens);
        shard.requests.add_owned(requests);
        if shard
            .slots
            .add_owned(&self.spec, self.spec.slot_of(now), tokens, requests)
        {
            shard.throughput_clamped.add_owned(1);
        }
    }

    #[inline(always)]
    fn batch_into(&self, shard: &Shard, now: u64, size: usize) {
        let (size, clamped) = clamp(size as u64, self.config.max_batch_size() as u64);
        let open = shard.batch_current.open(now, size);
        if clamped {
            shard.batch_clamped.add_owned(1);
        }
        // The slot's opening fence and closing Release order the count for
        // readers and resets (see `lockfree::gauge`).
        shard.batch.add_owned(size as usize, 1);
        shard.batch_current.close(open);
    }

    #[inline(always)]
    fn queue_into(&self, shard: &Shard, now: u64, depth: usize) {
        let (depth, clamped) = clamp(depth as u64, self.layouts.queue.highest());
        let open = shard.queue_current.open(now, depth);
        // Ordered for readers as in `batch_into`.
        shard.queue.record(&self.layouts.queue, depth, clamped);
        shard.queue_extremes.record_owned(depth);
        shard.queue_current.close(open);
    }

    #[inline(always)]
    fn latency_into(&self, shard: &Shard, ns: u64, clamped: bool) {
        shard.latency.record(&self.layouts.latency, ns, clamped);
        shard.latency_extremes.record_owned(ns);
    }
}

/// The batch and queue readings of one snapshot.
struct Gauges {
    batch: RawBatch,
    batch_current: Option<u64>,
    queue: RawHistogram,
    queue_current: Option<u64>,
}

impl<C: Clock> MetricsCollector for Sharded<C> {
    #[inline]
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.layouts.latency.highest());
        self.with_shard(move |shard| self.latency_into(shard, ns, clamped));
    }

    #[inline]
    fn record_latency_ns(&self, ns: u64) {
        let (ns, clamped) = clamp(ns, self.layouts.latency.highest());
        self.with_shard(move |shard| self.latency_into(shard, ns, clamped));
    }

    #[inline]
    fn record_throughput(&self, tokens: u64, requests: u64) {
        let now = self.clock.now_ns();
        self.with_shard(move |shard| self.throughput_into(shard, now, tokens, requests));
    }

    #[inline]
    fn record_batch_size(&self, size: usize) {
        let now = self.clock.now_ns();
        self.with_shard(move |shard| self.batch_into(shard, now, size));
    }

    #[inline]
    fn record_queue_depth(&self, depth: usize) {
        let now = self.clock.now_ns();
        self.with_shard(move |shard| self.queue_into(shard, now, depth));
    }

    #[inline]
    fn record_request(&self, r: &RequestRecord) {
        let (ns, clamped) = clamp_latency(r.latency, self.layouts.latency.highest());
        // One reading for the slot and both gauges' stamps: each is a
        // reading of a monotonic clock taken before its record, as the
        // separate calls' are.
        let now = self.clock.now_ns();
        self.with_shard(move |shard| {
            self.latency_into(shard, ns, clamped);
            self.throughput_into(shard, now, r.tokens, r.requests);
            self.batch_into(shard, now, r.batch_size);
            self.queue_into(shard, now, r.queue_depth);
        });
        self.record_mode_transition(r.mode);
    }

    #[inline]
    fn record_mode_transition(&self, mode: Mode) {
        self.log.record(mode, || self.clock.now_ns());
    }

    fn latency(&self) -> LatencySnapshot {
        self.base.read(|base| {
            let (shards, layout) = (self.shards(), &self.layouts.latency);
            let reading = Self::latency_reading(&shards, layout);
            let exact = shards
                .iter()
                .fold(Extent::EMPTY, |e, s| e.merge(s.latency_extremes.read()));
            reading
                .into_latency_since(&base.parts.latency, layout)
                .with_exact(exact, |v, r| layout.same_bucket(v, r))
        })
    }

    fn throughput(&self) -> ThroughputSnapshot {
        self.base.read(|base| {
            let shards = self.shards();
            let now = self.clock.now_ns();
            let totals = Self::throughput_reading(&shards);
            let current = self.slot_reading(&shards, self.spec.slot_of(now));
            totals
                .since(&base.parts.throughput)
                .snapshot(self.windows(&shards, base, now, current))
        })
    }

    fn batch(&self) -> BatchSnapshot {
        self.base.read(|base| {
            let gauges = self.gauge_reading(&self.shards(), base);
            gauges.batch.since(&base.parts.batch, gauges.batch_current)
        })
    }

    fn queue_depth(&self) -> QueueDepthSnapshot {
        self.base.read(|base| {
            let (shards, layout) = (self.shards(), &self.layouts.queue);
            let gauges = self.gauge_reading(&shards, base);
            let exact = shards
                .iter()
                .fold(Extent::EMPTY, |e, s| e.merge(s.queue_extremes.read()));
            gauges
                .queue
                .into_queue_since(&base.parts.queue, layout, gauges.queue_current)
                .with_exact(exact, |v, r| layout.same_bucket(v, r))
        })
    }

    fn mode(&self) -> ModeSnapshot {
        self.base.read(|base| self.mode_reading(base).1)
    }

    fn snapshot(&self) -> Snapshot {
        self.base.read(|base| self.read_all(base, false).0)
    }

    fn reset(&self) {
        self.take_interval();
    }

    fn take_interval(&self) -> Snapshot {
        let snapshot = self.base.update(|base| {
            let (snapshot, mut next) = self.read_all(base, true);
            if broken!("interval_two_readings") {
                // Broken on purpose, for the loom models to catch: the
                // interval and the new base come from two readings, so a
                // record made between them falls in no interval.
                next = self.read_all(base, true).1;
            }
            (
                next.expect("read_all keeps the reading when asked"),
                snapshot,
            )
        });
        // Extremes are not cumulative: the reset that installed its base
        // takes them, once, after its reading (a retried reading takes
        // nothing). Records between the two have their extremes here and
        // their counts in the next interval.
        let extremes = Self::extremes(&self.shards(), true);
        self.layouts.exact(snapshot, extremes)
    }

    fn config(&self) -> &Config {
        &self.config
    }
}
