//! Candidate storage: sparse octave pages of u32 counters (scale 6: 64 u16 per
//! octave = 128 B), lazily allocated and published by CAS; an owner lane
//! (plain load+store) claimed by CAS of a thread token; shared cells (RMW)
//! for foreigners; up to 3 extra lanes claimed on probes (selective spread).
use crate::index::Exp;
use crate::token;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU16, AtomicU64, AtomicUsize, Ordering::*};

pub const S: u32 = 6;
pub const PER: usize = 1 << S;
pub const OCTAVES: usize = 65;
/// The zero bucket lives in octave 64, slot 1 (never an exponential index).
pub const ZERO: u32 = (64 << S) + 1;
pub const PROBE: u16 = 1024;
/// Prototype switch: foreigners never get lanes (to measure the fallback).
pub static NO_LANES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Prototype switch: take over a dead owner on any foreign record (true) or
/// only at a probe (false, as in runs 1-2 of `mt many`).
pub static TAKEOVER_EVERY_RECORD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub static BYTES: AtomicUsize = AtomicUsize::new(0);

#[repr(C, align(128))]
pub struct Page {
    pub c: [AtomicU16; PER],
}
struct Dir {
    p: [AtomicPtr<Page>; OCTAVES],
}

fn alloc_zeroed<T>() -> *mut T {
    BYTES.fetch_add(std::mem::size_of::<T>(), Relaxed);
    // SAFETY (prototype): all-zero is a valid T (atomics, null pointers).
    unsafe { std::alloc::alloc_zeroed(std::alloc::Layout::new::<T>()) as *mut T }
}
unsafe fn free<T>(p: *mut T) {
    BYTES.fetch_sub(std::mem::size_of::<T>(), Relaxed);
    std::alloc::dealloc(p as *mut u8, std::alloc::Layout::new::<T>())
}

/// One writer class's counters: the first octave's page inline (pointer |
/// octave in the low 7 bits), the rest through a directory made on the
/// second octave.
#[derive(Default)]
pub struct Cells {
    first: AtomicUsize,
    dir: AtomicPtr<Dir>,
}

impl Cells {
    #[inline(always)]
    pub fn page(&self, oct: usize) -> &Page {
        // Acquire: pairs with the Release CASes that published dir/page.
        let d = self.dir.load(Acquire);
        if !d.is_null() {
            // SAFETY: published directory, freed only in Drop (&mut).
            let p = unsafe { (*d).p.get_unchecked(oct) }.load(Acquire);
            if !p.is_null() {
                return unsafe { &*p };
            }
        } else {
            let w = self.first.load(Acquire);
            if w & 127 == oct && w > 127 {
                // SAFETY: published page, freed only in Drop (&mut).
                return unsafe { &*((w & !127) as *const Page) };
            }
        }
        self.page_slow(oct)
    }
    #[cold]
    #[inline(never)]
    fn page_slow(&self, oct: usize) -> &Page {
        let w = self.first.load(Acquire);
        if w == 0 {
            let p = alloc_zeroed::<Page>();
            match self.first.compare_exchange(0, p as usize | oct, AcqRel, Acquire) {
                Ok(_) => return unsafe { &*p },
                Err(now) => {
                    unsafe { free(p) };
                    if now & 127 == oct {
                        return unsafe { &*((now & !127) as *const Page) };
                    }
                }
            }
        }
        let mut d = self.dir.load(Acquire);
        if d.is_null() {
            let n = alloc_zeroed::<Dir>();
            // The first page goes into the directory before it is published
            // (`first` never changes once set, and is set: w != 0 here).
            let w = self.first.load(Acquire);
            unsafe { (*n).p[w & 127].store((w & !127) as *mut Page, Relaxed) };
            d = match self.dir.compare_exchange(ptr::null_mut(), n, AcqRel, Acquire) {
                Ok(_) => n,
                Err(now) => {
                    unsafe { free(n) };
                    now
                }
            };
        }
        let slot = unsafe { &(*d).p[oct] };
        let p = slot.load(Acquire);
        if !p.is_null() {
            return unsafe { &*p };
        }
        let n = alloc_zeroed::<Page>();
        match slot.compare_exchange(ptr::null_mut(), n, AcqRel, Acquire) {
            Ok(_) => unsafe { &*n },
            Err(now) => {
                unsafe { free(n) };
                unsafe { &*now }
            }
        }
    }
    #[inline(always)]
    pub fn add_owned(&self, k: u32) {
        let c = &self.page(k as usize >> S).c[k as usize & (PER - 1)];
        // Relaxed load+store: this lane's only writer (the owner).
        let n = c.load(Relaxed).wrapping_add(1);
        c.store(n, Release);
        if n >> 15 != 0 {
            spill();
        }
    }
    #[inline(always)]
    pub fn add_shared(&self, k: u32) -> u16 {
        let c = &self.page(k as usize >> S).c[k as usize & (PER - 1)];
        let old = c.fetch_add(1, Release);
        if old.wrapping_add(1) >> 15 != 0 {
            spill();
        }
        old
    }
    /// (octave, page) pairs published so far.
    pub fn pages(&self) -> Vec<(usize, &Page)> {
        let mut v = Vec::new();
        let d = self.dir.load(Acquire);
        if d.is_null() {
            let w = self.first.load(Acquire);
            if w != 0 {
                v.push((w & 127, unsafe { &*((w & !127) as *const Page) }));
            }
        } else {
            for (o, s) in unsafe { &(*d).p }.iter().enumerate() {
                let p = s.load(Acquire);
                if !p.is_null() {
                    v.push((o, unsafe { &*p }));
                }
            }
        }
        v
    }
    pub fn read_into(&self, out: &mut [u64]) {
        for (o, p) in self.pages() {
            for (i, c) in p.c.iter().enumerate() {
                out[o * PER + i] += u64::from(c.load(Acquire));
            }
        }
    }
}
impl Drop for Cells {
    fn drop(&mut self) {
        let w = *self.first.get_mut();
        let d = *self.dir.get_mut();
        if d.is_null() && w != 0 {
            unsafe { free((w & !127) as *mut Page) };
        }
        if !d.is_null() {
            for s in unsafe { &mut (*d).p }.iter_mut() {
                let p = *s.get_mut();
                if !p.is_null() {
                    unsafe { free(p) };
                }
            }
            unsafe { free(d) };
        }
    }
}

