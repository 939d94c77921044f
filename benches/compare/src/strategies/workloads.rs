//! The rows (strategies, peers, baselines), the workloads, and what one
//! measured thread does in each.

use std::{
    hint::black_box,
    sync::atomic::Ordering,
    thread,
    time::{Duration, Instant},
};

use clap::ValueEnum;
use hdrhistogram::Histogram;
use lockfree_metrics::{Clock, DefaultClock, MetricsCollector, Mode, RequestRecord};

use crate::measure::{paced, spin, Ctl, Gate, Lcg, NAP};

/// Records between two looks at the stop flag.
const BATCH: u64 = 64;
/// Request cycles between two looks at the stop flag.
const CYCLE_BATCH: u64 = 16;

/// A contender of the strategy tables, one line of every table: a
/// strategy, a peer, or a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Contender {
    /// One mutex over all state (the report's baseline).
    #[value(name = "GlobalLock")]
    GlobalLock,
    /// One mutex per metric kind (the report's fix): the reference every
    /// ratio is taken against.
    #[value(name = "FineGrained")]
    FineGrained,
    /// Shared atomics (the seed's v1.5.0 "atomic counters").
    #[value(name = "Atomic")]
    Atomic,
    /// Per-thread shards merged by readers (v1.5.0 "thread-local aggregation").
    #[value(name = "Sharded")]
    Sharded,
    /// Sharded on CoarseClock (one relaxed load per clock read, 1 ms
    /// resolution): what the clock costs its clocked records.
    #[value(name = "Sharded+coarse")]
    ShardedCoarse,
    /// Per-thread rings of record messages drained by readers (v1.5.0
    /// "ring buffers and message passing").
    #[value(name = "Ring")]
    Ring,
    /// Peer: hdrhistogram's SyncHistogram, one Recorder per thread, and a
    /// thread refreshing it every 50 ms (latency only).
    #[value(name = "SyncHistogram")]
    SyncHistogram,
    /// Peer: a plain Mutex<hdrhistogram::Histogram> (latency only).
    #[value(name = "MutexHistogram")]
    MutexHistogram,
    /// Peer: an unshared hdrhistogram::Histogram per thread that nobody
    /// reads (latency only): recording with no sharing and no reader, not a
    /// bound (shared designs can beat it).
    #[value(name = "LocalHistogram")]
    LocalHistogram,
    /// Baseline: the simulated requests without metrics.
    #[value(skip)]
    NoMetrics,
    /// Baseline: the simulated requests timed with the default clock, with
    /// nothing recorded.
    #[value(skip)]
    ClockOnly,
}

impl Contender {
    pub(crate) const STRATEGIES: [Contender; 6] = [
        Contender::GlobalLock,
        Contender::FineGrained,
        Contender::Atomic,
        Contender::Sharded,
        Contender::ShardedCoarse,
        Contender::Ring,
    ];
    pub(crate) const PEERS: [Contender; 3] = [
        Contender::SyncHistogram,
        Contender::MutexHistogram,
        Contender::LocalHistogram,
    ];
    pub(crate) const BASELINES: [Contender; 2] = [Contender::NoMetrics, Contender::ClockOnly];
    /// Every ratio is to this row, measured in the same run.
    pub(crate) const REFERENCE: Contender = Contender::FineGrained;

    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::GlobalLock => "GlobalLock",
            Contender::FineGrained => "FineGrained",
            Contender::Atomic => "Atomic",
            Contender::Sharded => "Sharded",
            Contender::ShardedCoarse => "Sharded+coarse",
            Contender::Ring => "Ring",
            Contender::SyncHistogram => "SyncHistogram",
            Contender::MutexHistogram => "MutexHistogram",
            Contender::LocalHistogram => "LocalHistogram",
            Contender::NoMetrics => "no metrics",
            Contender::ClockOnly => "clock only",
        }
    }

    /// The label of the row named `name` (as in results.json), or the name.
    pub(crate) fn label_of(name: &str) -> String {
        Contender::STRATEGIES
            .iter()
            .chain(&Contender::PEERS)
            .chain(&Contender::BASELINES)
            .find(|r| r.name() == name)
            .map_or(name.to_string(), |r| r.label())
    }

    /// The name with what a reader needs to know about it.
    pub(crate) fn label(self) -> String {
        match self {
            Contender::FineGrained => "FineGrained (ref)".into(),
            Contender::SyncHistogram | Contender::MutexHistogram => {
                format!("{} (peer)", self.name())
            }
            Contender::LocalHistogram => "LocalHistogram (unshared, unread)".into(),
            _ => self.name().into(),
        }
    }
}

