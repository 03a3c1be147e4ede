//! The buddy state of one pageblock.
//!
//! Every frame of a pageblock is covered by exactly one block that is either free or
//! allocated; the two bitmaps record those blocks. Because the pageblock is the top order,
//! buddies merge only inside it, so a merge can never mix sensitivities.

use crate::bitmap::{MAX_ORDER_WORDS, OrderBitmap, spread, valid_bits, words_of_order};
use crate::block::{ORDERS, PAGEBLOCK_ORDER, PageblockAddr};
use crate::error::FreeError;
use crate::sensitivity::Sensitivity;

const TOP: usize = PAGEBLOCK_ORDER as usize;

/// Bits at even positions: the left buddy of each pair.
const LEFT_BUDDIES: u64 = 0x5555_5555_5555_5555;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pageblock {
    base: PageblockAddr,
    sensitivity: Sensitivity,
    free: OrderBitmap,
    allocated: OrderBitmap,
    free_counts: [u16; ORDERS],
}

impl Pageblock {
    /// What fills the allocator's array past the pageblocks it manages: no free block.
    pub(crate) const UNUSED: Self = Self {
        base: PageblockAddr::containing(0),
        sensitivity: Sensitivity::Sensitive,
        free: OrderBitmap::EMPTY,
        allocated: OrderBitmap::EMPTY,
        free_counts: [0; ORDERS],
    };

    /// A wholly free pageblock.
    pub(crate) fn new(base: PageblockAddr, sensitivity: Sensitivity) -> Self {
        let mut free = OrderBitmap::EMPTY;
        free.set(TOP, 0);
        let mut free_counts = [0; ORDERS];
        free_counts[TOP] = 1;
        Self { base, sensitivity, free, allocated: OrderBitmap::EMPTY, free_counts }
    }

    pub(crate) fn base(&self) -> PageblockAddr {
        self.base
    }

    pub(crate) fn sensitivity(&self) -> Sensitivity {
        self.sensitivity
    }

    /// Changes the sensitivity; the caller makes sure the pageblock is wholly free and
    /// that the kernel has agreed.
    pub(crate) fn set_sensitivity(&mut self, sensitivity: Sensitivity) {
        self.sensitivity = sensitivity;
    }

    pub(crate) fn is_wholly_free(&self) -> bool {
        self.free.get(TOP, 0)
    }

    /// Free blocks per order.
    pub(crate) fn free_counts(&self) -> [u16; ORDERS] {
        self.free_counts
    }

    /// The lowest free block of `order`, by index within the order.
    pub(crate) fn first_free(&self, order: usize) -> Option<usize> {
        self.free.first(order)
    }

    /// Allocates a block of `order` out of free block `index` of order `from`, returning
    /// the allocated block's first frame (within the pageblock). The right halves split
    /// off on the way down stay free.
    ///
    /// `index` must be a free block of order `from`, and `order <= from`.
    pub(crate) fn take(&mut self, from: usize, index: usize, order: usize) -> usize {
        self.free.clear(from, index);
        self.free_counts[from] -= 1;
        let mut index = index;
        for split in (order..from).rev() {
            index *= 2;
            self.free.set(split, index + 1);
            self.free_counts[split] += 1;
        }
        self.allocated.set(order, index);
        index << order
    }

    pub(crate) fn is_allocated(&self, frame: usize, order: usize) -> bool {
        self.allocated.get(order, frame >> order)
    }

    /// Frees the block of `order` at `frame` (aligned to the order), merging it with free
    /// buddies as far up as they go.
    pub(crate) fn free(&mut self, frame: usize, order: usize) -> Result<(), FreeError> {
        if !self.is_allocated(frame, order) {
            return Err(self.why_not_allocated(frame, order));
        }
        self.allocated.clear(order, frame >> order);
        let mut order = order;
        let mut index = frame >> order;
        while order < TOP && self.free.get(order, index ^ 1) {
            self.free.clear(order, index ^ 1);
            self.free_counts[order] -= 1;
            index >>= 1;
            order += 1;
        }
        self.free.set(order, index);
        self.free_counts[order] += 1;
        Ok(())
    }

    fn why_not_allocated(&self, frame: usize, order: usize) -> FreeError {
        // Blocks never overlap, so at most one allocated block starts at `frame`.
        let mut aligned_orders = (0..ORDERS).filter(|o| frame.is_multiple_of(1 << o));
        if let Some(other) = aligned_orders.find(|&o| self.allocated.get(o, frame >> o)) {
            return FreeError::WrongOrder { allocated_order: other as u8 };
        }
        if (order..ORDERS).any(|o| self.free.get(o, frame >> o)) {
            FreeError::AlreadyFree
        } else {
            FreeError::NotAllocated
        }
    }

