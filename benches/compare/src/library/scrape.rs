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
    library::{
        drive::{account, is_ours, with_background, Made},
        peers::{Accounting, Library, Peer, Visit, Writer as _},
    },
    measure::{quantile, span, timed, Ctl, Gate, Lcg, Spread},
    report::{ns, si},
    section::Section,
};

/// Records between two looks at the stop flag.
const BATCH: u64 = 64;
/// The longest the scraper sleeps before it looks at the stop flag again.
const NAP: Duration = Duration::from_millis(5);

/// A scrape rate and the writer counts it runs with.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Rate {
    pub(crate) hz: u32,
    pub(crate) writers: Vec<usize>,
}

/// What `scrape` runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Plan {
    /// Series counts (every option set up once per count).
    pub(crate) series: Vec<usize>,
    /// Scrape rates, each with its writer counts.
    pub(crate) rates: Vec<Rate>,
    /// Repetitions; in each, every option runs its writers without a
    /// scraper and then at each rate, before the next option runs.
    pub(crate) reps: usize,
    /// The shortest run, in seconds (the run without a scraper lasts this).
    pub(crate) run_s: f64,
    /// The longest run: a run with a scraper lasts one period, within
    /// `run_s ..= max_run_s`, so that a 1 Hz run renders once a second.
    pub(crate) max_run_s: f64,
}

impl Plan {
    /// The default run, or `--quick`'s. A 1 Hz run lasts a second, so it
    /// runs with 2 writers only (both cores busy: where a render takes
    /// time from the writers).
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            series: vec![1_000, 10_000],
            rates: vec![
                Rate {
                    hz: 1,
                    writers: vec![2],
                },
                Rate {
                    hz: 10,
                    writers: vec![1, 2],
                },
            ],
            reps: 2,
            run_s: if quick { 0.05 } else { 0.2 },
            max_run_s: if quick { 0.05 } else { 1.0 },
        }
    }

    fn run_for(&self, hz: Option<u32>) -> Duration {
        let period = hz.map_or(0.0, |hz| 1.0 / f64::from(hz));
        Duration::from_secs_f64(period.clamp(self.run_s, self.max_run_s.max(self.run_s)))
    }

    /// Every writer count, ascending.
    fn writers(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.rates.iter().flat_map(|r| r.writers.clone()).collect();
        w.sort_unstable();
        w.dedup();
        w
    }
}

/// One run: its writers' rate, and the scraper's renders.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Run {
    /// Records per second over all writers.
    pub(crate) rate: f64,
    /// Records made.
    pub(crate) made: u64,
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

/// One option's accounting over all its runs at one series count.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Count {
    pub(crate) option: &'static str,
    pub(crate) ours: bool,
    pub(crate) series: usize,
    pub(crate) accounting: Accounting,
}

/// `scrape`'s part of results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) cells: Vec<Cell>,
    /// Every option's totals against the records made in all its runs.
    pub(crate) counts: Vec<Count>,
    /// Options left out, and why.
    pub(crate) skipped: Vec<String>,
}

/// An option held for the whole series count, behind one object-safe
/// face, so that the runs of several options interleave.
pub(crate) trait Subject: Sync {
    fn peer(&self) -> Peer;
    /// One run with `writers` threads and a scraper at `hz` (none if
    /// `None`), for `duration`.
    fn run_once(
        &self,
        series: usize,
        writers: usize,
        hz: Option<u32>,
        duration: Duration,
    ) -> (Run, Made);
    fn account(&self, made: Made) -> Accounting;
}

struct Held<L> {
    lib: L,
    peer: Peer,
}

impl<L: Library> Subject for Held<L> {
    fn peer(&self) -> Peer {
        self.peer
    }

    fn run_once(
        &self,
        series: usize,
        writers: usize,
        hz: Option<u32>,
        duration: Duration,
    ) -> (Run, Made) {
        run_once(&self.lib, series, writers, hz, duration)
    }

    fn account(&self, made: Made) -> Accounting {
        account(&self.lib, made)
    }
}

/// Sets an option up with `series` series, if it renders a text exposition.
struct Make(usize);

impl Visit for Make {
    type Out = Result<Box<dyn Subject>, String>;

    fn visit<L: Library>(self, peer: Peer) -> Self::Out {
        let lib = L::new(peer, self.0)?;
        if lib.render().is_none() {
            return Err("no Prometheus text encoder".into());
        }
        Ok(Box::new(Held { lib, peer }))
    }
}

/// Options whose store and render are another row's: left out here.
fn same_render_as(peer: Peer) -> Option<Peer> {
    match peer {
        Peer::Facade => Some(Peer::Registry),
        Peer::PromLocal => Some(Peer::PromHistogram),
        Peer::OtelBound => Some(Peer::OtelHistogram),
        _ => None,
    }
}

