//! `memory`: resident memory over time while writers record and nobody
//! scrapes (metrics-rs/metrics#467: metrics-exporter-prometheus keeps
//! every histogram sample until a render or upkeep drains it). Each option
//! runs in a fresh child process; the RSS slope and final growth are the
//! figures.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    failure::Failure,
    libraries::contenders::{Contender, Library, Visit, Writer as _, REFRESH, UPKEEP},
    measure::Lcg,
    operations::{
        child::{self, rss_kib},
        drive::{account, ours_failures, series_for, with_background, Made},
        operation::{operation, Operation, Report},
    },
    section::Section,
};

/// Records a paced writer makes at most between two looks at the clock.
const BATCH: u64 = 64;

/// One child's job: `writers` threads recording `rate` records/s each
/// into `series` series of `option` for `seconds`, RSS sampled every
/// `sample_ms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) option: String,
    pub(crate) series: usize,
    pub(crate) writers: usize,
    pub(crate) rate: u64,
    pub(crate) seconds: f64,
    pub(crate) sample_ms: u64,
}

/// What a child measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) option: String,
    /// RSS once the option was set up, before any record.
    pub(crate) rss_start_kib: u64,
    /// `(seconds since the writers started, RSS KiB)`.
    pub(crate) samples: Vec<(f64, u64)>,
    /// RSS after the writers stopped.
    pub(crate) rss_end_kib: u64,
    pub(crate) made: u64,
    /// The option's own count of the records, where it keeps one (read
    /// after the last RSS sample: reading may drain buffers).
    pub(crate) counted: Option<u64>,
    /// Its totals' differences from the records made (count and sum).
    pub(crate) mismatches: Vec<String>,
    pub(crate) seconds: f64,
}

/// Runs `job` in this process (the child's side).
pub(crate) fn in_child(job: &Job) -> Result<Outcome, String> {
    let peer = Contender::of_name(&job.option)
        .ok_or_else(|| format!("no option named '{}'", job.option))?;
    peer.visit(Measure(job))
}

struct Measure<'a>(&'a Job);

impl Visit for Measure<'_> {
    type Out = Result<Outcome, String>;

    fn visit<L: Library>(self, peer: Contender) -> Self::Out {
        let job = self.0;
        let series = series_for(peer, job.series);
        let lib = L::new(peer, series)?;
        let rss_start_kib = rss_kib().ok_or("no /proc/self/status")?;
        let stop = AtomicBool::new(false);
        let duration = Duration::from_secs_f64(job.seconds);
        let mut samples = Vec::new();
        let start = Instant::now();
        let made = with_background(&lib, || {
            thread::scope(|s| {
                let writers: Vec<_> = (0..job.writers)
                    .map(|w| {
                        let (lib, stop) = (&lib, &stop);
                        s.spawn(move || paced(lib, job, series, w, start, stop))
                    })
                    .collect();
                let period = Duration::from_millis(job.sample_ms.max(1));
                let mut next = start;
                while start.elapsed() < duration {
                    if let Some(rss) = rss_kib() {
                        samples.push((start.elapsed().as_secs_f64(), rss));
                    }
                    next += period;
                    thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
                stop.store(true, Ordering::Relaxed);
                writers
                    .into_iter()
                    .map(|h| h.join().expect("a writer panicked"))
                    .fold(Made::default(), Made::merge)
            })
        });
        let seconds = start.elapsed().as_secs_f64();
        let rss_end_kib = rss_kib().ok_or("no /proc/self/status")?;
        let a = account(&lib, made);
        Ok(Outcome {
            option: job.option.clone(),
            rss_start_kib,
            samples,
            rss_end_kib,
            made: made.count,
            counted: a.counted,
            mismatches: a.mismatches,
            seconds,
        })
    }
}

/// A writer keeping to `job.rate` records a second until `stop`.
fn paced<L: Library>(
    lib: &L,
    job: &Job,
    series: usize,
    w: usize,
    start: Instant,
    stop: &AtomicBool,
) -> Made {
    let mut handle = lib.writer();
    let mut v = Lcg::new(w + 1);
    let mut made = Made::default();
    // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * job.rate as f64) as u64;
        if made.count >= due {
            thread::sleep(Duration::from_micros(500));
            continue;
        }
        for _ in 0..(due - made.count).min(BATCH) {
            let s = (v.next() as usize) % series;
            let ns = v.latency_ns();
            handle.record(s, ns);
            made.add(ns);
        }
    }
    handle.finish();
    made
}

/// What `memory` runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Plan {
    pub(crate) series: usize,
    pub(crate) writers: usize,
    /// Records per second per writer.
    pub(crate) rate: u64,
    pub(crate) seconds: f64,
    pub(crate) sample_ms: u64,
}

impl Plan {
    /// The default run, or `--quick`'s.
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            series: 10,
            writers: 2,
            rate: 250_000,
            seconds: if quick { 0.15 } else { 2.0 },
            sample_ms: if quick { 10 } else { 50 },
        }
    }
}

/// One option's figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) option: String,
    /// Least-squares slope of RSS over the run, MiB/s.
    pub(crate) slope_mib_per_s: f64,
    /// RSS at the end minus RSS before the first record, MiB.
    pub(crate) growth_mib: f64,
    /// Growth per record made, bytes.
    pub(crate) bytes_per_record: f64,
    /// Records per second the writers reached (all writers).
    pub(crate) rate: f64,
    pub(crate) outcome: Outcome,
}

/// `memory`'s part of results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) rows: Vec<Row>,
    /// Options whose child failed, and why.
    pub(crate) failed: Vec<String>,
}

