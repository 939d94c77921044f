//! Configuration shared by every strategy, built and validated once.
//!
//! A [`Config`] is immutable once built: `reset` keeps it, and every
//! strategy derives its fixed-size storage (histogram layouts, window
//! rings, the batch-size distribution) from it up front, so nothing on the
//! record path ever allocates or resizes.

use std::{fmt, time::Duration};

use hdrhistogram::{CreationError, Histogram};

use crate::metric::layout::Layout;

/// Largest number of slots one window may span (`window / resolution`).
pub const MAX_WINDOW_SLOTS: u64 = 1 << 16;
/// Largest accepted [`ConfigBuilder::max_batch_size`]: the exact
/// distribution is a dense array of this many counters per shard.
pub const MAX_BATCH_SIZE_LIMIT: usize = 1 << 20;
/// Largest accepted [`ConfigBuilder::transition_log`] length.
pub const MAX_TRANSITION_LOG: usize = 4096;
/// Largest value a histogram may track (2^62: 146 years in nanoseconds).
/// Above it `hdrhistogram`'s equivalence ranges saturate and a rebuilt
/// histogram would no longer match a recorded one.
pub const MAX_TRACKABLE: u64 = 1 << 62;
/// Largest accepted [`ConfigBuilder::max_queue_depth`] (2^32): the atomic
/// strategy packs a reset epoch beside the current depth in one word.
pub const MAX_QUEUE_DEPTH_LIMIT: u64 = 1 << 32;
/// Largest histogram (in counters) a configuration may ask for, 4 Mi
/// counters = 32 MiB per histogram: beyond that a typo is more likely than
/// a need.
pub const MAX_HISTOGRAM_COUNTERS: usize = 1 << 22;

/// Validated settings for a collector. Build one with [`Config::builder`]
/// or take [`Config::default`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::Config;
///
/// let config = Config::builder()
///     .windows([Duration::from_secs(5), Duration::from_secs(30)])
///     .window_resolution(Duration::from_millis(500))
///     .latency_range(Duration::from_micros(10), Duration::from_secs(120))
///     .significant_digits(2)
///     .build()?;
/// assert_eq!(config.windows(), &[Duration::from_secs(5), Duration::from_secs(30)]);
/// # Ok::<(), lockfree_metrics::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    windows: Vec<Duration>,
    window_resolution: Duration,
    latency_lowest: Duration,
    latency_highest: Duration,
    significant_digits: u8,
    max_batch_size: usize,
    max_queue_depth: u64,
    transition_log: usize,
}

