//! Memory soak: thread churn and a steady reader for a given time, printing
//! the resident memory as it goes. Memory must plateau: shards are reused
//! by the threads that take over an exited thread's id, retired reset
//! points are reclaimed by crossbeam-epoch, and nothing else grows.
//!
//! ```sh
//! cargo run --release -p lockfree-metrics-programs --bin soak -- --secs 600            # Sharded, 10 minutes
//! cargo run --release -p lockfree-metrics-programs --bin soak -- --strategy atomic --secs 120
//! ```
//!
//! `--help` lists the flags and their defaults.
//!
//! Each report line gives the elapsed time, `VmRSS` and `VmHWM` from
//! `/proc/self/status`, shards allocated (`Sharded` only), threads churned
//! so far, records of each kind so far, and the reader's snapshots and
//! intervals. At the end the intervals plus a final snapshot are checked
//! against the records made: exact accounting over the whole soak.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use lockfree_metrics::{Atomic, Config, FineGrained, GlobalLock, MetricsCollector, Mode, Sharded};

/// Memory soak: thread churn and a steady reader, printing resident memory
/// as it goes; at the end, exact accounting over the whole soak.
#[derive(Parser)]
struct Args {
    /// The strategy soaked.
    #[arg(long, value_enum, default_value_t = Strategy::Sharded)]
    strategy: Strategy,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 600)]
    secs: u64,
    /// Seconds between reports.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// Short-lived recording threads alive at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    live: u64,
    /// Records of each kind per short-lived thread.
    #[arg(long, default_value_t = 2_000)]
    per_thread: u64,
    /// The reader's period in ms: a snapshot every period, an interval every tenth.
    #[arg(long, default_value_t = 10)]
    read_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Strategy {
    Sharded,
    Atomic,
    Fine,
    Global,
}

/// `VmRSS` and `VmHWM` in KiB, from `/proc/self/status` (0 where absent).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What one short-lived thread records: `n` records of every kind, values
/// spread over the latency range so that many histogram chunks are touched.
fn record(m: &dyn MetricsCollector, tag: u64, n: u64) {
    for i in 0..n {
        let x = (i ^ tag).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        m.record_latency(Duration::from_nanos(1_000 + (x >> (x % 40 + 24))));
        m.record_throughput(x % 512, 1);
        m.record_batch_size((x % 64) as usize);
        m.record_queue_depth((x % 5_000) as usize);
        if i % 256 == 0 {
            m.record_mode_transition(Mode((x % 4) as u16));
        }
    }
}

/// Sums of what the reader saw across intervals.
#[derive(Default)]
struct Seen {
    latency: u64,
    tokens: u64,
    requests: u64,
    batch: u64,
    queue: u64,
}

impl Seen {
    fn add(&mut self, s: &lockfree_metrics::Snapshot) {
        self.latency += s.latency.count;
        self.tokens = self.tokens.wrapping_add(s.throughput.total_tokens);
        self.requests += s.throughput.total_requests;
        self.batch += s.batch.count;
        self.queue += s.queue_depth.count;
    }
}

fn soak(m: Arc<dyn MetricsCollector>, shards: Option<&dyn Fn() -> usize>, args: &Args) {
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (snapshots, intervals) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
        let (snapshots, intervals) = (Arc::clone(&snapshots), Arc::clone(&intervals));
        let period = Duration::from_millis(args.read_ms);
        thread::spawn(move || {
            let mut seen = Seen::default();
            let mut i = 0_u64;
            while !stop.load(Ordering::Acquire) {
                let s = m.snapshot();
                assert!(s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
                snapshots.fetch_add(1, Ordering::Relaxed);
                if i % 10 == 9 {
                    seen.add(&m.take_interval());
                    intervals.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                thread::sleep(period);
            }
            seen
        })
    };

    let churned = Arc::new(AtomicU64::new(0));
    let mut live: Vec<thread::JoinHandle<()>> = Vec::with_capacity(args.live as usize);
    let mut next_report = Instant::now();
    let start = Instant::now();
    // Writes `tokens` as the sum of `x % 512`: tracked exactly per thread.
    let tokens = Arc::new(AtomicU64::new(0));
    println!(
        "{:>7} {:>10} {:>10} {:>7} {:>10} {:>13} {:>10} {:>9}",
        "t_s", "rss_kib", "hwm_kib", "shards", "threads", "records", "snapshots", "intervals"
    );
    loop {
        let now = Instant::now();
        if now >= next_report {
            let (rss, hwm) = memory_kib();
            let threads = churned.load(Ordering::Relaxed);
            println!(
                "{:>7.0} {:>10} {:>10} {:>7} {:>10} {:>13} {:>10} {:>9}",
                start.elapsed().as_secs_f64(),
                rss,
                hwm,
                shards.map_or("-".to_string(), |f| f().to_string()),
                threads,
                threads * args.per_thread,
                snapshots.load(Ordering::Relaxed),
                intervals.load(Ordering::Relaxed),
            );
            next_report += Duration::from_secs(args.every);
        }
        if now >= deadline {
            break;
        }
        // Replace every finished thread with a new one.
        let mut i = 0;
        while i < live.len() {
            if live[i].is_finished() {
                live.swap_remove(i)
                    .join()
                    .expect("a recording thread panicked");
            } else {
                i += 1;
            }
        }
        while (live.len() as u64) < args.live {
            let (m, churned, tokens) = (Arc::clone(&m), Arc::clone(&churned), Arc::clone(&tokens));
            let n = args.per_thread;
            let tag = churned.fetch_add(1, Ordering::Relaxed);
            live.push(thread::spawn(move || {
                record(&*m, tag, n);
                let sum = (0..n)
                    .map(|i| (i ^ tag).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 512)
                    .sum::<u64>();
                tokens.fetch_add(sum, Ordering::Relaxed);
            }));
        }
        thread::sleep(Duration::from_millis(1));
    }
    for t in live {
        t.join().expect("a recording thread panicked");
    }
    stop.store(true, Ordering::Release);
    let mut seen = reader.join().expect("the reader panicked");
    seen.add(&m.snapshot());
    let records = churned.load(Ordering::Relaxed) * args.per_thread;
    let expected = [
        records,
        tokens.load(Ordering::Relaxed),
        records,
        records,
        records,
    ];
    let got = [
        seen.latency,
        seen.tokens,
        seen.requests,
        seen.batch,
        seen.queue,
    ];
    println!(
        "end: {} threads churned, {records} records of each kind, {} snapshots, {} intervals; \
         accounting {}",
        churned.load(Ordering::Relaxed),
        snapshots.load(Ordering::Relaxed),
        intervals.load(Ordering::Relaxed),
        if got == expected { "exact" } else { "WRONG" }
    );
    assert_eq!(got, expected, "latency, tokens, requests, batch, queue");
}

fn main() {
    let args = Args::parse();
    let config = Config::default();
    println!(
        "soak: strategy {:?}, {} s, {} live short-lived threads x {} records, reader every {} ms",
        args.strategy, args.secs, args.live, args.per_thread, args.read_ms
    );
    match args.strategy {
        Strategy::Sharded => {
            let m = Arc::new(Sharded::new(config));
            println!("shard size: {} KiB", m.shard_bytes() / 1024);
            let probe = Arc::clone(&m);
            soak(m, Some(&move || probe.shards_allocated()), &args);
        }
        Strategy::Atomic => soak(Arc::new(Atomic::new(config)), None, &args),
        Strategy::Fine => soak(Arc::new(FineGrained::new(config)), None, &args),
        Strategy::Global => soak(Arc::new(GlobalLock::new(config)), None, &args),
    }
}
