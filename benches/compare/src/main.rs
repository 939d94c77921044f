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
//!
//! One pipeline: the flags say what each part is asked; the three parts
//! are each planned, run and checked the same way ([`part::Part`]); their
//! data becomes `results.json`, and the outputs are written from it.
//!
//! | module | what |
//! |---|---|
//! | `strategies` | the strategy tables: workloads, one bench per row, tables, plots |
//! | `libraries` | the library workloads: one adapter per contender, shapes, runs, recommendation, tables, plots |
//! | `operations` | scrape, accuracy, memory, churn: one file each behind one trait; child processes |
//! | `part` | what the three parts share: the plan, the run, the failures, the calibrations between tables |
//! | `results`, `failure` | the data of `results.json`: every run, the summaries, the noise, the failures |
//! | `verdict` | what to use when: the lines the report opens with, derived from the library cells |
//! | `text`, `html`, `section` | table.txt and report.html, from the parts' sections |
//! | `units`, `svg`, `measure`, `machine`, `progress` | leaves: number formats, plot helpers, timing, the machine, the bar |

mod failure;
mod html;
mod libraries;
mod machine;
mod measure;
mod operations;
mod part;
mod progress;
mod results;
mod section;
mod strategies;
mod svg;
mod text;
mod units;
mod verdict;

