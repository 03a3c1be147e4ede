//! The allocator: buddy blocks inside pageblocks, pageblocks grouped by sensitivity.

use core::fmt;

use crate::block::{
    Block, FRAME_SHIFT, FRAME_SIZE, ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_SIZE, PageblockAddr,
    order_bytes,
};
use crate::error::{AllocError, FreeError, InitError, InvariantViolation};
use crate::freelist_index::FreeList;
use crate::pageblock::Pageblock;
use crate::pageblock_lists::PageblockLists;
use crate::sensitivity::Sensitivity;
use crate::stats::Stats;

const TOP: usize = PAGEBLOCK_ORDER as usize;

/// What [`Allocator::allocate`] handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The allocated block, of the requested order and sensitivity.
    pub block: Block,
    /// The pageblock whose sensitivity was flipped to serve this request, if any. The
    /// flip hook has already been told about it.
    pub flipped: Option<PageblockAddr>,
}

/// A buddy allocator over up to `PAGEBLOCKS` pageblocks, all storage inline.
///
/// See the crate documentation for the design and the cost of each operation.
#[derive(Clone, PartialEq, Eq)]
pub struct Allocator<const PAGEBLOCKS: usize> {
    /// Sorted by base address so that `free` can find a block's pageblock by binary
    /// search; slots from `len` on are unused.
    pageblocks: [Pageblock; PAGEBLOCKS],
    len: usize,
    lists: PageblockLists<PAGEBLOCKS>,
    stats: Stats,
}

impl<const PAGEBLOCKS: usize> Allocator<PAGEBLOCKS> {
    /// An allocator managing nothing: the starting point of [`reset`](Self::reset), as a
    /// constant so that an allocator too large for a stack can live in a `static`.
    pub const EMPTY: Self = Self {
        pageblocks: [Pageblock::UNUSED; PAGEBLOCKS],
        len: 0,
        lists: PageblockLists::EMPTY,
        stats: Stats::ZERO,
    };

    /// An allocator owning `pageblocks`, each wholly free with the given sensitivity.
    pub fn new(
        pageblocks: impl IntoIterator<Item = (PageblockAddr, Sensitivity)>,
    ) -> Result<Self, InitError> {
        let mut allocator = Self::EMPTY;
        allocator.reset(pageblocks)?;
        Ok(allocator)
    }

    /// Makes this allocator, in place, the one [`new`](Self::new) would make: owning
    /// `pageblocks`, each wholly free, and nothing else. On an error it manages nothing.
    pub fn reset(
        &mut self,
        pageblocks: impl IntoIterator<Item = (PageblockAddr, Sensitivity)>,
    ) -> Result<(), InitError> {
        // Free lists link pageblocks by u32 index to keep the per-pageblock links small.
        const { assert!(PAGEBLOCKS <= u32::MAX as usize) };
        *self = Self::EMPTY;
        let mut len = 0;
        for (base, sensitivity) in pageblocks {
            let Some(slot) = self.pageblocks.get_mut(len) else {
                *self = Self::EMPTY;
                return Err(InitError::TooManyPageblocks { capacity: PAGEBLOCKS });
            };
            *slot = Pageblock::new(base, sensitivity);
            len += 1;
        }
        self.pageblocks[..len].sort_unstable_by_key(Pageblock::base);
        if let Some(pair) =
            self.pageblocks[..len].windows(2).find(|pair| pair[0].base() == pair[1].base())
        {
            let duplicate = pair[0].base();
            *self = Self::EMPTY;
            return Err(InitError::DuplicatePageblock(duplicate));
        }
        self.len = len;
        // Pushed highest first so that the lowest-addressed pageblock is used first.
        for index in (0..len).rev() {
            let sensitivity = self.pageblocks[index].sensitivity();
            let top = FreeList::pageblocks(sensitivity);
            self.lists.push(top, index as u32);
            self.stats.free_blocks[top.index()] += 1;
            self.stats.pageblocks[sensitivity.index()] += 1;
        }
        Ok(())
    }

