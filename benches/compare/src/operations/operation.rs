//! What every operation is: planned from `--quick`, run over the options,
//! and typed results that report themselves (tables, failures, a
//! recommendation). Each operation's file implements these; `mod.rs`
//! lists them. A leaf of `operations`: it names no operation.

use serde::Serialize;

use crate::{failure::Failure, libraries::contenders::Contender, section::Section};

use super::child::ChildError;

/// One operations workload: planned, run over the options, reported.
pub(crate) trait Operation {
    /// The name `--workloads` takes, and the tag of its child jobs.
    const NAME: &'static str;
    /// What `--help` says of it.
    const HELP: &'static str;
    /// What it measures, from `--quick`.
    type Plan;
    /// Its part of results.json.
    type Results: Report + Serialize;

    /// The plan for a quick or a full run.
    fn plan(quick: bool) -> Self::Plan;

    /// About how long it runs on 2 cores, in ms: (--quick, the default
    /// run). For the progress bar's ETA only (each runs child processes
    /// whose set-up dominates short runs).
    const PLANNED_MS: (u64, u64);

    /// [`PLANNED_MS`](Self::PLANNED_MS) for a quick or a full run.
    fn planned_ms(quick: bool) -> u64 {
        if quick {
            Self::PLANNED_MS.0
        } else {
            Self::PLANNED_MS.1
        }
    }

    /// Runs `plan` over `options`, telling `progress` what runs.
    fn run(
        plan: &Self::Plan,
        options: &[Contender],
        progress: &mut dyn FnMut(&str),
    ) -> Self::Results;

    /// Runs one of its jobs in a child process: the job as JSON in, the
    /// outcome as JSON out. An operation that starts no child keeps this.
    fn in_child(job: &str) -> Result<String, ChildError> {
        let _ = job;
        Err(ChildError::BadJob(format!("{} runs no child", Self::NAME)))
    }
}

/// What an operation's results say.
pub(crate) trait Report {
    /// Its tables, for table.txt and report.html.
    fn sections(&self) -> Vec<Section>;
    /// Our rows' miscounts and losses, which fail the run (a peer's are
    /// findings, printed in its table).
    fn failures(&self) -> Vec<Failure>;
    /// What it says about choosing an option, one line each.
    fn recommendation(&self) -> Vec<String>;
}

/// Declares an operation module's unit type and its [`Operation`] impl,
/// which every module writes the same way: the module's `Plan::new`, its
/// `run`, and (`child: in_child`) its child jobs served by its `in_child`;
/// its `sections` as the [`Report`]'s. Only the name, help, planned
/// time, the failures and the recommendation differ, and each module
/// writes those.
macro_rules! operation {
    (
        $(#[$doc:meta])*
        $op:ident: $name:literal, $help:expr, planned_ms: $ms:expr
        $(, child: $child:ident)? $(,)?
    ) => {
        $(#[$doc])*
        pub(crate) struct $op;

        impl $crate::operations::operation::Operation for $op {
            const NAME: &'static str = $name;
            const HELP: &'static str = $help;
            const PLANNED_MS: (u64, u64) = $ms;
            type Plan = Plan;
            type Results = Results;

            fn plan(quick: bool) -> Plan {
                Plan::new(quick)
            }

            fn run(
                plan: &Plan,
                options: &[$crate::libraries::contenders::Contender],
                progress: &mut dyn FnMut(&str),
            ) -> Results {
                run(plan, options, progress)
            }

            $(
                fn in_child(
                    job: &str,
                ) -> Result<String, $crate::operations::child::ChildError> {
                    $crate::operations::child::serve(job, $child)
                }
            )?
        }
    };
}
pub(crate) use operation;
