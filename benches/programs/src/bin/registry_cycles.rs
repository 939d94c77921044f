//! Series that come and go (issue 21, items 8-10): resident memory and time
//! per 10,000 cycles, and the cost of one large eviction.
//!
//! - `family`: `with(new labels)` → `increment` → `remove`, on one
//!   family (item 8).
//! - `names`: a counter of a new name → `increment`, evicted by an idle
//!   sweep every 1,000 names (item 9).
//! - `evict`: `n` series of distinct names evicted by one `evict_idle`
//!   while another thread looks a counter up in a loop: the eviction's
//!   time, and the longest lookup meanwhile (the longest the index lock
//!   kept a lookup waiting; item 10).
//!
//! ```text
//! cargo run --release -p lockfree-metrics-programs --bin registry_cycles -- family 1000000
//! cargo run --release -p lockfree-metrics-programs --bin registry_cycles -- names 200000
//! cargo run --release -p lockfree-metrics-programs --bin registry_cycles -- evict 1000 4000 16000
//! ```

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::registry::Registry;
use lockfree_metrics_programs::{positional, resident, usage_error};

const USAGE: &str = "usage: registry_cycles [family [CYCLES] | names [NAMES] | evict [N...]]

Series that come and go: resident memory and time per 10,000 cycles of a
family's with -> increment -> remove (family, default 1000000), of names
created and evicted (names, default 200000), or one eviction of N series
while another thread looks up (evict, default 1000 4000 16000).";

fn report(cycles: u64, mut cycle: impl FnMut(u64)) {
    let start_kib = resident::vm_rss_kib();
    println!("cycles,rss_kib,rss_growth_kib,ms_per_10k");
    let mut at = Instant::now();
    for i in 0..cycles {
        cycle(i);
        if (i + 1) % 10_000 == 0 {
            let ms = at.elapsed().as_secs_f64() * 1e3;
            let rss = resident::vm_rss_kib();
            if (i + 1) % (cycles / 20).max(10_000) == 0 || i + 1 == 10_000 {
                println!("{},{rss},{},{ms:.1}", i + 1, rss.saturating_sub(start_kib),);
            }
            at = Instant::now();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        positional(USAGE, &[]);
    }
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        usage_error(USAGE, &format!("unknown flag {flag}"));
    }
    let what = args.first().map_or("family", String::as_str);
    let numbers: Vec<u64> = args[1.min(args.len())..]
        .iter()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|e| usage_error(USAGE, &format!("{a:?}: {e}")))
        })
        .collect();
    match what {
        "family" => {
            let registry = Registry::new();
            let family = registry.counter_family("cycle_total", &["id"]).unwrap();
            report(numbers.first().copied().unwrap_or(1_000_000), |i| {
                let id = i.to_string();
                family.with(&[&id]).unwrap().increment(1);
                registry.remove("cycle_total", &[("id", &id)]).unwrap();
            });
        }
        "names" => {
            let registry = Registry::builder().idle_timeout(Duration::ZERO).build();
            report(numbers.first().copied().unwrap_or(200_000), |i| {
                registry
                    .counter(&format!("name_{i}_total"), &[])
                    .unwrap()
                    .increment(1);
                if i % 1_000 == 999 {
                    registry.evict_idle();
                    registry.evict_idle();
                }
            });
            println!("series left: {}", registry.stats().series);
        }
        "evict" => {
            println!("series,evict_ms,lookups,longest_lookup_ms");
            for &n in &numbers {
                let registry = Registry::builder().idle_timeout(Duration::ZERO).build();
                // Each counted once, so that the first sweep notes a value.
                for i in 0..n {
                    registry
                        .counter(&format!("evict_{i}_total"), &[])
                        .unwrap()
                        .increment(1);
                }
                let probe = registry.counter("probe_total", &[]).unwrap();
                // The first sweep notes every value; the second evicts.
                registry.evict_idle();
                let stop = AtomicBool::new(false);
                let (longest_ns, lookups) = (AtomicU64::new(0), AtomicU64::new(0));
                let took = thread::scope(|s| {
                    s.spawn(|| {
                        while !stop.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            let _c = registry.counter("probe_total", &[]).unwrap();
                            let ns = t.elapsed().as_nanos() as u64;
                            longest_ns.fetch_max(ns, Ordering::Relaxed);
                            lookups.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    thread::sleep(Duration::from_millis(20));
                    let t = Instant::now();
                    let dropped = registry.evict_idle();
                    let took = t.elapsed();
                    stop.store(true, Ordering::Relaxed);
                    assert_eq!(dropped as u64, n, "every idle series evicted");
                    took
                });
                drop(probe);
                println!(
                    "{n},{:.1},{},{:.2}",
                    took.as_secs_f64() * 1e3,
                    lookups.load(Ordering::Relaxed),
                    longest_ns.load(Ordering::Relaxed) as f64 / 1e6
                );
            }
        }
        other => usage_error(
            USAGE,
            &format!("unknown case {other:?}: family, names or evict"),
        ),
    }
}
