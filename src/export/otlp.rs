//! OTLP metrics export: registry readings and collector snapshots as
//! OpenTelemetry `ExportMetricsServiceRequest`s, pushed over OTLP/HTTP
//! (protobuf) from a thread of its own.
//!
//! The messages are the OpenTelemetry project's generated types
//! (`opentelemetry-proto`, messages only: no tonic, tokio or hyper); the
//! encoding follows `opentelemetry/proto/metrics/v1/metrics.proto` and the
//! transport OTLP/HTTP (opentelemetry-proto `docs/specification.md`).
//! Nothing here runs on a recording thread: a reading is the registry's
//! lock-free snapshot or interval, taken on the exporter's thread.
//!
//! # Mapping
//!
//! | reading | OTLP metric | notes |
//! |---|---|---|
//! | registry counter | `Sum`, `is_monotonic`, cumulative or delta | `as_int`; a value above `i64::MAX` as `as_double` |
//! | registry gauge | `Gauge` | `as_double` (NaN and infinities as they are) |
//! | registry histogram | `ExponentialHistogram` (default) or `Histogram` ([`HistogramMode::Explicit`]), cumulative or delta | values divided by the histogram's [scale](crate::registry::HistogramOpts::scale) (seconds at the default 1e9); `count`, `sum` exact |
//! | labels | point attributes (string values) | any UTF-8 |
//! | [`Registry::describe`] help, unit | `description`, `unit` | unit words in UCUM ([`ucum_unit`]: `seconds` is `s`, `bytes` `By`); an undescribed `*_seconds` name whose histograms are all at scale 1e9 has unit `s` |
//! | collector `latency` | `<prefix>_latency_seconds`: `Histogram` with one bucket, exact `count`, `min`, `max`; `sum` = mean x count | the snapshot holds quantiles, not buckets: they go to the gauge `<prefix>_latency_quantile_seconds{quantile}` |
//! | collector throughput | `<prefix>_tokens_total`, `_requests_total`, `_throughput_clamped_total` (`Sum`); `<prefix>_tokens_per_second{window}`, `_requests_per_second{window}`, `_window_covered_seconds{window}` (the time the rates are over; `Gauge`) | |
//! | collector batch sizes | `<prefix>_batch_size`: `Histogram`, bounds at powers of two (exact counts); `_batch_size_current` (`Gauge`), `_batch_size_clamped_total` (`Sum`) | |
//! | collector queue depth | `<prefix>_queue_depth`, `_queue_depth_max`, `_queue_depth_mean` (`Gauge`); `_queue_depth_samples_total`, `_queue_depth_clamped_total` (`Sum`) | |
//! | collector mode | `<prefix>_mode` (`Gauge`, the mode's id), `<prefix>_mode_transitions_total` (`Sum`) | the Prometheus exporter's names |
//! | [`OtlpOpts`] | resource attributes `service.name`, `telemetry.sdk.*` and yours; the instrumentation scope (name, version) | |
//!
//! Metric names are the registry's (Prometheus-style) names, unchanged.
//!
//! # Temporality
//!
//! - **Cumulative**: every point's `start_time_unix_nano` is the
//!   encoder's start time ([`Encoder::start_time`]; by default when the
//!   encoder was made: make it with the registry), so a receiver sees one
//!   unbroken series. A collector's points start at its last reset.
//! - **Delta**: each [`Encoder`] holds its own
//!   [`IntervalReader`], so it never takes
//!   another consumer's data; a point covers `(previous reading,
//!   this reading]`, the intervals contiguous. A collector is always
//!   cumulative (its own intervals reset it for every reader).
//!
//! # Histograms
//!
//! **Exponential** (the default): the scale is the largest no finer than
//! the HDR layout's buckets ([`scale_for_digits`]: 6 at 2 significant
//! digits, 8 at 3, capped at 8). Each non-empty HDR bucket's count goes to
//! the exponential bucket of its highest value divided by the scale
//! ([`exponential_index`]: bucket `i` is `(base^i, base^(i+1)]`, `base =
//! 2^(2^-scale)`); the bucket of 0 goes to `zero_count` (threshold 0). So
//! `count` is `zero_count` plus the buckets' total, exactly, and the
//! mapping is monotonic: the exponential bucket where the running count
//! reaches a quantile's rank holds the registry's own HDR quantile
//! ([`HistogramValue::quantile`](crate::registry::HistogramValue::quantile)).
//! **Any estimate inside that bucket lies within a relative
//! [`relative_error`]`(scale)` of the registry's quantile: 1.09 % at scale
//! 6, 0.27 % at 8**; the registry's quantile is itself within its HDR
//! precision (1/128 at 2 digits) of the samples' (`papers/precision.md`).
//! `min` and `max` are the lowest sample's bucket floor and the highest's
//! bucket top (as `hdrhistogram` reports them).
//!
//! **Explicit** ([`HistogramMode::Explicit`]; bounds in the exported unit,
//! or 1-2-5 per decade over the histogram's range when empty): bucket `j`
//! counts the HDR buckets whose highest value lies in `(bounds[j-1],
//! bounds[j]]`. A count is exact when a bound is an HDR bucket's top, and
//! otherwise may hold samples up to one HDR bucket (1/128 of the value at
//! 2 digits) below the bound, as the Prometheus exporter's classic buckets.
//!
//! # Pushing
//!
//! [`PushBuilder::start`] runs a [`PushExporter`] on a thread of its own:
//! every interval it encodes a reading, gzips it if asked (level 1: a
//! 13th of level 6's CPU for a body 1.6 times larger, `papers/otlp.md`),
//! and sends
//! `POST` with `Content-Type: application/x-protobuf` through `ureq`
//! (blocking, no runtime). Per OTLP/HTTP it retries on 429, 502, 503, 504
//! and on connection errors, waiting `Retry-After` (seconds) when given,
//! else an exponential backoff with jitter; other 4xx and 5xx answers are
//! not retried (counted as failed); a partial success is counted
//! (`rejected_points`) and logged (`log::warn!`). At most
//! [`PushBuilder::max_pending`] batches wait; a new one then drops the
//! oldest (counted in `dropped`), so memory stays bounded while the
//! receiver is down, and nothing is lost within that bound once it is
//! back. [`PushExporter::shutdown`] (or drop) makes one final reading and
//! pushes what is pending within [`PushBuilder::shutdown_timeout`].
//!
//! ```no_run
//! use std::time::Duration;
//! use lockfree_metrics::{
//!     export::otlp::{Encoder, OtlpOpts, PushBuilder, Temporality},
//!     registry::Registry,
//! };
//!
//! let registry = Registry::new();
//! let requests = registry.counter("requests_total", &[("route", "/")])?;
//! let encoder = Encoder::new(OtlpOpts::new("checkout"))
//!     .registry(&registry, Temporality::Cumulative);
//! let exporter = PushBuilder::new("http://127.0.0.1:4318/v1/metrics")?
//!     .interval(Duration::from_secs(10))
//!     .gzip(true)
//!     .start(encoder)?;
//! requests.increment(1);
//! let stats = exporter.shutdown(); // one final push, bounded in time
//! println!("sent {} batches, dropped {}", stats.sent, stats.dropped);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Registry::describe`]: crate::registry::Registry::describe

