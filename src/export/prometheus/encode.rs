//! The model in each wire format. Text: prometheus-client's encoders
//! (behind a `Collector` over the model) for counters, gauges and
//! histograms; our own lines for summaries, which it lacks
//! (prometheus/client_rust#40). Protobuf: the generated client_model
//! messages, encoded by prost.

use std::{borrow::Cow, fmt::Write as _, ops::Range, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{
        prometheus_text, text, DescriptorEncoder, EncodeLabelSet, LabelSetEncoder, NoLabelSet,
    },
    metrics::MetricType,
    registry::{Registry, Unit},
};

use super::model::{Family, Kind, Sample};
#[cfg(feature = "protobuf")]
use super::proto as pb;
use crate::registry::SeriesKey;

/// A run of the model's families, for prometheus-client to encode
/// (summaries skipped: they are written apart).
#[derive(Debug)]
struct Families {
    model: Arc<Vec<Family>>,
    range: Range<usize>,
    /// OpenMetrics text: HELP escaped here (the encoder writes it as is).
    escape_help: bool,
}

/// A series' labels, escaped by the encoder.
struct Labels<'a>(&'a SeriesKey);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        for (name, value) in self.0.labels() {
            let mut label = encoder.encode_label();
            let mut key = label.encode_label_key()?;
            key.write_str(name)?;
            let mut value_encoder = key.encode_label_value()?;
            value_encoder.write_str(value)?;
            value_encoder.finish()?;
        }
        Ok(())
    }
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        // Summaries never reach the encoder.
        Kind::Histogram | Kind::Summary => MetricType::Histogram,
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.model[self.range.clone()] {
            if family.kind == Kind::Summary {
                continue;
            }
            let help = if self.escape_help {
                Cow::Owned(escape_help(&family.help, true))
            } else {
                Cow::Borrowed(family.help.as_str())
            };
            let unit = family.unit.clone().map(Unit::Other);
            let mut metric = encoder.encode_descriptor(
                &family.base,
                &help,
                unit.as_ref(),
                metric_type(family.kind),
            )?;
            for series in &family.series {
                let labels = Labels(&series.labels);
                let mut e = metric.encode_family(&labels)?;
                match &series.value {
                    Sample::Counter(v) => e.encode_counter::<NoLabelSet, u64, u64>(v, None)?,
                    Sample::Gauge(v) => e.encode_gauge(v)?,
                    // Native buckets are computed for protobuf only,
                    // which these encoders do not write.
                    Sample::Histogram(h) => {
                        e.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?
                    }
                    Sample::Summary(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// Text 0.0.4 (`om == false`) or OpenMetrics 1.0.
pub(crate) fn text(model: &Arc<Vec<Family>>, om: bool) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < model.len() {
        if model[i].kind == Kind::Summary {
            write_summary(&mut out, &model[i], om);
            i += 1;
            continue;
        }
        let end = (i..model.len())
            .find(|&j| model[j].kind == Kind::Summary)
            .unwrap_or(model.len());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Families {
            model: model.clone(),
            range: i..end,
            escape_help: om,
        }));
        let start = out.len();
        let encoded = if om {
            text::encode_registry(&mut out, &registry)
        } else {
            prometheus_text::encode(&mut out, &registry)
        };
        if encoded.is_err() {
            // Not reachable (a String never refuses a write, and native
            // buckets never reach a text encoder); leave no partial family.
            out.truncate(start);
        } else if om {
            fix_infinities(&mut out, start);
        }
        i = end;
    }
    if om {
        out.push_str("# EOF\n");
    }
    out
}

/// prometheus-client 0.26 writes an OpenMetrics gauge's infinities as
/// `inf` / `-inf` (dtoa); the spec's are `+Inf` / `-Inf`. Only a sample
/// line's last token is a value, and only gauges can be infinite.
fn fix_infinities(out: &mut String, start: usize) {
    if !out[start..].contains("inf\n") {
        return;
    }
    let mut fixed = String::with_capacity(out.len() - start + 16);
    for line in out[start..].split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if !body.starts_with('#') {
            if let Some(head) = body.strip_suffix(" -inf") {
                fixed.push_str(head);
                fixed.push_str(" -Inf\n");
                continue;
            }
            if let Some(head) = body.strip_suffix(" inf") {
                fixed.push_str(head);
                fixed.push_str(" +Inf\n");
                continue;
            }
        }
        fixed.push_str(line);
    }
    out.truncate(start);
    out.push_str(&fixed);
}

/// Length-delimited `io.prometheus.client.MetricFamily` messages, one per
/// family, in order.
#[cfg(feature = "protobuf")]
pub(crate) fn protobuf(model: &[Family]) -> Vec<u8> {
    use prost::Message as _;
    let mut out = Vec::new();
    for family in model {
        // Writing into a Vec cannot run out of room.
        let _ = family_message(family).encode_length_delimited(&mut out);
    }
    out
}

