//! The one shape of an accounting failure, whichever part found it.

use serde::Serialize;

use crate::units::threads;

/// A run that counted wrong: a strategy table's run, a library workload's
/// run, or an operation's option. Any one fails the comparison (exit
/// status 2).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Failure {
    /// The table, library shape or operation it ran in.
    pub(crate) case: String,
    /// What counted wrong: a row, a library option.
    pub(crate) row: &'static str,
    /// Its thread count; 0 for an operation (its runs are several).
    pub(crate) threads: usize,
    /// `warm-up`, `run N` (with the record path for a library run), or
    /// `operations`.
    pub(crate) run: String,
    /// What the check found, one line each.
    pub(crate) mismatches: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, {}, {}: {}",
            self.case,
            self.row,
            threads(self.threads),
            self.run,
            self.mismatches.join("; ")
        )
    }
}
