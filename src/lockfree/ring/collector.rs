//! The `Ring` collector over its lanes (see the module docs of
//! `lockfree::ring`).

use std::{
    cell::{Cell, RefCell},
    ptr,
    sync::Arc,
    time::Duration,
};

use crossbeam_queue::{ArrayQueue, SegQueue};

use super::lane::{Fold, Lane, Msg, Sink};
use crate::{
    clock::{Clock, DefaultClock},
    collector::{MetricsCollector, RequestRecord},
    config::Config,
    lockfree::log::TransitionLog,
    metric::{
        clamp, clamp_latency,
        state::{BatchState, LatencyState, QueueState, ThroughputState},
        window::WindowSpec,
    },
    snapshot::{Mode, ModeSnapshot, Snapshot},
    sync::{broken, lock, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering},
};

/// Messages a lane's ring holds by default: 1,024 messages of 32 bytes,
/// 32 KiB per recording thread.
pub const DEFAULT_RING_CAPACITY: usize = 1024;

/// Lanes of exited threads kept for new threads to claim.
const EXITED_LANES: usize = 64;

/// Message kinds (the low byte of `Msg::kind`) and the clamp flag.
const LATENCY: u64 = 0;
const THROUGHPUT: u64 = 1;
const BATCH: u64 = 2;
const QUEUE: u64 = 3;
const CLAMPED: u64 = 1 << 8;

type RingLane = Lane<Part>;

/// Whole records, aggregated: the reader's aggregate and each lane's
/// overflow batch.
#[derive(Debug)]
pub(crate) struct Part {
    spec: WindowSpec,
    latency: LatencyState,
    throughput: ThroughputState,
    batch: BatchState,
    queue: QueueState,
    /// (clock reading, value) of the latest batch size and queue depth:
    /// rings are drained in no global order, so "current" is the value
    /// recorded at the latest clock reading (the later record on ties
    /// within a thread).
    batch_latest: Option<(u64, u64)>,
    queue_latest: Option<(u64, u64)>,
}

impl Part {
    fn new(config: &Config, spec: &WindowSpec) -> Self {
        Part {
            spec: spec.clone(),
            latency: LatencyState::new(config),
            throughput: ThroughputState::new(spec, 0),
            batch: BatchState::new(config),
            queue: QueueState::new(config),
            batch_latest: None,
            queue_latest: None,
        }
    }

    fn clear(&mut self) {
        self.latency.clear();
        self.throughput.clear();
        self.batch.clear();
        self.queue.clear();
        self.batch_latest = None;
        self.queue_latest = None;
    }
}

impl Sink<Part> for Part {
    #[inline]
    fn apply(&mut self, msg: &Msg) {
        self.fold(msg);
    }

    /// Adds `other`'s records, then empties it.
    fn absorb(&mut self, other: &mut Part) {
        self.latency.merge(&other.latency);
        self.throughput.merge(&self.spec, &other.throughput);
        self.batch.merge(&other.batch);
        self.queue.merge(&other.queue);
        latest(&mut self.batch_latest, other.batch_latest);
        latest(&mut self.queue_latest, other.queue_latest);
        other.clear();
    }
}

/// Keeps the value of the later clock reading; on a tie, the newer one.
fn latest(current: &mut Option<(u64, u64)>, new: Option<(u64, u64)>) {
    if let Some((at, value)) = new {
        if current.is_none_or(|(cur_at, _)| at >= cur_at) {
            *current = Some((at, value));
        }
    }
}

impl Fold for Part {
    fn clear(&mut self) {
        Part::clear(self);
    }