/// The workloads, as `--workloads` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Every thread records latencies as fast as it can (the seed's "threads
    /// recording the same metric"). Strategies and peers.
    SameMetric,
    /// Thread t records only metric kind t mod 5 (latency, throughput, batch
    /// size, queue depth, mode) as fast as it can (the seed's "different
    /// metrics", for which it claimed 5x concurrency).
    DifferentMetrics,
    /// Every thread runs request cycles as fast as it can: one latency,
    /// throughput, batch size, queue depth and mode record per request, as
    /// the serving scheduler does; the mode flips every 10 ms.
    RequestCycle,
    /// request-cycle's requests, each recorded by one `record_request` call
    /// (one shard lookup and one clock reading in Sharded, one lock in
    /// GlobalLock, the five calls in the others).
    RequestRecord,
    /// request-cycle while one more thread snapshots at each --reader-hz
    /// rate (default 10 and 1,000 a second): writer throughput and snapshot
    /// latency p50/p99.
    WithReader,
    /// Simulated requests of fixed busy work (--work-us, default 100 µs),
    /// timed with the default clock and recorded, against the same requests
    /// with no metrics: ns and percent per request, directly (clock reads
    /// around the five records) and end to end (CPU and wall time). The
    /// seed measured +0.81 s over 50 requests, about 0.4%.
    Overhead,
    /// Seed test plan 1: 50 sequential requests of busy work on one thread,
    /// with and without metrics (repeated 10x --reps times).
    Sequential,
    /// Seed test plan 2: --concurrent-threads (default 10) threads serving
    /// requests of busy work at once, with and without metrics.
    Concurrent,
    /// Seed test plan 3: --concurrent-threads threads recording request
    /// cycles as fast as they can; the rate each thread reaches, against the
    /// seed's 1,000 metrics per second per thread.
    HighFrequency,
    /// Seed test plan 4: --stress-threads (default 128) threads recording
    /// request cycles while a reader snapshots 100 times a second.
    Stress,
}

impl Workload {
    pub(crate) const ALL: [Workload; 10] = [
        Workload::SameMetric,
        Workload::DifferentMetrics,
        Workload::RequestCycle,
        Workload::RequestRecord,
        Workload::WithReader,
        Workload::Overhead,
        Workload::Sequential,
        Workload::Concurrent,
        Workload::HighFrequency,
        Workload::Stress,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::SameMetric => "same-metric",
            Workload::DifferentMetrics => "different-metrics",
            Workload::RequestCycle => "request-cycle",
            Workload::RequestRecord => "request-record",
            Workload::WithReader => "with-reader",
            Workload::Overhead => "overhead",
            Workload::Sequential => "sequential",
            Workload::Concurrent => "concurrent",
            Workload::HighFrequency => "high-frequency",
            Workload::Stress => "stress",
        }
    }
}

/// What one measured thread counted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// Records made, per metric kind (see [`KINDS`]).
    pub(crate) records: [u64; 5],
    /// Request cycles completed (every kind once each).
    pub(crate) requests: u64,
    /// Tokens passed to `record_throughput`.
    pub(crate) tokens: u64,
    /// What a peer's own histogram counted, for its accounting.
    pub(crate) counted: u64,
    /// A reader's snapshot latencies, in nanoseconds.
    pub(crate) snapshot_ns: Vec<u64>,
    /// Simulated requests: time spent in the recording step, by the clock.
    pub(crate) record_ns: u64,
    /// Simulated requests: each recording step's ns.
    pub(crate) record_steps: Option<Histogram<u64>>,
}