    /// Checks that the free and allocated blocks tile the pageblock exactly, that no two
    /// free buddies were left unmerged and that the free counts match the bitmap.
    ///
    /// Works top-down a word at a time: `covered` holds, for the order above, which blocks
    /// lie inside a free or allocated block; spreading it gives the same for this order.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let mut covered = [0u64; MAX_ORDER_WORDS];
        for order in (0..ORDERS).rev() {
            let (free, allocated) = (self.free.words(order), self.allocated.words(order));
            let mut free_blocks = 0;
            let mut next = [0u64; MAX_ORDER_WORDS];
            for word in 0..words_of_order(order) {
                let inherited = if order == TOP {
                    0
                } else {
                    spread((covered[word / 2] >> (32 * (word % 2))) as u32)
                };
                let (f, a) = (free[word], allocated[word]);
                if (f | a) & !valid_bits(order) != 0 {
                    return Err("a bit names a block beyond the pageblock");
                }
                if f & a != 0 {
                    return Err("a block is both free and allocated");
                }
                if (f | a) & inherited != 0 {
                    return Err("a block lies inside a larger free or allocated block");
                }
                if order < TOP && f & (f >> 1) & LEFT_BUDDIES != 0 {
                    return Err("two free buddies were left unmerged");
                }
                free_blocks += f.count_ones();
                next[word] = inherited | f | a;
            }
            if free_blocks != u32::from(self.free_counts[order]) {
                return Err("a free count disagrees with the free bitmap");
            }
            covered = next;
        }
        if covered.iter().all(|&word| word == u64::MAX) {
            Ok(())
        } else {
            Err("a frame is neither free nor allocated")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::FRAMES_PER_PAGEBLOCK;
    use crate::test_rng::XorShift;

    fn fresh() -> Pageblock {
        Pageblock::new(PageblockAddr::new(0).unwrap(), Sensitivity::Sensitive)
    }

    fn allocate(pb: &mut Pageblock, order: usize) -> Option<usize> {
        let from = (order..ORDERS).find(|&o| pb.free_counts()[o] > 0)?;
        let index = pb.first_free(from)?;
        Some(pb.take(from, index, order))
    }

    #[test]
    fn a_fresh_pageblock_is_one_free_top_block() {
        let pb = fresh();
        assert!(pb.is_wholly_free());
        assert_eq!(pb.check(), Ok(()));
        assert_eq!(pb.free_counts()[TOP], 1);
    }

    #[test]
    fn splitting_leaves_one_free_block_per_lower_order() {
        let mut pb = fresh();
        assert_eq!(allocate(&mut pb, 0), Some(0));
        assert_eq!(pb.free_counts(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(pb.check(), Ok(()));
        assert!(!pb.is_wholly_free());
    }

    #[test]
    fn all_frames_freed_in_random_order_merge_back_to_one_block() {
        let mut rng = XorShift::new(0x9e37_79b9);
        for _ in 0..4 {
            let mut pb = fresh();
            let mut frames: Vec<usize> =
                (0..FRAMES_PER_PAGEBLOCK).map(|_| allocate(&mut pb, 0).unwrap()).collect();
            assert_eq!(allocate(&mut pb, 0), None);
            assert_eq!(pb.check(), Ok(()));
            rng.shuffle(&mut frames);
            for frame in frames {
                pb.free(frame, 0).unwrap();
                assert_eq!(pb.check(), Ok(()));
            }
            assert!(pb.is_wholly_free());
        }
    }

    #[test]
    fn bad_frees_are_classified_and_change_nothing() {
        let mut pb = fresh();
        let big = allocate(&mut pb, 3).unwrap();
        let before = pb;
        assert_eq!(pb.free(big, 2), Err(FreeError::WrongOrder { allocated_order: 3 }));
        assert_eq!(pb.free(big + 1, 0), Err(FreeError::NotAllocated));
        assert_eq!(pb.free(big + 8, 3), Err(FreeError::AlreadyFree));
        assert_eq!(pb.free(0, TOP), Err(FreeError::WrongOrder { allocated_order: 3 }));
        assert_eq!(pb, before);
        pb.free(big, 3).unwrap();
        assert_eq!(pb.free(big, 3), Err(FreeError::AlreadyFree));
        assert!(pb.is_wholly_free());
    }

    #[test]
    fn a_free_block_spanning_an_allocated_one_is_not_allocated() {
        let mut pb = fresh();
        let (first, second) = (allocate(&mut pb, 0).unwrap(), allocate(&mut pb, 0).unwrap());
        assert_eq!((first, second), (0, 1));
        pb.free(first, 0).unwrap();
        assert_eq!(pb.free(0, 1), Err(FreeError::NotAllocated));
        assert_eq!(pb.check(), Ok(()));
    }

    #[test]
    fn check_catches_corruption() {
        let mut pb = fresh();
        pb.free.set(0, 5);
        assert_eq!(pb.check(), Err("a block lies inside a larger free or allocated block"));

        let mut pb = fresh();
        allocate(&mut pb, 0).unwrap();
        pb.free_counts[0] += 1;
        assert_eq!(pb.check(), Err("a free count disagrees with the free bitmap"));

        let mut pb = fresh();
        allocate(&mut pb, 0).unwrap();
        pb.allocated.clear(0, 0);
        assert_eq!(pb.check(), Err("a frame is neither free nor allocated"));

        let mut pb = fresh();
        allocate(&mut pb, 0).unwrap();
        pb.allocated.clear(0, 0);
        pb.free.set(0, 0);
        pb.free_counts[0] += 1;
        assert_eq!(pb.check(), Err("two free buddies were left unmerged"));
    }
}
