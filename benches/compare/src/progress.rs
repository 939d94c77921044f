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
    io::IsTerminal,
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
    /// An empty plan, drawn on stderr. indicatif draws nothing when stderr
    /// is not a terminal (CI, a log file): then a line every
    /// [`LOG_EVERY`] says where the run is ([`log_lines`]).
    pub(crate) fn new() -> Self {
        let progress = Self::bar();
        if !std::io::stderr().is_terminal() {
            log_lines(progress.bar.clone());
        }
        progress
    }

    fn bar() -> Self {
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

/// How often a run whose stderr is not a terminal says where it is.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// Where `bar` is, as `[ 3m10s] scrape / 10000 series / prometheus
/// Histogram (43% of the plan, about 2m05s left)`.
fn log_line(bar: &ProgressBar) -> String {
    let (done, planned) = (bar.position(), bar.length().unwrap_or(0).max(1));
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{:>2}m{:02}s", s / 60, s % 60)
    };
    format!(
        "[{}] {} ({}% of the plan, about {} left)",
        clock(bar.elapsed()),
        bar.message(),
        done * 100 / planned,
        clock(bar.eta()).trim_start()
    )
}

/// Prints [`log_line`] to stderr every [`LOG_EVERY`] until `bar` is
/// finished, from a thread of its own, so that a long measurement (a
/// child process, a many-series set-up) still shows the run is alive.
/// stderr, as the bar: stdout is the report (table.txt), which stays the
/// same whether or not anyone watches.
fn log_lines(bar: ProgressBar) {
    let spawned = std::thread::Builder::new()
        .name("progress-log".into())
        .spawn(move || {
            let mut next = std::time::Instant::now() + LOG_EVERY;
            while !bar.is_finished() {
                std::thread::sleep(Duration::from_millis(100));
                if std::time::Instant::now() >= next && !bar.is_finished() {
                    eprintln!("{}", log_line(&bar));
                    next += LOG_EVERY;
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: no progress lines: {e}");
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
        p.message("scrape / 1000 series / prometheus Histogram");
        let line = log_line(&p.bar);
        assert!(
            line.starts_with(
                "[ 0m00s] scrape / 1000 series / prometheus Histogram (33% of the plan"
            ),
            "{line}"
        );
    }
}
