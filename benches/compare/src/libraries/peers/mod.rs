//! The libraries a user would pick instead of this crate's registry, each
//! behind one trait, set up as its documentation says a server would: one
//! latency histogram, [`METRIC`], with one label `series` ("0" to "S-1").
//!
//! | row | module | setup | cached handle | lookup every call |
//! |---|---|---|---|---|
//! | `lockfree-metrics registry` | `ours` | `Registry::histogram_family` | the `Histogram` `Family::with` returned | `Family::with` |
//! | `lockfree-metrics facade` | `ours` | `FacadeRecorder`, `metrics` macros | the handle `histogram!` returned | `histogram!` |
//! | `Sharded` | `ours` | `Sharded::new(Config::default())` (one series only) | `record_latency_ns` | none |
//! | `metrics + exporter-prometheus` | `exporter` | `PrometheusBuilder::build_recorder`, summaries, upkeep thread | the handle `histogram!` returned | `histogram!` |
//! | `metrics + exporter-prometheus (buckets)` | `exporter` | the same with `set_buckets` | as above | as above |
//! | `metrics-util AtomicBucket` | `exporter` | one bucket per series, drained by a reader | `push` | none |
//! | `prometheus Histogram` | `tikv` | `HistogramVec` in a `Registry` | `with_label_values` once | `with_label_values` |
//! | `prometheus LocalHistogram` | `tikv` | `Histogram::local` per thread, flushed every [`LOCAL_FLUSH_EVERY`] | `observe` | none |
//! | `prometheus-client Histogram` | `client` | `Family<labels, Histogram>` in a `Registry` | `get_or_create` once, cloned | `get_or_create` |
//! | `opentelemetry_sdk Histogram` | `otel` | `SdkMeterProvider` + `ManualReader` | `record(v, &attributes)` | (the same) |
//! | `opentelemetry_sdk bound` | `otel` | the same, `Histogram::bind` | the bound handle | `record(v, &attributes)` |
//! | `hdrhistogram SyncHistogram` | `hdr` | one `SyncHistogram` per series, a refresher | the thread's `Recorder` | none |
//!
//! Histograms with explicit buckets all get [`BUCKETS`] (Prometheus'
//! defaults, client_golang's `DefBuckets`), so their quantiles are
//! comparable. Values are nanoseconds on the record path; libraries that
//! record `f64` seconds get `ns / 1e9`.
//!
//! The record path is generic ([`Library`], [`Writer`]): the workloads are
//! monomorphised per library through [`Visit`], with no dynamic dispatch
//! but the libraries' own.

mod client;
mod exporter;
mod hdr;
mod otel;
mod ours;
mod tikv;

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

/// One option of the comparison: a library, set up one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Peer {
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
impl Serialize for Peer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Peer {
    /// Every option, in table order.
    pub(crate) const ALL: [Peer; 12] = [
        Peer::Registry,
        Peer::Facade,
        Peer::Sharded,
        Peer::Exporter,
        Peer::ExporterBuckets,
        Peer::AtomicBucket,
        Peer::PromHistogram,
        Peer::PromLocal,
        Peer::ClientHistogram,
        Peer::OtelHistogram,
        Peer::OtelBound,
        Peer::SyncHistogram,
    ];

