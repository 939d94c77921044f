//! `churn`: waves of short-lived threads, as a blocking pool runs them
//! (tokio's blocking threads exit after 10 s idle): each thread takes its
//! own handle, records, idles briefly and exits. Every record made must
//! be counted; each option runs in a fresh child process, so its RSS
//! growth over the waves is its own.

use std::{
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    failure::Failure,
    libraries::contenders::{Contender, Library, Visit, Writer},
    measure::Lcg,
    operations::{
        child::{self, rss_kib},
        drive::{account, ours_failures, series_for, with_background, Made},
        operation::{operation, Operation, Report},
    },
    section::Section,
};

/// One child's job: `waves` waves of `threads` threads, each recording
/// `records` latencies into `series` series of `option`, then idling
/// `idle_ms` before it exits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) option: String,
    pub(crate) series: usize,
    pub(crate) waves: usize,
    pub(crate) threads: usize,
    pub(crate) records: u64,
    pub(crate) idle_ms: u64,
}

/// What the waves did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) option: String,
    pub(crate) made: u64,
    /// The option's count after every thread exited, where it keeps one.
    pub(crate) counted: Option<u64>,
    /// Its totals' differences from the records made (count and sum).
    pub(crate) mismatches: Vec<String>,
    pub(crate) seconds: f64,
    pub(crate) rss_start_kib: Option<u64>,
    pub(crate) rss_end_kib: Option<u64>,
}

impl Outcome {
    /// Records made minus counted (negative: counted more than made).
    pub(crate) fn lost(&self) -> Option<i64> {
        self.counted.map(|c| self.made as i64 - c as i64)
    }
}

/// The waves against an option's handles, in this process: each thread
/// makes its writer with `writer`, and drops it at exit without
/// `finish`, as a thread exit drops what it holds. Gives what was made.
pub(crate) fn waves<W: Writer>(job: &Job, series: usize, writer: &(dyn Fn() -> W + Sync)) -> Made {
    let mut made = Made::default();
    for wave in 0..job.waves {
        made = thread::scope(|s| {
            let handles: Vec<_> = (0..job.threads)
                .map(|i| {
                    s.spawn(move || {
                        let mut w = writer();
                        let mut v = Lcg::new(wave * job.threads + i + 1);
                        let mut made = Made::default();
                        for _ in 0..job.records {
                            let s = (v.next() as usize) % series;
                            let ns = v.latency_ns();
                            w.record(s, ns);
                            made.add(ns);
                        }
                        // Idle with the handle held, as a pooled thread
                        // does between tasks, then exit.
                        thread::sleep(Duration::from_millis(job.idle_ms));
                        drop(w);
                        made
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a churn thread panicked"))
                .fold(made, Made::merge)
        });
    }
    made
}

/// Visits the option a job names with its waves.
struct Waves<'a>(&'a Job);

impl Visit for Waves<'_> {
    type Out = Result<Outcome, String>;

    fn visit<L: Library>(self, peer: Contender) -> Self::Out {
        let job = self.0;
        let series = series_for(peer, job.series);
        let lib = L::new(peer, series)?;
        let rss_start_kib = rss_kib();
        let start = Instant::now();
        let made = with_background(&lib, || waves(job, series, &|| lib.writer()));
        let seconds = start.elapsed().as_secs_f64();
        let rss_end_kib = rss_kib();
        let a = account(&lib, made);
        Ok(Outcome {
            option: peer.name().to_string(),
            made: made.count,
            counted: a.counted,
            mismatches: a.mismatches,
            seconds,
            rss_start_kib,
            rss_end_kib,
        })
    }
}

/// Runs `job` in this process (the child's side).
pub(crate) fn in_child(job: &Job) -> Result<Outcome, String> {
    let peer = Contender::of_name(&job.option)
        .ok_or_else(|| format!("no option named '{}'", job.option))?;
    peer.visit(Waves(job))
}

/// What `churn` runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Plan {
    pub(crate) series: usize,
    pub(crate) waves: usize,
    pub(crate) threads: usize,
    pub(crate) records: u64,
    pub(crate) idle_ms: u64,
}

impl Plan {
    /// The default run, or `--quick`'s.
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            series: 10,
            waves: if quick { 4 } else { 20 },
            threads: 8,
            records: if quick { 500 } else { 2_000 },
            idle_ms: if quick { 2 } else { 10 },
        }
    }
}

/// `churn`'s part of results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) outcomes: Vec<Outcome>,
    /// Options whose child failed, and why.
    pub(crate) failed: Vec<String>,
}

