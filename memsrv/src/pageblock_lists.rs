//! Per free list, the pageblocks that have a free block on it.
//!
//! Blocks themselves live in the pageblocks' bitmaps; what the allocator must find fast is
//! *a pageblock* with a free block of a given (sensitivity, order). These are doubly
//! linked lists threaded through fixed arrays by pageblock index, so insert, remove and
//! "first" are O(1) and need no heap. A pageblock is on at most one list per order (the
//! one of its sensitivity), so it needs one pair of links per order.

use crate::block::ORDERS;
use crate::freelist_index::FreeList;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Link {
    prev: Option<u32>,
    next: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageblockLists<const N: usize> {
    heads: [Option<u32>; FreeList::COUNT],
    links: [[Link; ORDERS]; N],
}

impl<const N: usize> PageblockLists<N> {
    pub(crate) const EMPTY: Self = Self {
        heads: [None; FreeList::COUNT],
        links: [[Link { prev: None, next: None }; ORDERS]; N],
    };

    pub(crate) fn first(&self, list: FreeList) -> Option<u32> {
        self.heads[list.index()]
    }

    /// Adds `pageblock`, which must not be on `list` already.
    pub(crate) fn push(&mut self, list: FreeList, pageblock: u32) {
        let order = usize::from(list.order());
        let old_head = self.heads[list.index()];
        self.links[pageblock as usize][order] = Link { prev: None, next: old_head };
        if let Some(old) = old_head {
            self.links[old as usize][order].prev = Some(pageblock);
        }
        self.heads[list.index()] = Some(pageblock);
    }

    /// Takes `pageblock`, which must be on `list`, off it.
    pub(crate) fn remove(&mut self, list: FreeList, pageblock: u32) {
        let order = usize::from(list.order());
        let Link { prev, next } = self.links[pageblock as usize][order];
        match prev {
            Some(p) => self.links[p as usize][order].next = next,
            None => self.heads[list.index()] = next,
        }
        if let Some(n) = next {
            self.links[n as usize][order].prev = prev;
        }
        self.links[pageblock as usize][order] = Link::default();
    }

    /// Checks that `list` holds exactly the pageblocks below `len` for which `belongs`
    /// is true, each once, with consistent back links.
    pub(crate) fn check(
        &self,
        list: FreeList,
        len: usize,
        belongs: impl Fn(usize) -> bool,
    ) -> Result<(), &'static str> {
        let order = usize::from(list.order());
        let mut prev = None;
        let mut cursor = self.heads[list.index()];
        let mut walked = 0;
        while let Some(pageblock) = cursor {
            let index = pageblock as usize;
            if index >= len || walked >= len {
                return Err("a free list runs past the managed pageblocks");
            }
            let link = self.links[index][order];
            if link.prev != prev {
                return Err("a free list's back link is wrong");
            }
            if !belongs(index) {
                return Err("a pageblock is on a free list it does not belong to");
            }
            walked += 1;
            prev = cursor;
            cursor = link.next;
        }
        if walked == (0..len).filter(|&i| belongs(i)).count() {
            Ok(())
        } else {
            Err("a pageblock is missing from a free list")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensitivity::Sensitivity;

    fn list(order: u8) -> FreeList {
        FreeList::new(Sensitivity::Sensitive, order).unwrap()
    }

    fn members<const N: usize>(lists: &PageblockLists<N>, list: FreeList) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cursor = lists.first(list);
        while let Some(p) = cursor {
            out.push(p);
            cursor = lists.links[p as usize][usize::from(list.order())].next;
        }
        out
    }

    #[test]
    fn push_and_remove_from_head_middle_and_tail() {
        let mut lists = PageblockLists::<4>::EMPTY;
        for p in 0..4 {
            lists.push(list(2), p);
        }
        lists.push(list(3), 1);
        assert_eq!(members(&lists, list(2)), [3, 2, 1, 0]);
        lists.remove(list(2), 2);
        lists.remove(list(2), 3);
        lists.remove(list(2), 0);
        assert_eq!(members(&lists, list(2)), [1]);
        assert_eq!(members(&lists, list(3)), [1]);
        assert_eq!(lists.check(list(2), 4, |p| p == 1), Ok(()));
        lists.remove(list(2), 1);
        assert_eq!(lists.first(list(2)), None);
        assert_eq!(lists.check(list(2), 4, |_| false), Ok(()));
    }

    #[test]
    fn check_reports_missing_and_extra_members() {
        let mut lists = PageblockLists::<3>::EMPTY;
        lists.push(list(0), 0);
        assert_eq!(
            lists.check(list(0), 3, |p| p < 2),
            Err("a pageblock is missing from a free list")
        );
        assert_eq!(
            lists.check(list(0), 3, |_| false),
            Err("a pageblock is on a free list it does not belong to")
        );
    }
}
