//! The scrape, accuracy, memory and churn workloads run together: their
//! typed part of results.json, their tables, and the miscounts of our
//! rows that fail the run.

use serde::Serialize;

use crate::{
    library::{accuracy, churn, memory, scrape, target},
    section::Section,
    workloads::Workload,
};

/// The library workloads' part of results.json: one typed entry each,
/// absent when not run.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Results {
    pub(crate) scrape: Option<scrape::Results>,
    pub(crate) accuracy: Option<accuracy::Results>,
    pub(crate) memory: Option<memory::Results>,
    pub(crate) churn: Option<churn::Results>,
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
        out
    }

    /// Our rows' miscounts and losses.
    pub(crate) fn mismatches(&self) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if let Some(r) = &self.scrape {
            out.extend(
                r.miscounts
                    .iter()
                    .filter(|m| target::is_ours(m.option))
                    .map(|m| Mismatch {
                        workload: "scrape",
                        option: m.option.to_string(),
                        what: format!("{}: {} recorded, {} counted", m.what, m.made, m.counted),
                    }),
            );
        }
        if let Some(r) = &self.churn {
            for o in r.outcomes.iter().filter(|o| target::is_ours(&o.option)) {
                match o.lost() {
                    Some(0) => {}
                    Some(_) | None => out.push(Mismatch {
                        workload: "churn",
                        option: o.option.clone(),
                        what: format!(
                            "{} recorded, {} counted",
                            o.made,
                            o.counted.map_or("nothing".into(), |c| c.to_string())
                        ),
                    }),
                }
            }
            for f in r.failed.iter().filter(|f| target::is_ours(f)) {
                out.push(Mismatch {
                    workload: "churn",
                    option: f.clone(),
                    what: "the child failed".into(),
                });
            }
        }
        if let Some(r) = &self.memory {
            for o in r.rows.iter().filter(|o| target::is_ours(&o.option)) {
                if o.outcome.counted != Some(o.outcome.made) {
                    out.push(Mismatch {
                        workload: "memory",
                        option: o.option.clone(),
                        what: format!(
                            "{} recorded, {:?} counted",
                            o.outcome.made, o.outcome.counted
                        ),
                    });
                }
            }
        }
        out
    }
}

/// Runs the library workloads among `workloads`, telling `progress` what
/// runs.
pub(crate) fn run(workloads: &[Workload], quick: bool, progress: &mut dyn FnMut(&str)) -> Results {
    let mut r = Results::default();
    for w in workloads {
        match w {
            Workload::Scrape => {
                r.scrape = Some(scrape::run(
                    &scrape::Plan::new(quick),
                    &target::all,
                    progress,
                ));
            }
            Workload::Accuracy => {
                r.accuracy = Some(accuracy::run(
                    &accuracy::Plan::new(quick),
                    &mut target::estimates,
                    progress,
                ));
            }
            Workload::Memory => r.memory = Some(memory::run(&memory::Plan::new(quick), progress)),
            Workload::Churn => r.churn = Some(churn::run(&churn::Plan::new(quick), progress)),
            _ => {}
        }
    }
    r
}

/// The option's name as a `&'static str` (report rows take one).
pub(crate) fn static_name(name: &str) -> &'static str {
    target::names()
        .into_iter()
        .find(|n| name.starts_with(n))
        .unwrap_or("library option")
}
