//! The freetype index: (sensitivity, order) packed into one dense number.
//!
//! As in the seed's `pindex` helpers, per-list arrays (list heads, statistics) are indexed
//! by a single integer, and the two directions of the mapping must round-trip.

use crate::block::{ORDERS, PAGEBLOCK_ORDER};
use crate::sensitivity::Sensitivity;

/// One free list: the free blocks of one order in pageblocks of one sensitivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FreeList {
    sensitivity: Sensitivity,
    order: u8,
}

impl FreeList {
    /// How many free lists exist; every [`FreeList::index`] is below this.
    pub const COUNT: usize = Sensitivity::ALL.len() * ORDERS;

    /// The list for `sensitivity` and `order`, if `order` exists.
    pub const fn new(sensitivity: Sensitivity, order: u8) -> Option<Self> {
        if order <= PAGEBLOCK_ORDER { Some(Self { sensitivity, order }) } else { None }
    }

    /// The list of whole free pageblocks of `sensitivity`: the ones a flip may take.
    pub const fn pageblocks(sensitivity: Sensitivity) -> Self {
        Self { sensitivity, order: PAGEBLOCK_ORDER }
    }

    /// The list with dense index `index`, if `index < COUNT`.
    pub const fn from_index(index: usize) -> Option<Self> {
        if index >= Self::COUNT {
            return None;
        }
        let sensitivity = Sensitivity::ALL[index / ORDERS];
        Some(Self { sensitivity, order: (index % ORDERS) as u8 })
    }

    /// The dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self.sensitivity.index() * ORDERS + self.order as usize
    }

    /// The sensitivity of the blocks on this list.
    pub const fn sensitivity(self) -> Sensitivity {
        self.sensitivity
    }

    /// The order of the blocks on this list.
    pub const fn order(self) -> u8 {
        self.order
    }

    /// Every list, in index order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..Self::COUNT).filter_map(Self::from_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_pair_maps_to_a_distinct_index_and_back() {
        let mut seen = HashSet::new();
        for sensitivity in Sensitivity::ALL {
            for order in 0..=PAGEBLOCK_ORDER {
                let list = FreeList::new(sensitivity, order).unwrap();
                assert_eq!((list.sensitivity(), list.order()), (sensitivity, order));
                assert!(list.index() < FreeList::COUNT);
                assert!(seen.insert(list.index()), "index {} reused", list.index());
                assert_eq!(FreeList::from_index(list.index()), Some(list));
            }
        }
        assert_eq!(seen.len(), FreeList::COUNT);
    }

    #[test]
    fn every_index_maps_to_a_pair_and_back() {
        for index in 0..FreeList::COUNT {
            assert_eq!(FreeList::from_index(index).unwrap().index(), index);
        }
        assert_eq!(FreeList::all().count(), FreeList::COUNT);
    }

    #[test]
    fn out_of_range_inputs_are_rejected() {
        assert_eq!(FreeList::from_index(FreeList::COUNT), None);
        assert_eq!(FreeList::from_index(usize::MAX), None);
        assert_eq!(FreeList::new(Sensitivity::Sensitive, PAGEBLOCK_ORDER + 1), None);
        assert_eq!(FreeList::new(Sensitivity::Nonsensitive, u8::MAX), None);
    }

    #[test]
    fn pageblocks_is_the_top_order_list() {
        for s in Sensitivity::ALL {
            assert_eq!(FreeList::pageblocks(s), FreeList::new(s, PAGEBLOCK_ORDER).unwrap());
        }
    }
}
