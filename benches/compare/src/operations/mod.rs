//! The operations workloads (scrape, accuracy, memory, churn) run together: their
//! typed part of results.json, their tables, and the miscounts of our
//! rows that fail the run.
//!
//! | module | what |
//! |---|---|
//! | `scrape`, `accuracy`, `memory`, `churn` | those four workloads, one module each |
//! | `child`, `drive` | the child processes they measure in; what they do with any option |

pub(crate) mod accuracy;
pub(crate) mod child;
pub(crate) mod churn;
pub(crate) mod drive;
pub(crate) mod memory;
pub(crate) mod scrape;

use serde::Serialize;

use clap::ValueEnum;

use self::drive::is_ours;
use crate::{libraries::peers::Peer, section::Section};

/// The operations workloads, as `--workloads` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
pub(crate) enum Operation {
    /// A scraper renders the Prometheus text of 1k and 10k series at 1 and
    /// 10 Hz while 1 and 2 writers record; render p50/p99, bytes, peak RSS,
    /// writer throughput with / without it (each option in a child).
    Scrape,
    /// p50/p99/p999 of log-normal and bimodal latencies against the exact
    /// sorted values (bucketed options via histogram_quantile).
    Accuracy,
    /// Resident memory while writers record and nobody scrapes
    /// (metrics-rs/metrics#467), each option in a fresh child process.
    Memory,
    /// Waves of short-lived recording threads (a blocking pool's); records
    /// lost must be 0 for ours.
    Churn,
}

impl Operation {
    /// Every operations workload, in the order run.
    pub(crate) const ALL: [Operation; 4] = [
        Operation::Scrape,
        Operation::Accuracy,
        Operation::Memory,
        Operation::Churn,
    ];

    /// The name `--workloads` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Scrape => "scrape",
            Operation::Accuracy => "accuracy",
            Operation::Memory => "memory",
            Operation::Churn => "churn",
        }
    }

    /// About how long it runs on 2 cores, for the progress bar's ETA only
    /// (each runs child processes whose set-up dominates short runs).
    pub(crate) fn planned_ms(self, quick: bool) -> u64 {
        match (self, quick) {
            (Operation::Scrape, false) => 50_000,
            (Operation::Accuracy, false) => 8_000,
            (Operation::Memory, false) => 25_000,
            (Operation::Churn, false) => 10_000,
            (Operation::Scrape, true) => 2_000,
            (Operation::Accuracy, true) => 500,
            (Operation::Memory, true) => 1_500,
            (Operation::Churn, true) => 1_000,
        }
    }
}

/// The library workloads' part of results.json: one typed entry each,
/// absent when not run.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Results {
    pub(crate) scrape: Option<scrape::Results>,
    pub(crate) accuracy: Option<accuracy::Results>,
    pub(crate) memory: Option<memory::Results>,
    pub(crate) churn: Option<churn::Results>,
    /// Each workload's wall time, in seconds, in the order run.
    pub(crate) wall_s: Vec<(&'static str, f64)>,
}

/// A count or loss that fails the run: our rows only (a peer's is a
/// finding, printed in its table).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Mismatch {
    pub(crate) workload: &'static str,
    pub(crate) option: String,
    pub(crate) what: String,
}

impl Results {
    /// Every table, in the order run.
    pub(crate) fn sections(&self) -> Vec<Section> {
        let mut out = Vec::new();
        if let Some(r) = &self.scrape {
            out.extend(scrape::sections(r));
        }
        if let Some(r) = &self.accuracy {
            out.extend(accuracy::sections(r));
        }
        if let Some(r) = &self.memory {
            out.extend(memory::sections(r));
        }
        if let Some(r) = &self.churn {
            out.extend(churn::sections(r));
        }
        if let Some(last) = out.last_mut() {
            let times: Vec<String> = self
                .wall_s
                .iter()
                .map(|(w, s)| format!("{w} {s:.1} s"))
                .collect();
            last.notes.push(format!("wall time: {}", times.join(", ")));
        }
        out
    }