use std::{
    fs,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::{builder::PossibleValue, Parser, ValueEnum};

use crate::{
    libraries::{Libraries, LibraryWorkload},
    machine::Machine,
    operations::{Listed, Operations},
    part::{Ctx, Part},
    progress::{interrupted, Progress, INTERRUPTED_EXIT},
    results::{headline, mark_noisy, summarize, Noise, Results, SCHEMA_VERSION},
    section::Section,
    strategies::{
        bench::Case,
        charts, tables,
        workloads::{Contender, Workload},
        Strategies,
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
    strategies: Vec<Contender>,

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

/// The largest thread count a run accepts (`different-metrics` gives each
/// thread two modes of its own, in two alternating ranges of u16 modes).
const MAX_THREADS: usize = 16_384;

impl Args {
    /// What the flags ask of each part: the strategy tables, the library
    /// workloads and the operations (each empty when not selected); an
    /// error for a flag out of range.
    fn asked(
        &self,
        cores: usize,
    ) -> Result<(strategies::Asked, libraries::Settings, Vec<Listed>), String> {
        let threads = if self.threads.is_empty() {
            let mut t = vec![1, 2, 2 * cores];
            t.sort_unstable();
            t.dedup();
            t
        } else {
            self.threads.clone()
        };
        let counts = [self.concurrent_threads, self.stress_threads];
        if let Some(bad) = threads
            .iter()
            .chain(&counts)
            .find(|&&t| t == 0 || t > MAX_THREADS)
        {
            return Err(format!(
                "thread counts must be 1 to {MAX_THREADS}, not {bad}"
            ));
        }
        if self.reader_hz.contains(&0) || self.reps == Some(0) {
            return Err("--reader-hz and --reps must be positive".into());
        }
        let pick = |given: Option<Duration>, quick: u64, default: u64| {
            given.unwrap_or(Duration::from_millis(if self.quick {
                quick
            } else {
                default
            }))
        };
        let chosen = |w: AnyWorkload| self.workloads.is_empty() || self.workloads.contains(&w);
        let strategies = strategies::Asked {
            quick: self.quick,
            duration: pick(self.duration, 20, 200),
            warmup: pick(self.warmup, 5, 100),
            reps: self.reps.unwrap_or(if self.quick { 2 } else { 3 }),
            threads: threads.clone(),
            rows: if self.strategies.is_empty() {
                Contender::STRATEGIES
                    .into_iter()
                    .chain(Contender::PEERS)
                    .collect()
            } else {
                self.strategies.clone()
            },
            workloads: Workload::ALL
                .into_iter()
                .filter(|w| chosen(AnyWorkload::Strategy(*w)))
                .collect(),
            reader_hz: self.reader_hz.clone(),
            concurrent_threads: self.concurrent_threads,
            stress_threads: self.stress_threads,
            work_us: self.work_us,
        };
        let mut library =
            libraries::Settings::new(threads, self.quick, self.duration, self.warmup, self.reps);
        library
            .workloads
            .retain(|w| chosen(AnyWorkload::Library(*w)));
        let operations = operations::ALL
            .into_iter()
            .filter(|o| chosen(AnyWorkload::Operation(*o)))
            .collect();
        Ok((strategies, library, operations))
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let argv: Vec<String> = std::env::args().collect();
    if let Some(code) = operations::main_if_child(&argv) {
        return code;
    }
    let args = Args::parse();
    let cores = machine::cores();
    let (asked, library, listed) = match args.asked(cores) {
        Ok(asked) => asked,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(64);
        }
    };
    let mut machine = Machine::detect();
    // The plan: the three parts, each planned, run and checked the same way.
    let mut strategies = Strategies::plan(asked, cores);
    let mut operations = Operations::new(listed, library.peers.clone(), args.quick);
    let mut libraries = Libraries::new(library, cores);
    let progress = Progress::new();
    if let Err(e) = progress::catch_interrupt() {
        eprintln!("warning: Ctrl-C will end the run without writing anything: {e}");
    }
    let mut ctx = Ctx::new(progress, args.fake_mismatch_every);
    let tables = strategies.tables();
    let mut parts: [&mut dyn Part; 3] = [&mut strategies, &mut libraries, &mut operations];
    for part in &parts {
        ctx.progress.plan(part.planned_ms(ctx.calibration_ms));
    }
    // Read before `suspend`, which holds the bar's state while it runs.
    let planned_s = ctx.progress.position().1 as f64 / 1e3;
    ctx.progress
        .suspend(|| eprintln!("measuring {tables} tables, about {planned_s:.0} s planned"));
    for part in &mut parts {
        part.run(&mut ctx);
    }
    ctx.progress.finish();

    machine.load_at_end = machine::load();
    let cases = strategies.cases.clone();
    let results = collect(
        argv, started, machine, strategies, libraries, operations, ctx,
    );
    report(&args, &results, &cases)
}

/// Everything measured, as results.json holds it.
fn collect(
    argv: Vec<String>,
    started: Instant,
    machine: Machine,
    strategies: Strategies,
    libraries: Libraries,
    operations: Operations,
    ctx: Ctx,
) -> Results {
    let complete = strategies.complete() && !interrupted();
    let noise = Noise::of(ctx.calibrations, &ctx.tables);
    let mut cells = summarize(&strategies.points);
    mark_noisy(&mut cells, &noise);
    let mut verdict = verdict::verdict(
        libraries.results.as_ref().map_or(&[], |l| &l.cells),
        operations
            .results
            .as_ref()
            .and_then(|o| o.accuracy.as_ref()),
    );
    if noise.noisy {
        verdict.note_noise(&noise.line());
    }
    Results {
        verdict,
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
        settings: strategies.settings(),
        noise,
        headline: headline(&strategies.points, &cells),
        accounting_failures: ctx.failures,
        cells,
        points: strategies.points,
        library: libraries.results,
        operations: operations.results,
    }
}

/// The outputs: every part's sections and recommendation, table.txt on
/// stdout and in `--out` with results.json, report.html and the plots;
/// the exit status (2 on any accounting failure).
fn report(args: &Args, results: &Results, cases: &[Case]) -> ExitCode {
    // Every table of the report, in order: the strategy tables, then the
    // library comparison's; table.txt and report.html show them all.
    let mut sections: Vec<Section> = tables::sections(results, cases, !args.no_plots);
    // Which option to use when, one line each, from the library runs.
    let mut recommendation: Vec<String> = Vec::new();
    if let Some(l) = &results.library {
        let plots = if args.no_plots {
            Vec::new()
        } else {
            let footer = format!("{} | {}", results.machine.one_line(), results.command);
            fs::create_dir_all(&args.out)
                .map_err(|e| e.to_string())
                .and_then(|()| l.plot(&args.out, results.machine.cores, &footer))
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
    let text = render(results, &sections, &recommendation);
    print!("{text}");

    if let Err(e) = write_outputs(args, results, cases, &sections, &recommendation, &text) {
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
        assert_eq!(a.strategies, [Contender::Sharded, Contender::FineGrained]);
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