    #[inline]
    fn fold(&mut self, msg: &Msg) {
        match msg.kind & 0xff {
            LATENCY => self.latency.record(msg.a, msg.kind & CLAMPED != 0),
            THROUGHPUT => self.throughput.record(&self.spec, msg.at, msg.a, msg.b),
            BATCH => {
                self.batch.record(msg.a as usize);
                let max = self.batch.max_size();
                latest(&mut self.batch_latest, Some((msg.at, msg.a.min(max))));
            }
            _ => {
                self.queue.record(msg.a as usize);
                let max = self.queue.max_depth();
                latest(&mut self.queue_latest, Some((msg.at, msg.a.min(max))));
            }
        }
    }
}

/// The reader's side: the aggregate, the lanes it drains, and the reset
/// point.
#[derive(Debug)]
struct Agg {
    part: Part,
    lanes: Vec<Arc<RingLane>>,
    reset_at_ns: u64,
    /// The mode word's sequence number at the last reset.
    mode_seq: u64,
}

/// Collector ids, never reused, so a thread's cached lane never matches a
/// collector other than the one it belongs to (0 is none).
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// The lanes of exited threads, for new threads to claim.
type Exited = Arc<ArrayQueue<Arc<RingLane>>>;

/// A thread's lanes, one per collector it recorded into (with that
/// collector's queue of exited lanes); retired when the thread exits.
struct Home {
    lanes: RefCell<Vec<(usize, Arc<RingLane>, Exited)>>,
}

impl Drop for Home {
    fn drop(&mut self) {
        // No destructor of its own: always accessible. The cached pointer
        // is into a lane this drop releases.
        CACHE.set((0, ptr::null()));
        for (_, lane, exited) in self.lanes.get_mut().drain(..) {
            // SAFETY: this thread is the lane's producer, and its records
            // are over: later records from this thread find no `HOME` and
            // go to their collector's `late` queue.
            unsafe { lane.retire() };
            // For a new thread to claim; if the queue is full, a reader
            // removes the lane once drained.
            let _ = exited.push(lane);
        }
    }
}

thread_local! {
    static HOME: Home = const { Home { lanes: RefCell::new(Vec::new()) } };
    /// (collector id, lane) of this thread's last record: the fast path.
    /// No destructor; cleared by `Home`'s, before the lane can go.
    static CACHE: Cell<(usize, *const RingLane)> = const { Cell::new((0, ptr::null())) };
}

/// The message-passing strategy (see the module docs): per-thread
/// lock-free rings drained into one aggregate by readers; intervals exact
/// per record.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, thread, time::Duration};
/// use lockfree_metrics::{Config, MetricsCollector, Ring};
///
/// let m = Arc::new(Ring::new(Config::default()));
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
pub struct Ring<C: Clock = DefaultClock> {
    config: Config,
    spec: WindowSpec,
    clock: C,
    id: usize,
    capacity: usize,
    latency_highest: u64,
    agg: Mutex<Agg>,
    /// New lanes, for the next reader to adopt.
    incoming: SegQueue<Arc<RingLane>>,
    /// Records from threads whose lanes are retired.
    late: SegQueue<Msg>,
    /// Retired lanes of exited threads, for new threads to claim.
    exited: Exited,
    log: TransitionLog,
    /// Lanes and overflow batches allocated (diagnostics).
    lanes_made: AtomicUsize,
    batches_made: AtomicUsize,
    /// Lanes freed, and records sent to `late` (diagnostics).
    lanes_freed: AtomicU64,
    late_records: AtomicU64,
}

impl<C: Clock + std::fmt::Debug> std::fmt::Debug for Ring<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Ring<DefaultClock> {
    /// A collector on the default clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, DefaultClock::new())
    }
}

impl<C: Clock> Ring<C> {
    /// A collector on `clock` with rings of [`DEFAULT_RING_CAPACITY`]
    /// messages.
    pub fn with_clock(config: Config, clock: C) -> Self {
        Self::with_capacity(config, clock, DEFAULT_RING_CAPACITY)
    }

