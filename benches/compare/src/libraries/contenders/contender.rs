//! One contender of the library comparison: which option it is
//! ([`Contender`]), the trait its adapter implements ([`Library`], [`Writer`]),
//! the accounting check, and the reads of a Prometheus text. A leaf of
//! the adapters: each adapter file implements [`Library`], and `mod.rs`
//! maps every [`Contender`] to its adapter.

use std::{collections::BTreeMap, sync::atomic::AtomicBool, sync::OnceLock, time::Duration};

use clap::ValueEnum;
use serde::Serialize;

/// The histogram every library records into.
pub(crate) const METRIC: &str = "request_latency_seconds";
/// Its help text.
pub(crate) const HELP: &str = "Request latency.";
/// The label that tells the series apart.
pub(crate) const LABEL: &str = "series";
/// The most series a run may ask for (their label values are made once).
pub(crate) const MAX_SERIES: usize = 10_000;
/// Bucket bounds, in seconds, of every library with explicit buckets:
/// Prometheus' defaults (client_golang `DefBuckets`, tikv
/// `prometheus::DEFAULT_BUCKETS`).
pub(crate) const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// `prometheus LocalHistogram`: a thread flushes a series' local
/// histogram after this many of its records (and at the end).
pub(crate) const LOCAL_FLUSH_EVERY: u32 = 1_024;
/// How often the exporter's upkeep runs (`PrometheusBuilder`'s default
/// `upkeep_timeout`), and the `AtomicBucket` reader drains.
pub(crate) const UPKEEP: Duration = Duration::from_secs(5);
/// How often the `SyncHistogram` refresher refreshes every series.
pub(crate) const REFRESH: Duration = Duration::from_millis(50);
/// The longest a background thread sleeps before it looks at its stop flag.
pub(crate) const NAP: Duration = Duration::from_millis(5);

/// The label values "0" to "MAX_SERIES-1", made once per process (before
/// anything is measured), so that no record path formats a number.
pub(crate) fn labels() -> &'static [&'static str] {
    static LABELS: OnceLock<Vec<&'static str>> = OnceLock::new();
    LABELS.get_or_init(|| {
        (0..MAX_SERIES)
            .map(|i| &*Box::leak(i.to_string().into_boxed_str()))
            .collect()
    })
}

/// The value `f64`-seconds libraries record for `ns`.
#[inline(always)]
pub(crate) fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A contender of the library comparison (an option, in its tables): a
/// library, set up one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Contender {
    /// This crate's registry: a histogram family, handles from `Family::with`.
    #[value(name = "registry")]
    Registry,
    /// This crate's `FacadeRecorder` behind the `metrics` macros.
    #[value(name = "facade")]
    Facade,
    /// The engine: `Sharded`, one series (the reference in one-series).
    #[value(name = "sharded")]
    Sharded,
    /// `metrics` + `metrics-exporter-prometheus`, default summaries.
    #[value(name = "exporter")]
    Exporter,
    /// The same with `set_buckets`.
    #[value(name = "exporter-buckets")]
    ExporterBuckets,
    /// `metrics-util`'s `AtomicBucket`, raw.
    #[value(name = "atomic-bucket")]
    AtomicBucket,
    /// tikv `prometheus`: `HistogramVec` and its `Histogram`s.
    #[value(name = "prometheus")]
    PromHistogram,
    /// tikv `prometheus`: per-thread `LocalHistogram`s, flushed.
    #[value(name = "prometheus-local")]
    PromLocal,
    /// `prometheus-client`: `Family<labels, Histogram>`.
    #[value(name = "prometheus-client")]
    ClientHistogram,
    /// `opentelemetry_sdk`: `Histogram::record` with attributes.
    #[value(name = "otel")]
    OtelHistogram,
    /// `opentelemetry_sdk`: bound instruments.
    #[value(name = "otel-bound")]
    OtelBound,
    /// `hdrhistogram`'s `SyncHistogram`, a `Recorder` per thread.
    #[value(name = "sync-histogram")]
    SyncHistogram,
}

/// An option serialises as its row name.
impl Serialize for Contender {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Contender {
    /// Every option, in table order.
    pub(crate) const ALL: [Contender; 12] = [
        Contender::Registry,
        Contender::Facade,
        Contender::Sharded,
        Contender::Exporter,
        Contender::ExporterBuckets,
        Contender::AtomicBucket,
        Contender::PromHistogram,
        Contender::PromLocal,
        Contender::ClientHistogram,
        Contender::OtelHistogram,
        Contender::OtelBound,
        Contender::SyncHistogram,
    ];

