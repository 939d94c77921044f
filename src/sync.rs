//! The one place the crate takes atomics, cells and locks from. Under
//! `--cfg loom` every item is loom's, so the loom models in `loom-tests/`
//! check the real code rather than a copy (the pattern of loom's docs,
//! tokio's `loom` module and left-right's `sync.rs`). `.ci/run` fails if
//! any other file names the std originals.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex, MutexGuard,
};

/// Locks `mutex`, recovering the data from a poisoned lock.
///
/// No user code runs under a lock in this crate, so a lock is poisoned
/// only by a panic inside one of its short critical sections (an
/// allocation failure, say), which leaves at most the one update in flight
/// half-applied. Recovering keeps one panicking thread from silencing every
/// other thread's metrics.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
