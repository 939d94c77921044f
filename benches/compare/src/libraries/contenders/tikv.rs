//! tikv's `prometheus` (rust-prometheus): a `HistogramVec` registered in a
//! `Registry`, recorded through its `Histogram`s, or through per-thread
//! `LocalHistogram`s flushed every [`LOCAL_FLUSH_EVERY`] records.

use prometheus::{
    core::Metric, local::LocalHistogram, Encoder, Histogram, HistogramOpts, HistogramVec, Registry,
    TextEncoder,
};

use super::contender::{
    bucket_quantile, labels, seconds, Contender, Library, Sum, Totals, Writer, BUCKETS, HELP,
    LABEL, LOCAL_FLUSH_EVERY, METRIC,
};

/// `prometheus Histogram` and `prometheus LocalHistogram`.
pub(crate) struct TikvLib {
    registry: Registry,
    vec: HistogramVec,
    series: usize,
    local: bool,
}

impl TikvLib {
    fn series(&self, series: usize) -> Option<Histogram> {
        self.vec
            .get_metric_with_label_values(&[*labels().get(series)?])
            .ok()
    }
}

impl Library for TikvLib {
    type Writer<'a> = TikvWriter<'a>;

    fn new(peer: Contender, series: usize) -> Result<Self, String> {
        let opts = HistogramOpts::new(METRIC, HELP).buckets(BUCKETS.to_vec());
        let vec = HistogramVec::new(opts, &[LABEL]).map_err(|e| e.to_string())?;
        let registry = Registry::new();
        registry
            .register(Box::new(vec.clone()))
            .map_err(|e| e.to_string())?;
        for &label in &labels()[..series] {
            vec.with_label_values(&[label]);
        }
        Ok(TikvLib {
            registry,
            vec,
            series,
            local: peer == Contender::PromLocal,
        })
    }

    fn writer(&self) -> TikvWriter<'_> {
        let shared: Vec<Histogram> = labels()[..self.series]
            .iter()
            .map(|&l| self.vec.with_label_values(&[l]))
            .collect();
        if self.local {
            TikvWriter::Local(shared.iter().map(|h| (h.local(), 0)).collect())
        } else {
            TikvWriter::Shared(&self.vec, shared)
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        let (mut count, mut sum) = (0, 0.0);
        for i in 0..self.series {
            let h = self.series(i).ok_or("a series went missing")?;
            count += h.get_sample_count();
            sum += h.get_sample_sum();
        }
        Ok(Totals {
            count,
            sum: Sum::Seconds(sum),
        })
    }

    fn render(&self) -> Option<String> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .ok()?;
        String::from_utf8(out).ok()
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        let m = self.series(series)?.metric();
        let h = m.get_histogram();
        let buckets: Vec<(f64, u64)> = h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .chain(std::iter::once((f64::INFINITY, h.get_sample_count())))
            .collect();
        qs.iter()
            .map(|&q| bucket_quantile(&buckets, q).map(|s| s * 1e9))
            .collect()
    }
}

/// A thread's tikv handles.
pub(crate) enum TikvWriter<'a> {
    /// The vector (for lookups) and each series' shared `Histogram`.
    Shared(&'a HistogramVec, Vec<Histogram>),
    /// Each series' local histogram and the records since its last flush.
    Local(Vec<(LocalHistogram, u32)>),
}

impl Writer for TikvWriter<'_> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        match self {
            TikvWriter::Shared(_, handles) => handles[series].observe(seconds(ns)),
            TikvWriter::Local(locals) => {
                let (h, n) = &mut locals[series];
                h.observe(seconds(ns));
                *n += 1;
                if *n == LOCAL_FLUSH_EVERY {
                    h.flush();
                    *n = 0;
                }
            }
        }
    }

    #[inline(always)]
    fn record_labelled(&mut self, series: usize, ns: u64) {
        if let TikvWriter::Shared(vec, _) = self {
            vec.with_label_values(&[labels()[series]])
                .observe(seconds(ns));
        }
    }

    fn finish(self) {
        if let TikvWriter::Local(locals) = self {
            for (h, _) in &locals {
                h.flush();
            }
        }
    }
}
