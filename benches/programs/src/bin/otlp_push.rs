//! The cost of one OTLP push of a registry of many series
//! (`papers/otlp.md`): `--series` N series, either histograms
//! `push_latency_seconds{series="0".."N-1"}` each given 200 values
//! log-uniform from 1 µs to 1 s (`--kind histogram`, the default), or
//! counters (`--kind counter`), pushed to a local receiver:
//!
//! - `--receiver sink` (the default): a loopback HTTP/1.1 sink in this
//!   process that reads each request whole and answers 200, decoding
//!   nothing: the sender's cost alone;
//! - `--receiver victoria-metrics`: a real VictoriaMetrics, started here on
//!   127.0.0.1 from `--victoria-metrics` (by default the fetch script's
//!   cache under `target/`); its ingestion (one series per exponential
//!   bucket) then dominates the wall time of `send`.
//!
//! Per round, on this thread, wall and thread CPU time of each step:
//! `snapshot` (`Registry::snapshot`), `encode` (`encode_snapshot`: the
//! OTLP messages), `protobuf` (`encode_body` without gzip), `gzip`
//! (`encode_body` with gzip, minus `protobuf`), `send` (one POST of the
//! gzipped body, answered); then `push` end to end through a
//! `PushExporter` (`push_now` to `sent`: wall, and the process's CPU
//! time). Medians and `[min-max]` over `--rounds`.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin otlp_push -- --series 10000 [--kind counter] [--rounds 7]`

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime},
};

use clap::Parser;
use lockfree_metrics::{
    export::otlp::{encode_body, encode_snapshot, Encoder, OtlpOpts, PushBuilder, Temporality},
    registry::Registry,
};

#[derive(Parser, Debug)]
struct Args {
    /// Series in the registry.
    #[arg(long, default_value_t = 1_000)]
    series: usize,
    /// `histogram` or `counter`.
    #[arg(long, default_value = "histogram", value_parser = ["histogram", "counter"])]
    kind: String,
    /// Rounds (each step measured once per round).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// `sink` or `victoria-metrics`.
    #[arg(long, default_value = "sink", value_parser = ["sink", "victoria-metrics"])]
    receiver: String,
    /// The victoria-metrics binary.
    #[arg(long)]
    victoria_metrics: Option<PathBuf>,
}

fn thread_cpu_ns() -> u64 {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu_ns() -> u64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY:
    // - `ts` is a valid, writable `timespec` that outlives the call;
    // - `id` is one of the CPU-time clocks, which need no other argument.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc == 0 {
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    } else {
        0
    }
}

