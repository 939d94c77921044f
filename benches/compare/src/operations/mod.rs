//! The operations on the library options (scrape, accuracy, memory,
//! churn): one list, each entry planned, run and reported the same way
//! (the [`Operation`] and [`Report`] traits), and their typed part of
//! results.json.
//!
//! | module | what |
//! |---|---|
//! | `operation` | the two traits every operation implements |
//! | `scrape`, `accuracy`, `memory`, `churn` | those four operations, one module each |
//! | `child`, `drive` | the child processes they measure in; what they do with any option |
//!
//! A fifth operation is one more file and one more line in
//! `operations!`'s list below.

pub(crate) mod accuracy;
pub(crate) mod child;
pub(crate) mod churn;
pub(crate) mod drive;
pub(crate) mod memory;
pub(crate) mod operation;
pub(crate) mod scrape;

use std::{process::ExitCode, time::Instant};

use serde::Serialize;

use self::{
    accuracy::Accuracy,
    child::ChildError,
    churn::Churn,
    memory::Memory,
    operation::{Operation, Report},
    scrape::Scrape,
};
use crate::{
    failure::Failure,
    libraries::contenders::Contender,
    part::{Ctx, Part},
    progress::interrupted,
    section::Section,
};

/// Plans an operation (`--quick` or not), runs it over the options with a
/// progress callback, and stores its results in their field of `Results`.
type RunInto = fn(bool, &[Contender], &mut dyn FnMut(&str), &mut Results);

/// One operation as the list holds it: its name and help, and its steps
/// with their types erased.
#[derive(Clone, Copy)]
pub(crate) struct Listed {
    /// [`Operation::NAME`].
    pub(crate) name: &'static str,
    /// [`Operation::HELP`].
    pub(crate) help: &'static str,
    /// [`Operation::planned_ms`].
    pub(crate) planned_ms: fn(bool) -> u64,
    /// Plans and runs it, and stores its results in their field.
    run: RunInto,
    /// [`Operation::in_child`].
    in_child: fn(&str) -> Result<String, ChildError>,
}

