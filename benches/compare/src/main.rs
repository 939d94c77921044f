//! The strategy comparison: every strategy, and the peers a user would pick
//! instead, under the seed's scenarios and more, in one process; a table on
//! stdout, every data point in `results.json`, and SVG plots.
//!
//! ```sh
//! cargo run --release -p lockfree-metrics-compare              # the default run (< 2 min on 2 cores)
//! cargo run --release -p lockfree-metrics-compare -- --quick   # everything, briefly (seconds)
//! cargo run --release -p lockfree-metrics-compare -- --help    # flags and workloads
//! ```
//!
//! Exits with status 2 if any run's snapshot does not count exactly the
//! records its threads made.

mod failure;
mod html;
mod libraries;
mod machine;
mod measure;
mod operations;
mod progress;
mod results;
mod section;
mod strategies;
mod svg;
mod text;
mod units;

use std::{
    fs,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::{builder::PossibleValue, Parser, ValueEnum};

use crate::{
    failure::Failure,
    libraries::LibraryWorkload,
    machine::Machine,
    measure::{calibrate, Calibration},
    progress::{interrupted, ms, Progress, INTERRUPTED_EXIT},
    results::{headline, mark_noisy, summarize, Noise, Point, Results, Settings, SCHEMA_VERSION},
    section::Section,
    strategies::{
        bench::{prepare, Case, Env, STRESS_READER_HZ},
        charts, tables,
        workloads::{Row, Workload},
    },
    text::{failure_banner, render},
};

const ABOUT: &str = "Compares the metrics strategies (GlobalLock, FineGrained, Atomic, Sharded) \
with each other and with hdrhistogram-based peers, under the seed report's scenarios.";

const AFTER_HELP: &str = "\
Rows:
  GlobalLock, FineGrained (the reference: every 'x' ratio is to it, measured in the
  same run), Atomic, Sharded, Sharded+coarse (Sharded on CoarseClock: 1 ms clock
  resolution, one load per read); and, in same-metric only (they record latency only),
  the peers SyncHistogram (one Recorder per thread, refreshed every 50 ms by a
  concurrent reader with a timeout), MutexHistogram (Mutex<Histogram>) and
  LocalHistogram (an unshared per-thread Histogram nobody reads: no sharing and no
  reader, not a bound; shared designs can beat it).

Method:
  Each table runs its rows one after the other, repetition by repetition, after one
  warm-up run each; a ratio is taken per repetition, then summarised as median
  [min-max]. Every thread times itself from its release to its last batch, with its
  CPU time beside. Noise: a fixed calibration loop (one thread, then two at once) is
  timed before and after every table; if its timings vary by more than 10%, the run
  says so loudly and marks the tables around the slow timings (noisy).
  A strategy is reset before every run and its snapshot afterwards must count exactly
  the records made (mode transitions: exactly where every mode record is a change,
  otherwise at most the records). Any mismatch is printed loudly and the process
  exits with status 2.

Ctrl-C stops after the current measurement, writes everything measured so far
(results.json says \"complete\": false) and exits with status 130.

Outputs (in --out):
  table.txt      the tables printed on stdout
  results.json   the machine, the command, the settings, the noise, every run, every
                 summary (schema: papers/results/README.md)
  *.svg          throughput against threads per workload (log scales), snapshot
                 latency, overhead per request
  report.html    all of it in one self-contained page, plots inlined";

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(name = "compare", about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// Thread counts for same-metric, different-metrics, request-cycle, with-reader
    /// and overhead [default: 1, 2 and twice the cores]
    #[arg(long, value_delimiter = ',', value_name = "N,N,..")]
    threads: Vec<usize>,

    /// Length of each measured run, with its unit: 200ms, 1s, 500us [default: 200ms; --quick: 20ms]
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    duration: Option<Duration>,

    /// Length of each row's warm-up run, with its unit [default: 100ms; --quick: 5ms]
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    warmup: Option<Duration>,

    /// Measured runs per row and thread count; the tables give their median, min
    /// and max [default: 3; --quick: 2]; sequential makes 10 times as many
    #[arg(long, value_name = "N")]
    reps: Option<usize>,

    /// Rows to measure [default: all]
    #[arg(long, value_delimiter = ',', ignore_case = true, value_name = "ROW,..")]
    strategies: Vec<Row>,

    /// Workloads to run, the strategies' and the libraries' (one-series,
    /// many-series, lookup) [default: all]
    #[arg(long, value_delimiter = ',', value_name = "WORKLOAD,..")]
    workloads: Vec<AnyWorkload>,

    /// Folder for table.txt, results.json and the plots
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,

    /// A short version of everything (a few seconds): 20 ms runs, 2 of each
    #[arg(long)]
    quick: bool,

    /// Busy work per simulated request (overhead, sequential, concurrent), in µs
    #[arg(long, default_value_t = 100, value_name = "US")]
    work_us: u64,

    /// Snapshots per second of with-reader's reader, one table each
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1_000], value_name = "HZ,..")]
    reader_hz: Vec<u32>,

    /// Threads of the concurrent and high-frequency scenarios
    #[arg(long, default_value_t = 10, value_name = "N")]
    concurrent_threads: usize,

    /// Threads of the stress scenario
    #[arg(long, default_value_t = 128, value_name = "N")]
    stress_threads: usize,

    /// Skip the SVG plots
    #[arg(long)]
    no_plots: bool,

    /// Testing the report: adds a fake mismatch to every Nth run (0: never)
    #[arg(long, hide = true, default_value_t = 0)]
    fake_mismatch_every: usize,
}

