//! What gets exposed: the readings as Prometheus families, named and
//! checked for every format before any encoder sees them.

use std::{collections::HashSet, sync::Arc};

use super::{
    mapping::{self, Native},
    RenderOpts,
};
use crate::{
    registry::{
        sanitize_name, Description, HistogramOpts, HistogramValue, Registry, RegistrySnapshot,
        SeriesKey, SeriesSnapshot, Value,
    },
    snapshot::Snapshot,
};

/// A family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

/// One family, named for the formats.
#[derive(Debug)]
pub(crate) struct Family {
    /// The OpenMetrics family name (a counter's without `_total`); the
    /// unit, if any, is its suffix.
    pub(crate) name: String,
    /// `name` without the unit suffix: prometheus-client appends `_unit`.
    pub(crate) base: String,
    pub(crate) unit: Option<String>,
    pub(crate) help: String,
    pub(crate) kind: Kind,
    /// At least one.
    pub(crate) series: Vec<Series>,
}

#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) labels: Arc<SeriesKey>,
    pub(crate) value: Sample,
}

#[derive(Debug)]
pub(crate) enum Sample {
    Counter(u64),
    Gauge(f64),
    Histogram(Hist),
    Summary(Summ),
}

#[derive(Debug)]
pub(crate) struct Hist {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    /// Per-bucket counts, `+Inf` last.
    pub(crate) buckets: Vec<(f64, u64)>,
    /// Set for protobuf only (never without the `protobuf` feature).
    #[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
    pub(crate) native: Option<Native>,
}

#[derive(Debug)]
pub(crate) struct Summ {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    /// `(quantile, value)`, quantiles ascending.
    pub(crate) quantiles: Vec<(f64, f64)>,
}

/// A registry family being gathered from its series.
#[derive(Debug)]
struct OpenFamily {
    name: String,
    /// The kind of value its series hold (its first series').
    value: Kind,
    /// The kind it is written as.
    kind: Kind,
    help: String,
    unit: Option<String>,
    series: Vec<Series>,
}

/// The family being gathered, and its histograms' boundaries and cuts
/// for the options they were computed for.
#[derive(Debug, Default)]
struct Open {
    family: Option<OpenFamily>,
    bounds: Option<(HistogramOpts, Vec<f64>, Vec<usize>)>,
}

/// The families of every source, in order, clashes left out.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) families: Vec<Family>,
    /// Names (as the source gave them) left out because their samples'
    /// names would clash with an earlier family's.
    pub(crate) left_out: Vec<String>,
    taken: HashSet<String>,
}

/// The sample names a family of `kind` named `name` claims in OpenMetrics
/// (whose parsers reject a family reusing another's).
fn claims(name: &str, kind: Kind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Gauge => &[""],
        Kind::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
        Kind::Summary => &["", "_count", "_sum", "_created"],
    };
    suffixes.iter().map(|s| format!("{name}{s}")).collect()
}

