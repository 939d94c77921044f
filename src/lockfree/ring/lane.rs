//! A recording thread's lane: a bounded single-producer single-consumer
//! ring of record messages (Lamport's ring with Release/Acquire indexes,
//! as in Vyukov's and rigtorp's SPSC queues), and, for when the ring is
//! full, an *overflow batch*: a private aggregate the producer folds
//! records into and the consumer takes whole.
//!
//! **Ring.** `tail` is written only by the producer, `head` only by the
//! consumer; both only grow. A message is four words in its slot, stored
//! `Relaxed` and published by the `Release` store of `tail`; the consumer
//! reads `tail` with `Acquire`, reads the messages, and frees their slots
//! with one `Release` store of `head`, which the producer reads with
//! `Acquire` before it overwrites a slot. The consumer reads only published
//! slots, so a producer stopped anywhere never holds it up.
//!
//! **Overflow.** When the ring is full the producer does not wait: it
//! folds the record into an overflow batch (`B: Fold`, a private
//! aggregate) and publishes the batch's pointer in `front` with
//! `Release`. While a batch is published, every later record is folded
//! too, so the lane's records stay in order: ring messages first, then the
//! batch. A published batch is never written: the producer keeps a *twin*
//! (`back`) with the same records, folds the new record into the twin,
//! and swaps it in with a CAS from the published pointer; the old front,
//! now private, gets the record too and becomes the next twin. The consumer
//! takes the front with a CAS to null (`Acquire`). The two CASes exclude
//! each other: if the take wins, the producer's twin holds the taken
//! records plus the new one, so the producer clears it, folds the record
//! alone, and publishes it with a fresh twin. Every record is thus in the
//! front from the moment its call returns until a consumer takes it: a
//! consumer never skips a finished record and never waits. (A first
//! version folded into the published batch under a busy mark, and a
//! consumer that met the mark left the batch, and its finished records,
//! for the next drain: `tests/engine/churn.rs`'s reset phase caught a reset that
//! left such records behind.) After applying a batch the consumer clears
//! it and hands it back through `spare` (`Release`; the producer takes it
//! with `Acquire`); a lane holds at most four batches (front, twin,
//! spare, and one being applied).
//!
//! **Order of a drain.** The batch pointer is loaded first (`Acquire`),
//! then the ring is drained, then the batch taken (the CAS retried with
//! the newer front the producer swapped in, if any), then the ring drained
//! again if it was: every message pushed before the batch was made is
//! visible to the first ring drain (the producer stops using the ring
//! while a batch is published, and resumes only after a take), so a drain
//! applies the lane's records in their order and consumes a prefix of
//! them. (Loading the pointer after the ring drain, as first written,
//! could apply a batch before an older message the drain had not yet
//! seen: the `wrap_around` loom model found it.)
//!
//! **Retiring.** The producer's thread marks the lane retired as it exits
//! (`Release`, after its last record). Then either a new thread claims it
//! (a CAS from retired to live, `Acquire`: it continues from the old
//! producer's `tail`, and the unread records stay for the consumer), or a
//! consumer that saw the mark (`Acquire`) drains it and removes it (a CAS
//! from that mark to removed): one CAS wins, so no record is pushed into a
//! removed lane. Each claim bumps a generation kept beside the flag, so a
//! mark read before a claim never matches after the new producer retires
//! in turn (ABA; `tests/engine/churn.rs` lost records without it).
//!
//! Progress: `push` is wait-free: at most one CAS on `front`, which fails
//! only because the consumer took the batch, and then the record goes to
//! a cleared batch with no retry: at most two folds, one clear, and two
//! batches from `spare` or the allocator. `drain` is lock-free: its take
//! CAS fails only when the producer has just finished an overflow record
//! (so a producer that stops lets it finish), and it consumes what `tail`
//! showed.

use std::ptr;

use crossbeam_utils::CachePadded;

