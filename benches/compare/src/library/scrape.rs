//! `scrape`: a scraper rendering the Prometheus text exposition of S
//! series at 1 and 10 Hz while writer threads record into them; render
//! time, bytes per render, and the writers' throughput against the same
//! writers with no scraper, run by run.

use std::{
    hint::black_box,
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    library::target::Target,
    measure::{quantile, span, timed, Ctl, Gate, Lcg, Spread},
    report::{ns, si},
    section::Section,
};

/// Records between two looks at the stop flag.
const BATCH: u64 = 64;
/// The longest the scraper sleeps before it looks at the stop flag again.
const NAP: Duration = Duration::from_millis(5);

/// What `scrape` runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Plan {
    /// Series counts (one option set up per count).
    pub(crate) series: Vec<usize>,
    /// Scrapes per second.
    pub(crate) hz: Vec<u32>,
    /// Writer thread counts.
    pub(crate) writers: Vec<usize>,
    /// Repetitions; in each, every option runs without a scraper and then
    /// at every rate, one after the other.
    pub(crate) reps: usize,
    /// The shortest run, in seconds (the run without a scraper lasts this).
    pub(crate) run_s: f64,
    /// The longest run: a run with a scraper lasts one period, within
    /// `run_s ..= max_run_s`, so that a 1 Hz run renders once a second.
    pub(crate) max_run_s: f64,
}

impl Plan {
    /// The default run, or `--quick`'s.
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            series: vec![1_000, 10_000],
            hz: vec![1, 10],
            writers: vec![1, 2],
            reps: 2,
            run_s: if quick { 0.05 } else { 0.3 },
            max_run_s: if quick { 0.05 } else { 1.0 },
        }
    }

    fn run_for(&self, hz: Option<u32>) -> Duration {
        let period = hz.map_or(0.0, |hz| 1.0 / f64::from(hz));
        Duration::from_secs_f64(period.clamp(self.run_s, self.max_run_s.max(self.run_s)))
    }
}

/// One run: its writers' rate, and the scraper's renders.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Run {
    /// Records per second over all writers.
    pub(crate) rate: f64,
    /// Records made.
    pub(crate) made: u64,
    /// What the option counted for them (after minus before), if exact.
    pub(crate) counted: Option<u64>,
    /// Each render's ns.
    pub(crate) render_ns: Vec<u64>,
    /// Each render's bytes.
    pub(crate) render_bytes: Vec<u64>,
    /// Seconds the writers ran.
    pub(crate) seconds: f64,
}

/// One option, series count, writer count and rate, over the reps.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cell {
    pub(crate) option: &'static str,
    pub(crate) series: usize,
    pub(crate) writers: usize,
    /// Scrapes per second asked.
    pub(crate) hz: u32,
    /// Renders made per second of run time.
    pub(crate) renders_per_s: f64,
    pub(crate) renders: usize,
    pub(crate) render_p50_ns: Option<u64>,
    pub(crate) render_p99_ns: Option<u64>,
    pub(crate) render_max_ns: Option<u64>,
    /// The median render's size.
    pub(crate) bytes_per_render: Option<u64>,
    /// Writer records/s with the scraper, per rep.
    pub(crate) rate: Spread,
    /// Writer records/s without it, per rep.
    pub(crate) baseline_rate: Spread,
    /// Per rep, the rate with the scraper over the rate without it.
    pub(crate) ratio: Spread,
    /// Whether the ratio's [min-max] includes 1 (no loss told from noise).
    pub(crate) within_noise: bool,
    pub(crate) with: Vec<Run>,
    pub(crate) without: Vec<Run>,
}

/// A run whose option counted other than the records made.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Miscount {
    pub(crate) option: &'static str,
    pub(crate) what: String,
    pub(crate) made: u64,
    pub(crate) counted: u64,
}

/// `scrape`'s part of results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) cells: Vec<Cell>,
    /// Runs whose option counted other than the records made.
    pub(crate) miscounts: Vec<Miscount>,
    /// Options left out of a series count, and why.
    pub(crate) skipped: Vec<String>,
}

/// One run of `target` with `writers` threads and a scraper at `hz` (none
/// if `None`), for `duration`.
pub(crate) fn run_once(
    target: &dyn Target,
    series: usize,
    writers: usize,
    hz: Option<u32>,
    duration: Duration,
) -> Run {
    let before = target.total();
    let helpers = usize::from(hz.is_some());
    let out = timed(writers, helpers, duration, |t, ctl| {
        if t < writers {
            (write(target, series, t, ctl), Vec::new())
        } else {
            (0, scrape(target, hz.unwrap_or(1), ctl))
        }
    });
    let made: u64 = out[..writers].iter().map(|t| t.out.0).sum();
    let seconds = span(&out[..writers]);
    let renders: Vec<(u64, u64)> = out[writers..]
        .iter()
        .flat_map(|t| t.out.1.clone())
        .collect();
    let counted = target
        .total()
        .zip(before)
        .map(|(after, before)| after - before);
    Run {
        rate: made as f64 / seconds,
        made,
        counted,
        render_ns: renders.iter().map(|r| r.0).collect(),
        render_bytes: renders.iter().map(|r| r.1).collect(),
        seconds,
    }
}