    /// The row name in tables and results.json.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::Registry => "lockfree-metrics registry",
            Contender::Facade => "lockfree-metrics facade",
            Contender::Sharded => "Sharded",
            Contender::Exporter => "metrics + exporter-prometheus",
            Contender::ExporterBuckets => "metrics + exporter-prometheus (buckets)",
            Contender::AtomicBucket => "metrics-util AtomicBucket",
            Contender::PromHistogram => "prometheus Histogram",
            Contender::PromLocal => "prometheus LocalHistogram",
            Contender::ClientHistogram => "prometheus-client Histogram",
            Contender::OtelHistogram => "opentelemetry_sdk Histogram",
            Contender::OtelBound => "opentelemetry_sdk bound",
            Contender::SyncHistogram => "hdrhistogram SyncHistogram",
        }
    }

    /// The row named `name`, if any.
    pub(crate) fn of_name(name: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|p| p.name() == name)
    }

    /// How the option is set up and what its cached record does.
    pub(crate) fn how(self) -> &'static str {
        match self {
            Contender::Registry => "Registry::histogram_family; each thread keeps the Histogram Family::with returned",
            Contender::Facade => "registry.recorder() behind the metrics macros; each thread keeps the handle histogram! returned",
            Contender::Sharded => "the engine itself, one series: record_latency_ns",
            Contender::Exporter => "PrometheusBuilder::new().build_recorder() (summaries) and its handle; a thread runs run_upkeep() every 5 s",
            Contender::ExporterBuckets => "the same with set_buckets (Prometheus' default buckets)",
            Contender::AtomicBucket => "one AtomicBucket<u64> per series, push per record; a reader drains them every 5 s and at read-back",
            Contender::PromHistogram => "HistogramVec in a prometheus::Registry; each thread keeps with_label_values' Histogram",
            Contender::PromLocal => "each thread keeps Histogram::local() per series, flushed every 1,024 records of it and at the end",
            Contender::ClientHistogram => "Family<[(&str, &str); 1], Histogram> in a prometheus_client Registry; each thread keeps get_or_create's Histogram (cloned)",
            Contender::OtelHistogram => "SdkMeterProvider with a ManualReader; Histogram::record(v, &attributes) (the SDK looks the attributes up on every call)",
            Contender::OtelBound => "the same provider; each thread keeps Histogram::bind(&attributes)",
            Contender::SyncHistogram => "one SyncHistogram per series; each thread keeps a Recorder of each; a thread refreshes them every 50 ms",
        }
    }

    /// The call the labelled path makes on every record, for options that
    /// have both a cached handle and a lookup.
    pub(crate) fn lookup(self) -> Option<&'static str> {
        match self {
            Contender::Registry => Some("Family::with(&[value])"),
            Contender::Facade | Contender::Exporter | Contender::ExporterBuckets => {
                Some("histogram!(name, \"series\" => value)")
            }
            Contender::PromHistogram => Some("HistogramVec::with_label_values(&[value])"),
            Contender::ClientHistogram => Some("Family::get_or_create(&labels)"),
            Contender::OtelBound => Some("Histogram::record(v, &attributes), unbound"),
            Contender::Sharded
            | Contender::AtomicBucket
            | Contender::PromLocal
            | Contender::OtelHistogram
            | Contender::SyncHistogram => None,
        }
    }

    /// The most series the option is run with, and why, where limited.
    pub(crate) fn series_limit(self) -> Option<(usize, &'static str)> {
        match self {
            Contender::Sharded => Some((1, "the engine records one latency series")),
            Contender::Exporter => Some((
                1_000,
                "its render, the only read of its counts, computes every summary's quantiles; at \
                 10,000 series that read takes longer than the whole workload (the scrape \
                 workloads time it)",
            )),
            Contender::SyncHistogram => Some((
                1_000,
                "a full HDR histogram (26 KiB at 1 µs-1 h, 2 digits) per series and per thread's Recorder",
            )),
            _ => None,
        }
    }

    /// The engine reference, not a library a user would pick: kept out of
    /// the recommendation.
    pub(crate) fn is_reference(self) -> bool {
        self == Contender::Sharded
    }
}

/// Something done with one option's library type (monomorphised).
pub(crate) trait Visit {
    /// What it gives back.
    type Out;
    /// Does it with library `L`, set up as `peer`.
    fn visit<L: Library>(self, peer: Contender) -> Self::Out;
}

