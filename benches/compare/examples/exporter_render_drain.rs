//! The `scrape` workload's miscount at the exporter's level: writer threads
//! record into one `metrics-exporter-prometheus` histogram (with buckets)
//! while a scraper calls `PrometheusHandle::render()` back to back; after the
//! writers are joined, one more render gives the `_count` to compare with
//! the records made. Each render drains the histogram's metrics-util
//! `AtomicBucket` with `clear_with` (see `atomic_bucket_drain`).
//!
//! `cargo run --release -p lockfree-metrics-compare --example exporter_render_drain -- [seconds] [writers]`
//! (defaults: 3 s, 4 writers). Bounded by `seconds`; exits 0 either way.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::PrometheusBuilder;

/// Records per writer in one round.
const PER_ROUND: u64 = 200_000;

/// The `_count` of the one histogram in `text`, if it has one.
fn count_of(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("lat_count "))
        .and_then(|v| v.trim().parse().ok())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let writers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);

    let (mut rounds, mut made, mut counted, mut lossy, mut renders) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        rounds += 1;
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[1e-6, 1e-5, 1e-4, 1e-3])
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        let histogram = metrics::with_local_recorder(&recorder, || metrics::histogram!("lat"));
        let done = AtomicBool::new(false);
        renders += thread::scope(|s| {
            let scraper = s.spawn(|| {
                let mut n = 0u64;
                // Release/Acquire: the reader sees every push made before the writers were joined and the flag set.
                while !done.load(Ordering::Acquire) {
                    std::hint::black_box(handle.render());
                    n += 1;
                }
                n
            });
            let hs: Vec<_> = (0..writers)
                .map(|_| {
                    let h = histogram.clone();
                    s.spawn(move || {
                        for _ in 0..PER_ROUND {
                            h.record(5e-6);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().expect("writer");
            }
            // Release/Acquire: the reader sees every push made before the writers were joined and the flag set.
            done.store(true, Ordering::Release);
            scraper.join().expect("scraper")
        });
        let here = count_of(&handle.render()).unwrap_or(0);
        let made_here = writers as u64 * PER_ROUND;
        if here != made_here {
            if lossy < 8 {
                println!("round {rounds}: {made_here} recorded, {here} counted");
            }
            lossy += 1;
        }
        made += made_here;
        counted += here;
    }
    println!(
        "{rounds} rounds, {writers} writers, {renders} concurrent renders: {made} recorded, \
         {counted} counted ({} lost) in {lossy} lossy rounds",
        made as i128 - counted as i128
    );
}
