//! The sensitivity of physical memory, per 2 MiB pageblock.
//!
//! Memory is *sensitive* (it may hold user data, or anything that could leak it) or
//! *nonsensitive*; the restricted address space the kernel runs in under ASI maps only
//! nonsensitive memory. The map starts from what the kernel handed out at boot
//! ([`PageblockMap::at_boot`]) and changes only through the ASI control capability, for
//! whole pageblocks of an untyped region with no objects in it ([`check_flip`]). Kernel
//! objects come only from nonsensitive memory ([`PageblockMap::is_all`]).

use crate::memory::{PAGEBLOCK_SIZE, PhysRange};

/// The most physical memory the map covers: the kernel's physical window.
pub const MAX_PHYSICAL: u64 = 64 * 1024 * 1024 * 1024;
const BLOCKS: usize = (MAX_PHYSICAL / PAGEBLOCK_SIZE) as usize;
const WORDS: usize = BLOCKS / 64;

/// Whether memory may hold secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// Not mapped in the restricted address space; the kernel reaching it is an ASI exit.
    Sensitive,
    /// Mapped in the restricted address space: kernel objects live here.
    Nonsensitive,
}

/// One bit per pageblock of physical memory: set when the block is sensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageblockMap {
    sensitive: [u64; WORDS],
}

/// Why a change of sensitivity is refused; each becomes a distinct error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlipRefusal {
    /// Device memory is not RAM: it has no sensitivity.
    DeviceMemory,
    /// The region has objects (or smaller regions) carved from it.
    HasChildren,
    /// The region does not start and end on pageblock boundaries.
    NotWholePageblocks,
}

/// The pageblocks an untyped region covers if its sensitivity may change: it is RAM, has
/// nothing carved from it, and is whole pageblocks (within the map).
pub fn check_flip(
    base: u64,
    size_bits: u8,
    device: bool,
    has_children: bool,
) -> Result<PhysRange, FlipRefusal> {
    if device {
        return Err(FlipRefusal::DeviceMemory);
    }
    if has_children {
        return Err(FlipRefusal::HasChildren);
    }
    let size = 1u64.checked_shl(u32::from(size_bits)).unwrap_or(0);
    let whole = size >= PAGEBLOCK_SIZE
        && base.is_multiple_of(PAGEBLOCK_SIZE)
        && base.checked_add(size).is_some_and(|end| end <= MAX_PHYSICAL);
    if !whole {
        return Err(FlipRefusal::NotWholePageblocks);
    }
    Ok(PhysRange::from_start_len(base, size))
}

/// The pageblocks (as indices) a range touches, clipped to the map.
fn blocks(range: PhysRange) -> core::ops::Range<usize> {
    if range.is_empty() {
        return 0..0;
    }
    let first = (range.start / PAGEBLOCK_SIZE).min(BLOCKS as u64) as usize;
    let last = range.end.div_ceil(PAGEBLOCK_SIZE).min(BLOCKS as u64) as usize;
    first..last
}

impl PageblockMap {
    /// Every block nonsensitive.
    pub const fn nonsensitive() -> Self {
        Self { sensitive: [0; WORDS] }
    }

    /// The map at boot: a pageblock is sensitive when all the RAM in it (`usable`) was
    /// handed to user space as untyped memory (`handed_out`), and nonsensitive when the
    /// kernel keeps any of it (its image, the boot modules, its boot-time objects). Blocks
    /// without RAM are nonsensitive: nothing can be carved from them.
    pub fn at_boot(usable: &[PhysRange], handed_out: &[PhysRange]) -> Self {
        let mut map = Self::nonsensitive();
        let ram = |block: PhysRange| usable.iter().filter(move |range| range.overlaps(&block));
        for index in 0..BLOCKS {
            let block = PhysRange::from_start_len(index as u64 * PAGEBLOCK_SIZE, PAGEBLOCK_SIZE);
            let mut has_ram = false;
            let all_handed_out = ram(block).all(|range| {
                has_ram = true;
                let inside = PhysRange::new(range.start.max(block.start), range.end.min(block.end));
                covered(inside, handed_out)
            });
            if has_ram && all_handed_out {
                map.set_block(index, Sensitivity::Sensitive);
            }
        }
        map
    }

    /// The sensitivity of the block holding `address`; addresses past the map are
    /// nonsensitive (no RAM lies there).
    pub fn sensitivity(&self, address: u64) -> Sensitivity {
        let index = (address / PAGEBLOCK_SIZE) as usize;
        let sensitive = index < BLOCKS && self.sensitive[index / 64] & (1 << (index % 64)) != 0;
        if sensitive { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive }
    }

