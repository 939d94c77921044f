//! From data points to summaries, the text tables and results.json.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::{
    machine::{LoadAverage, Machine},
    measure::{quantile, span, Calibration, Spread, NOISE_ITERS},
    section::Section,
    strategies::{
        bench::{Accounting, Case, Measured},
        workloads::{Row, Workload},
    },
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
        row: Row,
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
            record_step_ns: (case.serves() && row != Row::NoMetrics).then(|| {
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
                .get(&(case, threads, Row::REFERENCE.name()))
                .filter(|_| first.wall_ns_per_request.is_none() && row != Row::REFERENCE.name())
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
            let bare = groups.get(&(case, threads, Row::NoMetrics.name()));
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
                .get(&(case, threads, Row::ClockOnly.name()))
                .filter(|_| row != Row::ClockOnly.name());
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

/// A run that counted wrong.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Failure {
    pub(crate) case: String,
    pub(crate) row: &'static str,
    pub(crate) threads: usize,
    /// `warm-up` or `run N`.
    pub(crate) run: String,
    pub(crate) mismatches: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, {}, {}: {}",
            self.case,
            self.row,
            threads(self.threads),
            self.run,
            self.mismatches.join("; ")
        )
    }
}

/// The version of `results.json`'s layout; papers/results/README.md lists
/// its fields. 1: the first comparison's (no version field); 2: numbers as
/// numbers, `complete`, `noise`, per-repetition ratios.
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// Everything `results.json` holds (its fields are listed in
/// papers/results/README.md).
#[derive(Debug, Serialize)]
pub(crate) struct Results {
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

// ---------------------------------------------------------------- formats

/// Three significant digits with an SI suffix: 658M, 17.7M, 3.21k.
pub(crate) fn si(x: f64) -> String {
    let (div, suffix) = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|&(d, _)| x.abs() >= d)
        .unwrap_or((1.0, ""));
    format!("{}{suffix}", sig3(x / div))
}

fn sig3(x: f64) -> String {
    match x.abs() {
        a if a >= 99.95 => format!("{x:.0}"),
        a if a >= 9.995 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    }
}

/// A duration in ns, in the unit that reads best: 850ns, 12.3µs, 4.56ms.
pub(crate) fn ns(x: f64) -> String {
    let (div, unit) = [(1e9, "s"), (1e6, "ms"), (1e3, "µs")]
        .into_iter()
        .find(|&(d, _)| x.abs() >= d)
        .unwrap_or((1.0, "ns"));
    if div == 1.0 {
        format!("{x:.0}ns")
    } else {
        format!("{}{unit}", sig3(x / div))
    }
}

fn signed_ns(x: f64) -> String {
    if x >= 0.0 {
        format!("+{}", ns(x))
    } else {
        format!("-{}", ns(-x))
    }
}

/// A ratio: 37.2x, 0.97x.
pub(crate) fn ratio(x: f64) -> String {
    match x {
        x if x >= 99.5 => format!("{x:.0}x"),
        x if x >= 9.95 => format!("{x:.1}x"),
        _ => format!("{x:.2}x"),
    }
}

/// "1 thread", "2 threads".
pub(crate) fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

