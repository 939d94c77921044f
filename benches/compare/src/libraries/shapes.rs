//! The library workloads: one series × threads, S series × threads with
//! uniform and Zipf series choice, and a lookup on every call against the
//! cached handle. Each shape runs its options one after the other,
//! repetition by repetition, after one warm-up run each.

use std::{collections::BTreeMap, time::Duration};

use clap::ValueEnum;
use serde::Serialize;

use super::{
    contenders::{Accounting, Contender},
    run::{choices, run, values, Choice, Path, Run, Spec},
};
use crate::{failure::Failure, measure::Spread};

/// The library workloads, as `--workloads` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LibraryWorkload {
    /// Every option on one series (one label value), threads recording as
    /// fast as they can: records/s, ns and CPU ns per record.
    OneSeries,
    /// 100, 1,000 and 10,000 series, each thread picking the series of
    /// every record uniformly or Zipf(1.1) from a pre-generated sequence:
    /// records/s and bytes per series.
    ManySeries,
    /// 100 series, uniform: a lookup by label value on every record,
    /// against the handle each thread keeps (options with both paths).
    Lookup,
}

impl LibraryWorkload {
    /// Every library workload.
    pub(crate) const ALL: [LibraryWorkload; 3] = [
        LibraryWorkload::OneSeries,
        LibraryWorkload::ManySeries,
        LibraryWorkload::Lookup,
    ];

    /// The name `--workloads` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LibraryWorkload::OneSeries => "one-series",
            LibraryWorkload::ManySeries => "many-series",
            LibraryWorkload::Lookup => "lookup",
        }
    }
}

/// How the library workloads run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Settings {
    /// Workloads to run.
    pub(crate) workloads: Vec<LibraryWorkload>,
    /// Options to measure.
    pub(crate) peers: Vec<Contender>,
    /// Writer thread counts.
    pub(crate) threads: Vec<usize>,
    /// Writer thread counts of many-series: the fewest and the most
    /// (--quick: the most only).
    pub(crate) many_threads: Vec<usize>,
    /// Series counts of many-series.
    pub(crate) series: Vec<usize>,
    /// Series of the lookup workload.
    pub(crate) lookup_series: usize,
    /// Writer thread counts of lookup (--quick: the most only).
    pub(crate) lookup_threads: Vec<usize>,
    /// Each measured run of one-series, in ms.
    pub(crate) duration_ms: f64,
    /// Each measured run of lookup, in ms.
    pub(crate) lookup_duration_ms: f64,
    /// Each measured run of many-series (its setup dominates), in ms.
    pub(crate) many_duration_ms: f64,
    /// The warm-up each run records first, on the same instance, in ms.
    pub(crate) warmup_ms: f64,
    /// Measured runs per option and shape.
    pub(crate) reps: usize,
}

impl Settings {
    /// The defaults; `quick`: a few seconds.
    /// `duration`, `warmup` and `reps`, where given, replace them.
    pub(crate) fn new(
        threads: Vec<usize>,
        quick: bool,
        duration: Option<Duration>,
        warmup: Option<Duration>,
        reps: Option<usize>,
    ) -> Self {
        let ms = |d: Option<Duration>, default: f64| d.map_or(default, |d| d.as_secs_f64() * 1e3);
        // Many-series runs are dominated by setting up thousands of series
        // per run: the fewest and the most threads only (--quick: the most).
        let (fewest, most) = (threads.iter().copied().min(), threads.iter().copied().max());
        let mut many_threads: Vec<usize> = if quick {
            most.into_iter().collect()
        } else {
            fewest.into_iter().chain(most).collect()
        };
        many_threads.dedup();
        let lookup_threads = if quick {
            most.into_iter().collect()
        } else {
            threads.clone()
        };
        Settings {
            workloads: LibraryWorkload::ALL.to_vec(),
            peers: Contender::ALL.to_vec(),
            threads,
            many_threads,
            series: if quick {
                vec![100]
            } else {
                vec![100, 1_000, 10_000]
            },
            lookup_series: 100,
            lookup_threads,
            duration_ms: ms(duration, if quick { 10.0 } else { 100.0 }),
            lookup_duration_ms: ms(duration, if quick { 10.0 } else { 50.0 }),
            many_duration_ms: ms(duration, if quick { 10.0 } else { 50.0 }),
            warmup_ms: ms(warmup, if quick { 3.0 } else { 20.0 }),
            reps: reps.unwrap_or(if quick { 2 } else { 3 }),
        }
    }
}