/// The metric kinds, in the order of [`Tally::records`].
pub(crate) const KINDS: [&str; 5] = ["latency", "throughput", "batch size", "queue depth", "mode"];
pub(crate) const LATENCY: usize = 0;
pub(crate) const MODE: usize = 4;

impl Tally {
    fn requests(requests: u64, tokens: u64) -> Self {
        Tally {
            records: [requests; 5],
            requests,
            tokens,
            ..Tally::default()
        }
    }

    pub(crate) fn total_records(&self) -> u64 {
        self.records.iter().sum()
    }
}

/// Records latencies through `record` until the run stops.
#[inline(always)]
pub(crate) fn latency_loop(t: usize, ctl: &Ctl, mut record: impl FnMut(u64)) -> Tally {
    let mut v = Lcg::new(t);
    let mut n = 0;
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        for _ in 0..BATCH {
            record(v.latency_ns());
        }
        n += BATCH;
    }
    let mut tally = Tally::default();
    tally.records[LATENCY] = n;
    tally
}

/// `same-metric`: latencies into `m`.
pub(crate) fn same_metric<M: MetricsCollector>(m: &M, t: usize, ctl: &Ctl) -> Tally {
    latency_loop(t, ctl, |ns| m.record_latency(Duration::from_nanos(ns)))
}

/// `different-metrics`: thread `t` records kind `t % 5` only. Mode records
/// alternate between two modes of the thread's own, offset by `mode_base`,
/// so that every mode record is a change and transitions can be counted
/// exactly.
pub(crate) fn different_metrics<M: MetricsCollector>(
    m: &M,
    t: usize,
    ctl: &Ctl,
    mode_base: usize,
) -> Tally {
    let kind = t % KINDS.len();
    let mut v = Lcg::new(t);
    let mut tally = Tally::default();
    let mut n = 0;
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        match kind {
            0 => (0..BATCH).for_each(|_| m.record_latency(Duration::from_nanos(v.latency_ns()))),
            1 => (0..BATCH).for_each(|_| {
                let tokens = 1 + v.next() % 256;
                tally.tokens += tokens;
                m.record_throughput(tokens, 1);
            }),
            2 => (0..BATCH).for_each(|_| m.record_batch_size(1 + (v.next() % 32) as usize)),
            3 => (0..BATCH).for_each(|_| m.record_queue_depth((v.next() % 256) as usize)),
            _ => (0..BATCH).for_each(|i| {
                let mode = mode_base + 2 * t + (i & 1) as usize;
                m.record_mode_transition(Mode(mode as u16));
            }),
        }
        n += BATCH;
    }
    tally.records[kind] = n;
    tally
}

/// The modes run `run` of `different-metrics` uses start here: two
/// alternating ranges, so no thread's first mode can equal the mode the
/// previous run left current.
pub(crate) fn mode_base(run: u64, threads: usize) -> usize {
    if run.is_multiple_of(2) {
        0
    } else {
        2 * threads
    }
}

/// One request cycle: every metric once, as the serving scheduler records
/// a finished request.
#[inline(always)]
fn request<M: MetricsCollector>(m: &M, latency_ns: u64, v: &mut Lcg, ctl: &Ctl) -> u64 {
    let tokens = 1 + v.next() % 256;
    m.record_latency(Duration::from_nanos(latency_ns));
    m.record_throughput(tokens, 1);
    m.record_batch_size(1 + (v.next() % 32) as usize);
    m.record_queue_depth((v.next() % 256) as usize);
    // Relaxed: the value only picks which mode to record; nothing is published through it.
    m.record_mode_transition(Mode(ctl.mode.load(Ordering::Relaxed)));
    tokens
}

