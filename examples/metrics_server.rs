//! A small server's metrics on `/metrics`: worker threads record requests
//! into a registry (counters, a gauge, an HDR histogram) and into a seed
//! collector (`Sharded`), and a `MetricsServer` serves both on
//! 127.0.0.1, in the format each scraper asks for.
//!
//! ```text
//! cargo run --example metrics_server [ADDR] [SECONDS]
//! curl -s http://127.0.0.1:9898/metrics
//! curl -s -H 'Accept: application/openmetrics-text; version=1.0.0' http://127.0.0.1:9898/metrics
//! ```
//!
//! `ADDR` defaults to 127.0.0.1:9898; without `SECONDS` it runs until
//! killed.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{
    export::{
        http::MetricsServer,
        prometheus::{Exposition, RenderOpts},
    },
    registry::Registry,
    Config, MetricsCollector, Mode, Sharded,
};

const ROUTES: [&str; 3] = ["/", "/api/items", "/health"];

const USAGE: &str = "usage: metrics_server [ADDR] [SECONDS]

Serves a registry and a Sharded collector, fed by worker threads, on
http://ADDR/metrics (default 127.0.0.1:9898); runs SECONDS seconds, or
until killed.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        eprintln!("error: unknown flag {flag}\n\n{USAGE}");
        std::process::exit(2);
    }
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9898".into());
    let run_for = match args.get(1).map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(secs)) => Some(Duration::from_secs(secs)),
        Some(Err(e)) => {
            eprintln!("error: SECONDS: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };

    let registry = Registry::new();
    registry.describe(
        "http_requests_total",
        "Requests served, by route and status code.",
        None,
    );
    registry.describe(
        "http_request_duration_seconds",
        "Time to serve a request.",
        Some("seconds"),
    );
    registry.describe(
        "http_requests_in_flight",
        "Requests being served now.",
        None,
    );
    let requests = registry.counter_family("http_requests_total", &["route", "code"])?;
    let latency = registry.histogram_family("http_request_duration_seconds", &["route"], None)?;
    let in_flight = registry.gauge("http_requests_in_flight", &[])?;
    let scheduler = Arc::new(Sharded::new(Config::default()));

    let (r, s) = (registry.clone(), scheduler.clone());
    let server =
        MetricsServer::builder()
            .opts(RenderOpts::default())
            .start(addr.as_str(), move || {
                Exposition::new()
                    .registry(r.snapshot())
                    .collector_snapshot("scheduler", s.snapshot())
            })?;
    println!("serving http://{}/metrics", server.addr());

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4_u64)
        .map(|id| {
            let (requests, latency, in_flight) =
                (requests.clone(), latency.clone(), in_flight.clone());
            let (scheduler, stop) = (scheduler.clone(), stop.clone());
            thread::spawn(move || {
                // A xorshift per worker: different, repeatable traffic.
                let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (id + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                while !stop.load(Ordering::Relaxed) {
                    let route = ROUTES[(next() % 3) as usize];
                    let code = if next() % 50 == 0 { "500" } else { "200" };
                    in_flight.add(1.0);
                    let started = Instant::now();
                    // The "work": 0.2 to 5 ms.
                    thread::sleep(Duration::from_micros(200 + next() % 4_800));
                    let took = started.elapsed();
                    in_flight.add(-1.0);
                    requests
                        .with(&[route, code])
                        .expect("two label values")
                        .increment(1);
                    latency
                        .with(&[route])
                        .expect("one label value")
                        .record_duration(took);
                    scheduler.record_latency(took);
                    scheduler.record_throughput(next() % 512, 1);
                    scheduler.record_batch_size((next() % 32) as usize + 1);
                    scheduler.record_queue_depth((next() % 16) as usize);
                    if next() % 200 == 0 {
                        scheduler.record_mode_transition(Mode((next() % 3) as u16));
                    }
                }
            })
        })
        .collect();

    match run_for {
        Some(d) => thread::sleep(d),
        None => loop {
            thread::sleep(Duration::from_secs(3600));
        },
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    // What the server counted: scrapes, connections, any cut.
    println!("{:?}", server.try_shutdown()?);
    Ok(())
}
