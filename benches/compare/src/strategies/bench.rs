//! One row of one workload at one thread count, ready to run again and
//! again, and the exact-accounting check after every run.

use std::{sync::Mutex, time::Duration};

use hdrhistogram::{sync::Recorder, Histogram};
use lockfree_metrics::{
    Atomic, CoarseClock, Config, DefaultClock, FineGrained, GlobalLock, MetricsCollector, Ring,
    Sharded, Snapshot,
};
use serde::Serialize;

use crate::{
    measure::{time_this, timed, Ctl, Timed},
    strategies::workloads::{
        different_metrics, latency_loop, mode_base, nap_while_running, reader, request_cycle,
        request_record, same_metric, served, Contender, Serve, Tally, Workload, LATENCY, MODE,
    },
};

/// How often the `SyncHistogram` peer's reader refreshes it, and how long
/// one refresh may wait for idle recorders.
pub(crate) const REFRESH: Duration = Duration::from_millis(50);
/// The rate at which `stress`'s reader snapshots.
pub(crate) const STRESS_READER_HZ: u32 = 100;

/// A workload with its parameters: one table of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Case {
    pub(crate) workload: Workload,
    /// The reader's snapshots per second (`with-reader`, `stress`).
    pub(crate) reader_hz: Option<u32>,
}

impl Case {
    pub(crate) fn label(&self) -> String {
        match (self.workload, self.reader_hz) {
            (Workload::WithReader, Some(hz)) => format!("with-reader {hz}/s"),
            (w, _) => w.name().to_string(),
        }
    }

    /// Records, or request cycles of five records each.
    pub(crate) fn unit(&self) -> &'static str {
        match self.workload {
            Workload::SameMetric | Workload::DifferentMetrics => "records/s",
            _ => "requests/s",
        }
    }

    /// Requests of simulated busy work (measured against no metrics).
    pub(crate) fn serves(&self) -> bool {
        matches!(
            self.workload,
            Workload::Overhead | Workload::Sequential | Workload::Concurrent
        )
    }

    /// The rows this case measures, out of the `selected` ones.
    pub(crate) fn rows(&self, selected: &[Contender]) -> Vec<Contender> {
        let pick = |rows: &[Contender]| {
            rows.iter()
                .copied()
                .filter(|r| selected.contains(r))
                .collect::<Vec<_>>()
        };
        let mut rows = Vec::new();
        if self.serves() {
            rows.extend(Contender::BASELINES);
        }
        rows.extend(pick(&Contender::STRATEGIES));
        if self.workload == Workload::SameMetric {
            rows.extend(pick(&Contender::PEERS));
        }
        rows
    }
}

/// What a run's thread counts and busy work are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Env {
    /// Busy-work iterations per simulated request.
    pub(crate) work_iters: u64,
    /// Requests per `sequential` run.
    pub(crate) sequential_requests: u64,
}

/// Did the collector count every record made, exactly once?
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Accounting {
    /// Records made that the check covers.
    pub(crate) made: u64,
    /// What the collector counted for them.
    pub(crate) counted: u64,
    /// Each count that differs, spelled out; empty when all match.
    pub(crate) mismatches: Vec<String>,
}

/// One run's outcome.
#[derive(Debug)]
pub(crate) struct Measured {
    /// The measured threads first, then any helper (reader, refresher).
    pub(crate) threads: Vec<Timed<Tally>>,
    pub(crate) accounting: Accounting,
}

impl Measured {
    fn new(threads: Vec<Timed<Tally>>, accounting: impl FnOnce(&[Tally]) -> Accounting) -> Self {
        let tallies: Vec<Tally> = threads.iter().map(|t| t.out.clone()).collect();
        Measured {
            accounting: accounting(&tallies),
            threads,
        }
    }
}

/// A row prepared for one case and thread count.
pub(crate) trait Bench {
    /// Runs for `duration` (or the case's fixed request count) and checks
    /// the accounting.
    fn run(&mut self, duration: Duration) -> Measured;
}

/// Prepares `row` for `case` at `threads` threads.
pub(crate) fn prepare(row: Contender, case: Case, threads: usize, env: Env) -> Box<dyn Bench> {
    let config = Config::default;
    match row {
        Contender::GlobalLock => {
            StrategyBench::boxed(GlobalLock::new(config()), case, threads, env)
        }
        Contender::FineGrained => {
            StrategyBench::boxed(FineGrained::new(config()), case, threads, env)
        }
        Contender::Atomic => StrategyBench::boxed(Atomic::new(config()), case, threads, env),
        Contender::Sharded => StrategyBench::boxed(Sharded::new(config()), case, threads, env),
        Contender::Ring => StrategyBench::boxed(Ring::new(config()), case, threads, env),
        Contender::ShardedCoarse => StrategyBench::boxed(
            Sharded::with_clock(config(), CoarseClock::new()),
            case,
            threads,
            env,
        ),
        Contender::SyncHistogram | Contender::MutexHistogram | Contender::LocalHistogram => {
            assert_eq!(
                case.workload,
                Workload::SameMetric,
                "peers record latency only"
            );
            Box::new(PeerBench { peer: row, threads })
        }
        Contender::NoMetrics | Contender::ClockOnly => {
            assert!(case.serves(), "baselines serve simulated requests");
            Box::new(BaselineBench {
                timed: row == Contender::ClockOnly,
                clock: DefaultClock::new(),
                case,
                threads,
                env,
            })
        }
    }
}

