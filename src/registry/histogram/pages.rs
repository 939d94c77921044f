//! Sparse counter pages: a histogram's counts in pages of [`PAGE`]
//! counters, made on first touch and published by CAS, as BIND 9's
//! `isc_histo` and hg64 (Tony Finch) keep theirs. A series' counts cost
//! the pages its values reach, not the layout's full length.
//!
//! A set of pages ([`Pages`]) holds its first page inline (one pointer)
//! and makes a directory, one pointer per page of the layout, when a
//! second page is touched; the first page is copied into the directory
//! before the directory is published, so that from then on the directory
//! alone finds every page. A page or directory is published by
//! `compare_exchange(null, new)` with Release; the loser frees its own
//! copy, so no record lands in a page that is not kept. Pages are freed
//! only when the series is dropped (`&mut self`).
//!
//! **Narrow counters with a flagged carry.** A lane's pages
//! ([`Pages<Narrow>`]) hold `u16` counters, written by one thread at a
//! time (the lane's owner, `registry::lanes`). A counter's value is its
//! `u16` plus a `u64` *wide* word, in a page of wide words made on the
//! page's first carry. When a record would take the `u16` to [`CARRY`] or
//! more, the owner carries: it stores the wide word plus `CARRY` with the
//! *pending* bit set (1), stores the `u16` less `CARRY` (2), and clears
//! the bit (3), each with Release. Records of [`HALF`] or more go to the
//! wide word in one store. A reader loads the wide word, the `u16`, and
//! the wide word again, each with Acquire ([`Page::count`]): two equal
//! loads without the bit give a consistent pair; with the bit, the `u16`
//! is either the value before step 2, at least `HALF`, or after it, below
//! `HALF` (a carried record adds less than `HALF`), and the reader
//! subtracts `CARRY` from the first. Unequal loads mean a carry step ran
//! meanwhile, and the reader loads again: a counter's loads are redone at
//! most once per `CARRY / 2` records into it, and never wait for a
//! preempted owner (whose pending bit the reader resolves itself).
//!
//! **Shared counters** ([`Pages<Wide>`]) are `u64`s written by
//! `fetch_add`, for the threads without a lane.

use std::ptr;

use crate::sync::{ordering, AtomicPtr, AtomicU16, AtomicU64, Ordering};

/// log2 of the counters per page.
pub(crate) const PAGE_SHIFT: u32 = if cfg!(loom) { 1 } else { 6 };
/// Counters per page: 64 `u16`s, two cache lines.
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;

/// A narrow counter carries into its wide word when it would reach this.
pub(crate) const CARRY: u64 = if cfg!(loom) { 4 } else { 1 << 15 };
/// Records of this many samples or more go to the wide word directly, so
/// that a carried record adds less than `HALF` (see the module docs).
pub(crate) const HALF: u64 = CARRY / 2;

/// The wide word's pending bit (step 1 to step 3 of a carry).
const PENDING: u64 = 1 << 63;

/// A counter type of a page.
pub(crate) trait Cell: Sized {
    fn zero() -> Self;
}

/// A lane's `u16` counter (one writer at a time).
pub(crate) type Narrow = AtomicU16;
/// A shared `u64` counter (any writers).
pub(crate) type Wide = AtomicU64;

impl Cell for AtomicU16 {
    fn zero() -> Self {
        AtomicU16::new(0)
    }
}

impl Cell for AtomicU64 {
    fn zero() -> Self {
        AtomicU64::new(0)
    }
}

/// `PAGE` counters and, for narrow pages, their wide words once a carry
/// made them.
pub(crate) struct Page<C> {
    /// Which page of the layout: counters `no << PAGE_SHIFT ..`.
    no: usize,
    /// Narrow pages: the wide words (null until the first carry). Made and
    /// stored only by the lane's owner; published with Release.
    wide: AtomicPtr<[AtomicU64; PAGE]>,
    counts: [C; PAGE],
}