/// One table's worth of runs: a workload at one series count, choice and
/// thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub(crate) struct Shape {
    /// The workload.
    pub(crate) workload: LibraryWorkload,
    /// Series set up and chosen among.
    pub(crate) series: usize,
    /// How each record's series is chosen.
    pub(crate) choice: Choice,
    /// Writer threads.
    pub(crate) threads: usize,
}

impl Shape {
    /// e.g. "1,000 series zipf(1.1), 4 threads".
    pub(crate) fn label(&self) -> String {
        let threads = if self.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", self.threads)
        };
        match self.workload {
            LibraryWorkload::OneSeries => format!("one series, {threads}"),
            LibraryWorkload::ManySeries => format!(
                "{} series {}, {threads}",
                thousands(self.series),
                self.choice.name()
            ),
            LibraryWorkload::Lookup => {
                format!("lookup, {} series, {threads}", thousands(self.series))
            }
        }
    }
}

/// 10000 as "10,000".
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a shape runs: its options, each on one path.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    /// The shape.
    pub(crate) shape: Shape,
    /// (option, path) in run order.
    pub(crate) rows: Vec<(Contender, Path)>,
    /// Options left out of the shape, and why.
    pub(crate) skipped: Vec<(Contender, String)>,
    /// Each measured run's length.
    pub(crate) duration: Duration,
}

/// The shapes `s` asks for, in run order.
pub(crate) fn plan(s: &Settings) -> Vec<Planned> {
    let ms = |ms: f64| Duration::from_secs_f64(ms / 1e3);
    let mut out = Vec::new();
    for &workload in &s.workloads {
        let shapes: Vec<(usize, Choice)> = match workload {
            LibraryWorkload::OneSeries => vec![(1, Choice::Uniform)],
            LibraryWorkload::ManySeries => s
                .series
                .iter()
                .flat_map(|&n| [(n, Choice::Uniform), (n, Choice::Zipf)])
                .collect(),
            LibraryWorkload::Lookup => vec![(s.lookup_series, Choice::Uniform)],
        };
        let thread_counts = match workload {
            LibraryWorkload::OneSeries => &s.threads,
            LibraryWorkload::ManySeries => &s.many_threads,
            LibraryWorkload::Lookup => &s.lookup_threads,
        };
        for (series, choice) in shapes {
            for &threads in thread_counts {
                let mut rows = Vec::new();
                let mut skipped = Vec::new();
                for &peer in &s.peers {
                    if let Some((max, why)) = peer.series_limit().filter(|(m, _)| series > *m) {
                        skipped.push((peer, format!("at most {max} series: {why}")));
                        continue;
                    }
                    match workload {
                        LibraryWorkload::Lookup => {
                            if peer.lookup().is_some() {
                                rows.push((peer, Path::Cached));
                                rows.push((peer, Path::Labelled));
                            }
                        }
                        _ => rows.push((peer, Path::Cached)),
                    }
                }
                if rows.is_empty() {
                    continue;
                }
                out.push(Planned {
                    shape: Shape {
                        workload,
                        series,
                        choice,
                        threads,
                    },
                    rows,
                    skipped,
                    duration: ms(match workload {
                        LibraryWorkload::OneSeries => s.duration_ms,
                        LibraryWorkload::ManySeries => s.many_duration_ms,
                        LibraryWorkload::Lookup => s.lookup_duration_ms,
                    }),
                });
            }
        }
    }
    out
}

/// The runs a plan makes (for a progress bar).
pub(crate) fn runs_planned(plan: &[Planned], reps: usize) -> usize {
    plan.iter().map(|p| p.rows.len() * reps).sum()
}