/// A strategy, reset before each run and kept across runs, so that the
/// warm-up leaves its memory touched.
struct StrategyBench<M> {
    m: M,
    clock: DefaultClock,
    case: Case,
    threads: usize,
    env: Env,
    runs: u64,
}

impl<M: MetricsCollector + 'static> StrategyBench<M> {
    fn boxed(m: M, case: Case, threads: usize, env: Env) -> Box<dyn Bench> {
        Box::new(StrategyBench {
            m,
            clock: DefaultClock::new(),
            case,
            threads,
            env,
            runs: 0,
        })
    }
}

impl<M: MetricsCollector> Bench for StrategyBench<M> {
    fn run(&mut self, duration: Duration) -> Measured {
        let StrategyBench {
            m,
            clock,
            case,
            threads,
            env,
            runs,
        } = self;
        let (m, threads, work) = (&*m, *threads, env.work_iters);
        m.reset();
        *runs += 1;
        let recorded = Serve::Recorded(&*clock, m);
        let out = match case.workload {
            Workload::SameMetric => timed(threads, 0, duration, |t, ctl| same_metric(m, t, ctl)),
            Workload::DifferentMetrics => {
                let base = mode_base(*runs, threads);
                timed(threads, 0, duration, |t, ctl| {
                    different_metrics(m, t, ctl, base)
                })
            }
            Workload::RequestCycle | Workload::HighFrequency => {
                timed(threads, 0, duration, |t, ctl| request_cycle(m, t, ctl))
            }
            Workload::RequestRecord => {
                timed(threads, 0, duration, |t, ctl| request_record(m, t, ctl))
            }
            Workload::WithReader | Workload::Stress => {
                let hz = case.reader_hz.expect("a reader rate");
                timed(threads, 1, duration, |t, ctl| {
                    if t < threads {
                        request_cycle(m, t, ctl)
                    } else {
                        reader(m, hz, ctl)
                    }
                })
            }
            Workload::Overhead | Workload::Concurrent => timed(threads, 0, duration, |t, ctl| {
                served(recorded, work, t, ctl, u64::MAX)
            }),
            Workload::Sequential => {
                on_this_thread(|ctl| served(recorded, work, 0, ctl, env.sequential_requests))
            }
        };
        let exact_mode = case.workload == Workload::DifferentMetrics;
        Measured::new(out, |tallies| check(&m.snapshot(), tallies, exact_mode))
    }
}

/// Runs `body` on the calling thread, timed, with no deadline.
fn on_this_thread(body: impl FnOnce(&Ctl) -> Tally) -> Vec<Timed<Tally>> {
    let ctl = Ctl::default();
    vec![time_this(|| body(&ctl))]
}

/// Compares a snapshot taken after every recording thread has joined with
/// what the threads recorded. Mode transitions count changes, so they must
/// equal the mode records only where every mode record is a change
/// (`exact_mode`); elsewhere they cannot exceed them (and may be 0: a reset
/// keeps the current mode).
pub(crate) fn check(s: &Snapshot, tallies: &[Tally], exact_mode: bool) -> Accounting {
    let made = |kind: usize| tallies.iter().map(|t| t.records[kind]).sum::<u64>();
    let tokens = tallies.iter().map(|t| t.tokens).sum::<u64>();
    let mut a = Accounting::default();
    let mut expect = |what: &str, made: u64, counted: u64| {
        a.made += made;
        a.counted += counted;
        if made != counted {
            a.mismatches
                .push(format!("{what}: {made} recorded, {counted} counted"));
        }
    };
    expect("latency.count", made(LATENCY), s.latency.count);
    expect(
        "throughput.total_requests",
        made(1),
        s.throughput.total_requests,
    );
    expect("batch.count", made(2), s.batch.count);
    expect("queue_depth.count", made(3), s.queue_depth.count);
    let modes = made(MODE);
    if exact_mode {
        expect("mode.transitions", modes, s.mode.transitions);
    } else if s.mode.transitions > modes {
        a.mismatches.push(format!(
            "mode.transitions: {} for {modes} mode records",
            s.mode.transitions
        ));
    }
    if tokens != s.throughput.total_tokens {
        a.mismatches.push(format!(
            "throughput.total_tokens: {tokens} recorded, {} counted",
            s.throughput.total_tokens
        ));
    }
    a
}

/// The simulated requests with no metrics, or timed only.
struct BaselineBench {
    timed: bool,
    clock: DefaultClock,
    case: Case,
    threads: usize,
    env: Env,
}

/// The type parameter a baseline's [`Serve`] never uses.
type Unused = GlobalLock;