/// A family's message, its fields set as prometheus-client 0.26's
/// protobuf encoder sets them (name `base[_unit][_total]`, help unescaped,
/// a counter's value as a double, classic buckets cumulative, no
/// timestamps or exemplars), so its bytes are the ones that encoder wrote.
#[cfg(feature = "protobuf")]
fn family_message(family: &Family) -> pb::MetricFamily {
    let mut name = family.base.clone();
    if let Some(unit) = &family.unit {
        name.push('_');
        name.push_str(unit);
    }
    let r#type = match family.kind {
        Kind::Counter => {
            name.push_str("_total");
            pb::MetricType::Counter
        }
        Kind::Gauge => pb::MetricType::Gauge,
        Kind::Histogram => pb::MetricType::Histogram,
        Kind::Summary => {
            // A summary's name is its family name (no unit appended).
            name = family.name.clone();
            pb::MetricType::Summary
        }
    };
    pb::MetricFamily {
        name,
        help: family.help.clone(),
        r#type: r#type as i32,
        unit: family.unit.clone().unwrap_or_default(),
        metric: family.series.iter().map(metric_message).collect(),
    }
}

#[cfg(feature = "protobuf")]
fn metric_message(series: &super::model::Series) -> pb::Metric {
    let label = series
        .labels
        .labels()
        .map(|(name, value)| pb::LabelPair {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect();
    let mut metric = pb::Metric {
        label,
        ..Default::default()
    };
    match &series.value {
        Sample::Counter(v) => {
            metric.counter = Some(pb::Counter {
                value: *v as f64,
                exemplar: None,
                start_timestamp: None,
            })
        }
        Sample::Gauge(v) => metric.gauge = Some(pb::Gauge { value: *v }),
        Sample::Histogram(h) => {
            let mut cumulative_count = 0;
            let bucket = h
                .buckets
                .iter()
                .map(|&(upper_bound, count)| {
                    cumulative_count += count;
                    pb::Bucket {
                        cumulative_count,
                        upper_bound,
                        ..Default::default()
                    }
                })
                .collect();
            let mut histogram = pb::Histogram {
                sample_count: h.count,
                sample_sum: h.sum,
                bucket,
                ..Default::default()
            };
            if let Some(n) = &h.native {
                histogram.schema = n.schema;
                histogram.zero_threshold = n.zero_threshold;
                histogram.zero_count = n.zero_count;
                histogram.positive_span = n
                    .spans
                    .iter()
                    .map(|&(offset, length)| pb::BucketSpan { offset, length })
                    .collect();
                histogram.positive_delta = n.deltas.clone();
            }
            metric.histogram = Some(histogram);
        }
        Sample::Summary(q) => {
            metric.summary = Some(pb::Summary {
                sample_count: q.count,
                sample_sum: q.sum,
                quantile: q
                    .quantiles
                    .iter()
                    .map(|&(quantile, value)| pb::Quantile { quantile, value })
                    .collect(),
                start_timestamp: None,
            })
        }
    }
    metric
}

/// A summary family in text: `name{...,quantile="q"}`, `name_sum`,
/// `name_count` per series.
fn write_summary(out: &mut String, family: &Family, om: bool) {
    let name = &family.name;
    let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help, om));
    let _ = writeln!(out, "# TYPE {name} summary");
    if om {
        if let Some(unit) = &family.unit {
            let _ = writeln!(out, "# UNIT {name} {unit}");
        }
    }
    for series in &family.series {
        let Sample::Summary(s) = &series.value else {
            continue;
        };
        for &(q, v) in &s.quantiles {
            let q = if om { om_label_float(q) } else { go_float(q) };
            out.push_str(name);
            write_labels(out, &series.labels, Some(("quantile", &q)));
            let _ = writeln!(out, " {}", go_float(v));
        }
        out.push_str(name);
        out.push_str("_sum");
        write_labels(out, &series.labels, None);
        let _ = writeln!(out, " {}", go_float(s.sum));
        out.push_str(name);
        out.push_str("_count");
        write_labels(out, &series.labels, None);
        let _ = writeln!(out, " {}", s.count);
    }
}

/// `{name="value",...}` with `\`, `"` and newlines escaped (both text
/// formats), `extra` last; nothing when there are no labels.
fn write_labels(out: &mut String, key: &SeriesKey, extra: Option<(&str, &str)>) {
    let mut first = true;
    for (name, value) in key.labels().chain(extra) {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// HELP text escaped: `\` and newlines in 0.0.4, and `"` too in
/// OpenMetrics (whose escaped-string excludes a bare `"`).
pub(crate) fn escape_help(help: &str, om: bool) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if om => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, with `+Inf`, `-Inf` and
/// `NaN`: what Prometheus' own clients write (shortest digits, an
/// exponent below 1e-4 and from 1e6).
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        // Display writes the same shortest digits without an exponent.
        format!("{v}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// OpenMetrics' canonical number for `le` and `quantile` values: Go's
/// `%g` with `.0` added to integers (`1.0`, `0.5`, `1e-05`), `+Inf`.
pub(crate) fn om_label_float(v: f64) -> String {
    let mut s = go_float(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}
