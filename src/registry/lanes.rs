//! Owner words: which thread owns a lane of a series, and whether that
//! thread still lives.
//!
//! A lane is storage that one thread at a time writes with plain stores (a
//! load and a store, no `lock` prefix): biased ownership, as in biased
//! reference counting (Choi, Shull and Torrellas, PACT 2018), where the
//! owning thread updates without atomics and other threads take a shared
//! path. A thread claims a free lane by a CAS of its [`OwnerWord`] into the
//! lane's owner word, and keeps it until it exits.
//!
//! **Owner words are never reused.** A word is a 48-bit serial, drawn once
//! per thread from a global counter, above a 16-bit *liveness slot*. The
//! slot's entry in a global table holds the word while its thread lives
//! and is cleared by the thread's TLS destructor; slots are reused, words
//! are not (2^48 threads would have to be created first). So a lane's
//! owner word names one thread for ever, and [`dead`] can tell a finished
//! owner from a live one even after its slot went to another thread: no
//! ABA, unlike thread ids or the addresses of thread-locals.
//!
//! **Taking over a dead owner's lane.** A thread that finds a lane owned
//! by a dead thread may CAS its own word over the dead one and record into
//! the lane. The dead owner's last stores happen before its destructor's
//! Release clear of its slot, which the taker's Acquire load of the slot
//! reads (or a later word of the slot's next thread, which took the slot
//! through the allocator's mutex after the clear): the new owner continues
//! from the old owner's last values.
//!
//! **Threads without a word** record through the shared path: a thread
//! whose TLS destructors have run (it may still record from another
//! library's destructor), and threads past the 65,536th alive at once.

use std::cell::Cell;

use crate::sync::{ordering, AtomicU64, Mutex, Ordering};

/// Bits of an owner word below the serial: the liveness slot.
const SLOT_BITS: u32 = if cfg!(loom) { 2 } else { 16 };

/// Liveness slots: at most this many threads hold an owner word at once.
const SLOTS: usize = 1 << SLOT_BITS;

/// An owner word: `serial << SLOT_BITS | slot`, never 0.
pub(crate) type OwnerWord = u64;

/// The thread has no owner word yet.
const NONE: u64 = 0;
/// The thread's destructors have run, or it found no free slot: it
/// records through the shared path from now on.
const WITHOUT: u64 = u64::MAX;

/// The slot allocator: the next never-used slot and the freed ones.
#[derive(Debug)]
struct Slots {
    next: usize,
    free: Vec<usize>,
    serial: u64,
}

#[cfg(not(loom))]
static LIVE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
#[cfg(not(loom))]
static ALLOCATOR: Mutex<Slots> = Mutex::new(Slots {
    next: 0,
    free: Vec::new(),
    serial: 0,
});

#[cfg(loom)]
loom::lazy_static! {
    static ref LIVE: Vec<AtomicU64> = (0..SLOTS).map(|_| AtomicU64::new(0)).collect();
    static ref ALLOCATOR: Mutex<Slots> = Mutex::new(Slots {
        next: 0,
        free: Vec::new(),
        serial: 0,
    });
}

/// The liveness entry of `word`'s slot.
fn live(word: OwnerWord) -> &'static AtomicU64 {
    &LIVE[(word & (SLOTS as u64 - 1)) as usize]
}

#[cfg(not(loom))]
std::thread_local! {
    static WORD: Cell<u64> = const { Cell::new(NONE) };
    static GUARD: Guard = const { Guard(Cell::new(NONE)) };
}
#[cfg(loom)]
loom::thread_local! {
    static WORD: Cell<u64> = Cell::new(NONE);
    static GUARD: Guard = Guard(Cell::new(NONE));
}

/// Clears the thread's slot when the thread exits. It keeps its own copy
/// of the word: `WORD` may be gone first (loom's thread-locals are).
struct Guard(Cell<u64>);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = WORD.try_with(|w| w.set(WITHOUT));
        let word = self.0.replace(WITHOUT);
        if word != NONE && word != WITHOUT {
            release(word);
        }
    }
}

