//! The libraries a user would pick instead of this crate's registry, each
//! behind one trait, set up as its documentation says a server would: one
//! latency histogram, [`METRIC`](contender::METRIC), with one label `series` ("0" to "S-1").
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
//! | `prometheus LocalHistogram` | `tikv` | `Histogram::local` per thread, flushed every [`LOCAL_FLUSH_EVERY`](contender::LOCAL_FLUSH_EVERY) | `observe` | none |
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
mod contender;
mod exporter;
mod hdr;
mod otel;
mod ours;
mod tikv;

pub(crate) use self::contender::{
    check, text_quantiles, Accounting, Contender, Library, Visit, Writer, BUCKETS, REFRESH, UPKEEP,
};

impl Contender {
    /// Calls `v.visit::<L>(self)` with this option's library type.
    pub(crate) fn visit<V: Visit>(self, v: V) -> V::Out {
        match self {
            Contender::Registry => v.visit::<ours::RegistryLib>(self),
            Contender::Facade => v.visit::<ours::FacadeLib>(self),
            Contender::Sharded => v.visit::<ours::ShardedLib>(self),
            Contender::Exporter | Contender::ExporterBuckets => {
                v.visit::<exporter::ExporterLib>(self)
            }
            Contender::AtomicBucket => v.visit::<exporter::BucketLib>(self),
            Contender::PromHistogram | Contender::PromLocal => v.visit::<tikv::TikvLib>(self),
            Contender::ClientHistogram => v.visit::<client::ClientLib>(self),
            Contender::OtelHistogram | Contender::OtelBound => v.visit::<otel::OtelLib>(self),
            Contender::SyncHistogram => v.visit::<hdr::HdrLib>(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{atomic::AtomicBool, Barrier},
        thread,
    };

    use super::contender::*;

    /// Runs `threads` writers of `peer` over `series` series, each making
    /// `per_thread` records (series `i % series`, values 1 µs + i ns) through
    /// the cached or the labelled path, and checks the accounting.
    fn exact_run(peer: Contender, series: usize, threads: usize, per_thread: u64, labelled: bool) {
        struct V {
            series: usize,
            threads: usize,
            per_thread: u64,
            labelled: bool,
        }
        impl Visit for V {
            type Out = (Accounting, Option<String>, Option<Vec<f64>>);
            fn visit<L: Library>(self, peer: Contender) -> Self::Out {
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
        for peer in Contender::ALL {
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
        let result = std::panic::catch_unwind(|| exact_run(Contender::Sharded, 1, 1, 10, true));
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
