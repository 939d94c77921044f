//! A registry histogram series' memory, by the registry's own accounting
//! (`Stats::series_bytes`) and by the anonymous resident set (`RssAnon`),
//! after threads record into many series, and what a snapshot of them
//! holds on top (`papers/registry.md`, "Second generation").
//!
//! SERIES series of one family (default options: 1 ns to 1 h, 2
//! significant digits); THREADS threads each record SERIES × RECORDS /
//! THREADS values into series chosen uniformly at random, values
//! log-uniform from 1 µs to 10 s (the comparison's distribution), so a
//! series gets about RECORDS values from every thread that writes it.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin registry_rss [SERIES] [RECORDS] [THREADS]`

use lockfree_metrics::registry::Registry;
use lockfree_metrics_programs::{arg, positional, resident::anon_rss_kib, usage_error};
use rand::{rngs::SmallRng, Rng as _, SeedableRng as _};

const USAGE: &str = "usage: registry_rss [SERIES] [RECORDS] [THREADS]

Bytes per registry histogram series, by the registry's accounting and by
RssAnon, after THREADS threads (default 4) record about RECORDS values
(default 50) into each of SERIES series (default 10000), chosen uniformly,
values log-uniform from 1 us to 10 s; then what a snapshot holds on top.";

fn main() {
    let args = positional(USAGE, &["SERIES", "RECORDS", "THREADS"]);
    let series: usize = arg(USAGE, &args, 0, "SERIES", 10_000);
    let records: usize = arg(USAGE, &args, 1, "RECORDS", 50);
    let threads: usize = arg(USAGE, &args, 2, "THREADS", 4);
    if series == 0 || threads == 0 {
        usage_error(USAGE, "SERIES and THREADS must be at least 1");
    }
    let registry = Registry::new();
    let family = registry
        .histogram_family("latency", &["series"], None)
        .expect("a fresh registry takes one family");
    let labels: Vec<String> = (0..series).map(|i| i.to_string()).collect();
    let handles: Vec<_> = labels
        .iter()
        .map(|l| {
            family
                .with(&[l.as_str()])
                .expect("within the default limits")
        })
        .collect();
    let empty = registry.stats().series_bytes;
    let before = anon_rss_kib();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let handles = &handles;
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(t as u64);
                for _ in 0..series * records / threads {
                    let h = &handles[rng.random_range(0..handles.len())];
                    // 1 µs to 10 s, log-uniform, in nanoseconds.
                    h.record((1e3 * 10f64.powf(7.0 * rng.random::<f64>())) as u64);
                }
            });
        }
    });
    let recorded = anon_rss_kib();
    let stats = registry.stats();
    let per = |kib: u64| kib.saturating_mul(1024) / series as u64;
    println!(
        "{series} series, about {records} records each from {threads} threads ({} promoted: more than one lane)",
        stats.promoted
    );
    println!(
        "  accounting: {} B a series ({} B before any record)",
        (stats.series_bytes + stats.shard_bytes) / series,
        empty / series
    );
    println!(
        "  RssAnon growth across the records: {} B a series",
        per(recorded.saturating_sub(before))
    );
    let snapshot = registry.snapshot();
    let held = anon_rss_kib();
    println!(
        "  a snapshot of them holds {} B a series more ({} series in it)",
        per(held.saturating_sub(recorded)),
        snapshot.len()
    );
    drop(snapshot);
    println!(
        "  after it is dropped, RssAnon stays {} B a series above the records' (freed, kept by the allocator)",
        per(anon_rss_kib().saturating_sub(recorded))
    );
}
