//! Exporters: the registry's and a collector's readings in the
//! formats the systems around a server read.
//!
//! | module | feature | what |
//! |---|---|---|
//! | `prometheus` | `prometheus` (default; `protobuf` for the protobuf format) | text 0.0.4 and OpenMetrics 1.0 through `prometheus-client`'s encoder, and protobuf with native histograms through prost messages generated from client_model's `metrics.proto`, negotiated by `Accept` |
//! | `http` | `http` (enables `protobuf`) | `/metrics` served on a thread of its own (hyper on a private tokio runtime), bounded against slow and hostile clients |
//! | `facade` | `facade` | a `metrics::Recorder` on the registry |
//! | `hdr_log` | `hdr-log` | HDR V2 / V2+DEFLATE histograms and interval logs |
//! | `otlp` | `otlp` | OTLP `ExportMetricsServiceRequest`s pushed over OTLP/HTTP from a thread of its own (`ureq`), no async runtime |

#[cfg(feature = "facade")]
#[cfg_attr(docsrs, doc(cfg(feature = "facade")))]
pub mod facade;
#[cfg(feature = "hdr-log")]
#[cfg_attr(docsrs, doc(cfg(feature = "hdr-log")))]
pub mod hdr_log;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
