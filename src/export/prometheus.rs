//! Prometheus exposition of the registry's and a collector's
//! readings.
//!
//! | [`Format`] | content type | specification |
//! |---|---|---|
//! | `Text` | [`TEXT_CONTENT_TYPE`] | Prometheus text format 0.0.4 (prometheus/docs `content/docs/instrumenting/exposition_formats.md`) |
//! | `OpenMetrics` | [`OPENMETRICS_CONTENT_TYPE`] | OpenMetrics 1.0 (prometheus/docs `docs/specs/om/open_metrics_spec.md`) |
//! | `Protobuf` | [`PROTOBUF_CONTENT_TYPE`] | `io.prometheus.client.MetricFamily`, length-delimited (client_model `metrics.proto`); native histograms as in prometheus/docs `docs/specs/native_histograms.md`. Needs the crate feature `protobuf` ([`Format::is_available`]) |
//!
//! In the text formats, counters, gauges and histograms are written by
//! `prometheus-client`'s encoders, through a `Collector` over the
//! readings; summaries, which it has no type for, by this module (three
//! line shapes, checked against promtool and the Python client's parsers
//! in `tests/`). The protobuf is prost's encoding of the messages
//! generated from client_model's `metrics.proto`, filled as
//! prometheus-client's protobuf encoder fills them.
//! [`Format::negotiate`] picks the format from an `Accept` header.
//!
//! # Names, units and order
//!
//! - Families come in the snapshot's order (by registry name, then
//!   labels), then each collector's, in the order added: the same
//!   readings always render the same bytes.
//! - A counter's sample is `<name>_total` in every format: a registry name
//!   ending in `_total` loses it before the encoder adds it back (never
//!   `_total_total`), and one without gains it.
//! - `UNIT` (OpenMetrics; the protobuf's `unit`) is the described unit
//!   ([`Registry::describe`](crate::registry::Registry::describe)) when
//!   the family name ends with `_<unit>`, as OpenMetrics requires, and
//!   nothing otherwise. A histogram at scale 1e9 whose name ends in
//!   `_seconds` has unit `seconds` even undescribed. `HELP` is the
//!   described help (empty if none), escaped per format, without the
//!   whitespace and control characters at its ends (the Python parsers
//!   drop them, Go's keep them).
//! - A family whose sample names would collide with an earlier family's
//!   (a gauge `x_count` after a histogram `x`; counters `x` and `x_total`)
//!   is left out; [`Exposition::left_out`] lists them. A histogram's own
//!   `le` label (a summary's `quantile`) is renamed `exported_le`
//!   (`exported_quantile`), as Prometheus renames clashing target labels.
//! - Families without series are not written. Label values may hold any
//!   UTF-8 (`\`, `"` and newlines escaped); gauges may be NaN or infinite.
//!
//! # Histograms
//!
//! Values are exported divided by the histogram's
//! [scale](crate::registry::HistogramOpts::scale): nanoseconds as seconds
//! at the default 1e9. `_sum` is the exact sum so divided, `_count` the
//! exact count.
//!
//! **Classic buckets** ([`Buckets`]; the default 1, 1.5, 2, 3, 5 and 7
//! per decade over the histogram's range, [`Buckets::fine_decades`]): `le = v` counts the HDR buckets whose highest
//! value, divided by the scale, is at most `v`. So a count is exact when
//! `v` is an HDR bucket's top (as [`Buckets::snapped`] makes every
//! boundary), and otherwise low by at most the count of the one HDR
//! bucket straddling `v`, whose width is at most 1/2^(m-1) of its values
//! (`m = ceil(log2(2 * 10^digits))`: 1/128 at 2 digits, 1/1024 at 3;
//! below 2^m units the width is one unit). `+Inf` equals `_count`.
//!
//! **Native buckets** (protobuf only, with [`RenderOpts::native`]): the
//! largest schema no finer than HDR's buckets, `2^s <= ln 2 * 2^(m-1)`,
//! capped at 8: schema 6 at 2 digits, 8 at 3 (3 at 1 digit). Each
//! non-zero HDR bucket's highest value `v`, divided by the scale, adds its
//! count to native bucket `ceil(log_b v)` (`b = 2^(2^-s)`, bucket `i` =
//! `(b^(i-1), b^i]`, computed with client_golang's `Frexp` method so powers
//! of two land exactly); the bucket of 0 (at `lowest = 1`) goes to the
//! zero bucket, whose threshold is 2^-128 (below every positive exported
//! value). Spans cover the touched indices, absorbing gaps of up to two
//! empty buckets; deltas are `i64`. A sample thus moves by less than one
//! HDR bucket before the native bucketing: a quantile read from the
//! native buckets lies in the native bucket (relative width `b - 1`,
//! 1.09 % at schema 6) of the HDR quantile. The protobuf also carries the
//! classic buckets, for scrapers that keep both.
//!
//! **Summaries** ([`RenderOpts::summaries`], opt-in): HDR quantiles of the
//! cumulative counts (NaN when empty; render a
//! [`WindowReader`](crate::registry::WindowReader)'s snapshot for recent
//! ones), exact `_sum` and `_count`.
//!
//! # A collector's snapshot
//!
//! [`render_collector_snapshot`] (or [`Exposition::collector_snapshot`]) writes any
//! [`MetricsCollector`](crate::MetricsCollector)'s
//! [`Snapshot`] as `<prefix>_...`: `latency_seconds` (a summary with the
//! p50/p95/p99/p999 it computes; its `_sum` is `mean x count`, the mean
//! being rounded to the nanosecond, so off by at most `count x 0.5 ns`),
//! `latency_clamped_total`, `tokens_total`, `requests_total`,
//! `throughput_clamped_total`, `tokens_per_second{window}` and
//! `requests_per_second{window}` (over the time the window covers,
//! `window_covered_seconds{window}`: less than the window's length until
//! it is full after a reset), `batch_size` (a histogram with exact
//! counts from the batch distribution, [`RenderOpts::batch_buckets`]),
//! `batch_size_current`, `batch_size_clamped_total`, `queue_depth`,
//! `queue_depth_max`, `queue_depth_mean`, `queue_depth_samples_total`,
//! `queue_depth_clamped_total`, `mode` and `mode_transitions_total`.
//! Its counts restart at each reset, which Prometheus' `rate()` reads as
//! a counter reset.
//!
//! # Serving
//!
//! `export::http::MetricsServer` (feature `http`) serves `/metrics` on a
//! thread of its own. Inside an existing server, [`render_registry`] (or
//! [`render`] of a snapshot: the same bytes, but every series' histogram
//! held at once) and [`Format::negotiate`] are all a handler needs; with
//! axum:
//!
//! ```ignore
//! async fn metrics(State(registry): State<Registry>, headers: HeaderMap) -> impl IntoResponse {
//!     let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
//!     let (body, content_type) = render_registry(&registry, Format::negotiate(accept), &RenderOpts::default());
//!     ([(CONTENT_TYPE, content_type)], body)
//! }
//! ```

