//! Sliding throughput windows as a ring of time slots (the bucketed
//! "rolling window" of Hystrix and most metrics systems), shared by every
//! strategy so that all of them agree on what a window holds.
//!
//! Time is cut into slots of `resolution`; slot `s` covers
//! `[s * resolution, (s + 1) * resolution)`. A window of length `W` at time
//! `now` holds the `W / resolution` most recent slots, the current (partly
//! elapsed) one included, and never a slot from before the last reset. The
//! ring has a power-of-two number of entries, more than the longest
//! window's slots, so an entry is overwritten only once its slot is outside
//! every window.

use std::time::Duration;

use crate::{config::Config, snapshot::WindowRate};

/// Saturation point of one slot's count (2^32 - 1, far above 10^9 tokens a
/// second at the default resolution): lock-free rings pack a lap number into
/// the upper 32 bits of a slot word, and the reference strategies saturate
/// at the same point so that all agree.
pub(crate) const SLOT_MAX: u64 = (1 << 32) - 1;

/// The slot geometry derived from a [`Config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WindowSpec {
    resolution_ns: u64,
    /// (window, its length in slots), shortest first.
    windows: Vec<(Duration, u64)>,
    ring_len: usize,
    /// `log2(ring_len)`.
    ring_shift: u32,
}

impl WindowSpec {
    pub(crate) fn new(config: &Config) -> Self {
        let resolution_ns = config.window_resolution_ns();
        let windows: Vec<(Duration, u64)> = config
            .windows()
            .iter()
            .map(|&w| (w, crate::config::duration_to_ns(w) / resolution_ns))
            .collect();
        let longest = windows.iter().map(|&(_, slots)| slots).max().unwrap_or(1);
        // One more than the longest window, so that the oldest slot of that
        // window is never the one being overwritten.
        let ring_len = (longest as usize + 1).next_power_of_two();
        WindowSpec {
            resolution_ns,
            windows,
            ring_len,
            ring_shift: ring_len.trailing_zeros(),
        }
    }

    /// Entries in a ring.
    pub(crate) fn ring_len(&self) -> usize {
        self.ring_len
    }

    /// The slot `now_ns` falls in (the last representable instant, 2^64 ns
    /// at 1 ns resolution, shares the slot before it, so that "one past a
    /// slot" always fits in a `u64`).
    #[inline]
    pub(crate) fn slot_of(&self, now_ns: u64) -> u64 {
        (now_ns / self.resolution_ns).min(u64::MAX - 1)
    }

    /// How many times the ring has wrapped by `slot`.
    #[inline]
    pub(crate) fn lap_of(&self, slot: u64) -> u64 {
        slot >> self.ring_shift
    }

    /// The ring entry of `slot`.
    #[inline]
    pub(crate) fn index_of(&self, slot: u64) -> usize {
        slot as usize & (self.ring_len - 1)
    }

    /// The rates of every window at `now_ns`, from `read(slot)` giving a
    /// slot's (tokens, requests), never reading slots before `from_ns`'s
    /// (the last reset's: the interval's start).
    ///
    /// A window holds its slots from the one starting at
    /// `now_slot + 1 - slots` through the current, partly elapsed one, and
    /// covers the time from that slot's start, or from `from_ns` if later,
    /// to `now_ns`: its rates divide by that time, not by the window's
    /// length, so a window not yet full (just after a reset or creation)
    /// shows the rate it saw, and a full one the rate over exactly the
    /// span its slots hold (one resolution less than the window's length,
    /// plus the elapsed part of the current slot).
    pub(crate) fn rates(
        &self,
        now_ns: u64,
        from_ns: u64,
        mut read: impl FnMut(u64) -> (u64, u64),
    ) -> Vec<WindowRate> {
        let now_slot = self.slot_of(now_ns);
        let first_slot = self.slot_of(from_ns);
        let mut rates = Vec::with_capacity(self.windows.len());
        let (mut tokens, mut requests) = (0_u64, 0_u64);
        let mut covered = 0_u64;
        // Windows all end now and are sorted by length, so one walk back
        // from the current slot fills them all.
        let mut slots_back = (first_slot..=now_slot).rev();
        for &(window, slots) in &self.windows {
            while covered < slots {
                let Some(slot) = slots_back.next() else { break };
                let (t, r) = read(slot);
                tokens = tokens.wrapping_add(t);
                requests = requests.wrapping_add(r);
                covered += 1;
            }
            let start_ns = (now_slot + 1)
                .saturating_sub(slots)
                .saturating_mul(self.resolution_ns)
                .max(from_ns);
            let span = Duration::from_nanos(now_ns.saturating_sub(start_ns)).min(window);
            rates.push(WindowRate::new(window, span, tokens, requests));
        }
        rates
    }
}

/// Adds `n` to a slot count, saturating at [`SLOT_MAX`]; true if it
/// saturated.
#[inline]
pub(crate) fn slot_add(count: u64, n: u64) -> (u64, bool) {
    match count.checked_add(n) {
        Some(sum) if sum <= SLOT_MAX => (sum, false),
        _ => (SLOT_MAX, true),
    }
}