    /// Our rows' miscounts and losses.
    pub(crate) fn mismatches(&self) -> Vec<Mismatch> {
        let ours = |name: &str| Peer::of_name(name).is_some_and(is_ours);
        let mut out = Vec::new();
        if let Some(r) = &self.scrape {
            for c in r.counts.iter().filter(|c| c.ours) {
                if !c.accounting.mismatches.is_empty() {
                    out.push(Mismatch {
                        workload: "scrape",
                        option: c.option.to_string(),
                        what: format!(
                            "{} series: {}",
                            c.series,
                            c.accounting.mismatches.join("; ")
                        ),
                    });
                }
            }
        }
        if let Some(r) = &self.churn {
            for o in r.outcomes.iter().filter(|o| ours(&o.option)) {
                if o.lost() != Some(0) || !o.mismatches.is_empty() {
                    out.push(Mismatch {
                        workload: "churn",
                        option: o.option.clone(),
                        what: format!(
                            "{} recorded, {} counted{}",
                            o.made,
                            o.counted.map_or("nothing".into(), |c| c.to_string()),
                            if o.mismatches.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", o.mismatches.join("; "))
                            }
                        ),
                    });
                }
            }
        }
        if let Some(r) = &self.memory {
            for o in r.rows.iter().filter(|o| ours(&o.option)) {
                if !o.outcome.mismatches.is_empty() {
                    out.push(Mismatch {
                        workload: "memory",
                        option: o.option.clone(),
                        what: o.outcome.mismatches.join("; "),
                    });
                }
            }
        }
        for (workload, failed) in [
            ("churn", self.churn.as_ref().map(|r| &r.failed)),
            ("memory", self.memory.as_ref().map(|r| &r.failed)),
        ] {
            for f in failed.into_iter().flatten() {
                if let Some(p) = Peer::ALL
                    .into_iter()
                    .find(|p| is_ours(*p) && f.starts_with(&format!("{}:", p.name())))
                {
                    out.push(Mismatch {
                        workload,
                        option: p.name().to_string(),
                        what: format!("the child failed: {f}"),
                    });
                }
            }
        }
        out
    }
}