    /// A collector on `clock` whose rings hold `capacity` messages
    /// (rounded up to a power of two, at least 1).
    pub fn with_capacity(config: Config, clock: C, capacity: usize) -> Self {
        let spec = WindowSpec::new(&config);
        let now = clock.now_ns();
        let mut part = Part::new(&config, &spec);
        part.throughput.start_at(now);
        let agg = Agg {
            part,
            lanes: Vec::new(),
            reset_at_ns: now,
            mode_seq: 0,
        };
        Ring {
            // Relaxed: the counter only hands out distinct ids.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            capacity: capacity.max(1).next_power_of_two(),
            latency_highest: config.latency_highest_ns(),
            agg: Mutex::new(agg),
            incoming: SegQueue::new(),
            late: SegQueue::new(),
            exited: Arc::new(ArrayQueue::new(EXITED_LANES)),
            log: TransitionLog::new(config.transition_log()),
            lanes_made: AtomicUsize::new(0),
            batches_made: AtomicUsize::new(0),
            lanes_freed: AtomicU64::new(0),
            late_records: AtomicU64::new(0),
            config,
            spec,
            clock,
        }
    }

    /// Messages each thread's ring holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of one lane (its ring and indexes), without an overflow batch.
    pub fn lane_bytes(&self) -> usize {
        RingLane::bytes(self.capacity)
    }

    /// Bytes of one overflow batch (also the aggregate's size): a lane
    /// holds at most four (the published one, its twin, the spare and one
    /// being applied), allocated only if its ring fills between reads.
    pub fn batch_bytes(&self) -> usize {
        let latency = self.config.latency_layout().len();
        let queue = self.config.queue_layout().len();
        std::mem::size_of::<Part>()
            + 8 * (latency + queue + self.config.max_batch_size() + 1)
            + 24 * self.spec.ring_len()
    }

    /// Lanes allocated so far (one per thread that recorded, less those
    /// claimed from exited threads), overflow batches allocated so far, and
    /// lanes removed by readers.
    pub fn allocations(&self) -> (usize, usize, u64) {
        // Relaxed, all three: diagnostic counts, ordered with nothing.
        (
            self.lanes_made.load(Ordering::Relaxed),
            self.batches_made.load(Ordering::Relaxed),
            self.lanes_freed.load(Ordering::Relaxed),
        )
    }

    /// Records made from thread-local destructors after their thread's
    /// lanes were retired, passed to readers through a queue of single
    /// messages instead.
    pub fn late_records(&self) -> u64 {
        // Relaxed: a diagnostic count.
        self.late_records.load(Ordering::Relaxed)
    }

    /// Drains every ring into the aggregate now. Reads drain anyway; a
    /// program may call this from a thread of its own to keep rings from
    /// filling between rare reads (see `papers/ring.md` for when that
    /// pays). Waits for a concurrent reader, never for a writer.
    pub fn drain(&self) {
        let mut agg = self.locked();
        self.drain_all(&mut agg);
    }

