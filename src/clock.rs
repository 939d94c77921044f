//! Time sources. Windows and timestamps read a [`Clock`], so tests drive
//! time by hand with [`ManualClock`] and production reads the TSC through
//! [`QuantaClock`].

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    thread,
    time::{Duration, Instant},
};

use crate::config::duration_to_ns;

/// A monotonic time source: nanoseconds since an origin of its choosing.
///
/// Implementations must never go backwards, across threads too: window
/// slots and "most recent value" stamps rely on it.
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since this clock's origin.
    fn now_ns(&self) -> u64;
}

/// The clock collectors use unless told otherwise.
pub type DefaultClock = QuantaClock;

/// The TSC, calibrated against the OS monotonic clock by `quanta`; it falls
/// back to the OS clock where the TSC is unusable. Each read is fenced so
/// that it is monotonic across threads, as [`Clock`] requires (see
/// `ordered_raw`). 33-41 ns a read on the 2-core development machine,
/// against 43-59 ns for [`std::time::Instant`] and 20-27 ns for the
/// unfenced read (least-disturbed samples of five runs of
/// `cargo bench --bench record -- clock` on a loaded machine;
/// `papers/clock.md`).
#[derive(Clone)]
pub struct QuantaClock {
    clock: quanta::Clock,
    /// `clock.raw()` at construction.
    origin: u64,
}

impl QuantaClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = ordered_raw(&clock);
        QuantaClock { clock, origin }
    }
}

impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for QuantaClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuantaClock").finish_non_exhaustive()
    }
}

impl Clock for QuantaClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        // `delta_as_nanos` scales with one calibration shared by every
        // clock in the process (monotonic in the raw value) and gives 0 for
        // a raw value at or before the origin.
        self.clock
            .delta_as_nanos(self.origin, ordered_raw(&self.clock))
    }
}

/// `clock.raw()`, executed only after every earlier instruction, loads
/// included, has completed.
///
/// `quanta`'s `Clock::now()` is a bare `rdtsc` on x86_64 (a bare
/// `mrs cntvct_el0` on aarch64). Neither waits for earlier loads, so a
/// thread that has just loaded a message can take its reading before the
/// load completes, earlier than the sender's reading carried in the
/// message: `tests/engine/clock.rs` saw hundreds of such readings in 200,000
/// hand-offs, up to about 100 ns behind. Fencing before the read makes it
/// behave like a load of a counter that every core sees advance together
/// (Linux's `rdtsc_ordered` and `arch_timer_read_cntvct_el0` do the same;
/// its CLOCK_MONOTONIC relies on synchronised counters the same way).
///
/// On x86_64 one fence per read, before it, suffices. On the writer's
/// side the reading is complete before anything after it is published: x86
/// makes a store visible only after every earlier instruction has retired,
/// so a store after a reading (the release store publishing it, or any
/// other) never becomes visible before the reading was taken. aarch64 gives
/// no such promise for a counter read, which is not a memory access, so
/// there a second barrier keeps later stores after the read (Linux uses a
/// false dependency to the same end). The aarch64 path is compiled
/// (`cargo check --target aarch64-unknown-linux-gnu`) but was not run here.
///
/// Where `quanta` uses the OS clock instead (no invariant TSC, other
/// targets), `raw()` is already ordered and the fences only cost time.
#[inline]
fn ordered_raw(clock: &quanta::Clock) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    // SAFETY:
    // - `_mm_lfence` needs SSE2, which this cfg requires (it is baseline
    //   on x86_64); it has no other preconditions.
    unsafe {
        core::arch::x86_64::_mm_lfence();
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY:
    // - `isb` only waits for earlier instructions to complete; it touches
    //   no registers or memory and leaves the stack and flags alone;
    // - it is left able to touch memory (no `nomem`), so the compiler
    //   keeps it after the loads before it, which is its whole point.
    unsafe {
        core::arch::asm!("isb", options(nostack, preserves_flags));
    }
    let raw = clock.raw();
    #[cfg(target_arch = "aarch64")]
    // SAFETY:
    // - as above; this one keeps later loads and stores after the read,
    //   and the compiler keeps them after it for the same reason.
    unsafe {
        core::arch::asm!("isb", options(nostack, preserves_flags));
    }
    raw
}

/// [`std::time::Instant`], for platforms where the TSC misbehaves.
#[derive(Clone, Debug)]
pub struct StdClock {
    origin: Instant,
}

impl StdClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        StdClock {
            origin: Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        duration_to_ns(self.origin.elapsed())
    }
}

/// A clock that reads a shared time kept by one background thread: one
/// relaxed load a read (0.4-1.3 ns on the development machine,
/// `cargo bench --bench record -- clock`), at the price of resolution.
///
/// The first construction in the process starts an upkeep thread (never
/// more than one) that stores the time since its start, read from
/// [`std::time::Instant`], into a shared atomic every interval: 1 ms by
/// default, and for the whole process the shortest interval any
/// construction asked for. Readings are monotonic across threads: the one
/// writer stores a running maximum, and a read that happens after another
/// read of the same atomic sees that value or a later one. Every
/// `CoarseClock` in the process shares one origin, the upkeep thread's
/// start.
///
/// What the resolution costs:
///
/// - A reading is the time of the last store, so it lags real time by up
///   to one interval, plus however long the upkeep thread waits to be
///   scheduled: up to 46 ms on the loaded 2-core development machine
///   (`papers/clock.md`).
/// - Window slots: a record made just after a slot boundary can be counted
///   in the previous slot, up to one interval (plus that wait) early. With
///   the default 1 ms interval and the default 100 ms slots
///   (`ConfigBuilder::window_resolution`) that is about 1 % of a slot's
///   span.
/// - Transition times and "most recent" stamps have the interval's
///   resolution: events less than one interval apart can carry the same
///   time.
///
/// The upkeep thread runs until the process exits. Not the default clock;
/// choose it with `with_clock` where reading the clock dominates.
///
/// # Examples
///
/// ```
/// use lockfree_metrics::{Clock, CoarseClock};
///
/// let clock = CoarseClock::new();
/// let a = clock.now_ns();
/// assert!(clock.now_ns() >= a);
/// ```
#[derive(Clone, Copy)]
pub struct CoarseClock {
    time: &'static CoarseTime,
}