    /// The row name in tables and results.json.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Registry => "lockfree-metrics registry",
            Peer::Facade => "lockfree-metrics facade",
            Peer::Sharded => "Sharded",
            Peer::Exporter => "metrics + exporter-prometheus",
            Peer::ExporterBuckets => "metrics + exporter-prometheus (buckets)",
            Peer::AtomicBucket => "metrics-util AtomicBucket",
            Peer::PromHistogram => "prometheus Histogram",
            Peer::PromLocal => "prometheus LocalHistogram",
            Peer::ClientHistogram => "prometheus-client Histogram",
            Peer::OtelHistogram => "opentelemetry_sdk Histogram",
            Peer::OtelBound => "opentelemetry_sdk bound",
            Peer::SyncHistogram => "hdrhistogram SyncHistogram",
        }
    }

    /// The row named `name`, if any.
    pub(crate) fn of_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// How the option is set up and what its cached record does.
    pub(crate) fn how(self) -> &'static str {
        match self {
            Peer::Registry => "Registry::histogram_family; each thread keeps the Histogram Family::with returned",
            Peer::Facade => "registry.recorder() behind the metrics macros; each thread keeps the handle histogram! returned",
            Peer::Sharded => "the engine itself, one series: record_latency_ns",
            Peer::Exporter => "PrometheusBuilder::new().build_recorder() (summaries) and its handle; a thread runs run_upkeep() every 5 s",
            Peer::ExporterBuckets => "the same with set_buckets (Prometheus' default buckets)",
            Peer::AtomicBucket => "one AtomicBucket<u64> per series, push per record; a reader drains them every 5 s and at read-back",
            Peer::PromHistogram => "HistogramVec in a prometheus::Registry; each thread keeps with_label_values' Histogram",
            Peer::PromLocal => "each thread keeps Histogram::local() per series, flushed every 1,024 records of it and at the end",
            Peer::ClientHistogram => "Family<[(&str, &str); 1], Histogram> in a prometheus_client Registry; each thread keeps get_or_create's Histogram (cloned)",
            Peer::OtelHistogram => "SdkMeterProvider with a ManualReader; Histogram::record(v, &attributes) (the SDK looks the attributes up on every call)",
            Peer::OtelBound => "the same provider; each thread keeps Histogram::bind(&attributes)",
            Peer::SyncHistogram => "one SyncHistogram per series; each thread keeps a Recorder of each; a thread refreshes them every 50 ms",
        }
    }

    /// The call the labelled path makes on every record, for options that
    /// have both a cached handle and a lookup.
    pub(crate) fn lookup(self) -> Option<&'static str> {
        match self {
            Peer::Registry => Some("Family::with(&[value])"),
            Peer::Facade | Peer::Exporter | Peer::ExporterBuckets => {
                Some("histogram!(name, \"series\" => value)")
            }
            Peer::PromHistogram => Some("HistogramVec::with_label_values(&[value])"),
            Peer::ClientHistogram => Some("Family::get_or_create(&labels)"),
            Peer::OtelBound => Some("Histogram::record(v, &attributes), unbound"),
            Peer::Sharded
            | Peer::AtomicBucket
            | Peer::PromLocal
            | Peer::OtelHistogram
            | Peer::SyncHistogram => None,
        }
    }

    /// The most series the option is run with, and why, where limited.
    pub(crate) fn series_limit(self) -> Option<(usize, &'static str)> {
        match self {
            Peer::Sharded => Some((1, "the engine records one latency series")),
            Peer::Exporter => Some((
                1_000,
                "its render, the only read of its counts, computes every summary's quantiles; at \
                 10,000 series that read takes longer than the whole workload (the scrape \
                 workloads time it)",
            )),
            Peer::SyncHistogram => Some((
                1_000,
                "a full HDR histogram (26 KiB at 1 µs-1 h, 2 digits) per series and per thread's Recorder",
            )),
            _ => None,
        }
    }

    /// The engine reference, not a library a user would pick: kept out of
    /// the recommendation.
    pub(crate) fn is_reference(self) -> bool {
        self == Peer::Sharded
    }

    /// Calls `v.visit::<L>(self)` with this option's library type.
    pub(crate) fn visit<V: Visit>(self, v: V) -> V::Out {
        match self {
            Peer::Registry => v.visit::<ours::RegistryLib>(self),
            Peer::Facade => v.visit::<ours::FacadeLib>(self),
            Peer::Sharded => v.visit::<ours::ShardedLib>(self),
            Peer::Exporter | Peer::ExporterBuckets => v.visit::<exporter::ExporterLib>(self),
            Peer::AtomicBucket => v.visit::<exporter::BucketLib>(self),
            Peer::PromHistogram | Peer::PromLocal => v.visit::<tikv::TikvLib>(self),
            Peer::ClientHistogram => v.visit::<client::ClientLib>(self),
            Peer::OtelHistogram | Peer::OtelBound => v.visit::<otel::OtelLib>(self),
            Peer::SyncHistogram => v.visit::<hdr::HdrLib>(self),
        }
    }
}

/// Something done with one option's library type (monomorphised).
pub(crate) trait Visit {
    /// What it gives back.
    type Out;
    /// Does it with library `L`, set up as `peer`.
    fn visit<L: Library>(self, peer: Peer) -> Self::Out;
}

/// A library set up with `S` series of [`METRIC`].
pub(crate) trait Library: Sized + Sync {
    /// What one recording thread keeps: its cached handles, one per series.
    type Writer<'a>: Writer
    where
        Self: 'a;

    /// Sets the library up as `peer` with `series` series, each created
    /// (registered, or recorded nowhere yet but looked up once).
    fn new(peer: Peer, series: usize) -> Result<Self, String>;

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
    /// ([`Peer::lookup`] `None`) record nothing here: the workloads never
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

#[cfg(test)]
mod tests {
    use std::{sync::Barrier, thread};

    use super::*;

