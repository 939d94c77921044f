//! Readings to OTLP messages: the mapping tabled in the [module
//! docs](super), built from the registry's public read API and the
//! collector's [`Snapshot`].

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue},
    metrics::v1::{
        exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
        AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
        Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    },
    resource::v1::Resource,
};

use super::{HistogramMode, OtlpOpts, Temporality};
use crate::{
    metric::exponential,
    registry::{HistogramOpts, HistogramValue, RegistrySnapshot, SeriesKey, Value},
    snapshot::Snapshot,
};

/// Nanoseconds since the Unix epoch (0 before it, `u64::MAX` past 2554).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The largest exponential scale whose buckets are no finer than the
/// HDR layout's at `digits`: HDR's widest relative sub-bucket is `1 /
/// half` (`half = 2^(ceil(log2(2 * 10^digits)) - 1)`), scale `s` spans
/// about `ln 2 / 2^s`, so `2^s <= half * ln 2`: 6 at 2 digits, 8 (capped)
/// at 3, 3 at 1 (the rule the Prometheus exporter's native schema uses).
pub fn scale_for_digits(digits: u8) -> i32 {
    exponential::scale_for_digits(digits)
}

/// The relative width of a bucket at `scale`, `2^(2^-scale) - 1`: a
/// quantile read from the exponential buckets lies within this relative
/// distance of the registry's own HDR quantile (see the [module
/// docs](super#histograms)). 1.09 % at scale 6, 0.27 % at 8.
pub fn relative_error(scale: i32) -> f64 {
    (2_f64).powf((2_f64).powi(-scale)) - 1.0
}

/// The OTLP exponential bucket index of `v > 0` at `scale`: the `i` with
/// `base^i < v <= base^(i+1)`, `base = 2^(2^-scale)` (Prometheus' native
/// index, which is this plus one, minus one). Exact powers of two land
/// exactly.
pub fn exponential_index(v: f64, scale: i32) -> i32 {
    exponential::native_index(v, scale) - 1
}

/// An exponential histogram's buckets: `(scale, zero_count, offset,
/// counts)`. Each HDR bucket's count goes to the exponential bucket of its
/// highest value divided by the histogram's scale (the value the
/// registry's quantiles report); the bucket of 0 goes to the zero count.
pub(crate) fn exponential(h: &HistogramValue) -> (i32, u64, i32, Vec<u64>) {
    let unit = h.opts().get_scale();
    let scale = scale_for_digits(h.opts().digits());
    let mut zero = 0_u64;
    let mut offset = 0_i32;
    let mut counts: Vec<u64> = Vec::new();
    for b in h.buckets() {
        if b.high == 0 {
            zero = zero.saturating_add(b.count);
            continue;
        }
        let i = exponential_index(b.high as f64 / unit, scale);
        if counts.is_empty() {
            offset = i;
        }
        // HDR buckets ascend, so indices never go below the offset.
        let at = usize::try_from(i - offset).unwrap_or(0);
        if counts.len() <= at {
            counts.resize(at + 1, 0);
        }
        counts[at] = counts[at].saturating_add(b.count);
    }
    (scale, zero, offset, counts)
}

/// Bucket counts for explicit `bounds` (ascending, finite): bucket `j`
/// counts the HDR buckets whose highest value divided by the scale lies in
/// `(bounds[j-1], bounds[j]]`; the last, those above every bound.
pub(crate) fn explicit(h: &HistogramValue, bounds: &[f64]) -> Vec<u64> {
    let unit = h.opts().get_scale();
    let mut counts = vec![0_u64; bounds.len() + 1];
    for b in h.buckets() {
        let v = b.high as f64 / unit;
        let j = bounds.partition_point(|&le| le < v);
        counts[j] = counts[j].saturating_add(b.count);
    }
    counts
}

/// 1, 2, 5 per decade from `low` to the first at or above `high`.
pub(crate) fn decades(low: f64, high: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if !(low > 0.0 && high >= low && high.is_finite()) {
        return out;
    }
    let mut exp = low.log10().floor() as i32;
    loop {
        for m in [1, 2, 5] {
            // Parsed from decimal so that 0.005 is the double nearest 0.005.
            let v: f64 = format!("{m}e{exp}").parse().unwrap_or(f64::NAN);
            if v >= low {
                out.push(v);
            }
            if v >= high {
                return out;
            }
        }
        exp += 1;
    }
}