/// The upkeep thread's name (Linux shows 15 bytes of it).
const UPKEEP_THREAD: &str = "coarse-clock";

/// The state the upkeep thread shares with every [`CoarseClock`].
struct CoarseTime {
    /// Nanoseconds since the upkeep thread started, as of its last store.
    ns: AtomicU64,
    /// The upkeep thread's sleep between stores, in nanoseconds.
    interval_ns: AtomicU64,
}

impl CoarseClock {
    /// The interval [`CoarseClock::new`] asks for.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1);

    /// The shortest interval the upkeep thread honours, so that it cannot
    /// be asked to spin.
    pub const MIN_INTERVAL: Duration = Duration::from_micros(1);

    /// A clock whose upkeep thread sleeps [`CoarseClock::DEFAULT_INTERVAL`]
    /// between stores (or less, if another construction asked for a
    /// shorter interval).
    ///
    /// # Panics
    ///
    /// If the upkeep thread cannot be spawned (a later call tries again).
    pub fn new() -> Self {
        Self::with_interval(Self::DEFAULT_INTERVAL)
    }

    /// A clock whose upkeep thread sleeps at most `interval` (clamped to
    /// [`CoarseClock::MIN_INTERVAL`]) between stores; the interval is
    /// process-wide, so this can only shorten it, for every `CoarseClock`.
    ///
    /// # Panics
    ///
    /// As [`CoarseClock::new`].
    pub fn with_interval(interval: Duration) -> Self {
        static TIME: OnceLock<&'static CoarseTime> = OnceLock::new();
        let interval_ns = duration_to_ns(interval.max(Self::MIN_INTERVAL));
        let time = *TIME.get_or_init(|| {
            // OnceLock runs this once per process, even when threads race
            // to construct; a panic here leaves TIME empty for a retry
            // (and leaks one small allocation).
            let time: &'static CoarseTime = Box::leak(Box::new(CoarseTime {
                ns: AtomicU64::new(0),
                interval_ns: AtomicU64::new(interval_ns),
            }));
            let origin = Instant::now();
            thread::Builder::new()
                .name(UPKEEP_THREAD.into())
                .spawn(move || upkeep(time, origin))
                .expect("spawn the CoarseClock upkeep thread");
            time
        });
        // Relaxed: the interval is advice to the upkeep thread; nothing
        // else is ordered with it.
        time.interval_ns.fetch_min(interval_ns, Ordering::Relaxed);
        CoarseClock { time }
    }
}

/// The upkeep thread's body: stores the running maximum of the precise
/// time, then sleeps for the current interval.
fn upkeep(time: &'static CoarseTime, origin: Instant) -> ! {
    let mut max = 0;
    loop {
        max = max.max(duration_to_ns(origin.elapsed()));
        // Relaxed: the value alone is the message. Readers' coherence on
        // this one atomic, whose stores never decrease, is what keeps them
        // monotonic; they need no other memory ordered with it.
        time.ns.store(max, Ordering::Relaxed);
        // Relaxed: see `with_interval`.
        let interval = time.interval_ns.load(Ordering::Relaxed);
        thread::sleep(Duration::from_nanos(interval));
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CoarseClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoarseClock")
            .field("now_ns", &self.now_ns())
            .finish_non_exhaustive()
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        // Relaxed: see `upkeep`.
        self.time.ns.load(Ordering::Relaxed)
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lockfree_metrics::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let handle = clock.clone();
/// handle.advance(Duration::from_secs(11));
/// assert_eq!(clock.now_ns(), 11_000_000_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    ns: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating at 2^64 ns).
    pub fn advance(&self, by: Duration) {
        let by = duration_to_ns(by);
        // Relaxed: the clock is one value; readers need no other memory
        // ordered with it.
        let _ = self
            .ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(by))
            });
    }

    /// Moves the clock to `at` if that is later than now; a manual clock
    /// never goes back.
    pub fn set(&self, at: Duration) {
        // Relaxed: as in `advance`.
        self.ns.fetch_max(duration_to_ns(at), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        // Relaxed: see `advance`.
        self.ns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_never_goes_back() {
        let c = ManualClock::new();
        c.set(Duration::from_secs(5));
        c.set(Duration::from_secs(1));
        assert_eq!(c.now_ns(), 5_000_000_000);
        c.advance(Duration::MAX);
        assert_eq!(c.now_ns(), u64::MAX);
    }

    #[test]
    fn quanta_clock_starts_near_zero_and_advances() {
        let q = QuantaClock::new();
        let a = q.now_ns();
        std::thread::sleep(Duration::from_millis(2));
        let b = q.now_ns();
        assert!(a < 1_000_000_000, "origin is construction time: {a} ns");
        assert!(b - a >= 1_000_000, "2 ms sleep read as {} ns", b - a);
    }

    #[test]
    fn real_clocks_are_monotonic() {
        let q = QuantaClock::new();
        let s = StdClock::new();
        let (mut lq, mut ls) = (0, 0);
        for _ in 0..10_000 {
            let (a, b) = (q.now_ns(), s.now_ns());
            assert!(a >= lq && b >= ls);
            (lq, ls) = (a, b);
        }
    }
}