/// A writer: latencies into series chosen uniformly, until the run stops.
fn write(target: &dyn Target, series: usize, t: usize, ctl: &Ctl) -> u64 {
    let mut w = target.writer();
    let mut v = Lcg::new(t + 1);
    let mut n = 0;
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        for _ in 0..BATCH {
            let s = (v.next() as usize) % series;
            w.record(s, v.latency_ns());
        }
        n += BATCH;
    }
    n
}

/// The scraper: a render at the start and every `1 / hz` after (back to
/// back when one takes longer), each timed: `(ns, bytes)`.
fn scrape(target: &dyn Target, hz: u32, ctl: &Ctl) -> Vec<(u64, u64)> {
    let period = Duration::from_secs_f64(1.0 / f64::from(hz));
    let mut renders = Vec::new();
    let mut next = Instant::now();
    let mut gate = Gate::new(ctl, 1);
    while gate.open() {
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(NAP));
            continue;
        }
        let start = Instant::now();
        let body = target.render();
        let elapsed = start.elapsed().as_nanos() as u64;
        let bytes = body.as_ref().map_or(0, |b| b.len() as u64);
        black_box(body);
        renders.push((elapsed, bytes));
        next = (next + period).max(Instant::now());
    }
    renders
}

/// Runs the plan over the options `make(series)` sets up; `progress` is
/// told each run's label.
pub(crate) fn run(
    plan: &Plan,
    make: &dyn Fn(usize) -> Vec<Box<dyn Target>>,
    progress: &mut dyn FnMut(&str),
) -> Results {
    let mut cells = Vec::new();
    let mut miscounts = Vec::new();
    let mut skipped = Vec::new();
    for &s in &plan.series {
        let targets: Vec<Box<dyn Target>> = make(s)
            .into_iter()
            .filter(|t| {
                let renders = t.render().is_some();
                if !renders {
                    skipped.push(format!("{}: no Prometheus text render", t.name()));
                }
                renders
            })
            .collect();
        for &w in &plan.writers {
            // runs[target][mode][rep]; mode 0 is no scraper.
            let modes: Vec<Option<u32>> = std::iter::once(None)
                .chain(plan.hz.iter().map(|&h| Some(h)))
                .collect();
            let mut runs: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); modes.len()]; targets.len()];
            for rep in 0..plan.reps {
                for (i, target) in targets.iter().enumerate() {
                    for (m, &hz) in modes.iter().enumerate() {
                        progress(&format!(
                            "scrape {s} series / {} / {w} writers / {} / rep {}",
                            target.name(),
                            hz.map_or("no scraper".to_string(), |h| format!("{h}/s")),
                            rep + 1
                        ));
                        let r = run_once(&**target, s, w, hz, plan.run_for(hz));
                        if let Some(counted) = r.counted.filter(|&c| c != r.made) {
                            miscounts.push(Miscount {
                                option: target.name(),
                                what: format!(
                                    "scrape {s} series, {w} writers, {}, rep {}",
                                    hz.map_or("no scraper".into(), |h| format!("{h}/s")),
                                    rep + 1
                                ),
                                made: r.made,
                                counted,
                            });
                        }
                        runs[i][m].push(r);
                    }
                }
            }
            for (i, target) in targets.iter().enumerate() {
                let without = runs[i][0].clone();
                for (m, &hz) in modes.iter().enumerate().skip(1) {
                    let with = runs[i][m].clone();
                    cells.push(cell(
                        target.name(),
                        s,
                        w,
                        hz.expect("a rate"),
                        with,
                        &without,
                    ));
                }
            }
        }
    }
    Results {
        plan: plan.clone(),
        cells,
        miscounts,
        skipped,
    }
}

fn cell(
    option: &'static str,
    series: usize,
    writers: usize,
    hz: u32,
    with: Vec<Run>,
    without: &[Run],
) -> Cell {
    let mut render_ns: Vec<u64> = with.iter().flat_map(|r| r.render_ns.clone()).collect();
    render_ns.sort_unstable();
    let mut bytes: Vec<u64> = with.iter().flat_map(|r| r.render_bytes.clone()).collect();
    bytes.sort_unstable();
    let seconds: f64 = with.iter().map(|r| r.seconds).sum();
    let ratio = Spread::of(with.iter().zip(without).map(|(a, b)| a.rate / b.rate))
        .expect("one rep at least");
    let pick = |v: &[u64], q: f64| (!v.is_empty()).then(|| quantile(v, q));
    Cell {
        option,
        series,
        writers,
        hz,
        renders_per_s: render_ns.len() as f64 / seconds,
        renders: render_ns.len(),
        render_p50_ns: pick(&render_ns, 0.5),
        render_p99_ns: pick(&render_ns, 0.99),
        render_max_ns: render_ns.last().copied(),
        bytes_per_render: pick(&bytes, 0.5),
        rate: Spread::of(with.iter().map(|r| r.rate)).expect("one rep at least"),
        baseline_rate: Spread::of(without.iter().map(|r| r.rate)).expect("one rep at least"),
        within_noise: ratio.min <= 1.0 && ratio.max >= 1.0,
        ratio,
        with,
        without: without.to_vec(),
    }
}

