//! What the scrape, accuracy, memory and churn workloads do with any
//! option: run its background thread (upkeep, drain, refresh) around a
//! body, record through a thread's handles, and check its totals.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
};

use crate::{
    failure::Failure,
    libraries::contenders::{check, Accounting, Contender, Library},
};

/// Runs `body` while `lib`'s background thread, if it has one, runs
/// beside it, as its documentation has a server run it.
pub(crate) fn with_background<L: Library, R>(lib: &L, body: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let bg = lib
            .has_background()
            .then(|| s.spawn(|| lib.background(&stop)));
        let out = body();
        // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
        stop.store(true, Ordering::Relaxed);
        if let Some(bg) = bg {
            bg.join().expect("the background thread panicked");
        }
        out
    })
}

/// Records made, and their sum in ns (the accounting check's inputs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Made {
    pub(crate) count: u64,
    pub(crate) sum_ns: u128,
}

impl Made {
    /// Counts one record of `ns`.
    #[inline(always)]
    pub(crate) fn add(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += u128::from(ns);
    }

    /// Both tallies together.
    pub(crate) fn merge(self, other: Made) -> Made {
        Made {
            count: self.count + other.count,
            sum_ns: self.sum_ns + other.sum_ns,
        }
    }
}

/// `lib`'s totals against what was `made`.
pub(crate) fn account<L: Library>(lib: &L, made: Made) -> Accounting {
    check(&lib.totals(), made.count, made.sum_ns)
}

/// This crate's rows, whose miscounts fail the run; a peer's are
/// findings.
pub(crate) fn is_ours(peer: Contender) -> bool {
    matches!(
        peer,
        Contender::Registry | Contender::Facade | Contender::Sharded
    )
}

/// The series an option runs with when `asked`: at most its limit.
pub(crate) fn series_for(peer: Contender, asked: usize) -> usize {
    peer.series_limit().map_or(asked, |(max, _)| asked.min(max))
}

/// An operation's failure: `what` went wrong for `option`, one of ours.
pub(crate) fn failure(operation: &str, option: &str, what: String) -> Failure {
    Failure {
        case: operation.to_string(),
        row: Contender::of_name(option).map_or("library option", Contender::name),
        threads: 0,
        run: "operations".into(),
        mismatches: vec![what],
    }
}

/// An operation's failures: each of `rows` (option, what went wrong, if
/// anything) that is ours and went wrong, then its children of ours that
/// failed ([`failed_children`]). A peer's are findings in its table.
pub(crate) fn ours_failures<'a>(
    operation: &str,
    rows: impl IntoIterator<Item = (&'a str, Option<String>)>,
    failed: &[String],
) -> Vec<Failure> {
    rows.into_iter()
        .filter(|(option, _)| Contender::of_name(option).is_some_and(is_ours))
        .filter_map(|(option, what)| Some(failure(operation, option, what?)))
        .chain(failed_children(operation, failed))
        .collect()
}

/// The children of ours that failed, among an operation's `failed` lines
/// (`"<option>: <why>"`); a peer's failed child is a finding in its table.
pub(crate) fn failed_children(operation: &str, failed: &[String]) -> Vec<Failure> {
    failed
        .iter()
        .filter_map(|f| {
            let p = Contender::ALL
                .into_iter()
                .find(|p| is_ours(*p) && f.starts_with(&format!("{}:", p.name())))?;
            Some(failure(
                operation,
                p.name(),
                format!("the child failed: {f}"),
            ))
        })
        .collect()
}
