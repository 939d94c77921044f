//! `opentelemetry_sdk`: an `SdkMeterProvider` with a `ManualReader` (held
//! through a shared handle, as the SDK's own benchmarks hold it), one
//! `f64` histogram in seconds with explicit [`BUCKETS`], recorded with an
//! attribute set per call or through bound instruments. A view lifts the
//! cardinality limit (2,000 by default) to the run's series count, so no
//! series folds into the overflow series.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use opentelemetry::{
    metrics::{BoundHistogram, Histogram, MeterProvider as _},
    KeyValue,
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{
        data::{AggregatedMetrics, MetricData, ResourceMetrics},
        reader::MetricReader,
        Instrument, InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Stream, Temporality,
    },
};

use super::contender::{
    bucket_quantile, labels, seconds, Contender, Library, Sum, Totals, Writer, BUCKETS, HELP,
    LABEL, METRIC,
};

/// The default cardinality limit of the SDK's streams.
const DEFAULT_CARDINALITY: usize = 2_000;

/// A `ManualReader` the provider and the comparison share.
#[derive(Clone, Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// `opentelemetry_sdk Histogram` and `opentelemetry_sdk bound`.
pub(crate) struct OtelLib {
    _provider: SdkMeterProvider,
    reader: SharedReader,
    histogram: Histogram<f64>,
    attributes: Vec<[KeyValue; 1]>,
    bound: bool,
}

/// One collected data point: its series label, count, sum and cumulative
/// buckets (upper bound, count at or below it; the last `+Inf`).
struct Point {
    series: Option<String>,
    count: u64,
    sum: f64,
    buckets: Vec<(f64, u64)>,
}

impl OtelLib {
    fn collect(&self) -> Result<Vec<Point>, String> {
        let mut rm = ResourceMetrics::default();
        self.reader.collect(&mut rm).map_err(|e| e.to_string())?;
        let mut points = Vec::new();
        for scope in rm.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == METRIC) {
                let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                    return Err("not an f64 histogram".into());
                };
                for p in h.data_points() {
                    let mut cumulative = 0;
                    let mut buckets: Vec<(f64, u64)> = p
                        .bounds()
                        .chain(std::iter::once(f64::INFINITY))
                        .zip(p.bucket_counts())
                        .map(|(bound, c)| {
                            cumulative += c;
                            (bound, cumulative)
                        })
                        .collect();
                    if buckets.last().is_none_or(|b| b.0.is_finite()) {
                        buckets.push((f64::INFINITY, p.count()));
                    }
                    points.push(Point {
                        series: p
                            .attributes()
                            .find(|kv| kv.key.as_str() == LABEL)
                            .map(|kv| kv.value.as_str().into_owned()),
                        count: p.count(),
                        sum: p.sum(),
                        buckets,
                    });
                }
            }
        }
        Ok(points)
    }
}

impl Library for OtelLib {
    type Writer<'a> = OtelWriter<'a>;

    fn new(peer: Contender, series: usize) -> Result<Self, String> {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let limit = series.max(DEFAULT_CARDINALITY);
        let provider = SdkMeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(move |i: &Instrument| {
                (i.name() == METRIC)
                    .then(|| Stream::builder().with_cardinality_limit(limit).build().ok())
                    .flatten()
            })
            .build();
        let histogram = provider
            .meter("lockfree-metrics-compare")
            .f64_histogram(METRIC)
            .with_description(HELP)
            .with_unit("s")
            .with_boundaries(BUCKETS.to_vec())
            .build();
        let attributes: Vec<[KeyValue; 1]> = labels()[..series]
            .iter()
            .map(|&l| [KeyValue::new(LABEL, l)])
            .collect();
        Ok(OtelLib {
            _provider: provider,
            reader,
            histogram,
            attributes,
            bound: peer == Contender::OtelBound,
        })
    }

    fn writer(&self) -> OtelWriter<'_> {
        OtelWriter {
            lib: self,
            bound: if self.bound {
                self.attributes
                    .iter()
                    .map(|a| self.histogram.bind(a))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        let points = self.collect()?;
        if let Some(p) = points.iter().find(|p| p.series.is_none()) {
            return Err(format!(
                "{} samples landed in a point without the series attribute (overflow)",
                p.count
            ));
        }
        Ok(Totals {
            count: points.iter().map(|p| p.count).sum(),
            sum: Sum::Seconds(points.iter().map(|p| p.sum).sum()),
        })
    }

    fn render(&self) -> Option<String> {
        None
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        let label = *labels().get(series)?;
        let points = self.collect().ok()?;
        let p = points.iter().find(|p| p.series.as_deref() == Some(label))?;
        qs.iter()
            .map(|&q| bucket_quantile(&p.buckets, q).map(|s| s * 1e9))
            .collect()
    }
}

/// A thread's OpenTelemetry handles: the bound ones, for the bound option.
pub(crate) struct OtelWriter<'a> {
    lib: &'a OtelLib,
    bound: Vec<BoundHistogram<f64>>,
}

impl Writer for OtelWriter<'_> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        if self.lib.bound {
            self.bound[series].record(seconds(ns));
        } else {
            self.lib
                .histogram
                .record(seconds(ns), &self.lib.attributes[series]);
        }
    }

    #[inline(always)]
    fn record_labelled(&mut self, series: usize, ns: u64) {
        self.lib
            .histogram
            .record(seconds(ns), &self.lib.attributes[series]);
    }
}