/// Whether `unit` can be a name suffix: `[a-zA-Z0-9_:]+`.
fn valid_unit(unit: &str) -> bool {
    !unit.is_empty()
        && unit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// (family name, base, unit) for a series name: a counter's `_total`
/// comes off (the encoders add it to the sample); the unit is kept only
/// when the family name ends with `_<unit>` (OpenMetrics requires it).
pub(crate) fn names(
    name: &str,
    kind: Kind,
    unit: Option<&str>,
) -> (String, String, Option<String>) {
    let family = match kind {
        Kind::Counter => match name.strip_suffix("_total") {
            Some(stem) if !stem.is_empty() => stem,
            _ => name,
        },
        _ => name,
    };
    let unit = unit.filter(|u| {
        valid_unit(u)
            && family.len() > u.len() + 1
            && family.ends_with(u)
            && family.as_bytes()[family.len() - u.len() - 1] == b'_'
    });
    let base = match unit {
        Some(u) => &family[..family.len() - u.len() - 1],
        None => family,
    };
    (
        family.to_string(),
        base.to_string(),
        unit.map(str::to_string),
    )
}

/// `key` with label `reserved` (`le`, `quantile`) renamed
/// `exported_<reserved>` (prefixed again while taken), as Prometheus
/// renames clashing target labels.
fn without_reserved(key: &Arc<SeriesKey>, reserved: &str) -> Arc<SeriesKey> {
    if key.label(reserved).is_none() {
        return key.clone();
    }
    let mut renamed = format!("exported_{reserved}");
    while key.label(&renamed).is_some() {
        renamed.insert_str(0, "exported_");
    }
    let labels = key
        .labels()
        .map(|(k, v)| {
            let k: Arc<str> = if k == reserved {
                renamed.as_str().into()
            } else {
                k.into()
            };
            (k, Box::<str>::from(v))
        })
        .collect();
    Arc::new(SeriesKey::from_checked(key.name_arc().clone(), labels))
}

/// The key of a collector family's series: only its labels are exposed.
fn key(labels: &[(&str, &str)]) -> Arc<SeriesKey> {
    // Label names here are the crate's own, all valid.
    Arc::new(
        SeriesKey::new("x", labels)
            .unwrap_or_else(|_| SeriesKey::from_checked("x".into(), Vec::new())),
    )
}

impl Model {
    /// Adds a family unless it has no series or clashes.
    fn push(
        &mut self,
        source_name: &str,
        kind: Kind,
        help: &str,
        unit: Option<&str>,
        series: Vec<Series>,
    ) {
        if series.is_empty() {
            return;
        }
        let (name, base, unit) = names(source_name, kind, unit);
        let claimed = claims(&name, kind);
        if claimed.iter().any(|c| self.taken.contains(c)) {
            self.left_out.push(source_name.to_string());
            return;
        }
        self.taken.extend(claimed);
        self.families.push(Family {
            name,
            base,
            unit,
            // Parsers disagree on whitespace at the ends of a HELP line
            // (Python's drop it, Go's keep it): none is written.
            help: help
                .trim_matches(|c: char| c.is_whitespace() || c.is_control())
                .to_string(),
            kind,
            series,
        });
    }

    /// The registry's families, in its (name, labels) order.
    pub(crate) fn add_registry(
        &mut self,
        snapshot: &RegistrySnapshot,
        opts: &RenderOpts,
        native: bool,
    ) {
        let mut open = Open::default();
        for s in snapshot.iter() {
            self.add_registry_series(&mut open, s, &|n| snapshot.description(n), opts, native);
        }
        self.close(&mut open);
    }

    /// The registry's families read one series at a time
    /// (`Registry::read_each`): the same families as
    /// [`add_registry`](Self::add_registry) of its snapshot, holding one
    /// histogram's counts at a time.
    pub(crate) fn add_registry_live(
        &mut self,
        registry: &Registry,
        opts: &RenderOpts,
        native: bool,
    ) {
        let mut open = Open::default();
        // The descriptions are read after the series (as `snapshot` does);
        // a family's HELP is needed as soon as it opens, so it is looked up
        // in the registry's current descriptions then.
        let descriptions = registry.descriptions();
        registry.read_each(|s| {
            self.add_registry_series(&mut open, s, &|n| descriptions.get(n), opts, native);
        });
        self.close(&mut open);
    }

    /// Pushes the open family, if any.
    fn close(&mut self, open: &mut Open) {
        if let Some(f) = open.family.take() {
            self.push(&f.name, f.kind, &f.help, f.unit.as_deref(), f.series);
        }
    }

    /// Adds series `s` (the registry's series come sorted, so a family's
    /// are adjacent) to the open family, closing it first when `s` starts
    /// another. A family's type is its first series'; series of another
    /// type are left out.
    fn add_registry_series<'d>(
        &mut self,
        open: &mut Open,
        s: &SeriesSnapshot,
        description_of: &dyn Fn(&str) -> Option<&'d Description>,
        opts: &RenderOpts,
        native: bool,
    ) {
        let name = s.key.name();
        if open.family.as_ref().is_none_or(|f| f.name != name) {
            self.close(open);
            let description = description_of(name);
            let help = description.map_or("", |d| d.help.as_str());
            let described_unit = description
                .and_then(|d| d.unit.as_deref())
                .filter(|u| !u.is_empty());
            let (value, kind, unit) = match &s.value {
                Value::Counter(_) => (Kind::Counter, Kind::Counter, described_unit),
                Value::Gauge(_) => (Kind::Gauge, Kind::Gauge, described_unit),
                Value::Histogram(h) => (
                    Kind::Histogram,
                    if opts.summary_quantiles.is_some() {
                        Kind::Summary
                    } else {
                        Kind::Histogram
                    },
                    // Nanoseconds are exported as seconds: the unit is
                    // known even when not described.
                    described_unit.or((h.opts().get_scale() == 1e9 && name.ends_with("_seconds"))
                        .then_some("seconds")),
                ),
            };
            open.family = Some(OpenFamily {
                name: name.to_string(),
                value,
                kind,
                help: help.to_string(),
                unit: unit.map(str::to_string),
                series: Vec::new(),
            });
            open.bounds = None;
        }
        let Some(f) = open.family.as_mut() else {
            return;
        };
        let value = match (&s.value, f.value) {
            (Value::Counter(v), Kind::Counter) => Sample::Counter(*v),
            (Value::Gauge(v), Kind::Gauge) => Sample::Gauge(*v),
            (Value::Histogram(h), Kind::Histogram) => {
                if let Some(quantiles) = &opts.summary_quantiles {
                    f.series.push(Series {
                        labels: without_reserved(&s.key, "quantile"),
                        value: Sample::Summary(summary_of(h, quantiles)),
                    });
                    return;
                }
                // The boundaries and their HDR cuts depend only on the
                // histogram's options: computed once per family and options.
                let reuse = open.bounds.as_ref().is_some_and(|(o, _, _)| *o == h.opts());
                if !reuse {
                    let bounds = opts.buckets_of(&f.name).bounds_for(h);
                    let cuts = h.cuts(&bounds);
                    open.bounds = Some((h.opts(), bounds, cuts));
                }
                let Some((_, bounds, cuts)) = open.bounds.as_ref() else {
                    return;
                };
                Sample::Histogram(Hist {
                    sum: h.sum_scaled(),
                    count: h.count(),
                    buckets: mapping::classic_cut(h, bounds, cuts),
                    native: native.then(|| mapping::native(h)),
                })
            }
            _ => return,
        };
        let reserved = if f.kind == Kind::Histogram { "le" } else { "" };
        let labels = if reserved.is_empty() {
            s.key.clone()
        } else {
            without_reserved(&s.key, reserved)
        };
        f.series.push(Series { labels, value });
    }

    /// The collector's families, named `<prefix>_...`.
    pub(crate) fn add_collector(&mut self, prefix: &str, s: &Snapshot, opts: &RenderOpts) {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{}_", sanitize_name(prefix))
        };
        let n = |suffix: &str| format!("{prefix}{suffix}");
        let one = |value: Sample| {
            vec![Series {
                labels: key(&[]),
                value,
            }]
        };
        let optional = |value: Option<Sample>| value.map(one).unwrap_or_default();
        let secs = |d: std::time::Duration| d.as_secs_f64();

        let l = &s.latency;
        let quantiles = if l.count == 0 {
            // OpenMetrics: NaN when there are no samples.
            [0.5, 0.95, 0.99, 0.999].map(|q| (q, f64::NAN)).to_vec()
        } else {
            vec![
                (0.5, secs(l.p50)),
                (0.95, secs(l.p95)),
                (0.99, secs(l.p99)),
                (0.999, secs(l.p999)),
            ]
        };
        self.push(
            &n("latency_seconds"),
            Kind::Summary,
            "Request latency since the collector's last reset: HDR quantiles; the sum is mean x count (the mean is rounded to the nanosecond).",
            Some("seconds"),
            one(Sample::Summary(Summ {
                sum: secs(l.mean) * l.count as f64,
                count: l.count,
                quantiles,
            })),
        );
        self.push(
            &n("latency_clamped_total"),
            Kind::Counter,
            "Latency samples above the configured highest, recorded as it.",
            None,
            one(Sample::Counter(l.clamped)),
        );

        let t = &s.throughput;
        self.push(
            &n("tokens_total"),
            Kind::Counter,
            "Tokens recorded since the last reset.",
            None,
            one(Sample::Counter(t.total_tokens)),
        );
        self.push(
            &n("requests_total"),
            Kind::Counter,
            "Requests recorded since the last reset.",
            None,
            one(Sample::Counter(t.total_requests)),
        );
        self.push(
            &n("throughput_clamped_total"),
            Kind::Counter,
            "Throughput records cut by saturation.",
            None,
            one(Sample::Counter(t.clamped)),
        );
        let per_window = |rate: fn(&crate::snapshot::WindowRate) -> f64| {
            t.windows
                .iter()
                .map(|w| Series {
                    labels: key(&[(
                        "window",
                        &format!("{}s", super::encode::go_float(w.window.as_secs_f64())),
                    )]),
                    value: Sample::Gauge(rate(w)),
                })
                .collect::<Vec<_>>()
        };
        self.push(
            &n("tokens_per_second"),
            Kind::Gauge,
            "Tokens per second over each window.",
            None,
            per_window(|w| w.tokens_per_sec),
        );
        self.push(
            &n("requests_per_second"),
            Kind::Gauge,
            "Requests per second over each window.",
            None,
            per_window(|w| w.requests_per_sec),
        );
        self.push(
            &n("window_covered_seconds"),
            Kind::Gauge,
            "Time each window's rates are over: its length once full, less before.",
            None,
            per_window(|w| w.covered.as_secs_f64()),
        );

        let b = &s.batch;
        let bounds = &opts.batch_buckets;
        let mut counts = vec![0_u64; bounds.len() + 1];
        let mut sum = 0_u128;
        for (&size, &count) in &b.distribution {
            let j = bounds.partition_point(|&le| le < size as f64);
            counts[j] = counts[j].saturating_add(count);
            sum += u128::from(size) * u128::from(count);
        }
        mapping::saturate_running(&mut counts);
        self.push(
            &n("batch_size"),
            Kind::Histogram,
            "Batch sizes since the last reset (exact counts).",
            None,
            one(Sample::Histogram(Hist {
                sum: sum as f64,
                count: b.count,
                buckets: bounds
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .zip(counts)
                    .collect(),
                native: None,
            })),
        );
        self.push(
            &n("batch_size_current"),
            Kind::Gauge,
            "The batch size most recently recorded.",
            None,
            optional(b.current.map(|c| Sample::Gauge(c as f64))),
        );
        self.push(
            &n("batch_size_clamped_total"),
            Kind::Counter,
            "Batch sizes above the configured largest, recorded as it.",
            None,
            one(Sample::Counter(b.clamped)),
        );

        let q = &s.queue_depth;
        self.push(
            &n("queue_depth"),
            Kind::Gauge,
            "The queue depth most recently recorded.",
            None,
            optional(q.current.map(|c| Sample::Gauge(c as f64))),
        );
        self.push(
            &n("queue_depth_max"),
            Kind::Gauge,
            "The largest queue depth since the last reset.",
            None,
            one(Sample::Gauge(q.max as f64)),
        );
        self.push(
            &n("queue_depth_mean"),
            Kind::Gauge,
            "The mean queue depth since the last reset.",
            None,
            one(Sample::Gauge(q.mean)),
        );
        self.push(
            &n("queue_depth_samples_total"),
            Kind::Counter,
            "Queue depths recorded since the last reset.",
            None,
            one(Sample::Counter(q.count)),
        );
        self.push(
            &n("queue_depth_clamped_total"),
            Kind::Counter,
            "Queue depths above the configured largest, recorded as it.",
            None,
            one(Sample::Counter(q.clamped)),
        );

        let m = &s.mode;
        self.push(
            &n("mode"),
            Kind::Gauge,
            "The current scheduler mode's id.",
            None,
            optional(m.current.map(|c| Sample::Gauge(f64::from(c.0)))),
        );
        self.push(
            &n("mode_transitions_total"),
            Kind::Counter,
            "Mode changes since the last reset.",
            None,
            one(Sample::Counter(m.transitions)),
        );
    }
}

/// `h` as a summary: HDR quantiles (NaN when empty), sum and count, in
/// the exported unit.
fn summary_of(h: &HistogramValue, quantiles: &[f64]) -> Summ {
    let scale = h.opts().get_scale();
    let empty = h.count() == 0;
    Summ {
        sum: h.sum_scaled(),
        count: h.count(),
        quantiles: quantiles
            .iter()
            .map(|&q| {
                let v = if empty {
                    f64::NAN
                } else {
                    h.quantile(q) as f64 / scale
                };
                (q, v)
            })
            .collect(),
    }
}