/// A spread as "median [min-max]", each formatted by `f`.
pub(crate) fn ranged(s: &Spread, f: impl Fn(f64) -> String) -> String {
    format!("{} [{}-{}]", f(s.median), f(s.min), f(s.max))
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

/// A cost added over a baseline, per run: "+74.2µs +72.4% [+70.1µs, +80.0µs]",
/// or "within noise [-12ns, +30ns]" when the range spans zero (a signed
/// median would then be noise printed as overhead).
pub(crate) fn added(d: &Spread, percent: Option<f64>) -> String {
    let range = format!("[{}, {}]", signed_ns(d.min), signed_ns(d.max));
    if d.min <= 0.0 && d.max >= 0.0 {
        format!("within noise {range}")
    } else {
        match percent {
            Some(p) => format!("{} {p:+.3}% {range}", signed_ns(d.median)),
            None => format!("{} {range}", signed_ns(d.median)),
        }
    }
}

/// The column headings of a table by thread count, a noisy column marked.
fn threads_header(counts: &[usize], noisy: impl Fn(usize) -> bool) -> Vec<String> {
    std::iter::once(String::new())
        .chain(counts.iter().map(|&t| {
            if noisy(t) {
                format!("{} (noisy)", threads(t))
            } else {
                threads(t)
            }
        }))
        .collect()
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

// ----------------------------------------------------------------- tables

/// What each table says under its title.
fn note(case: &Case, s: &Settings) -> String {
    match case.workload {
        Workload::SameMetric => "every thread records latencies; records/s over all threads. \
             Peers record latency only, so they appear in this workload only; \
             LocalHistogram is an unshared per-thread histogram nobody reads (no sharing, \
             no reader): not a bound, a shared design can beat it."
            .into(),
        Workload::DifferentMetrics => "thread t records only metric kind t mod 5 \
             (latency, throughput, batch size, queue depth, mode); records/s over all threads. \
             At 1 thread this is latency only."
            .into(),
        Workload::RequestCycle => "every thread records request cycles (5 records each) \
             as fast as it can; requests/s over all threads; the mode flips every 10 ms."
            .into(),
        Workload::RequestRecord => "request-cycle's requests, each recorded by one \
             record_request call (Sharded: one shard lookup and one clock reading; \
             GlobalLock: one lock; the others: the five calls); requests/s over all threads."
            .into(),
        Workload::WithReader => format!(
            "request-cycle writers while one more thread snapshots {}/s; \
             writer requests/s over all writers.",
            case.reader_hz.unwrap_or(0)
        ),
        Workload::Overhead | Workload::Concurrent | Workload::Sequential => format!(
            "simulated requests of {} µs busy work ({} iterations), each timed with the \
             default clock and recorded (5 records); 'clock only' times them and records nothing. \
             End-to-end figures are paired per run with 'no metrics': median [min, max]. \
             The seed reported +0.81 s over 50 requests: +16.2 ms per request, +0.4% \
             (Python, one global RLock, requests of about 4 s).",
            s.work_us, s.work_iters
        ),
        Workload::HighFrequency => "request cycles as fast as each thread can; \
             the seed's high-frequency scenario asks for at least 1,000 metrics/s per thread."
            .into(),
        Workload::Stress => format!(
            "request-cycle writers while a reader snapshots {}/s.",
            case.reader_hz.unwrap_or(0)
        ),
    }
}

/// The header lines table.txt and report.html open with: (label, text).
pub(crate) fn header(r: &Results) -> Vec<(&'static str, String)> {
    let s = &r.settings;
    let m = &r.machine;
    let load = |l: Option<LoadAverage>| l.map_or("unknown".to_string(), |l| l.to_string());
    let mut lines = Vec::new();
    if !r.complete {
        lines.push((
            "status",
            "INCOMPLETE: interrupted by Ctrl-C; what was measured before is below, the rest of \
             the plan is missing"
                .to_string(),
        ));
    }
    lines.extend([
        ("machine", m.one_line()),
        (
            "load",
            format!(
                "{} at start, {} at end (1/5/15-min load averages: other work on the machine \
                 shows here)",
                load(m.load_at_start),
                load(m.load_at_end)
            ),
        ),
        ("command", r.command.clone()),
        ("reproduce", r.cargo_command.clone()),
        ("commit", m.git_commit.clone()),
        (
            "settings",
            format!(
                "{} ms per run after a {} ms warm-up, {} runs per row interleaved row by row; \
                 threads {:?}; wall time {:.1} s",
                s.duration_ms, s.warmup_ms, s.reps, s.threads, r.wall_s
            ),
        ),
        (
            "reading",
            "median [min-max] over the runs; 'x': the rate over FineGrained's in the same table \
             and repetition, median [min-max] over the repetitions; 'overlap': the two rows' \
             [min-max] ranges overlap, so the runs do not separate them"
                .to_string(),
        ),
        ("noise", r.noise.line()),
    ]);
    lines
}

/// The loud banner of a noisy run.
pub(crate) fn noise_banner(noise: &Noise) -> String {
    let mut out = String::new();
    if !noise.noisy {
        return out;
    }
    let bar = "!".repeat(78);
    let _ = writeln!(out, "{bar}");
    let _ = writeln!(out, "!!! NOISY RUN, {}", noise.line());
    for t in &noise.noisy_tables {
        // Thread count 0: a table that is no single thread count (the
        // library's workloads, timed as one).
        let table = if t.threads == 0 {
            t.case.clone()
        } else {
            format!("{}, {}", t.case, threads(t.threads))
        };
        let _ = writeln!(
            out,
            "!!!   {table}: calibration {:.0}% over the fastest",
            t.varied_percent
        );
    }
    let _ = writeln!(
        out,
        "!!! figures from these tables may not reproduce; the headline marks them (noisy)"
    );
    let _ = writeln!(out, "{bar}");
    out
}

/// The strategy tables of every case, as the sections table.txt and
/// report.html show; `plots` says whether the plots were drawn.
pub(crate) fn sections(r: &Results, cases: &[Case], plots: bool) -> Vec<Section> {
    let s = &r.settings;
    let mut out = Vec::new();
    let mut snapshot_plot = plots;
    let mut overhead_plot = plots;
    for case in cases {
        let label = case.label();
        let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.case == label).collect();
        if cells.is_empty() {
            continue;
        }
        let mut counts: Vec<usize> = cells.iter().map(|c| c.threads).collect();
        counts.sort_unstable();
        counts.dedup();
        let mut rows: Vec<&'static str> = Vec::new();
        for c in &cells {
            if !rows.contains(&c.row) {
                rows.push(c.row);
            }
        }
        let noisy = |t: usize| r.noise.table_is_noisy(&label, t);
        let header = threads_header(&counts, noisy);
        let mut notes = vec![note(case, s)];
        if counts.iter().any(|&t| noisy(t)) {
            notes.push(
                "NOISY: the calibration around the columns marked (noisy) varied beyond the \
                 threshold; their figures may not reproduce"
                    .into(),
            );
        }
        let cell = |row: &str, t: usize| cells.iter().find(|c| c.row == row && c.threads == t);
        let table = |f: &dyn Fn(&Cell) -> String| -> Vec<Vec<String>> {
            rows.iter()
                .map(|&row| {
                    std::iter::once(Row::label_of(row))
                        .chain(
                            counts
                                .iter()
                                .map(|&t| cell(row, t).map_or(String::new(), |c| f(c))),
                        )
                        .collect()
                })
                .collect()
        };
        let section = |title: String, notes: Vec<String>, rows, plots: Vec<String>| Section {
            title,
            notes,
            header: header.clone(),
            rows,
            plots,
        };
        let throughput = |c: &Cell| {
            let mut t = ranged(&c.rate, si);
            if let Some(x) = &c.vs_fine_grained {
                let _ = write!(t, " {}", ratio_range(x));
            }
            t
        };
        let snapshot = |c: &Cell| {
            c.snapshot.as_ref().map_or(String::new(), |s| {
                format!(
                    "p50 {} p99 {} (n={}, {:.0}/s)",
                    ns(s.p50_ns as f64),
                    ns(s.p99_ns as f64),
                    s.count,
                    s.per_second
                )
            })
        };
        let throughput_plot = if plots {
            vec![crate::strategies::charts::throughput_file(&label)]
        } else {
            Vec::new()
        };
        match case.workload {
            Workload::SameMetric
            | Workload::DifferentMetrics
            | Workload::RequestCycle
            | Workload::RequestRecord => {
                out.push(section(
                    format!("{label}: {}", cells[0].unit),
                    notes,
                    table(&throughput),
                    throughput_plot,
                ));
            }
            Workload::WithReader | Workload::Stress => {
                let with_reader = case.workload == Workload::WithReader;
                out.push(section(
                    format!("{label}: writer {}", cells[0].unit),
                    notes,
                    table(&throughput),
                    if with_reader {
                        throughput_plot
                    } else {
                        Vec::new()
                    },
                ));
                let plot = with_reader && std::mem::take(&mut snapshot_plot);
                out.push(section(
                    format!("{label}: snapshot latency"),
                    vec!["pooled over the runs; with few snapshots p99 is the max".into()],
                    table(&snapshot),
                    if plot {
                        vec![crate::strategies::charts::SNAPSHOT_FILE.into()]
                    } else {
                        Vec::new()
                    },
                ));
            }
            Workload::Overhead | Workload::Sequential | Workload::Concurrent => {
                let served = |cost: Option<&Cost>, row: &str| {
                    let Some(c) = cost else {
                        return String::new();
                    };
                    match &c.delta_ns {
                        Some(d) if row != Row::NoMetrics.name() => added(d, c.percent),
                        _ => format!("{}/request", ranged(&c.per_request_ns, ns)),
                    }
                };
                let direct = |c: &Cell| {
                    let Some(o) = &c.overhead else {
                        return String::new();
                    };
                    match (o.records_ns, o.record_step_ns) {
                        (Some(rec), _) => format!(
                            "{} p50 {}",
                            added(&rec, o.records_percent),
                            o.records_p50_ns.map_or("n/a".into(), |q| added(&q, None))
                        ),
                        (None, Some(step)) => format!("clock reads {}", ranged(&step, ns)),
                        _ => String::new(),
                    }
                };
                let plot = std::mem::take(&mut overhead_plot);
                let mut first = notes;
                first.push(
                    "the five records inside a request: clock reads around the recording step, \
                     minus the same reads around nothing ('clock only'), paired per run. Mean \
                     per request, as % of a bare request's CPU time, [min, max] over runs; p50: \
                     the median request's (the mean also catches preemptions that land in the \
                     step: > 1 thread per core). A range spanning zero is 'within noise'."
                        .into(),
                );
                out.push(section(
                    format!("{label}: the records inside a request"),
                    first,
                    table(&direct),
                    if plot {
                        vec![crate::strategies::charts::OVERHEAD_FILE.into()]
                    } else {
                        Vec::new()
                    },
                ));
                let cpu =
                    |c: &Cell| served(c.overhead.as_ref().and_then(|o| o.cpu.as_ref()), c.row);
                out.push(section(
                    format!("{label}: end to end, CPU time per request"),
                    vec![
                        "the measured threads' time on a core, over 'no metrics' in the same \
                          repetition: robust to other processes, blind to time blocked on a lock"
                            .into(),
                    ],
                    table(&cpu),
                    Vec::new(),
                ));
                let wall =
                    |c: &Cell| served(c.overhead.as_ref().and_then(|o| o.wall.as_ref()), c.row);
                out.push(section(
                    format!("{label}: end to end, wall time per request"),
                    vec![
                        "run time x busy cores / requests, over 'no metrics' in the same \
                          repetition: counts blocking, and other processes' load"
                            .into(),
                    ],
                    table(&wall),
                    Vec::new(),
                ));
            }
            Workload::HighFrequency => {
                let body: Vec<Vec<String>> = cells
                    .iter()
                    .map(|c| {
                        let records = Spread {
                            median: c.rate.median * 5.0,
                            min: c.rate.min * 5.0,
                            max: c.rate.max * 5.0,
                        };
                        let slow = c.slowest_thread_records_per_s;
                        vec![
                            Row::label_of(c.row),
                            if c.noisy {
                                format!("{} (noisy)", c.threads)
                            } else {
                                c.threads.to_string()
                            },
                            ranged(&records, si),
                            slow.map_or(String::new(), |s| ranged(&s, si)),
                            match slow {
                                Some(s) if s.min >= 1_000.0 => "yes, every run".into(),
                                Some(_) => "NO".into(),
                                None => String::new(),
                            },
                        ]
                    })
                    .collect();
                out.push(Section {
                    title: format!("{label}: records/s"),
                    notes,
                    header: [
                        "",
                        "threads",
                        "records/s, all threads",
                        "slowest thread, records/s",
                        ">= 1,000/s per thread",
                    ]
                    .map(String::from)
                    .to_vec(),
                    rows: body,
                    plots: Vec::new(),
                });
            }
        }
    }
    out
}

/// What the accounting check found, in one paragraph.
pub(crate) fn accounting_line(r: &Results) -> String {
    let runs = r.points.len();
    let records: u64 = r.points.iter().map(|p| p.accounting.made).sum();
    if r.accounting_failures.is_empty() {
        format!(
            "every run (warm-ups included) counted exactly the records made: {runs} measured \
             runs, {records} records checked against the snapshot taken after them"
        )
    } else {
        format!(
            "ACCOUNTING MISMATCH in {} run(s): a strategy lost or double-counted records",
            r.accounting_failures.len()
        )
    }
}

/// The whole text report: header, every section (the strategy tables and
/// any other part's), the recommendation, headline, accounting.
pub(crate) fn render(r: &Results, sections: &[Section], recommendation: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "lockfree-metrics: strategy comparison");
    for (label, text) in header(r) {
        let _ = writeln!(out, "{label:<9} {text}");
    }
    out.push_str(&noise_banner(&r.noise));
    for s in sections {
        out.push_str(&s.text());
    }
    if !recommendation.is_empty() {
        let _ = writeln!(out, "\n== recommendation");
        for line in recommendation {
            let _ = writeln!(out, "  - {line}");
        }
    }
    let _ = writeln!(out, "\n== headline");
    for line in &r.headline {
        let _ = writeln!(out, "  {line}");
    }
    if r.headline.is_empty() {
        let _ = writeln!(
            out,
            "  (none: the headline needs Sharded with FineGrained or SyncHistogram, or the overhead workloads)"
        );
    }
    let _ = writeln!(out, "\n== accounting");
    if r.accounting_failures.is_empty() {
        let _ = writeln!(out, "  {}", accounting_line(r));
    } else {
        out.push_str(&failure_banner(&r.accounting_failures, usize::MAX));
    }
    if !r.complete {
        let _ = writeln!(
            out,
            "\n!!! INCOMPLETE RUN: interrupted by Ctrl-C; the tables hold what was measured"
        );
    }
    out
}

