//! Physical memory at boot: which frames are free, and the allocator the kernel uses for
//! its own page tables and the root task before user space owns the rest.

use crate::arch::{self, PhysAddr};
use kernel_core::boot_info::BootInfo;
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
}
