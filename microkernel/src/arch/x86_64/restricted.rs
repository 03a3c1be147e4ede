//! The restricted view of the physical window: page tables that map only the nonsensitive
//! pageblocks of RAM, for the restricted address space the kernel runs in under ASI.
//!
//! Built at boot as a copy of the window's own tables (a page-directory-pointer table and
//! the page directories below it, every RAM pageblock one 2 MiB entry), then kept in step
//! with the sensitivity map (`object::sensitivity`): a pageblock changing sensitivity is
//! one entry written and, when it becomes sensitive, its translation flushed. Nothing is
//! allocated after boot. A non-present entry is all zero: it keeps no frame number that
//! an L1TF-style attack could use.

use super::FrameSource;
use super::boot_constant::BootConstant;
use super::paging::{indices, no_execute, table_mut};
use super::percpu::count;
use super::phys::{self, PHYS_WINDOW_BASE};
use kernel_core::memory::PAGEBLOCK_SIZE;
use kernel_core::sensitivity::{Mismatch, WindowEntry};
use syscall_abi::counters::Counter;
use x86_64::instructions::tlb;
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags};
use x86_64::{PhysAddr, VirtAddr};

/// The restricted window's page-directory-pointer table (0 until built).
static PDPT: BootConstant<u64> = BootConstant::new(0);
/// Where the window ends.
static TOP: BootConstant<u64> = BootConstant::new(0);

/// Copies the window's tables under `pml4` (the kernel's, just built, covering `top`
/// bytes) into fresh ones from `frames`.
///
/// # Safety
/// Called once, by the bootstrap CPU while it builds the kernel's tables, with `pml4` the
/// kernel's new root, reachable from nothing else yet.
pub(super) unsafe fn build(pml4: &PageTable, top: u64, frames: &mut dyn FrameSource) {
    let [window_p4, _, _, _] = indices(VirtAddr::new(PHYS_WINDOW_BASE));
    let copy = frames.allocate_zeroed().expect("no frame for the restricted window");
    // SAFETY: the window's tables are private to the boot CPU until the kernel runs user
    // code, and `copy` was just allocated.
    let (window, restricted) = unsafe { (table_mut(pml4[window_p4].addr()), table_mut(copy)) };
    for gib in 0..top.div_ceil(1 << 30) as usize {
        let directory = frames.allocate_zeroed().expect("no frame for the restricted window");
        // SAFETY: as above: a page directory of the window, and a fresh one.
        let (from, to) = unsafe { (table_mut(window[gib].addr()), table_mut(directory)) };
        for (source, target) in from.iter().zip(to.iter_mut()) {
            *target = source.clone();
        }
        restricted[gib].set_addr(directory, window[gib].flags());
    }
    // SAFETY: the contract of this function: once, before anything reads them.
    unsafe {
        PDPT.set(copy.as_u64());
        TOP.set(top);
    }
}

/// The restricted window's page-directory-pointer table, for the restricted top-level
/// tables' window entry.
pub(super) fn pdpt() -> PhysAddr {
    PhysAddr::new(PDPT.get())
}

/// The restricted page-directory entry of the pageblock at `block` (RAM the window maps).
fn entry(block: u64) -> &'static mut x86_64::structures::paging::page_table::PageTableEntry {
    let [_, p3, p2, _] = indices(VirtAddr::new(PHYS_WINDOW_BASE + block));
    // SAFETY: the restricted window's tables are the kernel's own, changed only here, by
    // the CPU in the kernel with interrupts off, and never through another reference.
    unsafe {
        let directory = table_mut(PhysAddr::new(PDPT.get()))[p3].addr();
        &mut table_mut(directory)[p2]
    }
}

/// Whether `block` is a pageblock of RAM the window maps.
fn in_window(block: u64) -> bool {
    block.is_multiple_of(PAGEBLOCK_SIZE)
        && block < TOP.get()
        && phys::mapped_blocks().contains(block)
}

/// Maps the pageblock at `block` in the restricted window, or takes it out (and flushes
/// its translation from this CPU's TLB, counted as a shootdown: from the current PCID at
/// once, from the other restricted ones before they are used again; other CPUs will be
/// sent one when SMP comes). Blocks outside the window's RAM are left alone.
pub fn set_block(block: u64, present: bool) {
    if !in_window(block) {
        return;
    }
    let entry = entry(block);
    if present {
        let leaf = Flags::PRESENT | Flags::WRITABLE | Flags::HUGE_PAGE | no_execute();
        entry.set_addr(PhysAddr::new(block), leaf);
    } else {
        entry.set_unused();
        tlb::flush(VirtAddr::new(PHYS_WINDOW_BASE + block));
        super::pcid::window_entry_removed();
        count::<{ Counter::TlbShootdowns as usize }>();
    }
}

/// Takes the pageblock at `block` out of the restricted window while the kernel is
/// setting up, before any address space runs: flushed like a flip, but not counted as a
/// shootdown. The kernel's restricted table is in CR3 already and may have cached the
/// block; without PCIDs the switch to the root task would flush it anyway, with them the
/// kernel's PCIDs keep their entries across switches.
pub fn exclude_at_boot(block: u64) {
    if in_window(block) {
        entry(block).set_unused();
        tlb::flush(VirtAddr::new(PHYS_WINDOW_BASE + block));
        super::pcid::window_entry_removed();
    }
}

/// The raw restricted entry of the pageblock at `block`, if the window maps it.
pub fn raw_entry(block: u64) -> Option<u64> {
    in_window(block).then(|| {
        let entry = entry(block);
        entry.addr().as_u64() | entry.flags().bits()
    })
}

/// What the restricted window holds for the pageblock at `block`, if the window maps it.
fn block_entry(block: u64) -> Option<WindowEntry> {
    raw_entry(block).map(|raw| {
        if raw & Flags::PRESENT.bits() != 0 {
            WindowEntry::Present { frame: raw & PAGEBLOCK_FRAME_MASK }
        } else {
            WindowEntry::Absent { raw }
        }
    })
}

/// The frame-number bits of a 2 MiB page's entry.
const PAGEBLOCK_FRAME_MASK: u64 = 0x000f_ffff_ffe0_0000;

/// Checks every RAM pageblock's restricted entry with `check`; the first mismatch.
pub fn verify(check: impl Fn(u64, WindowEntry) -> Result<(), Mismatch>) -> Result<(), Mismatch> {
    (0..TOP.get())
        .step_by(PAGEBLOCK_SIZE as usize)
        .filter_map(|block| block_entry(block).map(|entry| (block, entry)))
        .try_for_each(|(block, entry)| check(block, entry))
}