/// One run of `lib` with `writers` threads and a scraper at `hz`.
pub(crate) fn run_once<L: Library>(
    lib: &L,
    series: usize,
    writers: usize,
    hz: Option<u32>,
    duration: Duration,
) -> (Run, Made) {
    let helpers = usize::from(hz.is_some());
    let out = with_background(lib, || {
        timed(writers, helpers, duration, |t, ctl| {
            if t < writers {
                (write(lib, series, t, ctl), Vec::new())
            } else {
                (Made::default(), scrape(lib, hz.unwrap_or(1), ctl))
            }
        })
    });
    let made = out[..writers]
        .iter()
        .fold(Made::default(), |m, t| m.merge(t.out.0));
    let seconds = span(&out[..writers]);
    let renders: Vec<(u64, u64)> = out[writers..]
        .iter()
        .flat_map(|t| t.out.1.clone())
        .collect();
    let run = Run {
        rate: made.count as f64 / seconds,
        made: made.count,
        render_ns: renders.iter().map(|r| r.0).collect(),
        render_bytes: renders.iter().map(|r| r.1).collect(),
        seconds,
    };
    (run, made)
}

/// A writer: latencies into series chosen uniformly, until the run stops;
/// then it hands over what it holds back.
fn write<L: Library>(lib: &L, series: usize, t: usize, ctl: &Ctl) -> Made {
    let mut w = lib.writer();
    let mut v = Lcg::new(t + 1);
    let mut made = Made::default();
    let mut gate = Gate::new(ctl, 16);
    while gate.open() {
        for _ in 0..BATCH {
            let s = (v.next() as usize) % series;
            let ns = v.latency_ns();
            w.record(s, ns);
            made.add(ns);
        }
    }
    w.finish();
    made
}

/// The scraper: a render at the start and every `1 / hz` after (back to
/// back when one takes longer), each timed: `(ns, bytes)`.
fn scrape<L: Library>(lib: &L, hz: u32, ctl: &Ctl) -> Vec<(u64, u64)> {
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
        let body = lib.render();
        let elapsed = start.elapsed().as_nanos() as u64;
        let bytes = body.as_ref().map_or(0, |b| b.len() as u64);
        black_box(body);
        renders.push((elapsed, bytes));
        next = (next + period).max(Instant::now());
    }
    renders
}

