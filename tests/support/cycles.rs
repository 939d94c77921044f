//! What `benches/programs/src/bin/snapshot_p50.rs` and `benches/programs/src/bin/precision.rs` share: the
//! serving scheduler's request cycle with log-normal latencies, and a timed
//! burst of snapshots taken while threads record.

use std::{
    hint::black_box,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use lockfree_metrics::{MetricsCollector, Mode};

/// A small PRNG: an LCG's high bits.
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    /// 31 random bits.
    pub fn next_u31(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u31() as f64 + 0.5) / (1_u64 << 31) as f64
    }

    /// Log-normal with median `median_ns` and `sigma` (Box-Muller),
    /// clamped to 1 µs ..= 1 h.
    pub fn log_normal(&mut self, median_ns: f64, sigma: f64) -> Duration {
        let z = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        Duration::from_nanos((median_ns * (sigma * z).exp()).clamp(1e3, 3.6e12) as u64)
    }
}

/// Five records, as the serving scheduler records a finished request:
/// latencies log-normal around 2 ms (sigma 0.5).
pub fn cycle<M: MetricsCollector + ?Sized>(m: &M, v: &mut Lcg) {
    m.record_latency(v.log_normal(2.0e6, 0.5));
    m.record_throughput(1 + v.next_u31() % 256, 1);
    m.record_batch_size(1 + (v.next_u31() % 32) as usize);
    m.record_queue_depth((v.next_u31() % 256) as usize);
    m.record_mode_transition(Mode((v.next_u31() % 4) as u16));
}

/// This thread's CPU time in ns (0 where there is no such clock).
fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY:
        // - `ts` is a valid, writable `timespec` that outlives the call;
        // - CLOCK_THREAD_CPUTIME_ID needs no other argument.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    0
}

/// Medians of one burst of snapshots, in µs.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotCost {
    /// Wall time: includes any time the reader waited for a core.
    pub wall_us: f64,
    /// The reader's CPU time: its own work only.
    pub cpu_us: f64,
}

/// The median wall and CPU time of `n` back-to-back `snapshot()`s of `m`
/// while `threads` threads run request cycles into it (each yielding every
/// 64 cycles, so that many threads on a few cores all stay live).
pub fn snapshot_cost<M: MetricsCollector + Sync>(m: &M, threads: usize, n: usize) -> SnapshotCost {
    let stop = AtomicBool::new(false);
    let (mut wall, mut cpu) = thread::scope(|s| {
        for t in 0..threads {
            let stop = &stop;
            s.spawn(move || {
                let mut v = Lcg(t as u64 ^ 0x9E37_79B9_7F4A_7C15);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        cycle(m, &mut v);
                    }
                    thread::yield_now();
                }
            });
        }
        // Let every thread record (and allocate its shard) first.
        thread::sleep(Duration::from_millis(200));
        let times: (Vec<f64>, Vec<f64>) = (0..n)
            .map(|_| {
                let (start, cpu) = (Instant::now(), thread_cpu_ns());
                black_box(m.snapshot());
                let cpu = thread_cpu_ns() - cpu;
                (start.elapsed().as_secs_f64() * 1e6, cpu as f64 / 1e3)
            })
            .unzip();
        stop.store(true, Ordering::Relaxed);
        times
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    SnapshotCost {
        wall_us: median(&mut wall),
        cpu_us: median(&mut cpu),
    }
}