/// Runs every option of `peers` in its own child.
pub(crate) fn run(plan: &Plan, peers: &[Contender], progress: &mut dyn FnMut(&str)) -> Results {
    let mut outcomes = Vec::new();
    let mut failed = Vec::new();
    for name in peers.iter().map(|p| p.name()) {
        progress(&format!("churn / {name}"));
        let job = Job {
            option: name.to_string(),
            series: plan.series,
            waves: plan.waves,
            threads: plan.threads,
            records: plan.records,
            idle_ms: plan.idle_ms,
        };
        match child::run::<Outcome>(Churn::NAME, &job, Duration::from_secs(60)) {
            Ok(o) => outcomes.push(o),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    Results {
        plan: plan.clone(),
        outcomes,
        failed,
    }
}

/// The table.
pub(crate) fn sections(r: &Results) -> Vec<Section> {
    let p = &r.plan;
    let header = ["", "made", "counted", "lost", "RSS growth", "ms per wave"]
        .map(String::from)
        .to_vec();
    let rows = r
        .outcomes
        .iter()
        .map(|o| {
            let kib = o.rss_start_kib.zip(o.rss_end_kib);
            vec![
                o.option.clone(),
                o.made.to_string(),
                o.counted
                    .map_or("n/a (no exact count)".into(), |c| c.to_string()),
                match o.lost() {
                    None => "n/a".into(),
                    Some(0) => "0".into(),
                    Some(l) => format!("{l} LOST"),
                },
                kib.map_or("n/a".into(), |(a, b)| {
                    format!("{:+.1} MiB", (b as f64 - a as f64) / 1024.0)
                }),
                format!("{:.1}", o.seconds * 1e3 / p.waves.max(1) as f64),
            ]
        })
        .collect();
    let mut notes = vec![format!(
        "each option in a fresh child process: {} waves of {} threads; each thread takes its own \
         handle, records {} latencies into {} series, idles {} ms holding it and exits (a blocking \
         pool's threads exit after their idle timeout). made vs counted after the last wave; a loss \
         in our rows fails the run, a peer's is reported.",
        p.waves, p.threads, p.records, p.series, p.idle_ms
    )];
    notes.extend(r.failed.iter().map(|f| format!("FAILED: {f}")));
    vec![Section {
        title: "thread churn: records lost".into(),
        notes,
        header,
        rows,
        plots: Vec::new(),
    }]
}

operation! {
    /// The churn operation, as `operations` lists it.
    Churn: "churn",
    "Waves of short-lived recording threads (a blocking pool's); \
        records lost must be 0 for ours",
    planned_ms: (1_000, 10_000),
    child: in_child,
}

impl Report for Results {
    fn sections(&self) -> Vec<Section> {
        sections(self)
    }

    fn failures(&self) -> Vec<Failure> {
        let rows = self.outcomes.iter().map(|o| {
            let wrong = o.lost() != Some(0) || !o.mismatches.is_empty();
            let what = wrong.then(|| {
                format!(
                    "{} recorded, {} counted{}",
                    o.made,
                    o.counted.map_or("nothing".into(), |c| c.to_string()),
                    if o.mismatches.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", o.mismatches.join("; "))
                    }
                )
            });
            (o.option.as_str(), what)
        });
        ours_failures(Churn::NAME, rows, &self.failed)
    }

    /// Who lost records to exiting threads.
    fn recommendation(&self) -> Vec<String> {
        let lost: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| {
                let counted = o.counted?;
                (counted != o.made)
                    .then(|| format!("{} ({} of {})", o.option, o.made.abs_diff(counted), o.made))
            })
            .collect();
        vec![if lost.is_empty() {
            "thread churn: no option lost a record to exiting threads".to_string()
        } else {
            format!("thread churn: records lost by {}", lost.join(", "))
        }]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Counts in a per-thread buffer handed over every 100 records, and
    /// drops what is left at thread exit: the loss the check must see.
    struct LossyWriter<'a> {
        total: &'a AtomicU64,
        pending: u64,
    }

    impl Writer for LossyWriter<'_> {
        fn record(&mut self, _series: usize, _ns: u64) {
            self.pending += 1;
            if self.pending == 100 {
                // Relaxed: a count read after the threads are joined (the join orders it).
                self.total.fetch_add(100, Ordering::Relaxed);
                self.pending = 0;
            }
        }
    }

    fn job(option: &str, records: u64) -> Job {
        Job {
            option: option.into(),
            series: 3,
            waves: 3,
            threads: 4,
            records,
            idle_ms: 1,
        }
    }

    #[test]
    fn a_loss_at_thread_exit_is_counted() {
        let total = AtomicU64::new(0);
        let made = waves(&job("lossy", 250), 3, &|| LossyWriter {
            total: &total,
            pending: 0,
        });
        assert_eq!(made.count, 3 * 4 * 250);
        // Each thread handed over 200 and dropped 50.
        let o = Outcome {
            option: "lossy".into(),
            made: made.count,
            // Relaxed: read after every thread was joined, which orders their adds before it.
            counted: Some(total.load(Ordering::Relaxed)),
            mismatches: Vec::new(),
            seconds: 0.0,
            rss_start_kib: None,
            rss_end_kib: None,
        };
        assert_eq!(o.lost(), Some(3 * 4 * 50));
    }

    #[test]
    fn ours_loses_nothing_and_every_peer_is_reported() {
        for peer in Contender::ALL {
            let o = in_child(&job(peer.name(), 250)).unwrap();
            assert_eq!(o.made, 3 * 4 * 250, "{}", peer.name());
            if is_ours_name(&o.option) {
                assert_eq!(o.lost(), Some(0), "{}", peer.name());
                assert!(
                    o.mismatches.is_empty(),
                    "{}: {:?}",
                    peer.name(),
                    o.mismatches
                );
            }
        }
    }

    fn is_ours_name(name: &str) -> bool {
        Contender::of_name(name).is_some_and(crate::operations::drive::is_ours)
    }
}