/// A plain (single-threaded) slot ring, for the lock-based strategies.
#[derive(Clone, Debug)]
pub(crate) struct SlotRing {
    /// (slot, tokens, requests); `slot == u64::MAX` marks an unused entry.
    entries: Vec<(u64, u64, u64)>,
}

impl SlotRing {
    pub(crate) fn new(spec: &WindowSpec) -> Self {
        SlotRing {
            entries: vec![(u64::MAX, 0, 0); spec.ring_len()],
        }
    }

    /// Adds to `slot`; true if a count saturated. A slot whose entry
    /// already holds a newer slot is outside every window and is not added
    /// (totals still count it).
    pub(crate) fn add(&mut self, spec: &WindowSpec, slot: u64, tokens: u64, requests: u64) -> bool {
        let entry = &mut self.entries[spec.index_of(slot)];
        if entry.0 != slot {
            if entry.0 != u64::MAX && entry.0 > slot {
                return false;
            }
            *entry = (slot, 0, 0);
        }
        let (t, t_sat) = slot_add(entry.1, tokens);
        let (r, r_sat) = slot_add(entry.2, requests);
        entry.1 = t;
        entry.2 = r;
        t_sat || r_sat
    }

    /// Adds every slot of `other`; true if a count saturated.
    #[cfg(not(loom))]
    pub(crate) fn merge(&mut self, spec: &WindowSpec, other: &SlotRing) -> bool {
        let mut saturated = false;
        for &(slot, tokens, requests) in &other.entries {
            if slot != u64::MAX {
                saturated |= self.add(spec, slot, tokens, requests);
            }
        }
        saturated
    }

    /// Marks every entry unused.
    #[cfg(not(loom))]
    pub(crate) fn clear(&mut self) {
        self.entries.fill((u64::MAX, 0, 0));
    }

    /// (tokens, requests) of `slot`, zero if its entry holds another slot.
    pub(crate) fn read(&self, spec: &WindowSpec, slot: u64) -> (u64, u64) {
        let entry = self.entries[spec.index_of(slot)];
        if entry.0 == slot {
            (entry.1, entry.2)
        } else {
            (0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WindowSpec {
        WindowSpec::new(&Config::default())
    }

    #[test]
    fn ring_outlives_the_longest_window() {
        let s = spec();
        assert_eq!(s.ring_len(), 1024);
        assert_eq!(s.slot_of(1_250_000_000), 12);
    }

    #[test]
    fn windows_hold_their_last_slots() {
        let s = spec();
        let mut ring = SlotRing::new(&s);
        // 5 tokens at 0.05 s, 7 at 9.55 s, 11 at 59.95 s; now = 60.0 s.
        ring.add(&s, s.slot_of(50_000_000), 5, 1);
        ring.add(&s, s.slot_of(9_550_000_000), 7, 1);
        ring.add(&s, s.slot_of(59_950_000_000), 11, 1);
        let rates = s.rates(60_000_000_000, 0, |slot| ring.read(&s, slot));
        // 1 s window: slots 591..=600 hold only the 11.
        assert_eq!((rates[0].tokens, rates[0].requests), (11, 1));
        // 10 s window: slots 501..=600.
        assert_eq!(rates[1].tokens, 11);
        // 60 s window: slots 1..=600 drop slot 0 (0.05 s is 59.95 s old).
        assert_eq!(rates[2].tokens, 18);
        // Each window covers 0.1 s less than its length (slot 600 has just
        // begun) and divides by what it covers.
        assert_eq!(rates[0].covered, Duration::from_millis(900));
        assert_eq!(rates[2].covered, Duration::from_millis(59_900));
        assert_eq!(rates[2].tokens_per_sec, 18.0 / 59.9);
    }

    #[test]
    fn reset_slot_bounds_the_walk() {
        let s = spec();
        let mut ring = SlotRing::new(&s);
        ring.add(&s, 10, 3, 0);
        ring.add(&s, 20, 4, 0);
        // Slot k covers [k * 0.1 s, (k + 1) * 0.1 s).
        let ns = |slot: u64| slot * 100_000_000;
        let rates = s.rates(ns(25), ns(15), |slot| ring.read(&s, slot));
        assert_eq!(
            rates.iter().map(|r| r.tokens).collect::<Vec<_>>(),
            [4, 4, 4]
        );
        // The 1 s window starts at slot 16; the longer ones at the reset.
        assert_eq!(
            rates.iter().map(|r| r.covered).collect::<Vec<_>>(),
            [900, 1000, 1000].map(Duration::from_millis)
        );
        assert_eq!(rates[2].tokens_per_sec, 4.0);
    }

    #[test]
    fn stale_and_saturating_adds() {
        let s = spec();
        let mut ring = SlotRing::new(&s);
        ring.add(&s, 2000, 1, 1);
        // Slot 976 shares the entry and is older: not added.
        assert!(!ring.add(&s, 2000 - 1024, 5, 5));
        assert_eq!(ring.read(&s, 2000), (1, 1));
        assert!(ring.add(&s, 2000, u64::MAX, 0));
        assert_eq!(ring.read(&s, 2000), (SLOT_MAX, 1));
    }
}
