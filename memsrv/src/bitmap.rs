//! One bit per possible block of every order inside a pageblock.
//!
//! A pageblock holds 512 order-0 blocks, 256 order-1 blocks, ... one order-9 block: 1023
//! possible blocks. Each order gets its own word-aligned run of bits so that a run can be
//! scanned and combined with its neighbours a word at a time.

use crate::block::{FRAMES_PER_PAGEBLOCK, ORDERS};

/// Blocks of `order` in a pageblock.
pub(crate) const fn blocks_of_order(order: usize) -> usize {
    FRAMES_PER_PAGEBLOCK >> order
}

/// Words holding the bits of `order`: orders with fewer than 64 blocks still take one word.
pub(crate) const fn words_of_order(order: usize) -> usize {
    blocks_of_order(order).div_ceil(64)
}

/// The mask of the bits of one word of `order` that name real blocks.
pub(crate) const fn valid_bits(order: usize) -> u64 {
    let blocks = blocks_of_order(order);
    if blocks >= 64 { u64::MAX } else { (1 << blocks) - 1 }
}

const fn first_words() -> [usize; ORDERS] {
    let mut first = [0; ORDERS];
    let mut order = 1;
    while order < ORDERS {
        first[order] = first[order - 1] + words_of_order(order - 1);
        order += 1;
    }
    first
}

const FIRST_WORD: [usize; ORDERS] = first_words();
const WORDS: usize = FIRST_WORD[ORDERS - 1] + words_of_order(ORDERS - 1);

/// The most words any order takes (order 0).
pub(crate) const MAX_ORDER_WORDS: usize = words_of_order(0);

/// A set of blocks of mixed orders within one pageblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrderBitmap {
    words: [u64; WORDS],
}

impl OrderBitmap {
    pub(crate) const EMPTY: Self = Self { words: [0; WORDS] };

    /// Whether block `index` of `order` is in the set.
    pub(crate) fn get(&self, order: usize, index: usize) -> bool {
        let word = self.words[FIRST_WORD[order] + index / 64];
        word & (1 << (index % 64)) != 0
    }

    pub(crate) fn set(&mut self, order: usize, index: usize) {
        self.words[FIRST_WORD[order] + index / 64] |= 1 << (index % 64);
    }

    pub(crate) fn clear(&mut self, order: usize, index: usize) {
        self.words[FIRST_WORD[order] + index / 64] &= !(1 << (index % 64));
    }

    /// The lowest-numbered block of `order` in the set.
    pub(crate) fn first(&self, order: usize) -> Option<usize> {
        self.words(order)
            .iter()
            .enumerate()
            .find(|(_, word)| **word != 0)
            .map(|(i, word)| i * 64 + word.trailing_zeros() as usize)
    }

    /// The raw words of `order`, lowest blocks first.
    pub(crate) fn words(&self, order: usize) -> &[u64] {
        &self.words[FIRST_WORD[order]..FIRST_WORD[order] + words_of_order(order)]
    }
}

/// Doubles every bit of `x`: bit `i` becomes bits `2i` and `2i + 1`.
///
/// This turns "block `i` of order `k + 1` is covered" into "blocks `2i` and `2i + 1` of
/// order `k` are covered", one word at a time.
pub(crate) const fn spread(x: u32) -> u64 {
    let mut v = x as u64;
    v = (v | v << 16) & 0x0000_ffff_0000_ffff;
    v = (v | v << 8) & 0x00ff_00ff_00ff_00ff;
    v = (v | v << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    v = (v | v << 2) & 0x3333_3333_3333_3333;
    v = (v | v << 1) & 0x5555_5555_5555_5555;
    v | v << 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_get_disjoint_runs_that_fit() {
        assert_eq!(FIRST_WORD, [0, 8, 12, 14, 15, 16, 17, 18, 19, 20]);
        assert_eq!(WORDS, 21);
        assert_eq!(valid_bits(3), u64::MAX);
        assert_eq!(valid_bits(4), 0xffff_ffff);
        assert_eq!(valid_bits(9), 1);
    }

    #[test]
    fn set_get_clear_and_first_stay_within_their_order() {
        let mut bitmap = OrderBitmap::EMPTY;
        for order in 0..ORDERS {
            let last = blocks_of_order(order) - 1;
            bitmap.set(order, last);
            assert!(bitmap.get(order, last));
            assert_eq!(bitmap.first(order), Some(last));
            for other in (0..ORDERS).filter(|&o| o != order) {
                assert_eq!(bitmap.first(other), None, "order {order} leaked into {other}");
            }
            bitmap.clear(order, last);
            assert_eq!(bitmap, OrderBitmap::EMPTY);
        }
    }

    #[test]
    fn spread_doubles_every_bit() {
        for x in [0, 1, 0x8000_0000, 0xdead_beef, u32::MAX, 0x5555_5555] {
            let naive =
                (0..32).filter(|i| x & (1 << i) != 0).fold(0u64, |acc, i| acc | 0b11 << (2 * i));
            assert_eq!(spread(x), naive, "{x:#x}");
        }
    }
}
