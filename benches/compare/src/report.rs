//! From data points to summaries, the text tables and results.json.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::{
    bench::{Accounting, Case, Measured},
    machine::Machine,
    measure::{quantile, span, Spread},
    workloads::{Row, Workload},
};

/// One measured run: every figure the report is made of.
#[derive(Debug, Serialize)]
pub(crate) struct Point {
    /// The table it belongs to, e.g. `with-reader 10/s`.
    pub(crate) case: String,
    pub(crate) workload: &'static str,
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
    pub(crate) row: &'static str,
    pub(crate) threads: usize,
    pub(crate) unit: &'static str,
    pub(crate) runs: usize,
    pub(crate) rate: Spread,
    /// Median over FineGrained's median, same table and thread count.
    pub(crate) vs_fine_grained: Option<f64>,
    /// Per run, the slowest measured thread's records per second of its
    /// own running time.
    pub(crate) slowest_thread_records_per_s: Option<Spread>,
    pub(crate) cpu_share: Option<Spread>,
    pub(crate) snapshot: Option<SnapshotStats>,
    pub(crate) overhead: Option<OverheadStats>,
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
    let median_rate = |case: &str, threads: usize, row: &str| {
        groups
            .get(&(case, threads, row))
            .and_then(|ps| Spread::of(ps.iter().map(|p| p.rate)))
            .map(|s| s.median)
    };
    order
        .iter()
        .map(|&(case, threads, row)| {
            let ps = &groups[&(case, threads, row)];
            let first = ps[0];
            let rate = Spread::of(ps.iter().map(|p| p.rate)).expect("one run at least");
            let vs_fine_grained = median_rate(case, threads, Row::REFERENCE.name())
                .filter(|_| first.wall_ns_per_request.is_none())
                .map(|fine| rate.median / fine);
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
                row,
                threads,
                unit: first.unit,
                runs: ps.len(),
                rate,
                vs_fine_grained,
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
            "{}, {}, {} thread(s), {}: {}",
            self.case,
            self.row,
            self.threads,
            self.run,
            self.mismatches.join("; ")
        )
    }
}

/// Everything `results.json` holds.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) tool: &'static str,
    pub(crate) machine: Machine,
    /// The process's arguments, as given.
    pub(crate) argv: Vec<String>,
    /// The same run as a cargo command.
    pub(crate) command: String,
    pub(crate) started_unix_s: u64,
    pub(crate) wall_s: f64,
    pub(crate) settings: Settings,
    pub(crate) headline: Vec<String>,
    pub(crate) accounting_failures: Vec<Failure>,
    pub(crate) cells: Vec<Cell>,
    pub(crate) points: Vec<Point>,
    /// The library comparison (`one-series`, `many-series`, `lookup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) library: Option<crate::library::LibraryResults>,
    /// The library comparison's operations (`scrape`, `accuracy`,
    /// `memory`, `churn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operations: Option<crate::library::operations::Results>,
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

fn ratio(x: f64) -> String {
    match x {
        x if x >= 99.5 => format!("{x:.0}x"),
        x if x >= 9.95 => format!("{x:.1}x"),
        _ => format!("{x:.2}x"),
    }
}