/// One measured run, as results.json keeps it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Point {
    /// The shape it belongs to.
    pub(crate) shape: Shape,
    /// The option's row name.
    pub(crate) peer: &'static str,
    /// The record path.
    pub(crate) path: Path,
    /// 0-based; options of a shape interleave rep by rep.
    pub(crate) rep: usize,
    /// Records over all writers.
    pub(crate) records: u64,
    /// `records / span`.
    pub(crate) records_per_s: f64,
    /// Writer-thread seconds per record, in ns.
    pub(crate) ns_per_record: f64,
    /// Writer CPU seconds per record, in ns.
    pub(crate) cpu_ns_per_record: Option<f64>,
    /// The writers' CPU time over `span x min(threads, cores)`.
    pub(crate) cpu_share: Option<f64>,
    /// Resident growth from before the setup to the writers' release,
    /// over the series count.
    pub(crate) setup_bytes_per_series: Option<f64>,
    /// Resident growth from before the setup to after the read-back,
    /// over the series count.
    pub(crate) end_bytes_per_series: Option<f64>,
    /// The library's own byte accounting over the series count.
    pub(crate) own_bytes_per_series: Option<f64>,
    /// Everything the run measured.
    pub(crate) run: Run,
}

impl Point {
    fn new(shape: Shape, peer: Contender, path: Path, rep: usize, run: Run, cores: usize) -> Self {
        let records: u64 = run.records.iter().sum();
        let thread_seconds: f64 = run.seconds.iter().sum();
        let cpu: Option<f64> = run.cpu_seconds.iter().copied().sum();
        let per = |s: f64| s / records.max(1) as f64 * 1e9;
        let busy = shape.threads.min(cores.max(1)) as f64;
        let series = shape.series as f64;
        let grown = |i: usize| {
            let [before, ..] = run.rss;
            Some((run.rss[i]? as f64 - before? as f64) / series)
        };
        Point {
            shape,
            peer: peer.name(),
            path,
            rep,
            records,
            records_per_s: records as f64 / run.span_seconds.max(1e-9),
            ns_per_record: per(thread_seconds),
            cpu_ns_per_record: cpu.map(per),
            cpu_share: cpu.map(|c| c / (run.span_seconds.max(1e-9) * busy)),
            setup_bytes_per_series: grown(1),
            end_bytes_per_series: grown(2),
            own_bytes_per_series: run.own_bytes.map(|b| b as f64 / series),
            run,
        }
    }
}

/// An option that could not run a shape, and why.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Skipped {
    /// The shape's label.
    pub(crate) shape: String,
    /// The option.
    pub(crate) peer: &'static str,
    /// Why.
    pub(crate) why: String,
}

/// Everything the library workloads measured.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Measured {
    /// Every measured run.
    pub(crate) points: Vec<Point>,
    /// Runs that counted wrong (their warm-up records included).
    pub(crate) failures: Vec<Failure>,
    /// Options left out of shapes.
    pub(crate) skipped: Vec<Skipped>,
    /// Runs made.
    pub(crate) runs: usize,
    /// Records checked against the libraries' own counts, warm-ups included.
    pub(crate) records_checked: u64,
    /// Runs of options that cannot say what they counted.
    pub(crate) unchecked_runs: usize,
}

/// What [`execute`] tells its caller as it goes.
pub(crate) struct Hooks<'a> {
    /// Called with each run's label before it.
    pub(crate) progress: &'a mut dyn FnMut(&str),
    /// Called with each mismatch as it happens.
    pub(crate) failed: &'a mut dyn FnMut(&Failure),
    /// True ends the runs early (what was measured is kept).
    pub(crate) stop: &'a dyn Fn() -> bool,
    /// Testing the report: every Nth run loses a record (0: never).
    pub(crate) corrupt_every: usize,
}

/// Per (threads, series, choice): each thread's values and choices.
type Tables = BTreeMap<(usize, usize, Choice), (Vec<Vec<u64>>, Vec<Vec<u32>>)>;

