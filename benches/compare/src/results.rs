//! The data of a comparison, as `results.json` holds it: every run
//! (`Point`), the summaries per table, row and thread count (`Cell`), the
//! settings, the noise calibrations, the accounting failures and the
//! headline; the libraries' and operations' parts are theirs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    failure::Failure,
    machine::Machine,
    measure::{quantile, span, Calibration, Spread, NOISE_ITERS},
    strategies::{
        bench::{Accounting, Case, Measured},
        workloads::Contender,
    },
    units::{added, ns, ratio, si, threads},
};

/// One measured run: every figure the report is made of.
#[derive(Debug, Serialize)]
pub(crate) struct Point {
    /// The table it belongs to, e.g. `with-reader 10/s`.
    pub(crate) case: String,
    pub(crate) workload: &'static str,
    /// The reader's snapshots per second (`with-reader`, `stress`).
    pub(crate) reader_hz: Option<u32>,
    pub(crate) row: &'static str,
    /// Measured threads (a reader or refresher comes on top).
    pub(crate) threads: usize,
    /// 0-based; runs of all rows of a table interleave rep by rep.
    pub(crate) rep: usize,
    /// From the first measured thread's start to the last one's end.
    pub(crate) seconds: f64,
    /// Time the measured threads spent on a core, summed.
    pub(crate) cpu_seconds: Option<f64>,
    /// `cpu_seconds / (seconds x min(threads, cores))`: the share of the
    /// cores the run got; other processes' load shows here.
    pub(crate) cpu_share: Option<f64>,
    pub(crate) unit: &'static str,
    /// Records or requests, as `unit` says, over all measured threads.
    pub(crate) ops: u64,
    /// `ops / seconds`.
    pub(crate) rate: f64,
    /// Records each measured thread made, and the seconds it ran.
    pub(crate) per_thread_records: Vec<u64>,
    pub(crate) per_thread_seconds: Vec<f64>,
    /// Simulated-request workloads: `seconds x busy cores / requests`, in ns.
    pub(crate) wall_ns_per_request: Option<f64>,
    /// Simulated-request workloads: `cpu_seconds / requests`, in ns.
    pub(crate) cpu_ns_per_request: Option<f64>,
    /// Timed simulated requests: ns per request from the clock read after
    /// the work to the one after the recording step (the mean; it includes
    /// any preemption that falls inside a step).
    pub(crate) record_step_ns: Option<f64>,
    /// The median of those steps, all measured threads together (rare
    /// preemptions leave it alone).
    pub(crate) record_step_p50_ns: Option<f64>,
    /// A reader's snapshot latencies, in ns, in the order taken.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) snapshot_ns: Vec<u64>,
    pub(crate) accounting: Accounting,
}

impl Point {
    pub(crate) fn new(
        case: &Case,
        row: Contender,
        threads: usize,
        rep: usize,
        m: Measured,
        cores: usize,
    ) -> Self {
        let writers = &m.threads[..threads.min(m.threads.len())];
        let ops: u64 = if case.unit() == "records/s" {
            writers.iter().map(|t| t.out.total_records()).sum()
        } else {
            writers.iter().map(|t| t.out.requests).sum()
        };
        let seconds = span(writers);
        let cpu_seconds: Option<f64> = writers.iter().map(|t| t.cpu_seconds).sum();
        let busy = threads.min(cores) as f64;
        let per_request = |s: f64| case.serves().then(|| s / ops.max(1) as f64 * 1e9);
        Point {
            case: case.label(),
            workload: case.workload.name(),
            reader_hz: case.reader_hz,
            row: row.name(),
            threads,
            rep,
            seconds,
            cpu_seconds,
            cpu_share: cpu_seconds.map(|c| c / (seconds * busy)),
            unit: case.unit(),
            ops,
            rate: ops as f64 / seconds,
            per_thread_records: writers.iter().map(|t| t.out.total_records()).collect(),
            per_thread_seconds: writers.iter().map(|t| t.seconds).collect(),
            wall_ns_per_request: per_request(seconds * busy),
            cpu_ns_per_request: cpu_seconds.and_then(per_request),
            record_step_ns: (case.serves() && row != Contender::NoMetrics).then(|| {
                writers.iter().map(|t| t.out.record_ns).sum::<u64>() as f64 / ops.max(1) as f64
            }),
            record_step_p50_ns: writers
                .iter()
                .filter_map(|t| t.out.record_steps.clone())
                .reduce(|mut all, h| {
                    all.add(h).expect("same bounds");
                    all
                })
                .map(|h| h.value_at_quantile(0.5) as f64),
            snapshot_ns: m
                .threads
                .iter()
                .flat_map(|t| t.out.snapshot_ns.clone())
                .collect(),
            accounting: m.accounting,
        }
    }
}