impl<C: Cell> Page<C> {
    fn new(no: usize) -> Box<Self> {
        Box::new(Page {
            no,
            wide: AtomicPtr::new(ptr::null_mut()),
            counts: std::array::from_fn(|_| C::zero()),
        })
    }
}

impl<C> Drop for Page<C> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, no other thread holds the page.
        let wide = self.wide.load(Ordering::Relaxed);
        if !wide.is_null() {
            // SAFETY:
            //  * a non-null `wide` was made by `Box::into_raw` in
            //    `wide_words` and is freed only here;
            //  * `&mut self`: no other reference to it is alive.
            drop(unsafe { Box::from_raw(wide) });
        }
    }
}

/// Bytes a narrow page costs with its wide words (for the registry's
/// accounting).
fn page_bytes<C>(page: &Page<C>) -> usize {
    // Relaxed: a statistic.
    let wide = !page.wide.load(Ordering::Relaxed).is_null();
    std::mem::size_of::<Page<C>>() + if wide { PAGE * 8 } else { 0 }
}

/// A set of pages: the first inline, the rest through a directory.
pub(crate) struct Pages<C> {
    first: AtomicPtr<Page<C>>,
    dir: AtomicPtr<Box<[AtomicPtr<Page<C>>]>>,
}

impl<C> Default for Pages<C> {
    fn default() -> Self {
        Pages {
            first: AtomicPtr::new(ptr::null_mut()),
            dir: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl<C: Cell> std::fmt::Debug for Pages<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("pages", &self.iter().count())
            .finish()
    }
}

/// Publishes `new` into `slot` if it is null: the page in `slot` after.
fn publish<T>(slot: &AtomicPtr<T>, new: Box<T>) -> &T {
    let new = Box::into_raw(new);
    // Release on success: the page's initialisation happens before any
    // Acquire load that finds it (`Relaxed` in the broken variant
    // `pages_publish_relaxed`). Acquire on failure: the winner's page is
    // read next.
    match slot.compare_exchange(
        ptr::null_mut(),
        new,
        ordering!(Release, broken "pages_publish_relaxed"),
        Ordering::Acquire,
    ) {
        // SAFETY: just made by `Box::into_raw`; freed only by the owner
        // of the `Pages` in `drop` (`&mut`), not while `&self` lives.
        Ok(_) => unsafe { &*new },
        Err(theirs) => {
            // SAFETY: `new` was never shared: the CAS failed.
            drop(unsafe { Box::from_raw(new) });
            // SAFETY: as above, for the winner's pointer.
            unsafe { &*theirs }
        }
    }
}

impl<C: Cell> Pages<C> {
    /// Page `no` of a layout of `pages` pages, made if absent.
    #[inline]
    pub(crate) fn page(&self, no: usize, pages: usize) -> &Page<C> {
        match self.find(no) {
            Some(page) => page,
            None => self.page_slow(no, pages),
        }
    }

    /// Page `no` if it has been made (`no` below the layout's pages).
    #[inline]
    pub(crate) fn find(&self, no: usize) -> Option<&Page<C>> {
        // Acquire (each load): pairs with `publish`'s Release, so a page
        // found is seen initialised.
        let dir = self.dir.load(Ordering::Acquire);
        if dir.is_null() {
            let first = self.first.load(Ordering::Acquire);
            // SAFETY: published by `publish`; freed only in `drop`.
            unsafe { first.as_ref() }.filter(|page| page.no == no)
        } else {
            // SAFETY: as above, for the directory.
            let found = unsafe { &*dir }[no].load(Ordering::Acquire);
            // SAFETY: as above.
            unsafe { found.as_ref() }
        }
    }

