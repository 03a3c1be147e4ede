#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod block;
mod freelist_index;
mod sensitivity;

pub use block::{
    Block, FRAME_SHIFT, FRAME_SIZE, ORDERS, PAGEBLOCK_ORDER, PAGEBLOCK_SIZE, PageblockAddr,
    order_bytes,
};
pub use freelist_index::FreeList;
pub use sensitivity::Sensitivity;