/// Snapshot latencies of a reader, pooled over a cell's runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SnapshotStats {
    pub(crate) count: usize,
    /// Snapshots taken per second of run time.
    pub(crate) per_second: f64,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) max_ns: u64,
}

/// A cost per simulated request and what it adds over no metrics.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cost {
    /// Per run.
    pub(crate) per_request_ns: Spread,
    /// Per run, the cost minus that of the `no metrics` run of the same
    /// repetition.
    pub(crate) delta_ns: Option<Spread>,
    /// Median delta over the median `no metrics` cost, in percent.
    pub(crate) percent: Option<f64>,
}

/// Simulated requests: their cost in CPU time and in wall time.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct OverheadStats {
    /// The recording step as the clock saw it, per run, in ns per request.
    pub(crate) record_step_ns: Option<Spread>,
    /// Per run, that minus the `clock only` row's in the same repetition
    /// (the clock read itself), in ns per request: what the five records
    /// cost inside a request.
    pub(crate) records_ns: Option<Spread>,
    /// `records_ns` over the median CPU time of a `no metrics` request, in
    /// percent.
    pub(crate) records_percent: Option<f64>,
    /// Per run, the median step minus the `clock only` row's, in ns.
    pub(crate) records_p50_ns: Option<Spread>,
    /// CPU time per request: robust to other processes, blind to time
    /// spent blocked on a lock.
    pub(crate) cpu: Option<Cost>,
    /// Wall time x busy cores per request: counts blocking, and other
    /// processes' load too.
    pub(crate) wall: Option<Cost>,
}

/// One row of one table at one thread count, over its runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cell {
    pub(crate) case: String,
    pub(crate) workload: &'static str,
    /// The reader's snapshots per second (`with-reader`, `stress`).
    pub(crate) reader_hz: Option<u32>,
    pub(crate) row: &'static str,
    pub(crate) threads: usize,
    pub(crate) unit: &'static str,
    pub(crate) runs: usize,
    pub(crate) rate: Spread,
    /// The rate over FineGrained's in the same table, thread count and
    /// repetition, over the repetitions (none for FineGrained itself).
    pub(crate) vs_fine_grained: Option<Ratio>,
    /// The noise calibration before or after this table varied beyond the
    /// threshold (see [`Noise`]).
    pub(crate) noisy: bool,
    /// Per run, the slowest measured thread's records per second of its
    /// own running time.
    pub(crate) slowest_thread_records_per_s: Option<Spread>,
    pub(crate) cpu_share: Option<Spread>,
    pub(crate) snapshot: Option<SnapshotStats>,
    pub(crate) overhead: Option<OverheadStats>,
}

/// A ratio of two rows' rates, computed per repetition (the runs of one
/// repetition ran back to back), over the repetitions.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Ratio {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// The two rows' [min-max] rate ranges overlap: the runs do not
    /// separate them, whatever the median ratio says.
    pub(crate) overlap: bool,
}

/// The rate of `num` over that of `den` in the same repetition, over the
/// repetitions both have; `None` if they share none.
pub(crate) fn paired_ratio(num: &[&Point], den: &[&Point]) -> Option<Ratio> {
    let per_rep = Spread::of(num.iter().filter_map(|p| {
        let d = den.iter().find(|d| d.rep == p.rep)?;
        Some(p.rate / d.rate)
    }))?;
    let a = Spread::of(num.iter().map(|p| p.rate))?;
    let b = Spread::of(den.iter().map(|p| p.rate))?;
    Some(Ratio {
        median: per_rep.median,
        min: per_rep.min,
        max: per_rep.max,
        overlap: a.min <= b.max && b.min <= a.max,
    })
}