impl Results {
    /// What the operations workloads say about choosing an option, one
    /// line each, derived from this run: who reads quantiles within 1%,
    /// whose memory grows with no scrapes, who lost records to thread
    /// exits, and whose render is cheapest at the most series.
    pub(crate) fn recommendation(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = &self.accuracy {
            for case in &a.cases {
                let worst = |e: &accuracy::Estimate| {
                    e.relative_error
                        .as_ref()
                        .map(|r| r.iter().fold(0.0_f64, |m, x| m.max(x.abs())))
                };
                let mut close: Vec<&str> = Vec::new();
                let mut far: Option<(&str, f64)> = None;
                for e in &case.estimates {
                    match worst(e) {
                        Some(w) if w <= 0.01 => close.push(&e.option),
                        Some(w) if far.is_none_or(|(_, f)| w > f) => far = Some((&e.option, w)),
                        _ => {}
                    }
                }
                let mut line = format!(
                    "accuracy, {}: p50/p99/p999 within 1% of the exact values: {}",
                    case.label,
                    if close.is_empty() {
                        "none".to_string()
                    } else {
                        close.join(", ")
                    }
                );
                if let Some((o, w)) = far {
                    line.push_str(&format!("; worst {o}, off by up to {:.0}%", w * 100.0));
                }
                out.push(line);
            }
        }
        if let Some(m) = &self.memory {
            let growing: Vec<String> = m
                .rows
                .iter()
                .filter(|r| r.slope_mib_per_s > 1.0)
                .map(|r| format!("{} (+{:.1} MiB/s)", r.option, r.slope_mib_per_s))
                .collect();
            out.push(if growing.is_empty() {
                "memory with no scrapes: no option grew by more than 1 MiB/s".to_string()
            } else {
                format!(
                    "memory with no scrapes: scrape often, or avoid {}: resident memory grows with every record until a render",
                    growing.join(", ")
                )
            });
        }
        if let Some(c) = &self.churn {
            let lost: Vec<String> = c
                .outcomes
                .iter()
                .filter_map(|o| {
                    let counted = o.counted?;
                    (counted != o.made).then(|| {
                        format!("{} ({} of {})", o.option, o.made.abs_diff(counted), o.made)
                    })
                })
                .collect();
            out.push(if lost.is_empty() {
                "thread churn: no option lost a record to exiting threads".to_string()
            } else {
                format!("thread churn: records lost by {}", lost.join(", "))
            });
        }
        if let Some(s) = &self.scrape {
            if let Some(&most) = s.cells.iter().map(|c| &c.series).max() {
                let mut at: Vec<&scrape::Cell> = s
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
                    let p50 = |c: &scrape::Cell| c.render_p50_ns.unwrap_or(0) as f64 / 1e6;
                    let ours = at
                        .iter()
                        .find(|c| Peer::of_name(&c.option).is_some_and(is_ours));
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
        }
        out
    }
}

/// Runs `workloads` over `peers`, telling `progress` what runs and
/// `finished` each workload done; `stop()` true skips the workloads not
/// yet started (Ctrl-C), keeping what was measured.
pub(crate) fn run(
    workloads: &[Operation],
    peers: &[Peer],
    quick: bool,
    progress: &mut dyn FnMut(&str),
    finished: &mut dyn FnMut(Operation),
    stop: &dyn Fn() -> bool,
) -> Results {
    let mut r = Results::default();
    for w in workloads {
        if stop() {
            break;
        }
        let started = std::time::Instant::now();
        match w {
            Operation::Scrape => {
                r.scrape = Some(scrape::run(&scrape::Plan::new(quick), peers, progress));
            }
            Operation::Accuracy => {
                r.accuracy = Some(accuracy::run(&accuracy::Plan::new(quick), peers, progress));
            }
            Operation::Memory => {
                r.memory = Some(memory::run(&memory::Plan::new(quick), peers, progress));
            }
            Operation::Churn => {
                r.churn = Some(churn::run(&churn::Plan::new(quick), peers, progress));
            }
        }
        r.wall_s.push((w.name(), started.elapsed().as_secs_f64()));
        finished(*w);
    }
    r
}

/// The option's name as a `&'static str` (report rows take one).
pub(crate) fn static_name(name: &str) -> &'static str {
    Peer::of_name(name).map_or("library option", Peer::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(option: &str, counted: u64) -> churn::Outcome {
        churn::Outcome {
            option: option.into(),
            made: 100,
            counted: Some(counted),
            mismatches: Vec::new(),
            seconds: 0.1,
            rss_start_kib: None,
            rss_end_kib: None,
        }
    }

    #[test]
    fn workloads_takes_the_operations() {
        use crate::libraries::AnyWorkload;
        for op in Operation::ALL {
            assert_eq!(
                AnyWorkload::from_str(op.name(), false),
                Ok(AnyWorkload::Operation(op))
            );
        }
    }

    #[test]
    fn only_our_losses_fail_the_run() {
        let r = Results {
            churn: Some(churn::Results {
                plan: churn::Plan::new(true),
                outcomes: vec![
                    lossy(Peer::Registry.name(), 100),
                    lossy(Peer::PromLocal.name(), 90),
                    lossy(Peer::Facade.name(), 99),
                ],
                failed: vec![format!("{}: the child failed", Peer::Sharded.name())],
            }),
            ..Results::default()
        };
        let m = r.mismatches();
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].option, Peer::Facade.name());
        assert_eq!(m[0].what, "100 recorded, 99 counted");
        assert_eq!(m[1].option, Peer::Sharded.name());
        // The peer's loss is in its table, not a failure.
        let table = churn::sections(r.churn.as_ref().unwrap())[0].text();
        assert!(table.contains("10 LOST"), "{table}");
    }

    #[test]
    fn the_recommendation_names_who_lost_records() {
        let mut r = Results {
            churn: Some(churn::Results {
                plan: churn::Plan::new(true),
                outcomes: vec![lossy(Peer::Registry.name(), 100), lossy("peer x", 90)],
                failed: Vec::new(),
            }),
            ..Results::default()
        };
        assert_eq!(
            r.recommendation(),
            ["thread churn: records lost by peer x (10 of 100)"]
        );
        r.churn.as_mut().unwrap().outcomes.pop();
        assert_eq!(
            r.recommendation(),
            ["thread churn: no option lost a record to exiting threads"]
        );
    }
}