/// The OTel (UCUM) unit for a Prometheus-style unit word: `seconds` is
/// `s`, `bytes` `By`, and so on; others pass as they are.
pub fn ucum_unit(unit: &str) -> &str {
    match unit {
        "seconds" => "s",
        "milliseconds" => "ms",
        "microseconds" => "us",
        "nanoseconds" => "ns",
        "bytes" => "By",
        "kilobytes" => "kBy",
        "megabytes" => "MBy",
        "ratio" => "1",
        "percent" => "%",
        "celsius" => "Cel",
        "hertz" => "Hz",
        "minutes" => "min",
        "hours" => "h",
        "days" => "d",
        "meters" => "m",
        "volts" => "V",
        "amperes" => "A",
        "joules" => "J",
        "watts" => "W",
        "grams" => "g",
        other => other,
    }
}

fn string_value(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.to_string())),
    })
}

/// A string attribute.
pub(crate) fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: string_value(value),
        ..Default::default()
    }
}

fn attributes(key: &SeriesKey) -> Vec<KeyValue> {
    key.labels().map(|(k, v)| attribute(k, v)).collect()
}

fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Cumulative => AggregationTemporality::Cumulative as i32,
        Temporality::Delta => AggregationTemporality::Delta as i32,
    }
}

/// A counter's value: an integer up to `i64::MAX`, a double above it.
fn counter_value(v: u64) -> number_data_point::Value {
    match i64::try_from(v) {
        Ok(v) => number_data_point::Value::AsInt(v),
        Err(_) => number_data_point::Value::AsDouble(v as f64),
    }
}

/// The times of a batch's points.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Times {
    /// Unix nanoseconds: the cumulative start, or the delta interval's
    /// start.
    pub(crate) start: u64,
    /// Unix nanoseconds: when the reading was taken.
    pub(crate) end: u64,
}

/// The registry's metrics for one reading.
pub(crate) fn registry_metrics(
    snapshot: &RegistrySnapshot,
    t: Temporality,
    times: Times,
    opts: &OtlpOpts,
) -> Vec<Metric> {
    let mut out = Vec::new();
    for (name, series) in snapshot.families() {
        let described = snapshot.description(name);
        let mut unit = described
            .and_then(|d| d.unit.as_deref())
            .map(|u| ucum_unit(u).to_string())
            .unwrap_or_default();
        let description = described.map(|d| d.help.clone()).unwrap_or_default();
        let data = match &series[0].value {
            Value::Counter(_) => Data::Sum(Sum {
                data_points: series
                    .iter()
                    .filter_map(|s| match s.value {
                        Value::Counter(v) => Some(NumberDataPoint {
                            attributes: attributes(&s.key),
                            start_time_unix_nano: times.start,
                            time_unix_nano: times.end,
                            value: Some(counter_value(v)),
                            ..Default::default()
                        }),
                        _ => None,
                    })
                    .collect(),
                aggregation_temporality: temporality(t),
                is_monotonic: true,
            }),
            Value::Gauge(_) => Data::Gauge(Gauge {
                data_points: series
                    .iter()
                    .filter_map(|s| match s.value {
                        Value::Gauge(v) => Some(NumberDataPoint {
                            attributes: attributes(&s.key),
                            time_unix_nano: times.end,
                            value: Some(number_data_point::Value::AsDouble(v)),
                            ..Default::default()
                        }),
                        _ => None,
                    })
                    .collect(),
            }),
            Value::Histogram(_) => {
                // Seconds only if every series of the name is in them.
                let all_ns = series.iter().all(|s| {
                    s.as_histogram()
                        .is_some_and(|h| h.opts().get_scale() == 1e9)
                });
                if unit.is_empty() && all_ns && name.ends_with("_seconds") {
                    unit = "s".to_string();
                }
                let hists = series
                    .iter()
                    .filter_map(|s| s.as_histogram().map(|h| (&s.key, h)));
                match opts.histogram_mode(name) {
                    HistogramMode::Exponential => {
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: hists
                                .map(|(key, h)| exponential_point(key, h, times))
                                .collect(),
                            aggregation_temporality: temporality(t),
                        })
                    }
                    HistogramMode::Explicit(bounds) => {
                        // Default bounds follow each series' own range and
                        // scale (series of one name may differ in both),
                        // computed once per distinct options.
                        let mut defaults: Vec<(HistogramOpts, Vec<f64>)> = Vec::new();
                        let mut bounds_for = |h: &HistogramValue| -> Vec<f64> {
                            if !bounds.is_empty() {
                                return bounds.clone();
                            }
                            let o = h.opts();
                            if let Some((_, b)) = defaults.iter().find(|(p, _)| *p == o) {
                                return b.clone();
                            }
                            let b = decades(
                                o.lowest() as f64 / o.get_scale(),
                                o.highest() as f64 / o.get_scale(),
                            );
                            defaults.push((o, b.clone()));
                            b
                        };
                        Data::Histogram(Histogram {
                            data_points: hists
                                .map(|(key, h)| explicit_point(key, h, &bounds_for(h), times))
                                .collect(),
                            aggregation_temporality: temporality(t),
                        })
                    }
                }
            }
        };
        out.push(Metric {
            name: name.to_string(),
            description,
            unit,
            data: Some(data),
            ..Default::default()
        });
    }
    out
}