impl Default for Config {
    /// Windows of 1 s, 10 s and 60 s at 100 ms resolution; latencies from
    /// 1 µs to 1 h at 2 significant digits (every percentile within 1/128
    /// of the exact value; `papers/precision.md` has the data behind the
    /// choice); batch sizes up to 1024; queue
    /// depths up to 1,000,000; the 32 most recent mode transitions.
    fn default() -> Self {
        ConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

impl Config {
    /// A builder preloaded with the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The throughput windows, shortest first.
    pub fn windows(&self) -> &[Duration] {
        &self.windows
    }

    /// The time granularity of the throughput windows.
    pub fn window_resolution(&self) -> Duration {
        self.window_resolution
    }

    /// The lowest latency the histogram tells apart from zero.
    pub fn latency_lowest(&self) -> Duration {
        self.latency_lowest
    }

    /// The highest latency recorded as is; longer ones are clamped to it
    /// and counted in [`LatencySnapshot::clamped`](crate::LatencySnapshot::clamped).
    pub fn latency_highest(&self) -> Duration {
        self.latency_highest
    }

    /// Significant decimal digits kept by the latency and queue-depth
    /// histograms (0 to 5).
    pub fn significant_digits(&self) -> u8 {
        self.significant_digits
    }

    /// The largest batch size recorded as is; larger ones are clamped.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// The largest queue depth recorded as is; deeper ones are clamped.
    pub fn max_queue_depth(&self) -> u64 {
        self.max_queue_depth
    }

    /// How many of the most recent mode transitions a snapshot lists.
    pub fn transition_log(&self) -> usize {
        self.transition_log
    }

    pub(crate) fn latency_lowest_ns(&self) -> u64 {
        duration_to_ns(self.latency_lowest)
    }

    pub(crate) fn latency_highest_ns(&self) -> u64 {
        duration_to_ns(self.latency_highest)
    }

    pub(crate) fn window_resolution_ns(&self) -> u64 {
        duration_to_ns(self.window_resolution)
    }

    /// The latency histogram's layout (values in nanoseconds): the one place
    /// its bounds are chosen, for the references' histograms and the
    /// lock-free strategies' counters alike.
    pub(crate) fn latency_layout(&self) -> Layout {
        Layout::new(
            self.latency_lowest_ns(),
            self.latency_highest_ns(),
            self.significant_digits,
        )
    }

    /// The queue-depth histogram's layout.
    pub(crate) fn queue_layout(&self) -> Layout {
        Layout::new(1, self.max_queue_depth, self.significant_digits)
    }
}

/// Builds a [`Config`]; [`build`](ConfigBuilder::build) validates it.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    windows: Vec<Duration>,
    window_resolution: Duration,
    latency_lowest: Duration,
    latency_highest: Duration,
    significant_digits: u8,
    max_batch_size: usize,
    max_queue_depth: u64,
    transition_log: usize,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            windows: vec![
                Duration::from_secs(1),
                Duration::from_secs(10),
                Duration::from_secs(60),
            ],
            window_resolution: Duration::from_millis(100),
            latency_lowest: Duration::from_micros(1),
            latency_highest: Duration::from_secs(3600),
            significant_digits: 2,
            max_batch_size: 1024,
            max_queue_depth: 1_000_000,
            transition_log: 32,
        }
    }
}

impl ConfigBuilder {
    /// Sets the throughput windows (any order; each a multiple of the
    /// resolution).
    pub fn windows(mut self, windows: impl IntoIterator<Item = Duration>) -> Self {
        self.windows = windows.into_iter().collect();
        self
    }

    /// Sets the time granularity of the windows: a window of length `W`
    /// covers the `W / resolution` most recent slots, the current,
    /// partly elapsed one included.
    pub fn window_resolution(mut self, resolution: Duration) -> Self {
        self.window_resolution = resolution;
        self
    }

    /// Sets the latency range: `lowest` is the smallest latency told apart
    /// from zero, `highest` the largest recorded as is (at least twice
    /// `lowest`).
    pub fn latency_range(mut self, lowest: Duration, highest: Duration) -> Self {
        self.latency_lowest = lowest;
        self.latency_highest = highest;
        self
    }

    /// Sets the significant decimal digits of the histograms (0 to 5; 2 by
    /// default). Each digit multiplies histogram memory, and the cost of a
    /// lock-free read, by about eight: at 2, a percentile is within 1/128
    /// (0.78%) of the exact value, at 3 within 1/1024.
    pub fn significant_digits(mut self, digits: u8) -> Self {
        self.significant_digits = digits;
        self
    }

    /// Sets the largest batch size recorded as is (1 to 2^20).
    pub fn max_batch_size(mut self, max: usize) -> Self {
        self.max_batch_size = max;
        self
    }

    /// Sets the largest queue depth recorded as is (2 to 2^32).
    pub fn max_queue_depth(mut self, max: u64) -> Self {
        self.max_queue_depth = max;
        self
    }

