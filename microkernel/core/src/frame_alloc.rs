//! The kernel's boot-time frame allocator.
//!
//! Before user space exists the kernel needs a few frames (its own page tables, the root
//! task's image and stack). It carves them from the low end of the free ranges; whatever is
//! left is what user space will later own as untyped memory.

use crate::memory::{PAGE_SIZE, PhysRange};
use crate::range_set::RangeSet;

/// The most free ranges the boot allocator tracks.
pub const MAX_FREE_RANGES: usize = 64;

/// Hands out 4 KiB frames from a set of free ranges, lowest address first.
#[derive(Clone, Debug)]
pub struct BootFrameAllocator {
    free: RangeSet<MAX_FREE_RANGES>,
    handed_out: u64,
}

impl BootFrameAllocator {
    /// An allocator over `free`, trimmed to whole frames.
    pub fn new(mut free: RangeSet<MAX_FREE_RANGES>) -> Self {
        free.align_inward(PAGE_SIZE);
        Self { free, handed_out: 0 }
    }

    /// The lowest free frame, taken out of the free set.
    pub fn allocate(&mut self) -> Option<u64> {
        let frame = self.free.as_slice().first()?.start;
        self.free.remove(PhysRange::from_start_len(frame, PAGE_SIZE)).ok()?;
        self.handed_out += 1;
        Some(frame)
    }

    /// The lowest free block of `2^size_bits` bytes aligned to its size (at least a page),
    /// taken out of the free set: for objects the kernel creates at boot that span
    /// several frames.
    pub fn allocate_aligned(&mut self, size_bits: u8) -> Option<u64> {
        let size = 1u64.checked_shl(u32::from(size_bits.max(12)))?;
        let base = self.free.as_slice().iter().find_map(|range| {
            let base = crate::memory::align_up(range.start, size);
            (base.checked_add(size)? <= range.end).then_some(base)
        })?;
        self.free.remove(PhysRange::from_start_len(base, size)).ok()?;
        self.handed_out += size / PAGE_SIZE;
        Some(base)
    }

    /// How many frames were handed out so far.
    pub fn frames_handed_out(&self) -> u64 {
        self.handed_out
    }

    /// The memory not handed out.
    pub fn remaining(&self) -> &[PhysRange] {
        self.free.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_aligned_distinct_and_inside_free_memory() {
        let mut free = RangeSet::new();
        free.insert(PhysRange::new(0x1800, 0x4000)).unwrap();
        free.insert(PhysRange::new(0x10000, 0x12000)).unwrap();
        let mut allocator = BootFrameAllocator::new(free);
        let frames: Vec<_> = core::iter::from_fn(|| allocator.allocate()).collect();
        assert_eq!(frames, [0x2000, 0x3000, 0x10000, 0x11000]);
        assert_eq!(allocator.frames_handed_out(), 4);
        assert!(allocator.remaining().is_empty());
    }

    #[test]
    fn aligned_blocks_come_from_the_first_range_that_holds_one() {
        let mut free = RangeSet::new();
        free.insert(PhysRange::new(0x1000, 0x3000)).unwrap();
        free.insert(PhysRange::new(0x5000, 0x20000)).unwrap();
        let mut allocator = BootFrameAllocator::new(free);
        assert_eq!(allocator.allocate_aligned(14), Some(0x8000));
        assert_eq!(allocator.frames_handed_out(), 4);
        assert_eq!(
            allocator.remaining(),
            [
                PhysRange::new(0x1000, 0x3000),
                PhysRange::new(0x5000, 0x8000),
                PhysRange::new(0xc000, 0x20000)
            ]
        );
        assert_eq!(allocator.allocate_aligned(20), None);
        assert_eq!(allocator.allocate_aligned(70), None);
        assert_eq!(allocator.allocate_aligned(0), Some(0x1000), "sizes below a page round up");
    }

    #[test]
    fn remaining_shrinks_by_what_was_handed_out() {
        let mut free = RangeSet::new();
        free.insert(PhysRange::new(0, 0x10000)).unwrap();
        let mut allocator = BootFrameAllocator::new(free);
        allocator.allocate().unwrap();
        assert_eq!(allocator.remaining(), [PhysRange::new(0x1000, 0x10000)]);
    }
}
