//! Thread tokens for owner claims: a nonzero serial per thread, never reused
//! (so a dead owner's token never comes back: no ABA), plus a liveness table
//! so a foreigner can take over a dead owner's lane.
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);
pub const SLOTS: usize = 4096;
/// live[serial % SLOTS] == serial while that thread lives (prototype: the
/// implementation uses a slot allocator so that slots never collide).
pub static LIVE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

thread_local! {
    static TOKEN: Cell<u64> = const { Cell::new(0) };
    static GUARD: Guard = const { Guard };
}
struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        let t = TOKEN.with(|t| t.get());
        // Release: the owner's last plain stores happen-before a takeover
        // that reads this with Acquire.
        LIVE[(t as usize) % SLOTS].store(0, Ordering::Release);
    }
}

#[inline(always)]
pub fn token() -> u64 {
    let t = TOKEN.with(|t| t.get());
    if t != 0 { t } else { new_token() }
}

#[cold]
#[inline(never)]
fn new_token() -> u64 {
    let t = NEXT.fetch_add(1, Ordering::Relaxed);
    TOKEN.with(|c| c.set(t));
    LIVE[(t as usize) % SLOTS].store(t, Ordering::Release);
    GUARD.with(|_| ());
    t
}

/// Whether the thread holding token `t` has exited.
pub fn dead(t: u64) -> bool {
    LIVE[(t as usize) % SLOTS].load(Ordering::Acquire) != t
}
