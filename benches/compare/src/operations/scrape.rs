//! `scrape`: a scraper rendering the Prometheus text exposition of S
//! series at 1 and 10 Hz while writer threads record into them; render
//! time, bytes per render, and the writers' throughput against the same
//! writers with no scraper, run by run. Each option and series count runs
//! in a child process of its own (`child`), so that one option's memory
//! (10,000 summaries take gigabytes) neither adds to the next's nor
//! takes the machine down; its peak RSS is reported.

use std::{hint::black_box, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    failure::Failure,
    libraries::contenders::{Accounting, Contender, Library, Visit, Writer as _},
    measure::{paced, quantile, span, timed, Ctl, Gate, Lcg, Spread},
    operations::{
        child::{self, ChildFailure},
        drive::{account, failure, is_ours, with_background, Made},
        operation::{operation, Operation, Report},
    },
    section::Section,
    units::{ns, si},
};

/// Records between two looks at the stop flag.
const BATCH: u64 = 64;

/// A scrape rate and the writer counts it runs with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Rate {
    pub(crate) hz: u32,
    pub(crate) writers: Vec<usize>,
}

/// What `scrape` runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The default run, or `--quick`'s (100 series: a render of 1,000
    /// summaries takes about a second). A 1 Hz run lasts a second, so it
    /// runs with 2 writers only (both cores busy: where a render takes
    /// time from the writers).
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            series: if quick {
                vec![100]
            } else {
                vec![1_000, 10_000]
            },
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
            run_s: if quick { 0.025 } else { 0.2 },
            max_run_s: if quick { 0.025 } else { 1.0 },
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    pub(crate) option: String,
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
    pub(crate) option: String,
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
    /// Options left out: (the series count, if at one only; why).
    pub(crate) skipped: Vec<(Option<usize>, String)>,
    /// Each child's peak resident set: (option, series, KiB).
    pub(crate) peaks: Vec<(String, usize, Option<u64>)>,
    /// Options whose child needed more than the harness's address-space
    /// cap: (option, series, the refused allocation). A measured result:
    /// the option does not fit that memory at that series count.
    pub(crate) over_cap: Vec<(String, usize, String)>,
}

/// The most series `peer` is scraped with: its limit, but for the
/// exporter with summaries, whose limit bounds the throughput workloads'
/// time by its render, which is what this workload measures.
fn scrape_limit(peer: Contender) -> Option<(usize, &'static str)> {
    match peer {
        Contender::Exporter => None,
        _ => peer.series_limit(),
    }
}

/// Options whose store and render are another row's: left out here.
fn same_render_as(peer: Contender) -> Option<Contender> {
    match peer {
        Contender::Facade => Some(Contender::Registry),
        Contender::PromLocal => Some(Contender::PromHistogram),
        Contender::OtelBound => Some(Contender::OtelHistogram),
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
    paced(hz, ctl, || {
        let body = lib.render();
        let bytes = body.as_ref().map_or(0, |b| b.len() as u64);
        black_box(body);
        bytes
    })
}

/// One option's runs at one series count, in a child process of its own
/// (an option's memory at 10,000 series is its own, and freed after).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) option: String,
    pub(crate) series: usize,
    pub(crate) plan: Plan,
}

/// The runs of one writer count and mode (`hz` None: no scraper).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    pub(crate) writers: usize,
    pub(crate) hz: Option<u32>,
    pub(crate) runs: Vec<Run>,
}

/// What one option's runs measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) option: String,
    pub(crate) series: usize,
    pub(crate) groups: Vec<Group>,
    /// Records made over all runs, and what the option counted.
    pub(crate) made: u64,
    pub(crate) counted: Option<u64>,
    pub(crate) mismatches: Vec<String>,
    pub(crate) unchecked: Vec<String>,
    /// The child's peak resident set (VmHWM), KiB.
    pub(crate) peak_rss_kib: Option<u64>,
}

impl Outcome {
    /// The cells: each rate's runs against the same writers' runs with no
    /// scraper.
    pub(crate) fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::new();
        for g in self.groups.iter().filter(|g| g.hz.is_some()) {
            let Some(without) = self
                .groups
                .iter()
                .find(|b| b.hz.is_none() && b.writers == g.writers)
            else {
                continue;
            };
            if !g.runs.is_empty() && !without.runs.is_empty() {
                out.push(cell(
                    &self.option,
                    self.series,
                    g.writers,
                    g.hz.expect("a rate"),
                    g.runs.clone(),
                    &without.runs,
                ));
            }
        }
        out
    }

    /// The accounting over all runs.
    pub(crate) fn count(&self) -> Count {
        Count {
            option: self.option.clone(),
            ours: Contender::of_name(&self.option).is_some_and(is_ours),
            series: self.series,
            accounting: Accounting {
                made: self.made,
                counted: self.counted,
                unchecked: self.unchecked.clone(),
                mismatches: self.mismatches.clone(),
            },
        }
    }
}

