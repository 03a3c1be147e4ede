//! Physical memory at boot: which frames are free, and the allocator the kernel uses for
//! its own page tables and the root task before user space owns the rest.

use crate::arch::{self, PhysAddr};
use kernel_core::boot_info::BootInfo;
use kernel_core::cap::object::VSPACE_SIZE_BITS;
use kernel_core::frame_alloc::{BootFrameAllocator, MAX_FREE_RANGES};
use kernel_core::memory::{PhysRange, RegionKind};
use kernel_core::range_set::RangeSet;
use spin::Mutex;

/// Memory below 1 MiB stays with the firmware (real-mode structures, the EBDA, BIOS ROM).
const LOW_MEMORY_END: u64 = 0x10_0000;

static FRAMES: Mutex<Option<BootFrameAllocator>> = Mutex::new(None);

unsafe extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
}

/// Physical memory the kernel image occupies, from the linker script.
pub fn kernel_image() -> PhysRange {
    // The linker script sets these symbols' addresses to physical addresses; only their
    // addresses are taken.
    let start = core::ptr::addr_of!(__kernel_phys_start) as u64;
    let end = core::ptr::addr_of!(__kernel_phys_end) as u64;
    PhysRange::new(start, end)
}

/// Usable RAM, minus low memory, the kernel image, the boot modules and the loader's
/// structures.
pub fn free_memory(boot_info: &BootInfo) -> RangeSet<MAX_FREE_RANGES> {
    let mut free = RangeSet::new();
    let usable = boot_info.regions().filter(|region| region.kind == RegionKind::Usable);
    for region in usable {
        free.insert(region.range).expect("memory map has too many usable regions");
    }
    let taken = [PhysRange::new(0, LOW_MEMORY_END), kernel_image()]
        .into_iter()
        .chain(boot_info.modules().map(|module| module.range))
        .chain(boot_info.loader_data().iter().copied());
    for range in taken {
        free.remove(range).expect("memory map too fragmented");
    }
    free
}

/// Starts the boot frame allocator over `free`.
pub fn init(free: RangeSet<MAX_FREE_RANGES>) {
    *FRAMES.lock() = Some(BootFrameAllocator::new(free));
}

/// The boot frame allocator as a source of zeroed frames.
pub struct BootFrames<'a>(spin::MutexGuard<'a, Option<BootFrameAllocator>>);

/// Locks the boot frame allocator.
pub fn frames() -> BootFrames<'static> {
    BootFrames(FRAMES.lock())
}

impl BootFrames<'_> {
    /// A block of `2^size_bits` bytes aligned to its size (not zeroed), for objects the
    /// kernel makes at boot that span several frames; the caller initialises it.
    pub fn allocate_aligned(&mut self, size_bits: u8) -> Option<u64> {
        self.0.as_mut()?.allocate_aligned(size_bits)
    }

    /// Ends boot-time allocation and returns the memory never handed out, which becomes
    /// user space's untyped memory. Any later allocation fails.
    pub fn retire(&mut self) -> RangeSet<MAX_FREE_RANGES> {
        let allocator = self.0.take().expect("boot allocation already retired");
        let mut left = RangeSet::new();
        for range in allocator.remaining() {
            left.insert(*range).expect("the allocator's own ranges fit");
        }
        left
    }

    /// Frames handed out so far, and bytes still free.
    pub fn usage(&self) -> (u64, u64) {
        self.0.as_ref().map_or((0, 0), |frames| {
            (frames.frames_handed_out(), frames.remaining().iter().map(PhysRange::len).sum())
        })
    }
}

impl arch::FrameSource for BootFrames<'_> {
    fn allocate_zeroed(&mut self) -> Option<PhysAddr> {
        let frame = PhysAddr::new(self.0.as_mut()?.allocate()?);
        arch::zero_frame(frame);
        Some(frame)
    }

    fn allocate_zeroed_pair(&mut self) -> Option<PhysAddr> {
        let pair = self.allocate_aligned(VSPACE_SIZE_BITS)?;
        arch::zero_physical(PhysRange::from_start_len(pair, 1 << VSPACE_SIZE_BITS));
        Some(PhysAddr::new(pair))
    }
}

#[cfg(feature = "ktest")]
pub mod tests {
    use super::*;
    use crate::arch::FrameSource;
    use crate::ktest::{KernelTest, TestResult, ensure};
    use kernel_core::memory::PAGE_SIZE;

    pub const TESTS: &[KernelTest] = &[
        KernelTest {
            name: "kernel::mem::free_memory_excludes_what_is_in_use",
            run: free_memory_excludes_what_is_in_use,
        },
        KernelTest {
            name: "kernel::mem::frames_are_free_aligned_and_zeroed",
            run: frames_are_free_aligned_and_zeroed,
        },
    ];

    fn in_use(boot_info: &BootInfo) -> impl Iterator<Item = PhysRange> + '_ {
        [PhysRange::new(0, LOW_MEMORY_END), kernel_image()]
            .into_iter()
            .chain(boot_info.modules().map(|module| module.range))
            .chain(boot_info.loader_data().iter().copied())
    }

    fn inside_usable_ram(boot_info: &BootInfo, range: PhysRange) -> bool {
        boot_info.regions().any(|r| {
            r.kind == RegionKind::Usable && r.range.start <= range.start && range.end <= r.range.end
        })
    }

    fn free_memory_excludes_what_is_in_use(boot_info: &BootInfo) -> TestResult {
        let free = free_memory(boot_info);
        ensure!(free.total() > 0, "no free memory at all");
        for range in free.as_slice() {
            ensure!(
                inside_usable_ram(boot_info, *range),
                "free range {range:x?} is not usable RAM"
            );
            for used in in_use(boot_info) {
                ensure!(
                    !range.overlaps(&used),
                    "free range {range:x?} overlaps {used:x?}, which is in use"
                );
            }
        }
        Ok(())
    }

    fn frames_are_free_aligned_and_zeroed(boot_info: &BootInfo) -> TestResult {
        let mut taken: heapless::Vec<u64, 8> = heapless::Vec::new();
        for _ in 0..8 {
            let frame = frames().allocate_zeroed();
            ensure!(frame.is_some(), "allocator ran dry after {} frames", taken.len());
            let frame = frame.map_or(0, |f| f.as_u64());
            let range = PhysRange::from_start_len(frame, PAGE_SIZE);
            ensure!(frame.is_multiple_of(PAGE_SIZE), "frame {frame:#x} is not page-aligned");
            ensure!(!taken.contains(&frame), "frame {frame:#x} handed out twice");
            ensure!(inside_usable_ram(boot_info, range), "frame {frame:#x} is not usable RAM");
            for used in in_use(boot_info) {
                ensure!(
                    !range.overlaps(&used),
                    "frame {frame:#x} overlaps {used:x?}, which is in use"
                );
            }
            let mut contents = [0xffu8; PAGE_SIZE as usize];
            ensure!(
                arch::read_physical(frame, &mut contents),
                "frame {frame:#x} unreadable through the window"
            );
            ensure!(contents.iter().all(|&byte| byte == 0), "frame {frame:#x} was not zeroed");
            let _ = taken.push(frame);
        }
        Ok(())
    }
}
