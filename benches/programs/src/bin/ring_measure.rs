//! The figures of `papers/ring.md`: the five strategies side by side on
//! what the report's three lock-free directions differ in.
//!
//! - `record`: ns per `record_latency_ns` per thread at 1, 2 and 4
//!   threads, with no reader and with a reader snapshotting every 10 ms;
//!   `Ring+drainer` adds a thread calling `Ring::drain` every 20 µs (the
//!   background aggregator the design leaves to the program); `Ring,
//!   never full` has rings longer than the run, so it shows the ring path
//!   alone;
//! - `read`: `snapshot()` time after T threads (kept alive) recorded
//!   1,000 latencies each (the first read drains them in `Ring`), then
//!   again with nothing new;
//! - `memory`: the stated bytes per recording thread;
//! - `staleness`: a writer records queue depths 1, 2, 3, ... and
//!   publishes each one after its call returns; a reader compares the
//!   newest finished depth before its snapshot with the snapshot's
//!   `current`: records finished before a read began but not in it.
//!
//! Repetitions are interleaved (every strategy once per round) and the
//! median is reported; compare ratios within one run.
//!
//! `nice cargo run --release -p lockfree-metrics-programs --bin ring_measure -- [rounds]`

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{
    Atomic, Config, DefaultClock, FineGrained, GlobalLock, MetricsCollector, Ring, Sharded,
};

type Make = fn() -> Arc<dyn MetricsCollector>;

const STRATEGIES: [(&str, Make); 7] = [
    ("GlobalLock", || {
        Arc::new(GlobalLock::new(Config::default()))
    }),
    ("FineGrained", || {
        Arc::new(FineGrained::new(Config::default()))
    }),
    ("Atomic", || Arc::new(Atomic::new(Config::default()))),
    ("Sharded", || Arc::new(Sharded::new(Config::default()))),
    ("Ring", || Arc::new(Ring::new(Config::default()))),
    // The same, with a drainer thread in `record_cost` (see `drainer`).
    ("Ring+drainer", || Arc::new(Ring::new(Config::default()))),
    // Rings of 2^19 messages, more than a run's 400,000 records: the ring
    // path alone, never the overflow batch.
    ("Ring, never full", || {
        Arc::new(Ring::with_capacity(
            Config::default(),
            DefaultClock::new(),
            1 << 19,
        ))
    }),
];

/// Whether strategy `s` gets a drainer thread.
fn drainer(s: usize) -> bool {
    STRATEGIES[s].0 == "Ring+drainer"
}

/// The strategy `name` with depths up to 2^32 (staleness records growing
/// depths and must not clamp them).
fn deep(name: &str) -> Arc<dyn MetricsCollector> {
    let c = Config::builder()
        .max_queue_depth(lockfree_metrics::MAX_QUEUE_DEPTH_LIMIT)
        .build()
        .unwrap();
    match name {
        "GlobalLock" => Arc::new(GlobalLock::new(c)),
        "FineGrained" => Arc::new(FineGrained::new(c)),
        "Atomic" => Arc::new(Atomic::new(c)),
        "Sharded" => Arc::new(Sharded::new(c)),
        _ => Arc::new(Ring::new(c)),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per record per thread: `threads` threads record `per_thread`
/// latencies each; a reader snapshots every `read_every` if given.
fn record_cost(
    m: &Arc<dyn MetricsCollector>,
    threads: usize,
    read_every: Option<Duration>,
    ring: Option<Arc<Ring>>,
) -> f64 {
    const PER_THREAD: u64 = 400_000;
    let start = Arc::new(Barrier::new(threads + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = ring.map(|ring| {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                ring.drain();
                thread::sleep(Duration::from_micros(20));
            }
        })
    });
    let reader = read_every.map(|every| {
        let (m, stop) = (Arc::clone(m), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(m.snapshot());
                thread::sleep(every);
            }
        })
    });
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let (m, start) = (Arc::clone(m), Arc::clone(&start));
            thread::spawn(move || {
                let mut v = t as u64 + 1;
                // The thread's first record (its shard or lane allocated
                // and zeroed) before the clock starts.
                m.record_latency_ns(1_000);
                start.wait();
                let began = Instant::now();
                for _ in 0..PER_THREAD {
                    v = v
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    m.record_latency_ns(1_000 + (v >> 33) % 50_000_000);
                }
                began.elapsed()
            })
        })
        .collect();
    start.wait();
    let elapsed: Vec<Duration> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    for t in reader.into_iter().chain(drainer) {
        t.join().unwrap();
    }
    let total = m.snapshot().latency.count;
    assert_eq!(total, threads as u64 * (PER_THREAD + 1), "records lost");
    let mean = elapsed.iter().map(Duration::as_secs_f64).sum::<f64>() / threads as f64;
    mean * 1e9 / PER_THREAD as f64
}

/// (first read, later read) in µs after `threads` live threads recorded
/// 1,000 latencies each.
fn read_cost(m: &Arc<dyn MetricsCollector>, threads: usize) -> (f64, f64) {
    let recorded = Arc::new(Barrier::new(threads + 1));
    let release = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (m, recorded, release) =
                (Arc::clone(m), Arc::clone(&recorded), Arc::clone(&release));
            thread::spawn(move || {
                for i in 0..1_000_u64 {
                    m.record_latency_ns(1_000 + (i * 7_919 + t as u64) % 5_000_000);
                }
                recorded.wait();
                release.wait();
            })
        })
        .collect();
    recorded.wait();
    let began = Instant::now();
    let s = m.snapshot();
    let first = began.elapsed().as_secs_f64() * 1e6;
    assert_eq!(s.latency.count, threads as u64 * 1_000);
    let mut later = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        black_box(m.snapshot());
        later.push(began.elapsed().as_secs_f64() * 1e6);
    }
    release.wait();
    for w in workers {
        w.join().unwrap();
    }
    (first, median(later))
}

