//! The progress bar on stderr, counting planned milliseconds rather than
//! runs so that its ETA (indicatif's `{eta}`) means time, and the Ctrl-C
//! flag that ends a run early without losing what it measured.
//!
//! A workload uses both the same way the strategy tables do:
//!
//! ```ignore
//! progress.plan(warmup_ms + reps * run_ms + FIXED_MS); // before the first run
//! for rep in 0..reps {
//!     if progress::interrupted() { break; }           // keep what was measured
//!     progress.message(format!("scrape / 1k series / run {rep}"));
//!     measure(run);
//!     progress.advance(run_ms);                        // the planned time, not the taken one
//! }
//! ```
//!
//! `plan` and `advance` take the *planned* milliseconds, so that the bar
//! reaches its end exactly when the plan is done; indicatif's ETA then
//! scales the rest of the plan by how fast the past went.

use std::{
    borrow::Cow,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Set by the first Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The exit status of a run ended by Ctrl-C (128 + SIGINT, as a shell
/// reports it).
pub(crate) const INTERRUPTED_EXIT: u8 = 130;

/// Installs the Ctrl-C handler: the first Ctrl-C asks the run to stop after
/// the current measurement (see [`interrupted`]); a second one exits at
/// once, with status 130 and nothing written.
pub(crate) fn catch_interrupt() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(INTERRUPTED_EXIT));
        }
        eprintln!(
            "\ninterrupted: stopping after the current measurement and writing what was \
             measured (Ctrl-C again quits at once, writing nothing)"
        );
    })
}

/// True once Ctrl-C was pressed: a workload checks it between measurements
/// and stops, keeping what it measured.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Milliseconds of `d`, rounded up (a plan never counts a run as free).
pub(crate) fn ms(d: Duration) -> u64 {
    d.as_micros().div_ceil(1_000) as u64
}

/// The run's progress bar: its length is the planned milliseconds of every
/// run (warm-ups, repetitions and the fixed costs the plan can estimate).
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// An empty plan, drawn on stderr (indicatif draws nothing when stderr
    /// is not a terminal).
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {percent:>3}%  ETA {eta:<4} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Progress { bar }
    }

    /// A bar that draws nothing (tests).
    #[cfg(test)]
    pub(crate) fn hidden() -> Self {
        Progress {
            // A length from the start: a bar without one ignores `plan`.
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden()),
        }
    }

    /// Adds `ms` planned milliseconds to the plan.
    pub(crate) fn plan(&self, ms: u64) {
        self.bar.inc_length(ms);
    }

    /// Marks `ms` planned milliseconds as done.
    pub(crate) fn advance(&self, ms: u64) {
        self.bar.inc(ms);
    }

    /// What is being measured now.
    pub(crate) fn message(&self, msg: impl Into<Cow<'static, str>>) {
        self.bar.set_message(msg);
    }

    /// Runs `f` with the bar hidden, so that its output is not torn. `f`
    /// must not use this bar: the bar's state stays locked while it runs.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// The planned milliseconds: (done, planned).
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.bar.position(), self.bar.length().unwrap_or(0))
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_counts_milliseconds() {
        let p = Progress::hidden();
        p.plan(ms(Duration::from_millis(200)) * 3);
        p.plan(ms(Duration::from_micros(1_500)));
        p.advance(200);
        assert_eq!(p.position(), (200, 602));
    }
}