/// A 64-bit LCG: reproducible inputs without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// VictoriaMetrics on a free loopback port, with a temporary data
/// directory; killed and removed on drop.
struct Victoria {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Victoria {
    fn start(binary: &PathBuf) -> Victoria {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("lfm-otlp-push-{}", std::process::id()));
        let child = Command::new(binary)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg("-search.latencyOffset=0s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let v = Victoria { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(format!("http://127.0.0.1:{port}/health"))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "victoria-metrics did not start");
            thread::sleep(Duration::from_millis(50));
        }
        v
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback HTTP/1.1 sink: reads each request (headers, then
/// `Content-Length` bytes) and answers 200 with an empty body, keeping the
/// connection. Its thread ends with the process.
fn sink() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || {
                let mut out = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0_usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if out
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[derive(Default)]
struct Step {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

fn median_range(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:8.2} [{:.2}-{:.2}]", v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let args = Args::parse();
    let binary = args.victoria_metrics.clone().unwrap_or_else(|| {
        // The fetch script's cache, under the workspace's target/.
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/victoria-metrics/root/usr/bin/victoria-metrics")
    });
    let (vm, endpoint) = match args.receiver.as_str() {
        "victoria-metrics" => {
            let vm = Victoria::start(&binary);
            let endpoint = format!("http://127.0.0.1:{}/opentelemetry/v1/metrics", vm.port);
            (Some(vm), endpoint)
        }
        _ => (None, format!("http://127.0.0.1:{}/v1/metrics", sink())),
    };

    let registry = Registry::new();
    let mut rng = Lcg(42);
    for i in 0..args.series {
        let label = i.to_string();
        match args.kind.as_str() {
            "counter" => registry
                .counter("push_requests_total", &[("series", &label)])
                .unwrap()
                .increment(1 + (rng.next() * 1e6) as u64),
            _ => {
                let h = registry
                    .histogram("push_latency_seconds", &[("series", &label)])
                    .unwrap();
                for _ in 0..200 {
                    // Log-uniform from 1 µs to 1 s.
                    h.record((1e3 * 1e6_f64.powf(rng.next())) as u64);
                }
            }
        }
    }
    let opts = OtlpOpts::new("otlp-push-bench");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let names = ["snapshot", "encode", "protobuf", "gzip", "send"];
    let mut steps: Vec<Step> = names.iter().map(|_| Step::default()).collect();
    let mut push = Step::default();
    let (mut raw_len, mut gz_len) = (0, 0);
    let exporter = PushBuilder::new(&endpoint)
        .unwrap()
        .interval(Duration::from_secs(3600))
        .gzip(true)
        .start(Encoder::new(opts.clone()).registry(&registry, Temporality::Cumulative))
        .unwrap();
    let start = SystemTime::now();
    for _ in 0..args.rounds {
        let mut t = (Instant::now(), thread_cpu_ns());
        let mut lap = |k: usize, steps: &mut Vec<Step>| {
            let now = (Instant::now(), thread_cpu_ns());
            steps[k].wall.push((now.0 - t.0).as_secs_f64() * 1e3);
            steps[k].cpu.push((now.1 - t.1) as f64 / 1e6);
            t = (Instant::now(), thread_cpu_ns());
        };
        let snapshot = registry.snapshot();
        lap(0, &mut steps);
        let request = encode_snapshot(
            &snapshot,
            Temporality::Cumulative,
            start,
            SystemTime::now(),
            &opts,
        );
        lap(1, &mut steps);
        let raw = encode_body(&request, false);
        lap(2, &mut steps);
        let gz = encode_body(&request, true);
        lap(3, &mut steps);
        let status = agent
            .post(&endpoint)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip")
            .send(&gz[..])
            .map(|r| r.status().as_u16());
        lap(4, &mut steps);
        assert_eq!(status.ok(), Some(200), "the receiver refused the push");
        (raw_len, gz_len) = (raw.len(), gz.len());
        // gzip's own share: the gzipped body's time minus the protobuf's.
        let k = steps[3].wall.len() - 1;
        steps[3].wall[k] -= steps[2].wall[k];
        steps[3].cpu[k] -= steps[2].cpu[k];

        let sent = exporter.stats().sent;
        let (w, c) = (Instant::now(), process_cpu_ns());
        exporter.push_now();
        let deadline = Instant::now() + Duration::from_secs(60);
        while exporter.stats().sent == sent && Instant::now() < deadline {
            thread::sleep(Duration::from_micros(200));
        }
        push.wall.push(w.elapsed().as_secs_f64() * 1e3);
        push.cpu.push((process_cpu_ns() - c) as f64 / 1e6);
    }
    let stats = exporter.shutdown();
    println!(
        "{} {} series: body {} B protobuf, {} B gzipped ({:.1} B/series)",
        args.series,
        args.kind,
        raw_len,
        gz_len,
        gz_len as f64 / args.series as f64
    );
    println!("{:<9} {:>28} {:>28}", "step", "wall ms", "CPU ms");
    for (name, s) in names.iter().zip(&mut steps) {
        println!(
            "{name:<9} {:>28} {:>28}",
            median_range(&mut s.wall),
            median_range(&mut s.cpu)
        );
    }
    println!(
        "{:<9} {:>28} {:>28}  (PushExporter: push_now to sent; process CPU)",
        "push",
        median_range(&mut push.wall),
        median_range(&mut push.cpu)
    );
    if (stats.failed, stats.dropped, stats.retried) != (0, 0, 0) {
        println!("the exporter: {stats:?}");
    }
    drop(vm);
}
