//! `prometheus-client` (the Prometheus org's client): a
//! `Family<labels, Histogram>` registered in a `Registry`; its totals and
//! quantiles read from its text encoder (the crate exposes no getters
//! outside its `test-util` feature).

use prometheus_client::{
    encoding::text::encode,
    metrics::{family::Family, histogram::Histogram},
    registry::Registry,
};

use super::contender::{
    labels, seconds, text_quantiles, text_totals, Contender, Library, Totals, Writer, BUCKETS,
    HELP, LABEL,
};

/// The label set: one pair, borrowed from the process's label values.
type Labels = [(&'static str, &'static str); 1];
/// The family, with a constructor giving every series [`BUCKETS`].
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// `prometheus-client Histogram`.
pub(crate) struct ClientLib {
    registry: Registry,
    family: HistogramFamily,
    series: usize,
}

impl ClientLib {
    fn text(&self) -> Option<String> {
        let mut out = String::new();
        encode(&mut out, &self.registry).ok()?;
        Some(out)
    }
}

impl Library for ClientLib {
    type Writer<'a> = ClientWriter<'a>;

    fn new(_: Contender, series: usize) -> Result<Self, String> {
        let family = HistogramFamily::new_with_constructor(new_histogram);
        let mut registry = Registry::default();
        // The encoder appends the unit: registered as `request_latency`
        // with unit seconds, it writes `request_latency_seconds`.
        registry.register_with_unit(
            "request_latency",
            HELP,
            prometheus_client::registry::Unit::Seconds,
            family.clone(),
        );
        for &label in &labels()[..series] {
            drop(family.get_or_create(&[(LABEL, label)]));
        }
        Ok(ClientLib {
            registry,
            family,
            series,
        })
    }

    fn writer(&self) -> ClientWriter<'_> {
        ClientWriter {
            family: &self.family,
            handles: labels()[..self.series]
                .iter()
                .map(|&l| self.family.get_or_create_owned(&[(LABEL, l)]))
                .collect(),
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        text_totals(&self.text().ok_or("the encoder failed")?)
    }

    fn render(&self) -> Option<String> {
        self.text()
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        text_quantiles(&self.text()?, series, qs)
    }
}

/// A thread's `prometheus-client` handles.
pub(crate) struct ClientWriter<'a> {
    family: &'a HistogramFamily,
    handles: Vec<Histogram>,
}

impl Writer for ClientWriter<'_> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        self.handles[series].observe(seconds(ns));
    }

    #[inline(always)]
    fn record_labelled(&mut self, series: usize, ns: u64) {
        self.family
            .get_or_create(&[(LABEL, labels()[series])])
            .observe(seconds(ns));
    }
}