mod encode;
mod mapping;
mod model;
mod negotiate;
/// Prometheus' `io.prometheus.client` messages, generated once by prost
/// (`.ci/gen_prometheus_proto.sh`) rather than on every build.
#[cfg(feature = "protobuf")]
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto;

use std::{collections::BTreeMap, sync::Arc};

pub use mapping::Buckets;
pub use negotiate::{Format, OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TEXT_CONTENT_TYPE};

use crate::{registry::RegistrySnapshot, snapshot::Snapshot};

/// How histograms are written (shared by every format).
///
/// ```
/// use lockfree_metrics::export::prometheus::{Buckets, RenderOpts};
///
/// let opts = RenderOpts::default()
///     .buckets(Buckets::explicit(&[0.005, 0.01, 0.05, 0.1, 0.5, 1.0]).snapped())
///     .buckets_for("payload_bytes", Buckets::explicit(&[1e3, 1e4, 1e5, 1e6]))
///     .native(true);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug)]
pub struct RenderOpts {
    buckets: Buckets,
    buckets_by_name: BTreeMap<String, Buckets>,
    native: bool,
    summary_quantiles: Option<Vec<f64>>,
    batch_buckets: Vec<f64>,
}

impl Default for RenderOpts {
    fn default() -> Self {
        RenderOpts {
            buckets: Buckets::default(),
            buckets_by_name: BTreeMap::new(),
            native: true,
            summary_quantiles: None,
            batch_buckets: mapping::decades(1.0, 1e4),
        }
    }
}

