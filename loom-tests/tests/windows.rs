//! Window slots (`src/lockfree/slots.rs`): each ring entry packs a slot's
//! lap and count in one word. Owned writers (`Sharded`'s shards) store it;
//! shared writers (`Atomic`) CAS it, and a reset takes it by CAS. A reader
//! never pairs one slot's lap with another's count, a lap takeover hides
//! the old slot's count from windows that do not cover it, shared adds all
//! count, and each lands once across a reset.
//!
//! The configuration has one window of one 1 ms slot, so the ring has two
//! entries: slots 0 and 2 share one.
//!
//! Broken variants: `slots_shared_not_atomic` (a shared add as a load then
//! a store), `window_slot_read_twice` (a reset reading its slot twice: the
//! bug `interval_racing_a_record` found, fixed since),
//! `slots_watermark_relaxed` (the ring's watermark published without
//! Release/Acquire).

#[cfg(loom)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use crossbeam_epoch::Collector;
    use lockfree_metrics::{Atomic, Clock, ManualClock, MetricsCollector, Sharded};
    use loom::thread;
    use loom_tests::{model, tiny_config};

    const SLOT: Duration = Duration::from_millis(1);

    fn window_tokens(m: &impl MetricsCollector) -> u64 {
        m.throughput().windows[0].tokens
    }

    /// `Sharded`: the owner records 1 token in slot 0, moves the clock to
    /// slot 2 (the same ring entry, next lap) and records 10 tokens, while
    /// a reader reads the window. The reader sees only the current slot's
    /// tokens, whole: 0 or 1 at slot 0, 0 or 10 at slot 2, never the old
    /// lap's count as the new slot's.
    #[test]
    fn lap_takeover_while_reading() {
        model("windows/lap_takeover_while_reading", || {
            let clock = ManualClock::new();
            let m = Arc::new(Sharded::with_collector(
                tiny_config(1, 0),
                clock.clone(),
                Collector::new(),
            ));
            let reader = {
                let (m, clock) = (Arc::clone(&m), clock.clone());
                thread::spawn(move || {
                    let before = clock.now_ns();
                    let tokens = window_tokens(&*m);
                    // The clock moves once; if it did not move during the
                    // read, the read was at `before`.
                    if clock.now_ns() == before {
                        let allowed: &[u64] = if before == 0 { &[0, 1] } else { &[0, 10] };
                        assert!(allowed.contains(&tokens), "{tokens} tokens at {before} ns");
                    } else {
                        assert!([0, 1, 10].contains(&tokens), "{tokens} tokens");
                    }
                })
            };
            m.record_throughput(1, 1);
            clock.advance(2 * SLOT);
            m.record_throughput(10, 1);
            reader.join().unwrap();
            let s = m.throughput();
            assert_eq!((s.windows[0].tokens, s.total_tokens), (10, 11), "{s:?}");
        });
    }

    /// `Sharded`, the ring's watermark: the owner records 1 token in slot
    /// 0, then jumps to slot 17 of a 2-slot window (a 4-entry ring), whose
    /// first slot, 16, shares slot 0's entry and, with laps shrunk to 2 bits
    /// under loom, its lap. Moving the watermark zeroes slot 16's entry
    /// before publishing; a reader that sees the new watermark must see the
    /// zero, never slot 0's token as slot 16's.
    #[test]
    fn watermark_publishes_skipped_entries() {
        model("windows/watermark_publishes_skipped_entries", || {
            let clock = ManualClock::new();
            let config = lockfree_metrics::Config::builder()
                .windows([2 * SLOT])
                .window_resolution(SLOT)
                .latency_range(Duration::from_nanos(1), Duration::from_nanos(4))
                .significant_digits(0)
                .max_batch_size(1)
                .max_queue_depth(4)
                .transition_log(0)
                .build()
                .unwrap();
            let m = Arc::new(Sharded::with_collector(
                config,
                clock.clone(),
                Collector::new(),
            ));
            m.record_throughput(1, 1);
            clock.advance(17 * SLOT);
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let tokens = window_tokens(&*m);
                    assert!([0, 10].contains(&tokens), "{tokens} tokens in slots 16-17");
                })
            };
            m.record_throughput(10, 1);
            reader.join().unwrap();
            let s = m.throughput();
            assert_eq!((s.windows[0].tokens, s.total_tokens), (10, 11), "{s:?}");
        });
    }

    /// `Sharded`: a thread takes an interval while the main thread records
    /// into the current slot (the clock stands still). The record is in
    /// exactly one of the interval's window and the window after the reset,
    /// as it is in exactly one of their totals.
    #[test]
    fn interval_racing_a_record() {
        model("windows/interval_racing_a_record", || {
            let m = Arc::new(Sharded::with_collector(
                tiny_config(1, 0),
                ManualClock::new(),
                Collector::new(),
            ));
            let resetter = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.take_interval().throughput)
            };
            m.record_throughput(1, 1);
            let interval = resetter.join().unwrap();
            let after = m.throughput();
            let totals = interval.total_tokens + after.total_tokens;
            let windows = interval.windows[0].tokens + after.windows[0].tokens;
            assert_eq!((totals, windows), (1, 1), "{interval:?} {after:?}");
        });
    }

    /// `Atomic`: two threads add to the same slot at once, then one takes
    /// an interval; every token lands exactly once.
    #[test]
    fn shared_adds_and_take() {
        model("windows/shared_adds_and_take", || {
            let m = Arc::new(Atomic::with_clock(tiny_config(1, 0), ManualClock::new()));
            let writer = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.record_throughput(1, 1))
            };
            m.record_throughput(2, 1);
            let interval = m.take_interval().throughput;
            writer.join().unwrap();
            let rest = m.throughput();
            let windows = interval.windows[0].tokens + rest.windows[0].tokens;
            let totals = interval.total_tokens + rest.total_tokens;
            assert_eq!((windows, totals), (3, 3), "{interval:?} {rest:?}");
        });
    }
}
