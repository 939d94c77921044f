//! What the comparison's three parts (the strategy tables, the library
//! workloads, the operations) share: each is planned (milliseconds for
//! the ETA), run, and checked the same way, through one [`Ctx`] that
//! holds the progress bar, the noise calibrations between tables and
//! every accounting failure as it is found.

use std::time::Instant;

use crate::{
    failure::Failure,
    measure::{self, Calibration},
    progress::{ms, Progress},
};

/// One part of the comparison.
pub(crate) trait Part {
    /// Its plan in milliseconds, the calibrations after its tables
    /// included (each `calibration_ms`), for the progress bar's ETA.
    fn planned_ms(&self, calibration_ms: u64) -> u64;

    /// Measures, telling `ctx` each table begun and each failure found.
    /// Returns early, keeping what was measured, once Ctrl-C is pressed.
    fn run(&mut self, ctx: &mut Ctx);
}

/// What every part reports into while it runs.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The progress bar.
    pub(crate) progress: Progress,
    /// The tables in the order run: (label, thread count; 0 for a part
    /// timed as one table).
    pub(crate) tables: Vec<(String, usize)>,
    /// The noise calibrations: one before the first table and one after
    /// each.
    pub(crate) calibrations: Vec<Calibration>,
    /// About how long one calibration takes, in ms.
    pub(crate) calibration_ms: u64,
    /// Every run that counted wrong, in the order found.
    pub(crate) failures: Vec<Failure>,
    /// Testing the report: a fake mismatch in every Nth run (0: never).
    pub(crate) fake_mismatch_every: usize,
}

impl Ctx {
    /// Takes the first calibration, timing it for the plan.
    pub(crate) fn new(progress: Progress, fake_mismatch_every: usize) -> Self {
        let started = Instant::now();
        std::hint::black_box(measure::spin(measure::NOISE_ITERS));
        let calibrations = vec![Calibration::take(0)];
        Ctx {
            progress,
            tables: Vec::new(),
            calibrations,
            calibration_ms: ms(started.elapsed()).max(1),
            failures: Vec::new(),
            fake_mismatch_every,
        }
    }

    /// A table begins.
    pub(crate) fn table(&mut self, label: String, threads: usize) {
        self.tables.push((label, threads));
    }

    /// The table begun last has ended (or was cut short): the calibration
    /// after it.
    pub(crate) fn table_done(&mut self) {
        self.calibrations.push(Calibration::take(self.tables.len()));
        self.progress.advance(self.calibration_ms);
    }

    /// Prints `failure` loudly and keeps it.
    pub(crate) fn fail(&mut self, failure: Failure) {
        self.progress
            .suspend(|| eprintln!("!!! ACCOUNTING MISMATCH: {failure}"));
        self.failures.push(failure);
    }
}