    /// Whether every block `range` touches has `sensitivity`.
    pub fn is_all(&self, range: PhysRange, sensitivity: Sensitivity) -> bool {
        blocks(range).all(|index| self.sensitivity(index as u64 * PAGEBLOCK_SIZE) == sensitivity)
    }

    /// The blocks of `range` that do not have `sensitivity` yet, as ranges of one block.
    pub fn changing(
        &self,
        range: PhysRange,
        sensitivity: Sensitivity,
    ) -> impl Iterator<Item = PhysRange> + '_ {
        blocks(range)
            .map(|index| PhysRange::from_start_len(index as u64 * PAGEBLOCK_SIZE, PAGEBLOCK_SIZE))
            .filter(move |block| self.sensitivity(block.start) != sensitivity)
    }

    /// Gives every block `range` touches `sensitivity`; returns how many changed.
    pub fn set(&mut self, range: PhysRange, sensitivity: Sensitivity) -> usize {
        let mut changed = 0;
        for index in blocks(range) {
            if self.sensitivity(index as u64 * PAGEBLOCK_SIZE) != sensitivity {
                self.set_block(index, sensitivity);
                changed += 1;
            }
        }
        changed
    }

    /// How many blocks are sensitive.
    pub fn sensitive_blocks(&self) -> usize {
        self.sensitive.iter().map(|word| word.count_ones() as usize).sum()
    }

    fn set_block(&mut self, index: usize, sensitivity: Sensitivity) {
        let bit = 1 << (index % 64);
        match sensitivity {
            Sensitivity::Sensitive => self.sensitive[index / 64] |= bit,
            Sensitivity::Nonsensitive => self.sensitive[index / 64] &= !bit,
        }
    }
}

/// One pageblock's entry in the restricted view of the physical window, as the page
/// tables hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEntry {
    /// Not present, with the entry's whole raw value.
    Absent { raw: u64 },
    /// Present, mapping the pageblock at `frame`.
    Present { frame: u64 },
}

/// How a restricted window entry disagrees with the map: each is a kernel bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A sensitive pageblock is mapped.
    SensitiveMapped { block: u64 },
    /// A nonsensitive pageblock is not mapped.
    NonsensitiveMissing { block: u64 },
    /// The entry maps another pageblock than its own.
    WrongFrame { block: u64, frame: u64 },
    /// A non-present entry keeps bits (a frame number, which L1TF could use).
    StaleBits { block: u64, raw: u64 },
}

impl Mismatch {
    /// The pageblock the mismatch is at.
    pub const fn block(self) -> u64 {
        match self {
            Self::SensitiveMapped { block }
            | Self::NonsensitiveMissing { block }
            | Self::WrongFrame { block, .. }
            | Self::StaleBits { block, .. } => block,
        }
    }
}

impl PageblockMap {
    /// Checks the restricted window's entry for the pageblock at `block` (of RAM the
    /// window maps): present and mapping itself exactly when the block is nonsensitive,
    /// and all zero when not present.
    pub fn check_restricted(&self, block: u64, entry: WindowEntry) -> Result<(), Mismatch> {
        match (self.sensitivity(block), entry) {
            (Sensitivity::Sensitive, WindowEntry::Present { .. }) => {
                Err(Mismatch::SensitiveMapped { block })
            }
            (Sensitivity::Nonsensitive, WindowEntry::Absent { .. }) => {
                Err(Mismatch::NonsensitiveMissing { block })
            }
            (_, WindowEntry::Absent { raw }) if raw != 0 => Err(Mismatch::StaleBits { block, raw }),
            (_, WindowEntry::Present { frame }) if frame != block => {
                Err(Mismatch::WrongFrame { block, frame })
            }
            _ => Ok(()),
        }
    }
}