fn release(word: OwnerWord) {
    // Release: every store this thread made into the lanes it owned
    // happens before a taker's Acquire load that finds the slot cleared
    // (module docs).
    live(word).store(0, Ordering::Release);
    let mut slots = crate::sync::lock(&ALLOCATOR);
    slots.free.push((word & (SLOTS as u64 - 1)) as usize);
}

/// The calling thread's owner word, or `None` if it records through the
/// shared path (module docs).
#[inline]
pub(crate) fn owner_word() -> Option<OwnerWord> {
    // `try_with`: a thread-local being destroyed has no word.
    match WORD.try_with(Cell::get) {
        Ok(WITHOUT) | Err(_) => None,
        Ok(NONE) => claim_word(),
        Ok(word) => Some(word),
    }
}

/// The calling thread's owner word if it has claimed one: `owner_word`
/// without the claim, for a record's fast path (`None` sends it the whole
/// way).
#[inline]
pub(crate) fn claimed_word() -> Option<OwnerWord> {
    match WORD.try_with(Cell::get) {
        Ok(WITHOUT | NONE) | Err(_) => None,
        Ok(word) => Some(word),
    }
}

#[cold]
#[inline(never)]
fn claim_word() -> Option<OwnerWord> {
    let word = {
        let mut slots = crate::sync::lock(&ALLOCATOR);
        let slot = match slots.free.pop() {
            Some(slot) => slot,
            None if slots.next < SLOTS => {
                slots.next += 1;
                slots.next - 1
            }
            None => {
                drop(slots);
                let _ = WORD.try_with(|w| w.set(WITHOUT));
                return None;
            }
        };
        slots.serial += 1;
        (slots.serial << SLOT_BITS) | slot as u64
    };
    // Release: a thread that reads a lane claimed with this word (Acquire)
    // then finds the slot holding it, so it never takes a live owner's
    // lane (the claim's CAS comes after this store).
    live(word).store(word, Ordering::Release);
    // Registers the guard; a thread whose destructors are running cannot,
    // and gives its slot back at once.
    if (arms_guard() && GUARD.try_with(|g| g.0.set(word)).is_err())
        || WORD.try_with(|w| w.set(word)).is_err()
    {
        let _ = GUARD.try_with(|g| g.0.set(NONE));
        release(word);
        let _ = WORD.try_with(|w| w.set(WITHOUT));
        return None;
    }
    Some(word)
}

/// Whether the calling thread's exit clears its slot: always, but under
/// loom, where a join returns before the joined thread's thread-locals
/// are dropped (and a model's main thread drops its own after the model's
/// statics), so the models end a thread's life explicitly
/// ([`exit_thread`]).
fn arms_guard() -> bool {
    !cfg!(loom)
}

/// Ends the calling thread's ownership as its exit would: for the loom
/// models (`__loom::lanes_exit_thread`), called last in a model thread.
#[cfg(loom)]
pub(crate) fn exit_thread() {
    let word = WORD.with(|w| w.replace(WITHOUT));
    if word != NONE && word != WITHOUT {
        release(word);
    }
}

/// Whether the thread that held `word` has exited (0, no owner, counts as
/// dead).
#[inline]
pub(crate) fn dead(word: OwnerWord) -> bool {
    // Acquire: pairs with the owner's Release clear at exit (or with the
    // Release store of the slot's next owner, which follows the clear
    // through the allocator's mutex): a thread that then takes over the
    // lane sees every store the dead owner made into it (`Relaxed` in the
    // broken variant `lane_takeover_relaxed`).
    word == 0 || live(word).load(ordering!(Acquire, broken "lane_takeover_relaxed")) != word
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_are_unique_and_die_with_their_thread() {
        let mine = owner_word().unwrap();
        assert_eq!(owner_word(), Some(mine));
        assert!(!dead(mine));
        let theirs: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| owner_word().unwrap()).join().unwrap())
            .collect();
        for (i, &w) in theirs.iter().enumerate() {
            assert_ne!(w, mine);
            assert!(dead(w), "thread {i} exited");
            assert!(theirs[..i].iter().all(|&v| v != w), "a word came back");
        }
        assert!(dead(0));
    }
}
