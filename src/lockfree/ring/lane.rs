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
//! folds the record into a batch (`B: Fold`) and publishes the batch's
//! pointer in `overflow` with `Release`. While a batch is published, every
//! later record is folded into it too, so the lane's records stay in order:
//! ring messages first, then the batch. To fold, the producer marks the
//! pointer busy with a CAS (`p` to `p | BUSY`), folds, and stores `p` back
//! with `Release`; the consumer takes a batch with a CAS from `p` (not
//! busy) to null, with `Acquire`. The two CASes exclude each other, so a
//! batch is written by one side at a time and handed over whole: a batch
//! holds whole records only. A consumer that finds the batch busy leaves
//! it for the next drain and does not wait. After applying a batch the
//! consumer clears it and hands it back through `spare` (`Release`; the
//! producer takes it with `Acquire`), freeing the one already there, so a
//! lane owns at most two batches: the producer makes a new one only when
//! `spare` is empty, and then at most one other is held by the consumer.
//!
//! **Order of a drain.** Ring, then the batch, then the ring again if a
//! batch was taken: every ring message older than the batch was published
//! before the batch (the `Acquire` take sees it), so what a drain consumes
//! is always a prefix of the lane's records.
//!
//! **Retiring.** The producer's thread marks the lane retired as it exits
//! (`Release`, after its last record); a consumer that sees the mark
//! (`Acquire`) drains the lane to empty, and nothing can arrive after.
//!
//! Progress: `push` is wait-free: at most one CAS on `overflow`, which
//! fails only because the consumer took the batch, and then the record
//! goes to the ring or to a new batch with no retry (a new batch comes
//! from `spare` or from the allocator). `drain`
//! is wait-free: it consumes what `tail` showed and makes one attempt at
//! the batch.

use std::ptr;

use crossbeam_utils::CachePadded;

use crate::sync::{ordering, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The low bit of a batch pointer: the producer is folding into it.
const BUSY: usize = 1;

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
    /// The published overflow batch (`*mut B`), `BUSY`-tagged while the
    /// producer folds into it; null when none.
    overflow: AtomicPtr<B>,
    /// A cleared batch handed back by the consumer; null when none.
    spare: AtomicPtr<B>,
    /// Nonzero once the producer's thread has exited.
    retired: AtomicUsize,
}