    fn locked(&self) -> MutexGuard<'_, Agg> {
        lock(&self.agg)
    }

    /// Adopts new lanes, drains every lane and the late records, and
    /// removes the lanes of exited threads.
    fn drain_all(&self, agg: &mut Agg) {
        while let Some(lane) = self.incoming.pop() {
            agg.lanes.push(lane);
        }
        let Agg { part, lanes, .. } = agg;
        let mut i = 0;
        while i < lanes.len() {
            // Read before the drain (Acquire): a retired lane is then
            // drained of its last records.
            let retired = lanes[i].retired();
            // SAFETY: the aggregator's lock, held through `agg`, makes this
            // thread the only consumer of every lane it holds.
            unsafe { lanes[i].drain(part) };
            // Drained after its producer exited, and not claimed by a new
            // thread since (or `remove` fails): nothing more can arrive.
            if retired.is_some_and(|mark| lanes[i].remove(mark)) {
                // Freed here, or when a new thread pops it from `exited`
                // and fails to claim it.
                drop(lanes.swap_remove(i));
                // Relaxed: a diagnostic count.
                self.lanes_freed.fetch_add(1, Ordering::Relaxed);
            } else {
                i += 1;
            }
        }
        while let Some(msg) = self.late.pop() {
            part.fold(&msg);
        }
    }

    /// This thread's first record into this collector: the lane of an
    /// exited thread, claimed (already known to readers), or a new one,
    /// registered for readers.
    #[cold]
    fn new_lane(&self) -> Arc<RingLane> {
        while let Some(lane) = self.exited.pop() {
            if lane.claim() {
                return lane;
            }
            // A reader removed it after draining it: let it go.
        }
        // Relaxed: a diagnostic count.
        self.lanes_made.fetch_add(1, Ordering::Relaxed);
        let lane = Arc::new(Lane::new(self.capacity));
        self.incoming.push(Arc::clone(&lane));
        lane
    }

    fn new_batch(&self) -> Box<Part> {
        // Relaxed: a diagnostic count.
        self.batches_made.fetch_add(1, Ordering::Relaxed);
        Box::new(Part::new(&self.config, &self.spec))
    }

    /// Sends `msg` down this thread's lane.
    #[inline]
    fn send(&self, msg: Msg) {
        let (id, lane) = CACHE.get();
        if id == self.id {
            // SAFETY: `lane` is this thread's lane for this collector, held
            // by this thread's `HOME` (which clears the cache before it
            // releases it; ids are never reused), so it is alive and this
            // thread is its only producer.
            unsafe { self.push(&*lane, &msg) };
            return;
        }
        self.send_slow(msg);
    }

    #[cold]
    #[inline(never)]
    fn send_slow(&self, msg: Msg) {
        let sent = HOME.try_with(|home| {
            let mut lanes = home.lanes.borrow_mut();
            let lane = match lanes.iter().find(|(id, ..)| *id == self.id) {
                Some((_, lane, _)) => Arc::clone(lane),
                None => {
                    // Lanes of dropped collectors: only this thread holds
                    // them.
                    lanes.retain(|(_, lane, _)| Arc::strong_count(lane) > 1);
                    let lane = self.new_lane();
                    lanes.push((self.id, Arc::clone(&lane), Arc::clone(&self.exited)));
                    lane
                }
            };
            CACHE.set((self.id, Arc::as_ptr(&lane)));
            // SAFETY: the lane is in this thread's `HOME` only (new, or
            // claimed from `exited` with a CAS after its old producer
            // retired it, which no other thread's claim can also win): this
            // thread is its only producer.
            unsafe { self.push(&lane, &msg) };
        });
        if sent.is_err() {
            // This thread's `HOME` is gone (a record from a thread-local
            // destructor as the thread exits).
            self.late.push(msg);
            // Relaxed: a diagnostic count.
            self.late_records.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pushes into `lane`.
    ///
    /// # Safety
    ///
    /// This thread is `lane`'s only producer.
    #[inline]
    unsafe fn push(&self, lane: &RingLane, msg: &Msg) {
        // SAFETY: the caller's guarantee.
        unsafe { lane.push(msg, || self.new_batch()) };
    }

    fn snapshot_locked(&self, agg: &Agg, now: u64) -> (Snapshot, u64) {
        let (state, recent) = self.log.read(agg.mode_seq);
        let part = &agg.part;
        let mut batch = part.batch.snapshot();
        batch.current = part.batch_latest.map(|(_, v)| v);
        let mut queue_depth = part.queue.snapshot();
        queue_depth.current = part.queue_latest.map(|(_, v)| v);
        let snapshot = Snapshot {
            taken_at: Duration::from_nanos(now),
            since_reset: Duration::from_nanos(now.saturating_sub(agg.reset_at_ns)),
            latency: part.latency.snapshot(),
            throughput: part.throughput.snapshot(&self.spec, now),
            batch,
            queue_depth,
            mode: ModeSnapshot {
                current: state.current,
                transitions: state.seq - agg.mode_seq,
                recent,
            },
        };
        (snapshot, state.seq)
    }
}

impl<C: Clock> MetricsCollector for Ring<C> {
    #[inline]
    fn record_latency(&self, latency: Duration) {
        let (ns, clamped) = clamp_latency(latency, self.latency_highest);
        self.send(latency_msg(ns, clamped));
    }

    #[inline]
    fn record_latency_ns(&self, ns: u64) {
        let (ns, clamped) = clamp(ns, self.latency_highest);
        self.send(latency_msg(ns, clamped));
    }

    #[inline]
    fn record_throughput(&self, tokens: u64, requests: u64) {
        let at = self.clock.now_ns();
        self.send(Msg {
            kind: THROUGHPUT,
            at,
            a: tokens,
            b: requests,
        });
    }

    #[inline]
    fn record_batch_size(&self, size: usize) {
        let at = self.clock.now_ns();
        self.send(Msg {
            kind: BATCH,
            at,
            a: size as u64,
            b: 0,
        });
    }

    #[inline]
    fn record_queue_depth(&self, depth: usize) {
        let at = self.clock.now_ns();
        self.send(Msg {
            kind: QUEUE,
            at,
            a: depth as u64,
            b: 0,
        });
    }

    #[inline]
    fn record_request(&self, r: &RequestRecord) {
        let (ns, clamped) = clamp_latency(r.latency, self.latency_highest);
        // One clock reading for the slot and both gauges, as `Sharded`.
        let at = self.clock.now_ns();
        self.send(latency_msg(ns, clamped));
        self.send(Msg {
            kind: THROUGHPUT,
            at,
            a: r.tokens,
            b: r.requests,
        });
        self.send(Msg {
            kind: BATCH,
            at,
            a: r.batch_size as u64,
            b: 0,
        });
        self.send(Msg {
            kind: QUEUE,
            at,
            a: r.queue_depth as u64,
            b: 0,
        });
        self.record_mode_transition(r.mode);
    }

    #[inline]
    fn record_mode_transition(&self, mode: Mode) {
        self.log.record(mode, || self.clock.now_ns());
    }

    fn mode(&self) -> ModeSnapshot {
        let agg = self.locked();
        let (state, recent) = self.log.read(agg.mode_seq);
        ModeSnapshot {
            current: state.current,
            transitions: state.seq - agg.mode_seq,
            recent,
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut agg = self.locked();
        self.drain_all(&mut agg);
        let now = self.clock.now_ns();
        self.snapshot_locked(&agg, now).0
    }

    fn reset(&self) {
        self.take_interval();
    }

    fn take_interval(&self) -> Snapshot {
        let mut agg = self.locked();
        self.drain_all(&mut agg);
        // Read before anything changes: a panicking user clock leaves the
        // aggregate as it was (with the drained records, none lost).
        let now = self.clock.now_ns();
        let (mut snapshot, mode_seq) = self.snapshot_locked(&agg, now);
        // Broken on purpose, for the per-record interval test to catch: a
        // second drain "for freshness" between the interval's reading and
        // its reset puts the records it applies into the interval's windows
        // but not its totals, and the reset then drops them.
        if broken!("ring_interval_two_drains") {
            self.drain_all(&mut agg);
            snapshot.throughput.windows = agg.part.throughput.snapshot(&self.spec, now).windows;
        }
        agg.part.clear();
        agg.part.throughput.start_at(now);
        agg.reset_at_ns = now;
        agg.mode_seq = mode_seq;
        snapshot
    }

    fn config(&self) -> &Config {
        &self.config
    }
}

fn latency_msg(ns: u64, clamped: bool) -> Msg {
    Msg {
        kind: LATENCY | if clamped { CLAMPED } else { 0 },
        at: 0,
        a: ns,
        b: 0,
    }
}
