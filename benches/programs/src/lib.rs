//! Measuring programs for `lockfree-metrics`, one binary each
//! (`cargo run --release -p lockfree-metrics-programs --bin NAME -- --help`):
//!
//! | program | what it measures |
//! |---|---|
//! | `soak` | resident memory under thread churn with a steady reader (`papers/memory-soak.md`) |
//! | `precision` | percentile error, resident memory and read cost by HDR precision (`papers/precision.md`) |
//! | `snapshot_p50` | a snapshot's cost while threads record |
//! | `windows_read` | a read's cost once every throughput window is full |
//! | `transition_storm` | the transition log under a storm of mode changes |
//! | `facade_cost` | a counter increment through the `metrics` facade against a held handle |
//! | `instructions` | one operation under callgrind (`benches/callgrind.sh`, `papers/record-cost.md`) |
//! | `registry_bench` | the registry: records, snapshots, memory, lookups, cold series (`papers/registry.md`) |
//! | `registry_cycles` | series that come and go: memory and time per cycle, one large eviction (`papers/registry.md`) |
//! | `ring_measure` | `Ring` against the other strategies: record and read cost, staleness, memory (`papers/ring.md`) |
//! | `otlp_push` | the cost of one OTLP push of many series (`papers/otlp.md`) |
//! | `classic_buckets` | `histogram_quantile`'s error and the bytes per series through classic bucket layouts (README, "Which histograms to query") |
//! | `registry_rss` | a registry histogram series' bytes, by accounting and by `RssAnon`, after many series are recorded, and what a snapshot holds (`papers/registry.md`) |
//!
//! This library holds what they share with the tests and benchmarks, each
//! in one file: the request cycle (`tests/support/cycles.rs`), resident
//! memory (`tests/support/resident.rs`) and the benchmarks' inputs
//! (`benches/support/inputs.rs`).

#[path = "../../../tests/support/cycles.rs"]
pub mod cycles;
#[path = "../../support/inputs.rs"]
pub mod inputs;
#[path = "../../../tests/support/resident.rs"]
pub mod resident;

/// Parses the program's positional arguments, or prints its usage: `--help`
/// or `-h` prints `usage` and exits 0; an unknown flag or a value that does
/// not parse prints what was wrong and the usage, and exits 2. Never panics.
///
/// `names` are the positional arguments in order; each parser turns one
/// into a value and says why it could not.
pub fn positional(usage: &str, names: &[&str]) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{usage}");
        std::process::exit(0);
    }
    if let Some(flag) = args
        .iter()
        .find(|a| a.starts_with('-') && a.parse::<f64>().is_err())
    {
        usage_error(usage, &format!("unknown flag {flag}"));
    }
    if args.len() > names.len() {
        usage_error(
            usage,
            &format!(
                "at most {} arguments ({}), got {}",
                names.len(),
                names.join(", "),
                args.len()
            ),
        );
    }
    args
}

/// Parses positional argument `i` (named `name`) of `args`, or `default`
/// when it is absent; a value that does not parse exits 2 with the usage.
pub fn arg<T: std::str::FromStr>(
    usage: &str,
    args: &[String],
    i: usize,
    name: &str,
    default: T,
) -> T
where
    T::Err: std::fmt::Display,
{
    match args.get(i) {
        None => default,
        Some(s) => s
            .parse()
            .unwrap_or_else(|e| usage_error(usage, &format!("{name}: {s:?}: {e}"))),
    }
}

/// Prints `what` and the usage to stderr, and exits 2.
pub fn usage_error(usage: &str, what: &str) -> ! {
    eprintln!("error: {what}\n\n{usage}");
    std::process::exit(2);
}