/// Summarises `points` cell by cell, in the order the runs were made.
pub(crate) fn summarize(points: &[Point]) -> Vec<Cell> {
    let mut order: Vec<(&str, usize, &'static str)> = Vec::new();
    let mut groups: BTreeMap<(&str, usize, &str), Vec<&Point>> = BTreeMap::new();
    for p in points {
        let key = (p.case.as_str(), p.threads, p.row);
        if !groups.contains_key(&key) {
            order.push(key);
        }
        groups.entry(key).or_default().push(p);
    }
    order
        .iter()
        .map(|&(case, threads, row)| {
            let ps = &groups[&(case, threads, row)];
            let first = ps[0];
            let rate = Spread::of(ps.iter().map(|p| p.rate)).expect("one run at least");
            let vs_fine_grained = groups
                .get(&(case, threads, Contender::REFERENCE.name()))
                .filter(|_| {
                    first.wall_ns_per_request.is_none() && row != Contender::REFERENCE.name()
                })
                .and_then(|fine| paired_ratio(ps, fine));
            let slowest = Spread::of(ps.iter().filter_map(|p| {
                p.per_thread_records
                    .iter()
                    .zip(&p.per_thread_seconds)
                    .map(|(&r, &s)| r as f64 / s)
                    .reduce(f64::min)
                    .filter(|_| p.per_thread_records.iter().any(|&r| r > 0))
            }));
            let mut snaps: Vec<u64> = ps.iter().flat_map(|p| p.snapshot_ns.clone()).collect();
            snaps.sort_unstable();
            let seconds: f64 = ps.iter().map(|p| p.seconds).sum();
            let snapshot = (!snaps.is_empty()).then(|| SnapshotStats {
                count: snaps.len(),
                per_second: snaps.len() as f64 / seconds,
                p50_ns: quantile(&snaps, 0.50),
                p99_ns: quantile(&snaps, 0.99),
                max_ns: *snaps.last().unwrap(),
            });
            let bare = groups.get(&(case, threads, Contender::NoMetrics.name()));
            let cost = |of: fn(&Point) -> Option<f64>| {
                let per_request_ns = Spread::of(ps.iter().filter_map(|p| of(p)))?;
                let bare = bare?;
                let delta_ns = Spread::of(ps.iter().filter_map(|p| {
                    let b = bare.iter().find(|b| b.rep == p.rep)?;
                    Some(of(p)? - of(b)?)
                }));
                let bare_cost = Spread::of(bare.iter().filter_map(|p| of(p)));
                let percent = delta_ns
                    .zip(bare_cost)
                    .map(|(d, b)| d.median / b.median * 100.0);
                Some(Cost {
                    per_request_ns,
                    delta_ns,
                    percent,
                })
            };
            let record_step_ns = Spread::of(ps.iter().filter_map(|p| p.record_step_ns));
            let clock = groups
                .get(&(case, threads, Contender::ClockOnly.name()))
                .filter(|_| row != Contender::ClockOnly.name());
            let paired = |of: fn(&Point) -> Option<f64>| {
                clock.and_then(|clock| {
                    Spread::of(ps.iter().filter_map(|p| {
                        let c = clock.iter().find(|c| c.rep == p.rep)?;
                        Some(of(p)? - of(c)?)
                    }))
                })
            };
            let records_ns = paired(|p| p.record_step_ns);
            let records_p50_ns = paired(|p| p.record_step_p50_ns);
            let bare_cpu =
                bare.and_then(|b| Spread::of(b.iter().filter_map(|p| p.cpu_ns_per_request)));
            let overhead = first.wall_ns_per_request.is_some().then(|| OverheadStats {
                record_step_ns,
                records_ns,
                records_percent: records_ns
                    .zip(bare_cpu)
                    .map(|(r, b)| r.median / b.median * 100.0),
                records_p50_ns,
                cpu: cost(|p| p.cpu_ns_per_request),
                wall: cost(|p| p.wall_ns_per_request),
            });
            Cell {
                case: case.to_string(),
                workload: first.workload,
                reader_hz: first.reader_hz,
                row,
                threads,
                unit: first.unit,
                runs: ps.len(),
                rate,
                vs_fine_grained,
                noisy: false,
                slowest_thread_records_per_s: slowest,
                cpu_share: Spread::of(ps.iter().filter_map(|p| p.cpu_share)),
                snapshot,
                overhead,
            }
        })
        .collect()
}

/// The settings a comparison ran with.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) duration_ms: f64,
    pub(crate) warmup_ms: f64,
    pub(crate) reps: usize,
    pub(crate) threads: Vec<usize>,
    pub(crate) rows: Vec<&'static str>,
    pub(crate) workloads: Vec<&'static str>,
    pub(crate) reader_hz: Vec<u32>,
    pub(crate) concurrent_threads: usize,
    pub(crate) stress_threads: usize,
    pub(crate) work_us: u64,
    /// Busy-work iterations per simulated request, calibrated at start.
    pub(crate) work_iters: u64,
    pub(crate) sequential_requests: u64,
}