impl Bench for BaselineBench {
    fn run(&mut self, duration: Duration) -> Measured {
        let serve: Serve<'_, Unused> = if self.timed {
            Serve::Timed(&self.clock)
        } else {
            Serve::Bare
        };
        let (work, limit) = (self.env.work_iters, self.env.sequential_requests);
        let out = if self.case.workload == Workload::Sequential {
            on_this_thread(|ctl| served(serve, work, 0, ctl, limit))
        } else {
            timed(self.threads, 0, duration, |t, ctl| {
                served(serve, work, t, ctl, u64::MAX)
            })
        };
        Measured::new(out, |_| Accounting::default())
    }
}

/// A peer from `hdrhistogram`, built afresh for each run.
struct PeerBench {
    peer: Contender,
    threads: usize,
}

/// A histogram with the bounds and precision of the default `Config`, so
/// that peers and strategies record into the same layout.
fn histogram() -> Histogram<u64> {
    let c = Config::default();
    let ns = |d: Duration| d.as_nanos() as u64;
    Histogram::new_with_bounds(
        ns(c.latency_lowest()),
        ns(c.latency_highest()),
        c.significant_digits(),
    )
    .expect("the default configuration's bounds are valid")
}

impl Bench for PeerBench {
    fn run(&mut self, duration: Duration) -> Measured {
        let threads = self.threads;
        let (out, counted) = match self.peer {
            Contender::MutexHistogram => {
                let h = Mutex::new(histogram());
                let out = timed(threads, 0, duration, |t, ctl| {
                    latency_loop(t, ctl, |ns| {
                        h.lock().unwrap().record(ns).expect("in range");
                    })
                });
                let counted = h.into_inner().unwrap().len();
                (out, counted)
            }
            Contender::LocalHistogram => {
                let out = timed(threads, 0, duration, |t, ctl| {
                    let mut h = histogram();
                    let mut tally = latency_loop(t, ctl, |ns| h.record(ns).expect("in range"));
                    tally.counted = h.len();
                    tally
                });
                let counted = out.iter().map(|t| t.out.counted).sum();
                (out, counted)
            }
            Contender::SyncHistogram => {
                let sync = histogram().into_sync();
                let recorders: Vec<Mutex<Option<Recorder<u64>>>> = (0..threads)
                    .map(|_| Mutex::new(Some(sync.recorder())))
                    .collect();
                let shared = Mutex::new(sync);
                let out = timed(threads, 1, duration, |t, ctl| {
                    if t < threads {
                        let mut r = recorders[t].lock().unwrap().take().expect("one each");
                        let tally = latency_loop(t, ctl, |ns| r.record(ns).expect("in range"));
                        drop(r); // hands its last samples over
                        tally
                    } else {
                        // The concurrent reader: refreshes every REFRESH,
                        // waiting at most REFRESH for recorders, so a
                        // descheduled one cannot freeze it.
                        let mut sync = shared.lock().unwrap();
                        while ctl.running() {
                            nap_while_running(ctl, REFRESH);
                            sync.refresh_timeout(REFRESH);
                        }
                        Tally::default()
                    }
                });
                let mut sync = shared.into_inner().unwrap();
                sync.refresh(); // every recorder is gone: collects what is left
                let counted = sync.len();
                (out, counted)
            }
            _ => unreachable!("not a peer"),
        };
        Measured::new(out, |tallies| {
            let made = tallies.iter().map(|t| t.records[LATENCY]).sum::<u64>();
            let mut accounting = Accounting {
                made,
                counted,
                mismatches: Vec::new(),
            };
            if made != counted {
                accounting
                    .mismatches
                    .push(format!("histogram.len: {made} recorded, {counted} counted"));
            }
            accounting
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_catches_a_lost_record() {
        let m = Sharded::new(Config::default());
        let mut tally = Tally::default();
        m.record_latency(Duration::from_micros(5));
        tally.records[LATENCY] = 1;
        assert!(check(&m.snapshot(), &[tally.clone()], true)
            .mismatches
            .is_empty());
        tally.records[LATENCY] = 2;
        let a = check(&m.snapshot(), &[tally], true);
        assert_eq!(a.mismatches.len(), 1, "{:?}", a.mismatches);
        assert!(a.mismatches[0].starts_with("latency.count"));
    }

    #[test]
    fn every_row_counts_exactly_in_a_short_run() {
        let env = Env {
            work_iters: 10,
            sequential_requests: 5,
        };
        for workload in Workload::ALL {
            let case = Case {
                workload,
                reader_hz: Some(1_000),
            };
            let all: Vec<Contender> = Contender::STRATEGIES
                .into_iter()
                .chain(Contender::PEERS)
                .collect();
            for row in case.rows(&all) {
                let mut bench = prepare(row, case, 3, env);
                for _ in 0..2 {
                    let out = bench.run(Duration::from_millis(5));
                    assert!(
                        out.accounting.mismatches.is_empty(),
                        "{} {}: {:?}",
                        case.label(),
                        row.name(),
                        out.accounting.mismatches
                    );
                }
            }
        }
    }
}