/// The loud report of accounting mismatches, listing at most `limit`.
pub(crate) fn failure_banner(failures: &[Failure], limit: usize) -> String {
    let mut out = String::new();
    let bar = "!".repeat(78);
    let _ = writeln!(out, "{bar}");
    let _ = writeln!(
        out,
        "!!! ACCOUNTING MISMATCH in {} run(s): a strategy lost or double-counted records",
        failures.len()
    );
    for f in failures.iter().take(limit) {
        let _ = writeln!(out, "!!!   {f}");
    }
    if failures.len() > limit {
        let _ = writeln!(out, "!!!   ... and {} more", failures.len() - limit);
    }
    let _ = writeln!(out, "{bar}");
    out
}

/// The figures the issue asks a closing note to quote: every ratio as
/// median [min-max] over per-repetition ratios, marked "overlap" when the
/// rows' ranges overlap and "(noisy)" when the table was.
pub(crate) fn headline(points: &[Point], cells: &[Cell]) -> Vec<String> {
    let find = |case: &str, row: Row, threads: usize| {
        cells
            .iter()
            .find(|c| c.case == case && c.row == row.name() && c.threads == threads)
    };
    let runs = |case: &str, row: Row, threads: usize| -> Vec<&Point> {
        points
            .iter()
            .filter(|p| p.case == case && p.row == row.name() && p.threads == threads)
            .collect()
    };
    let mark = |c: &Cell| if c.noisy { " (noisy)" } else { "" };
    let mut lines = Vec::new();
    for case in ["same-metric", "different-metrics", "request-cycle"] {
        if let Some(c) = find(case, Row::Sharded, 2) {
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
        .filter(|c| c.case == "same-metric" && c.row == Row::Sharded.name())
    {
        let x = paired_ratio(
            &runs("same-metric", Row::Sharded, c.threads),
            &runs("same-metric", Row::SyncHistogram, c.threads),
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
            && Row::STRATEGIES.iter().any(|r| r.name() == c.row)
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

    #[test]
    fn formats() {
        assert_eq!(si(658_200_000.0), "658M");
        assert_eq!(si(17_700_000.0), "17.7M");
        assert_eq!(si(3_210.0), "3.21k");
        assert_eq!(si(12.0), "12.0");
        assert_eq!(ns(850.0), "850ns");
        assert_eq!(ns(12_345.0), "12.3µs");
        assert_eq!(ns(4_560_000.0), "4.56ms");
        assert_eq!(signed_ns(-95.0), "-95ns");
        assert_eq!(ratio(37.18), "37.2x");
        assert_eq!(ratio(0.974), "0.97x");
        assert_eq!(threads(1), "1 thread");
        assert_eq!(threads(2), "2 threads");
    }

    fn point(row: Row, rep: usize, rate: f64) -> Point {
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
        let a = [point(Row::Sharded, 0, 100.0), point(Row::Sharded, 1, 20.0)];
        let b = [
            point(Row::FineGrained, 0, 50.0),
            point(Row::FineGrained, 1, 10.0),
        ];
        let r = paired_ratio(&a.iter().collect::<Vec<_>>(), &b.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!((r.median, r.min, r.max), (2.0, 2.0, 2.0));
        assert!(r.overlap, "[20, 100] and [10, 50] overlap");
        assert!(ratio_range(&r).ends_with("overlap"));
        let fast = [point(Row::Sharded, 0, 100.0), point(Row::Sharded, 1, 90.0)];
        let r = paired_ratio(
            &fast.iter().collect::<Vec<_>>(),
            &b.iter().collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!((r.min, r.max), (2.0, 9.0));
        assert!(!r.overlap, "[90, 100] and [10, 50] are apart");
        assert_eq!(ratio_range(&r), "5.50x [2.00x-9.00x]");
        let slow = [
            point(Row::GlobalLock, 0, 2.0),
            point(Row::GlobalLock, 1, 1.0),
        ];
        let r = paired_ratio(
            &slow.iter().collect::<Vec<_>>(),
            &b.iter().collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!r.overlap, "[1, 2] and [10, 50] are apart");
        // No shared repetition: no ratio.
        let other = [point(Row::FineGrained, 7, 50.0)];
        assert!(paired_ratio(
            &a.iter().collect::<Vec<_>>(),
            &other.iter().collect::<Vec<_>>()
        )
        .is_none());
    }

    #[test]
    fn a_range_spanning_zero_is_within_noise() {
        let d = |median, min, max| Spread { median, min, max };
        assert_eq!(
            added(&d(74_200.0, -1_000.0, 90_000.0), Some(72.4)),
            "within noise [-1.00µs, +90.0µs]"
        );
        assert_eq!(
            added(&d(300.0, 100.0, 500.0), Some(0.3)),
            "+300ns +0.300% [+100ns, +500ns]"
        );
        assert_eq!(
            added(&d(-300.0, -500.0, -100.0), None),
            "-300ns [-500ns, -100ns]"
        );
    }

    #[test]
    fn a_slow_calibration_marks_the_tables_around_it() {
        let c = |before_table, one, two| Calibration {
            before_table,
            one_thread_ns: one,
            two_threads_ns: two,
        };
        let tables = [
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 4),
        ];
        let quiet = Noise::of(
            vec![
                c(0, 1e6, 1.1e6),
                c(1, 1.02e6, 1.1e6),
                c(2, 1e6, 1.12e6),
                c(3, 1.05e6, 1.1e6),
            ],
            &tables,
        );
        assert!(!quiet.noisy && quiet.noisy_tables.is_empty(), "{quiet:?}");
        assert!(quiet.line().starts_with("quiet: "));
        // A busy sibling core between tables b and c: two threads take 1.5x.
        let busy = Noise::of(
            vec![
                c(0, 1e6, 1.1e6),
                c(1, 1.02e6, 1.1e6),
                c(2, 1.01e6, 1.65e6),
                c(3, 1e6, 1.1e6),
            ],
            &tables,
        );
        assert!(busy.noisy);
        let marked: Vec<&str> = busy.noisy_tables.iter().map(|t| t.case.as_str()).collect();
        assert_eq!(marked, ["b", "c"]);
        assert!(busy.table_is_noisy("b", 2) && !busy.table_is_noisy("a", 1));
        assert!(
            busy.line()
                .starts_with("noisy: calibration varied 50% [1.10ms-1.65ms]"),
            "{}",
            busy.line()
        );
        let banner = noise_banner(&busy);
        assert!(
            banner.contains("!!!   b, 2 threads: calibration 50%"),
            "{banner}"
        );
        assert!(noise_banner(&quiet).is_empty());
        // The library's workloads are one table, with no thread count.
        let library = Noise::of(
            vec![c(0, 1e6, 1.1e6), c(1, 1e6, 1.6e6)],
            &[("library workloads".to_string(), 0)],
        );
        assert!(noise_banner(&library).contains("!!!   library workloads: calibration 45%"));
    }
}