/// Runs the plan over `peers`; `progress` is told each run's label.
pub(crate) fn run(plan: &Plan, peers: &[Peer], progress: &mut dyn FnMut(&str)) -> Results {
    let mut cells = Vec::new();
    let mut counts = Vec::new();
    let mut skipped = Vec::new();
    let writer_counts = plan.writers();
    for &s in &plan.series {
        let mut subjects: Vec<Box<dyn Subject>> = Vec::new();
        for &peer in peers {
            if let Some(other) = same_render_as(peer) {
                if s == plan.series[0] {
                    skipped.push(format!(
                        "{}: the same store and render as {}",
                        peer.name(),
                        other.name()
                    ));
                }
                continue;
            }
            if let Some((max, why)) = peer.series_limit().filter(|&(max, _)| s > max) {
                skipped.push(format!(
                    "{} at {s} series: at most {max} ({why})",
                    peer.name()
                ));
                continue;
            }
            progress(&format!("scrape {s} series / setting up {}", peer.name()));
            match peer.visit(Make(s)) {
                Ok(subject) => subjects.push(subject),
                Err(why) => {
                    if s == plan.series[0] || !why.starts_with("no Prometheus") {
                        skipped.push(format!("{}: {why}", peer.name()));
                    }
                }
            }
        }
        // runs[subject][writers][mode][rep]; mode 0 is no scraper.
        let modes: Vec<Option<u32>> = std::iter::once(None)
            .chain(plan.rates.iter().map(|r| Some(r.hz)))
            .collect();
        let mut runs: Vec<Vec<Vec<Vec<Run>>>> =
            vec![vec![vec![Vec::new(); modes.len()]; writer_counts.len()]; subjects.len()];
        let mut made = vec![Made::default(); subjects.len()];
        for rep in 0..plan.reps {
            for (i, subject) in subjects.iter().enumerate() {
                for (wi, &w) in writer_counts.iter().enumerate() {
                    for (m, &hz) in modes.iter().enumerate() {
                        let wanted = match hz {
                            None => true,
                            Some(hz) => plan
                                .rates
                                .iter()
                                .any(|r| r.hz == hz && r.writers.contains(&w)),
                        };
                        if !wanted {
                            continue;
                        }
                        progress(&format!(
                            "scrape {s} series / {} / {w} writers / {} / rep {}",
                            subject.peer().name(),
                            hz.map_or("no scraper".to_string(), |h| format!("{h}/s")),
                            rep + 1
                        ));
                        let (r, m_made) = subject.run_once(s, w, hz, plan.run_for(hz));
                        made[i] = made[i].merge(m_made);
                        runs[i][wi][m].push(r);
                    }
                }
            }
        }
        for (i, subject) in subjects.iter().enumerate() {
            let option = subject.peer().name();
            counts.push(Count {
                option,
                ours: is_ours(subject.peer()),
                series: s,
                accounting: subject.account(made[i]),
            });
            for (wi, &w) in writer_counts.iter().enumerate() {
                let without = &runs[i][wi][0];
                for (m, &hz) in modes.iter().enumerate().skip(1) {
                    let with = runs[i][wi][m].clone();
                    if !with.is_empty() {
                        cells.push(cell(option, s, w, hz.expect("a rate"), with, without));
                    }
                }
            }
        }
    }
    Results {
        plan: plan.clone(),
        cells,
        counts,
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
        let hzs: Vec<u32> = r.plan.rates.iter().map(|r| r.hz).collect();
        for &hz in &hzs {
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
                hzs.iter()
                    .find_map(|&h| of(h).and_then(|c| c.bytes_per_render))
                    .map_or("n/a".into(), bytes),
            );
            for &hz in &hzs {
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
                    None => row.extend(["-".to_string(), "-".to_string()]),
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
        for c in r.counts.iter().filter(|c| c.series == s) {
            if !c.accounting.mismatches.is_empty() {
                notes.push(format!(
                    "{} {}: {}",
                    if c.ours {
                        "ACCOUNTING MISMATCH"
                    } else {
                        "miscount (a finding)"
                    },
                    c.option,
                    c.accounting.mismatches.join("; ")
                ));
            }
        }
        notes.push(format!(
            "every option's totals checked against the records made in all its runs: {}",
            r.counts
                .iter()
                .filter(|c| c.series == s)
                .map(|c| format!(
                    "{} {}",
                    c.option,
                    if !c.accounting.mismatches.is_empty() {
                        "MISCOUNTED"
                    } else if c.accounting.counted.is_some() {
                        "exact"
                    } else {
                        "unchecked"
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
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

    #[test]
    fn a_run_counts_renders_and_records() {
        struct V;
        impl Visit for V {
            type Out = ();
            fn visit<L: Library>(self, peer: Peer) {
                let lib = L::new(peer, 10).unwrap();
                let (r, made) = run_once(&lib, 10, 2, Some(100), Duration::from_millis(50));
                assert!(r.made > 0 && made.count == r.made);
                // 100/s for 50 ms: one at the start and about four more.
                assert!(
                    (2..=8).contains(&r.render_ns.len()),
                    "{}",
                    r.render_ns.len()
                );
                assert!(r.render_bytes.iter().all(|&b| b > 0));
                let (none, more) = run_once(&lib, 10, 1, None, Duration::from_millis(10));
                assert!(none.render_ns.is_empty());
                let a = account(&lib, made.merge(more));
                assert!(a.mismatches.is_empty(), "{:?}", a.mismatches);
                assert_eq!(a.counted, Some(r.made + none.made));
                // One record short: the check must say so.
                let short = Made {
                    count: r.made + none.made + 1,
                    ..made.merge(more)
                };
                assert!(!account(&lib, short).mismatches.is_empty());
            }
        }
        Peer::Registry.visit(V);
    }

    #[test]
    fn the_plan_runs_one_period_within_its_bounds() {
        let p = Plan::new(false);
        assert_eq!(p.run_for(Some(1)), Duration::from_secs(1));
        assert_eq!(p.run_for(Some(10)), Duration::from_millis(200));
        assert_eq!(p.run_for(None), Duration::from_millis(200));
        assert_eq!(p.writers(), [1, 2]);
    }

    #[test]
    fn a_short_plan_measures_every_rendering_option() {
        let plan = Plan {
            series: vec![20],
            rates: vec![Rate {
                hz: 100,
                writers: vec![1],
            }],
            reps: 1,
            run_s: 0.01,
            max_run_s: 0.01,
        };
        let r = run(&plan, &Peer::ALL, &mut |_| {});
        let options: Vec<&str> = r.cells.iter().map(|c| c.option).collect();
        assert!(options.contains(&Peer::Registry.name()), "{options:?}");
        assert!(options.contains(&Peer::Exporter.name()), "{options:?}");
        assert!(
            r.counts.iter().all(|c| c.accounting.mismatches.is_empty()),
            "{:?}",
            r.counts
        );
        assert!(r.skipped.iter().any(|s| s.starts_with(Peer::Facade.name())));
        assert!(!sections(&r).is_empty());
    }
}