    #[cold]
    #[inline(never)]
    fn page_slow(&self, no: usize, pages: usize) -> &Page<C> {
        // Acquire: as in `page`.
        if self.first.load(Ordering::Acquire).is_null() {
            let page = publish(&self.first, Page::new(no));
            if page.no == no {
                return page;
            }
        }
        // Acquire: as in `page`.
        let mut dir = self.dir.load(Ordering::Acquire);
        if dir.is_null() {
            let new: Box<[AtomicPtr<Page<C>>]> = (0..pages)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect();
            // The first page is set (above) and never changes: copied in
            // before the directory is published (by `publish`'s Release),
            // so the directory alone finds every page (`Relaxed`: the
            // publication orders it). The broken variant
            // `pages_dir_without_first` leaves it out: a reader through the
            // directory misses the first page's counts.
            let first = self.first.load(Ordering::Acquire);
            if !crate::sync::broken!("pages_dir_without_first") {
                // SAFETY: non-null (set above), published, freed in `drop`.
                let first_no = unsafe { &*first }.no;
                new[first_no].store(first, Ordering::Relaxed);
            }
            dir = ptr::from_ref(publish(&self.dir, Box::new(new))).cast_mut();
        }
        // SAFETY: published by `publish`; freed only in `drop`.
        let dir = unsafe { &*dir };
        // Acquire: as in `page`.
        let found = dir[no].load(Ordering::Acquire);
        // SAFETY: as above.
        if let Some(page) = unsafe { found.as_ref() } {
            return page;
        }
        publish(&dir[no], Page::new(no))
    }

    /// The pages made so far, in page order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Page<C>> {
        // Acquire: as in `page`.
        let dir = self.dir.load(Ordering::Acquire);
        let first = if dir.is_null() {
            // SAFETY: as in `page`.
            unsafe { self.first.load(Ordering::Acquire).as_ref() }
        } else {
            None
        };
        // SAFETY: as in `page`.
        let dir = unsafe { dir.as_ref() }.map(|d| &d[..]).unwrap_or(&[]);
        first.into_iter().chain(
            dir.iter()
                // SAFETY: as in `page`.
                .filter_map(|slot| unsafe { slot.load(Ordering::Acquire).as_ref() }),
        )
    }

    /// Bytes held: pages, wide words and the directory.
    pub(crate) fn bytes(&self) -> usize {
        // Relaxed: a statistic.
        let dir = self.dir.load(Ordering::Relaxed);
        // SAFETY: as in `page`.
        let dir_bytes = unsafe { dir.as_ref() }.map_or(0, |d| d.len() * 8 + 16);
        dir_bytes + self.iter().map(page_bytes).sum::<usize>()
    }
}

impl<C> Drop for Pages<C> {
    fn drop(&mut self) {
        // Relaxed (each load): `&mut self`, no other thread holds them.
        let dir = self.dir.load(Ordering::Relaxed);
        let first = self.first.load(Ordering::Relaxed);
        if dir.is_null() {
            if !first.is_null() {
                // SAFETY: made by `Box::into_raw` in `publish`; freed only
                // here, with no reference left (`&mut self`).
                drop(unsafe { Box::from_raw(first) });
            }
            return;
        }
        // SAFETY: as above, for the directory.
        let dir = unsafe { Box::from_raw(dir) };
        for slot in dir.iter() {
            let page = slot.load(Ordering::Relaxed);
            if !page.is_null() {
                // SAFETY: as above; the first page is in the directory
                // (copied before its publication), so it is freed here,
                // once.
                drop(unsafe { Box::from_raw(page) });
            }
        }
        // The broken variant leaves the first page out of the directory.
        if crate::sync::broken!("pages_dir_without_first") && !first.is_null() {
            // SAFETY: as above; not in the directory in this variant.
            drop(unsafe { Box::from_raw(first) });
        }
    }
}

impl Page<Narrow> {
    /// The wide words, made (by the owner, the only writer) if absent.
    fn wide_words(&self) -> &[AtomicU64; PAGE] {
        // Relaxed: the owner made it (or a dead owner whose stores the
        // takeover's Acquire made visible).
        let wide = self.wide.load(Ordering::Relaxed);
        // SAFETY: freed only in `drop` (`&mut`).
        if let Some(wide) = unsafe { wide.as_ref() } {
            return wide;
        }
        let new = Box::into_raw(Box::new(std::array::from_fn(|_| AtomicU64::new(0))));
        // Release: a reader that finds the pointer (Acquire) sees the
        // words zeroed; the owner is the only writer, so no CAS.
        self.wide.store(new, Ordering::Release);
        // SAFETY: just made; freed only in `drop`.
        unsafe { &*new }
    }

