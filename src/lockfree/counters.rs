//! Arrays of atomic counters, written in one of two ways, each its own
//! type so that one kind of write cannot reach the other kind of array:
//!
//! - **owned** ([`OwnedCounters`], [`OwnedCounter`]): one thread writes,
//!   others only read. An increment is a relaxed load and a plain store (a
//!   `mov` on x86, no `lock` prefix), about the cost of a non-atomic `+=`.
//!   Correct only while a single thread writes: the sharded strategy
//!   guarantees it by giving each thread its own shard.
//! - **shared** ([`SharedCounters`], [`SharedCounter`]): any thread
//!   writes, with `fetch_add` (a locked read-modify-write that serialises
//!   on the cache line).
//!
//! Readers load each counter independently. Counters only grow (wrapping at
//! 2^64, which no count reaches, or saturating there: throughput totals;
//! the registry's histograms cap large records at 2^63 and add cells up
//! saturating, `registry::histogram`), so every read is a valid cut of
//! that one counter: a record lands either before a read or after it.
//!
//! The counters start on a 128-byte boundary and fill whole 128-byte
//! lines, so that the array shares no cache line (or adjacent-line prefetch
//! pair) with another thread's data. Arrays of a page or more get pages of
//! their own from the kernel (`lockfree::zeroed`), so a page of counters
//! becomes resident only once a counter on it is written: a shard that
//! records a few values costs a few pages, not its whole histogram.
//!
//! Both kinds keep a *touched* word: bit `i` is set before the first write
//! of any counter in the `i`-th of at most 64 equal chunks, and never
//! cleared. The owner of an owned array recognises a counter's first write
//! by the zero it loads anyway; a shared writer loads the touched word
//! (read-mostly, so its line stays shared in every cache) and sets a
//! missing bit before its `fetch_add`, so that a record which happens
//! before a reading always has its bit seen by that reading, whichever
//! writer set it.
//! Readers skip untouched chunks, which makes a reading cost what a thread
//! recorded rather than what its histogram could hold: latencies that span
//! a few octaves touch a few chunks of a 23,000-counter histogram. A
//! reader that misses a bit set concurrently misses only records that are
//! concurrent with it, and every later reader sees the bit, so readings
//! stay monotonic per counter.
//!
//! Progress: wait-free for writers and readers.

use std::marker::PhantomData;

use super::zeroed::ZeroedWords;
use crate::{
    metric::layout::Layout,
    sync::{broken, fence, AtomicF64, AtomicU64, Ordering},
};

/// One writer: what [`Counters`] keeps for it is the touched word.
#[derive(Debug, Default)]
pub struct Owned {
    /// Bit `i`: a counter in chunk `i` (indexes `i << chunk_shift ..`) has
    /// been written.
    touched: AtomicU64,
}

/// Any writers: what [`Counters`] keeps for them is the touched word.
#[derive(Debug, Default)]
pub struct Shared {
    /// As [`Owned`]'s, set by any writer.
    touched: AtomicU64,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Owned {}
    impl Sealed for super::Shared {}
    pub trait SealedLoad {}
    impl SealedLoad for super::RelaxedLoads {}
    impl SealedLoad for super::AcquireLoads {}
}

/// The write mode of a counter array or counter: [`Owned`] or [`Shared`].
/// Each mode has its own write methods; the storage and reads are common.
pub trait Writers: sealed::Sealed + Default {
    /// Bit `i` clear: no counter in chunk `i` has been written.
    fn touched(&self) -> u64;
}

impl Writers for Owned {
    #[inline]
    fn touched(&self) -> u64 {
        // Relaxed: see the module docs.
        self.touched.load(Ordering::Relaxed)
    }
}

impl Writers for Shared {
    #[inline]
    fn touched(&self) -> u64 {
        // Relaxed: see the module docs.
        self.touched.load(Ordering::Relaxed)
    }
}

/// A fixed-length array of monotonic `u64` counters, written as `W` says.
#[derive(Debug)]
pub struct Counters<W: Writers> {
    /// The counters, line-aligned and zero until written
    /// (`lockfree::zeroed`).
    words: ZeroedWords,
    len: usize,
    chunk_shift: u32,
    writers: W,
}

/// An array for one writer ([`add_owned`](Counters::add_owned)).
pub type OwnedCounters = Counters<Owned>;
/// An array for any writers ([`add_shared`](Counters::add_shared)).
pub type SharedCounters = Counters<Shared>;