/// The version of `results.json`'s layout; papers/results/README.md lists
/// its fields. 1: the first comparison's (no version field); 2: numbers as
/// numbers, `complete`, `noise`, per-repetition ratios; 3: the library's
/// `measured.failures` in the shape of `accounting_failures`.
pub(crate) const SCHEMA_VERSION: u32 = 4;

/// Everything `results.json` holds (its fields are listed in
/// papers/results/README.md).
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    /// What to use when, derived from this run: first, as the report opens
    /// with it (schema 4).
    pub(crate) verdict: crate::verdict::Verdict,
    /// [`SCHEMA_VERSION`].
    pub(crate) schema_version: u32,
    pub(crate) tool: &'static str,
    /// False when Ctrl-C ended the run early: what was measured is here,
    /// the rest of the plan is not.
    pub(crate) complete: bool,
    pub(crate) machine: Machine,
    /// The process's arguments, as given.
    pub(crate) argv: Vec<String>,
    /// The argv as one shell command line (what was run).
    pub(crate) command: String,
    /// The cargo command that reproduces the run from a checkout.
    pub(crate) cargo_command: String,
    pub(crate) started_unix_s: u64,
    pub(crate) wall_s: f64,
    pub(crate) settings: Settings,
    /// The noise calibrations and what they say about the run.
    pub(crate) noise: Noise,
    pub(crate) headline: Vec<String>,
    pub(crate) accounting_failures: Vec<Failure>,
    pub(crate) cells: Vec<Cell>,
    pub(crate) points: Vec<Point>,
    /// The library comparison (`one-series`, `many-series`, `lookup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) library: Option<crate::libraries::LibraryResults>,
    /// The library comparison's operations (`scrape`, `accuracy`,
    /// `memory`, `churn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operations: Option<crate::operations::Results>,
}

/// A ratio with its per-repetition range, "15.0x [12.1x-38.8x]", flagged
/// "overlap" when the two rows' ranges overlap.
pub(crate) fn ratio_range(r: &Ratio) -> String {
    let mut t = format!("{} [{}-{}]", ratio(r.median), ratio(r.min), ratio(r.max));
    if r.overlap {
        t.push_str(" overlap");
    }
    t
}

// ------------------------------------------------------------------ noise

/// The spread of the calibration loop's timings beyond which a run is
/// called noisy, in percent of the fastest.
pub(crate) const NOISE_THRESHOLD_PERCENT: f64 = 10.0;

/// A table whose calibration before or after varied beyond the threshold.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NoisyTable {
    /// The table's case label, or "library workloads" / "library
    /// operations" (each timed as one table).
    pub(crate) case: String,
    /// Its thread count; 0 for the library's two tables.
    pub(crate) threads: usize,
    /// Its slower calibration over the run's fastest, minus 1, in percent
    /// (the worse of one and two threads).
    pub(crate) varied_percent: f64,
}

/// What the calibration loop, timed between tables, says about the run.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Noise {
    /// [`NOISE_THRESHOLD_PERCENT`].
    pub(crate) threshold_percent: f64,
    /// The one-thread timings, in ns, over the run.
    pub(crate) one_thread_ns: Option<Spread>,
    /// The two-thread timings, in ns, over the run.
    pub(crate) two_threads_ns: Option<Spread>,
    /// max / min - 1 of the one-thread timings, in percent.
    pub(crate) one_thread_varied_percent: f64,
    /// max / min - 1 of the two-thread timings, in percent.
    pub(crate) two_threads_varied_percent: f64,
    /// Either varied beyond the threshold.
    pub(crate) noisy: bool,
    pub(crate) noisy_tables: Vec<NoisyTable>,
    /// Every timing, in the order taken.
    pub(crate) calibrations: Vec<Calibration>,
}