/// Runs `plan`, `reps` runs per option and shape, each after a `warmup`.
pub(crate) fn execute(
    plan: &[Planned],
    reps: usize,
    warmup: Duration,
    cores: usize,
    hooks: Hooks<'_>,
) -> Measured {
    let Hooks {
        progress,
        failed,
        stop,
        corrupt_every,
    } = hooks;
    let mut m = Measured::default();
    let mut tables = Tables::new();
    for p in plan {
        let shape = p.shape;
        let (vals, chs) = tables
            .entry((shape.threads, shape.series, shape.choice))
            .or_insert_with(|| {
                let vals = (0..shape.threads).map(values).collect();
                let chs = if shape.series > 1 {
                    (0..shape.threads)
                        .map(|t| choices(t, shape.series, shape.choice).unwrap_or_default())
                        .collect()
                } else {
                    Vec::new()
                };
                (vals, chs)
            });
        for (peer, why) in &p.skipped {
            m.skipped.push(Skipped {
                shape: shape.label(),
                peer: peer.name(),
                why: why.clone(),
            });
        }
        let mut broken: Vec<(Contender, Path)> = Vec::new();
        for rep in 1..=reps {
            for &(peer, path) in &p.rows {
                if stop() {
                    return m;
                }
                if broken.contains(&(peer, path)) {
                    continue;
                }
                progress(&format!("{} / {} {:?}", shape.label(), peer.name(), path));
                let spec = Spec {
                    series: shape.series,
                    path,
                    warmup,
                    duration: p.duration,
                    values: vals,
                    choices: chs,
                };
                let mut r = match run(peer, spec) {
                    Ok(r) => r,
                    Err(why) => {
                        broken.push((peer, path));
                        m.skipped.push(Skipped {
                            shape: shape.label(),
                            peer: peer.name(),
                            why,
                        });
                        continue;
                    }
                };
                m.runs += 1;
                if corrupt_every > 0 && m.runs.is_multiple_of(corrupt_every) {
                    corrupt(&mut r.accounting);
                }
                m.records_checked += r.accounting.counted.map_or(0, |_| r.accounting.made);
                if r.accounting.counted.is_none() {
                    m.unchecked_runs += 1;
                }
                if !r.accounting.mismatches.is_empty() {
                    let f = Failure {
                        case: shape.label(),
                        row: peer.name(),
                        threads: shape.threads,
                        run: format!("run {rep} ({path:?} path)"),
                        mismatches: r.accounting.mismatches.clone(),
                    };
                    failed(&f);
                    m.failures.push(f);
                }
                m.points
                    .push(Point::new(shape, peer, path, rep - 1, r, cores));
            }
        }
    }
    m
}

/// Testing the report: the accounting of a library that lost one record.
fn corrupt(a: &mut Accounting) {
    if let Some(c) = a.counted.as_mut() {
        *c = c.saturating_sub(1);
        a.mismatches.push(format!(
            "count: {} recorded, {} counted (fake: --fake-mismatch-every)",
            a.made, c
        ));
    }
}

/// One option on one path in one shape, over its runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cell {
    /// The shape.
    pub(crate) shape: Shape,
    /// The option.
    pub(crate) peer: &'static str,
    /// The path.
    pub(crate) path: Path,
    /// Runs summarised.
    pub(crate) runs: usize,
    /// Records per second, all writers.
    pub(crate) records_per_s: Spread,
    /// Per-run rates, in rep order (for paired ratios).
    pub(crate) rates: Vec<f64>,
    /// Writer-thread ns per record.
    pub(crate) ns_per_record: Spread,
    /// Writer CPU ns per record.
    pub(crate) cpu_ns_per_record: Option<Spread>,
    /// CPU share of the writers.
    pub(crate) cpu_share: Option<Spread>,
    /// Resident bytes per series once every writer held its handles.
    pub(crate) setup_bytes_per_series: Option<Spread>,
    /// Resident bytes per series after the read-back.
    pub(crate) end_bytes_per_series: Option<Spread>,
    /// The library's own accounting, bytes per series.
    pub(crate) own_bytes_per_series: Option<Spread>,
    /// Whether every run's count was checked exactly.
    pub(crate) exact: bool,
}

#[cfg(test)]
impl Cell {
    /// A test's cell: `peer`'s kept-handle `rates` in `shape`, counted
    /// exactly, with nothing else measured.
    pub(crate) fn of_rates(peer: &'static str, shape: Shape, rates: &[f64]) -> Cell {
        Cell {
            shape,
            peer,
            path: Path::Cached,
            runs: rates.len(),
            records_per_s: Spread::of(rates.iter().copied()).unwrap(),
            rates: rates.to_vec(),
            ns_per_record: Spread::of([1.0]).unwrap(),
            cpu_ns_per_record: None,
            cpu_share: None,
            setup_bytes_per_series: None,
            end_bytes_per_series: None,
            own_bytes_per_series: None,
            exact: true,
        }
    }