#[cold]
#[inline(never)]
fn spill() {
    // The carry protocol (DESIGN.md, counter width) is modelled, not built,
    // in the prototype: no benchmark reaches 2^31 in one counter.
    unimplemented!("spill")
}

#[derive(Default)]
#[repr(align(64))]
pub struct Lane {
    pub tok: AtomicU64,
    pub sum: AtomicU64,
    pub cells: Cells,
}
impl Lane {
    #[inline(always)]
    fn record(&self, k: u32, v: u64) {
        self.cells.add_owned(k);
        // Relaxed load + store: single writer. Modulo 2^64, as today.
        self.sum.store(self.sum.load(Relaxed).wrapping_add(v), Release);
    }
}

/// The candidate series. `P` = 0: one 64-byte line (the owner's sum shares
/// the line every foreigner reads); `P` = 2: 128 bytes, the read-mostly words
/// on line 0 and the two sums on line 1.
#[repr(C, align(64))]
pub struct HistP<const P: usize> {
    tok: AtomicU64,
    own: Cells,
    shared: Cells,
    extra: AtomicPtr<[Lane; 3]>,
    _pad: [u64; P],
    sum: AtomicU64,
    shared_sum: AtomicU64,
}
pub type Hist = HistP<0>;
pub type HistPadded = HistP<2>;

impl<const P: usize> Default for HistP<P> {
    fn default() -> Self {
        HistP { tok: AtomicU64::new(0), own: Cells::default(), shared: Cells::default(), extra: AtomicPtr::default(), _pad: [0; P], sum: AtomicU64::new(0), shared_sum: AtomicU64::new(0) }
    }
}