/// Whether `ranges` (sorted or not) cover all of `range`.
fn covered(range: PhysRange, ranges: &[PhysRange]) -> bool {
    let mut at = range.start;
    while at < range.end {
        match ranges.iter().find(|candidate| candidate.contains(at)) {
            Some(candidate) => at = candidate.end,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn range(start_mib: u64, end_mib: u64) -> PhysRange {
        PhysRange::new(start_mib * MIB, end_mib * MIB)
    }

    #[test]
    fn at_boot_blocks_the_kernel_keeps_part_of_are_nonsensitive() {
        // RAM 1..16 MiB; the kernel keeps 2..3 MiB and 6.5..7 MiB, the rest is handed out.
        let usable = [range(1, 16)];
        let handed_out =
            [range(1, 2), range(3, 6), PhysRange::new(6 * MIB, 6 * MIB + MIB / 2), range(7, 16)];
        let map = PageblockMap::at_boot(&usable, &handed_out);
        let nonsensitive = [1, 3];
        for block in 0..8 {
            let want = if nonsensitive.contains(&block) {
                Sensitivity::Nonsensitive
            } else {
                Sensitivity::Sensitive
            };
            assert_eq!(map.sensitivity(block * 2 * MIB), want, "block {block}");
        }
        // Block 0 holds RAM (1..2 MiB) all handed out: sensitive, despite the hole below.
        assert_eq!(map.sensitivity(0), Sensitivity::Sensitive);
        assert_eq!(map.sensitivity(16 * MIB), Sensitivity::Nonsensitive);
        assert_eq!(map.sensitivity(MAX_PHYSICAL), Sensitivity::Nonsensitive);
        assert_eq!(map.sensitive_blocks(), 6);
    }

    #[test]
    fn flips_need_ram_without_children_in_whole_pageblocks() {
        assert_eq!(check_flip(4 * MIB, 21, false, false), Ok(range(4, 6)));
        assert_eq!(check_flip(4 * MIB, 23, false, false), Ok(range(4, 12)));
        assert_eq!(check_flip(4 * MIB, 21, true, false), Err(FlipRefusal::DeviceMemory));
        assert_eq!(check_flip(4 * MIB, 21, false, true), Err(FlipRefusal::HasChildren));
        assert_eq!(check_flip(4 * MIB, 20, false, false), Err(FlipRefusal::NotWholePageblocks));
        assert_eq!(check_flip(MIB, 22, false, false), Err(FlipRefusal::NotWholePageblocks));
        assert_eq!(
            check_flip(MAX_PHYSICAL, 21, false, false),
            Err(FlipRefusal::NotWholePageblocks)
        );
        assert_eq!(check_flip(0, 64, false, false), Err(FlipRefusal::NotWholePageblocks));
    }

    #[test]
    fn the_restricted_view_maps_exactly_the_nonsensitive_blocks() {
        let mut map = PageblockMap::nonsensitive();
        map.set(range(4, 6), Sensitivity::Sensitive);
        let (sensitive, nonsensitive) = (4 * MIB, 6 * MIB);
        assert_eq!(map.check_restricted(sensitive, WindowEntry::Absent { raw: 0 }), Ok(()));
        assert_eq!(
            map.check_restricted(nonsensitive, WindowEntry::Present { frame: nonsensitive }),
            Ok(())
        );
        assert_eq!(
            map.check_restricted(sensitive, WindowEntry::Present { frame: sensitive }),
            Err(Mismatch::SensitiveMapped { block: sensitive })
        );
        assert_eq!(
            map.check_restricted(nonsensitive, WindowEntry::Absent { raw: 0 }),
            Err(Mismatch::NonsensitiveMissing { block: nonsensitive })
        );
        assert_eq!(
            map.check_restricted(sensitive, WindowEntry::Absent { raw: sensitive }),
            Err(Mismatch::StaleBits { block: sensitive, raw: sensitive })
        );
        let wrong = WindowEntry::Present { frame: sensitive };
        assert_eq!(
            map.check_restricted(nonsensitive, wrong),
            Err(Mismatch::WrongFrame { block: nonsensitive, frame: sensitive })
        );
        assert_eq!(Mismatch::StaleBits { block: sensitive, raw: 1 }.block(), sensitive);
    }

    #[test]
    fn setting_changes_only_what_differs() {
        let mut map = PageblockMap::nonsensitive();
        assert_eq!(map.set(range(4, 10), Sensitivity::Sensitive), 3);
        assert!(map.is_all(range(4, 10), Sensitivity::Sensitive));
        assert!(!map.is_all(range(2, 10), Sensitivity::Sensitive));
        assert_eq!(map.changing(range(2, 12), Sensitivity::Sensitive).count(), 2);
        assert_eq!(map.set(range(6, 8), Sensitivity::Sensitive), 0);
        assert_eq!(map.set(range(6, 8), Sensitivity::Nonsensitive), 1);
        assert!(
            map.is_all(PhysRange::from_start_len(6 * MIB + 4096, 4096), Sensitivity::Nonsensitive)
        );
        assert!(map.is_all(PhysRange::new(5 * MIB, 5 * MIB), Sensitivity::Nonsensitive));
        assert_eq!(map.sensitive_blocks(), 2);
    }
}
