//! Cutting free physical memory into untyped capabilities: each untyped object is a
//! naturally aligned power-of-two block, so a range becomes the fewest such blocks that
//! tile it exactly.

use crate::memory::PhysRange;

/// The smallest untyped the kernel hands out: one page, the smallest thing user space
/// can retype memory into that is worth a capability slot.
pub const MIN_UNTYPED_BITS: u8 = 12;
/// The largest untyped: 2^47 bytes, the user half's size.
pub const MAX_UNTYPED_BITS: u8 = 47;

/// One untyped block: `2^size_bits` bytes at `base`, with `base` a multiple of the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedBlock {
    pub base: u64,
    pub size_bits: u8,
}

impl UntypedBlock {
    pub const fn size(&self) -> u64 {
        1 << self.size_bits
    }
}

/// The blocks that tile `range` (shrunk to whole pages first), largest possible first at
/// each position, in ascending address order.
pub fn split(range: PhysRange) -> impl Iterator<Item = UntypedBlock> {
    let range = range.align_inward(1 << MIN_UNTYPED_BITS);
    let mut cursor = range.start;
    core::iter::from_fn(move || {
        if cursor >= range.end {
            return None;
        }
        let alignment_bits =
            if cursor == 0 { MAX_UNTYPED_BITS } else { cursor.trailing_zeros() as u8 };
        let remaining_bits = (63 - (range.end - cursor).leading_zeros()) as u8;
        let size_bits = alignment_bits.min(remaining_bits).min(MAX_UNTYPED_BITS);
        let block = UntypedBlock { base: cursor, size_bits };
        cursor += block.size();
        Some(block)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(start: u64, end: u64) -> Vec<(u64, u8)> {
        split(PhysRange::new(start, end)).map(|b| (b.base, b.size_bits)).collect()
    }

    #[test]
    fn an_aligned_power_of_two_is_one_block() {
        assert_eq!(blocks(0x20_0000, 0x40_0000), [(0x20_0000, 21)]);
    }

    #[test]
    fn ragged_ranges_tile_exactly_with_aligned_blocks() {
        let cases = [
            (0x1000, 0x9_f000),
            (0x10_0000, 0x1000_0000),
            (0x23_4000, 0xfed_c000),
            (0x1000, 0x2000),
        ];
        for (start, end) in cases {
            let mut cursor = start;
            for (base, bits) in blocks(start, end) {
                assert_eq!(base, cursor, "gap or overlap in {start:#x}..{end:#x}");
                assert_eq!(base % (1 << bits), 0, "block at {base:#x} not aligned to 2^{bits}");
                assert!(bits >= MIN_UNTYPED_BITS);
                cursor += 1 << bits;
            }
            assert_eq!(cursor, end, "{start:#x}..{end:#x} not covered");
        }
    }

    #[test]
    fn few_blocks_for_a_large_range() {
        // 1 MiB .. 256 MiB: 1+2+4+...+128 MiB pieces, eight blocks.
        assert_eq!(blocks(0x10_0000, 0x1000_0000).len(), 8);
    }

    #[test]
    fn partial_pages_are_dropped_and_empty_ranges_give_nothing() {
        assert_eq!(blocks(0x1800, 0x3800), [(0x2000, 12)]);
        assert!(blocks(0x1800, 0x1900).is_empty());
        assert!(blocks(0x5000, 0x5000).is_empty());
    }

    #[test]
    fn blocks_never_exceed_the_maximum() {
        let huge = blocks(0, 1 << 49);
        assert!(huge.iter().all(|&(_, bits)| bits <= MAX_UNTYPED_BITS));
        assert_eq!(huge.len(), 4);
    }
}