    /// Allocates a block of `2^order` frames of `sensitivity`.
    ///
    /// Takes the smallest free block of that sensitivity that is large enough and splits
    /// it. Only if there is none does it flip a wholly free pageblock of the other
    /// sensitivity: it first calls `flip(pageblock, sensitivity)` (in memsrv: asks the
    /// kernel), and if that fails returns [`AllocError::FlipRefused`] with nothing changed.
    pub fn allocate<E>(
        &mut self,
        order: u8,
        sensitivity: Sensitivity,
        flip: impl FnOnce(PageblockAddr, Sensitivity) -> Result<(), E>,
    ) -> Result<Allocation, AllocError<E>> {
        if order > PAGEBLOCK_ORDER {
            return Err(AllocError::InvalidOrder { order });
        }
        let order = usize::from(order);
        if let Some((index, from, block)) = self.find_free(sensitivity, order) {
            let block = self.take(index, from, block, order);
            return Ok(Allocation { block, flipped: None });
        }
        let index = self
            .lists
            .first(FreeList::pageblocks(sensitivity.other()))
            .map(|index| index as usize)
            .filter(|&index| self.pageblocks[index].is_wholly_free())
            .ok_or(AllocError::OutOfMemory)?;
        let pageblock = self.pageblocks[index].base();
        flip(pageblock, sensitivity)
            .map_err(|error| AllocError::FlipRefused { pageblock, error })?;
        self.flip(index, sensitivity);
        let block = self.take(index, TOP, 0, order);
        Ok(Allocation { block, flipped: Some(pageblock) })
    }

    /// Gives `block` back, merging it with its free buddies.
    pub fn free(&mut self, block: Block) -> Result<(), FreeError> {
        let (index, frame, order) = self.locate(block)?;
        let before = self.pageblocks[index].free_counts();
        self.pageblocks[index].free(frame, order)?;
        self.sync(index, before);
        let sensitivity = self.pageblocks[index].sensitivity();
        self.stats.allocated_bytes[sensitivity.index()] -= FRAME_SIZE << order;
        Ok(())
    }

    /// Whether exactly `block` (this address, this order) is currently allocated.
    pub fn is_allocated(&self, block: Block) -> bool {
        self.locate(block)
            .is_ok_and(|(index, frame, order)| self.pageblocks[index].is_allocated(frame, order))
    }

    /// The sensitivity of the managed pageblock containing `addr`.
    pub fn sensitivity_of(&self, addr: u64) -> Option<Sensitivity> {
        self.pageblock_index(PageblockAddr::containing(addr))
            .map(|index| self.pageblocks[index].sensitivity())
    }