impl RenderOpts {
    /// Classic buckets for every registry histogram (default:
    /// [`Buckets::fine_decades`]).
    pub fn buckets(mut self, buckets: Buckets) -> Self {
        self.buckets = buckets;
        self
    }

    /// Classic buckets for the registry histograms named `name`.
    pub fn buckets_for(mut self, name: &str, buckets: Buckets) -> Self {
        self.buckets_by_name.insert(name.to_string(), buckets);
        self
    }

    /// Whether the protobuf format carries native buckets beside the
    /// classic ones (default: yes). The text formats have none.
    pub fn native(mut self, native: bool) -> Self {
        self.native = native;
        self
    }

    /// Writes registry histograms as summaries of these quantiles instead
    /// (those outside `0 ..= 1`, and NaN, are left out). Off by default:
    /// summaries do not aggregate across series.
    pub fn summaries(mut self, quantiles: &[f64]) -> Self {
        let mut q: Vec<f64> = quantiles
            .iter()
            .copied()
            .filter(|q| (0.0..=1.0).contains(q))
            .collect();
        q.sort_by(f64::total_cmp);
        q.dedup();
        self.summary_quantiles = Some(q);
        self
    }

    /// Bucket boundaries of a collector's `batch_size` histogram
    /// (default 1, 2, 5, ..., 10,000; counts are exact, sizes being
    /// integers).
    pub fn batch_buckets(mut self, bounds: &[f64]) -> Self {
        let mut b: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        b.sort_by(f64::total_cmp);
        b.dedup();
        self.batch_buckets = b;
        self
    }

    fn buckets_of(&self, name: &str) -> &Buckets {
        self.buckets_by_name.get(name).unwrap_or(&self.buckets)
    }
}

/// Readings to expose together: registry snapshots and collector
/// snapshots, in the order added.
///
/// ```
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
/// use lockfree_metrics::export::prometheus::{Exposition, Format, RenderOpts};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// registry.counter("jobs_total", &[])?.increment(3);
/// let collector = Sharded::new(Config::default());
/// collector.record_queue_depth(7);
///
/// let exposition = Exposition::new()
///     .registry(registry.snapshot())
///     .collector_snapshot("scheduler", collector.snapshot());
/// let (body, content_type) = exposition.render(Format::Text, &RenderOpts::default());
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("jobs_total 3\n"));
/// assert!(text.contains("scheduler_queue_depth 7.0\n"));
/// assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Registry(RegistrySnapshot),
    Live(crate::registry::Registry),
    Collector(String, Box<Snapshot>),
}

impl From<RegistrySnapshot> for Exposition {
    fn from(snapshot: RegistrySnapshot) -> Self {
        Exposition::new().registry(snapshot)
    }
}