mod encode;
mod push;

use std::{
    collections::BTreeMap,
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

pub use encode::{exponential_index, relative_error, scale_for_digits, ucum_unit};
/// The OTLP message types (`opentelemetry-proto`'s generated messages), to
/// read or extend a request before sending it.
pub use opentelemetry_proto::tonic as proto;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
pub use push::{PushBuilder, PushExporter, PushStats};

use crate::{
    registry::{IntervalReader, Registry, RegistrySnapshot},
    snapshot::Snapshot,
    MetricsCollector,
};

/// Whether points carry totals since a start or changes since the last
/// push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Totals since a fixed start time.
    Cumulative,
    /// Changes since the previous reading of the same encoder.
    Delta,
}

/// How registry histograms are encoded.
#[derive(Clone, Debug, PartialEq)]
pub enum HistogramMode {
    /// `ExponentialHistogram` at the scale the HDR precision allows.
    Exponential,
    /// `Histogram` with these bounds (exported unit, ascending, finite);
    /// empty: 1, 2, 5 per decade over the histogram's range.
    Explicit(Vec<f64>),
}

/// Why the OTLP exporter could not be set up.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OtlpError {
    /// Explicit bounds that are not finite and strictly ascending.
    InvalidBounds(Vec<f64>),
    /// An endpoint that is not an `http://` URL (TLS is not built in).
    InvalidEndpoint(String),
    /// A setting out of range (a zero interval or pending bound).
    InvalidSetting(&'static str),
    /// The push thread could not be spawned.
    Spawn(String),
}

impl fmt::Display for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpError::InvalidBounds(b) => {
                write!(
                    f,
                    "explicit bounds {b:?} are not finite and strictly ascending"
                )
            }
            OtlpError::InvalidEndpoint(e) => write!(
                f,
                "endpoint {e:?} is not an http:// URL (this build has no TLS)"
            ),
            OtlpError::InvalidSetting(s) => write!(f, "invalid setting: {s}"),
            OtlpError::Spawn(e) => write!(f, "could not spawn the push thread: {e}"),
        }
    }
}

