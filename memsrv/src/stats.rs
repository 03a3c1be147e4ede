//! Counters kept up to date on every operation, so reading them is O(1).

use crate::block::{FRAME_SIZE, PAGEBLOCK_SIZE};
use crate::freelist_index::FreeList;
use crate::sensitivity::Sensitivity;

/// A snapshot of the allocator's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub(crate) free_blocks: [u64; FreeList::COUNT],
    pub(crate) pageblocks: [u64; 2],
    pub(crate) allocated_bytes: [u64; 2],
    pub(crate) flips: u64,
}

impl Stats {
    pub(crate) const ZERO: Self = Self {
        free_blocks: [0; FreeList::COUNT],
        pageblocks: [0; 2],
        allocated_bytes: [0; 2],
        flips: 0,
    };

    /// Free blocks on `list`.
    pub fn free_blocks(&self, list: FreeList) -> u64 {
        self.free_blocks[list.index()]
    }

    /// Free bytes on `list`.
    pub fn free_bytes(&self, list: FreeList) -> u64 {
        self.free_blocks(list) * (FRAME_SIZE << list.order())
    }

    /// Free bytes of `sensitivity`, all orders together.
    pub fn free_bytes_total(&self, sensitivity: Sensitivity) -> u64 {
        FreeList::all()
            .filter(|list| list.sensitivity() == sensitivity)
            .map(|list| self.free_bytes(list))
            .sum()
    }

    /// Pageblocks currently of `sensitivity`.
    pub fn pageblocks(&self, sensitivity: Sensitivity) -> u64 {
        self.pageblocks[sensitivity.index()]
    }

    /// Bytes of `sensitivity` handed out and not yet freed.
    pub fn allocated_bytes(&self, sensitivity: Sensitivity) -> u64 {
        self.allocated_bytes[sensitivity.index()]
    }

    /// Sensitivity flips since the allocator was built.
    pub fn flips(&self) -> u64 {
        self.flips
    }

    /// Bytes of `sensitivity` managed, free or not.
    pub fn managed_bytes(&self, sensitivity: Sensitivity) -> u64 {
        self.pageblocks(sensitivity) * PAGEBLOCK_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_follow_from_counts() {
        let mut stats = Stats::default();
        let s = Sensitivity::Nonsensitive;
        stats.free_blocks[FreeList::new(s, 0).unwrap().index()] = 3;
        stats.free_blocks[FreeList::new(s, 9).unwrap().index()] = 1;
        stats.pageblocks[s.index()] = 2;
        assert_eq!(stats.free_bytes(FreeList::new(s, 0).unwrap()), 3 * 4096);
        assert_eq!(stats.free_bytes_total(s), 3 * 4096 + PAGEBLOCK_SIZE);
        assert_eq!(stats.free_bytes_total(s.other()), 0);
        assert_eq!(stats.managed_bytes(s), 2 * PAGEBLOCK_SIZE);
    }
}