impl Noise {
    /// The noise of a run whose `tables` (case label, threads) were
    /// measured in this order, calibrated as `calibrations` say.
    pub(crate) fn of(calibrations: Vec<Calibration>, tables: &[(String, usize)]) -> Self {
        let one = Spread::of(calibrations.iter().map(|c| c.one_thread_ns));
        let two = Spread::of(calibrations.iter().map(|c| c.two_threads_ns));
        let varied = |s: Option<Spread>| s.map_or(0.0, |s| (s.max / s.min - 1.0) * 100.0);
        let over = |c: &Calibration| {
            let a = one.map_or(0.0, |s| c.one_thread_ns / s.min - 1.0);
            let b = two.map_or(0.0, |s| c.two_threads_ns / s.min - 1.0);
            a.max(b) * 100.0
        };
        let noisy_tables = tables
            .iter()
            .enumerate()
            .filter_map(|(i, (case, threads))| {
                let worst = calibrations
                    .iter()
                    .filter(|c| c.before_table == i || c.before_table == i + 1)
                    .map(over)
                    .fold(0.0, f64::max);
                (worst > NOISE_THRESHOLD_PERCENT).then(|| NoisyTable {
                    case: case.clone(),
                    threads: *threads,
                    varied_percent: worst,
                })
            })
            .collect();
        let (one_varied, two_varied) = (varied(one), varied(two));
        Noise {
            threshold_percent: NOISE_THRESHOLD_PERCENT,
            one_thread_ns: one,
            two_threads_ns: two,
            one_thread_varied_percent: one_varied,
            two_threads_varied_percent: two_varied,
            noisy: one_varied.max(two_varied) > NOISE_THRESHOLD_PERCENT,
            noisy_tables,
            calibrations,
        }
    }

    /// Whether the table of `case` at `threads` was noisy.
    pub(crate) fn table_is_noisy(&self, case: &str, threads: usize) -> bool {
        self.noisy_tables
            .iter()
            .any(|t| t.case == case && t.threads == threads)
    }

    /// One line: "noisy: calibration varied 38% [1.02ms-1.41ms] ..." or
    /// "quiet: ...".
    pub(crate) fn line(&self) -> String {
        let (Some(one), Some(two)) = (self.one_thread_ns, self.two_threads_ns) else {
            return "not calibrated (nothing was measured)".into();
        };
        let both = format!(
            "one thread {:.1}% [{}-{}], two threads {:.1}% [{}-{}]",
            self.one_thread_varied_percent,
            ns(one.min),
            ns(one.max),
            self.two_threads_varied_percent,
            ns(two.min),
            ns(two.max)
        );
        let how = format!(
            "A fixed loop of {} dependent steps, timed {} times: before and after each table.",
            si(NOISE_ITERS as f64),
            self.calibrations.len()
        );
        if self.noisy {
            format!(
                "noisy: calibration varied {:.0}% [{}] ({both}), over the {:.0}% threshold; \
                 {} table(s) marked (noisy). {how}",
                self.one_thread_varied_percent
                    .max(self.two_threads_varied_percent),
                if self.two_threads_varied_percent >= self.one_thread_varied_percent {
                    format!("{}-{}", ns(two.min), ns(two.max))
                } else {
                    format!("{}-{}", ns(one.min), ns(one.max))
                },
                self.threshold_percent,
                self.noisy_tables.len()
            )
        } else {
            format!(
                "quiet: calibration varied {both}, within the {:.0}% threshold. {how}",
                self.threshold_percent
            )
        }
    }
}

/// Marks every cell of a noisy table.
pub(crate) fn mark_noisy(cells: &mut [Cell], noise: &Noise) {
    for c in cells {
        c.noisy = noise.table_is_noisy(&c.case, c.threads);
    }
}

