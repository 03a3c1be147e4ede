//! Which 16-byte granules of a heap are taken: the heap's bookkeeping, kept outside the
//! heap's memory so that the allocator never reads or writes the blocks it hands out.

use crate::mem::bitmap::{all_set, count_set, find_clear_run, set_run};

/// The unit the heap hands out, in bytes, and the alignment every block has.
pub const GRANULE: usize = 16;
/// Granules in a 4 KiB page.
pub const PER_PAGE: usize = 4096 / GRANULE;
/// The largest alignment a block can have: the heap's region starts on a 2 MiB boundary.
pub const MAX_ALIGN: usize = 0x20_0000;

/// A bit per granule of a heap of `PAGES` pages: set while the granule is in a block.
#[derive(Clone, Debug)]
pub struct Granules<const PAGES: usize> {
    bits: [[u64; PER_PAGE / 64]; PAGES],
}

impl<const PAGES: usize> Granules<PAGES> {
    /// All free.
    pub const fn new() -> Self {
        Self { bits: [[0; PER_PAGE / 64]; PAGES] }
    }

    /// Where (in bytes from the heap's start) the first free block of `size` bytes aligned
    /// to `align` starts; nothing is taken yet. `None` if there is no such block, or
    /// `align` is more than [`MAX_ALIGN`].
    pub fn find(&self, size: usize, align: usize) -> Option<usize> {
        if align > MAX_ALIGN {
            return None;
        }
        let count = granules(size);
        let align = align.div_ceil(GRANULE).max(1);
        let first = find_clear_run(self.bits.as_flattened(), PAGES * PER_PAGE, count, align)?;
        Some(first * GRANULE)
    }

    /// Takes the block of `size` bytes at `offset` that [`find`](Self::find) found.
    pub fn take(&mut self, offset: usize, size: usize) {
        set_run(self.bits.as_flattened_mut(), offset / GRANULE, granules(size), true);
    }

    /// Frees the block of `size` bytes at `offset`; `false` (and nothing freed) if that is
    /// not wholly taken: not a block of this heap, or freed already.
    pub fn free(&mut self, offset: usize, size: usize) -> bool {
        let (first, count) = (offset / GRANULE, granules(size));
        let inside = first.checked_add(count).is_some_and(|end| end <= PAGES * PER_PAGE);
        if !offset.is_multiple_of(GRANULE)
            || !inside
            || !all_set(self.bits.as_flattened(), first, count)
        {
            return false;
        }
        set_run(self.bits.as_flattened_mut(), first, count, false);
        true
    }

    /// Bytes in taken granules.
    pub fn used_bytes(&self) -> usize {
        count_set(self.bits.as_flattened()) * GRANULE
    }
}

/// The granules a block of `size` bytes covers: at least one, so that every block has an
/// address of its own.
fn granules(size: usize) -> usize {
    size.div_ceil(GRANULE).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_granules_first_fit() {
        let mut heap = Granules::<2>::new();
        let a = heap.find(1, 1).unwrap();
        heap.take(a, 1);
        let b = heap.find(40, 8).unwrap();
        heap.take(b, 40);
        assert_eq!((a, b), (0, 16));
        assert_eq!(heap.used_bytes(), 16 + 48);
        assert_eq!(heap.find(0, 1), Some(64), "an empty block still gets a granule");
        assert_eq!(heap.find(16, 64), Some(64));
        assert_eq!(heap.find(8, 128), Some(128));
        assert!(heap.free(a, 1));
        assert_eq!(heap.find(16, 1), Some(0), "freed granules come back");
    }

    #[test]
    fn blocks_span_pages_until_the_heap_is_full() {
        let mut heap = Granules::<2>::new();
        let big = heap.find(4096 + 16, 16).unwrap();
        heap.take(big, 4096 + 16);
        assert_eq!(heap.find(4096, 4096), None, "one page is left, less a granule");
        assert_eq!(heap.find(4096 - 16, 1), Some(4096 + 16));
        assert_eq!(heap.find(1, MAX_ALIGN * 2), None);
        assert_eq!(heap.find(usize::MAX, 1), None);
    }

    #[test]
    fn bad_frees_change_nothing() {
        let mut heap = Granules::<1>::new();
        heap.take(32, 32);
        assert!(!heap.free(0, 16), "never taken");
        assert!(!heap.free(40, 16), "not on a granule");
        assert!(!heap.free(32, 4096), "past the block");
        assert!(!heap.free(usize::MAX - 15, 16), "past the heap");
        assert_eq!(heap.used_bytes(), 32);
        assert!(heap.free(32, 32));
        assert!(!heap.free(32, 32), "freed twice");
        assert_eq!(heap.used_bytes(), 0);
    }
}