    /// One series at `threads` threads, uniform.
    pub(crate) fn one_series(threads: usize) -> Shape {
        Shape {
            workload: LibraryWorkload::OneSeries,
            series: 1,
            choice: Choice::Uniform,
            threads,
        }
    }
}

/// Summarises `points` cell by cell, in run order.
pub(crate) fn summarize(points: &[Point]) -> Vec<Cell> {
    let mut order = Vec::new();
    let mut groups: BTreeMap<(Shape, &str, Path), Vec<&Point>> = BTreeMap::new();
    for p in points {
        let key = (p.shape, p.peer, p.path);
        if !groups.contains_key(&key) {
            order.push(key);
        }
        groups.entry(key).or_default().push(p);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let ps = &groups[&key];
            let spread =
                |f: &dyn Fn(&Point) -> Option<f64>| Spread::of(ps.iter().filter_map(|p| f(p)));
            Some(Cell {
                shape: key.0,
                peer: key.1,
                path: key.2,
                runs: ps.len(),
                records_per_s: spread(&|p| Some(p.records_per_s))?,
                rates: ps.iter().map(|p| p.records_per_s).collect(),
                ns_per_record: spread(&|p| Some(p.ns_per_record))?,
                cpu_ns_per_record: spread(&|p| p.cpu_ns_per_record),
                cpu_share: spread(&|p| p.cpu_share),
                setup_bytes_per_series: spread(&|p| p.setup_bytes_per_series),
                end_bytes_per_series: spread(&|p| p.end_bytes_per_series),
                own_bytes_per_series: spread(&|p| p.own_bytes_per_series),
                exact: ps.iter().all(|p| p.run.accounting.counted.is_some()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_skips_what_an_option_cannot_do() {
        let mut s = Settings::new(vec![1, 2], true, None, None, None);
        assert_eq!(
            (&s.many_threads[..], &s.lookup_threads[..]),
            (&[2][..], &[2][..])
        );
        assert_eq!(
            Settings::new(vec![1, 2, 4], false, None, None, None).many_threads,
            [1, 4]
        );
        s.series = vec![100, 10_000];
        let plan = plan(&s);
        let one: Vec<&Planned> = plan
            .iter()
            .filter(|p| p.shape.workload == LibraryWorkload::OneSeries)
            .collect();
        assert_eq!(one.len(), 2);
        assert_eq!(one[0].rows.len(), Contender::ALL.len());
        let big = plan
            .iter()
            .find(|p| p.shape.series == 10_000)
            .expect("a 10,000-series shape");
        assert!(big
            .skipped
            .iter()
            .any(|(p, _)| *p == Contender::SyncHistogram));
        assert!(big.skipped.iter().any(|(p, _)| *p == Contender::Sharded));
        let lookup = plan
            .iter()
            .find(|p| p.shape.workload == LibraryWorkload::Lookup)
            .expect("a lookup shape");
        assert!(lookup.rows.iter().all(|(p, _)| p.lookup().is_some()));
        assert_eq!(
            lookup.rows.iter().filter(|r| r.1 == Path::Labelled).count() * 2,
            lookup.rows.len()
        );
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(100), "100");
    }

    #[test]
    fn a_broken_count_is_reported() {
        let mut s = Settings::new(vec![1], true, None, None, Some(1));
        s.workloads = vec![LibraryWorkload::OneSeries];
        s.peers = vec![Contender::Registry, Contender::PromHistogram];
        let plan = plan(&s);
        let mut seen = 0;
        let mut progress = |_: &str| {};
        let mut record = |_: &Failure| seen += 1;
        let m = execute(
            &plan,
            1,
            Duration::from_millis(1),
            2,
            Hooks {
                progress: &mut progress,
                failed: &mut record,
                stop: &|| false,
                corrupt_every: 2,
            },
        );
        assert_eq!(m.runs, 2);
        assert_eq!(m.failures.len(), 1, "{:?}", m.failures);
        assert_eq!(seen, 1);
        assert!(m.failures[0].mismatches[0].starts_with("count:"));
        let clean = execute(
            &plan,
            1,
            Duration::from_millis(1),
            2,
            Hooks {
                progress: &mut progress,
                failed: &mut |_| {},
                stop: &|| false,
                corrupt_every: 0,
            },
        );
        assert!(clean.failures.is_empty(), "{:?}", clean.failures);
        assert_eq!(summarize(&clean.points).len(), 2);
    }
}