    /// Adds `n` to counter `at`; the caller owns the lane.
    #[inline]
    pub(crate) fn add_owned(&self, at: usize, n: u64) {
        if !self.try_add_owned(at, n) {
            self.carry(at, n);
        }
    }

    /// [`add_owned`](Self::add_owned) if it needs no carry; `false`, with
    /// nothing stored, if it does.
    #[inline]
    pub(crate) fn try_add_owned(&self, at: usize, n: u64) -> bool {
        let cell = &self.counts[at];
        // Relaxed: the owner is the only writer, so it reads its own store.
        let now = u64::from(cell.load(Ordering::Relaxed)) + n;
        if n < HALF && now < CARRY {
            // Release: the count before the record's sum (registry reads).
            cell.store(now as u16, Ordering::Release);
            true
        } else {
            false
        }
    }

    /// `add_owned` past the narrow counter: a carry, or a large record.
    #[cold]
    #[inline(never)]
    fn carry(&self, at: usize, n: u64) {
        let cell = &self.counts[at];
        let word = &self.wide_words()[at];
        // Relaxed (both): the owner's own stores.
        let wide = word.load(Ordering::Relaxed);
        if n >= HALF {
            // One store: readers see the record whole or not at all.
            // Release: as in `add_owned`.
            word.store(wide + n, Ordering::Release);
            return;
        }
        let now = u64::from(cell.load(Ordering::Relaxed)) + n;
        // Release (steps 1-3): each store is seen only after the ones
        // before it (module docs: the reader's case analysis).
        if crate::sync::broken!("carry_without_pending") {
            word.store(wide + CARRY, Ordering::Release);
            cell.store((now - CARRY) as u16, Ordering::Release);
        } else {
            word.store((wide + CARRY) | PENDING, Ordering::Release);
            cell.store((now - CARRY) as u16, Ordering::Release);
            word.store(wide + CARRY, Ordering::Release);
        }
    }

    /// Every counter's value (module docs: the three loads, once a
    /// carry made the wide words).
    pub(crate) fn counts(&self) -> [u64; PAGE] {
        // Acquire: pairs with the owner's Release stores.
        let narrow: [u64; PAGE] =
            std::array::from_fn(|j| u64::from(self.counts[j].load(Ordering::Acquire)));
        // Acquire: if a count above came after a carry, the wide words it
        // followed are found (their Release publication came first).
        let wide = self.wide.load(Ordering::Acquire);
        // SAFETY: freed only in `drop` (`&mut`).
        match unsafe { wide.as_ref() } {
            None => narrow,
            Some(wide) => std::array::from_fn(|j| Self::count_with(&self.counts[j], &wide[j])),
        }
    }

    /// Counter `at`'s value (module docs: the three loads).
    #[cfg(test)]
    pub(crate) fn count(&self, at: usize) -> u64 {
        // Acquire: as in `counts`.
        let narrow = self.counts[at].load(Ordering::Acquire);
        // Acquire: as in `counts`.
        let wide = self.wide.load(Ordering::Acquire);
        // SAFETY: freed only in `drop` (`&mut`).
        match unsafe { wide.as_ref() } {
            None => u64::from(narrow),
            Some(wide) => Self::count_with(&self.counts[at], &wide[at]),
        }
    }

    /// A counter's value from its `u16` and its wide word.
    fn count_with(cell: &Narrow, word: &AtomicU64) -> u64 {
        loop {
            // Acquire (all three): each pairs with the store it reads, so
            // what the owner stored before it is seen (module docs).
            let before = word.load(Ordering::Acquire);
            let narrow = u64::from(cell.load(Ordering::Acquire));
            let after = word.load(Ordering::Acquire);
            if before != after {
                crate::sync::spin_wait();
                continue;
            }
            let value = before & !PENDING;
            if before & PENDING != 0 && narrow >= HALF {
                return value - CARRY + narrow;
            }
            return value + narrow;
        }
    }

