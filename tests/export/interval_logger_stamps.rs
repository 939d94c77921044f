//! `IntervalLogger::log_interval` stamps each interval so that every record
//! logged in it was made within its span (issue 21, item 18): the interval
//! ends after the take that ended it, and starts before the take that
//! began it.
//!
//! A thread records the time it records (nanoseconds since a base taken
//! just before the logger) while the logger logs intervals whose takes are
//! slowed down by 5,000 other series, so that a stamp taken on the wrong
//! side of a take misses records by milliseconds. Each logged interval's
//! lowest and highest sample (the bucket bounds that hold them, 3
//! significant digits) must lie within its stamped span, to the log's
//! millisecond precision.
#![cfg(feature = "hdr-log")]

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use lockfree_metrics::{
    export::hdr_log::{self, IntervalLog, IntervalLogger},
    registry::{HistogramOpts, Registry},
};

#[test]
fn every_logged_record_lies_within_its_interval() {
    let registry = Registry::new();
    // Other series make each take last milliseconds.
    let padding: Vec<_> = (0..5_000)
        .map(|i| {
            let c = registry
                .counter("padding_total", &[("i", &i.to_string())])
                .unwrap();
            c.increment(1);
            c
        })
        .collect();
    let opts = HistogramOpts::new(1, 600_000_000_000, 3)
        .unwrap()
        .scale(1.0)
        .unwrap();
    let stamps = registry.histogram_with("stamp_ns", &[], opts).unwrap();
    let base = Instant::now();
    let mut logger = IntervalLogger::new(&registry, IntervalLog::new(Vec::new()).unwrap());
    // The logger's clock started between `base` and now.
    let slack = base.elapsed().as_nanos() as f64;
    let stop = AtomicBool::new(false);
    let mut takes = Vec::new();
    thread::scope(|s| {
        s.spawn(|| {
            // Relaxed: a stop flag; the scope's join orders the rest.
            while !stop.load(Ordering::Relaxed) {
                stamps.record(base.elapsed().as_nanos() as u64);
            }
        });
        for _ in 0..12 {
            thread::sleep(Duration::from_millis(15));
            let began = Instant::now();
            logger.log_interval().unwrap();
            takes.push(began.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
    });
    drop(padding);
    let log = logger.into_log().into_inner();
    let mut lines = Vec::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(line) = entry.expect("the log parses") {
            if line.tag().map(|t| t.as_str()) == Some("stamp_ns") {
                let h = hdr_log::decode_interval(&line).unwrap();
                lines.push((
                    line.start_timestamp().as_secs_f64() * 1e9,
                    line.duration().as_secs_f64() * 1e9,
                    h,
                ));
            }
        }
    }
    assert!(lines.len() >= 10, "{} intervals logged", lines.len());
    let longest_take = takes.iter().max().unwrap();
    assert!(
        *longest_take > Duration::from_millis(3),
        "takes must outlast the log's precision to show anything: {longest_take:?}"
    );
    // Times since the logger's clock started: the first interval's start.
    let origin = lines[0].0;
    // Start and length are each printed to 1 ms.
    let precision = 1.0e6;
    for (i, (start, length, h)) in lines.iter().enumerate() {
        let (start, end) = (start - origin, start - origin + length);
        // A sample's time since the logger started is its value less up to
        // `slack`.
        let latest = h.lowest_equivalent(h.max()) as f64 - slack;
        let earliest = h.highest_equivalent(h.min()) as f64;
        assert!(
            latest <= end + precision,
            "interval {i} ends at {:.3} ms but logs a record made at {:.3} ms (takes up to {longest_take:?})",
            end / 1e6,
            latest / 1e6
        );
        assert!(
            earliest >= start - precision,
            "interval {i} starts at {:.3} ms but logs a record made at {:.3} ms",
            start / 1e6,
            earliest / 1e6
        );
    }
}
