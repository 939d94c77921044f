//! `hdrhistogram`'s `SyncHistogram`: one per series, each thread holding a
//! `Recorder` of each, a thread refreshing them (with a timeout, so a
//! recorder that stops writing cannot freeze it: HdrHistogram_rust#120).

use std::{
    sync::{atomic::AtomicBool, Mutex},
    time::Duration,
};

use hdrhistogram::{
    sync::{Recorder, SyncHistogram},
    Histogram,
};

use super::{
    contender::{Contender, Library, Sum, Totals, Writer, REFRESH},
    exporter::nap,
};

/// The bounds of the default `Config`: 1 µs to 1 h, 2 significant digits.
fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1_000, 3_600_000_000_000, 2).map_err(|e| e.to_string())
}

/// `hdrhistogram SyncHistogram`.
pub(crate) struct HdrLib {
    series: Vec<Mutex<SyncHistogram<u64>>>,
}

impl HdrLib {
    /// Refreshes every series, waiting at most `timeout` on each.
    fn refresh(&self, timeout: Duration) {
        for s in &self.series {
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .refresh_timeout(timeout);
        }
    }
}

impl Library for HdrLib {
    type Writer<'a> = Vec<Recorder<u64>>;

    fn new(peer: Contender, series: usize) -> Result<Self, String> {
        if let Some((max, why)) = peer.series_limit().filter(|(max, _)| series > *max) {
            return Err(format!("at most {max} series: {why}"));
        }
        Ok(HdrLib {
            series: (0..series)
                .map(|_| histogram().map(|h| Mutex::new(h.into_sync())))
                .collect::<Result<_, _>>()?,
        })
    }

    fn writer(&self) -> Vec<Recorder<u64>> {
        self.series
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).recorder())
            .collect()
    }

    fn has_background(&self) -> bool {
        true
    }

    fn background(&self, stop: &AtomicBool) {
        // A round of refreshes every REFRESH, sharing that time out.
        let each = REFRESH / self.series.len().max(1) as u32;
        while nap(stop, REFRESH) {
            self.refresh(each.max(Duration::from_micros(10)));
        }
    }

    fn totals(&self) -> Result<Totals, String> {
        self.refresh(REFRESH);
        Ok(Totals {
            count: self
                .series
                .iter()
                .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
                .sum(),
            sum: Sum::None("an HDR histogram keeps counts per bucket, no sum"),
        })
    }

    fn render(&self) -> Option<String> {
        None
    }

    fn quantiles(&self, series: usize, qs: &[f64]) -> Option<Vec<f64>> {
        let mut s = self.series.get(series)?.lock().ok()?;
        s.refresh_timeout(REFRESH);
        (!s.is_empty()).then(|| qs.iter().map(|&q| s.value_at_quantile(q) as f64).collect())
    }
}

impl Writer for Vec<Recorder<u64>> {
    #[inline(always)]
    fn record(&mut self, series: usize, ns: u64) {
        self[series].saturating_record(ns);
    }
}
