//! What the scrape, accuracy, memory and churn workloads need of an
//! option: S labelled latency series, a handle per thread, the exact
//! count where the library keeps one, a Prometheus text render and
//! quantile reads.

/// One option (a library, set up as its documentation says a server
/// would) holding S latency series `series="0".."S-1"`.
pub(crate) trait Target: Sync {
    /// The row's name.
    fn name(&self) -> &'static str;
    /// A handle for the calling thread, recording nanoseconds.
    fn writer(&self) -> Box<dyn Writer + '_>;
    /// The Prometheus text exposition of every series, if it has one.
    fn render(&self) -> Option<Vec<u8>>;
    /// Samples counted over all series, where the library counts exactly.
    fn total(&self) -> Option<u64>;
    /// Series `series`' quantiles `qs` in ns, as the library reads them.
    fn read(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>>;
    /// What `read` is: "HDR quantile", "histogram_quantile over ...".
    fn method(&self) -> String;
}

/// A thread's handle to an option's series.
pub(crate) trait Writer {
    /// Records `ns` nanoseconds into series `series`.
    fn record(&mut self, series: usize, ns: u64);
}

/// Our registry, until the peers' adapters land.
pub(crate) mod ours {
    use lockfree_metrics::{
        export::prometheus::{render, Format, RenderOpts},
        registry::{Histogram, Registry},
    };

    use super::{Target, Writer};

    /// The registry with one histogram family of S series.
    pub(crate) struct Ours {
        registry: Registry,
        series: Vec<Histogram>,
    }

    impl Ours {
        /// S series of `latency_seconds{series=...}`.
        pub(crate) fn new(s: usize) -> Self {
            let registry = Registry::new();
            let family = registry
                .histogram_family("latency_seconds", &["series"], None)
                .expect("a valid name");
            let series = (0..s)
                .map(|i| family.with(&[&i.to_string()]).expect("one label"))
                .collect();
            Ours { registry, series }
        }
    }

    struct Handles<'a>(&'a [Histogram]);

    impl Writer for Handles<'_> {
        fn record(&mut self, series: usize, ns: u64) {
            self.0[series].record(ns);
        }
    }

    impl Target for Ours {
        fn name(&self) -> &'static str {
            "lockfree-metrics Registry"
        }
        fn writer(&self) -> Box<dyn Writer + '_> {
            Box::new(Handles(&self.series))
        }
        fn render(&self) -> Option<Vec<u8>> {
            Some(
                render(
                    &self.registry.snapshot(),
                    Format::Text,
                    &RenderOpts::default(),
                )
                .0,
            )
        }
        fn total(&self) -> Option<u64> {
            Some(
                self.registry
                    .snapshot()
                    .iter()
                    .filter_map(|s| s.as_histogram().map(|h| h.count()))
                    .sum(),
            )
        }
        fn read(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
            let snapshot = self.registry.snapshot();
            let label = series.to_string();
            let h = snapshot
                .get("latency_seconds", &[("series", &label)])?
                .as_histogram()?;
            Some(qs.iter().map(|&q| h.quantile(q) as f64).collect())
        }
        fn method(&self) -> String {
            "HDR quantile, 2 digits".into()
        }
    }
}

/// The names of every option, in table order.
pub(crate) fn names() -> Vec<&'static str> {
    vec!["lockfree-metrics Registry"]
}

/// The option `name` with `s` series.
pub(crate) fn one(name: &str, s: usize) -> Option<Box<dyn Target>> {
    match name {
        "lockfree-metrics Registry" => Some(Box::new(ours::Ours::new(s))),
        _ => None,
    }
}

/// Every option with `s` series.
pub(crate) fn all(s: usize) -> Vec<Box<dyn Target>> {
    names().into_iter().filter_map(|n| one(n, s)).collect()
}

/// Whether `name` (an option's name, or a line starting with it) is one
/// of this crate's rows, whose miscounts fail the run.
pub(crate) fn is_ours(name: &str) -> bool {
    name.starts_with("lockfree-metrics")
}

/// Every option's estimate of [`accuracy::QS`](crate::library::accuracy::QS)
/// after recording `samples` into one series.
pub(crate) fn estimates(
    samples: &[u64],
    exact_ns: &[u64],
) -> Vec<crate::library::accuracy::Estimate> {
    use crate::library::accuracy::{estimate, QS};
    all(1)
        .into_iter()
        .map(|t| {
            let mut w = t.writer();
            for &s in samples {
                w.record(0, s);
            }
            drop(w);
            let got = t.read(0, &QS).ok_or_else(|| "no quantiles".to_string());
            estimate(t.name(), t.method(), got, exact_ns)
        })
        .collect()
}