impl std::error::Error for OtlpError {}

/// The resource, scope and histogram encoding of every request.
///
/// ```
/// use lockfree_metrics::export::otlp::{HistogramMode, OtlpOpts};
///
/// let opts = OtlpOpts::new("checkout")
///     .resource("deployment.environment.name", "staging")
///     .scope("checkout-metrics", "1.2.0")
///     .histograms_for("payload_bytes", HistogramMode::Explicit(vec![1e3, 1e4, 1e5]))?;
/// # let _ = opts;
/// # Ok::<(), lockfree_metrics::export::otlp::OtlpError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpOpts {
    service_name: String,
    resource: Vec<(String, String)>,
    scope_name: String,
    scope_version: String,
    histograms: HistogramMode,
    histograms_by_name: BTreeMap<String, HistogramMode>,
}

impl Default for OtlpOpts {
    /// `service.name` `unknown_service` (the OTel default).
    fn default() -> Self {
        OtlpOpts::new("unknown_service")
    }
}

fn check(mode: &HistogramMode) -> Result<(), OtlpError> {
    if let HistogramMode::Explicit(b) = mode {
        if b.iter().any(|v| !v.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
            return Err(OtlpError::InvalidBounds(b.clone()));
        }
    }
    Ok(())
}

impl OtlpOpts {
    /// Options for the service `service_name` (the `service.name`
    /// resource attribute); scope `lockfree-metrics` at the crate's
    /// version; exponential histograms.
    pub fn new(service_name: &str) -> Self {
        OtlpOpts {
            service_name: service_name.to_string(),
            resource: Vec::new(),
            scope_name: "lockfree-metrics".to_string(),
            scope_version: env!("CARGO_PKG_VERSION").to_string(),
            histograms: HistogramMode::Exponential,
            histograms_by_name: BTreeMap::new(),
        }
    }

    /// Adds a resource attribute (a later one of the same key wins;
    /// `service.name` here overrides the one given to [`new`](Self::new)).
    pub fn resource(mut self, key: &str, value: &str) -> Self {
        self.resource.push((key.to_string(), value.to_string()));
        self
    }

    /// The instrumentation scope's name and version.
    pub fn scope(mut self, name: &str, version: &str) -> Self {
        self.scope_name = name.to_string();
        self.scope_version = version.to_string();
        self
    }

    /// How every histogram is encoded, unless named in
    /// [`histograms_for`](Self::histograms_for).
    ///
    /// # Errors
    ///
    /// [`OtlpError::InvalidBounds`] for bounds not finite and strictly
    /// ascending.
    pub fn histograms(mut self, mode: HistogramMode) -> Result<Self, OtlpError> {
        check(&mode)?;
        self.histograms = mode;
        Ok(self)
    }

    /// How the histograms named `name` are encoded.
    ///
    /// # Errors
    ///
    /// As [`histograms`](Self::histograms).
    pub fn histograms_for(mut self, name: &str, mode: HistogramMode) -> Result<Self, OtlpError> {
        check(&mode)?;
        self.histograms_by_name.insert(name.to_string(), mode);
        Ok(self)
    }

    pub(crate) fn histogram_mode(&self, name: &str) -> &HistogramMode {
        self.histograms_by_name
            .get(name)
            .unwrap_or(&self.histograms)
    }
}

/// `snapshot` (a registry reading) as one request whose points cover
/// `start ..= end`: for [`Temporality::Delta`], pass an
/// [`IntervalReader`]'s reading and the time of the previous one.
///
/// ```
/// use std::time::SystemTime;
/// use lockfree_metrics::{export::otlp::{encode_snapshot, OtlpOpts, Temporality}, registry::Registry};
///
/// let registry = Registry::new();
/// let start = SystemTime::now();
/// registry.counter("hits_total", &[])?.increment(3);
/// let request = encode_snapshot(&registry.snapshot(), Temporality::Cumulative, start, SystemTime::now(), &OtlpOpts::new("demo"));
/// let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
/// assert_eq!(metric.name, "hits_total");
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
pub fn encode_snapshot(
    snapshot: &RegistrySnapshot,
    temporality: Temporality,
    start: SystemTime,
    end: SystemTime,
    opts: &OtlpOpts,
) -> ExportMetricsServiceRequest {
    let times = encode::Times {
        start: encode::unix_nanos(start),
        end: encode::unix_nanos(end),
    };
    encode::request(
        encode::registry_metrics(snapshot, temporality, times, opts),
        opts,
    )
}

