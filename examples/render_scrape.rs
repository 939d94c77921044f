//! The cost of one Prometheus text scrape of a registry of many histogram
//! series (`papers/registry.md`, "Rendering a scrape"): 10,000 series
//! `scrape_latency_seconds{series="0".."9999"}`, each first given 200
//! values log-uniform from 1 µs to 1 s, then two writer threads record
//! into random series while the renders run.
//!
//! Each path runs in a child process of its own, the paths alternating
//! round by round, so that a shared machine's load falls on both and no
//! path reuses memory another freed. A child reports each render's wall
//! time (and, for the snapshot path, the snapshot's share) and its peak
//! resident growth over the registry's setup (`VmHWM - VmRSS` before the
//! first render); the parent prints medians and `[min-max]` over rounds.
//!
//! - `snapshot`: `render(&registry.snapshot(), ..)`, every series'
//!   histogram held at once, then the model and the encoder.
//! - `live`: `render_registry(&registry, ..)`, each series read and
//!   reduced to its buckets one at a time.
//!
//! - `--prometheus-buckets`: Prometheus' 11 default buckets instead of
//!   ours (the baseline keeps its own, the default).
//! - `baseline`: with `--baseline <exe>`, an earlier build's `snapshot`
//!   path (the figures before a change, in the same run).
//!
//! `cargo run --release --example render_scrape -- [--rounds 5] [--renders 3] [--series 10000] [--baseline <exe>]`

use std::{
    hint::black_box,
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Instant,
};

use clap::Parser;
use lockfree_metrics::{
    export::prometheus::{self, Buckets, Format, RenderOpts},
    registry::Registry,
};

#[derive(Parser, Debug)]
struct Args {
    /// Rounds of (snapshot child, live child).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Renders per child.
    #[arg(long, default_value_t = 3)]
    renders: usize,
    /// Histogram series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// An earlier build of this example: its `snapshot` path is run too,
    /// as `baseline`, interleaved with this build's.
    #[arg(long)]
    baseline: Option<std::path::PathBuf>,
    /// Prometheus' 11 default buckets (0.005 to 10 s) instead of ours
    /// (1-2-5 per decade, 38 over 1 ns to 1 h).
    #[arg(long)]
    prometheus_buckets: bool,
    /// Run one path in this process (used by the parent).
    #[arg(long)]
    child: Option<String>,
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A small xorshift: log-uniform values from 1 µs to 1 s.
struct Values(u64);

impl Values {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let unit = (self.0 >> 11) as f64 / (1_u64 << 53) as f64;
        (1e3 * 1e6_f64.powf(unit)) as u64
    }
}

fn child(path: &str, args: &Args) -> ExitCode {
    let registry = Registry::new();
    let family = registry
        .histogram_family("scrape_latency_seconds", &["series"], None)
        .expect("valid name");
    let handles: Vec<_> = (0..args.series)
        .map(|i| family.with(&[&i.to_string()]).expect("one value"))
        .collect();
    let mut values = Values(0x2545_F491_4F6C_DD1D);
    for h in &handles {
        for _ in 0..200 {
            h.record(values.next());
        }
    }
    let stop = AtomicBool::new(false);
    let opts = if args.prometheus_buckets {
        RenderOpts::default().buckets(Buckets::explicit(&[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]))
    } else {
        RenderOpts::default()
    };
    let mut lines = Vec::new();
    thread::scope(|s| {
        for t in 0..2_u64 {
            let (handles, stop) = (&handles, &stop);
            s.spawn(move || {
                let mut values = Values(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                while !stop.load(Ordering::Relaxed) {
                    let i = values.0 as usize % handles.len();
                    handles[i].record(values.next());
                }
            });
        }
        let base = status_kib("VmRSS:");
        for _ in 0..args.renders {
            let start = Instant::now();
            let (body, snap_ms) = match path {
                "snapshot" => {
                    let snapshot = registry.snapshot();
                    let snap_ms = start.elapsed().as_secs_f64() * 1e3;
                    (
                        prometheus::render(&snapshot, Format::Text, &opts).0,
                        snap_ms,
                    )
                }
                _ => (
                    prometheus::render_registry(&registry, Format::Text, &opts).0,
                    f64::NAN,
                ),
            };
            let ms = start.elapsed().as_secs_f64() * 1e3;
            lines.push(format!("{ms} {snap_ms} {}", black_box(body).len()));
        }
        let peak = status_kib("VmHWM:").saturating_sub(base);
        lines.push(format!("peak {peak}"));
        stop.store(true, Ordering::Relaxed);
    });
    for l in lines {
        println!("{l}");
    }
    ExitCode::SUCCESS
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.child {
        return child(path, &args);
    }
    let exe = std::env::current_exe().expect("own path");
    let mut paths = vec!["snapshot", "live"];
    if args.baseline.is_some() {
        paths.insert(0, "baseline");
    }
    // Per path: render ms, snapshot ms, peak MiB (one per child), body bytes.
    let mut figures: Vec<_> = paths
        .iter()
        .map(|_| (Vec::new(), Vec::new(), Vec::new(), 0_usize))
        .collect();
    for _ in 0..args.rounds {
        for (p, path) in paths.iter().enumerate() {
            let (exe, child) = match (path, &args.baseline) {
                (&"baseline", Some(b)) => (b.clone(), "snapshot"),
                _ => (exe.clone(), *path),
            };
            let out = Command::new(&exe)
                .args(["--child", child, "--renders", &args.renders.to_string()])
                .args(["--series", &args.series.to_string()])
                .args(args.prometheus_buckets.then_some("--prometheus-buckets"))
                .output()
                .expect("child runs");
            if !out.status.success() {
                eprintln!("{path}: {}", String::from_utf8_lossy(&out.stderr));
                return ExitCode::FAILURE;
            }
            let f = &mut figures[p];
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let w: Vec<&str> = line.split(' ').collect();
                match w[..] {
                    ["peak", kib] => f.2.push(kib.parse::<f64>().unwrap_or(0.0) / 1024.0),
                    [ms, snap, len] => {
                        f.0.push(ms.parse().unwrap_or(f64::NAN));
                        f.1.push(snap.parse().unwrap_or(f64::NAN));
                        f.3 = len.parse().unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
    }
    println!(
        "{} histogram series, 2 writers, {} rounds x {} renders (text 0.0.4, {} buckets)",
        args.series,
        args.rounds,
        args.renders,
        if args.prometheus_buckets {
            "Prometheus' 11"
        } else {
            "default"
        }
    );
    for (path, (ms, snap, peak, len)) in paths.iter().zip(&mut figures) {
        let range = |v: &mut Vec<f64>| {
            let m = median(v);
            format!("{m:.1} [{:.1}-{:.1}]", v[0], v[v.len() - 1])
        };
        let snap = if snap.iter().all(|s| s.is_nan()) {
            "-".to_string()
        } else {
            range(snap)
        };
        println!(
            "{path:>9}: render ms {}, of which snapshot ms {snap}, peak MiB {}, body {len} B",
            range(ms),
            range(peak)
        );
    }
    ExitCode::SUCCESS
}
