//! The library comparison: this crate's registry against the crates a
//! user would pick instead, each set up as its documentation says a server
//! would, measured in the same run and process.
//!
//! | module | what |
//! |---|---|
//! | `peers` | one adapter per option behind one trait; accounting check; text and quantile reads |
//! | `run` | one timed run: setup, release, pre-generated inputs, background thread, read-back |
//! | `shapes` | one series, many series (uniform, Zipf), lookup against kept handle; plan, runs, cells |
//! | `recommend` | the fastest option per shape, crossovers, lookup costs, from the cells |
//! | `report` | the tables, as `Section`s |
//! | `plots` | throughput against threads and series, lookup against kept handle (SVG) |
//!
//! The operations on the same options (scrape, accuracy, memory, churn)
//! are in `crate::operations`.

pub(crate) mod peers;
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
    shapes::{execute, plan, runs_planned, summarize, Cell, Failure, Hooks, Measured},
};
use crate::section::Section;

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
