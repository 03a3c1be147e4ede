//! A fixed-capacity set of disjoint physical ranges, for bookkeeping before any allocator
//! exists.

use crate::memory::PhysRange;

/// The set had no room for the ranges an operation needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSetFull;

/// Disjoint, non-empty ranges kept in ascending order; at most `N` of them.
#[derive(Clone, Debug)]
pub struct RangeSet<const N: usize> {
    ranges: [PhysRange; N],
    len: usize,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RangeSet<N> {
    pub const fn new() -> Self {
        Self { ranges: [PhysRange { start: 0, end: 0 }; N], len: 0 }
    }

    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(PhysRange::len).sum()
    }

    /// Adds `range`, merging it with every range it overlaps or touches.
    pub fn insert(&mut self, range: PhysRange) -> Result<(), RangeSetFull> {
        if range.is_empty() {
            return Ok(());
        }
        let mut merged = range;
        let mut kept = [PhysRange::default(); N];
        let mut kept_len = 0;
        for existing in self.as_slice() {
            if existing.end < merged.start || merged.end < existing.start {
                kept[kept_len] = *existing;
                kept_len += 1;
            } else {
                merged =
                    PhysRange::new(merged.start.min(existing.start), merged.end.max(existing.end));
            }
        }
        if kept_len == N {
            return Err(RangeSetFull);
        }
        let position = kept[..kept_len].iter().take_while(|r| r.start < merged.start).count();
        kept.copy_within(position..kept_len, position + 1);
        kept[position] = merged;
        self.ranges = kept;
        self.len = kept_len + 1;
        Ok(())
    }

    /// Takes `range` out of the set, splitting a range that it cuts in two.
    pub fn remove(&mut self, range: PhysRange) -> Result<(), RangeSetFull> {
        if range.is_empty() {
            return Ok(());
        }
        let mut kept = [PhysRange::default(); N];
        let mut kept_len = 0;
        for existing in self.as_slice() {
            let pieces = [
                PhysRange::new(existing.start, existing.end.min(range.start)),
                PhysRange::new(existing.start.max(range.end), existing.end),
            ];
            for piece in pieces.into_iter().filter(|piece| !piece.is_empty()) {
                if kept_len == N {
                    return Err(RangeSetFull);
                }
                kept[kept_len] = piece;
                kept_len += 1;
            }
        }
        self.ranges = kept;
        self.len = kept_len;
        Ok(())
    }

    /// Shrinks every range to whole multiples of `align` (a power of two), dropping those
    /// left empty.
    pub fn align_inward(&mut self, align: u64) {
        let mut kept = 0;
        for index in 0..self.len {
            let aligned = self.ranges[index].align_inward(align);
            if !aligned.is_empty() {
                self.ranges[kept] = aligned;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<const N: usize>(ranges: &[(u64, u64)]) -> RangeSet<N> {
        let mut set = RangeSet::new();
        for &(start, end) in ranges {
            set.insert(PhysRange::new(start, end)).unwrap();
        }
        set
    }

    fn pairs<const N: usize>(set: &RangeSet<N>) -> Vec<(u64, u64)> {
        set.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_keeps_order_and_merges_touching_ranges() {
        let set: RangeSet<4> = set(&[(50, 60), (10, 20), (20, 30), (55, 70)]);
        assert_eq!(pairs(&set), [(10, 30), (50, 70)]);
        assert_eq!(set.total(), 40);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut set: RangeSet<4> = set(&[(0, 100), (200, 300)]);
        set.remove(PhysRange::new(40, 60)).unwrap();
        set.remove(PhysRange::new(250, 400)).unwrap();
        assert_eq!(pairs(&set), [(0, 40), (60, 100), (200, 250)]);
        set.remove(PhysRange::new(0, 1000)).unwrap();
        assert!(set.as_slice().is_empty());
    }

    #[test]
    fn full_set_reports_instead_of_losing_ranges() {
        let mut set: RangeSet<2> = set(&[(0, 10), (20, 30)]);
        assert_eq!(set.insert(PhysRange::new(40, 50)), Err(RangeSetFull));
        assert_eq!(set.remove(PhysRange::new(4, 6)), Err(RangeSetFull));
        assert_eq!(pairs(&set), [(0, 10), (20, 30)]);
    }

    #[test]
    fn align_inward_drops_slivers() {
        let mut set: RangeSet<4> = set(&[(0x1001, 0x1fff), (0x2001, 0x5001)]);
        set.align_inward(0x1000);
        assert_eq!(pairs(&set), [(0x3000, 0x5000)]);
    }
}