/// `(sum, min, max)` in the exported unit: `None` for min and max when the
/// histogram is empty.
fn extent(h: &HistogramValue) -> (f64, Option<f64>, Option<f64>) {
    let unit = h.opts().get_scale();
    let sum = h.sum() as f64 / unit;
    if h.count() == 0 {
        (sum, None, None)
    } else {
        (
            sum,
            Some(h.min() as f64 / unit),
            Some(h.max() as f64 / unit),
        )
    }
}

fn exponential_point(
    key: &SeriesKey,
    h: &HistogramValue,
    times: Times,
) -> ExponentialHistogramDataPoint {
    let (scale, zero_count, offset, bucket_counts) = exponential(h);
    let (sum, min, max) = extent(h);
    ExponentialHistogramDataPoint {
        attributes: attributes(key),
        start_time_unix_nano: times.start,
        time_unix_nano: times.end,
        count: h.count(),
        sum: Some(sum),
        scale,
        zero_count,
        positive: Some(Buckets {
            offset,
            bucket_counts,
        }),
        negative: None,
        min,
        max,
        zero_threshold: 0.0,
        ..Default::default()
    }
}

fn explicit_point(
    key: &SeriesKey,
    h: &HistogramValue,
    bounds: &[f64],
    times: Times,
) -> HistogramDataPoint {
    let (sum, min, max) = extent(h);
    HistogramDataPoint {
        attributes: attributes(key),
        start_time_unix_nano: times.start,
        time_unix_nano: times.end,
        count: h.count(),
        sum: Some(sum),
        bucket_counts: explicit(h, bounds),
        explicit_bounds: bounds.to_vec(),
        min,
        max,
        ..Default::default()
    }
}

