//! The exporters' tests: Prometheus (rendering, promtool, the Python
//! parsers, a real Prometheus scraping), OTLP (encoding, the Python
//! decoder, VictoriaMetrics), HDR logs, the `/metrics` server and its
//! attacks, and the `metrics` facade. Those whose real program is missing
//! are ignored (`support::external`).

#[path = "../support/mod.rs"]
mod support;

mod facade;
mod facade_install;
mod facade_registry;
mod hdr_log;
mod http_attacks;
mod interval_logger_stamps;
mod metrics_server;
mod otlp_encode;
mod otlp_python;
mod otlp_victoriametrics;
mod prometheus_live;
mod prometheus_promtool;
mod prometheus_python;
mod prometheus_render;
mod prometheus_scrape;