    /// Runs `threads` writers of `peer` over `series` series, each making
    /// `per_thread` records (series `i % series`, values 1 µs + i ns) through
    /// the cached or the labelled path, and checks the accounting.
    fn exact_run(peer: Peer, series: usize, threads: usize, per_thread: u64, labelled: bool) {
        struct V {
            series: usize,
            threads: usize,
            per_thread: u64,
            labelled: bool,
        }
        impl Visit for V {
            type Out = (Accounting, Option<String>, Option<Vec<f64>>);
            fn visit<L: Library>(self, peer: Peer) -> Self::Out {
                let lib = L::new(peer, self.series).expect("set up");
                let stop = AtomicBool::new(false);
                let ready = Barrier::new(self.threads);
                let sums: Vec<u128> = thread::scope(|s| {
                    let bg = lib
                        .has_background()
                        .then(|| s.spawn(|| lib.background(&stop)));
                    let writers: Vec<_> = (0..self.threads)
                        .map(|_| {
                            s.spawn(|| {
                                let mut w = lib.writer();
                                ready.wait();
                                let mut sum = 0u128;
                                for i in 0..self.per_thread {
                                    let ns = 1_000 + i;
                                    let series = i as usize % self.series;
                                    if self.labelled {
                                        w.record_labelled(series, ns);
                                    } else {
                                        w.record(series, ns);
                                    }
                                    sum += u128::from(ns);
                                }
                                w.finish();
                                sum
                            })
                        })
                        .collect();
                    let sums = writers.into_iter().map(|h| h.join().unwrap()).collect();
                    // Relaxed: a stop flag or deadline; results travel through thread joins, not through this value.
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    if let Some(bg) = bg {
                        bg.join().unwrap();
                    }
                    sums
                });
                let made = self.per_thread * self.threads as u64;
                let a = check(&lib.totals(), made, sums.iter().sum());
                (a, lib.render(), lib.quantiles(0, &[0.5, 0.99]))
            }
        }
        let (a, render, q) = peer.visit(V {
            series,
            threads,
            per_thread,
            labelled,
        });
        assert!(
            a.mismatches.is_empty(),
            "{} ({series} series, labelled {labelled}): {:?}",
            peer.name(),
            a.mismatches
        );
        assert_eq!(
            a.counted,
            Some(a.made),
            "{}: {:?}",
            peer.name(),
            a.unchecked
        );
        if let Some(text) = render {
            assert!(text.contains(METRIC), "{}: {text}", peer.name());
        }
        if let Some(q) = q {
            assert!(q[0] <= q[1], "{}: {q:?}", peer.name());
        }
    }

    #[test]
    fn every_option_counts_exactly_in_a_short_run() {
        for peer in Peer::ALL {
            let series = peer.series_limit().map_or(7, |(max, _)| max.min(7));
            exact_run(peer, series, 3, 3_000, false);
            if peer.lookup().is_some() {
                exact_run(peer, series, 2, 1_000, true);
            }
        }
    }

    #[test]
    fn a_lookup_that_records_nothing_is_a_mismatch() {
        // Sharded has no lookup: its labelled path records nothing, which
        // the check must report rather than pass.
        let result = std::panic::catch_unwind(|| exact_run(Peer::Sharded, 1, 1, 10, true));
        assert!(result.is_err());
    }

    #[test]
    fn the_check_reports_a_lost_record_and_a_bad_sum() {
        let t = Ok(Totals {
            count: 9,
            sum: Sum::ExactNs(100),
        });
        let a = check(&t, 10, 100);
        assert_eq!(a.mismatches, ["count: 10 recorded, 9 counted"]);
        let t = Ok(Totals {
            count: 10,
            sum: Sum::Seconds(1.0 + 1e-5),
        });
        assert_eq!(check(&t, 10, 1_000_000_000).mismatches.len(), 1);
        let t = Ok(Totals {
            count: 10,
            sum: Sum::Seconds(1.0 + 1e-9),
        });
        assert!(check(&t, 10, 1_000_000_000).mismatches.is_empty());
        let a = check(&Err("no count".into()), 10, 0);
        assert_eq!((a.counted, a.mismatches.len()), (None, 0));
        assert_eq!(a.unchecked.len(), 1);
    }

    #[test]
    fn histogram_quantile_interpolates_as_prometheus_does() {
        let b = [(1.0, 10), (2.0, 30), (f64::INFINITY, 40)];
        assert_eq!(bucket_quantile(&b, 0.25), Some(1.0));
        assert_eq!(bucket_quantile(&b, 0.5), Some(1.5));
        assert_eq!(bucket_quantile(&b, 0.125), Some(0.5));
        assert_eq!(bucket_quantile(&b, 0.99), Some(2.0)); // in +Inf
        assert_eq!(bucket_quantile(&[(1.0, 0), (f64::INFINITY, 0)], 0.5), None);
    }

    #[test]
    fn text_expositions_parse() {
        let text = "# TYPE request_latency_seconds histogram\n\
            request_latency_seconds_bucket{series=\"3\",le=\"0.5\"} 2\n\
            request_latency_seconds_bucket{series=\"3\",le=\"+Inf\"} 4\n\
            request_latency_seconds_sum{series=\"3\"} 1.5\n\
            request_latency_seconds_count{series=\"3\"} 4\n\
            request_latency_seconds{series=\"1\",quantile=\"0.99\"} 0.25\n\
            request_latency_seconds_sum{series=\"1\"} 0.5\n\
            request_latency_seconds_count{series=\"1\"} 2.0\n\
            other_metric_count 7\n";
        let t = text_totals(text).unwrap();
        assert_eq!(t.count, 6);
        assert_eq!(t.sum, Sum::Seconds(2.0));
        assert_eq!(text_quantiles(text, 1, &[0.99]), Some(vec![0.25e9]));
        assert_eq!(text_quantiles(text, 3, &[0.5]), Some(vec![0.5e9]));
        assert_eq!(text_quantiles(text, 1, &[0.5]), None);
        assert!(parse_text("request_latency_seconds_count{series=\"1\"} x", METRIC).is_err());
    }
}
