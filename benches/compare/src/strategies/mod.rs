//! The strategy comparison: this crate's strategies (and the hdrhistogram
//! peers that record latency only) under the same workloads, table by
//! table.
//!
//! | module | what |
//! |---|---|
//! | `workloads` | the rows, the workloads, and what one measured thread does in each |
//! | `bench` | one row of one workload at one thread count, run again and again, and its accounting check |
//! | `tables` | the strategy tables, as `Section`s |
//! | `charts` | the SVG plots of the strategy tables |

pub(crate) mod bench;
pub(crate) mod charts;
pub(crate) mod tables;
pub(crate) mod workloads;

use std::time::Duration;

use self::{
    bench::{prepare, Case, Env, STRESS_READER_HZ},
    workloads::{Contender, Workload},
};
use crate::{
    failure::Failure,
    part::{Ctx, Part},
    progress::{interrupted, ms},
    results::{Point, Settings},
    units,
};

/// What the strategy tables are asked to measure (the flags).
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    /// The short runs of `--quick`.
    pub(crate) quick: bool,
    /// Each measured run's length.
    pub(crate) duration: Duration,
    /// Each row's warm-up run's length.
    pub(crate) warmup: Duration,
    /// Measured runs per row and thread count.
    pub(crate) reps: usize,
    /// Thread counts of the scaling workloads.
    pub(crate) threads: Vec<usize>,
    /// The rows selected.
    pub(crate) rows: Vec<Contender>,
    /// The workloads selected.
    pub(crate) workloads: Vec<Workload>,
    /// With-reader's snapshot rates, one table each.
    pub(crate) reader_hz: Vec<u32>,
    /// Threads of the concurrent and high-frequency workloads.
    pub(crate) concurrent_threads: usize,
    /// Threads of the stress workload.
    pub(crate) stress_threads: usize,
    /// Busy work per simulated request, in µs.
    pub(crate) work_us: u64,
}

/// One table of the plan: a case at one thread count, its rows and
/// repetitions.
type Table = (Case, usize, Vec<Contender>, usize);

/// The strategy tables: planned from [`Asked`], run table by table.
#[derive(Debug)]
pub(crate) struct Strategies {
    asked: Asked,
    /// The simulated requests' busy work, calibrated at start.
    env: Env,
    /// Every case, in the order its tables run.
    pub(crate) cases: Vec<Case>,
    plan: Vec<Table>,
    cores: usize,
    /// Every measured run.
    pub(crate) points: Vec<Point>,
    /// The tables run to their end.
    tables_run: usize,
    /// Runs made, warm-ups included (for `--fake-mismatch-every`).
    runs: usize,
}

impl Strategies {
    /// The plan: each case with its thread counts, rows and repetitions;
    /// calibrates the simulated requests' busy work when a workload has
    /// them.
    pub(crate) fn plan(asked: Asked, cores: usize) -> Self {
        let work_iters = if asked.workloads.iter().any(|w| {
            matches!(
                w,
                Workload::Overhead | Workload::Sequential | Workload::Concurrent
            )
        }) {
            crate::measure::calibrate(Duration::from_micros(asked.work_us))
        } else {
            0
        };
        let env = Env {
            work_iters,
            sequential_requests: 50,
        };
        let mut cases = Vec::new();
        for &workload in &asked.workloads {
            match workload {
                Workload::WithReader => cases.extend(asked.reader_hz.iter().map(|&hz| Case {
                    workload,
                    reader_hz: Some(hz),
                })),
                Workload::Stress => cases.push(Case {
                    workload,
                    reader_hz: Some(STRESS_READER_HZ),
                }),
                _ => cases.push(Case {
                    workload,
                    reader_hz: None,
                }),
            }
        }
        let plan: Vec<Table> = cases
            .iter()
            .flat_map(|&case| {
                let (counts, case_reps) = match case.workload {
                    Workload::Sequential => (vec![1], asked.reps * 10),
                    Workload::Concurrent | Workload::HighFrequency => {
                        (vec![asked.concurrent_threads], asked.reps)
                    }
                    Workload::Stress => (vec![asked.stress_threads], asked.reps),
                    _ => (asked.threads.clone(), asked.reps),
                };
                let case_rows = case.rows(&asked.rows);
                counts
                    .into_iter()
                    .map(move |t| (case, t, case_rows.clone(), case_reps))
            })
            .filter(|(_, _, r, _)| !r.is_empty())
            .collect();
        Strategies {
            asked,
            env,
            cases,
            plan,
            cores,
            points: Vec::new(),
            tables_run: 0,
            runs: 0,
        }
    }

