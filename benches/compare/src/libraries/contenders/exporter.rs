//! `metrics` with `metrics-exporter-prometheus` (its recorder and handle,
//! upkeep on a thread of its own, as `PrometheusBuilder::build` would run
//! it), and `metrics-util`'s `AtomicBucket`, the exporter's sample buffer,
//! measured raw.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    thread,
    time::Instant,
};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::storage::AtomicBucket;

use super::{
    contender::{
        labels, text_quantiles, text_totals, Contender, Library, Sum, Totals, Writer, BUCKETS,
        HELP, LABEL, METRIC, NAP, UPKEEP,
    },
    ours::MacroWriter,
};

/// Sleeps `period` in naps; false once `stop` is set.
pub(crate) fn nap(stop: &AtomicBool, period: std::time::Duration) -> bool {
    let until = Instant::now() + period;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(NAP));
    }
    false
}

/// `metrics + exporter-prometheus`, with or without buckets.
pub(crate) struct ExporterLib {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    series: usize,
}

impl Library for ExporterLib {
    type Writer<'a> = MacroWriter<'a>;

    fn new(peer: Contender, series: usize) -> Result<Self, String> {
        let mut builder = PrometheusBuilder::new();
        if peer == Contender::ExporterBuckets {
            builder = builder.set_buckets(&BUCKETS).map_err(|e| e.to_string())?;
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!(METRIC, metrics::Unit::Seconds, HELP);
            for &label in &labels()[..series] {
                let _ = metrics::histogram!(METRIC, LABEL => label);
            }
        });
        Ok(ExporterLib {
            recorder,
            handle,
            series,
        })
    }

    fn writer(&self) -> MacroWriter<'_> {
        MacroWriter::new(&self.recorder, self.series)
    }

    fn has_background(&self) -> bool {
        true
    }

    fn background(&self, stop: &AtomicBool) {
        while nap(stop, UPKEEP) {
            self.handle.run_upkeep();
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        text_totals(&self.handle.render())
    }

    fn render(&self) -> Option<String> {
        Some(self.handle.render())
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        text_quantiles(&self.handle.render(), series, qs)
    }
}

/// `metrics-util AtomicBucket`: one bucket of `u64` nanoseconds per
/// series; the reader drains them into counts and sums.
pub(crate) struct BucketLib {
    buckets: Vec<AtomicBucket<u64>>,
    drained: Mutex<Vec<(u64, u128)>>,
}

impl BucketLib {
    fn drain(&self) {
        let mut drained = self.drained.lock().unwrap_or_else(|e| e.into_inner());
        for (bucket, (count, sum)) in self.buckets.iter().zip(drained.iter_mut()) {
            bucket.clear_with(|block| {
                *count += block.len() as u64;
                *sum += block.iter().map(|&v| u128::from(v)).sum::<u128>();
            });
        }
    }
}

impl Library for BucketLib {
    type Writer<'a> = &'a [AtomicBucket<u64>];

    fn new(_: Contender, series: usize) -> Result<Self, String> {
        Ok(BucketLib {
            buckets: (0..series).map(|_| AtomicBucket::new()).collect(),
            drained: Mutex::new(vec![(0, 0); series]),
        })
    }

    fn writer(&self) -> &[AtomicBucket<u64>] {
        &self.buckets
    }

    fn has_background(&self) -> bool {
        true
    }

    fn background(&self, stop: &AtomicBool) {
        while nap(stop, UPKEEP) {
            self.drain();
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        self.drain();
        let drained = self.drained.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Totals {
            count: drained.iter().map(|d| d.0).sum(),
            sum: Sum::ExactNs(drained.iter().map(|d| d.1).sum()),
        })
    }

    fn render(&self) -> Option<String> {
        None
    }

    /// None: a raw sample buffer has no quantiles; what a drainer makes of
    /// the samples is the exporter's rows.
    fn quantiles(&self, _series: usize, _qs: &[f64]) -> Option<Vec<f64>> {
        None
    }
}

impl Writer for &[AtomicBucket<u64>] {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        self[series].push(ns);
    }
}