/// A `--workloads` value: a strategy workload or a library one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnyWorkload {
    /// The strategy comparison's.
    Strategy(Workload),
    /// The library comparison's.
    Library(LibraryWorkload),
    /// The library comparison's operations: scrape, accuracy, memory, churn.
    Operation(operations::Listed),
}

impl ValueEnum for AnyWorkload {
    fn value_variants<'a>() -> &'a [Self] {
        use std::sync::OnceLock;
        static ALL: OnceLock<Vec<AnyWorkload>> = OnceLock::new();
        ALL.get_or_init(|| {
            Workload::ALL
                .into_iter()
                .map(AnyWorkload::Strategy)
                .chain(LibraryWorkload::ALL.into_iter().map(AnyWorkload::Library))
                .chain(operations::ALL.into_iter().map(AnyWorkload::Operation))
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            AnyWorkload::Strategy(w) => w.to_possible_value(),
            AnyWorkload::Library(w) => w.to_possible_value(),
            AnyWorkload::Operation(o) => Some(PossibleValue::new(o.name).help(o.help)),
        }
    }
}

/// The units a duration flag accepts.
const UNITS: &str = "s, ms, us (or µs)";

/// `200ms`, `1.5s`, `250us`: a number and its unit. A bare number is an
/// error: `5` could mean 5 s as well as 5 ms.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 200ms or 1s (units: {UNITS})"))?;
    let secs = match unit.trim() {
        "" => {
            return Err(format!(
                "'{s}' has no unit: write {s}ms or {s}s (units: {UNITS})"
            ))
        }
        "ms" => n / 1e3,
        "s" => n,
        "us" | "µs" => n / 1e6,
        other => return Err(format!("unknown unit '{other}' (units: {UNITS})")),
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err("a duration must be positive".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The noise calibration's name for the library workloads (one-series,
/// many-series, lookup), timed as one table.
const LIBRARY_TABLE: &str = "library workloads";
/// The same for the library operations (scrape, accuracy, memory, churn).
const OPERATIONS_TABLE: &str = "library operations";

/// The largest thread count a run accepts (`different-metrics` gives each
/// thread two modes of its own, in two alternating ranges of u16 modes).
const MAX_THREADS: usize = 16_384;

fn main() -> ExitCode {
    let started = Instant::now();
    let argv: Vec<String> = std::env::args().collect();
    if let Some(code) = operations::main_if_child(&argv) {
        return code;
    }
    let args = Args::parse();
    let cores = machine::cores();

    let threads = if args.threads.is_empty() {
        let mut t = vec![1, 2, 2 * cores];
        t.sort_unstable();
        t.dedup();
        t
    } else {
        args.threads.clone()
    };
    let counts = [args.concurrent_threads, args.stress_threads];
    if let Some(bad) = threads
        .iter()
        .chain(&counts)
        .find(|&&t| t == 0 || t > MAX_THREADS)
    {
        eprintln!("error: thread counts must be 1 to {MAX_THREADS}, not {bad}");
        return ExitCode::from(64);
    }
    if args.reader_hz.contains(&0) || args.reps == Some(0) {
        eprintln!("error: --reader-hz and --reps must be positive");
        return ExitCode::from(64);
    }
    let pick = |given: Option<Duration>, quick: u64, default: u64| {
        given.unwrap_or(Duration::from_millis(if args.quick {
            quick
        } else {
            default
        }))
    };
    let duration = pick(args.duration, 20, 200);
    let warmup = pick(args.warmup, 5, 100);
    let reps = args.reps.unwrap_or(if args.quick { 2 } else { 3 });
    let rows: Vec<Row> = if args.strategies.is_empty() {
        Row::STRATEGIES.into_iter().chain(Row::PEERS).collect()
    } else {
        args.strategies.clone()
    };
    let workloads: Vec<Workload> = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        Workload::ALL
            .into_iter()
            .filter(|w| args.workloads.contains(&AnyWorkload::Strategy(*w)))
            .collect()
    };
    let library_settings = {
        let mut s = libraries::Settings::new(
            threads.clone(),
            args.quick,
            args.duration,
            args.warmup,
            args.reps,
        );
        if !args.workloads.is_empty() {
            s.workloads
                .retain(|w| args.workloads.contains(&AnyWorkload::Library(*w)));
        }
        s
    };
    let operations: Vec<operations::Listed> = operations::ALL
        .into_iter()
        .filter(|o| {
            args.workloads.is_empty() || args.workloads.contains(&AnyWorkload::Operation(*o))
        })
        .collect();

    let mut machine = Machine::detect();
    let work_iters = if workloads.iter().any(|w| {
        matches!(
            w,
            Workload::Overhead | Workload::Sequential | Workload::Concurrent
        )
    }) {
        calibrate(Duration::from_micros(args.work_us))
    } else {
        0
    };
    let env = Env {
        work_iters,
        sequential_requests: 50,
    };

    // The plan: each case with its thread counts, rows and repetitions.
    let mut cases = Vec::new();
    for &workload in &workloads {
        match workload {
            Workload::WithReader => cases.extend(args.reader_hz.iter().map(|&hz| Case {
                workload,
                reader_hz: Some(hz),
            })),
            Workload::Stress => cases.push(Case {
                workload,
                reader_hz: Some(STRESS_READER_HZ),
            }),
            _ => cases.push(Case {
                workload,
                reader_hz: None,
            }),
        }
    }
    let plan: Vec<(Case, usize, Vec<Row>, usize)> = cases
        .iter()
        .flat_map(|&case| {
            let (counts, case_reps) = match case.workload {
                Workload::Sequential => (vec![1], reps * 10),
                Workload::Concurrent | Workload::HighFrequency => {
                    (vec![args.concurrent_threads], reps)
                }
                Workload::Stress => (vec![args.stress_threads], reps),
                _ => (threads.clone(), reps),
            };
            let case_rows = case.rows(&rows);
            counts
                .into_iter()
                .map(move |t| (case, t, case_rows.clone(), case_reps))
        })
        .filter(|(_, _, r, _)| !r.is_empty())
        .collect();

    // The plan in milliseconds: every run's planned length plus the fixed
    // costs estimated here (thread starts and joins, the accounting check,
    // the calibration between tables), so the ETA counts time, not runs.
    let progress = Progress::new();
    if let Err(e) = progress::catch_interrupt() {
        eprintln!("warning: Ctrl-C will end the run without writing anything: {e}");
    }
    let calibration_started = Instant::now();
    std::hint::black_box(measure::spin(measure::NOISE_ITERS));
    let mut calibrations = vec![Calibration::take(0)];
    let calibration_ms = ms(calibration_started.elapsed()).max(1);
    let run_ms = |case: &Case, t: usize, run: Duration| -> u64 {
        let fixed = 1 + t as u64 / 25;
        if case.workload == Workload::Sequential {
            fixed + (env.sequential_requests * args.work_us).div_ceil(1_000)
        } else {
            fixed + ms(run)
        }
    };
    for (case, t, case_rows, case_reps) in &plan {
        let per_row = run_ms(case, *t, warmup) + *case_reps as u64 * run_ms(case, *t, duration);
        progress.plan(case_rows.len() as u64 * per_row + calibration_ms);
    }
    // A library run: its measured part plus the set-up of its series and
    // threads, estimated as one more run of the same length.
    let library_run_ms =
        2 * (library_settings.duration_ms as u64 + library_settings.warmup_ms as u64) + 5;
    if !library_settings.workloads.is_empty() {
        progress.plan(libraries::runs(&library_settings) as u64 * library_run_ms + calibration_ms);
    }
    for op in &operations {
        progress.plan((op.planned_ms)(args.quick));
    }
    if !operations.is_empty() {
        progress.plan(calibration_ms);
    }
    // Read before `suspend`, which holds the bar's state while it runs.
    let planned_s = progress.position().1 as f64 / 1e3;
    progress.suspend(|| {
        eprintln!(
            "measuring {} tables, about {planned_s:.0} s planned",
            plan.len()
        )
    });

    let mut points = Vec::new();
    let mut failures = Vec::new();
    let mut tables: Vec<(String, usize)> = Vec::new();
    let mut runs = 0usize;
    'tables: for (i, (case, t, case_rows, case_reps)) in plan.iter().enumerate() {
        let (case, t) = (*case, *t);
        if interrupted() {
            break;
        }
        tables.push((case.label(), t));
        let mut benches: Vec<_> = case_rows
            .iter()
            .map(|&row| (row, prepare(row, case, t, env)))
            .collect();
        for rep in 0..=*case_reps {
            for (row, bench) in &mut benches {
                if interrupted() {
                    calibrations.push(Calibration::take(i + 1));
                    break 'tables;
                }
                progress.message(format!(
                    "{} / {} / {}",
                    case.label(),
                    row.name(),
                    units::threads(t)
                ));
                let run_time = if rep == 0 { warmup } else { duration };
                let mut measured = bench.run(run_time);
                runs += 1;
                if args.fake_mismatch_every > 0 && runs.is_multiple_of(args.fake_mismatch_every) {
                    measured
                        .accounting
                        .mismatches
                        .push("fake mismatch (--fake-mismatch-every)".into());
                }
                if !measured.accounting.mismatches.is_empty() {
                    let failure = Failure {
                        case: case.label(),
                        row: row.name(),
                        threads: t,
                        run: if rep == 0 {
                            "warm-up".into()
                        } else {
                            format!("run {rep}")
                        },
                        mismatches: measured.accounting.mismatches.clone(),
                    };
                    progress.suspend(|| eprintln!("!!! ACCOUNTING MISMATCH: {failure}"));
                    failures.push(failure);
                }
                if rep > 0 {
                    points.push(Point::new(&case, *row, t, rep - 1, measured, cores));
                }
                progress.advance(run_ms(&case, t, run_time));
            }
        }
        calibrations.push(Calibration::take(i + 1));
        progress.advance(calibration_ms);
    }
    let strategy_tables = tables.len();
    // The library's workloads and operations are one table each for the
    // noise calibration: timed before (the strategies' last calibration)
    // and after each.
    let library_settings_peers = library_settings.peers.clone();
    let library = (!library_settings.workloads.is_empty() && !interrupted()).then(|| {
        tables.push((LIBRARY_TABLE.into(), 0));
        let l = libraries::run_all(
            library_settings,
            cores,
            |label| {
                progress.message(label.to_string());
                progress.advance(library_run_ms);
            },
            |f| {
                progress.suspend(|| eprintln!("!!! ACCOUNTING MISMATCH: {}", library_failure(f)));
            },
            interrupted,
            args.fake_mismatch_every,
        );
        calibrations.push(Calibration::take(tables.len()));
        progress.advance(calibration_ms);
        l
    });
    if let Some(l) = &library {
        failures.extend(l.measured.failures.iter().map(library_failure));
    }
    let operations = (!operations.is_empty() && !interrupted()).then(|| {
        tables.push((OPERATIONS_TABLE.into(), 0));
        let ops = operations::run(
            &operations,
            &library_settings_peers,
            args.quick,
            &mut |label| progress.message(label.to_string()),
            &mut |op| progress.advance((op.planned_ms)(args.quick)),
            &interrupted,
        );
        for failure in ops.failures() {
            progress.suspend(|| eprintln!("!!! ACCOUNTING MISMATCH: {failure}"));
            failures.push(failure);
        }
        calibrations.push(Calibration::take(tables.len()));
        progress.advance(calibration_ms);
        ops
    });
    progress.finish();
    let complete = strategy_tables == plan.len() && !interrupted();

    machine.load_at_end = machine::load();
    let noise = Noise::of(calibrations, &tables);
    let mut cells = summarize(&points);
    mark_noisy(&mut cells, &noise);
    let results = Results {
        schema_version: SCHEMA_VERSION,
        tool: "lockfree-metrics-compare (benches/compare)",
        complete,
        command: shell_line(&argv),
        cargo_command: cargo_command(&argv),
        argv,
        machine,
        started_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(started.elapsed().as_secs()),
        wall_s: started.elapsed().as_secs_f64(),
        settings: Settings {
            quick: args.quick,
            duration_ms: duration.as_secs_f64() * 1e3,
            warmup_ms: warmup.as_secs_f64() * 1e3,
            reps,
            threads,
            rows: rows.iter().map(|r| r.name()).collect(),
            workloads: workloads.iter().map(|w| w.name()).collect(),
            reader_hz: args.reader_hz.clone(),
            concurrent_threads: args.concurrent_threads,
            stress_threads: args.stress_threads,
            work_us: args.work_us,
            work_iters,
            sequential_requests: env.sequential_requests,
        },
        noise,
        headline: headline(&points, &cells),
        accounting_failures: failures,
        cells,
        points,
        library,
        operations,
    };
    // Every table of the report, in order: the strategy tables, then the
    // library comparison's; table.txt and report.html show them all.
    let mut sections: Vec<Section> = tables::sections(&results, &cases, !args.no_plots);
    // Which option to use when, one line each, from the library runs.
    let mut recommendation: Vec<String> = Vec::new();
    if let Some(l) = &results.library {
        let plots = if args.no_plots {
            Vec::new()
        } else {
            let footer = format!("{} | {}", results.machine.one_line(), results.command);
            fs::create_dir_all(&args.out)
                .map_err(|e| e.to_string())
                .and_then(|()| l.plot(&args.out, cores, &footer))
                .unwrap_or_else(|e| {
                    eprintln!("error: library plots: {e}");
                    Vec::new()
                })
        };
        sections.extend(l.sections(&plots));
        recommendation = l.recommendation.lines();
    }
    if let Some(ops) = &results.operations {
        sections.extend(ops.sections());
        recommendation.extend(ops.recommendation());
    }
    let text = render(&results, &sections, &recommendation);
    print!("{text}");

    if let Err(e) = write_outputs(&args, &results, &cases, &sections, &recommendation, &text) {
        eprintln!("error: writing to {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "wrote {} (table.txt, results.json, report.html{}) in {:.1} s",
        args.out.display(),
        if args.no_plots { "" } else { ", *.svg" },
        results.wall_s
    );
    if !results.accounting_failures.is_empty() {
        eprint!("{}", failure_banner(&results.accounting_failures, 10));
        ExitCode::from(2)
    } else if !results.complete {
        eprintln!("interrupted: wrote what was measured (results.json: \"complete\": false)");
        ExitCode::from(INTERRUPTED_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_outputs(
    args: &Args,
    results: &Results,
    cases: &[Case],
    sections: &[Section],
    recommendation: &[String],
    text: &str,
) -> std::io::Result<()> {
    fs::create_dir_all(&args.out)?;
    fs::write(args.out.join("table.txt"), text)?;
    let json = serde_json::to_string_pretty(results).map_err(std::io::Error::other)?;
    fs::write(args.out.join("results.json"), json)?;
    if !args.no_plots {
        charts::all(&args.out, results, cases).map_err(std::io::Error::other)?;
    }
    html::write(&args.out, results, sections, recommendation)
}

/// One argument as a POSIX shell reads it back: as is when plain, else in
/// single quotes.
fn shell_word(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=.,/:+".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// The argv as the command line that ran.
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A library run's mismatch as the report lists failures.
fn library_failure(f: &libraries::shapes::Failure) -> Failure {
    Failure {
        case: f.shape.clone(),
        row: f.peer,
        threads: f.threads,
        run: format!("{} ({:?} path)", f.run, f.path),
        mismatches: f.mismatches.clone(),
    }
}

/// The run as a cargo command a reader can paste.
fn cargo_command(argv: &[String]) -> String {
    let mut command = "cargo run --release -p lockfree-metrics-compare".to_string();
    if argv.len() > 1 {
        command.push_str(" -- ");
        command.push_str(&shell_line(&argv[1..]));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("50us"), Ok(Duration::from_micros(50)));
        assert_eq!(parse_duration("50µs"), Ok(Duration::from_micros(50)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
        // A bare number is refused, and the answer names the units.
        let e = parse_duration("5").unwrap_err();
        assert!(e.contains("no unit") && e.contains(UNITS), "{e}");
        assert!(parse_duration("5m").unwrap_err().contains(UNITS));
        assert!(Args::try_parse_from(["compare", "--duration", "5"]).is_err());
    }

    #[test]
    fn the_flags_parse() {
        let a = Args::try_parse_from([
            "compare",
            "--threads",
            "1,2,4,16,64",
            "--strategies",
            "sharded,FineGrained",
            "--workloads",
            "same-metric,with-reader",
            "--quick",
        ])
        .unwrap();
        assert_eq!(a.threads, [1, 2, 4, 16, 64]);
        assert_eq!(a.strategies, [Row::Sharded, Row::FineGrained]);
        assert_eq!(
            a.workloads,
            [
                AnyWorkload::Strategy(Workload::SameMetric),
                AnyWorkload::Strategy(Workload::WithReader)
            ]
        );
        assert!(a.quick);
        let b =
            Args::try_parse_from(["compare", "--workloads", "one-series,lookup,overhead"]).unwrap();
        assert_eq!(
            b.workloads,
            [
                AnyWorkload::Library(LibraryWorkload::OneSeries),
                AnyWorkload::Library(LibraryWorkload::Lookup),
                AnyWorkload::Strategy(Workload::Overhead)
            ]
        );
        assert_eq!(
            cargo_command(&["x".into(), "--out".into(), "a b".into()]),
            "cargo run --release -p lockfree-metrics-compare -- --out 'a b'"
        );
        assert_eq!(
            shell_line(&[
                "target/release/compare".into(),
                "--out".into(),
                "it's".into()
            ]),
            r"target/release/compare --out 'it'\''s'"
        );
    }
}