// SAFETY: the raw batch pointers are owned `Box<B>`s handed between the
// producer and the consumer (see the module docs): the lane is `Send` and
// `Sync` exactly when `B` can move between threads.
unsafe impl<B: Send> Send for Lane<B> {}
// SAFETY: as for `Send`: shared access touches a batch only through the
// ownership hand-over of `overflow` and `spare`.
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
            overflow: AtomicPtr::new(ptr::null_mut()),
            spare: AtomicPtr::new(ptr::null_mut()),
            retired: AtomicUsize::new(0),
        }
    }

    /// Heap and inline bytes of a lane of `capacity` messages, batches
    /// not included.
    pub fn bytes(capacity: usize) -> usize {
        std::mem::size_of::<Self>()
            + capacity.max(1).next_power_of_two() * std::mem::size_of::<Slot>()
    }

    /// Adds `msg` to the lane: into the overflow batch if one is waiting,
    /// else into the ring; if the ring is full, calls `on_full` (which may
    /// drain the lane, as its consumer, and must not wait) and looks again,
    /// then folds it into a new overflow batch (a spare one, or
    /// `new_batch()`). Never waits.
    ///
    /// # Safety
    ///
    /// The caller is the lane's only producer: no other thread calls
    /// `push` or `retire` on this lane at the same time, and a previous
    /// producer's calls happen before this one (a thread's own calls, or a
    /// lane handed over through a synchronising queue).
    #[inline]
    pub unsafe fn push(
        &self,
        msg: &Msg,
        on_full: impl FnOnce(),
        new_batch: impl FnOnce() -> Box<B>,
    ) -> Pushed {
        // Relaxed: only this producer stores a non-null batch and the
        // consumer only replaces it by null; a stale non-null fails the CAS.
        let published = self.overflow.load(Ordering::Relaxed);
        if !published.is_null() {
            // Relaxed: the CAS's atomicity alone excludes the consumer's
            // take (it expects the untagged pointer), and the batch holds
            // only this producer's writes; the `Release` store below hands
            // them over.
            let busy = tag(published);
            #[cfg(not(lockfree_metrics_broken = "ring_fold_not_exclusive"))]
            let claimed = self
                .overflow
                .compare_exchange(published, busy, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            // Broken on purpose, for the loom models to catch: folding
            // without claiming the batch races the consumer's take, and the
            // record may be folded into a batch already applied.
            #[cfg(lockfree_metrics_broken = "ring_fold_not_exclusive")]
            let claimed = {
                let _ = busy;
                true
            };
            if claimed {
                // SAFETY:
                //  * `published` came from `Box::into_raw` in this function
                //    and the consumer frees or reuses it only after taking it
                //    with a CAS from the untagged pointer, which now fails
                //    until the store below: this thread has it exclusively;
                //  * no reference to it outlives this statement.
                unsafe { (*published).fold(msg) };
                // Release: the consumer's `Acquire` take then sees the fold.
                self.overflow
                    .store(published, ordering!(Release, broken "ring_batch_relaxed"));
                return Pushed::Batch;
            }
            // The consumer took it: the record starts afresh, below.
        }
        // Relaxed: `tail` is written by this producer only.
        let tail = self.tail.load(Ordering::Relaxed);
        // Acquire: the consumer's reads of the slots it freed happen before
        // this producer overwrites them.
        let head = self.head.load(Ordering::Acquire);
        #[cfg(not(lockfree_metrics_broken = "ring_overwrites_unread"))]
        let room = tail.wrapping_sub(head) < self.slots.len() as u64;
        // Broken on purpose, for the loom models to catch: a full ring
        // overwrites its oldest unread message.
        #[cfg(lockfree_metrics_broken = "ring_overwrites_unread")]
        let room = {
            let _ = head;
            true
        };
        // A full ring: the caller may drain it (as its consumer) first.
        #[cfg(not(lockfree_metrics_broken = "ring_overwrites_unread"))]
        let room = room || {
            on_full();
            // Acquire: as above, for slots freed by `on_full`'s drain.
            tail.wrapping_sub(self.head.load(Ordering::Acquire)) < self.slots.len() as u64
        };
        #[cfg(lockfree_metrics_broken = "ring_overwrites_unread")]
        let _ = on_full;
        if room {
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
        // Acquire: the consumer cleared the spare before its `Release`
        // hand-back.
        let spare = self.spare.swap(ptr::null_mut(), Ordering::Acquire);
        let mut batch = if spare.is_null() {
            new_batch()
        } else {
            // SAFETY: `spare` is a `Box::into_raw` batch handed back by the
            // consumer, which no longer touches it; the swap above made this
            // thread its only owner.
            unsafe { Box::from_raw(spare) }
        };
        batch.fold(msg);
        // Release: the consumer's `Acquire` take sees the fold. `overflow`
        // is null here (loaded so, or the consumer took it), and only this
        // producer makes it non-null: nothing is overwritten.
        self.overflow.store(
            Box::into_raw(batch),
            ordering!(Release, broken "ring_batch_relaxed"),
        );
        Pushed::Batch
    }

    /// Marks the lane retired: its producer will push no more.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push): called by the lane's producer, after
    /// its last `push`.
    pub unsafe fn retire(&self) {
        // Release: a consumer that sees the mark sees every record before it.
        self.retired
            .store(1, ordering!(Release, broken "ring_retire_relaxed"));
    }

    /// Whether the producer has retired the lane; once true and the lane
    /// drained, it stays empty.
    pub fn is_retired(&self) -> bool {
        // Acquire: pairs with `retire`'s Release, so a drain after this sees
        // the producer's last records.
        self.retired.load(Ordering::Acquire) != 0
    }

    /// Clears the retired mark, for a lane passed on to a new producer.
    ///
    /// # Safety
    ///
    /// The caller owns the lane exclusively (no consumer or producer holds
    /// it), and hands it on through a synchronising queue.
    pub unsafe fn unretire(&self) {
        // Relaxed: the caller owns the lane; the hand-over orders it.
        self.retired.store(0, Ordering::Relaxed);
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
        let mut messages = self.drain_ring(sink);
        // Acquire: pairs with the producer's `Release` publication, so the
        // batch's folds are visible once taken.
        let published = self.overflow.load(Ordering::Acquire);
        if published.is_null() || published as usize & BUSY != 0 {
            return (messages, false);
        }
        #[cfg(not(lockfree_metrics_broken = "ring_take_not_exclusive"))]
        let taken = self
            .overflow
            // Acquire: as the load above, for the value the CAS replaces.
            .compare_exchange(
                published,
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok();
        // Broken on purpose, for the loom models to catch: a plain store
        // takes the batch even if the producer claimed it meanwhile.
        #[cfg(lockfree_metrics_broken = "ring_take_not_exclusive")]
        let taken = {
            self.overflow.store(ptr::null_mut(), Ordering::Relaxed);
            true
        };
        if !taken {
            // The producer is folding into it: next drain.
            return (messages, false);
        }
        // SAFETY:
        //  * the CAS replaced the untagged pointer by null, so the producer
        //    is not folding and will not touch this batch again (it only
        //    folds after claiming the published pointer, now null);
        //  * its last fold happened before the `Release` store this CAS
        //    read, so this thread sees it whole.
        let batch = unsafe { &mut *published };
        sink.absorb(batch);
        // Release: the producer's `Acquire` swap sees the batch cleared.
        let old = self.spare.swap(published, Ordering::Release);
        if !old.is_null() {
            // The producer made a new batch while this one was applied and
            // has not needed the spare since: keep one spare, free the other,
            // so a lane never holds more than two batches.
            // SAFETY: a `Box::into_raw` batch nobody else holds: the swap
            // removed it from `spare`, the only place it was.
            drop(unsafe { Box::from_raw(old) });
        }
        // Ring messages published before the batch (and any after it):
        // consumed now, so the drain took a prefix of the lane's records.
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
        for cell in [&mut self.overflow, &mut self.spare] {
            // Relaxed: `&mut self`, no other thread holds the lane.
            let p = cell.swap(ptr::null_mut(), Ordering::Relaxed);
            let p = untag(p);
            if !p.is_null() {
                // SAFETY: a `Box::into_raw` batch owned by the lane, which is
                // being dropped: no producer or consumer can hold it.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

fn tag<B>(p: *mut B) -> *mut B {
    (p as usize | BUSY) as *mut B
}

fn untag<B>(p: *mut B) -> *mut B {
    (p as usize & !BUSY) as *mut B
}