/// A collector's snapshot as metrics named `<prefix>_...` as the
/// Prometheus exporter names them; cumulative since the collector's last
/// reset.
pub(crate) fn seed_metrics(s: &Snapshot, prefix: &str, end: SystemTime) -> Vec<Metric> {
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{}_", crate::registry::sanitize_name(prefix))
    };
    let n = |suffix: &str| format!("{prefix}{suffix}");
    let end_ns = unix_nanos(end);
    let start_ns = unix_nanos(end.checked_sub(s.since_reset).unwrap_or(UNIX_EPOCH));
    let secs = |d: Duration| d.as_secs_f64();
    let mut out = Vec::new();
    let point = |attrs: Vec<KeyValue>, v: number_data_point::Value, start: u64| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: end_ns,
        value: Some(v),
        ..Default::default()
    };
    let counter = |name: String, help: &str, v: u64| Metric {
        name,
        description: help.to_string(),
        data: Some(Data::Sum(Sum {
            data_points: vec![point(Vec::new(), counter_value(v), start_ns)],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let gauge = |name: String, help: &str, unit: &str, points: Vec<(Vec<KeyValue>, f64)>| Metric {
        name,
        description: help.to_string(),
        unit: unit.to_string(),
        data: Some(Data::Gauge(Gauge {
            data_points: points
                .into_iter()
                .map(|(a, v)| point(a, number_data_point::Value::AsDouble(v), 0))
                .collect(),
        })),
        ..Default::default()
    };

    let l = &s.latency;
    // The snapshot holds no latency distribution: one bucket with the
    // exact count, and the exact min and max (HDR bucket edges), the sum
    // as mean x count as in the Prometheus exporter.
    out.push(Metric {
        name: n("latency_seconds"),
        description: "Request latency since the collector's last reset: count, min and max exact; the sum is mean x count (the mean is rounded to the nanosecond).".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start_ns,
                time_unix_nano: end_ns,
                count: l.count,
                sum: Some(secs(l.mean) * l.count as f64),
                bucket_counts: vec![l.count],
                explicit_bounds: Vec::new(),
                min: (l.count > 0).then(|| secs(l.min)),
                max: (l.count > 0).then(|| secs(l.max)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    });
    if l.count > 0 {
        out.push(gauge(
            n("latency_quantile_seconds"),
            "The collector's HDR latency quantiles since its last reset.",
            "s",
            [
                ("0.5", l.p50),
                ("0.95", l.p95),
                ("0.99", l.p99),
                ("0.999", l.p999),
            ]
            .into_iter()
            .map(|(q, v)| (vec![attribute("quantile", q)], secs(v)))
            .collect(),
        ));
    }
    out.push(counter(
        n("latency_clamped_total"),
        "Latency samples above the configured highest, recorded as it.",
        l.clamped,
    ));
    let t = &s.throughput;
    out.push(counter(
        n("tokens_total"),
        "Tokens recorded since the last reset.",
        t.total_tokens,
    ));
    out.push(counter(
        n("requests_total"),
        "Requests recorded since the last reset.",
        t.total_requests,
    ));
    out.push(counter(
        n("throughput_clamped_total"),
        "Throughput records cut by saturation.",
        t.clamped,
    ));
    let per_window = |rate: fn(&crate::snapshot::WindowRate) -> f64| {
        t.windows
            .iter()
            .map(|w| {
                let label = format!("{}s", w.window.as_secs_f64());
                (vec![attribute("window", &label)], rate(w))
            })
            .collect::<Vec<_>>()
    };
    out.push(gauge(
        n("tokens_per_second"),
        "Tokens per second over each window.",
        "",
        per_window(|w| w.tokens_per_sec),
    ));
    out.push(gauge(
        n("requests_per_second"),
        "Requests per second over each window.",
        "",
        per_window(|w| w.requests_per_sec),
    ));
    out.push(gauge(
        n("window_covered_seconds"),
        "Time each window's rates are over: its length once full, less before.",
        "s",
        per_window(|w| w.covered.as_secs_f64()),
    ));

    let b = &s.batch;
    // Powers of two up to the largest size: sizes are integers, so every
    // count is exact.
    let mut bounds = vec![1.0];
    while (*bounds.last().unwrap_or(&1.0) as u64) < b.max {
        bounds.push(bounds.last().unwrap_or(&1.0) * 2.0);
    }
    let mut counts = vec![0_u64; bounds.len() + 1];
    let mut sum = 0_u128;
    for (&size, &count) in &b.distribution {
        let j = bounds.partition_point(|&le| le < size as f64);
        counts[j] = counts[j].saturating_add(count);
        sum += u128::from(size) * u128::from(count);
    }
    out.push(Metric {
        name: n("batch_size"),
        description: "Batch sizes since the last reset (exact counts).".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start_ns,
                time_unix_nano: end_ns,
                count: b.count,
                sum: Some(sum as f64),
                bucket_counts: counts,
                explicit_bounds: bounds,
                min: (b.count > 0).then_some(b.min as f64),
                max: (b.count > 0).then_some(b.max as f64),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    });
    if let Some(c) = b.current {
        out.push(gauge(
            n("batch_size_current"),
            "The batch size most recently recorded.",
            "",
            vec![(Vec::new(), c as f64)],
        ));
    }
    out.push(counter(
        n("batch_size_clamped_total"),
        "Batch sizes above the configured largest, recorded as it.",
        b.clamped,
    ));
    let q = &s.queue_depth;
    if let Some(c) = q.current {
        out.push(gauge(
            n("queue_depth"),
            "The queue depth most recently recorded.",
            "",
            vec![(Vec::new(), c as f64)],
        ));
    }
    out.push(gauge(
        n("queue_depth_max"),
        "The largest queue depth since the last reset.",
        "",
        vec![(Vec::new(), q.max as f64)],
    ));
    out.push(gauge(
        n("queue_depth_mean"),
        "The mean queue depth since the last reset.",
        "",
        vec![(Vec::new(), q.mean)],
    ));
    out.push(counter(
        n("queue_depth_samples_total"),
        "Queue depths recorded since the last reset.",
        q.count,
    ));
    out.push(counter(
        n("queue_depth_clamped_total"),
        "Queue depths above the configured largest, recorded as it.",
        q.clamped,
    ));
    let m = &s.mode;
    if let Some(c) = m.current {
        out.push(gauge(
            n("mode"),
            "The current scheduler mode's id.",
            "",
            vec![(Vec::new(), f64::from(c.0))],
        ));
    }
    out.push(counter(
        n("mode_transitions_total"),
        "Mode changes since the last reset.",
        m.transitions,
    ));
    out
}

/// The request carrying `metrics` under the options' resource and scope.
pub(crate) fn request(metrics: Vec<Metric>, opts: &OtlpOpts) -> ExportMetricsServiceRequest {
    let mut resource: BTreeMap<&str, &str> = BTreeMap::new();
    resource.insert("service.name", &opts.service_name);
    resource.insert("telemetry.sdk.name", "lockfree-metrics");
    resource.insert("telemetry.sdk.language", "rust");
    resource.insert("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
    for (k, v) in &opts.resource {
        resource.insert(k, v);
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.into_iter().map(|(k, v)| attribute(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: opts.scope_name.clone(),
                    version: opts.scope_version.clone(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{HistogramOpts, Registry};

    #[test]
    fn scale_matches_precision() {
        assert_eq!(scale_for_digits(1), 3);
        assert_eq!(scale_for_digits(2), 6);
        assert_eq!(scale_for_digits(3), 8);
        assert!((relative_error(6) - 0.010_889_286).abs() < 1e-8);
    }

    #[test]
    fn index_brackets_the_value() {
        for scale in [-4, -1, 0, 1, 3, 6, 8] {
            let base = 2_f64.powf(2_f64.powi(-scale));
            for k in -40..40 {
                // Powers of two sit exactly on a boundary: the bucket
                // below them (upper bounds are inclusive).
                let v = 2_f64.powi(k);
                let i = exponential_index(v, scale);
                let expected = if scale >= 0 {
                    k * (1 << scale) - 1
                } else {
                    (k + (1 << -scale) - 1).div_euclid(1 << -scale) - 1
                };
                assert_eq!(i, expected, "2^{k} at scale {scale}");
            }
            for v in [1e-9, 3.3e-7, 0.0042, 0.5, 1.7, 123.456, 3600.0] {
                let i = exponential_index(v, scale);
                let (lo, hi) = (base.powi(i), base.powi(i + 1));
                assert!(
                    lo < v * (1.0 + 1e-12) && v <= hi * (1.0 + 1e-12),
                    "{v} at scale {scale}: ({lo}, {hi}]"
                );
            }
        }
    }

    #[test]
    fn buckets_total_the_count() {
        let registry = Registry::new();
        let h = registry
            .histogram_with("h", &[], HistogramOpts::default())
            .unwrap();
        for v in [0, 0, 1, 5, 999, 1_000, 1_001, 5_000_000, 3_600_000_000_000] {
            h.record(v);
        }
        let s = registry.snapshot();
        let h = s.get("h", &[]).unwrap().as_histogram().unwrap();
        let (_, zero, _, counts) = exponential(h);
        assert_eq!(zero + counts.iter().sum::<u64>(), h.count());
        assert_eq!(zero, 2);
        let bounds = decades(1e-9, 3600.0);
        assert_eq!(explicit(h, &bounds).iter().sum::<u64>(), h.count());
    }

    #[test]
    fn decades_cover_the_range() {
        assert_eq!(
            decades(0.001, 1.0),
            vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
        );
        assert!(decades(0.0, 1.0).is_empty());
    }
}
