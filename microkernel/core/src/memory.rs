//! Physical memory as the firmware describes it.

/// The size of a page, and of a frame.
pub const PAGE_SIZE: u64 = 4096;
/// The size of a pageblock: the unit at which the physical window is mapped and at which
/// memory will be sensitive or nonsensitive.
pub const PAGEBLOCK_SIZE: u64 = 2 * 1024 * 1024;

/// A half-open range `[start, end)` of physical addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    /// The range `[start, end)`; an `end` below `start` gives the empty range at `start`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end: if end < start { start } else { end } }
    }

    /// The range of `len` bytes from `start`, cut at the top of the address space.
    pub const fn from_start_len(start: u64, len: u64) -> Self {
        Self::new(start, start.saturating_add(len))
    }

    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    pub const fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The largest sub-range whose ends are multiples of `align` (a power of two).
    pub const fn align_inward(&self, align: u64) -> Self {
        let start = align_up(self.start, align);
        let end = align_down(self.end, align);
        Self::new(start, end)
    }

    /// The smallest range whose ends are multiples of `align` (a power of two) and that
    /// covers this one.
    pub const fn align_outward(&self, align: u64) -> Self {
        Self::new(align_down(self.start, align), align_up(self.end, align))
    }
}

/// Rounds `value` up to a multiple of `align` (a power of two), saturating at the top.
pub const fn align_up(value: u64, align: u64) -> u64 {
    match value.checked_add(align - 1) {
        Some(bumped) => bumped & !(align - 1),
        None => !(align - 1),
    }
}

/// Rounds `value` down to a multiple of `align` (a power of two).
pub const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

/// What the firmware says a region of physical memory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM free for the kernel and user space.
    Usable,
    /// RAM holding ACPI tables, free once they are read.
    AcpiReclaimable,
    /// Memory the firmware keeps across sleep states.
    AcpiNvs,
    /// RAM the firmware reports as failing.
    Defective,
    /// Anything else, including types this kernel does not know.
    Reserved,
}

impl RegionKind {
    /// The kind for an E820/Multiboot memory-map type number.
    pub const fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Usable,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Defective,
            _ => Self::Reserved,
        }
    }

    /// Whether the physical window maps this kind: RAM and firmware tables, never device
    /// memory (which needs uncached mappings of its own).
    pub const fn in_physical_window(self) -> bool {
        !matches!(self, Self::Reserved)
    }
}

/// One entry of the firmware's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub range: PhysRange,
    pub kind: RegionKind,
}

/// The pageblocks the physical window maps: every block that holds any RAM or firmware
/// table, whatever else shares the block.
pub fn window_blocks(regions: &[MemoryRegion]) -> impl Iterator<Item = PhysRange> + '_ {
    let top = window_top(regions);
    (0..top / PAGEBLOCK_SIZE)
        .map(|index| PhysRange::from_start_len(index * PAGEBLOCK_SIZE, PAGEBLOCK_SIZE))
        .filter(move |block| {
            regions
                .iter()
                .any(|region| region.kind.in_physical_window() && region.range.overlaps(block))
        })
}

/// The end of the physical window: the top of the highest region it maps, rounded up to a
/// whole pageblock. Tables for the window are allocated up to here, mapped or not.
pub fn window_top(regions: &[MemoryRegion]) -> u64 {
    regions
        .iter()
        .filter(|region| region.kind.in_physical_window() && !region.range.is_empty())
        .map(|region| align_up(region.range.end, PAGEBLOCK_SIZE))
        .max()
        .unwrap_or(0)
}

/// The bound [`object_in_window`] compares with: the word index of the last address at
/// which an object of `max_object_bytes` still ends by `window_end` (0 for an empty
/// window, which then holds no object at all but the one at address 0).
pub const fn object_window_bound(window_end: u64, max_object_bytes: u64) -> u64 {
    window_end.saturating_sub(max_object_bytes) / 8
}

/// Whether an object of at most the bound's size at `object` is 8-byte aligned and ends
/// inside the window, in one comparison: rotated right by three bits, a misaligned
/// address has a low bit at the top and so exceeds every bound.
#[inline(always)]
pub const fn object_in_window(object: u64, bound: u64) -> bool {
    object.rotate_right(3) <= bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_window_check_takes_aligned_objects_that_end_inside() {
        let bound = object_window_bound(0x10_0000, 2048);
        assert!(object_in_window(0, bound));
        assert!(object_in_window(0x10_0000 - 2048, bound));
        assert!(!object_in_window(0x10_0000 - 2040, bound));
        assert!(!object_in_window(0x10_0000, bound));
        assert!(!object_in_window(!7, bound));
        for misaligned in [1, 2, 4, 7, 0x800 + 3, 0x10_0000 - 2048 - 1] {
            assert!(!object_in_window(misaligned, bound), "{misaligned:#x}");
        }
        assert_eq!(object_window_bound(0, 2048), 0);
    }

    const MIB: u64 = 1024 * 1024;

    fn region(start: u64, end: u64, kind: RegionKind) -> MemoryRegion {
        MemoryRegion { range: PhysRange::new(start, end), kind }
    }

    #[test]
    fn alignment_rounds_the_right_way_and_saturates() {
        assert_eq!(align_up(1, 4096), 4096);
        assert_eq!(align_up(4096, 4096), 4096);
        assert_eq!(align_down(4097, 4096), 4096);
        assert_eq!(align_up(u64::MAX - 5, 4096), !4095);
        let range = PhysRange::new(0x1001, 0x5fff);
        assert_eq!(range.align_inward(4096), PhysRange::new(0x2000, 0x5000));
        assert_eq!(range.align_outward(4096), PhysRange::new(0x1000, 0x6000));
        assert!(PhysRange::new(0x1100, 0x1200).align_inward(4096).is_empty());
    }

    #[test]
    fn reversed_range_is_empty() {
        let range = PhysRange::new(10, 5);
        assert!(range.is_empty());
        assert_eq!(range.len(), 0);
    }

    #[test]
    fn e820_types_map_to_kinds() {
        assert_eq!(RegionKind::from_e820(1), RegionKind::Usable);
        assert_eq!(RegionKind::from_e820(2), RegionKind::Reserved);
        assert_eq!(RegionKind::from_e820(3), RegionKind::AcpiReclaimable);
        assert_eq!(RegionKind::from_e820(99), RegionKind::Reserved);
    }

    #[test]
    fn window_covers_ram_blocks_and_skips_device_holes() {
        let regions = [
            region(0, 0x9fc00, RegionKind::Usable),
            region(0x100000, 255 * MIB, RegionKind::Usable),
            region(255 * MIB, 256 * MIB, RegionKind::AcpiReclaimable),
            region(0xfec0_0000, 0xfec0_1000, RegionKind::Reserved),
        ];
        assert_eq!(window_top(&regions), 256 * MIB);
        let blocks: Vec<_> = window_blocks(&regions).collect();
        assert_eq!(blocks.len(), 128);
        assert_eq!(blocks[0], PhysRange::new(0, 2 * MIB));
        assert!(blocks.iter().all(|block| block.end <= 256 * MIB));
    }

    #[test]
    fn window_leaves_blocks_without_ram_unmapped() {
        let regions =
            [region(0, 2 * MIB, RegionKind::Usable), region(6 * MIB, 7 * MIB, RegionKind::Usable)];
        let starts: Vec<_> = window_blocks(&regions).map(|block| block.start / MIB).collect();
        assert_eq!(starts, [0, 6]);
        assert_eq!(window_top(&regions), 8 * MIB);
        assert_eq!(window_top(&[]), 0);
    }
}