    /// Sets how many recent mode transitions snapshots list (0 to 4096).
    pub fn transition_log(mut self, len: usize) -> Self {
        self.transition_log = len;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting that cannot work.
    pub fn build(self) -> Result<Config, ConfigError> {
        let ConfigBuilder {
            mut windows,
            window_resolution,
            latency_lowest,
            latency_highest,
            significant_digits,
            max_batch_size,
            max_queue_depth,
            transition_log,
        } = self;

        if windows.is_empty() {
            return Err(ConfigError::NoWindows);
        }
        if window_resolution.is_zero() {
            return Err(ConfigError::ZeroResolution);
        }
        let resolution_ns = checked_ns(window_resolution).ok_or(ConfigError::DurationTooLong)?;
        windows.sort_unstable();
        for pair in windows.windows(2) {
            if pair[0] == pair[1] {
                return Err(ConfigError::DuplicateWindow(pair[0]));
            }
        }
        for &window in &windows {
            if window.is_zero() {
                return Err(ConfigError::ZeroWindow);
            }
            let window_ns = checked_ns(window).ok_or(ConfigError::DurationTooLong)?;
            if window_ns % resolution_ns != 0 {
                return Err(ConfigError::WindowNotMultipleOfResolution {
                    window,
                    resolution: window_resolution,
                });
            }
            if window_ns / resolution_ns > MAX_WINDOW_SLOTS {
                return Err(ConfigError::TooManyWindowSlots {
                    window,
                    resolution: window_resolution,
                });
            }
        }

        let lowest = checked_ns(latency_lowest).ok_or(ConfigError::DurationTooLong)?;
        let highest = checked_ns(latency_highest)
            .filter(|&ns| ns <= MAX_TRACKABLE)
            .ok_or(ConfigError::DurationTooLong)?;
        if lowest == 0 {
            return Err(ConfigError::ZeroLowestLatency);
        }
        if highest < lowest.saturating_mul(2) {
            return Err(ConfigError::InvertedLatencyRange {
                lowest: latency_lowest,
                highest: latency_highest,
            });
        }
        check_histogram(lowest, highest, significant_digits)?;

        if max_batch_size == 0 || max_batch_size > MAX_BATCH_SIZE_LIMIT {
            return Err(ConfigError::MaxBatchSizeOutOfRange(max_batch_size));
        }
        if !(2..=MAX_QUEUE_DEPTH_LIMIT).contains(&max_queue_depth) {
            return Err(ConfigError::MaxQueueDepthOutOfRange(max_queue_depth));
        }
        check_histogram(1, max_queue_depth, significant_digits)?;
        if transition_log > MAX_TRANSITION_LOG {
            return Err(ConfigError::TransitionLogTooLong(transition_log));
        }

        Ok(Config {
            windows,
            window_resolution,
            latency_lowest,
            latency_highest,
            significant_digits,
            max_batch_size,
            max_queue_depth,
            transition_log,
        })
    }
}

/// Builds the histogram once to let `hdrhistogram` judge the precision and
/// to bound its memory.
pub(crate) fn check_histogram(low: u64, high: u64, digits: u8) -> Result<(), ConfigError> {
    if digits > 5 {
        return Err(ConfigError::InvalidSignificantDigits(digits));
    }
    let histogram = Histogram::<u64>::new_with_bounds(low, high, digits).map_err(|e| match e {
        CreationError::SigFigExceedsMax | CreationError::CannotRepresentSigFigBeyondLow => {
            ConfigError::InvalidSignificantDigits(digits)
        }
        CreationError::LowIsZero
        | CreationError::LowExceedsMax
        | CreationError::HighLessThanTwiceLow => ConfigError::InvalidHistogramBounds {
            lowest: low,
            highest: high,
        },
        _ => ConfigError::HistogramTooLarge {
            counters: usize::MAX,
        },
    })?;
    let counters = histogram.distinct_values();
    if counters > MAX_HISTOGRAM_COUNTERS {
        return Err(ConfigError::HistogramTooLarge { counters });
    }
    Ok(())
}

/// Nanoseconds in `d`, saturating at `u64::MAX` (584 years).
pub(crate) fn duration_to_ns(d: Duration) -> u64 {
    checked_ns(d).unwrap_or(u64::MAX)
}

fn checked_ns(d: Duration) -> Option<u64> {
    u64::try_from(d.as_nanos()).ok()
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No throughput window was given.
    NoWindows,
    /// A window of length zero was given.
    ZeroWindow,
    /// The same window length was given twice.
    DuplicateWindow(Duration),
    /// The window resolution is zero.
    ZeroResolution,
    /// A window is not a whole number of resolution slots.
    WindowNotMultipleOfResolution {
        /// The window.
        window: Duration,
        /// The resolution.
        resolution: Duration,
    },
    /// A window spans more than [`MAX_WINDOW_SLOTS`] slots.
    TooManyWindowSlots {
        /// The window.
        window: Duration,
        /// The resolution.
        resolution: Duration,
    },
    /// A window does not fit in 2^64 ns, or the highest latency is above
    /// [`MAX_TRACKABLE`] ns.
    DurationTooLong,
    /// The lowest latency is zero; it must be at least 1 ns.
    ZeroLowestLatency,
    /// The highest latency is less than twice the lowest.
    InvertedLatencyRange {
        /// The lowest latency.
        lowest: Duration,
        /// The highest latency.
        highest: Duration,
    },
    /// The significant digits are above 5, or too many for the lowest value.
    InvalidSignificantDigits(u8),
    /// Histogram bounds `hdrhistogram` refuses: a lowest value of 0 or above
    /// `u64::MAX / 2`, or a highest value below twice the lowest (the
    /// registry's [`HistogramOpts`](crate::registry::HistogramOpts); a
    /// [`Config`]'s latency range has errors of its own).
    InvalidHistogramBounds {
        /// The lowest value.
        lowest: u64,
        /// The highest value.
        highest: u64,
    },
    /// The histogram would need more than [`MAX_HISTOGRAM_COUNTERS`] counters.
    HistogramTooLarge {
        /// Counters it would need.
        counters: usize,
    },
    /// The largest batch size is 0 or above [`MAX_BATCH_SIZE_LIMIT`].
    MaxBatchSizeOutOfRange(usize),
    /// The largest queue depth is below 2 or above [`MAX_QUEUE_DEPTH_LIMIT`].
    MaxQueueDepthOutOfRange(u64),
    /// The transition log is longer than [`MAX_TRANSITION_LOG`].
    TransitionLogTooLong(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoWindows => write!(f, "at least one throughput window is needed"),
            ConfigError::ZeroWindow => write!(f, "a throughput window cannot be zero"),
            ConfigError::DuplicateWindow(w) => write!(f, "window {w:?} is given twice"),
            ConfigError::ZeroResolution => write!(f, "the window resolution cannot be zero"),
            ConfigError::WindowNotMultipleOfResolution { window, resolution } => write!(
                f,
                "window {window:?} is not a multiple of the resolution {resolution:?}"
            ),
            ConfigError::TooManyWindowSlots { window, resolution } => write!(
                f,
                "window {window:?} at resolution {resolution:?} spans more than {MAX_WINDOW_SLOTS} slots"
            ),
            ConfigError::DurationTooLong => write!(
                f,
                "a window exceeds 2^64 ns or the highest latency exceeds {MAX_TRACKABLE} ns"
            ),
            ConfigError::ZeroLowestLatency => write!(f, "the lowest latency must be at least 1 ns"),
            ConfigError::InvertedLatencyRange { lowest, highest } => write!(
                f,
                "the highest latency {highest:?} must be at least twice the lowest {lowest:?}"
            ),
            ConfigError::InvalidSignificantDigits(d) => {
                write!(f, "{d} significant digits cannot be kept (0 to 5, fewer for large lowest values)")
            }
            ConfigError::InvalidHistogramBounds { lowest, highest } => write!(
                f,
                "histogram bounds {lowest}..={highest}: the lowest must be 1 to 2^63 - 1 and the highest at least twice it"
            ),
            ConfigError::HistogramTooLarge { counters } => write!(
                f,
                "the histogram would need {counters} counters (at most {MAX_HISTOGRAM_COUNTERS})"
            ),
            ConfigError::MaxBatchSizeOutOfRange(n) => write!(
                f,
                "the largest batch size must be 1 to {MAX_BATCH_SIZE_LIMIT}, not {n}"
            ),
            ConfigError::MaxQueueDepthOutOfRange(n) => write!(
                f,
                "the largest queue depth must be 2 to {MAX_QUEUE_DEPTH_LIMIT}, not {n}"
            ),
            ConfigError::TransitionLogTooLong(n) => write!(
                f,
                "the transition log holds at most {MAX_TRANSITION_LOG} entries, not {n}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_is_valid_and_sorted() {
        let c = Config::default();
        assert_eq!(c.windows(), &[secs(1), secs(10), secs(60)]);
        assert_eq!(c.window_resolution(), Duration::from_millis(100));
    }

    #[test]
    fn windows_are_sorted() {
        let c = Config::builder()
            .windows([secs(60), secs(1)])
            .build()
            .unwrap();
        assert_eq!(c.windows(), &[secs(1), secs(60)]);
    }

    #[test]
    fn every_invalid_setting_is_a_typed_error() {
        let b = Config::builder;
        assert_eq!(b().windows([]).build(), Err(ConfigError::NoWindows));
        assert_eq!(
            b().windows([Duration::ZERO]).build(),
            Err(ConfigError::ZeroWindow)
        );
        assert_eq!(
            b().windows([secs(1), secs(1)]).build(),
            Err(ConfigError::DuplicateWindow(secs(1)))
        );
        assert_eq!(
            b().window_resolution(Duration::ZERO).build(),
            Err(ConfigError::ZeroResolution)
        );
        assert!(matches!(
            b().window_resolution(Duration::from_millis(300)).build(),
            Err(ConfigError::WindowNotMultipleOfResolution { .. })
        ));
        assert!(matches!(
            b().window_resolution(Duration::from_micros(1)).build(),
            Err(ConfigError::TooManyWindowSlots { .. })
        ));
        assert_eq!(
            b().windows([Duration::MAX]).build(),
            Err(ConfigError::DurationTooLong)
        );
        assert_eq!(
            b().latency_range(Duration::ZERO, secs(1)).build(),
            Err(ConfigError::ZeroLowestLatency)
        );
        assert!(matches!(
            b().latency_range(secs(2), secs(1)).build(),
            Err(ConfigError::InvertedLatencyRange { .. })
        ));
        assert!(matches!(
            b().latency_range(secs(1), secs(1)).build(),
            Err(ConfigError::InvertedLatencyRange { .. })
        ));
        assert_eq!(
            b().significant_digits(6).build(),
            Err(ConfigError::InvalidSignificantDigits(6))
        );
        assert!(matches!(
            b().significant_digits(5)
                .latency_range(Duration::from_nanos(1), secs(3600 * 24 * 365))
                .build(),
            Err(ConfigError::HistogramTooLarge { .. })
        ));
        assert_eq!(
            b().max_batch_size(0).build(),
            Err(ConfigError::MaxBatchSizeOutOfRange(0))
        );
        assert_eq!(
            b().max_batch_size(MAX_BATCH_SIZE_LIMIT + 1).build(),
            Err(ConfigError::MaxBatchSizeOutOfRange(
                MAX_BATCH_SIZE_LIMIT + 1
            ))
        );
        assert_eq!(
            b().max_queue_depth(1).build(),
            Err(ConfigError::MaxQueueDepthOutOfRange(1))
        );
        assert_eq!(
            b().max_queue_depth(u64::MAX).build(),
            Err(ConfigError::MaxQueueDepthOutOfRange(u64::MAX))
        );
        assert_eq!(
            b().latency_range(Duration::from_nanos(1), Duration::MAX)
                .build(),
            Err(ConfigError::DurationTooLong)
        );
        assert_eq!(
            b().transition_log(MAX_TRANSITION_LOG + 1).build(),
            Err(ConfigError::TransitionLogTooLong(MAX_TRANSITION_LOG + 1))
        );
    }

    #[test]
    fn errors_explain_themselves() {
        let e = Config::builder().windows([]).build().unwrap_err();
        assert!(e.to_string().contains("window"));
    }
}
