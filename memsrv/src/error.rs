//! What can go wrong, per operation. Every error leaves the allocator unchanged.

use crate::block::PageblockAddr;

/// Why [`crate::Allocator::allocate`] handed out nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError<E> {
    /// `order` is above [`crate::PAGEBLOCK_ORDER`].
    InvalidOrder {
        /// The order asked for.
        order: u8,
    },
    /// No free block of the wanted sensitivity is large enough, and no whole free
    /// pageblock of the other sensitivity is left to flip.
    OutOfMemory,
    /// The flip hook (in memsrv: the kernel) refused to flip `pageblock`.
    FlipRefused {
        /// The pageblock that would have been flipped; it keeps its sensitivity.
        pageblock: PageblockAddr,
        /// What the hook returned.
        error: E,
    },
}

/// Why [`crate::Allocator::free`] took nothing back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// `order` is above [`crate::PAGEBLOCK_ORDER`].
    InvalidOrder {
        /// The order given.
        order: u8,
    },
    /// The address is not a multiple of the block's size.
    Misaligned,
    /// The address is in no pageblock this allocator manages.
    NotManaged,
    /// The whole block is already free: a double free.
    AlreadyFree,
    /// A block is allocated at this address, but with another order.
    WrongOrder {
        /// The order it was allocated with.
        allocated_order: u8,
    },
    /// The block overlaps allocated memory without being one allocated block, e.g. it is
    /// part of a larger allocation or spans several.
    NotAllocated,
}

/// Why [`crate::Allocator::new`] could not build an allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// More pageblocks were given than the allocator has room for.
    TooManyPageblocks {
        /// The allocator's capacity in pageblocks.
        capacity: usize,
    },
    /// The same pageblock was given twice.
    DuplicatePageblock(PageblockAddr),
}

/// A broken internal invariant found by [`crate::Allocator::check_invariants`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// The pageblock whose state is wrong, if the fault is local to one.
    pub pageblock: Option<PageblockAddr>,
    /// What is wrong.
    pub reason: &'static str,
}