/// (reads, stale reads, most records missing from one read).
fn staleness(m: &Arc<dyn MetricsCollector>) -> (u64, u64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (m, done, stop) = (Arc::clone(m), Arc::clone(&done), Arc::clone(&stop));
        thread::spawn(move || {
            let mut depth = 1_u64;
            while !stop.load(Ordering::Relaxed) {
                m.record_queue_depth(depth as usize);
                // Release: a reader that sees this depth sees the record
                // made before it.
                done.store(depth, Ordering::Release);
                depth += 1;
            }
        })
    };
    let (mut reads, mut stale, mut worst) = (0, 0, 0);
    let began = Instant::now();
    while began.elapsed() < Duration::from_millis(300) {
        // Acquire: pairs with the writer's Release.
        let finished = done.load(Ordering::Acquire);
        let current = m.queue_depth().current.unwrap_or(0);
        if finished > 0 {
            reads += 1;
            // Depths only grow (below the configured maximum, 2^32, for
            // the run): a current below the finished depth is stale.
            let behind = finished.saturating_sub(current);
            if behind != 0 {
                stale += 1;
                worst = worst.max(behind);
            }
        }
        thread::sleep(Duration::from_micros(100));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    (reads, stale, worst)
}

const USAGE: &str = "usage: ring_measure [ROUNDS]

Ring against Sharded and the other strategies: record cost with and
without a full ring, read cost by thread count, staleness, memory per
thread (papers/ring.md). ROUNDS: interleaved repetitions (default 5).";

fn main() {
    let args = lockfree_metrics_programs::positional(USAGE, &["rounds"]);
    let rounds: usize = lockfree_metrics_programs::arg(USAGE, &args, 0, "rounds", 5);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "CPU: {cpu}; {} logical CPUs; {rounds} interleaved rounds, medians",
        thread::available_parallelism().map_or(0, |n| n.get())
    );

    println!("\n## record_latency_ns, ns per record per thread");
    let cases: Vec<(usize, Option<Duration>)> = [1, 2, 4]
        .into_iter()
        .flat_map(|t| [(t, None), (t, Some(Duration::from_millis(10)))])
        .collect();
    let mut costs = vec![vec![Vec::new(); STRATEGIES.len()]; cases.len()];
    for _ in 0..rounds {
        for (c, &(threads, reader)) in cases.iter().enumerate() {
            for (s, (_, make)) in STRATEGIES.iter().enumerate() {
                let (m, ring): (Arc<dyn MetricsCollector>, _) = if drainer(s) {
                    let ring = Arc::new(Ring::new(Config::default()));
                    (ring.clone(), Some(ring))
                } else {
                    (make(), None)
                };
                costs[c][s].push(record_cost(&m, threads, reader, ring));
            }
        }
    }
    print!("| threads | reader |");
    for (name, _) in STRATEGIES {
        print!(" {name} |");
    }
    println!(" Ring / Sharded |");
    println!("|---|---|{}---|", "---|".repeat(STRATEGIES.len()));
    for (c, &(threads, reader)) in cases.iter().enumerate() {
        let reader = reader.map_or("none".to_string(), |d| format!("every {d:?}"));
        print!("| {threads} | {reader} |");
        let medians: Vec<f64> = costs[c].iter().map(|v| median(v.clone())).collect();
        for m in &medians {
            print!(" {m:.1} |");
        }
        println!(" {:.2} |", medians[4] / medians[3]);
    }

    println!(
        "\n## snapshot(), µs: first read after T live threads recorded 1,000 each / a later read"
    );
    let threads = [1, 4, 16, 64];
    let mut reads = vec![vec![Vec::new(); 5]; threads.len()];
    for _ in 0..rounds {
        for (i, &t) in threads.iter().enumerate() {
            for (s, (_, make)) in STRATEGIES[..5].iter().enumerate() {
                reads[i][s].push(read_cost(&make(), t));
            }
        }
    }
    print!("| threads |");
    for (name, _) in &STRATEGIES[..5] {
        print!(" {name} |");
    }
    println!("\n|---|---|---|---|---|---|");
    for (i, &t) in threads.iter().enumerate() {
        print!("| {t} |");
        for r in &reads[i] {
            let first = median(r.iter().map(|x| x.0).collect());
            let later = median(r.iter().map(|x| x.1).collect());
            print!(" {first:.0} / {later:.0} |");
        }
        println!();
    }

    println!("\n## memory per recording thread (stated)");
    let ring = Ring::new(Config::default());
    let sharded = Sharded::new(Config::default());
    println!(
        "Ring: lane {} B, plus up to 4 overflow batches of {} B; Sharded: shard {} B (address space, zero pages resident only where written)",
        ring.lane_bytes(),
        ring.batch_bytes(),
        sharded.shard_bytes()
    );

    println!("\n## staleness: reads of queue_depth().current, records finished before the read but missing");
    print!("| |");
    for (name, _) in &STRATEGIES[..5] {
        print!(" {name} |");
    }
    println!("\n|---|---|---|---|---|---|");
    print!("| reads, stale reads, most missing |");
    for (name, _) in &STRATEGIES[..5] {
        let (reads, stale, worst) = staleness(&deep(name));
        print!(" {reads}, {stale}, {worst} |");
    }
    println!();
}