impl std::fmt::Debug for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Listed {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Listed {}

/// Declares the operations once: their typed fields of results.json and
/// the list they run in, in this order.
macro_rules! operations {
    ($($field:ident: $op:ty),* $(,)?) => {
        /// The operations' part of results.json: one typed entry each,
        /// absent when not run.
        #[derive(Clone, Debug, Default, Serialize)]
        pub(crate) struct Results {
            $(pub(crate) $field: Option<<$op as Operation>::Results>,)*
            /// Each operation's wall time, in seconds, in the order run.
            pub(crate) wall_s: Vec<(&'static str, f64)>,
        }

        /// Every operation, in the order run.
        pub(crate) const ALL: [Listed; [$(stringify!($field)),*].len()] = [$(Listed {
            name: <$op>::NAME,
            help: <$op>::HELP,
            planned_ms: <$op>::planned_ms,
            run: |quick, options, progress, r| {
                r.$field = Some(<$op>::run(&<$op>::plan(quick), options, progress));
            },
            in_child: <$op>::in_child,
        }),*];

        impl Results {
            /// Each result present, as a report, in the order run.
            fn reports(&self) -> Vec<&dyn Report> {
                let all: [Option<&dyn Report>; ALL.len()] =
                    [$(self.$field.as_ref().map(|r| r as &dyn Report)),*];
                all.into_iter().flatten().collect()
            }
        }
    };
}

operations! {
    scrape: Scrape,
    accuracy: Accuracy,
    memory: Memory,
    churn: Churn,
}

impl Results {
    /// Every table, in the order run; the last notes the wall times.
    pub(crate) fn sections(&self) -> Vec<Section> {
        let mut out: Vec<Section> = self.reports().iter().flat_map(|r| r.sections()).collect();
        if let Some(last) = out.last_mut() {
            let times: Vec<String> = self
                .wall_s
                .iter()
                .map(|(w, s)| format!("{w} {s:.1} s"))
                .collect();
            last.notes.push(format!("wall time: {}", times.join(", ")));
        }
        out
    }

    /// Our rows' miscounts and losses, which fail the run.
    pub(crate) fn failures(&self) -> Vec<Failure> {
        self.reports().iter().flat_map(|r| r.failures()).collect()
    }

    /// What the operations say about choosing an option, one line each,
    /// from this run: the correctness lines first (accuracy, memory,
    /// churn), then the cheapest render (scrape).
    pub(crate) fn recommendation(&self) -> Vec<String> {
        let order: [Option<&dyn Report>; 4] = [
            self.accuracy.as_ref().map(|r| r as &dyn Report),
            self.memory.as_ref().map(|r| r as &dyn Report),
            self.churn.as_ref().map(|r| r as &dyn Report),
            self.scrape.as_ref().map(|r| r as &dyn Report),
        ];
        order
            .into_iter()
            .flatten()
            .flat_map(|r| r.recommendation())
            .collect()
    }
}

/// The operation `--workloads` names `name`.
pub(crate) fn named(name: &str) -> Option<Listed> {
    ALL.into_iter().find(|o| o.name == name)
}

/// Runs `operations` over `options`, telling `progress` what runs and
/// `finished` each operation done; `stop()` true skips the operations not
/// yet started (Ctrl-C), keeping what was measured.
pub(crate) fn run(
    operations: &[Listed],
    options: &[Contender],
    quick: bool,
    progress: &mut dyn FnMut(&str),
    finished: &mut dyn FnMut(&Listed),
    stop: &dyn Fn() -> bool,
) -> Results {
    let mut r = Results::default();
    for op in operations {
        if stop() {
            break;
        }
        let started = Instant::now();
        (op.run)(quick, options, progress, &mut r);
        r.wall_s.push((op.name, started.elapsed().as_secs_f64()));
        finished(op);
    }
    r
}

/// Runs the job when the process was started as an operation's child:
/// its exit code then; `None` for a normal run.
pub(crate) fn main_if_child(argv: &[String]) -> Option<ExitCode> {
    child::main_if_child(argv, |name, job| match named(name) {
        Some(op) => (op.in_child)(job),
        None => Err(ChildError::BadJob(format!(
            "no operation is named {name:?}"
        ))),
    })
}

/// The noise calibration's name for the operations, timed as one table.
const OPERATIONS_TABLE: &str = "library operations";

/// The operations as a part of the comparison, timed as one table.
#[derive(Debug)]
pub(crate) struct Operations {
    list: Vec<Listed>,
    options: Vec<Contender>,
    quick: bool,
    /// What they measured; `None` before they ran, or when none was asked.
    pub(crate) results: Option<Results>,
}

impl Operations {
    /// The part that runs `list` over `options`, briefly when `quick`.
    pub(crate) fn new(list: Vec<Listed>, options: Vec<Contender>, quick: bool) -> Self {
        Operations {
            list,
            options,
            quick,
            results: None,
        }
    }
}

impl Part for Operations {
    fn planned_ms(&self, calibration_ms: u64) -> u64 {
        if self.list.is_empty() {
            return 0;
        }
        let ops: u64 = self.list.iter().map(|o| (o.planned_ms)(self.quick)).sum();
        ops + calibration_ms
    }

    fn run(&mut self, ctx: &mut Ctx) {
        if self.list.is_empty() || interrupted() {
            return;
        }
        ctx.table(OPERATIONS_TABLE.into(), 0);
        let quick = self.quick;
        let results = run(
            &self.list,
            &self.options,
            quick,
            &mut |label| ctx.progress.message(label.to_string()),
            &mut |op| ctx.progress.advance((op.planned_ms)(quick)),
            &interrupted,
        );
        for failure in results.failures() {
            ctx.fail(failure);
        }
        ctx.table_done();
        self.results = Some(results);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(option: &str, counted: u64) -> churn::Outcome {
        churn::Outcome {
            option: option.into(),
            made: 100,
            counted: Some(counted),
            mismatches: Vec::new(),
            seconds: 0.1,
            rss_start_kib: None,
            rss_end_kib: None,
        }
    }

    #[test]
    fn workloads_takes_the_operations() {
        use clap::ValueEnum as _;

        use crate::AnyWorkload;
        for op in ALL {
            assert_eq!(
                AnyWorkload::from_str(op.name, false),
                Ok(AnyWorkload::Operation(op))
            );
        }
    }

    /// Each list entry's name is its field of results.json and the
    /// --workloads value, in the order run.
    #[test]
    fn the_list_and_the_results_name_the_operations_alike() {
        let names: Vec<&str> = ALL.iter().map(|o| o.name).collect();
        assert_eq!(names, ["scrape", "accuracy", "memory", "churn"]);
        let json = serde_json::to_value(Results::default()).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for name in &names {
            assert!(fields.contains(name), "{name} is not a field of {fields:?}");
        }
        let mut r = Results::default();
        let mut progress = |_: &str| {};
        (named("accuracy").unwrap().run)(true, &[Contender::Registry], &mut progress, &mut r);
        assert!(r.accuracy.is_some() && r.scrape.is_none() && r.memory.is_none());
        assert!(!r.sections().is_empty());
    }

    #[test]
    fn only_our_losses_fail_the_run() {
        let r = Results {
            churn: Some(churn::Results {
                plan: churn::Plan::new(true),
                outcomes: vec![
                    lossy(Contender::Registry.name(), 100),
                    lossy(Contender::PromLocal.name(), 90),
                    lossy(Contender::Facade.name(), 99),
                ],
                failed: vec![format!("{}: the child failed", Contender::Sharded.name())],
            }),
            ..Results::default()
        };
        let m = r.failures();
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].row, Contender::Facade.name());
        assert_eq!(m[0].mismatches, ["100 recorded, 99 counted"]);
        assert_eq!(m[1].row, Contender::Sharded.name());
        // The peer's loss is in its table, not a failure.
        let table = churn::sections(r.churn.as_ref().unwrap())[0].text();
        assert!(table.contains("10 LOST"), "{table}");
    }

    #[test]
    fn the_recommendation_names_who_lost_records() {
        let mut r = Results {
            churn: Some(churn::Results {
                plan: churn::Plan::new(true),
                outcomes: vec![lossy(Contender::Registry.name(), 100), lossy("peer x", 90)],
                failed: Vec::new(),
            }),
            ..Results::default()
        };
        assert_eq!(
            r.recommendation(),
            ["thread churn: records lost by peer x (10 of 100)"]
        );
        r.churn.as_mut().unwrap().outcomes.pop();
        assert_eq!(
            r.recommendation(),
            ["thread churn: no option lost a record to exiting threads"]
        );
    }
}