/// A library set up with `S` series of [`METRIC`].
pub(crate) trait Library: Sized + Sync {
    /// What one recording thread keeps: its cached handles, one per series.
    type Writer<'a>: Writer
    where
        Self: 'a;

    /// Sets the library up as `peer` with `series` series, each created
    /// (registered, or recorded nowhere yet but looked up once).
    fn new(peer: Contender, series: usize) -> Result<Self, String>;

    /// The calling thread's handles (made on the thread that records).
    fn writer(&self) -> Self::Writer<'_>;

    /// Whether the library's documentation has a thread run beside the
    /// writers ([`background`](Self::background)).
    fn has_background(&self) -> bool {
        false
    }

    /// That thread's work (upkeep, drain, refresh) until `stop` is set.
    fn background(&self, _stop: &AtomicBool) {}

    /// The library's totals, over every series, read the library's own way.
    fn totals(&self) -> Result<Totals, String>;

    /// A Prometheus text exposition of everything, where the library has an
    /// encoder.
    fn render(&self) -> Option<String>;

    /// Quantiles `qs` of series `series`, in nanoseconds, as the library
    /// (or its exposition, with Prometheus' `histogram_quantile`
    /// interpolation) gives them; `None` where it gives none.
    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>>;

    /// Bytes the library accounts for itself, where it does.
    fn own_bytes(&self) -> Option<usize> {
        None
    }
}

/// One thread's handles into a [`Library`].
pub(crate) trait Writer {
    /// Records `ns` into series `series` through the cached handle.
    fn record(&mut self, series: usize, ns: u64);

    /// Records `ns` into series `series`, looking the series up by its
    /// label value on this call. Options without a lookup
    /// ([`Contender::lookup`] `None`) record nothing here: the workloads never
    /// call it for them, and the accounting check would report it if one
    /// did.
    fn record_labelled(&mut self, series: usize, ns: u64) {
        let _ = (series, ns);
    }

    /// Hands over what the thread holds back (flushes, drops recorders).
    fn finish(self)
    where
        Self: Sized,
    {
    }
}

/// A library's totals after a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Totals {
    /// Samples counted, over every series.
    pub(crate) count: u64,
    /// Their sum, as the library keeps it.
    pub(crate) sum: Sum,
}

/// How a library keeps a histogram's sum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value")]
pub(crate) enum Sum {
    /// An integer sum of nanoseconds: must equal the sum of the records.
    ExactNs(u128),
    /// An `f64` of seconds: rounds on every add, so it must be within
    /// [`SUM_TOLERANCE`] of the records' sum.
    Seconds(f64),
    /// No sum to read, and why.
    None(&'static str),
}

/// The relative error an `f64` sum may have: `n` adds of `n <= 2^32`
/// samples round by at most `n * 2^-53` relatively, under 1e-6.
pub(crate) const SUM_TOLERANCE: f64 = 1e-6;

/// What a run's accounting found.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Accounting {
    /// Records made.
    pub(crate) made: u64,
    /// What the library counted (`None`: it cannot say).
    pub(crate) counted: Option<u64>,
    /// Why a count or sum was not checked.
    pub(crate) unchecked: Vec<String>,
    /// Every difference, spelled out; empty when all match.
    pub(crate) mismatches: Vec<String>,
}

/// Checks `totals` against `made` records summing to `made_sum_ns`.
pub(crate) fn check(totals: &Result<Totals, String>, made: u64, made_sum_ns: u128) -> Accounting {
    let mut a = Accounting {
        made,
        ..Accounting::default()
    };
    match totals {
        Err(why) => a.unchecked.push(format!("no exact count: {why}")),
        Ok(t) => {
            a.counted = Some(t.count);
            if t.count != made {
                a.mismatches
                    .push(format!("count: {made} recorded, {} counted", t.count));
            }
            match t.sum {
                Sum::ExactNs(sum) if sum != made_sum_ns => a
                    .mismatches
                    .push(format!("sum: {made_sum_ns} ns recorded, {sum} ns counted")),
                Sum::Seconds(sum) => {
                    let want = made_sum_ns as f64 / 1e9;
                    let err = (sum - want).abs() / want.max(f64::MIN_POSITIVE);
                    if err > SUM_TOLERANCE {
                        a.mismatches.push(format!(
                            "sum: {want} s recorded, {sum} s counted (relative error {err:.1e})"
                        ));
                    }
                }
                Sum::None(why) => a.unchecked.push(format!("sum: {why}")),
                Sum::ExactNs(_) => {}
            }
        }
    }
    a
}