    /// The counters, kept current by every operation.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Recomputes everything from the per-pageblock bitmaps and compares: the blocks tile
    /// every pageblock exactly, no free buddies are left unmerged, each free list holds
    /// exactly the pageblocks of its sensitivity with a free block of its order, and the
    /// statistics match. Costs O(pageblocks); meant for tests and debugging.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let managed = &self.pageblocks[..self.len];
        if managed.windows(2).any(|pair| pair[0].base() >= pair[1].base()) {
            return Err(InvariantViolation {
                pageblock: None,
                reason: "pageblocks are not sorted by address",
            });
        }
        let mut recomputed = Stats { flips: self.stats.flips, ..Stats::default() };
        for pageblock in managed {
            pageblock.check().map_err(|reason| InvariantViolation {
                pageblock: Some(pageblock.base()),
                reason,
            })?;
            let sensitivity = pageblock.sensitivity();
            let counts = pageblock.free_counts();
            let mut free_bytes = 0;
            for list in Self::lists_of(sensitivity) {
                let count = u64::from(counts[usize::from(list.order())]);
                recomputed.free_blocks[list.index()] += count;
                free_bytes += count * (FRAME_SIZE << list.order());
            }
            recomputed.pageblocks[sensitivity.index()] += 1;
            // `check` proved that free and allocated blocks tile the pageblock.
            recomputed.allocated_bytes[sensitivity.index()] += PAGEBLOCK_SIZE - free_bytes;
        }
        if recomputed != self.stats {
            return Err(InvariantViolation {
                pageblock: None,
                reason: "the statistics disagree with the pageblocks",
            });
        }
        for list in FreeList::all() {
            let order = usize::from(list.order());
            self.lists
                .check(list, self.len, |index| {
                    let pageblock = &managed[index];
                    pageblock.sensitivity() == list.sensitivity()
                        && pageblock.free_counts()[order] > 0
                })
                .map_err(|reason| InvariantViolation { pageblock: None, reason })?;
        }
        Ok(())
    }

    /// A pageblock with a free block of `sensitivity` of the smallest order `>= order`:
    /// its index, that order and the block's index within the order.
    fn find_free(&self, sensitivity: Sensitivity, order: usize) -> Option<(usize, usize, usize)> {
        Self::lists_of(sensitivity).skip(order).find_map(|list| {
            let index = self.lists.first(list)? as usize;
            let from = usize::from(list.order());
            let block = self.pageblocks[index].first_free(from)?;
            Some((index, from, block))
        })
    }

    fn take(&mut self, index: usize, from: usize, block: usize, order: usize) -> Block {
        let before = self.pageblocks[index].free_counts();
        let frame = self.pageblocks[index].take(from, block, order);
        self.sync(index, before);
        let pageblock = &self.pageblocks[index];
        self.stats.allocated_bytes[pageblock.sensitivity().index()] += FRAME_SIZE << order;
        Block { addr: pageblock.base().get() + ((frame as u64) << FRAME_SHIFT), order: order as u8 }
    }

    /// Brings the free lists and counters in line with pageblock `index`'s free counts,
    /// which were `before` an operation that did not change its sensitivity.
    fn sync(&mut self, index: usize, before: [u16; ORDERS]) {
        let pageblock = &self.pageblocks[index];
        let after = pageblock.free_counts();
        for list in Self::lists_of(pageblock.sensitivity()) {
            let order = usize::from(list.order());
            match (before[order] > 0, after[order] > 0) {
                (false, true) => self.lists.push(list, index as u32),
                (true, false) => self.lists.remove(list, index as u32),
                _ => {}
            }
            let count = &mut self.stats.free_blocks[list.index()];
            *count = *count + u64::from(after[order]) - u64::from(before[order]);
        }
    }

    /// Flips wholly free pageblock `index` to `to`.
    fn flip(&mut self, index: usize, to: Sensitivity) {
        let from = to.other();
        self.lists.remove(FreeList::pageblocks(from), index as u32);
        self.stats.free_blocks[FreeList::pageblocks(from).index()] -= 1;
        self.stats.pageblocks[from.index()] -= 1;
        self.pageblocks[index].set_sensitivity(to);
        self.lists.push(FreeList::pageblocks(to), index as u32);
        self.stats.free_blocks[FreeList::pageblocks(to).index()] += 1;
        self.stats.pageblocks[to.index()] += 1;
        self.stats.flips += 1;
    }

    /// Validates `block` and finds it: pageblock index, first frame, order.
    fn locate(&self, block: Block) -> Result<(usize, usize, usize), FreeError> {
        let size =
            order_bytes(block.order).ok_or(FreeError::InvalidOrder { order: block.order })?;
        if !block.addr.is_multiple_of(size) {
            return Err(FreeError::Misaligned);
        }
        let base = PageblockAddr::containing(block.addr);
        let index = self.pageblock_index(base).ok_or(FreeError::NotManaged)?;
        let frame = ((block.addr - base.get()) >> FRAME_SHIFT) as usize;
        Ok((index, frame, usize::from(block.order)))
    }

    fn pageblock_index(&self, base: PageblockAddr) -> Option<usize> {
        self.pageblocks[..self.len].binary_search_by_key(&base, Pageblock::base).ok()
    }

    /// The free lists of `sensitivity`, smallest order first.
    fn lists_of(sensitivity: Sensitivity) -> impl Iterator<Item = FreeList> {
        (0..=PAGEBLOCK_ORDER).filter_map(move |order| FreeList::new(sensitivity, order))
    }
}

impl<const PAGEBLOCKS: usize> fmt::Debug for Allocator<PAGEBLOCKS> {
    // The bitmaps of every pageblock would drown the numbers that matter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("pageblocks", &self.len)
            .field("capacity", &PAGEBLOCKS)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