impl<const P: usize> HistP<P> {
    #[inline(always)]
    fn own_record(&self, k: u32, v: u64) {
        self.own.add_owned(k);
        self.sum.store(self.sum.load(Relaxed).wrapping_add(v), Release);
    }
    #[inline(always)]
    pub fn record(&self, ix: &Exp, v: u64) {
        let k = if v == 0 { ZERO } else { ix.index(v) };
        let t = token::token();
        // Relaxed: a hint; the claim is the CAS (Acquire) below.
        let o = self.tok.load(Relaxed);
        if o == t {
            self.own_record(k, v);
        } else {
            self.record_other(k, v, t, o);
        }
    }
    #[inline(never)]
    fn record_other(&self, k: u32, v: u64, t: u64, o: u64) {
        if o == 0 && self.tok.compare_exchange(0, t, Acquire, Relaxed).is_ok() {
            return self.own_record(k, v);
        }
        // A dead owner's lane is taken over on the first foreign record (one
        // Acquire load of its liveness word), not at the next probe: with
        // short-lived threads, series otherwise stay on shared RMWs.
        if o != 0 && TAKEOVER_EVERY_RECORD.load(Relaxed) && token::dead(o) && self.tok.compare_exchange(o, t, AcqRel, Relaxed).is_ok() {
            return self.own_record(k, v);
        }
        let x = self.extra.load(Acquire);
        if !x.is_null() {
            for l in unsafe { &*x } {
                if l.tok.load(Relaxed) == t {
                    return l.record(k, v);
                }
            }
        }
        self.shared.add_shared(k);
        let old = self.shared_sum.fetch_add(v, Relaxed);
        // The crate's sum rule: probe when the sum crosses a multiple of
        // PROBE << log2(v): about every PROBE/2..PROBE like records.
        if (old ^ old.wrapping_add(v)) >> (10 + (v | 1).ilog2()) != 0 {
            self.probe(t, o);
        }
    }
    #[cold]
    fn probe(&self, t: u64, o: u64) {
        // A dead owner's lane is taken over (Acquire in `dead` orders its
        // last stores before ours).
        if o != 0 && token::dead(o) && self.tok.compare_exchange(o, t, AcqRel, Relaxed).is_ok() {
            return;
        }
        if NO_LANES.load(Relaxed) {
            return;
        }
        let mut x = self.extra.load(Acquire);
        if x.is_null() {
            let n = alloc_zeroed::<[Lane; 3]>();
            x = match self.extra.compare_exchange(ptr::null_mut(), n, AcqRel, Acquire) {
                Ok(_) => n,
                Err(now) => {
                    unsafe { free(n) };
                    now
                }
            };
        }
        for l in unsafe { &*x } {
            let lt = l.tok.load(Relaxed);
            if (lt == 0 || token::dead(lt)) && l.tok.compare_exchange(lt, t, AcqRel, Relaxed).is_ok() {
                return;
            }
        }
    }
    /// Buckets (dense, for the prototype's checks) and the sum.
    pub fn read(&self) -> (Vec<u64>, u64) {
        let mut b = vec![0u64; OCTAVES * PER];
        self.own.read_into(&mut b);
        self.shared.read_into(&mut b);
        let mut sum = self.sum.load(Acquire).wrapping_add(self.shared_sum.load(Relaxed));
        let x = self.extra.load(Acquire);
        if !x.is_null() {
            for l in unsafe { &*x } {
                l.cells.read_into(&mut b);
                sum = sum.wrapping_add(l.sum.load(Acquire));
            }
        }
        (b, sum)
    }
    pub fn count(&self) -> u64 {
        self.read().0.iter().sum()
    }
    pub fn owner(&self) -> u64 {
        self.tok.load(Relaxed)
    }
    pub fn has_lanes(&self) -> bool {
        !self.extra.load(Relaxed).is_null()
    }
    pub fn pages(&self) -> usize {
        let mut n = self.own.pages().len() + self.shared.pages().len();
        let x = self.extra.load(Acquire);
        if !x.is_null() {
            for l in unsafe { &*x } {
                n += l.cells.pages().len();
            }
        }
        n
    }
}
impl<const P: usize> Drop for HistP<P> {
    fn drop(&mut self) {
        let x = *self.extra.get_mut();
        if !x.is_null() {
            unsafe {
                ptr::drop_in_place(x);
                free(x);
            }
        }
    }
}