use crate::sync::{broken, ordering, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Lane states: the low two bits of `state`, above them a generation
/// counted by claims.
const LIVE: usize = 0;
const RETIRED: usize = 1;
const REMOVED: usize = 2;
const FLAGS: usize = 3;

/// A lane's state when a consumer saw it retired (see [`Lane::retired`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retired(usize);

/// One record in flight: its kind and three words, as the strategy
/// defines them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    /// What the record is (the strategy's tag, and flags).
    pub kind: u64,
    /// The clock reading taken for it (0 if it needs none).
    pub at: u64,
    /// First value.
    pub a: u64,
    /// Second value.
    pub b: u64,
}

/// A private aggregate of whole records: a lane's overflow batch.
pub trait Fold: Send {
    /// Adds one record.
    fn fold(&mut self, msg: &Msg);
    /// Empties it.
    fn clear(&mut self);
}

/// Where a drain puts what it takes: the reader's aggregate.
pub trait Sink<B> {
    /// Applies one message from the ring.
    fn apply(&mut self, msg: &Msg);
    /// Adds a taken overflow batch's records, leaving it empty.
    fn absorb(&mut self, batch: &mut B);
}

/// A slot: the four words of a `Msg`, atomics so that the consumer may read
/// a slot the producer is not writing without a data race by construction
/// (the indexes say which slots those are; the words need no ordering of
/// their own).
#[derive(Debug, Default)]
struct Slot([AtomicU64; 4]);

/// Where `push` put a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Into the ring.
    Ring,
    /// Into the overflow batch (the ring was full, or a batch was
    /// already waiting).
    Batch,
}

/// One producer's lane (see the module docs).
#[derive(Debug)]
pub struct Lane<B> {
    /// Next position to write; written by the producer only.
    tail: CachePadded<AtomicU64>,
    /// Next position to read; written by the consumer only.
    head: CachePadded<AtomicU64>,
    slots: Box<[Slot]>,
    /// The published overflow batch; null when none. Never written while
    /// published.
    front: AtomicPtr<B>,
    /// The producer's twin of `front` (the same records), or a batch to
    /// clear, or null; touched by the producer only (atomic for `Sync`).
    back: AtomicPtr<B>,
    /// A cleared batch handed back by the consumer; null when none.
    spare: AtomicPtr<B>,
    /// `LIVE`, `RETIRED` (its producer exited) or `REMOVED` (a consumer
    /// took it out of use), and the claims' generation.
    state: AtomicUsize,
}

// SAFETY: the raw batch pointers are owned `Box<B>`s handed between the
// producer and the consumer (see the module docs): the lane is `Send` and
// `Sync` exactly when `B` can move between threads.
unsafe impl<B: Send> Send for Lane<B> {}
// SAFETY: as for `Send`: shared access touches a batch only through the
// ownership hand-over of `front` and `spare`.
unsafe impl<B: Send> Sync for Lane<B> {}

