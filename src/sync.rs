//! The one place the crate takes atomics, cells and locks from. Under
//! `--cfg loom` every item is loom's, so the loom models in `loom-tests/`
//! check the real code rather than a copy (the pattern of loom's docs,
//! tokio's `loom` module and left-right's `sync.rs`). `.ci/run` fails if
//! any other file names the std originals.
//!
//! crossbeam-epoch switches itself to loom under `--cfg crossbeam_loom` and
//! the crate's `loom` feature; the shard map, which `thread_local` cannot
//! provide under loom, is switched in `lockfree::shard_map`.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicPtr, AtomicU16, AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use atomic_float::AtomicF64;

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicPtr, AtomicU16, AtomicU64, AtomicUsize, Ordering},
    Mutex, MutexGuard,
};

/// Whether this build is the deliberately broken variant
/// `--cfg lockfree_metrics_broken="$variant"`, which a loom model (or a
/// named test) must catch: the evidence that the code it replaces is
/// needed. A constant, so the other arm is compiled out; but both arms are
/// type-checked in every build, so a variant cannot rot. Every variant is
/// written through this macro or [`ordering!`], never as a pair of
/// `#[cfg]` statements; the names are declared in the workspace
/// `Cargo.toml` (check-cfg) and run by `loom-tests/broken-matrix.sh`.
macro_rules! broken {
    ($variant:tt) => {
        cfg!(lockfree_metrics_broken = $variant)
    };
}
pub(crate) use broken;

/// `Ordering::$order`, or `Relaxed` in the broken variant `$variant` (see
/// [`broken!`]): the evidence that the ordering is needed. A constant
/// either way, usable in a `const`.
macro_rules! ordering {
    ($order:ident, broken $variant:tt) => {
        if $crate::sync::broken!($variant) {
            $crate::sync::Ordering::Relaxed
        } else {
            $crate::sync::Ordering::$order
        }
    };
}
pub(crate) use ordering;

/// Locks `mutex`, recovering the data from a poisoned lock.
///
/// User code does run under locks here: [`Clock`](crate::Clock) is a public
/// trait, and `GlobalLock` reads the clock inside its one mutex (throughput
/// records, mode changes, snapshots, resets), `GlobalLock` and
/// `FineGrained` read it for a mode change inside the mode lock, and
/// `Atomic` reads it inside its readers' mutex in `reset`/`take_interval`.
/// A clock that panics there poisons the lock. Every call site reads the
/// clock before changing anything, so the panicking call is lost whole,
/// never half-applied (`tests/engine/user_clock.rs`). Otherwise a lock is poisoned
/// only by a panic inside a short critical section (an allocation failure,
/// say), which may leave that one update half-applied. Recovering keeps
/// one panicking thread from silencing every other thread's metrics or
/// wedging its readers.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A nonzero number unique to the calling thread among live threads (the
/// address of a thread-local; under loom, one past the loom thread's index).
#[inline]
pub(crate) fn thread_token() -> usize {
    #[cfg(not(loom))]
    {
        std::thread_local! {
            static TOKEN: u8 = const { 0 };
        }
        TOKEN.with(|t| std::ptr::from_ref(t) as usize)
    }
    #[cfg(loom)]
    {
        loom::thread_local! {
            static TOKEN: std::cell::Cell<usize> = std::cell::Cell::new(0);
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        TOKEN.with(|t| {
            if t.get() == 0 {
                // Outside the model: a distinct number per loom thread.
                t.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            }
            t.get()
        })
    }
}

/// Tells the scheduler (or loom) that this thread is about to retry a read
/// that another thread's progress invalidated.
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// `atomic_float::AtomicF64` for loom: an f64 in a loom `AtomicU64`, with
/// the subset of the API the crate uses.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct AtomicF64(AtomicU64);

#[cfg(loom)]
impl AtomicF64 {
    pub(crate) fn new(v: f64) -> Self {
        AtomicF64(AtomicU64::new(v.to_bits()))
    }

    pub(crate) fn load(&self, order: Ordering) -> f64 {
        f64::from_bits(self.0.load(order))
    }

    pub(crate) fn swap(&self, v: f64, order: Ordering) -> f64 {
        f64::from_bits(self.0.swap(v.to_bits(), order))
    }

    pub(crate) fn fetch_add(&self, v: f64, order: Ordering) -> f64 {
        // Relaxed load and failure ordering: the caller's `order` applies to
        // the exchange that succeeds, as in atomic_float's CAS loop.
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(current) + v).to_bits();
            match self
                .0
                .compare_exchange_weak(current, new, order, Ordering::Relaxed)
            {
                Ok(old) => return f64::from_bits(old),
                Err(actual) => current = actual,
            }
        }
    }
}