impl<W: Writers> Counters<W> {
    /// `len` counters at zero.
    pub fn new(len: usize) -> Self {
        // The smallest power-of-two chunk that splits `len` in at most 64.
        let chunk_shift = len.div_ceil(64).next_power_of_two().trailing_zeros();
        // Whole lines, so that no other data shares the last one.
        #[cfg(not(loom))]
        let words = ZeroedWords::new(len.next_multiple_of(super::zeroed::LINE_BYTES / 8));
        #[cfg(loom)]
        let words = ZeroedWords::new(len);
        Counters {
            words,
            len,
            chunk_shift,
            writers: W::default(),
        }
    }

    #[inline]
    fn cell(&self, index: usize) -> &AtomicU64 {
        &self.words[index]
    }

    /// Number of chunks: `len` split in chunks of `1 << chunk_shift`.
    fn chunk_count(&self) -> usize {
        self.len.div_ceil(1 << self.chunk_shift)
    }

    /// Bit `i` set: chunk `i` may hold a nonzero counter; no bit past the
    /// last chunk.
    #[inline]
    pub fn chunks(&self) -> u64 {
        self.writers.touched() & self.all_chunks()
    }

    /// A bit for every chunk, touched or not: the chunks of a whole-array
    /// reading (`add_all_to`, `take`).
    #[inline]
    pub fn all_chunks(&self) -> u64 {
        match self.chunk_count() {
            0 => 0,
            n => u64::MAX >> (64 - n),
        }
    }

    /// Log2 of the counters in a chunk (the last chunk may hold fewer).
    pub fn chunk_shift(&self) -> u32 {
        self.chunk_shift
    }

    /// Adds chunk `chunk`'s counters into `into`, which must be exactly as
    /// long as the chunk, loading each with `L`'s ordering: one slice and
    /// one bounds check per chunk, not per counter.
    #[inline]
    pub fn add_chunk_to<L: Load>(&self, chunk: usize, into: &mut [u64]) {
        let cells = self.chunk_cells(chunk, into.len());
        for (slot, cell) in into.iter_mut().zip(cells) {
            *slot = L::add(*slot, cell.load(L::ORDER));
        }
    }

    /// The first `n` cells of chunk `chunk`.
    #[inline]
    fn chunk_cells(&self, chunk: usize, n: usize) -> &[AtomicU64] {
        let first = chunk << self.chunk_shift;
        &self.words[first..first + n]
    }

    /// [`add_chunk_to`](Self::add_chunk_to) from `K` arrays of this
    /// array's length at once: `K` streams of loads in flight, and one pass
    /// over `into` for all of them.
    #[inline]
    pub fn add_chunks_to<L: Load, const K: usize>(
        arrays: [&Self; K],
        chunk: usize,
        into: &mut [u64],
    ) {
        let cells = arrays.map(|a| a.chunk_cells(chunk, into.len()));
        for (j, slot) in into.iter_mut().enumerate() {
            // In bounds: every slice is `into.len()` long.
            *slot = cells
                .iter()
                .fold(*slot, |sum, c| L::add(sum, c[j].load(L::ORDER)));
        }
    }

    /// Appends chunk `chunk`'s counters to `into`, loading each with `L`'s
    /// ordering: the first array read into a merge is copied, not added to
    /// zeros.
    #[inline]
    pub fn extend_with_chunk<L: Load>(&self, chunk: usize, into: &mut Vec<u64>) {
        let n = self.len.min((chunk + 1) << self.chunk_shift) - (chunk << self.chunk_shift);
        into.extend(
            self.chunk_cells(chunk, n)
                .iter()
                .map(|cell| cell.load(L::ORDER)),
        );
    }

    /// Adds every counter into `into` (which must be as long), loading each
    /// with `L`'s ordering, skipping the chunks no write has touched.
    pub fn add_all_to<L: Load>(&self, into: &mut [u64]) {
        assert_eq!(into.len(), self.len, "reading into a wrong-sized array");
        let chunks = self.chunks();
        for (i, into) in into.chunks_mut(1 << self.chunk_shift).enumerate() {
            if chunks & (1 << i) != 0 {
                self.add_chunk_to::<L>(i, into);
            }
        }
    }
}