    /// Counter `at`'s value as its owner sees it (its own stores).
    pub(crate) fn owned_count(&self, at: usize) -> u64 {
        // Relaxed (both): the owner's own stores; no carry is pending
        // outside the owner's `carry`.
        let wide = self.wide.load(Ordering::Relaxed);
        // SAFETY: freed only in `drop` (`&mut`).
        let wide = unsafe { wide.as_ref() }.map_or(0, |w| w[at].load(Ordering::Relaxed));
        wide + u64::from(self.counts[at].load(Ordering::Relaxed))
    }
}

impl<C> Page<C> {
    /// The first counter's index in the layout.
    pub(crate) fn start(&self) -> usize {
        self.no << PAGE_SHIFT
    }
}

impl Page<Wide> {
    /// Adds `n` to counter `at`; returns the value before.
    #[inline]
    pub(crate) fn add_shared(&self, at: usize, n: u64) -> u64 {
        // Release: the count before the record's sum (registry reads).
        self.counts[at].fetch_add(n, Ordering::Release)
    }

    /// Adds what keeps counter `at` at most `cap` of `n`: (before, kept).
    pub(crate) fn add_shared_capped(&self, at: usize, n: u64, cap: u64) -> (u64, u64) {
        if crate::sync::broken!("histogram_cap_not_atomic") {
            // Broken on purpose, for the loom models to catch: a load and
            // a store, so that a record racing with this one is lost,
            // neither counted nor cut.
            let cell = &self.counts[at];
            // Relaxed: broken on purpose.
            let old = cell.load(Ordering::Relaxed);
            cell.store(old + n.min(cap.saturating_sub(old)), Ordering::Release);
            return (old, n.min(cap.saturating_sub(old)));
        }
        // Release on success: as in `add_shared`. Relaxed on failure:
        // nothing is written, the next try loads again.
        let (Ok(old) | Err(old)) =
            self.counts[at].fetch_update(Ordering::Release, Ordering::Relaxed, |count| {
                let kept = n.min(cap.saturating_sub(count));
                (kept != 0).then(|| count + kept)
            });
        (old, n.min(cap.saturating_sub(old)))
    }

    /// Every counter's value.
    pub(crate) fn counts(&self) -> [u64; PAGE] {
        // Acquire: pairs with the records' Release.
        std::array::from_fn(|j| self.counts[j].load(Ordering::Acquire))
    }

    /// Counter `at`'s value.
    #[cfg(test)]
    pub(crate) fn count(&self, at: usize) -> u64 {
        // Acquire: pairs with the records' Release.
        self.counts[at].load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn narrow_counters_carry_exactly() {
        let pages = Pages::<Narrow>::default();
        let page = pages.page(3, 8);
        let mut want = 0;
        for n in [1, 7, HALF - 1, HALF, 3 * CARRY + 5, 1, 255] {
            for _ in 0..5 {
                page.add_owned(2, n);
                want += n;
                assert_eq!(page.count(2), want);
                assert_eq!(page.owned_count(2), want);
            }
        }
        for _ in 0..3 * CARRY {
            page.add_owned(5, 1);
        }
        assert_eq!(page.count(5), 3 * CARRY);
        assert_eq!(page.count(4), 0);
    }

    #[test]
    fn pages_are_found_again_and_listed_in_order() {
        let pages = Pages::<Wide>::default();
        for no in [5, 2, 7, 5, 0] {
            pages.page(no, 8).add_shared(1, no as u64 + 1);
        }
        let seen: Vec<_> = pages.iter().map(|p| (p.start(), p.count(1))).collect();
        assert_eq!(
            seen,
            [
                (0, 1),
                (2 << PAGE_SHIFT, 3),
                (5 << PAGE_SHIFT, 12),
                (7 << PAGE_SHIFT, 8)
            ]
        );
        assert!(pages.bytes() >= 4 * std::mem::size_of::<Page<Wide>>());
    }
}
