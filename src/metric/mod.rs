//! Sequential building blocks shared by every strategy: the HDR counts
//! layout, the window slot geometry, the plain per-metric state of the
//! reference strategies, and the clamping rules for out-of-range input.

#[cfg(any(feature = "prometheus", feature = "otlp"))]
pub(crate) mod exponential;
pub(crate) mod layout;
pub(crate) mod state;
pub(crate) mod window;

use std::time::Duration;

/// `value` limited to `max`, and whether it had to be.
#[inline]
pub(crate) fn clamp(value: u64, max: u64) -> (u64, bool) {
    if value > max {
        (max, true)
    } else {
        (value, false)
    }
}

/// A latency in nanoseconds limited to `max_ns`, and whether it had to be.
#[inline]
pub(crate) fn clamp_latency(latency: Duration, max_ns: u64) -> (u64, bool) {
    // Seconds beyond u64 nanoseconds saturate before the clamp.
    let ns = latency
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(latency.subsec_nanos()));
    clamp(ns, max_ns)
}