/// The figures the issue asks a closing note to quote: every ratio as
/// median [min-max] over per-repetition ratios, marked "overlap" when the
/// rows' ranges overlap and "(noisy)" when the table was.
pub(crate) fn headline(points: &[Point], cells: &[Cell]) -> Vec<String> {
    let find = |case: &str, row: Contender, threads: usize| {
        cells
            .iter()
            .find(|c| c.case == case && c.row == row.name() && c.threads == threads)
    };
    let runs = |case: &str, row: Contender, threads: usize| -> Vec<&Point> {
        points
            .iter()
            .filter(|p| p.case == case && p.row == row.name() && p.threads == threads)
            .collect()
    };
    let mark = |c: &Cell| if c.noisy { " (noisy)" } else { "" };
    let mut lines = Vec::new();
    for case in ["same-metric", "different-metrics", "request-cycle"] {
        if let Some(c) = find(case, Contender::Sharded, 2) {
            if let Some(x) = &c.vs_fine_grained {
                lines.push(format!(
                    "Sharded / FineGrained throughput at 2 threads, {case}: {}{}",
                    ratio_range(x),
                    mark(c)
                ));
            }
        }
    }
    let mut sync: Vec<String> = Vec::new();
    for c in cells
        .iter()
        .filter(|c| c.case == "same-metric" && c.row == Contender::Sharded.name())
    {
        let x = paired_ratio(
            &runs("same-metric", Contender::Sharded, c.threads),
            &runs("same-metric", Contender::SyncHistogram, c.threads),
        );
        if let Some(x) = x {
            sync.push(format!(
                "{} at {}{}",
                ratio_range(&x),
                threads(c.threads),
                mark(c)
            ));
        }
    }
    if !sync.is_empty() {
        lines.push(format!(
            "Sharded / SyncHistogram throughput, same-metric: {}",
            sync.join(", ")
        ));
    }
    let sequential: Vec<String> = cells
        .iter()
        .filter(|c| c.case == "sequential")
        .filter_map(|c| {
            let o = c.overhead.as_ref()?;
            Some(format!(
                "{} {}{}",
                c.row,
                added(&o.records_ns?, o.records_percent),
                mark(c)
            ))
        })
        .collect();
    if !sequential.is_empty() {
        lines.push(format!(
            "seed's sequential 50 requests: it reported +16.2 ms per request (+0.4%); \
             the five records here cost {}",
            sequential.join(", ")
        ));
    }
    for c in cells.iter().filter(|c| {
        matches!(c.case.as_str(), "overhead" | "sequential" | "concurrent")
            && Contender::STRATEGIES.iter().any(|r| r.name() == c.row)
    }) {
        let Some(o) = &c.overhead else { continue };
        let end_to_end = o
            .cpu
            .as_ref()
            .and_then(|k| Some(added(&k.delta_ns?, k.percent)))
            .unwrap_or_else(|| "n/a".into());
        let direct = o.records_ns.map_or("n/a".to_string(), |r| {
            format!(
                "{}, p50 {}",
                added(&r, o.records_percent),
                o.records_p50_ns.map_or("n/a".into(), |q| added(&q, None))
            )
        });
        lines.push(format!(
            "{}, {}, {}: records {direct} per request; end to end {end_to_end} CPU{}",
            c.case,
            c.row,
            threads(c.threads),
            mark(c)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(row: Contender, rep: usize, rate: f64) -> Point {
        Point {
            case: "same-metric".into(),
            workload: "same-metric",
            reader_hz: None,
            row: row.name(),
            threads: 2,
            rep,
            seconds: 1.0,
            cpu_seconds: None,
            cpu_share: None,
            unit: "records/s",
            ops: rate as u64,
            rate,
            per_thread_records: vec![rate as u64],
            per_thread_seconds: vec![1.0],
            wall_ns_per_request: None,
            cpu_ns_per_request: None,
            record_step_ns: None,
            record_step_p50_ns: None,
            snapshot_ns: Vec::new(),
            accounting: Accounting::default(),
        }
    }

    #[test]
    fn ratios_are_paired_per_repetition_and_flag_overlap() {
        // Repetition 1 ran on a slow machine for both rows: its ratio is
        // still 2, though the medians of the rates give 100/37.5.
        let a = [
            point(Contender::Sharded, 0, 100.0),
            point(Contender::Sharded, 1, 20.0),
        ];
        let b = [
            point(Contender::FineGrained, 0, 50.0),
            point(Contender::FineGrained, 1, 10.0),
        ];
        let r = paired_ratio(&a.iter().collect::<Vec<_>>(), &b.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!((r.median, r.min, r.max), (2.0, 2.0, 2.0));
        assert!(r.overlap, "[20, 100] and [10, 50] overlap");
        assert!(ratio_range(&r).ends_with("overlap"));
        let fast = [
            point(Contender::Sharded, 0, 100.0),
            point(Contender::Sharded, 1, 90.0),
        ];
        let r = paired_ratio(
            &fast.iter().collect::<Vec<_>>(),
            &b.iter().collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!((r.min, r.max), (2.0, 9.0));
        assert!(!r.overlap, "[90, 100] and [10, 50] are apart");
        assert_eq!(ratio_range(&r), "5.50x [2.00x-9.00x]");
        let slow = [
            point(Contender::GlobalLock, 0, 2.0),
            point(Contender::GlobalLock, 1, 1.0),
        ];
        let r = paired_ratio(
            &slow.iter().collect::<Vec<_>>(),
            &b.iter().collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!r.overlap, "[1, 2] and [10, 50] are apart");
        // No shared repetition: no ratio.
        let other = [point(Contender::FineGrained, 7, 50.0)];
        assert!(paired_ratio(
            &a.iter().collect::<Vec<_>>(),
            &other.iter().collect::<Vec<_>>()
        )
        .is_none());
    }
}