impl<B: Fold> Lane<B> {
    /// A lane whose ring holds `capacity` messages (rounded up to a power
    /// of two, at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1).next_power_of_two();
        Lane {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            slots: (0..capacity).map(|_| Slot::default()).collect(),
            front: AtomicPtr::new(ptr::null_mut()),
            back: AtomicPtr::new(ptr::null_mut()),
            spare: AtomicPtr::new(ptr::null_mut()),
            state: AtomicUsize::new(LIVE),
        }
    }

    /// Heap and inline bytes of a lane of `capacity` messages, batches
    /// not included.
    pub fn bytes(capacity: usize) -> usize {
        std::mem::size_of::<Self>()
            + capacity.max(1).next_power_of_two() * std::mem::size_of::<Slot>()
    }

    /// Adds `msg` to the lane: into the overflow batch if one is waiting,
    /// else into the ring, else (the ring is full) into a new overflow
    /// batch (the spare one, or `new_batch()`). Never waits.
    ///
    /// # Safety
    ///
    /// The caller is the lane's only producer: no other thread calls
    /// `push` or `retire` on this lane at the same time, and a previous
    /// producer's calls happen before this one (a thread's own calls, or a
    /// lane handed over through a synchronising queue).
    #[inline]
    pub unsafe fn push(&self, msg: &Msg, new_batch: impl Fn() -> Box<B>) -> Pushed {
        // Relaxed: only this producer stores a non-null batch and the
        // consumer only replaces it by null; a stale non-null fails the CAS.
        let published = self.front.load(Ordering::Relaxed);
        if !published.is_null() {
            // SAFETY: the caller's guarantee; `published` was just loaded.
            unsafe { self.fold_overflow(published, msg, new_batch) };
            return Pushed::Batch;
        }
        // Relaxed: `tail` is written by this producer only.
        let tail = self.tail.load(Ordering::Relaxed);
        // Acquire: the consumer's reads of the slots it freed happen before
        // this producer overwrites them.
        let head = self.head.load(Ordering::Acquire);
        // (Always room in the broken variant, for the loom models to catch:
        // a full ring overwrites its oldest unread message.)
        if broken!("ring_overwrites_unread") || tail.wrapping_sub(head) < self.slots.len() as u64 {
            let slot = &self.slots[tail as usize & (self.slots.len() - 1)];
            for (word, value) in slot.0.iter().zip([msg.kind, msg.at, msg.a, msg.b]) {
                // Relaxed: published by the `Release` store of `tail`.
                word.store(value, Ordering::Relaxed);
            }
            // Release: a consumer that sees this tail sees the words above.
            self.tail.store(
                tail.wrapping_add(1),
                ordering!(Release, broken "ring_tail_relaxed"),
            );
            return Pushed::Ring;
        }
        // SAFETY: as above; `front` is null.
        unsafe { self.fold_overflow(ptr::null_mut(), msg, new_batch) };
        Pushed::Batch
    }

    /// Folds `msg` into the overflow batch: into the twin of `published`
    /// (null if none), swapped in by CAS, or, if the consumer took it,
    /// into a cleared batch published with a fresh twin.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); `published` was loaded from `front` by
    /// this producer.
    unsafe fn fold_overflow(&self, published: *mut B, msg: &Msg, new_batch: impl Fn() -> Box<B>) {
        let fresh = || {
            // Acquire: the consumer cleared the spare before its `Release`
            // hand-back.
            let spare = self.spare.swap(ptr::null_mut(), Ordering::Acquire);
            if spare.is_null() {
                Box::into_raw(new_batch())
            } else {
                spare
            }
        };
        // Relaxed: `back` is this producer's own.
        let mut twin = self.back.swap(ptr::null_mut(), Ordering::Relaxed);
        if !published.is_null() {
            debug_assert!(!twin.is_null(), "a published batch without a twin");
            // SAFETY: the twin is this producer's alone (never published
            // while it is the twin).
            unsafe { (*twin).fold(msg) };
            // Release: a consumer that takes the new front sees its folds.
            // Relaxed on failure: the consumer took `published`; the twin is
            // cleared below.
            let swapped = self
                .front
                .compare_exchange(
                    published,
                    twin,
                    ordering!(Release, broken "ring_batch_relaxed"),
                    Ordering::Relaxed,
                )
                .is_ok();
            if swapped {
                if !broken!("ring_twin_skipped") {
                    // SAFETY: the CAS unpublished `published`: a consumer's
                    // take (a CAS from it) fails from now on, and a consumer
                    // reads a batch only after a successful take; so this
                    // producer has it alone.
                    unsafe { (*published).fold(msg) };
                }
                // Relaxed: `back` is this producer's own. (Broken variant
                // `ring_twin_skipped`: the old front becomes the twin
                // without the record, and the next swap publishes a batch
                // that lacks it.)
                self.back.store(published, Ordering::Relaxed);
                return;
            }
            // SAFETY: still this producer's alone; it holds the taken
            // batch's records: clear it.
            unsafe { (*twin).clear() };
        } else if !twin.is_null() {
            // The twin of a batch the consumer took: clear it.
            // SAFETY: this producer's alone.
            unsafe { (*twin).clear() };
        } else {
            twin = fresh();
        }
        // `front` is null: publish a batch holding this record alone, and
        // keep a twin of it.
        let other = fresh();
        // SAFETY: `twin` and `other` are this producer's alone: cleared, or
        // fresh from `spare` (cleared by the consumer) or the allocator.
        unsafe {
            (*twin).fold(msg);
            (*other).fold(msg);
        }
        // Release: the consumer's `Acquire` take sees the folds. `front` is
        // null (the consumer took it, or none was published), and only this
        // producer makes it non-null: nothing is overwritten.
        self.front
            .store(twin, ordering!(Release, broken "ring_batch_relaxed"));
        // Relaxed: `back` is this producer's own.
        self.back.store(other, Ordering::Relaxed);
    }

    /// Marks the lane retired: its producer will push no more, and a new
    /// producer may [`claim`](Self::claim) it.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push): called by the lane's producer, after
    /// its last `push`.
    pub unsafe fn retire(&self) {
        // Relaxed: only the producer changes a live lane's state.
        let live = self.state.load(Ordering::Relaxed);
        // Release: a consumer or a new producer that sees the mark sees every
        // record before it (and `tail` as this producer left it).
        self.state.store(
            (live & !FLAGS) | RETIRED,
            ordering!(Release, broken "ring_retire_relaxed"),
        );
    }

    /// The lane's retirement mark, if it is retired (and not yet claimed or
    /// removed): pass it to [`remove`](Self::remove) after draining.
    pub fn retired(&self) -> Option<Retired> {
        // Acquire: pairs with `retire`'s Release, so a drain after this sees
        // the producer's last records.
        let state = self.state.load(Ordering::Acquire);
        (state & FLAGS == RETIRED).then_some(Retired(state))
    }

    /// Makes the caller the producer of a retired lane, unless a consumer
    /// removed it first; its unread records stay for the consumer. Each
    /// claim starts a new generation, so a consumer's mark from before it
    /// no longer matches even once the new producer retires in turn.
    pub fn claim(&self) -> bool {
        // Relaxed: the CAS below checks it.
        let state = self.state.load(Ordering::Relaxed);
        if state & FLAGS != RETIRED {
            return false;
        }
        // Broken on purpose, for the churn test to catch: without a new
        // generation, a reader's mark taken before this claim matches again
        // once this producer retires, and the reader removes the lane with
        // the records pushed after its drain.
        let generation = if broken!("ring_claim_keeps_generation") {
            0
        } else {
            FLAGS + 1
        };
        let next = (state & !FLAGS).wrapping_add(generation) | LIVE;
        self.state
            // Acquire: pairs with `retire`'s Release, so this producer's
            // writes follow the old one's (`tail` included).
            .compare_exchange(state, next, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes a retired lane out of use, unless a new producer claimed it
    /// since `mark` was read. The consumer reads the mark, drains the lane,
    /// then calls this: if it succeeds, no record arrived after the mark,
    /// so the drain had them all.
    pub fn remove(&self, mark: Retired) -> bool {
        let removed = (mark.0 & !FLAGS) | REMOVED;
        if broken!("ring_remove_not_exclusive") {
            // Broken on purpose, for the loom models to catch: a load then
            // a store lets a new producer claim the lane in between, and
            // its records go to a lane nobody drains. (Relaxed: the broken
            // variant.)
            let same = self.state.load(Ordering::Relaxed) == mark.0;
            if same {
                crate::sync::spin_wait();
                self.state.store(removed, Ordering::Relaxed);
            }
            return same;
        }
        self.state
            // Relaxed: the CAS's atomicity alone decides between a claim
            // and a removal; the drain before it was ordered by the
            // `Acquire` of `retired`.
            .compare_exchange(mark.0, removed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Applies every published message to `sink`, and absorbs the overflow
    /// batch into it if one is published and not being folded into.
    /// Returns the messages applied from the ring and whether a batch was
    /// taken.
    ///
    /// # Safety
    ///
    /// The caller is the lane's only consumer: no other thread calls
    /// `drain` on this lane at the same time, and previous calls happen
    /// before this one (they are serialised by a lock).
    pub unsafe fn drain(&self, sink: &mut impl Sink<B>) -> (u64, bool) {
        // Acquire: pairs with the producer's `Release` publication: the
        // ring drain below then sees every message pushed before the batch
        // was made, so they are applied before it, in the lane's order.
        let front = || self.front.load(Ordering::Acquire);
        let first = (!broken!("ring_batch_before_ring")).then(front);
        let mut messages = self.drain_ring(sink);
        // Broken on purpose, for the loom models to catch: the batch looked
        // at after the ring may hold records newer than a message the ring
        // drain missed, and the drain applies them out of order.
        let mut published = first.unwrap_or_else(front);
        if published.is_null() {
            return (messages, false);
        }
        loop {
            let taken = if broken!("ring_take_not_exclusive") {
                // Broken on purpose, for the loom models to catch: a load
                // then a store takes a batch the producer may have just
                // swapped out (and is folding into), and drops the one it
                // swapped in.
                crate::sync::spin_wait();
                self.front.store(ptr::null_mut(), Ordering::Release);
                Ok(published)
            } else {
                self.front.compare_exchange(
                    published,
                    ptr::null_mut(),
                    // Acquire: pairs with the producer's `Release` swap, so
                    // the batch's folds are visible.
                    Ordering::Acquire,
                    // Acquire: the newer front is taken next, as above.
                    Ordering::Acquire,
                )
            };
            match taken {
                Ok(_) => break,
                // The producer swapped in a newer twin: take that one (its
                // extra records are newer than every ring message, as the
                // producer does not use the ring while a batch is published).
                Err(newer) => published = newer,
            }
        }
        // SAFETY:
        //  * the CAS replaced `published` by null, so the producer's next
        //    swap from it fails and it never touches this batch again (it
        //    writes only its twin, and a front only after unpublishing it);
        //  * its last fold happened before the `Release` store or swap that
        //    published it, which this CAS read, so this thread sees it.
        let batch = unsafe { &mut *published };
        sink.absorb(batch);
        // Release: the producer's `Acquire` swap sees the batch cleared.
        let old = self.spare.swap(published, Ordering::Release);
        if !old.is_null() {
            // The producer has not needed the spare since the last take:
            // keep one spare, free the other.
            // SAFETY: a `Box::into_raw` batch nobody else holds: the swap
            // removed it from `spare`, the only place it was.
            drop(unsafe { Box::from_raw(old) });
        }
        // Messages pushed after the batch was taken: newer than it.
        messages += self.drain_ring(sink);
        (messages, true)
    }

    fn drain_ring(&self, sink: &mut impl Sink<B>) -> u64 {
        // Relaxed: `head` is written by the consumer only.
        let head = self.head.load(Ordering::Relaxed);
        // Acquire: pairs with the producer's `Release` store of `tail`, so
        // the words of every message before it are visible.
        let tail = self.tail.load(Ordering::Acquire);
        let mut at = head;
        while at != tail {
            let slot = &self.slots[at as usize & (self.slots.len() - 1)];
            // Relaxed: ordered by the `Acquire` load of `tail`.
            let [kind, stamp, a, b] = [0, 1, 2, 3].map(|i| slot.0[i].load(Ordering::Relaxed));
            sink.apply(&Msg {
                kind,
                at: stamp,
                a,
                b,
            });
            at = at.wrapping_add(1);
        }
        if at != head {
            // Release: the reads above happen before the producer, seeing
            // this, overwrites the slots.
            self.head.store(at, Ordering::Release);
        }
        tail.wrapping_sub(head)
    }
}

impl<B> Drop for Lane<B> {
    fn drop(&mut self) {
        for cell in [&mut self.front, &mut self.back, &mut self.spare] {
            // Relaxed: `&mut self`, no other thread holds the lane.
            let p = cell.swap(ptr::null_mut(), Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: a `Box::into_raw` batch owned by the lane, which is
                // being dropped: no producer or consumer can hold it.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}