/// `request-record`: request-cycle's requests, one `record_request` each.
pub(crate) fn request_record<M: MetricsCollector>(m: &M, t: usize, ctl: &Ctl) -> Tally {
    let mut v = Lcg::new(t);
    let (mut n, mut tokens) = (0, 0);
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        for _ in 0..CYCLE_BATCH {
            let latency = Duration::from_nanos(v.latency_ns());
            let r = RequestRecord {
                latency,
                tokens: 1 + v.next() % 256,
                requests: 1,
                batch_size: 1 + (v.next() % 32) as usize,
                queue_depth: (v.next() % 256) as usize,
                // Relaxed: the value only picks which mode to record; nothing is published through it.
                mode: Mode(ctl.mode.load(Ordering::Relaxed)),
            };
            tokens += r.tokens;
            m.record_request(&r);
        }
        n += CYCLE_BATCH;
    }
    Tally::requests(n, tokens)
}

/// `request-cycle`: request cycles as fast as the thread can.
pub(crate) fn request_cycle<M: MetricsCollector>(m: &M, t: usize, ctl: &Ctl) -> Tally {
    let mut v = Lcg::new(t);
    let (mut n, mut tokens) = (0, 0);
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        for _ in 0..CYCLE_BATCH {
            let latency = v.latency_ns();
            tokens += request(m, latency, &mut v, ctl);
        }
        n += CYCLE_BATCH;
    }
    Tally::requests(n, tokens)
}

/// `with-reader`'s reader: a snapshot every `1 / hz` seconds (back to back
/// when one takes longer than that), each timed.
pub(crate) fn reader<M: MetricsCollector>(m: &M, hz: u32, ctl: &Ctl) -> Tally {
    let snapshot_ns = paced(hz, ctl, || {
        black_box(m.snapshot());
    })
    .into_iter()
    .map(|(ns, ())| ns)
    .collect();
    Tally {
        snapshot_ns,
        ..Tally::default()
    }
}

/// Sleeps `d` in short naps, returning early once the run stops.
pub(crate) fn nap_while_running(ctl: &Ctl, d: Duration) {
    let until = Instant::now() + d;
    let mut gate = Gate::new(ctl, 1);
    while gate.open() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(NAP));
    }
}

/// What a simulated request does besides its busy work.
pub(crate) enum Serve<'a, M> {
    /// Nothing: the baseline.
    Bare,
    /// Times itself and its (empty) recording step; records nothing.
    Timed(&'a DefaultClock),
    /// Times itself, records every metric into `M`, and times that step.
    Recorded(&'a DefaultClock, &'a M),
}

// Derived Clone/Copy would ask M: Copy; only references are copied.
impl<M> Clone for Serve<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Serve<'_, M> {}

/// `overhead`, `sequential`, `concurrent`: requests of `work` busy-work
/// iterations until the run stops or `limit` requests are done. A timed
/// request reads the clock at its start, at the end of its work (its
/// latency) and after its recording step, whose time it adds up.
pub(crate) fn served<M: MetricsCollector>(
    serve: Serve<'_, M>,
    work: u64,
    t: usize,
    ctl: &Ctl,
    limit: u64,
) -> Tally {
    let mut v = Lcg::new(t);
    let (mut n, mut tokens, mut record_ns) = (0, 0, 0);
    // 1 ns to 10 s at 2 digits: a few KiB, allocated before the run.
    let mut steps = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 2).expect("valid bounds");
    let mut gate = Gate::new(ctl, 1);
    while n < limit && gate.open() {
        match serve {
            Serve::Bare => {
                black_box(spin(work));
            }
            Serve::Timed(clock) => {
                let start = clock.now_ns();
                black_box(spin(work));
                let done = clock.now_ns();
                black_box(done.saturating_sub(start));
                let step = clock.now_ns().saturating_sub(done);
                record_ns += step;
                steps.saturating_record(step);
            }
            Serve::Recorded(clock, m) => {
                let start = clock.now_ns();
                black_box(spin(work));
                let done = clock.now_ns();
                tokens += request(m, done.saturating_sub(start), &mut v, ctl);
                let step = clock.now_ns().saturating_sub(done);
                record_ns += step;
                steps.saturating_record(step);
            }
        }
        n += 1;
    }
    let mut tally = match serve {
        Serve::Recorded(..) => Tally::requests(n, tokens),
        _ => Tally {
            requests: n,
            ..Tally::default()
        },
    };
    tally.record_ns = record_ns;
    tally.record_steps = (!steps.is_empty()).then_some(steps);
    tally
}