/// Candidate (a): the crate's shared path today: a dense HDR array of
/// AtomicU64, fetch_add bucket + fetch_add sum.
pub struct Dense {
    pub hdr: crate::index::Hdr,
    c: Box<[AtomicU64]>,
    sum: crossbeam_utils::CachePadded<AtomicU64>,
}
impl Dense {
    pub fn new(hdr: crate::index::Hdr) -> Self {
        let c = (0..hdr.len).map(|_| AtomicU64::new(0)).collect();
        Dense { hdr, c, sum: Default::default() }
    }
    #[inline(always)]
    pub fn record(&self, v: u64) {
        self.c[self.hdr.index(v)].fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.c.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// Candidate (a'): shared paged exponential cells (every record an RMW).
#[derive(Default)]
pub struct SharedPaged {
    cells: Cells,
    sum: AtomicU64,
}
impl SharedPaged {
    #[inline(always)]
    pub fn record(&self, ix: &Exp, v: u64) {
        let k = if v == 0 { ZERO } else { ix.index(v) };
        self.cells.add_shared(k);
        self.sum.fetch_add(v, Relaxed);
    }
}

/// Candidate (c): per-thread paged cells per series via thread_local.
#[derive(Default)]
pub struct Tls {
    tl: thread_local::ThreadLocal<Lane>,
}
impl Tls {
    #[inline(always)]
    pub fn record(&self, ix: &Exp, v: u64) {
        let k = if v == 0 { ZERO } else { ix.index(v) };
        self.tl.get_or_default().record(k, v);
    }
    pub fn count(&self) -> u64 {
        let mut b = vec![0u64; OCTAVES * PER];
        for l in self.tl.iter() {
            l.cells.read_into(&mut b);
        }
        b.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn exact_counts_one_and_two_threads() {
        let ix = Exp::new(S);
        let h = Hist::default();
        let vals = crate::log_uniform(4096, 1e3, 1e10, 3);
        for i in 0..100_000 { h.record(&ix, vals[i % 4096]); }
        h.record(&ix, 0);
        assert_eq!(h.count(), 100_001);
        std::thread::scope(|s| {
            for _ in 0..2 { s.spawn(|| for i in 0..200_000 { h.record(&ix, vals[i % 4096]) }); }
        });
        assert_eq!(h.count(), 500_001);
        let want: u64 = (0..100_000).map(|i| vals[i % 4096]).sum::<u64>() + 2 * (0..200_000).map(|i| vals[i % 4096]).sum::<u64>();
        assert_eq!(h.read().1, want);
        assert!(h.has_lanes(), "foreigners were given lanes");
        // dead owner: lane0's thread exits; a new thread takes it over on a probe
        let h2 = Hist::default();
        std::thread::spawn({ let h2 = &h2 as *const Hist as usize; let ix = &ix as *const Exp as usize; move || unsafe { (*(h2 as *const Hist)).record(&*(ix as *const Exp), 5) } }).join().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        for _ in 0..5000 { h2.record(&ix, 5); }
        assert_eq!(h2.owner(), token::token(), "took over the dead owner");
        assert_eq!(h2.count(), 5001);
    }
}

/// Experiment only (not a candidate: 584 B before any page): the directory
/// inline in the header, so a record walks header -> page (no directory hop).
/// Owner-only; measures what removing one dependent load is worth.
#[repr(C, align(64))]
pub struct InlineDir {
    tok: AtomicU64,
    sum: AtomicU64,
    p: [AtomicPtr<Page>; OCTAVES],
}
impl Default for InlineDir {
    fn default() -> Self {
        InlineDir { tok: AtomicU64::new(0), sum: AtomicU64::new(0), p: [const { AtomicPtr::new(ptr::null_mut()) }; OCTAVES] }
    }
}
impl InlineDir {
    #[inline(always)]
    pub fn record(&self, ix: &Exp, v: u64) {
        let k = if v == 0 { ZERO } else { ix.index(v) };
        let t = token::token();
        if self.tok.load(Relaxed) != t {
            assert!(self.tok.compare_exchange(0, t, Acquire, Relaxed).is_ok() || self.tok.load(Relaxed) == t, "owner-only experiment");
        }
        let slot = &self.p[k as usize >> S];
        let mut p = slot.load(Acquire);
        if p.is_null() {
            p = alloc_zeroed::<Page>();
            slot.store(p, Release);
        }
        let c = unsafe { &(*p).c[k as usize & (PER - 1)] };
        c.store(c.load(Relaxed).wrapping_add(1), Release);
        self.sum.store(self.sum.load(Relaxed).wrapping_add(v), Release);
    }
    pub fn count(&self) -> u64 {
        self.p.iter().map(|s| s.load(Acquire)).filter(|p| !p.is_null()).map(|p| unsafe { &*p }.c.iter().map(|c| u64::from(c.load(Relaxed))).sum::<u64>()).sum()
    }
}