/// The least-squares slope of `y` over `x`; 0 with fewer than two points.
pub(crate) fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Figures from one child's outcome.
pub(crate) fn row(o: Outcome) -> Row {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let points: Vec<(f64, f64)> = o.samples.iter().map(|&(t, k)| (t, mib(k))).collect();
    let growth = mib(o.rss_end_kib) - mib(o.rss_start_kib);
    Row {
        option: o.option.clone(),
        slope_mib_per_s: slope(&points),
        growth_mib: growth,
        bytes_per_record: growth * 1_048_576.0 / o.made.max(1) as f64,
        rate: o.made as f64 / o.seconds,
        outcome: o,
    }
}

/// Runs every option of `peers` in its own child.
pub(crate) fn run(plan: &Plan, peers: &[Contender], progress: &mut dyn FnMut(&str)) -> Results {
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let limit = Duration::from_secs_f64(plan.seconds * 5.0 + 30.0);
    for name in peers.iter().map(|p| p.name()) {
        progress(&format!("memory / {name}"));
        let job = Job {
            option: name.to_string(),
            series: plan.series,
            writers: plan.writers,
            rate: plan.rate,
            seconds: plan.seconds,
            sample_ms: plan.sample_ms,
        };
        match child::run::<Outcome>(Memory::NAME, &job, limit) {
            Ok(o) => rows.push(row(o)),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    Results {
        plan: plan.clone(),
        rows,
        failed,
    }
}

/// The table.
pub(crate) fn sections(r: &Results) -> Vec<Section> {
    let p = &r.plan;
    let header = [
        "",
        "RSS slope",
        "growth",
        "per record",
        "records/s",
        "RSS at start",
    ]
    .map(String::from)
    .to_vec();
    let rows = r
        .rows
        .iter()
        .map(|x| {
            vec![
                x.option.clone(),
                format!("{:+.2} MiB/s", x.slope_mib_per_s),
                format!("{:+.1} MiB", x.growth_mib),
                format!("{:+.1} B", x.bytes_per_record),
                crate::units::si(x.rate),
                format!("{:.1} MiB", x.outcome.rss_start_kib as f64 / 1024.0),
            ]
        })
        .collect();
    let mut notes = vec![
        format!(
            "each option in a fresh child process: {} writers recording {} latencies/s each into {} \
             series for {:.1} s, nobody scraping (metrics-rs/metrics#467); VmRSS sampled every {} ms.",
            p.writers,
            crate::units::si(p.rate as f64),
            p.series,
            p.seconds,
            p.sample_ms
        ),
        "RSS slope: least-squares fit over the samples; growth: RSS after the writers stopped minus \
         RSS once the option was set up; per record: growth over records made."
            .into(),
        format!(
            "each option's background thread runs as its documentation has it: the exporter's upkeep \
             and the AtomicBucket drain every {} s{}, the SyncHistogram refresh every {} ms.",
            UPKEEP.as_secs(),
            if p.seconds < UPKEEP.as_secs_f64() {
                format!(" (none falls within the {:.1} s run)", p.seconds)
            } else {
                String::new()
            },
            REFRESH.as_millis()
        ),
    ];
    notes.extend(r.failed.iter().map(|f| format!("FAILED: {f}")));
    vec![Section {
        title: "resident memory with no scrapes".into(),
        notes,
        header,
        rows,
        plots: Vec::new(),
    }]
}

operation! {
    /// The memory operation, as `operations` lists it.
    Memory: "memory",
    "Resident memory while writers record and nobody scrapes \
        (metrics-rs/metrics#467), each option in a fresh child process",
    planned_ms: (1_500, 25_000),
    child: in_child,
}

impl Report for Results {
    fn sections(&self) -> Vec<Section> {
        sections(self)
    }

    fn failures(&self) -> Vec<Failure> {
        let rows = self.rows.iter().map(|o| {
            let m = &o.outcome.mismatches;
            (o.option.as_str(), (!m.is_empty()).then(|| m.join("; ")))
        });
        ours_failures(Memory::NAME, rows, &self.failed)
    }

    /// Whose memory grows with no scrapes.
    fn recommendation(&self) -> Vec<String> {
        let growing: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.slope_mib_per_s > 1.0)
            .map(|r| format!("{} (+{:.1} MiB/s)", r.option, r.slope_mib_per_s))
            .collect();
        vec![if growing.is_empty() {
            "memory with no scrapes: no option grew by more than 1 MiB/s".to_string()
        } else {
            format!(
                "memory with no scrapes: scrape often, or avoid {}: resident memory grows with every record until a render",
                growing.join(", ")
            )
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        assert!((slope(&pts) - 2.0).abs() < 1e-12);
        assert_eq!(slope(&pts[..1]), 0.0);
    }

    #[test]
    fn the_probe_reads_a_positive_rss_in_process() {
        assert!(rss_kib().is_some_and(|k| k > 0));
    }

    #[test]
    fn a_child_job_measures_and_counts() {
        let job = Job {
            option: Contender::Registry.name().to_string(),
            series: 4,
            writers: 2,
            rate: 20_000,
            seconds: 0.1,
            sample_ms: 10,
        };
        let o = in_child(&job).unwrap();
        assert!(o.rss_start_kib > 0 && o.rss_end_kib > 0);
        assert!(!o.samples.is_empty());
        assert!(o.made > 0);
        assert_eq!(o.counted, Some(o.made));
        assert!(o.mismatches.is_empty(), "{:?}", o.mismatches);
        let nonesuch = Job {
            option: "nonesuch".into(),
            ..job
        };
        assert!(in_child(&nonesuch).is_err());
    }
}
