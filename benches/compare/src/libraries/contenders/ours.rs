//! This crate's options: the registry (handles from a histogram family),
//! the `metrics` facade recorder on it, and the `Sharded` engine.

use lockfree_metrics::{
    export::prometheus::{render_collector_snapshot, render_registry, Format, RenderOpts},
    registry::{Family, Histogram, Registry},
    Config, MetricsCollector, Sharded,
};
use metrics::LocalRecorderGuard;

use super::contender::{
    labels, seconds, Contender, Library, Sum, Totals, Writer, HELP, LABEL, METRIC,
};

/// `lockfree-metrics registry`.
pub(crate) struct RegistryLib {
    registry: Registry,
    family: Family<Histogram>,
    series: usize,
}

fn registry_with(series: usize) -> Result<(Registry, Family<Histogram>), String> {
    let registry = Registry::new();
    registry.describe(METRIC, HELP, Some("seconds"));
    let family = registry
        .histogram_family(METRIC, &[LABEL], None)
        .map_err(|e| e.to_string())?;
    for label in &labels()[..series] {
        family.with(&[label]).map_err(|e| e.to_string())?;
    }
    Ok((registry, family))
}

fn registry_totals(registry: &Registry) -> Result<Totals, String> {
    let snapshot = registry.snapshot();
    let (mut count, mut sum) = (0, 0);
    for s in snapshot.iter().filter(|s| s.key.name() == METRIC) {
        let h = s.as_histogram().ok_or("not a histogram")?;
        count += h.count();
        sum += h.sum();
    }
    Ok(Totals {
        count,
        sum: Sum::ExactNs(sum),
    })
}

/// The reads of an option whose store is `self.registry` (the registry
/// itself, and the facade on it): one body for both.
macro_rules! registry_reads {
    () => {
        fn totals(&self) -> Result<Totals, String> {
            registry_totals(&self.registry)
        }

        fn render(&self) -> Option<String> {
            Some(registry_render(&self.registry))
        }

        fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
            registry_quantiles(&self.registry, series, qs)
        }

        fn own_bytes(&self) -> Option<usize> {
            Some(registry_bytes(&self.registry))
        }
    };
}

/// A scrape as `MetricsServer` makes one: series read and rendered one at
/// a time (`render_registry`), not a whole snapshot first.
fn registry_render(registry: &Registry) -> String {
    let (body, _) = render_registry(registry, Format::Text, &RenderOpts::default());
    String::from_utf8_lossy(&body).into_owned()
}

fn registry_quantiles(registry: &Registry, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
    let label = *labels().get(series)?;
    let snapshot = registry.snapshot();
    let h = snapshot.get(METRIC, &[(LABEL, label)])?.as_histogram()?;
    (h.count() > 0).then(|| qs.iter().map(|&q| h.quantile(q) as f64).collect())
}

fn registry_bytes(registry: &Registry) -> usize {
    let s = registry.stats();
    s.series_bytes + s.shard_bytes
}

impl Library for RegistryLib {
    type Writer<'a> = RegistryWriter<'a>;

    fn new(_: Contender, series: usize) -> Result<Self, String> {
        let (registry, family) = registry_with(series)?;
        Ok(RegistryLib {
            registry,
            family,
            series,
        })
    }

    fn writer(&self) -> RegistryWriter<'_> {
        RegistryWriter {
            family: &self.family,
            handles: labels()[..self.series]
                .iter()
                .filter_map(|l| self.family.with(&[l]).ok())
                .collect(),
        }
    }

    registry_reads!();
}

/// A thread's registry handles.
pub(crate) struct RegistryWriter<'a> {
    family: &'a Family<Histogram>,
    handles: Vec<Histogram>,
}

impl Writer for RegistryWriter<'_> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        self.handles[series].record(ns);
    }

    #[inline(always)]
    fn record_labelled(&mut self, series: usize, ns: u64) {
        if let Ok(h) = self.family.with(&[labels()[series]]) {
            h.record(ns);
        }
    }
}

/// `lockfree-metrics facade`: `FacadeRecorder` on a registry.
pub(crate) struct FacadeLib {
    registry: Registry,
    recorder: lockfree_metrics::export::facade::FacadeRecorder,
    series: usize,
}

impl Library for FacadeLib {
    type Writer<'a> = MacroWriter<'a>;

    fn new(_: Contender, series: usize) -> Result<Self, String> {
        let registry = Registry::new();
        let recorder = registry.recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!(METRIC, metrics::Unit::Seconds, HELP);
            for &label in &labels()[..series] {
                let _ = metrics::histogram!(METRIC, LABEL => label);
            }
        });
        Ok(FacadeLib {
            registry,
            recorder,
            series,
        })
    }

    fn writer(&self) -> MacroWriter<'_> {
        MacroWriter::new(&self.recorder, self.series)
    }

    registry_reads!();
}

/// A thread's `metrics` handles, with the library's recorder installed as
/// the thread's default (so the macros reach it, as a global recorder
/// would, without two options contending for the one global slot).
pub(crate) struct MacroWriter<'a> {
    handles: Vec<metrics::Histogram>,
    _local: LocalRecorderGuard<'a>,
}

impl<'a> MacroWriter<'a> {
    pub(crate) fn new(recorder: &'a dyn metrics::Recorder, series: usize) -> Self {
        let local = metrics::set_default_local_recorder(recorder);
        let handles = labels()[..series]
            .iter()
            .map(|&label| metrics::histogram!(METRIC, LABEL => label))
            .collect();
        MacroWriter {
            handles,
            _local: local,
        }
    }
}

impl Writer for MacroWriter<'_> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        self.handles[series].record(seconds(ns));
    }

    #[inline(always)]
    fn record_labelled(&mut self, series: usize, ns: u64) {
        metrics::histogram!(METRIC, LABEL => labels()[series]).record(seconds(ns));
    }
}

/// `Sharded`: the engine, one latency series.
pub(crate) struct ShardedLib {
    m: Sharded,
}

impl Library for ShardedLib {
    type Writer<'a> = &'a Sharded;

    fn new(peer: Contender, series: usize) -> Result<Self, String> {
        if series != 1 {
            return Err(format!("{} records one series, not {series}", peer.name()));
        }
        Ok(ShardedLib {
            m: Sharded::new(Config::default()),
        })
    }

    fn writer(&self) -> &Sharded {
        &self.m
    }

    fn totals(&self) -> Result<Totals, String> {
        Ok(Totals {
            count: self.m.latency().count,
            sum: Sum::None("its snapshot gives a mean rounded to the ns, not a sum"),
        })
    }

    fn render(&self) -> Option<String> {
        let (body, _) = render_collector_snapshot(
            "request",
            &self.m.snapshot(),
            Format::Text,
            &RenderOpts::default(),
        );
        Some(String::from_utf8_lossy(&body).into_owned())
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        if series != 0 {
            return None;
        }
        let l = self.m.latency();
        // The snapshot's fixed quantiles only.
        let fixed = [(0.5, l.p50), (0.95, l.p95), (0.99, l.p99), (0.999, l.p999)];
        qs.iter()
            .map(|&q| {
                fixed
                    .iter()
                    .find(|(at, _)| *at == q)
                    .map(|(_, d)| d.as_nanos() as f64)
            })
            .collect()
    }
}

impl Writer for &Sharded {
    #[inline(always)]
    fn record(&mut self, _series: usize, ns: u64) {
        self.record_latency_ns(ns);
    }
}
