//! Inputs shared by the benchmarks and `benches/programs/src/bin/instructions.rs`, so that
//! the time and instruction figures measure the same calls.

use std::time::Duration;

use lockfree_metrics::{MetricsCollector, Mode};

/// Cheap varying inputs (a 64-bit LCG), so no call sees a constant.
#[derive(Clone, Copy, Debug)]
pub struct Values(pub u64);

impl Values {
    /// The next 31-bit value.
    #[inline(always)]
    pub fn next_u31(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A latency between 1 µs and about 50 ms, in nanoseconds.
    #[inline(always)]
    pub fn latency_ns(&mut self) -> u64 {
        1_000 + self.next_u31() % 50_000_000
    }
}

/// 10,000 records of every kind, so that reads and resets see realistic
/// state.
pub fn populate(m: &dyn MetricsCollector) {
    let mut v = Values(7);
    for i in 0..10_000 {
        m.record_latency(Duration::from_nanos(v.latency_ns()));
        m.record_throughput(v.next_u31() % 512, 1);
        m.record_batch_size((v.next_u31() % 64) as usize);
        m.record_queue_depth((v.next_u31() % 1_000) as usize);
        m.record_mode_transition(Mode((i / 100 % 3) as u16));
    }
}
