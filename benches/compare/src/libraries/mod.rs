//! The library comparison: this crate's registry against the crates a
//! user would pick instead, each set up as its documentation says a server
//! would, measured in the same run and process.
//!
//! | module | what |
//! |---|---|
//! | `contenders` | one adapter per option behind one trait; accounting check; text and quantile reads |
//! | `run` | one timed run: setup, release, pre-generated inputs, background thread, read-back |
//! | `shapes` | one series, many series (uniform, Zipf), lookup against kept handle; plan, runs, cells |
//! | `recommend` | the fastest option per shape, crossovers, lookup costs, from the cells |
//! | `report` | the tables, as `Section`s |
//! | `plots` | throughput against threads and series, lookup against kept handle (SVG) |
//!
//! The operations on the same options (scrape, accuracy, memory, churn)
//! are in `crate::operations`.

pub(crate) mod contenders;
pub(crate) mod plots;
pub(crate) mod recommend;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod shapes;

use std::path::Path;

use serde::Serialize;

pub(crate) use self::shapes::{LibraryWorkload, Settings};
use self::{
    recommend::{recommend, Recommendation},
    shapes::{execute, plan, runs_planned, summarize, Cell, Hooks, Measured},
};
use crate::{
    failure::Failure,
    part::{Ctx, Part},
    progress::interrupted,
    section::Section,
};

/// What the library comparison adds to results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LibraryResults {
    /// How it ran.
    pub(crate) settings: Settings,
    /// Every run and what was left out.
    pub(crate) measured: Measured,
    /// Per option, path and shape, over the runs.
    pub(crate) cells: Vec<Cell>,
    /// Which option when, from the cells.
    pub(crate) recommendation: Recommendation,
}

impl LibraryResults {
    /// The tables for table.txt and report.html (with the plots' file
    /// names, once drawn).
    pub(crate) fn sections(&self, plots: &[String]) -> Vec<Section> {
        report::sections(
            &self.settings,
            &self.measured,
            &self.cells,
            &self.recommendation,
            plots,
        )
    }

    /// Draws the plots into `dir`; their file names.
    pub(crate) fn plot(
        &self,
        dir: &Path,
        cores: usize,
        footer: &str,
    ) -> Result<Vec<String>, String> {
        plots::all(dir, &self.cells, cores, footer)
    }
}

/// Runs the library comparison as `settings` say. `progress` gets each
/// run's label, `failed` each accounting mismatch as it happens; `stop()`
/// true ends it early with what was measured.
pub(crate) fn run_all(
    settings: Settings,
    cores: usize,
    mut progress: impl FnMut(&str),
    mut failed: impl FnMut(&Failure),
    stop: impl Fn() -> bool,
    fake_mismatch_every: usize,
) -> LibraryResults {
    let plan = plan(&settings);
    let warmup = std::time::Duration::from_secs_f64(settings.warmup_ms / 1e3);
    let measured = execute(
        &plan,
        settings.reps,
        warmup,
        cores,
        Hooks {
            progress: &mut progress,
            failed: &mut failed,
            stop: &stop,
            corrupt_every: fake_mismatch_every,
        },
    );
    let cells = summarize(&measured.points);
    let recommendation = recommend(&cells);
    LibraryResults {
        settings,
        measured,
        cells,
        recommendation,
    }
}

/// The runs `settings` will make, warm-ups included.
pub(crate) fn runs(settings: &Settings) -> usize {
    runs_planned(&plan(settings), settings.reps)
}

/// The noise calibration's name for the library workloads (one-series,
/// many-series, lookup), timed as one table.
const LIBRARY_TABLE: &str = "library workloads";

/// The library workloads as a part of the comparison, timed as one table.
#[derive(Debug)]
pub(crate) struct Libraries {
    settings: Settings,
    cores: usize,
    /// What it measured; `None` before it ran, or when nothing was asked.
    pub(crate) results: Option<LibraryResults>,
}

impl Libraries {
    /// The part that runs `settings`' workloads on `cores` cores.
    pub(crate) fn new(settings: Settings, cores: usize) -> Self {
        Libraries {
            settings,
            cores,
            results: None,
        }
    }

    /// A run's planned milliseconds: its measured part plus the set-up of
    /// its series and threads, estimated as one more run of the same
    /// length.
    fn run_ms(&self) -> u64 {
        2 * (self.settings.duration_ms as u64 + self.settings.warmup_ms as u64) + 5
    }
}

impl Part for Libraries {
    fn planned_ms(&self, calibration_ms: u64) -> u64 {
        if self.settings.workloads.is_empty() {
            return 0;
        }
        runs(&self.settings) as u64 * self.run_ms() + calibration_ms
    }

    fn run(&mut self, ctx: &mut Ctx) {
        if self.settings.workloads.is_empty() || interrupted() {
            return;
        }
        ctx.table(LIBRARY_TABLE.into(), 0);
        let run_ms = self.run_ms();
        let progress = &ctx.progress;
        let l = run_all(
            self.settings.clone(),
            self.cores,
            |label| {
                progress.message(label.to_string());
                progress.advance(run_ms);
            },
            |f| progress.suspend(|| eprintln!("!!! ACCOUNTING MISMATCH: {f}")),
            interrupted,
            ctx.fake_mismatch_every,
        );
        ctx.table_done();
        // Printed above as they were found.
        ctx.failures.extend(l.measured.failures.iter().cloned());
        self.results = Some(l);
    }
}