/// Prometheus' `histogram_quantile`: the `q` quantile of cumulative
/// `buckets` (upper bound, count at or below it; ascending, the last one
/// `+Inf`), interpolated linearly inside its bucket (from 0 in the first);
/// a rank in the `+Inf` bucket gives the highest finite bound. `None` with
/// no samples.
pub(crate) fn bucket_quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let i = buckets.iter().position(|&(_, c)| c as f64 >= rank)?;
    let (upper, count) = buckets[i];
    if upper.is_infinite() {
        return buckets[..i].last().map(|b| b.0);
    }
    let (lower, below) = if i == 0 { (0.0, 0) } else { buckets[i - 1] };
    let inside = count - below;
    if inside == 0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below as f64) / inside as f64)
}

/// One series as a Prometheus text exposition shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TextSeries {
    /// `_count`.
    pub(crate) count: Option<u64>,
    /// `_sum`, in seconds.
    pub(crate) sum: Option<f64>,
    /// Summary lines: (quantile, value in seconds).
    pub(crate) quantiles: Vec<(f64, f64)>,
    /// `_bucket` lines: (le, cumulative count), in the order written.
    pub(crate) buckets: Vec<(f64, u64)>,
}

/// The series of histogram or summary `name` in a text exposition, by the
/// value of their [`LABEL`]. Lines of other names are skipped; a line of
/// this name that does not parse is an error.
pub(crate) fn parse_text(text: &str, name: &str) -> Result<BTreeMap<String, TextSeries>, String> {
    let mut out: BTreeMap<String, TextSeries> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (suffix, rest) = match rest.find('{').or_else(|| rest.find(' ')) {
            Some(i) => rest.split_at(i),
            None => continue,
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => r
                .split_once('}')
                .ok_or_else(|| format!("unclosed labels: {line}"))?,
            None => ("", rest),
        };
        let value = value.split_whitespace().next().unwrap_or("");
        let mut series = String::new();
        let (mut le, mut quantile) = (None, None);
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("bad label: {line}"))?;
            let v = v.trim_matches('"');
            match k.trim() {
                LABEL => series = v.to_string(),
                "le" => le = Some(parse_f64(v)?),
                "quantile" => quantile = Some(parse_f64(v)?),
                _ => {}
            }
        }
        let entry = out.entry(series).or_default();
        match suffix {
            "_count" => entry.count = Some(parse_count(value)?),
            "_sum" => entry.sum = Some(parse_f64(value)?),
            "_bucket" => entry.buckets.push((
                le.ok_or_else(|| format!("bucket without le: {line}"))?,
                parse_count(value)?,
            )),
            "" => entry.quantiles.push((
                quantile.ok_or_else(|| format!("sample without quantile: {line}"))?,
                parse_f64(value)?,
            )),
            _ => {}
        }
    }
    Ok(out)
}

fn parse_f64(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("not a number: {s}")),
    }
}

/// A count as the encoders write it: an integer, or an integral float.
fn parse_count(s: &str) -> Result<u64, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let f = parse_f64(s)?;
    if f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(53) {
        Ok(f as u64)
    } else {
        Err(format!("not an exact count: {s}"))
    }
}

/// Totals from a text exposition: every series' `_count` and `_sum`.
pub(crate) fn text_totals(text: &str) -> Result<Totals, String> {
    let series = parse_text(text, METRIC)?;
    let mut count = 0;
    let mut sum = 0.0;
    for (label, s) in &series {
        count += s
            .count
            .ok_or_else(|| format!("series {label:?} has no _count"))?;
        sum += s
            .sum
            .ok_or_else(|| format!("series {label:?} has no _sum"))?;
    }
    Ok(Totals {
        count,
        sum: Sum::Seconds(sum),
    })
}

/// Quantiles of one series from a text exposition: a summary's own lines
/// where it has one for each `q`, else `histogram_quantile` on its
/// buckets; in nanoseconds.
pub(crate) fn text_quantiles(text: &str, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
    let all = parse_text(text, METRIC).ok()?;
    let s = all.get(*labels().get(series)?)?;
    qs.iter()
        .map(|&q| {
            let seconds = if s.buckets.is_empty() {
                s.quantiles
                    .iter()
                    .find(|(at, _)| (at - q).abs() < 1e-12)
                    .map(|&(_, v)| v)
            } else {
                bucket_quantile(&s.buckets, q)
            };
            seconds.map(|v| v * 1e9)
        })
        .collect()
}