/// How a reading loads counters: [`RelaxedLoads`] or [`AcquireLoads`], a type so
/// that the ordering is a constant in the monomorphised read loop.
pub trait Load: sealed::SealedLoad {
    /// The ordering of each load.
    const ORDER: Ordering;

    /// `sum + count`, wrapping (differences of readings stay exact modulo
    /// 2^64).
    #[inline(always)]
    fn add(sum: u64, count: u64) -> u64 {
        sum.wrapping_add(count)
    }
}

/// Loads counters with `Ordering::Relaxed`.
#[derive(Debug)]
pub struct RelaxedLoads;

/// Loads counters with `Ordering::Acquire`.
#[derive(Debug)]
pub(crate) struct AcquireLoads;

impl Load for RelaxedLoads {
    // Relaxed: the caller reads counters one by one (see the module docs).
    const ORDER: Ordering = Ordering::Relaxed;
}

impl Load for AcquireLoads {
    // Acquire: for a reset reading gauge counts, which must synchronise with
    // the opening fence of each record it counts (see `lockfree::gauge`).
    const ORDER: Ordering = Ordering::Acquire;
}

impl Counters<Owned> {
    /// Adds `n` at `index`; the caller must be the only thread that writes
    /// these counters.
    #[inline]
    pub fn add_owned(&self, index: usize, n: u64) {
        let cell = self.cell(index);
        // Relaxed load: this thread wrote every value the counter holds, and
        // a thread always reads its own latest store.
        let count = cell.load(Ordering::Relaxed);
        if count == 0 {
            // The counter's first write (counters only grow): its chunk may
            // be unmarked. Checking the count already loaded, rather than the
            // touched word, keeps the mark off the common path.
            self.mark(index);
        }
        // Relaxed store: readers read each counter on its own; what must be
        // seen with a count (a gauge's value) is published by the gauge's
        // own fence and version (`lockfree::gauge`).
        cell.store(count.wrapping_add(n), Ordering::Relaxed);
    }

    /// [`add_owned`](Self::add_owned) with a Release store: a reader whose
    /// Acquire load sees this count sees everything this thread wrote
    /// before it (a histogram's earlier sums: `registry::histogram`).
    #[inline]
    pub fn add_owned_release(&self, index: usize, n: u64) {
        let cell = self.cell(index);
        // Relaxed load: as in `add_owned`.
        let count = cell.load(Ordering::Relaxed);
        if count == 0 {
            self.mark(index);
        }
        // Release: see the method's docs.
        cell.store(count.wrapping_add(n), Ordering::Release);
    }

    /// Marks `index`'s chunk touched, before its counter's first write.
    #[cold]
    fn mark(&self, index: usize) {
        let bit = 1 << (index >> self.chunk_shift);
        let touched = &self.writers.touched;
        // Relaxed: a reader that misses the bit misses only this concurrent
        // record (see the module docs); the owner reads its own stores.
        let marks = touched.load(Ordering::Relaxed);
        if marks & bit == 0 {
            touched.store(marks | bit, Ordering::Relaxed);
        }
    }
}

impl Counters<Shared> {
    /// Adds `n` at `index` from any thread; returns the count before.
    #[inline]
    pub fn add_shared(&self, index: usize, n: u64) -> u64 {
        let bit = 1 << (index >> self.chunk_shift);
        // Relaxed: the mark is read (and, once per chunk, set) before the
        // add in program order, which is all the module docs' argument needs.
        if self.writers.touched.load(Ordering::Relaxed) & bit == 0 {
            self.mark_shared(bit);
        }
        // Relaxed: the counter is its own only datum; atomicity alone makes
        // concurrent increments add up.
        self.cell(index).fetch_add(n, Ordering::Relaxed)
    }

    #[cold]
    fn mark_shared(&self, bit: u64) {
        // Relaxed: as the load in `add_shared`; an RMW, so that concurrent
        // writers marking different chunks keep each other's bits.
        self.writers.touched.fetch_or(bit, Ordering::Relaxed);
    }