impl Exposition {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a registry snapshot (or an interval or window reader's).
    pub fn registry(mut self, snapshot: RegistrySnapshot) -> Self {
        self.parts.push(Part::Registry(snapshot));
        self
    }

    /// Adds a registry, read one series at a time when rendered (as
    /// [`render_registry`] does): the bytes its snapshot would give,
    /// holding one histogram's counts at a time. Each render (and
    /// [`left_out`](Self::left_out)) reads it afresh.
    pub fn registry_live(mut self, registry: &crate::registry::Registry) -> Self {
        self.parts.push(Part::Live(registry.clone()));
        self
    }

    /// Adds a collector's snapshot as `<prefix>_...` families
    /// (`prefix` [sanitised](crate::registry::sanitize_name); empty: no
    /// prefix).
    pub fn collector_snapshot(mut self, prefix: &str, snapshot: Snapshot) -> Self {
        self.parts
            .push(Part::Collector(prefix.to_string(), Box::new(snapshot)));
        self
    }

    fn model(&self, opts: &RenderOpts, format: Format) -> model::Model {
        let native = format.written() == Format::Protobuf && opts.native;
        let mut m = model::Model::default();
        for part in &self.parts {
            match part {
                Part::Registry(s) => m.add_registry(s, opts, native),
                Part::Live(r) => m.add_registry_live(r, opts, native),
                Part::Collector(prefix, s) => m.add_collector(prefix, s, opts),
            }
        }
        m
    }

    /// The body and its `Content-Type`.
    pub fn render(&self, format: Format, opts: &RenderOpts) -> (Vec<u8>, &'static str) {
        encode_model(self.model(opts, format), format)
    }

    /// The names left out of a rendering with `opts` because their sample
    /// names would clash with an earlier family's (the same in every
    /// format).
    pub fn left_out(&self, opts: &RenderOpts) -> Vec<String> {
        self.model(opts, Format::Text).left_out
    }
}

fn encode_model(model: model::Model, format: Format) -> (Vec<u8>, &'static str) {
    let families = Arc::new(model.families);
    let format = format.written();
    let body = match format {
        Format::Text => encode::text(&families, false).into_bytes(),
        Format::OpenMetrics => encode::text(&families, true).into_bytes(),
        #[cfg(feature = "protobuf")]
        Format::Protobuf => encode::protobuf(&families),
        // `written` answers Text for it without the feature.
        #[cfg(not(feature = "protobuf"))]
        Format::Protobuf => Vec::new(),
    };
    (body, format.content_type())
}

/// A registry snapshot in `format`: the body and its `Content-Type`.
///
/// ```
/// use lockfree_metrics::export::prometheus::{render, Format, RenderOpts};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// registry.describe("http_requests_total", "Requests served.", None);
/// registry.counter("http_requests_total", &[("code", "200")])?.increment(2);
/// registry.gauge("temperature_celsius", &[])?.set(21.5);
///
/// let (body, content_type) = render(&registry.snapshot(), Format::OpenMetrics, &RenderOpts::default());
/// assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
/// assert_eq!(
///     String::from_utf8(body).unwrap(),
///     concat!(
///         "# HELP http_requests Requests served.\n",
///         "# TYPE http_requests counter\n",
///         "http_requests_total{code=\"200\"} 2\n",
///         "# HELP temperature_celsius \n",
///         "# TYPE temperature_celsius gauge\n",
///         "temperature_celsius 21.5\n",
///         "# EOF\n",
///     )
/// );
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
pub fn render(
    snapshot: &RegistrySnapshot,
    format: Format,
    opts: &RenderOpts,
) -> (Vec<u8>, &'static str) {
    let mut m = model::Model::default();
    m.add_registry(
        snapshot,
        opts,
        format.written() == Format::Protobuf && opts.native,
    );
    encode_model(m, format)
}

/// A registry in `format`, read one series at a time: the bytes
/// [`render`] gives for its snapshot, but each series' histogram is read
/// and reduced to its buckets (and sum, count, and quantiles or native
/// buckets when written) before the next is read, so that memory holds
/// one histogram's counts at a time rather than every series'
/// (`Registry::snapshot`'s guarantees hold: sorted, each series read
/// once, each count its buckets' total). What `export::http::MetricsServer`
/// (feature `http`) renders for a [`Registry`](crate::registry::Registry).
///
/// ```
/// use lockfree_metrics::export::prometheus::{render, render_registry, Format, RenderOpts};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// registry.histogram("job_seconds", &[("queue", "a")])?.record(2_000_000);
/// let opts = RenderOpts::default();
/// let live = render_registry(&registry, Format::Text, &opts);
/// assert_eq!(live, render(&registry.snapshot(), Format::Text, &opts));
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
pub fn render_registry(
    registry: &crate::registry::Registry,
    format: Format,
    opts: &RenderOpts,
) -> (Vec<u8>, &'static str) {
    let mut m = model::Model::default();
    m.add_registry_live(
        registry,
        opts,
        format.written() == Format::Protobuf && opts.native,
    );
    encode_model(m, format)
}

/// A collector's snapshot in `format`, as `<prefix>_...` families
/// (see the [module docs](self#a-collectors-snapshot)).
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::{Config, MetricsCollector, Sharded};
/// use lockfree_metrics::export::prometheus::{render_collector_snapshot, Format, RenderOpts};
///
/// let collector = Sharded::new(Config::default());
/// collector.record_latency(Duration::from_millis(40));
/// let (body, _) = render_collector_snapshot("scheduler", &collector.snapshot(), Format::Text, &RenderOpts::default());
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("scheduler_latency_seconds_count 1\n"));
/// ```
pub fn render_collector_snapshot(
    prefix: &str,
    snapshot: &Snapshot,
    format: Format,
    opts: &RenderOpts,
) -> (Vec<u8>, &'static str) {
    let mut m = model::Model::default();
    m.add_collector(prefix, snapshot, opts);
    encode_model(m, format)
}
