//! Handing out free slots of the root CNode.

use syscall_abi::boot_info::SlotRange;

/// The most slots one allocator tracks: a whole root CNode of radix 12.
pub const CAPACITY: usize = 4096;
const WORDS: usize = CAPACITY / 64;

/// Hands out indices of free slots, from the empty range the boot information names
/// ([`BootInfo::empty`](syscall_abi::boot_info::BootInfo::empty)). It only does
/// bookkeeping: a freed index must really have been emptied (deleted or moved out) before
/// it is handed out again, or the next user meets [`Error::DeleteFirst`](crate::Error).
///
/// ```ignore
/// use libasi::boot::SlotRange;
/// use libasi::cap::SlotAllocator;
///
/// let mut slots = SlotAllocator::new(SlotRange { start: 100, end: 110 });
/// assert_eq!(slots.alloc(), Some(100));
/// assert_eq!(slots.alloc_range(4), Some(101));
/// slots.free(100);
/// assert_eq!(slots.alloc(), Some(100));
/// assert_eq!(slots.available(), 5);
/// ```
///
/// (Not a doctest: on the host libasi's panic handler clashes with std's; the unit
/// tests check the same.)
#[derive(Clone, Debug)]
pub struct SlotAllocator {
    start: u64,
    len: usize,
    used: [u64; WORDS],
    /// How many bits of `used` are set: counted as they change, since counting them
    /// takes a loop over every word (this target has no `popcnt`), and memsrv asks before
    /// every allocation.
    taken: usize,
    /// Where the next search starts, so that fresh slots are handed out in order.
    hint: usize,
}

impl SlotAllocator {
    /// An allocator over `range`, of which at most [`CAPACITY`] slots are used.
    pub const fn new(range: SlotRange) -> Self {
        let span = range.end.saturating_sub(range.start);
        let len = if span < CAPACITY as u64 { span as usize } else { CAPACITY };
        Self { start: range.start, len, used: [0; WORDS], taken: 0, hint: 0 }
    }

    fn is_used(&self, offset: usize) -> bool {
        self.used[offset / 64] & (1 << (offset % 64)) != 0
    }

    fn set(&mut self, offset: usize, used: bool) {
        let bit = 1 << (offset % 64);
        let word = &mut self.used[offset / 64];
        if (*word & bit != 0) == used {
            return;
        }
        if used {
            *word |= bit;
            self.taken += 1;
        } else {
            *word &= !bit;
            self.taken -= 1;
        }
    }

    /// A free slot, now taken; `None` if there is none.
    pub fn alloc(&mut self) -> Option<u64> {
        self.alloc_range(1)
    }

    /// The first of `count` consecutive free slots, now taken; `None` if there is no such
    /// run (or `count` is 0).
    pub fn alloc_range(&mut self, count: usize) -> Option<u64> {
        if count == 0 || count > self.len {
            return None;
        }
        let from_hint =
            (self.hint..=self.len - count).chain(0..self.hint.min(self.len - count + 1));
        for first in from_hint {
            if (first..first + count).all(|offset| !self.is_used(offset)) {
                for offset in first..first + count {
                    self.set(offset, true);
                }
                self.hint = first + count;
                if self.hint >= self.len {
                    self.hint = 0;
                }
                return Some(self.start + first as u64);
            }
        }
        None
    }

    /// Gives `slot` back. Slots outside the range, and slots not taken, are ignored.
    pub fn free(&mut self, slot: u64) {
        self.free_range(slot, 1);
    }

    /// Gives back `count` slots from `first`.
    pub fn free_range(&mut self, first: u64, count: usize) {
        for slot in first..first.saturating_add(count as u64) {
            if let Some(offset) = self.offset(slot) {
                self.set(offset, false);
            }
        }
    }

    /// Whether `slot` is in the range and handed out.
    pub fn is_allocated(&self, slot: u64) -> bool {
        self.offset(slot).is_some_and(|offset| self.is_used(offset))
    }

    /// How many slots are free.
    pub fn available(&self) -> usize {
        self.len - self.taken
    }

    /// The slots this allocator manages.
    pub fn range(&self) -> SlotRange {
        SlotRange { start: self.start, end: self.start + self.len as u64 }
    }

    fn offset(&self, slot: u64) -> Option<usize> {
        let offset = slot.checked_sub(self.start)?;
        (offset < self.len as u64).then_some(offset as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> SlotRange {
        SlotRange { start, end }
    }

    #[test]
    fn hands_out_every_slot_once_in_order() {
        let mut slots = SlotAllocator::new(range(10, 14));
        let taken: Vec<_> = core::iter::from_fn(|| slots.alloc()).collect();
        assert_eq!(taken, [10, 11, 12, 13]);
        assert_eq!(slots.available(), 0);
        assert!(slots.is_allocated(12));
        assert!(!slots.is_allocated(14));
    }

    #[test]
    fn freed_slots_come_back() {
        let mut slots = SlotAllocator::new(range(0, 3));
        let (a, b, c) = (slots.alloc().unwrap(), slots.alloc().unwrap(), slots.alloc().unwrap());
        slots.free(b);
        assert_eq!(slots.alloc(), Some(b));
        slots.free(a);
        slots.free(c);
        assert_eq!(slots.available(), 2);
        assert_eq!(slots.alloc_range(2), None, "a and c are not adjacent");
        slots.free(b);
        assert_eq!(slots.alloc_range(3), Some(0));
    }

    #[test]
    fn runs_are_consecutive_and_skip_taken_slots() {
        let mut slots = SlotAllocator::new(range(100, 120));
        assert_eq!(slots.alloc_range(5), Some(100));
        assert_eq!(slots.alloc(), Some(105));
        slots.free_range(100, 5);
        // The hint goes forward first, then wraps to the freed run.
        assert_eq!(slots.alloc_range(14), Some(106));
        assert_eq!(slots.alloc_range(6), None);
        assert_eq!(slots.alloc_range(5), Some(100));
        assert_eq!(slots.alloc_range(0), None);
        assert_eq!(slots.available(), 0);
    }

    #[test]
    fn foreign_slots_are_ignored() {
        let mut slots = SlotAllocator::new(range(50, 52));
        slots.free(3);
        slots.free(u64::MAX);
        slots.free_range(u64::MAX - 1, 5);
        assert_eq!(slots.available(), 2);
        assert!(!slots.is_allocated(0));
    }

    #[test]
    fn available_counts_every_bit_as_it_changes() {
        let mut slots = SlotAllocator::new(range(0, 200));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let slot = state % 210;
            if state & (1 << 40) == 0 {
                slots.free(slot);
            } else {
                let _ = slots.alloc_range((state >> 50) as usize % 4);
            }
            let set: u32 = slots.used.iter().map(|word| word.count_ones()).sum();
            assert_eq!(slots.available(), 200 - set as usize);
        }
        slots.free(7);
        slots.free(7);
        let set: u32 = slots.used.iter().map(|word| word.count_ones()).sum();
        assert_eq!(slots.available(), 200 - set as usize, "a double free counts once");
    }

    #[test]
    fn large_and_empty_ranges() {
        let slots = SlotAllocator::new(range(0, 1 << 20));
        assert_eq!(slots.range(), range(0, CAPACITY as u64));
        let mut empty = SlotAllocator::new(range(9, 9));
        assert_eq!(empty.alloc(), None);
        let mut backwards = SlotAllocator::new(range(9, 3));
        assert_eq!(backwards.alloc(), None);
    }
}
