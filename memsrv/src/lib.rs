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

pub use allocator::{Allocation, Allocator};
pub use block::{
    Block, FRAME_SHIFT, FRAME_SIZE, ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_SIZE, PageblockAddr,
    order_bytes,
};
pub use error::{AllocError, FreeError, InitError, InvariantViolation};
pub use freelist_index::FreeList;
pub use sensitivity::Sensitivity;
pub use stats::Stats;
