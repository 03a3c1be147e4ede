//! Physical sizes, pageblock addresses and blocks.

/// log2 of the frame size.
pub const FRAME_SHIFT: u32 = 12;
/// The smallest unit the allocator hands out: one 4 KiB frame (order 0).
pub const FRAME_SIZE: u64 = 1 << FRAME_SHIFT;
/// The order of a whole pageblock, the largest block the allocator hands out.
pub const PAGEBLOCK_ORDER: u8 = 9;
/// How many orders exist: 0 ..= [`PAGEBLOCK_ORDER`].
pub const ORDERS: usize = PAGEBLOCK_ORDER as usize + 1;
/// The granularity of sensitivity: 2 MiB.
pub const PAGEBLOCK_SIZE: u64 = FRAME_SIZE << PAGEBLOCK_ORDER;
/// Frames in one pageblock.
pub(crate) const FRAMES_PER_PAGEBLOCK: usize = 1 << PAGEBLOCK_ORDER;

/// The size in bytes of a block of `order`, or `None` if no such order exists.
pub const fn order_bytes(order: u8) -> Option<u64> {
    if order <= PAGEBLOCK_ORDER { Some(FRAME_SIZE << order) } else { None }
}

/// The physical address of a pageblock: always a multiple of [`PAGEBLOCK_SIZE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageblockAddr(u64);

impl PageblockAddr {
    /// The pageblock starting at `addr`, if `addr` is 2 MiB-aligned.
    pub const fn new(addr: u64) -> Option<Self> {
        if addr.is_multiple_of(PAGEBLOCK_SIZE) { Some(Self(addr)) } else { None }
    }

    /// The pageblock that contains `addr`.
    pub const fn containing(addr: u64) -> Self {
        Self(addr & !(PAGEBLOCK_SIZE - 1))
    }

    /// Every whole pageblock inside the physical range `start..end`, lowest first.
    ///
    /// Untyped regions need not be 2 MiB-aligned; only the pageblocks they cover entirely
    /// can have their sensitivity flipped, so only those are worth managing.
    pub fn all_within(start: u64, end: u64) -> impl Iterator<Item = Self> {
        let first =
            start.checked_add(PAGEBLOCK_SIZE - 1).map_or(u64::MAX, |s| s & !(PAGEBLOCK_SIZE - 1));
        let last_end = end & !(PAGEBLOCK_SIZE - 1);
        (first..last_end).step_by(PAGEBLOCK_SIZE as usize).map(Self)
    }

    /// The physical address.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A naturally aligned block of `2^order` frames starting at `addr`.
///
/// The allocator hands out only valid blocks; a block given back to it may be anything a
/// client claimed, so [`crate::Allocator::free`] checks every field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// Physical address of the first byte.
    pub addr: u64,
    /// log2 of the number of frames.
    pub order: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_bytes_covers_exactly_the_valid_orders() {
        assert_eq!(order_bytes(0), Some(4096));
        assert_eq!(order_bytes(PAGEBLOCK_ORDER), Some(PAGEBLOCK_SIZE));
        assert_eq!(order_bytes(PAGEBLOCK_ORDER + 1), None);
        assert_eq!(order_bytes(u8::MAX), None);
    }

    #[test]
    fn pageblock_addresses_are_aligned() {
        assert_eq!(PageblockAddr::new(0x40_0000).map(PageblockAddr::get), Some(0x40_0000));
        assert_eq!(PageblockAddr::new(0x40_1000), None);
        assert_eq!(PageblockAddr::containing(0x5f_ffff).get(), 0x40_0000);
    }

    #[test]
    fn all_within_yields_only_whole_pageblocks() {
        let whole: Vec<u64> =
            PageblockAddr::all_within(0x1000, 0x80_0000).map(PageblockAddr::get).collect();
        assert_eq!(whole, [0x20_0000, 0x40_0000, 0x60_0000]);
        assert_eq!(PageblockAddr::all_within(0x20_0000, 0x3f_ffff).count(), 0);
        assert_eq!(PageblockAddr::all_within(u64::MAX - 5, u64::MAX).count(), 0);
        assert_eq!(PageblockAddr::all_within(0x40_0000, 0x20_0000).count(), 0);
    }
}
