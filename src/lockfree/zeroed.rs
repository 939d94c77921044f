//! Zero-initialised arrays of atomic words that cost memory only where
//! they are written.
//!
//! An array of at least a page comes from its own anonymous mapping
//! (`mmap`, through `memmap2`): the kernel maps every page to the shared
//! zero page until its first write, so a shard whose thread records a few
//! values makes a few pages resident, not its whole histogram. The
//! allocator cannot promise that: glibc's `calloc` in a thread's arena
//! clears recycled and previously grown memory with `memset`, which made
//! almost all of a shard resident on its first record. Smaller arrays come
//! from the allocator (`alloc_zeroed`), where a page each would waste more
//! than it saves. Under loom, the words are loom's atomics, constructed.
//!
//! Either way the words start on a 128-byte boundary (a page, or the first
//! line boundary within the allocation), so an array shares no cache line
//! pair with other data.

use std::ops::Deref;

use crate::sync::AtomicU64;

/// Bytes in a line: a pair of 64-byte cache lines.
#[cfg(not(loom))]
pub(crate) const LINE_BYTES: usize = 128;
/// Arrays at least this large get their own mapping.
#[cfg(not(loom))]
const PAGE_BYTES: usize = 4096;

/// `len` atomic words, all zero, line-aligned (see the module docs).
pub(crate) struct ZeroedWords {
    /// The first word: `len` of them, inside `storage`, for its lifetime.
    /// Kept apart from `storage` so that indexing is one bounds check and
    /// one load, whatever the storage.
    #[cfg(not(loom))]
    ptr: std::ptr::NonNull<AtomicU64>,
    len: usize,
    #[cfg(not(loom))]
    storage: Storage,
    #[cfg(loom)]
    words: Box<[AtomicU64]>,
}

#[cfg(not(loom))]
enum Storage {
    /// From `alloc_zeroed` (a `Box<[AtomicU64]>` turned into its raw
    /// pointer, so that no `Box` asserts unique access while `ptr` is
    /// used); freed in `drop`.
    Heap(std::ptr::NonNull<[AtomicU64]>),
    /// An anonymous mapping of `8 * len` bytes: page-aligned, zero until
    /// written, and never touched through anything but atomics. Held only
    /// to be unmapped when dropped.
    Pages { _map: memmap2::MmapMut },
}

// SAFETY: a `ZeroedWords` owns its words (the pointers point into storage
// nothing else holds) and gives out only `&AtomicU64`, which is `Send`.
#[cfg(not(loom))]
unsafe impl Send for ZeroedWords {}
// SAFETY: shared access reaches only `AtomicU64`s, which are `Sync`.
#[cfg(not(loom))]
unsafe impl Sync for ZeroedWords {}

#[cfg(not(loom))]
impl Drop for ZeroedWords {
    fn drop(&mut self) {
        if let Storage::Heap(heap) = self.storage {
            // SAFETY: `heap` came from `Box::into_raw` in `new`, is freed
            // only here, once, and no borrow of the words outlives `self`.
            drop(unsafe { Box::from_raw(heap.as_ptr()) });
        }
    }
}

impl ZeroedWords {
    /// `len` words at zero.
    ///
    /// # Panics
    ///
    /// If the memory cannot be had (as `Vec` does when an allocation
    /// fails): an array larger than the address space, or an allocation
    /// the allocator refuses after the kernel refused a mapping.
    #[cfg(not(loom))]
    pub(crate) fn new(len: usize) -> Self {
        use std::ptr::NonNull;
        let bytes = len.checked_mul(8).expect("word array too large");
        // A refused mapping (the process's `vm.max_map_count`, say, with
        // tens of thousands of series) falls back to the allocator.
        if let Some(mut map) = (bytes >= PAGE_BYTES)
            .then(|| memmap2::MmapMut::map_anon(bytes).ok())
            .flatten()
        {
            let ptr = NonNull::new(map.as_mut_ptr().cast::<AtomicU64>())
                .expect("a mapping is never at address 0");
            return ZeroedWords {
                ptr,
                len,
                storage: Storage::Pages { _map: map },
            };
        }
        // Enough extra words that a line boundary falls in the first
        // `PER_LINE - 1` of them.
        const PER_LINE: usize = LINE_BYTES / 8;
        let heap = NonNull::from(Box::leak(heap_zeroed(len + PER_LINE - 1)));
        let first = heap.cast::<AtomicU64>();
        // Should `align_offset` find no boundary, the words are merely
        // unaligned.
        let start = first.as_ptr().align_offset(LINE_BYTES).min(PER_LINE - 1);
        ZeroedWords {
            // SAFETY: `start + len` words fit in the allocation, so the
            // offset stays inside it.
            ptr: unsafe { first.add(start) },
            len,
            storage: Storage::Heap(heap),
        }
    }

    /// `len` words at zero (loom's atomics, constructed one by one).
    #[cfg(loom)]
    pub(crate) fn new(len: usize) -> Self {
        ZeroedWords {
            len,
            words: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Deref for ZeroedWords {
    type Target = [AtomicU64];

    #[inline]
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY:
        //  * `ptr` points to `len` consecutive words, aligned for
        //    `AtomicU64`, inside `storage` (a page-aligned mapping of
        //    `8 * len` bytes, or a heap array of `start + len` words),
        //    which lives, unmoved, until `self` drops (the borrow of `self`
        //    bounds the slice);
        //  * every word was zero-filled (by the kernel or the allocator),
        //    and all-zero bits are a valid `AtomicU64` holding 0;
        //  * the words are only ever accessed as these `AtomicU64`s,
        //    through shared references (`MmapMut`'s own byte views are
        //    never taken), so nothing non-atomic aliases them.
        #[cfg(not(loom))]
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)
        }
        #[cfg(loom)]
        {
            &self.words
        }
    }
}

impl std::fmt::Debug for ZeroedWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZeroedWords({})", self.len)
    }
}

/// `n` zero words from the allocator: `alloc_zeroed` at `AtomicU64`'s
/// alignment is `calloc`.
#[cfg(not(loom))]
fn heap_zeroed(n: usize) -> Box<[AtomicU64]> {
    use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};

    let layout = Layout::array::<AtomicU64>(n).expect("word array too large");
    if layout.size() == 0 {
        return Box::default();
    }
    // SAFETY: `layout` has a nonzero size.
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<AtomicU64>();
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY:
    //  * `ptr` comes from the global allocator with the layout of
    //    `[AtomicU64; n]`, the layout `Box<[AtomicU64]>` frees it with;
    //  * every byte is zero, and `AtomicU64` has the same in-memory
    //    representation as `u64`, so all-zero bits are a valid `AtomicU64`
    //    holding 0: all `n` elements are initialised;
    //  * nothing else owns or aliases the allocation.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering;

    #[test]
    fn every_size_is_zero_aligned_and_writable() {
        for len in [0, 1, 15, 16, 17, 511, 512, 513, 10_000] {
            let words = ZeroedWords::new(len);
            assert_eq!(words.len(), len);
            if len > 0 {
                assert_eq!(words.as_ptr() as usize % LINE_BYTES, 0, "len {len}");
            }
            assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
            for (i, w) in words.iter().enumerate() {
                w.store(i as u64, Ordering::Relaxed);
            }
            assert!(words
                .iter()
                .enumerate()
                .all(|(i, w)| w.load(Ordering::Relaxed) == i as u64));
        }
    }
}