/// Runs `job` in this process (the child's side).
pub(crate) fn in_child(job: &Job) -> Result<Outcome, String> {
    let peer = Contender::of_name(&job.option)
        .ok_or_else(|| format!("no option named '{}'", job.option))?;
    measure(peer, job.series, &job.plan)
}

/// Sets `peer` up with `series` series and runs the plan's reps: in each,
/// its writers without a scraper and then at each rate, for each writer
/// count, so that runs with and without a scraper alternate.
pub(crate) fn measure(peer: Contender, series: usize, plan: &Plan) -> Result<Outcome, String> {
    peer.visit(Measure { series, plan })
}

struct Measure<'a> {
    series: usize,
    plan: &'a Plan,
}

impl Visit for Measure<'_> {
    type Out = Result<Outcome, String>;

    fn visit<L: Library>(self, peer: Contender) -> Self::Out {
        let Measure { series, plan } = self;
        let lib = L::new(peer, series)?;
        if lib.render().is_none() {
            return Err("no Prometheus text encoder".into());
        }
        let writer_counts = plan.writers();
        let modes: Vec<Option<u32>> = std::iter::once(None)
            .chain(plan.rates.iter().map(|r| Some(r.hz)))
            .collect();
        // runs[writers][mode][rep]; mode 0 is no scraper.
        let mut runs: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); modes.len()]; writer_counts.len()];
        let mut made = Made::default();
        for _ in 0..plan.reps {
            for (wi, &w) in writer_counts.iter().enumerate() {
                for (m, &hz) in modes.iter().enumerate() {
                    let wanted = hz.is_none_or(|hz| {
                        plan.rates
                            .iter()
                            .any(|r| r.hz == hz && r.writers.contains(&w))
                    });
                    if wanted {
                        let (r, m_made) = run_once(&lib, series, w, hz, plan.run_for(hz));
                        made = made.merge(m_made);
                        runs[wi][m].push(r);
                    }
                }
            }
        }
        let mut groups = Vec::new();
        for (wi, &w) in writer_counts.iter().enumerate() {
            for (m, &hz) in modes.iter().enumerate() {
                if !runs[wi][m].is_empty() {
                    groups.push(Group {
                        writers: w,
                        hz,
                        runs: std::mem::take(&mut runs[wi][m]),
                    });
                }
            }
        }
        let a = account(&lib, made);
        Ok(Outcome {
            option: peer.name().to_string(),
            series,
            groups,
            made: a.made,
            counted: a.counted,
            mismatches: a.mismatches,
            unchecked: a.unchecked,
            peak_rss_kib: peak_rss_kib(),
        })
    }
}

/// Runs the plan over `peers`, each option and series count in a child
/// process; `progress` is told what runs.
pub(crate) fn run(plan: &Plan, peers: &[Contender], progress: &mut dyn FnMut(&str)) -> Results {
    let mut cells = Vec::new();
    let mut counts = Vec::new();
    let mut skipped = Vec::new();
    let mut peaks = Vec::new();
    let mut over_cap = Vec::new();
    for &s in &plan.series {
        for &peer in peers {
            if let Some(other) = same_render_as(peer) {
                if s == plan.series[0] {
                    skipped.push((
                        None,
                        format!(
                            "{}: the same store and render as {}",
                            peer.name(),
                            other.name()
                        ),
                    ));
                }
                continue;
            }
            if let Some((max, why)) = scrape_limit(peer).filter(|&(max, _)| s > max) {
                skipped.push((
                    Some(s),
                    format!("{}: at most {max} series ({why})", peer.name()),
                ));
                continue;
            }
            progress(&format!("scrape / {s} series / {}", peer.name()));
            let job = Job {
                option: peer.name().to_string(),
                series: s,
                plan: plan.clone(),
            };
            match child::run::<Outcome>(Scrape::NAME, &job, CHILD_LIMIT) {
                Ok(o) => {
                    cells.extend(o.cells());
                    counts.push(o.count());
                    peaks.push((peer.name().to_string(), s, o.peak_rss_kib));
                }
                Err(why) if why.contains("no Prometheus text encoder") => {
                    if s == plan.series[0] {
                        skipped
                            .push((None, format!("{}: no Prometheus text encoder", peer.name())));
                    }
                }
                Err(ChildFailure::OverCap(detail)) => {
                    over_cap.push((peer.name().to_string(), s, detail));
                }
                Err(why) => skipped.push((Some(s), format!("{}: FAILED: {why}", peer.name()))),
            }
        }
    }
    Results {
        plan: plan.clone(),
        cells,
        counts,
        skipped,
        peaks,
        over_cap,
    }
}

