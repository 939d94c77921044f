//! Exporters: the registry's and the seed collector's readings in the
//! formats the systems around a server read.
//!
//! | module | feature | what |
//! |---|---|---|
//! | `prometheus` | `prometheus` | text 0.0.4, OpenMetrics 1.0 and protobuf (native histograms) through `prometheus-client`'s encoder, negotiated by `Accept` |
//! | `http` | `http` | `/metrics` served on a thread of its own (`tiny_http`), no async runtime |
//! | `facade` | `facade` | a `metrics::Recorder` on the registry |
//! | `hdr_log` | `hdr-log` | HDR V2 / V2+DEFLATE histograms and interval logs |
//! | `otlp` | `otlp` | OTLP `ExportMetricsServiceRequest`s pushed over OTLP/HTTP from a thread of its own (`ureq`), no async runtime |

#[cfg(feature = "facade")]
pub mod facade;
#[cfg(feature = "hdr-log")]
pub mod hdr_log;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