    /// Zeroes every counter, returning what each held: each increment lands
    /// either in the returned values or in the counters after the swap.
    pub fn take(&self) -> Vec<u64> {
        let take = |cell: &AtomicU64| {
            if broken!("counters_take_not_atomic") {
                // Broken on purpose, for the loom models to catch: an
                // increment between the load and the store is in neither
                // the value returned nor the counter.
                let value = cell.load(Ordering::Relaxed);
                cell.store(0, Ordering::Relaxed);
                value
            } else {
                // Relaxed: each swap is its own cut; no other memory hangs
                // on it.
                cell.swap(0, Ordering::Relaxed)
            }
        };
        (0..self.len).map(|i| take(self.cell(i))).collect()
    }
}

/// One monotonic counter, written as `W` says.
#[derive(Debug)]
pub(crate) struct Counter<W: Writers>(AtomicU64, PhantomData<W>);

/// A counter for one writer.
pub(crate) type OwnedCounter = Counter<Owned>;
/// A counter for any writers.
pub(crate) type SharedCounter = Counter<Shared>;

impl<W: Writers> Default for Counter<W> {
    fn default() -> Self {
        Counter(AtomicU64::new(0), PhantomData)
    }
}

impl<W: Writers> Counter<W> {
    pub(crate) fn load(&self) -> u64 {
        // Relaxed: the counter is read on its own.
        self.0.load(Ordering::Relaxed)
    }
}

impl Counter<Owned> {
    /// See [`Counters::add_owned`].
    #[inline]
    pub(crate) fn add_owned(&self, n: u64) {
        // Relaxed load and store: single writer, as in `Counters::add_owned`.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// [`add_owned`](Self::add_owned) with a Release store (a histogram's
    /// sum, stored after its count: `registry::histogram`).
    #[inline]
    pub(crate) fn add_owned_release(&self, n: u64) {
        // Relaxed load: single writer. Release store: see the docs.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Release,
        );
    }

    /// [`add_owned`](Self::add_owned), stopping at `u64::MAX`; returns
    /// whether the add was cut.
    #[inline]
    pub(crate) fn add_owned_saturating(&self, n: u64) -> bool {
        // Relaxed load and store: single writer, as in `add_owned`.
        let (sum, cut) = match self.0.load(Ordering::Relaxed).checked_add(n) {
            Some(sum) => (sum, false),
            None => (u64::MAX, true),
        };
        self.0.store(sum, Ordering::Relaxed);
        cut
    }
}