/// The longest one option's scrape child may run.
const CHILD_LIMIT: Duration = Duration::from_secs(300);

/// The calling process's peak resident set (`VmHWM`), KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

fn cell(
    option: &str,
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
        option: option.to_string(),
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
        let mut header = vec![
            "".to_string(),
            "writers".into(),
            "peak RSS".into(),
            "bytes/render".into(),
        ];
        let hzs: Vec<u32> = r.plan.rates.iter().map(|r| r.hz).collect();
        for &hz in &hzs {
            header.push(format!("{hz}/s: render p50 / p99 (n)"));
            header.push(format!("{hz}/s: writers with / without"));
        }
        let mut rows = Vec::new();
        let mut keys: Vec<(&str, usize)> = Vec::new();
        for c in &cells {
            if !keys.contains(&(c.option.as_str(), c.writers)) {
                keys.push((c.option.as_str(), c.writers));
            }
        }
        for (option, writers) in keys {
            let mut row = vec![option.to_string(), writers.to_string()];
            row.push(
                r.peaks
                    .iter()
                    .find(|(o, series, _)| o == option && *series == s)
                    .and_then(|p| p.2)
                    .map_or("n/a".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
            );
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
        // An option over the cap: its row says so, in the peak RSS column.
        for (option, _, detail) in r.over_cap.iter().filter(|o| o.1 == s) {
            let mut row = vec![
                option.clone(),
                "-".into(),
                format!("> {} (cap)", child::address_limit_text()),
            ];
            row.push(format!("did not fit: {detail}"));
            row.resize(header.len(), "-".into());
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
                 with none in the same rep, median [min-max] over {} reps (runs with and without a \
                 scraper alternate); '~': the range includes 1. Runs last one scrape period within \
                 {:.0}-{:.0} ms; the run without a scraper {:.0} ms. Each option in a child process of \
                 its own (address space capped at {}: an option that needs more is reported as \
                 '> cap', its measured result); peak RSS: that child's VmHWM.",
                r.plan.reps,
                r.plan.run_s * 1e3,
                r.plan.max_run_s.max(r.plan.run_s) * 1e3,
                r.plan.run_s * 1e3,
                child::address_limit_text()
            ),
        ];
        for c in r.counts.iter().filter(|c| c.series == s) {
            if !c.accounting.mismatches.is_empty() {
                notes.push(format!(
                    "{} {}: {}",
                    if c.ours {
                        "ACCOUNTING MISMATCH"
                    } else {
                        "miscount (a finding: papers/peer-findings.md)"
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
        notes.extend(
            r.skipped
                .iter()
                .filter(|(at, _)| at.is_none_or(|at| at == s))
                .map(|(_, why)| format!("left out: {why}")),
        );
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

operation! {
    /// The scrape operation, as `operations` lists it.
    Scrape: "scrape",
    "A scraper renders the Prometheus text of 1k and 10k series at 1 and \
        10 Hz while 1 and 2 writers record; render p50/p99, bytes, peak RSS, writer throughput \
        with / without it (each option in a child)",
    planned_ms: (2_000, 50_000),
    child: in_child,
}

impl Report for Results {
    fn sections(&self) -> Vec<Section> {
        sections(self)
    }

    /// Our rows' miscounts, and any of ours over the cap (a peer's is
    /// its measured result).
    fn failures(&self) -> Vec<Failure> {
        let over_cap = self
            .over_cap
            .iter()
            .filter(|(o, _, _)| Contender::of_name(o).is_some_and(is_ours))
            .map(|(o, series, detail)| {
                let why = ChildFailure::OverCap(detail.clone());
                failure(Scrape::NAME, o, format!("{series} series: {why}"))
            });
        self.counts
            .iter()
            .filter(|c| c.ours && !c.accounting.mismatches.is_empty())
            .map(|c| {
                failure(
                    Scrape::NAME,
                    &c.option,
                    format!(
                        "{} series: {}",
                        c.series,
                        c.accounting.mismatches.join("; ")
                    ),
                )
            })
            .chain(over_cap)
            .collect()
    }

    /// Whose render is cheapest at the most series, and ours beside it.
    fn recommendation(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(&most) = self.cells.iter().map(|c| &c.series).max() {
            let mut at: Vec<&Cell> = self
                .cells
                .iter()
                .filter(|c| c.series == most && c.render_p50_ns.is_some())
                .collect();
            let hz = at.iter().map(|c| c.hz).max().unwrap_or(0);
            let writers = at
                .iter()
                .filter(|c| c.hz == hz)
                .map(|c| c.writers)
                .max()
                .unwrap_or(0);
            at.retain(|c| c.hz == hz && c.writers == writers);
            at.sort_by_key(|c| c.render_p50_ns);
            if let Some(best) = at.first() {
                let p50 = |c: &Cell| c.render_p50_ns.unwrap_or(0) as f64 / 1e6;
                let ours = at
                    .iter()
                    .find(|c| Contender::of_name(&c.option).is_some_and(is_ours));
                let mut line = format!(
                    "scrape, {most} series at {hz}/s with {writers} writers: cheapest render {} ({:.1} ms p50, {} bytes)",
                    best.option,
                    p50(best),
                    best.bytes_per_render.unwrap_or(0)
                );
                if let Some(o) = ours.filter(|o| o.option != best.option) {
                    line.push_str(&format!(
                        "; {} {:.1} ms ({:.1}x), {} bytes",
                        o.option,
                        p50(o),
                        p50(o) / p50(best).max(1e-9),
                        o.bytes_per_render.unwrap_or(0)
                    ));
                }
                out.push(line);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_renders_and_records() {
        struct V;
        impl Visit for V {
            type Out = ();
            fn visit<L: Library>(self, peer: Contender) {
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
        Contender::Registry.visit(V);
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
        let mut r = Results {
            plan: plan.clone(),
            cells: Vec::new(),
            counts: Vec::new(),
            skipped: Vec::new(),
            peaks: Vec::new(),
            over_cap: Vec::new(),
        };
        for peer in Contender::ALL {
            match measure(peer, crate::operations::drive::series_for(peer, 20), &plan) {
                Ok(o) => {
                    assert!(o.peak_rss_kib.is_some_and(|k| k > 0));
                    let cells = o.cells();
                    assert_eq!(cells.len(), 1, "{}", peer.name());
                    assert!(cells[0].renders > 0, "{}", peer.name());
                    r.cells.extend(cells);
                    r.counts.push(o.count());
                }
                Err(why) => r.skipped.push((None, format!("{}: {why}", peer.name()))),
            }
        }
        let options: Vec<&str> = r.cells.iter().map(|c| c.option.as_str()).collect();
        assert!(options.contains(&Contender::Registry.name()), "{options:?}");
        assert!(options.contains(&Contender::Exporter.name()), "{options:?}");
        // Ours must count exactly; a peer's loss under concurrent renders
        // (metrics-exporter-prometheus loses a few now and then) is a
        // finding the table prints, not this test's failure.
        assert!(
            r.counts
                .iter()
                .filter(|c| c.ours)
                .all(|c| c.accounting.mismatches.is_empty()),
            "{:?}",
            r.counts
        );
        assert!(r
            .skipped
            .iter()
            .any(|(_, s)| s.starts_with(Contender::OtelHistogram.name())));
        assert!(!sections(&r).is_empty());
        assert!(r.failures().is_empty());
        // A peer over the cap is its row's result; ours over it fails the run.
        let refused = "memory allocation of 222208 bytes failed; signal: 6 (SIGABRT)";
        r.over_cap
            .push((Contender::Exporter.name().into(), 20, refused.into()));
        let text: String = sections(&r).iter().map(Section::text).collect();
        let row = text
            .lines()
            .find(|l| l.contains("> 1.5 GiB (cap)"))
            .unwrap_or_else(|| panic!("no row over the cap: {text}"));
        assert!(
            row.trim_start()
                .starts_with(&format!("{}  ", Contender::Exporter.name()))
                && row.contains(&format!("did not fit: {refused}")),
            "{row}"
        );
        assert!(r.failures().is_empty());
        r.over_cap
            .push((Contender::Registry.name().into(), 20, refused.into()));
        let f = r.failures();
        assert_eq!(f.len(), 1);
        assert!(f[0].mismatches[0].contains("address-space cap"), "{f:?}");
    }
}
