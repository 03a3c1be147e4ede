//! The allocator core of memsrv, the memory server: it hands out physical blocks of a
//! requested **sensitivity** and keeps the number of sensitivity flips low.
//!
//! Pure logic, no system calls: memsrv feeds it the pageblocks of the untyped memory it
//! owns and turns its answers into capabilities and AsiControl invocations.
//!
//! # Why pageblocks
//!
//! Under Address Space Isolation, sensitive memory is left out of the kernel's restricted
//! address space. The kernel tracks sensitivity per **pageblock** (2 MiB, order
//! [`PAGEBLOCK_ORDER`]) and changes it only for a whole, empty pageblock, at a real price:
//! it zeroes memory that becomes nonsensitive and shoots down TLBs for memory that
//! becomes sensitive. So, as in the Linux ASI series this follows, free memory is indexed
//! by *freetype* = sensitivity × order ([`FreeList`]), and every pageblock has exactly one
//! sensitivity, shared by all its blocks:
//!
//! - Buddy allocation happens inside a pageblock: a request of order `k` takes the
//!   smallest free block of order `>= k` **of the requested sensitivity** and splits it;
//!   a free merges buddies back up, at most to the whole pageblock. Since the pageblock is
//!   the top order, buddies never merge across pageblocks, hence never across sensitivity.
//! - A **flip** happens only when no free block of the wanted sensitivity is large enough.
//!   Then a *wholly free* pageblock of the other sensitivity is flipped and used; a
//!   partly used pageblock is never flipped, so a pageblock is never split between
//!   sensitivities. If no such pageblock exists the answer is
//!   [`AllocError::OutOfMemory`]. Freed pageblocks keep their sensitivity: they are flipped
//!   back only when the other side runs out, so a workload that frees and reallocates the
//!   same sensitivity flips nothing.
//! - The caller performs the flip: [`Allocator::allocate`] calls a hook with the pageblock
//!   and its new sensitivity *before* changing any state. If the hook fails (the kernel
//!   refused) the allocator returns [`AllocError::FlipRefused`] and is unchanged. The
//!   [`Allocation`] also names the flipped pageblock.
//!
//! Every bad request (unknown order, misaligned or unmanaged address, double free, wrong
//! order, part of a larger block) gets its own [`FreeError`] or [`AllocError`] and changes
//! nothing; nothing panics.
//!
//! # Data structures and cost
//!
//! No heap: an `Allocator<P>` holds up to `P` pageblocks inline, about half a KiB each
//! (0.03% of the 2 MiB they manage).
//!
//! - Per pageblock, a free bitmap and an allocated bitmap with one bit per possible block
//!   of every order (1023 bits each), plus free-block counts per order. The bitmaps make
//!   "is exactly this block allocated?" ([`Allocator::is_allocated`]) one bit test. Who
//!   holds a block is not kept here: the server records that per slot ([`tree`]).
//! - Per free list (sensitivity, order), a doubly linked list of the pageblocks that have a
//!   free block on it, threaded through fixed arrays by index.
//! - Pageblocks sorted by address, so a block's pageblock is found by binary search.
//!
//! With `P` pageblocks: `allocate` is O(orders) list probes plus a scan of at most 8 words
//! for the free block, independent of `P`; a flip is O(1); `free` and `is_allocated` are
//! O(log P) to find the pageblock plus O(orders) to merge. [`Allocator::stats`] is O(1)
//! (counters kept current); [`Allocator::check_invariants`] is O(P × orders) and
//! recomputes everything from the bitmaps.
//!
//! # Example
//!
//! ```
//! use core::convert::Infallible;
//! use memsrv::{Allocator, FreeList, PageblockAddr, Sensitivity, PAGEBLOCK_SIZE};
//!
//! // At boot all user memory is sensitive: two pageblocks of untyped memory.
//! let pageblocks = PageblockAddr::all_within(0x20_0000, 0x20_0000 + 2 * PAGEBLOCK_SIZE)
//!     .map(|pageblock| (pageblock, Sensitivity::Sensitive));
//! let mut allocator: Allocator<16> = Allocator::new(pageblocks).unwrap();
//!
//! // The first nonsensitive frame needs a flip; the hook is where memsrv asks the kernel.
//! let mut asked = Vec::new();
//! let mut kernel = |pageblock, to| {
//!     asked.push((pageblock, to));
//!     Ok::<(), Infallible>(())
//! };
//! let first = allocator.allocate(0, Sensitivity::Nonsensitive, &mut kernel).unwrap();
//! assert!(first.flipped.is_some());
//! // The second one fits in the pageblock already flipped.
//! let second = allocator.allocate(0, Sensitivity::Nonsensitive, &mut kernel).unwrap();
//! assert_eq!(second.flipped, None);
//! assert_eq!(asked, [(first.flipped.unwrap(), Sensitivity::Nonsensitive)]);
//!
//! allocator.free(first.block).unwrap();
//! allocator.free(second.block).unwrap();
//! let stats = allocator.stats();
//! assert_eq!(stats.flips(), 1);
//! assert_eq!(stats.free_blocks(FreeList::pageblocks(Sensitivity::Nonsensitive)), 1);
//! allocator.check_invariants().unwrap();
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod allocator;
mod bitmap;
mod block;
mod error;
mod freelist_index;
mod pageblock;
mod pageblock_lists;
mod sensitivity;
mod stats;
#[cfg(test)]
mod test_rng;
pub mod tree;

pub use allocator::{Allocation, Allocator};
pub use block::{
    Block, FRAME_SHIFT, FRAME_SIZE, ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_SIZE, PageblockAddr,
    order_bytes,
};
pub use error::{AllocError, FreeError, InitError, InvariantViolation};
pub use freelist_index::FreeList;
pub use sensitivity::Sensitivity;
pub use stats::Stats;