impl Counter<Shared> {
    /// See [`Counters::add_shared`].
    #[inline]
    pub(crate) fn add_shared(&self, n: u64) {
        // Relaxed: as in `Counters::add_shared`.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// [`add_shared`](Self::add_shared), stopping at `u64::MAX` (a CAS
    /// loop); returns whether the add was cut.
    #[inline]
    pub(crate) fn add_shared_saturating(&self, n: u64) -> bool {
        // Relaxed, success and failure: the counter is its own only datum.
        let (Ok(old) | Err(old)) = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(n))
            });
        old.checked_add(n).is_none()
    }

    pub(crate) fn take(&self) -> u64 {
        // Relaxed: as in `Counters::take`.
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// A one-writer total that never saturates: a low word that wraps and a
/// carry count, read together without the writer's help.
///
/// The total is `(carries >> 1) * 2^64 + low`. `carries` is a sequence in
/// the manner of a seqlock (Lamport's "concurrent reading and writing",
/// 1977), but bumped only by the rare record that carries out of `low`:
/// odd while that carry is in progress, so `carries >> 1` is always the
/// number of carries completed. A reader loads `carries`, `low`, then
/// `carries` again; if both loads are the same even value the pair is one
/// state of the counter. Otherwise a carry overlapped the reading, and the
/// reader reports the value the counter passed through at that carry,
/// `ceil(c / 2) * 2^64 - 1` for the later load `c`: more than before the
/// carrying record, no more than after it, which is a valid reading of a
/// concurrent record. So a reading is wait-free (no retry), and the
/// throughput totals of `Sharded` stay exact to 2^128 - 1, which no run
/// reaches: a reset needs no help from the writers to start them again.
#[derive(Debug, Default)]
pub struct OwnedWide {
    low: AtomicU64,
    carries: AtomicU64,
}

impl OwnedWide {
    /// Adds `n`; the caller must be the only thread that writes it.
    #[inline]
    pub fn add_owned(&self, n: u64) {
        // Relaxed load: this thread wrote every value `low` holds.
        let low = self.low.load(Ordering::Relaxed);
        match low.checked_add(n) {
            // Relaxed store: a reader pairs it with `carries` by the fences
            // of `carry` and `load`.
            Some(sum) => self.low.store(sum, Ordering::Relaxed),
            None => self.carry(low.wrapping_add(n)),
        }
    }

    /// A record that carries: `low` becomes `wrapped`, inside an odd
    /// `carries`.
    #[cold]
    #[inline(never)]
    fn carry(&self, wrapped: u64) {
        // Relaxed load: single writer.
        let seq = self.carries.load(Ordering::Relaxed);
        // Broken on purpose in `wide_carry_unfenced`: no odd phase, so a
        // reader can pair the new `low` with the old carry count.
        if !broken!("wide_carry_unfenced") {
            // Relaxed store, then a Release fence: a reader whose `low` load
            // sees the store below synchronises with this fence (through its
            // Acquire fence) and so sees the odd value or a later one.
            self.carries.store(seq + 1, Ordering::Relaxed);
            fence(Ordering::Release);
        }
        // Relaxed: ordered by the fence above and the Release below.
        self.low.store(wrapped, Ordering::Relaxed);
        // Release: a reader whose first load sees this value sees `low` as
        // stored above or later.
        self.carries.store(seq + 2, Ordering::Release);
    }

    /// The total now (see the type's docs).
    pub fn load(&self) -> u128 {
        // Acquire: pairs with the Release store ending a carry, so `low` is
        // at least that carry's value.
        let first = self.carries.load(Ordering::Acquire);
        // Relaxed: ordered by the fences.
        let low = self.low.load(Ordering::Relaxed);
        // Acquire fence: if `low` came from a carry's store (or a later
        // one), the carry's Release fence synchronises with it, so the load
        // below sees that carry's odd value or later.
        fence(Ordering::Acquire);
        let last = self.carries.load(Ordering::Relaxed);
        if first == last && first.is_multiple_of(2) {
            (u128::from(first >> 1) << 64) | u128::from(low)
        } else {
            // A carry overlapped: the value it passed through, just below
            // the `ceil(last / 2)`-th multiple of 2^64.
            (u128::from(last.div_ceil(2)) << 64) - 1
        }
    }
}

/// An HDR histogram's counts in atomics, with the sum of the values
/// recorded and the number that were clamped.
///
/// `W` is the write mode, `S` the sum. One writer keeps a wrapping `u64`
/// ([`OwnedCounter`]): a plain add, exact modulo 2^64, and readers recover
/// the wraps from the histogram itself (see `readout::resolve_sum`), so
/// interval sums stay exact however long a shard lives; a difference of two
/// cumulative `f64` sums would lose its low bits past 2^53, and a 128-bit
/// sum would need a carry branch that costs a quarter of the record path.
/// Many writers use an `AtomicF64` CAS loop: the `Atomic` strategy keeps
/// the naive design that peers such as rust-prometheus use, and empties it
/// at each reset. That sum is exact while an interval's summed values stay
/// below 2^53; beyond that each add rounds to `f64` precision (a relative
/// `n * 2^-53` after `n` adds).
#[derive(Debug)]
pub(crate) struct HistogramCells<W: Writers, S> {
    pub(crate) counts: Counters<W>,
    pub(crate) sum: S,
    pub(crate) clamped: Counter<W>,
}

/// Cells written by one thread.
pub(crate) type OwnedHistogram = HistogramCells<Owned, OwnedCounter>;
/// Cells written by any thread.
pub(crate) type SharedHistogram = HistogramCells<Shared, AtomicF64>;

impl OwnedHistogram {
    pub(crate) fn new(layout: &Layout) -> Self {
        HistogramCells {
            counts: OwnedCounters::new(layout.len()),
            sum: OwnedCounter::default(),
            clamped: OwnedCounter::default(),
        }
    }

    /// Records `value` (already clamped) as the cells' only writer.
    #[inline(always)]
    pub(crate) fn record(&self, layout: &Layout, value: u64, clamped: bool) {
        self.record_n(layout, value, 1, clamped);
    }

    /// Records `n` samples of `value` (already clamped) as the cells' only
    /// writer; `clamped` counts each of them.
    ///
    /// The count is stored before the sum, each with Release, so that a
    /// reader that loads the sum, the counts, then the sum again (Acquire)
    /// finds every sample of the first sum counted, and every counted
    /// sample in the second sum but this thread's one record in flight
    /// (`registry::histogram`). On x86 both are plain stores.
    #[inline(always)]
    pub(crate) fn record_n(&self, layout: &Layout, value: u64, n: u64, clamped: bool) {
        if clamped {
            self.clamped.add_owned(n);
        }
        self.counts.add_owned_release(layout.index_of(value), n);
        // Modulo 2^64, as every owned sum (`readout::resolve_sum`).
        self.sum.add_owned_release(value.wrapping_mul(n));
    }
}

impl SharedHistogram {
    pub(crate) fn new(layout: &Layout) -> Self {
        HistogramCells {
            counts: SharedCounters::new(layout.len()),
            sum: AtomicF64::new(0.0),
            clamped: SharedCounter::default(),
        }
    }

    /// Records `value` (already clamped) from any thread.
    #[inline]
    pub(crate) fn record(&self, layout: &Layout, value: u64, clamped: bool) {
        self.counts.add_shared(layout.index_of(value), 1);
        // Relaxed: the sum is its own datum (a CAS loop inside `fetch_add`).
        self.sum.fetch_add(value as f64, Ordering::Relaxed);
        if clamped {
            self.clamped.add_shared(1);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn owned_adds_sum_up_and_mark_chunks() {
        let c = OwnedCounters::new(1_000);
        assert_eq!(c.chunk_shift, 4);
        c.add_owned(0, 2);
        c.add_owned(999, 5);
        c.add_owned(999, 1);
        assert_eq!(c.writers.touched(), 1 | 1 << 62);
        let mut sum = vec![1; 1_000];
        c.add_all_to::<RelaxedLoads>(&mut sum);
        assert_eq!((sum[0], sum[1], sum[999]), (3, 1, 7));
        assert_eq!(c.chunks(), 1 | 1 << 62);
        let mut last = [0; 1_000 - 62 * 16];
        c.add_chunk_to::<AcquireLoads>(62, &mut last);
        assert_eq!(last[999 - 62 * 16], 6);
        let mut copied = vec![9];
        c.extend_with_chunk::<RelaxedLoads>(62, &mut copied);
        assert_eq!(copied.len(), 1 + last.len());
        assert_eq!((copied[0], copied[1 + 999 - 62 * 16]), (9, 6));
    }

    #[test]
    fn chunks_of_several_arrays_add_up() {
        let arrays: Vec<_> = (1..=3)
            .map(|k| {
                let c = OwnedCounters::new(100);
                c.add_owned(17, k);
                c
            })
            .collect();
        // 100 counters: chunks of 2, so counter 17 is chunk 8's second.
        assert_eq!(arrays[0].chunk_shift(), 1);
        let mut into = [1, 1];
        OwnedCounters::add_chunks_to::<RelaxedLoads, 3>(
            [&arrays[0], &arrays[1], &arrays[2]],
            8,
            &mut into,
        );
        assert_eq!(into, [1, 7]);
    }

    #[test]
    fn shared_adds_mark_their_chunks() {
        assert_eq!(SharedCounters::new(40).chunks(), 0);
        let c = SharedCounters::new(1_000);
        assert_eq!(c.add_shared(999, 2), 0);
        assert_eq!(c.add_shared(999, 1), 2);
        c.add_shared(0, 1);
        assert_eq!(c.chunks(), 1 | 1 << 62);
        let mut sum = vec![0; 1_000];
        c.add_all_to::<RelaxedLoads>(&mut sum);
        assert_eq!((sum[0], sum[999], sum.iter().sum::<u64>()), (1, 3, 4));
    }

    #[test]
    fn shared_adds_sum_up_and_take_empties() {
        let c = SharedCounters::new(40);
        c.add_shared(0, 2);
        c.add_shared(39, 5);
        let mut sum = vec![1; 40];
        c.add_all_to::<RelaxedLoads>(&mut sum);
        assert_eq!((sum[0], sum[1], sum[39]), (3, 1, 6));
        assert_eq!(c.take()[39], 5);
        assert!(c.take().iter().all(|&v| v == 0));
    }

    #[test]
    fn lines_are_cache_aligned() {
        for len in [1, 16, 17, 1_000] {
            let c = OwnedCounters::new(len);
            assert_eq!(c.cell(0) as *const AtomicU64 as usize % 128, 0);
            assert_eq!(c.words.len(), len.div_ceil(16) * 16);
        }
    }
}