    /// The tables planned.
    pub(crate) fn tables(&self) -> usize {
        self.plan.len()
    }

    /// Whether every planned table ran to its end.
    pub(crate) fn complete(&self) -> bool {
        self.tables_run == self.plan.len()
    }

    /// How it ran, for results.json.
    pub(crate) fn settings(&self) -> Settings {
        let a = &self.asked;
        Settings {
            quick: a.quick,
            duration_ms: a.duration.as_secs_f64() * 1e3,
            warmup_ms: a.warmup.as_secs_f64() * 1e3,
            reps: a.reps,
            threads: a.threads.clone(),
            rows: a.rows.iter().map(|r| r.name()).collect(),
            workloads: a.workloads.iter().map(|w| w.name()).collect(),
            reader_hz: a.reader_hz.clone(),
            concurrent_threads: a.concurrent_threads,
            stress_threads: a.stress_threads,
            work_us: a.work_us,
            work_iters: self.env.work_iters,
            sequential_requests: self.env.sequential_requests,
        }
    }

    /// One run's planned milliseconds: its length plus the fixed costs
    /// estimated here (thread starts and joins, the accounting check), so
    /// the ETA counts time, not runs.
    fn run_ms(&self, case: &Case, threads: usize, run: Duration) -> u64 {
        let fixed = 1 + threads as u64 / 25;
        if case.workload == Workload::Sequential {
            fixed + (self.env.sequential_requests * self.asked.work_us).div_ceil(1_000)
        } else {
            fixed + ms(run)
        }
    }
}

impl Part for Strategies {
    fn planned_ms(&self, calibration_ms: u64) -> u64 {
        let (warmup, duration) = (self.asked.warmup, self.asked.duration);
        self.plan
            .iter()
            .map(|(case, t, case_rows, case_reps)| {
                let per_row = self.run_ms(case, *t, warmup)
                    + *case_reps as u64 * self.run_ms(case, *t, duration);
                case_rows.len() as u64 * per_row + calibration_ms
            })
            .sum()
    }

    /// Each table's rows one after the other, repetition by repetition,
    /// after one warm-up run each; every run's accounting checked.
    fn run(&mut self, ctx: &mut Ctx) {
        for (case, t, case_rows, case_reps) in self.plan.clone() {
            if interrupted() {
                return;
            }
            ctx.table(case.label(), t);
            let mut benches: Vec<_> = case_rows
                .iter()
                .map(|&row| (row, prepare(row, case, t, self.env)))
                .collect();
            for rep in 0..=case_reps {
                for (row, bench) in &mut benches {
                    if interrupted() {
                        ctx.table_done();
                        return;
                    }
                    ctx.progress.message(format!(
                        "{} / {} / {}",
                        case.label(),
                        row.name(),
                        units::threads(t)
                    ));
                    let run_time = if rep == 0 {
                        self.asked.warmup
                    } else {
                        self.asked.duration
                    };
                    let mut measured = bench.run(run_time);
                    self.runs += 1;
                    if ctx.fake_mismatch_every > 0
                        && self.runs.is_multiple_of(ctx.fake_mismatch_every)
                    {
                        measured
                            .accounting
                            .mismatches
                            .push("fake mismatch (--fake-mismatch-every)".into());
                    }
                    if !measured.accounting.mismatches.is_empty() {
                        ctx.fail(Failure {
                            case: case.label(),
                            row: row.name(),
                            threads: t,
                            run: if rep == 0 {
                                "warm-up".into()
                            } else {
                                format!("run {rep}")
                            },
                            mismatches: measured.accounting.mismatches.clone(),
                        });
                    }
                    if rep > 0 {
                        self.points
                            .push(Point::new(&case, *row, t, rep - 1, measured, self.cores));
                    }
                    ctx.progress.advance(self.run_ms(&case, t, run_time));
                }
            }
            self.tables_run += 1;
            ctx.table_done();
        }
    }
}
