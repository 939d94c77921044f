//! Resident memory that per-thread work adds, from `VmRSS` in
//! `/proc/self/status` (Linux; elsewhere every figure is 0). Shared by
//! `benches/programs/src/bin/precision.rs` and `tests/engine/resident_memory.rs`.

use std::{sync::Barrier, thread};

/// The process's resident set, in KiB (0 where it cannot be read).
pub fn vm_rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The anonymous part of the resident set (`RssAnon`: heap, stacks,
/// anonymous mappings), in KiB: what a process's data holds, without the
/// pages of its executable, which the first run of a code path faults in
/// and which depend on the binary's layout.
pub fn anon_rss_kib() -> u64 {
    status_kib("RssAnon:")
}

/// The figure of `/proc/self/status`'s line `field`, in KiB (0 where it
/// cannot be read).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// `VmRSS` growth per thread, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    /// Across `work` alone: the threads were started and parked first.
    pub work_kib: u64,
    /// Across the threads' start and `work`.
    pub with_threads_kib: u64,
}

/// Runs `work(t)` on `threads` threads, all started (and parked at a
/// barrier) before any begins, and reads `VmRSS` while they are parked
/// again after it, so that the figure is what the work made resident.
pub fn growth_per_thread(threads: usize, work: impl Fn(usize) + Sync) -> Growth {
    let [started, go, done, measured] = [(); 4].map(|_| Barrier::new(threads + 1));
    let before_threads = vm_rss_kib();
    let (before, after) = thread::scope(|s| {
        for t in 0..threads {
            let (work, barriers) = (&work, [&started, &go, &done, &measured]);
            s.spawn(move || {
                barriers[0].wait();
                barriers[1].wait();
                work(t);
                barriers[2].wait();
                barriers[3].wait();
            });
        }
        started.wait();
        let before = vm_rss_kib();
        go.wait();
        done.wait();
        let after = vm_rss_kib();
        measured.wait();
        (before, after)
    });
    let per_thread = |from: u64| after.saturating_sub(from) / threads as u64;
    Growth {
        work_kib: per_thread(before),
        with_threads_kib: per_thread(before_threads),
    }
}
