//! Throughput totals saturate at `u64::MAX` and count each record they cut
//! in `ThroughputSnapshot::clamped`, in every strategy; merging many
//! threads' totals never wraps either.

use std::{
    sync::{Arc, Barrier},
    thread,
};

use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Ring, Sharded,
};

fn two_max_records(m: &impl MetricsCollector) {
    m.record_throughput(u64::MAX, u64::MAX);
    m.record_throughput(u64::MAX, u64::MAX);
    let t = m.throughput();
    assert_eq!((t.total_tokens, t.total_requests), (u64::MAX, u64::MAX));
    // Both calls saturate a window slot; the second also cuts the totals,
    // and each call counts once.
    assert_eq!(t.clamped, 2);
    m.record_throughput(1, 0);
    let t = m.take_interval().throughput;
    assert_eq!((t.total_tokens, t.total_requests), (u64::MAX, u64::MAX));
    assert_eq!(t.clamped, 3);
}

/// Threads alive together (so `Sharded` gives each its own shard) that
/// each add 2^63 tokens: their sum passes 2^64.
fn many_threads(m: Arc<impl MetricsCollector + 'static>) {
    const THREADS: usize = 4;
    let all_recorded = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (m, all_recorded) = (Arc::clone(&m), Arc::clone(&all_recorded));
            thread::spawn(move || {
                m.record_throughput(1 << 63, 1);
                all_recorded.wait();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let t = m.throughput();
    assert_eq!((t.total_tokens, t.total_requests), (u64::MAX, 4));
    // Every call saturates its window slot, whatever the totals did.
    assert_eq!(t.clamped, THREADS as u64);
}

macro_rules! totals_saturate {
    ($($test:ident: $strategy:ident),* $(,)?) => {$(
        mod $test {
            use super::*;

            #[test]
            fn two_records_of_u64_max() {
                two_max_records(&$strategy::with_clock(Config::default(), ManualClock::new()));
            }

            #[test]
            fn threads_summing_past_2_pow_64() {
                many_threads(Arc::new($strategy::with_clock(
                    Config::default(),
                    ManualClock::new(),
                )));
            }
        }
    )*};
}

totals_saturate! {
    global_lock: GlobalLock,
    fine_grained: FineGrained,
    atomic: Atomic,
    sharded: Sharded,
    ring: Ring,
}

/// A total saturated before a reset starts again from zero after it
/// (issue 21, item 15): "saturate since the reset", in every strategy.
fn saturated_then_reset(m: &impl MetricsCollector) -> (u64, u64) {
    // (`clamped` is not compared: `Sharded`'s window slot, cumulative
    // across resets as `ThroughputSnapshot::clamped` documents, still cuts
    // the records after the reset in the same slot of the manual clock.)
    m.record_throughput(u64::MAX, 1);
    assert_eq!(m.throughput().total_tokens, u64::MAX);
    m.take_interval();
    m.record_throughput(5, 1);
    let t = m.take_interval().throughput;
    assert_eq!((t.total_tokens, t.total_requests), (5, 1));
    // And once more past 2^64 in all, after a second reset.
    m.record_throughput(u64::MAX, 1);
    m.take_interval();
    m.record_throughput(7, 2);
    let t = m.throughput();
    assert_eq!((t.total_tokens, t.total_requests), (7, 2));
    (t.total_tokens, t.total_requests)
}

#[test]
fn a_reset_clears_a_saturated_total_in_every_strategy() {
    let config = Config::default;
    let results = [
        saturated_then_reset(&GlobalLock::with_clock(config(), ManualClock::new())),
        saturated_then_reset(&FineGrained::with_clock(config(), ManualClock::new())),
        saturated_then_reset(&Atomic::with_clock(config(), ManualClock::new())),
        saturated_then_reset(&Sharded::with_clock(config(), ManualClock::new())),
        saturated_then_reset(&Ring::with_clock(config(), ManualClock::new())),
    ];
    assert!(results.iter().all(|r| *r == results[0]), "{results:?}");
}
