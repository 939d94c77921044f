//! The strategy tables: one `Section` per table, with what each says
//! under its title.

use std::fmt::Write as _;

use crate::{
    measure::Spread,
    results::{ratio_range, Cell, Cost, Results, Settings},
    section::Section,
    strategies::{
        bench::Case,
        workloads::{Contender, Workload},
    },
    units::{added, ns, ranged, si, threads_header},
};

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
                    std::iter::once(Contender::label_of(row))
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
                        Some(d) if row != Contender::NoMetrics.name() => added(d, c.percent),
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
                            Contender::label_of(c.row),
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