/// A collector's snapshot, taken at `at`, as one request of metrics named
/// `<prefix>_...` (see the [mapping](self#mapping)); cumulative since the
/// collector's last reset.
pub fn encode_seed(
    snapshot: &Snapshot,
    prefix: &str,
    at: SystemTime,
    opts: &OtlpOpts,
) -> ExportMetricsServiceRequest {
    encode::request(encode::seed_metrics(snapshot, prefix, at), opts)
}

/// `request` as an OTLP/HTTP body: protobuf, gzipped if `gzip` (send it
/// with `Content-Type: application/x-protobuf`, and `Content-Encoding:
/// gzip` when gzipped): for a transport of your own.
pub fn encode_body(request: &ExportMetricsServiceRequest, gzip: bool) -> Vec<u8> {
    push::body(request, gzip)
}

/// One source an [`Encoder`] reads at each push.
enum Source {
    Cumulative(Registry),
    Delta {
        reader: IntervalReader,
        /// When the reader's cursor was last moved (Unix ns).
        since: u64,
    },
    Collector {
        collector: Arc<dyn MetricsCollector>,
        prefix: String,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cumulative(_) => f.write_str("Cumulative"),
            Source::Delta { since, .. } => write!(f, "Delta {{ since: {since} }}"),
            Source::Collector { prefix, .. } => write!(f, "Collector {{ prefix: {prefix:?} }}"),
        }
    }
}

/// What a push sends: registries (cumulative or delta) and collectors,
/// read together into one request at each [`encode`](Self::encode).
#[derive(Debug)]
pub struct Encoder {
    opts: OtlpOpts,
    start: u64,
    sources: Vec<Source>,
}

impl Encoder {
    /// An encoder with nothing to read yet; its cumulative start time is
    /// now.
    pub fn new(opts: OtlpOpts) -> Self {
        Encoder {
            opts,
            start: encode::unix_nanos(SystemTime::now()),
            sources: Vec::new(),
        }
    }

    /// The start time of cumulative points (by default, when the encoder
    /// was made): when the registry was made, say.
    pub fn start_time(mut self, start: SystemTime) -> Self {
        self.start = encode::unix_nanos(start);
        self
    }

    /// Reads `registry` at each encode. [`Temporality::Delta`] makes an
    /// [`IntervalReader`] of this encoder's own, starting now.
    pub fn registry(mut self, registry: &Registry, temporality: Temporality) -> Self {
        self.sources.push(match temporality {
            Temporality::Cumulative => Source::Cumulative(registry.clone()),
            Temporality::Delta => Source::Delta {
                reader: registry.interval_reader(),
                since: encode::unix_nanos(SystemTime::now()),
            },
        });
        self
    }

    /// Reads `collector`'s snapshot at each encode, as `<prefix>_...`.
    pub fn collector(mut self, collector: Arc<dyn MetricsCollector>, prefix: &str) -> Self {
        self.sources.push(Source::Collector {
            collector,
            prefix: prefix.to_string(),
        });
        self
    }

    /// The options.
    pub fn opts(&self) -> &OtlpOpts {
        &self.opts
    }

    /// One reading of every source, as one request. A delta source's
    /// cursor moves: what it read is in this request only.
    pub fn encode(&mut self) -> ExportMetricsServiceRequest {
        let mut metrics = Vec::new();
        for source in &mut self.sources {
            match source {
                Source::Cumulative(registry) => {
                    let snapshot = registry.snapshot();
                    let end = encode::unix_nanos(SystemTime::now());
                    let times = encode::Times {
                        start: self.start.min(end),
                        end,
                    };
                    metrics.extend(encode::registry_metrics(
                        &snapshot,
                        Temporality::Cumulative,
                        times,
                        &self.opts,
                    ));
                }
                Source::Delta { reader, since } => {
                    let snapshot = reader.take();
                    let end = encode::unix_nanos(SystemTime::now()).max(*since);
                    let times = encode::Times { start: *since, end };
                    *since = end;
                    metrics.extend(encode::registry_metrics(
                        &snapshot,
                        Temporality::Delta,
                        times,
                        &self.opts,
                    ));
                }
                Source::Collector { collector, prefix } => {
                    let snapshot = collector.snapshot();
                    metrics.extend(encode::seed_metrics(&snapshot, prefix, SystemTime::now()));
                }
            }
        }
        encode::request(metrics, &self.opts)
    }
}

/// `t` as Unix nanoseconds (0 before the epoch): the unit of every OTLP
/// timestamp.
pub fn unix_nanos(t: SystemTime) -> u64 {
    if t < UNIX_EPOCH {
        return 0;
    }
    encode::unix_nanos(t)
}