/// A byte count: 812 B, 45.1 kB, 2.31 MB.
fn bytes(b: u64) -> String {
    if b < 1_000 {
        format!("{b} B")
    } else {
        format!("{}B", si(b as f64))
    }
}

/// The tables: one per series count.
pub(crate) fn sections(r: &Results) -> Vec<Section> {
    let mut out = Vec::new();
    for &s in &r.plan.series {
        let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.series == s).collect();
        if cells.is_empty() {
            continue;
        }
        let mut header = vec!["".to_string(), "writers".into(), "bytes/render".into()];
        for &hz in &r.plan.hz {
            header.push(format!("{hz}/s: render p50 / p99 (n)"));
            header.push(format!("{hz}/s: writers with / without"));
        }
        let mut rows = Vec::new();
        let mut keys: Vec<(&'static str, usize)> = Vec::new();
        for c in &cells {
            if !keys.contains(&(c.option, c.writers)) {
                keys.push((c.option, c.writers));
            }
        }
        for (option, writers) in keys {
            let mut row = vec![option.to_string(), writers.to_string()];
            let of = |hz: u32| {
                cells
                    .iter()
                    .find(|c| c.option == option && c.writers == writers && c.hz == hz)
            };
            row.push(
                r.plan
                    .hz
                    .iter()
                    .find_map(|&h| of(h).and_then(|c| c.bytes_per_render))
                    .map_or("n/a".into(), bytes),
            );
            for &hz in &r.plan.hz {
                match of(hz) {
                    Some(c) => {
                        row.push(match (c.render_p50_ns, c.render_p99_ns) {
                            (Some(p50), Some(p99)) => {
                                format!("{} / {} ({})", ns(p50 as f64), ns(p99 as f64), c.renders)
                            }
                            _ => "no render".into(),
                        });
                        row.push(format!(
                            "{:.3} [{:.3}-{:.3}]{}",
                            c.ratio.median,
                            c.ratio.min,
                            c.ratio.max,
                            if c.within_noise { " ~" } else { "" }
                        ));
                    }
                    None => row.extend([String::new(), String::new()]),
                }
            }
            rows.push(row);
        }
        let mut notes = vec![
            format!(
                "{s} latency series; writer threads record into series chosen uniformly at random \
                 through their own handles while one more thread renders the Prometheus text \
                 exposition at each rate (the first render at the start; back to back when a render \
                 outlasts its period)."
            ),
            format!(
                "writers with / without: records/s with the scraper over records/s of the same writers \
                 with none, median [min-max] over {} interleaved reps; '~': the range includes 1. \
                 Runs last one scrape period within {:.0}-{:.0} ms; the run without a scraper {:.0} ms.",
                r.plan.reps,
                r.plan.run_s * 1e3,
                r.plan.max_run_s.max(r.plan.run_s) * 1e3,
                r.plan.run_s * 1e3
            ),
        ];
        notes.extend(r.skipped.iter().map(|s| format!("left out: {s}")));
        out.push(Section {
            title: format!("scrape while writing, {s} series"),
            notes,
            header,
            rows,
            plots: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::target::ours::Ours;

    #[test]
    fn a_run_counts_renders_and_records() {
        let ours = Ours::new(10);
        let r = run_once(&ours, 10, 2, Some(100), Duration::from_millis(50));
        assert!(r.made > 0);
        assert_eq!(r.counted, Some(r.made));
        // 100/s for 50 ms: one at the start and about four more.
        assert!(
            (2..=8).contains(&r.render_ns.len()),
            "{}",
            r.render_ns.len()
        );
        assert!(r.render_bytes.iter().all(|&b| b > 0));
        let none = run_once(&ours, 10, 1, None, Duration::from_millis(10));
        assert!(none.render_ns.is_empty());
        assert_eq!(none.counted, Some(none.made));
    }

    #[test]
    fn the_plan_runs_one_period_within_its_bounds() {
        let p = Plan::new(false);
        assert_eq!(p.run_for(Some(1)), Duration::from_secs(1));
        assert_eq!(p.run_for(Some(10)), Duration::from_millis(300));
        assert_eq!(p.run_for(None), Duration::from_millis(300));
    }
}