/// Left-aligned columns separated by two spaces.
fn grid(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let width = |i: usize| {
        std::iter::once(header)
            .chain(rows.iter().map(Vec::as_slice))
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
}

fn threads_header(threads: &[usize]) -> Vec<String> {
    std::iter::once(String::new())
        .chain(threads.iter().map(|&t| {
            if t == 1 {
                "1 thread".to_string()
            } else {
                format!("{t} threads")
            }
        }))
        .collect()
}

// ----------------------------------------------------------------- tables

/// What each table says under its title.
fn note(case: &Case, s: &Settings) -> String {
    match case.workload {
        Workload::SameMetric => "every thread records latencies; records/s over all threads. \
             Peers record latency only, so they appear in this workload only; \
             LocalHistogram is never read: the limit."
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

/// The whole text report: header, one table per case, headline, accounting.
pub(crate) fn render(r: &Results, cases: &[Case]) -> String {
    let mut out = String::new();
    let s = &r.settings;
    let m = &r.machine;
    let _ = writeln!(out, "lockfree-metrics: strategy comparison");
    let _ = writeln!(out, "machine   {}", m.one_line());
    let _ = writeln!(
        out,
        "load      {} at start, {} at end (1/5/15-min load average: other work on the machine shows here)",
        m.load_at_start, m.load_at_end
    );
    let _ = writeln!(out, "command   {}", r.command);
    let _ = writeln!(out, "commit    {}", m.git_commit);
    let _ = writeln!(
        out,
        "settings  {} ms per run after a {} ms warm-up, {} runs per row interleaved row by row; \
         threads {:?}; wall time {:.1} s",
        s.duration_ms, s.warmup_ms, s.reps, s.threads, r.wall_s
    );
    let _ = writeln!(
        out,
        "reading   median [min-max] over the runs; 'x' = median / FineGrained's median in the same table"
    );
    if let Some(share) = Spread::of(r.points.iter().filter_map(|p| p.cpu_share)) {
        let _ = writeln!(
            out,
            "noise     the measured threads were on a core {:.0}% of the time they could have been \
             (median over runs; lowest {:.0}%): below 100% other processes took the rest",
            share.median * 100.0,
            share.min * 100.0
        );
    }
    for case in cases {
        let label = case.label();
        let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.case == label).collect();
        if cells.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {label}: {}", note(case, s));
        let shares = Spread::of(cells.iter().filter_map(|c| c.cpu_share.map(|s| s.median)));
        let lowest = cells
            .iter()
            .filter_map(|c| c.cpu_share.map(|s| s.min))
            .reduce(f64::min);
        if let (Some(share), Some(lowest)) = (shares, lowest) {
            let _ = writeln!(
                out,
                "  (the measured threads were on a core {:.0}% of the time they could have been; \
                 lowest run {:.0}%)",
                share.median * 100.0,
                lowest * 100.0
            );
        }
        let mut threads: Vec<usize> = cells.iter().map(|c| c.threads).collect();
        threads.sort_unstable();
        threads.dedup();
        let mut rows: Vec<&'static str> = Vec::new();
        for c in &cells {
            if !rows.contains(&c.row) {
                rows.push(c.row);
            }
        }
        let cell = |row: &str, t: usize| cells.iter().find(|c| c.row == row && c.threads == t);
        let table = |f: &dyn Fn(&Cell) -> String| -> Vec<Vec<String>> {
            rows.iter()
                .map(|&row| {
                    std::iter::once(Row::label_of(row))
                        .chain(
                            threads
                                .iter()
                                .map(|&t| cell(row, t).map_or(String::new(), |c| f(c))),
                        )
                        .collect()
                })
                .collect()
        };
        let throughput = |c: &Cell| {
            let mut t = format!(
                "{} [{}-{}]",
                si(c.rate.median),
                si(c.rate.min),
                si(c.rate.max)
            );
            if let Some(x) = c.vs_fine_grained {
                let _ = write!(t, " {}", ratio(x));
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
        match case.workload {
            Workload::SameMetric
            | Workload::DifferentMetrics
            | Workload::RequestCycle
            | Workload::RequestRecord => {
                let _ = writeln!(out, "  {}", cells[0].unit);
                grid(&mut out, &threads_header(&threads), &table(&throughput));
            }
            Workload::WithReader | Workload::Stress => {
                let _ = writeln!(out, "  writer {}", cells[0].unit);
                grid(&mut out, &threads_header(&threads), &table(&throughput));
                let _ = writeln!(
                    out,
                    "  snapshot latency (pooled over the runs; with few snapshots p99 is the max)"
                );
                grid(&mut out, &threads_header(&threads), &table(&snapshot));
            }
            Workload::Overhead | Workload::Sequential | Workload::Concurrent => {
                let served = |cost: Option<&Cost>, row: &str| {
                    let Some(c) = cost else {
                        return String::new();
                    };
                    match (&c.delta_ns, c.percent) {
                        (Some(d), Some(p)) if row != Row::NoMetrics.name() => format!(
                            "{} {:+.3}% [{}, {}]",
                            signed_ns(d.median),
                            p,
                            signed_ns(d.min),
                            signed_ns(d.max)
                        ),
                        _ => format!(
                            "{}/request [{}-{}]",
                            ns(c.per_request_ns.median),
                            ns(c.per_request_ns.min),
                            ns(c.per_request_ns.max)
                        ),
                    }
                };
                let _ = writeln!(
                    out,
                    "  the five records inside a request: clock reads around the recording step, \
                     minus the same reads around nothing ('clock only'). Mean per request, as % of a \
                     bare request's CPU time, [min, max] over runs; p50: the median request's \
                     (the mean also catches preemptions that land in the step: > 1 thread per core)"
                );
                let direct = |c: &Cell| {
                    let Some(o) = &c.overhead else {
                        return String::new();
                    };
                    match (o.records_ns, o.records_percent, o.record_step_ns) {
                        (Some(r), Some(p), _) => format!(
                            "{} {:+.3}% [{}, {}] p50 {}",
                            signed_ns(r.median),
                            p,
                            signed_ns(r.min),
                            signed_ns(r.max),
                            o.records_p50_ns
                                .map_or("n/a".into(), |q| signed_ns(q.median))
                        ),
                        (None, _, Some(step)) => format!(
                            "clock reads {} [{}-{}]",
                            ns(step.median),
                            ns(step.min),
                            ns(step.max)
                        ),
                        _ => String::new(),
                    }
                };
                grid(&mut out, &threads_header(&threads), &table(&direct));
                let _ = writeln!(
                    out,
                    "  end to end, CPU time per request (the measured threads' time on a core: \
                     robust to other processes, blind to time blocked on a lock)"
                );
                let cpu =
                    |c: &Cell| served(c.overhead.as_ref().and_then(|o| o.cpu.as_ref()), c.row);
                grid(&mut out, &threads_header(&threads), &table(&cpu));
                let _ = writeln!(
                    out,
                    "  end to end, wall time per request (run time x busy cores / requests: \
                     counts blocking, and other processes' load)"
                );
                let wall =
                    |c: &Cell| served(c.overhead.as_ref().and_then(|o| o.wall.as_ref()), c.row);
                grid(&mut out, &threads_header(&threads), &table(&wall));
            }
            Workload::HighFrequency => {
                let header: Vec<String> = [
                    "",
                    "threads",
                    "records/s, all threads",
                    "slowest thread, records/s",
                    ">= 1,000/s per thread",
                ]
                .map(String::from)
                .to_vec();
                let body: Vec<Vec<String>> = cells
                    .iter()
                    .map(|c| {
                        let records = c.rate.median * 5.0;
                        let slow = c.slowest_thread_records_per_s;
                        vec![
                            Row::label_of(c.row),
                            c.threads.to_string(),
                            format!(
                                "{} [{}-{}]",
                                si(records),
                                si(c.rate.min * 5.0),
                                si(c.rate.max * 5.0)
                            ),
                            slow.map_or(String::new(), |s| {
                                format!("{} [{}-{}]", si(s.median), si(s.min), si(s.max))
                            }),
                            match slow {
                                Some(s) if s.min >= 1_000.0 => "yes, every run".into(),
                                Some(_) => "NO".into(),
                                None => String::new(),
                            },
                        ]
                    })
                    .collect();
                grid(&mut out, &header, &body);
            }
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
    let runs = r.points.len();
    let records: u64 = r.points.iter().map(|p| p.accounting.made).sum();
    if r.accounting_failures.is_empty() {
        let _ = writeln!(
            out,
            "  every run (warm-ups included) counted exactly the records made: \
             {runs} measured runs, {records} records checked against the snapshot taken after them"
        );
    } else {
        out.push_str(&failure_banner(&r.accounting_failures, usize::MAX));
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

/// The figures the issue asks a closing note to quote.
pub(crate) fn headline(cells: &[Cell]) -> Vec<String> {
    let find = |case: &str, row: Row, threads: usize| {
        cells
            .iter()
            .find(|c| c.case == case && c.row == row.name() && c.threads == threads)
    };
    let mut lines = Vec::new();
    for case in ["same-metric", "different-metrics", "request-cycle"] {
        if let Some(x) = find(case, Row::Sharded, 2).and_then(|c| c.vs_fine_grained) {
            lines.push(format!(
                "Sharded / FineGrained throughput at 2 threads, {case}: {}",
                ratio(x)
            ));
        }
    }
    let mut sync: Vec<String> = Vec::new();
    for c in cells
        .iter()
        .filter(|c| c.case == "same-metric" && c.row == Row::Sharded.name())
    {
        if let Some(peer) = find("same-metric", Row::SyncHistogram, c.threads) {
            sync.push(format!(
                "{} at {} thread(s)",
                ratio(c.rate.median / peer.rate.median),
                c.threads
            ));
        }
    }
    if !sync.is_empty() {
        lines.push(format!(
            "Sharded / SyncHistogram throughput, same-metric: {}",
            sync.join(", ")
        ));
    }
    let sequential: Vec<(&str, f64, f64)> = cells
        .iter()
        .filter(|c| c.case == "sequential")
        .filter_map(|c| {
            let o = c.overhead.as_ref()?;
            Some((c.row, o.records_ns?.median, o.records_percent?))
        })
        .collect();
    if !sequential.is_empty() {
        let each: Vec<String> = sequential
            .iter()
            .map(|(row, ns, pct)| format!("{row} {} ({pct:+.3}%)", signed_ns(*ns)))
            .collect();
        lines.push(format!(
            "seed's sequential 50 requests: it reported +16.2 ms per request (+0.4%); \
             the five records here cost {}",
            each.join(", ")
        ));
    }
    for c in cells.iter().filter(|c| {
        matches!(c.case.as_str(), "overhead" | "sequential" | "concurrent")
            && Row::STRATEGIES.iter().any(|r| r.name() == c.row)
    }) {
        let Some(o) = &c.overhead else { continue };
        let figure = |cost: &Option<Cost>| {
            cost.as_ref()
                .and_then(|k| Some((k.delta_ns?, k.percent?)))
                .map_or("n/a".to_string(), |(d, p)| {
                    format!(
                        "{} ({:+.3}%) [{}, {}]",
                        signed_ns(d.median),
                        p,
                        signed_ns(d.min),
                        signed_ns(d.max)
                    )
                })
        };
        let direct = o
            .records_ns
            .zip(o.records_percent)
            .map_or("n/a".to_string(), |(r, p)| {
                format!(
                    "{} ({p:+.3}%), p50 {}",
                    signed_ns(r.median),
                    o.records_p50_ns
                        .map_or("n/a".into(), |q| signed_ns(q.median))
                )
            });
        lines.push(format!(
            "{}, {}, {} thread(s): records {direct} per request; end to end {} CPU",
            c.case,
            c.row,
            c.threads,
            figure(&o.cpu),
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
    }
}
