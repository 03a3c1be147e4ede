//! Four-level page tables: the kernel's own tables, built once at boot, and user address
//! spaces, which share the kernel half.
//!
//! Every table tree comes as a pair of top-level tables: the restricted one, which CR3
//! normally holds, and its unrestricted twin, which the kernel switches to on an ASI exit
//! (`asi`). They differ only in the physical window's entry: the restricted one points at
//! the restricted view (`restricted`), which lacks the sensitive pageblocks. For an address
//! space the twin is 4 KiB above the restricted table (a VSpace object is 8 KiB) and the
//! user half (entries 0..256) is written in both; the kernel's own pair (no user half) is
//! `KERNEL_RESTRICTED_ROOT` and `KERNEL_ROOT`. With `asi=off` both tables of a pair
//! map the whole window.
//!
//! Kernel-half layout (identical in every address space, fixed after boot):
//! - PML4 slots 256.. : the physical window, 2 MiB pages, tables allocated for every
//!   pageblock up to the top of RAM so that changing one block's mapping later (address
//!   space isolation) is a single entry update and never allocates;
//! - PML4 slot 511   : the kernel image at its link address, 4 KiB pages with each
//!   section's own permissions, stack guard pages left unmapped.

use super::pcid;
use super::percpu::count;
use super::phys::{self, PHYS_WINDOW_BASE, WINDOW_MAX};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel_core::memory::{MemoryRegion, PAGE_SIZE, PAGEBLOCK_SIZE, window_blocks, window_top};
use kernel_core::pcid::Half;
use syscall_abi::counters::Counter;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Where the kernel image is linked: virtual = this + physical.
pub const KERNEL_VIRT_OFFSET: u64 = 0xFFFF_FFFF_8000_0000;
const FIRST_KERNEL_SLOT: usize = 256;

/// A source of zeroed frames for page tables and user pages.
pub trait FrameSource {
    /// A zeroed 4 KiB frame, or `None` when memory is exhausted.
    fn allocate_zeroed(&mut self) -> Option<PhysAddr>;

    /// Two zeroed frames, 8 KiB aligned (an address space's pair of top-level tables), or
    /// `None` when memory is exhausted.
    fn allocate_zeroed_pair(&mut self) -> Option<PhysAddr>;
}

/// Why a mapping could not be made. The address space is unchanged in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The page is not page-aligned or not in the user half.
    NotUserPage,
    /// Something is already mapped there.
    AlreadyMapped,
    /// No frame for a page table.
    OutOfMemory,
}

/// The access a user page grants beyond reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAccess {
    pub write: bool,
    pub execute: bool,
}

static NX_ENABLED: AtomicBool = AtomicBool::new(false);
/// The kernel's unrestricted top-level table (all of the window).
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// Its restricted twin, which CR3 holds when no address space is active.
static KERNEL_RESTRICTED_ROOT: AtomicU64 = AtomicU64::new(0);
/// How far above an address space's restricted top-level table its unrestricted one is.
pub(super) const TWIN_OFFSET: u64 = PAGE_SIZE;

/// Whether page-table entries may use the no-execute bit on this CPU.
pub(super) fn nx_enabled() -> bool {
    NX_ENABLED.load(Ordering::Relaxed)
}

/// The page table in frame `table`, for the VSpace operations: user page tables are
/// object memory that only the kernel writes, one CPU at a time, through short-lived
/// references like this one.
pub(super) fn table_in_window(table: PhysAddr) -> &'static mut PageTable {
    // SAFETY: `table` is a page-table object (a PML4 or a table installed below one),
    // inside the physical window; references to it never outlive one VSpace operation,
    // which runs with interrupts off on the one CPU in the kernel.
    unsafe { table_mut(table) }
}

pub(super) fn no_execute() -> Flags {
    if NX_ENABLED.load(Ordering::Relaxed) { Flags::NO_EXECUTE } else { Flags::empty() }
}

/// The page table in frame `frame`, through the physical window.
///
/// # Safety
/// `frame` holds a page table that the caller has the right to change (it is not reached
/// through any other live reference for as long as the result lives).
pub(super) unsafe fn table_mut<'a>(frame: PhysAddr) -> &'a mut PageTable {
    // SAFETY: page-table frames are RAM inside the physical window; exclusivity is the
    // caller's promise.
    unsafe { &mut *phys::window_address(frame).as_mut_ptr::<PageTable>() }
}

/// The table an entry points to, allocating and linking a fresh one if it is empty.
///
/// # Safety
/// As for [`table_mut`], for `parent` and every table below it.
unsafe fn next_table<'a>(
    parent: &mut PageTable,
    index: usize,
    link_flags: Flags,
    frames: &mut dyn FrameSource,
) -> Result<&'a mut PageTable, MapError> {
    let entry = &mut parent[index];
    if entry.is_unused() {
        let frame = frames.allocate_zeroed().ok_or(MapError::OutOfMemory)?;
        entry.set_addr(frame, link_flags);
    } else if entry.flags().contains(Flags::HUGE_PAGE) {
        return Err(MapError::AlreadyMapped);
    }
    // SAFETY: the entry links a page table owned by the same tree as `parent`.
    Ok(unsafe { table_mut(entry.addr()) })
}

pub(super) fn indices(addr: VirtAddr) -> [usize; 4] {
    [
        usize::from(addr.p4_index()),
        usize::from(addr.p3_index()),
        usize::from(addr.p2_index()),
        usize::from(addr.p1_index()),
    ]
}

/// Builds the kernel's page tables and switches to them. `nx` says whether EFER.NXE is on.
pub fn init_kernel_space(regions: &[MemoryRegion], nx: bool, frames: &mut dyn FrameSource) {
    NX_ENABLED.store(nx, Ordering::Relaxed);
    let root = frames.allocate_zeroed().expect("no frame for the kernel's page-table root");
    // SAFETY: `root` was just allocated and is reachable from nothing else.
    let pml4 = unsafe { table_mut(root) };
    map_physical_window(pml4, regions, frames);
    // SAFETY: once, on the bootstrap CPU, with the kernel's new root private to it.
    unsafe { super::restricted::build(pml4, window_top(regions).min(WINDOW_MAX), frames) };
    map_kernel_image(pml4, frames);
    let restricted = frames.allocate_zeroed().expect("no frame for the kernel's restricted root");
    // SAFETY: `restricted` was just allocated and is reachable from nothing else.
    let restricted_pml4 = unsafe { table_mut(restricted) };
    copy_kernel_half(restricted_pml4, pml4, true);
    KERNEL_ROOT.store(root.as_u64(), Ordering::Release);
    KERNEL_RESTRICTED_ROOT.store(restricted.as_u64(), Ordering::Release);
    // SAFETY: the new tables map the kernel image with the same virtual addresses as the
    // boot tables, the stack this code runs on, and the physical window; nothing still in
    // use lives only in the boot tables' identity map.
    unsafe { Cr3::write(PhysFrame::containing_address(root), Cr3Flags::empty()) };
    phys::mark_kernel_tables_active(window_top(regions).min(WINDOW_MAX));
}

/// Copies the kernel half of `kernel` (the kernel's unrestricted root) into `pml4`, with the
/// physical window's entry pointing at the restricted view if `restricted`.
fn copy_kernel_half(pml4: &mut PageTable, kernel: &PageTable, restricted: bool) {
    for slot in FIRST_KERNEL_SLOT..512 {
        pml4[slot] = kernel[slot].clone();
    }
    if restricted {
        let [window, _, _, _] = indices(VirtAddr::new(PHYS_WINDOW_BASE));
        let flags = kernel[window].flags();
        pml4[window].set_addr(super::restricted::pdpt(), flags);
    }
}

/// Moves the CPU onto the kernel's restricted table, and turns PCIDs on where the CPU has
/// them; with `asi=off` (`asi_on` false) the table is made to map the whole window first,
/// as every restricted table made later will. Called once, by the bootstrap CPU, before
/// any address space is made.
pub(super) fn use_restricted_kernel_tables(asi_on: bool) {
    if !asi_on {
        let kernel_root = PhysAddr::new(KERNEL_ROOT.load(Ordering::Acquire));
        let restricted = PhysAddr::new(KERNEL_RESTRICTED_ROOT.load(Ordering::Acquire));
        // SAFETY: the kernel's two roots, changed only at boot on the bootstrap CPU, by
        // this function and `init_kernel_space`; the restricted one is not in use yet.
        let (kernel, restricted) = unsafe { (table_mut(kernel_root), table_mut(restricted)) };
        copy_kernel_half(restricted, kernel, false);
    }
    activate_kernel_tables();
    pcid::init(KERNEL_RESTRICTED_ROOT.load(Ordering::Acquire));
}

/// The unrestricted twin of the restricted top-level table at `restricted` (an address
/// space's, or the kernel's). Takes no lock.
pub(super) fn unrestricted_twin(restricted: u64) -> u64 {
    if restricted == KERNEL_RESTRICTED_ROOT.load(Ordering::Relaxed) {
        KERNEL_ROOT.load(Ordering::Relaxed)
    } else {
        restricted + TWIN_OFFSET
    }
}

/// The restricted twin of the unrestricted top-level table at `unrestricted`.
pub(super) fn restricted_twin(unrestricted: u64) -> u64 {
    if unrestricted == KERNEL_ROOT.load(Ordering::Relaxed) {
        KERNEL_RESTRICTED_ROOT.load(Ordering::Relaxed)
    } else {
        unrestricted - TWIN_OFFSET
    }
}

/// Copies entry `index` of the user half of the address space at `root` (its restricted
/// top-level table, just changed) into its unrestricted twin.
pub(super) fn mirror_user_entry(root: PhysAddr, index: usize) {
    debug_assert!(index < FIRST_KERNEL_SLOT);
    let (restricted, unrestricted) = (table_in_window(root), table_in_window(root + TWIN_OFFSET));
    unrestricted[index] = restricted[index].clone();
}

fn map_physical_window(
    pml4: &mut PageTable,
    regions: &[MemoryRegion],
    frames: &mut dyn FrameSource,
) {
    let top = window_top(regions).min(WINDOW_MAX);
    let link = Flags::PRESENT | Flags::WRITABLE;
    for block in (0..top).step_by(PAGEBLOCK_SIZE as usize) {
        let [p4, p3, _, _] = indices(VirtAddr::new(PHYS_WINDOW_BASE + block));
        // SAFETY: the tables are the new kernel tree, reachable from nothing else yet.
        let pdpt =
            unsafe { next_table(pml4, p4, link, frames) }.expect("out of memory for window tables");
        // SAFETY: as above.
        unsafe { next_table(pdpt, p3, link, frames) }.expect("out of memory for window tables");
    }
    let leaf = Flags::PRESENT | Flags::WRITABLE | Flags::HUGE_PAGE | no_execute();
    for block in window_blocks(regions).take_while(|block| block.end <= top) {
        let [p4, p3, p2, _] = indices(VirtAddr::new(PHYS_WINDOW_BASE + block.start));
        // SAFETY: the tables were linked in the loop above and are still private.
        let pd = unsafe { table_mut(table_mut(pml4[p4].addr())[p3].addr()) };
        pd[p2].set_addr(PhysAddr::new(block.start), leaf);
        phys::mapped_blocks().set(block.start);
    }
}

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

fn map_kernel_image(pml4: &mut PageTable, frames: &mut dyn FrameSource) {
    let symbol = |s: &u8| VirtAddr::from_ptr(s);
    // SAFETY: the linker script defines these symbols; only their addresses are used.
    let sections = unsafe {
        [
            (symbol(&__text_start), symbol(&__text_end), Flags::PRESENT),
            (symbol(&__rodata_start), symbol(&__rodata_end), Flags::PRESENT | no_execute()),
            (
                symbol(&__data_start),
                symbol(&__data_end),
                Flags::PRESENT | Flags::WRITABLE | no_execute(),
            ),
        ]
    };
    let guards = super::stacks::guard_pages();
    for (start, end, flags) in sections {
        for page in (start.as_u64()..end.as_u64()).step_by(PAGE_SIZE as usize) {
            if guards.clone().any(|guard| guard.as_u64() == page) {
                continue;
            }
            let frame = PhysAddr::new(page - KERNEL_VIRT_OFFSET);
            // SAFETY: the tree is the new kernel tree, reachable from nothing else yet.
            unsafe {
                map_4k(
                    pml4,
                    VirtAddr::new(page),
                    frame,
                    flags,
                    Flags::PRESENT | Flags::WRITABLE,
                    frames,
                )
            }
            .expect("cannot map the kernel image");
        }
    }
}

/// Maps one 4 KiB page.
///
/// # Safety
/// As for [`table_mut`], for the whole tree under `pml4`.
unsafe fn map_4k(
    pml4: &mut PageTable,
    page: VirtAddr,
    frame: PhysAddr,
    leaf_flags: Flags,
    link_flags: Flags,
    frames: &mut dyn FrameSource,
) -> Result<(), MapError> {
    let [p4, p3, p2, p1] = indices(page);
    // SAFETY: every table reached belongs to the tree the caller may change.
    let pt = unsafe {
        let pdpt = next_table(pml4, p4, link_flags, frames)?;
        let pd = next_table(pdpt, p3, link_flags, frames)?;
        next_table(pd, p2, link_flags, frames)?
    };
    if !pt[p1].is_unused() {
        return Err(MapError::AlreadyMapped);
    }
    pt[p1].set_addr(frame, leaf_flags);
    Ok(())
}

/// An address space: a pair of PML4s (restricted, and 4 KiB above it unrestricted) whose
/// kernel halves are the kernel's and whose shared user half is its own.
#[derive(Debug)]
pub struct AddressSpace {
    root: PhysAddr,
}

impl AddressSpace {
    /// A new address space with an empty user half.
    pub fn new(frames: &mut dyn FrameSource) -> Option<Self> {
        let root = frames.allocate_zeroed_pair()?;
        install_kernel_half(root);
        Some(Self { root })
    }

    /// The physical address of the restricted top-level table (what a VSpace capability
    /// names, and CR3 holds while the address space is active).
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// The address space whose top-level table is at `root` (a VSpace object), without
    /// allocating anything.
    pub fn of_root(root: PhysAddr) -> Self {
        Self { root }
    }

    /// Maps the user page at `page` to `frame`, readable by user code, plus `access`.
    /// W^X is the caller's policy; this maps what it is asked to.
    pub fn map_user_page(
        &mut self,
        page: VirtAddr,
        frame: PhysAddr,
        access: UserAccess,
        frames: &mut dyn FrameSource,
    ) -> Result<(), MapError> {
        if !page.is_aligned(PAGE_SIZE) || page.as_u64() >= syscall_abi::USER_MAPPABLE_END {
            return Err(MapError::NotUserPage);
        }
        let mut leaf = Flags::PRESENT | Flags::USER_ACCESSIBLE;
        if access.write {
            leaf |= Flags::WRITABLE;
        }
        if !access.execute {
            leaf |= no_execute();
        }
        let link = Flags::PRESENT | Flags::WRITABLE | Flags::USER_ACCESSIBLE;
        // SAFETY: `&mut self` owns this tree's user half; kernel-half tables are never
        // reached because the page is in the user half.
        unsafe { map_4k(table_mut(self.root), page, frame, leaf, link, frames) }?;
        mirror_user_entry(self.root, indices(page)[0]);
        Ok(())
    }

    /// What user code may do with the page containing `addr`: `None` if it is not mapped
    /// for user access at all.
    pub fn user_access(&self, addr: VirtAddr) -> Option<UserAccess> {
        let mut table_frame = self.root;
        let mut writable = true;
        let mut executable = true;
        for (level, index) in indices(addr).into_iter().enumerate() {
            // SAFETY: reading a table of this tree; `&self` keeps it from being changed.
            let entry = unsafe { &table_mut(table_frame)[index] };
            let flags = entry.flags();
            if !flags.contains(Flags::PRESENT | Flags::USER_ACCESSIBLE) {
                return None;
            }
            writable &= flags.contains(Flags::WRITABLE);
            executable &= !flags.contains(Flags::NO_EXECUTE);
            if level == 3 || flags.contains(Flags::HUGE_PAGE) {
                return Some(UserAccess { write: writable, execute: executable });
            }
            table_frame = entry.addr();
        }
        None
    }

    /// Makes this the CPU's address space, on its restricted table. The CPU must be
    /// restricted (no ASI exit left open: `asi::end_exit`), as it always is on the IPC
    /// fastpath, which touches no sensitive memory.
    #[inline(always)]
    pub fn activate(&self) {
        let active: u64;
        // SAFETY: reading CR3 has no effect beyond its value.
        unsafe {
            core::arch::asm!("mov {}, cr3", out(reg) active, options(nomem, nostack, preserves_flags));
        }
        // Without PCIDs the kernel sets no flag bits in CR3 (default caching), so CR3 is
        // exactly the root's address when this address space is active. With them CR3
        // also holds a PCID, never 0 for an address space, so the test falls through
        // and `pcid::activate` compares the addresses.
        if active != self.root.as_u64() {
            // (1) The root is a VSpace object: page-aligned, so it is the whole CR3 value
            // without PCIDs; the kernel half of every address space is the kernel's, so
            // the code and data in use stay mapped at the same addresses.
            if pcid::on() {
                // SAFETY: the root is an address space's restricted table (1).
                unsafe { pcid::activate(self.root.as_u64(), active) };
                return;
            }
            // SAFETY: the value is valid and the switch changes nothing in use (1).
            unsafe {
                core::arch::asm!("mov cr3, {}", in(reg) self.root.as_u64(), options(nostack, preserves_flags));
            }
            count::<{ Counter::Cr3Writes as usize }>();
        }
    }
}

#[cfg(feature = "ktest")]
/// What the kernel's own tables say about `addr`: `Some((writable, executable))` if mapped.
pub fn kernel_mapping(addr: VirtAddr) -> Option<(bool, bool)> {
    let mut table_frame = PhysAddr::new(KERNEL_ROOT.load(Ordering::Acquire));
    for (level, index) in indices(addr).into_iter().enumerate() {
        // SAFETY: kernel tables are fixed after boot; this only reads them.
        let entry = unsafe { &table_mut(table_frame)[index] };
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) || flags.contains(Flags::USER_ACCESSIBLE) {
            return None;
        }
        if level == 3 || flags.contains(Flags::HUGE_PAGE) {
            return Some((flags.contains(Flags::WRITABLE), !flags.contains(Flags::NO_EXECUTE)));
        }
        table_frame = entry.addr();
    }
    None
}

/// If the CPU is in the address space at `root` (on either of its tables), moves it to the
/// kernel's own tables, and forgets the address space's PCIDs: it is being destroyed and
/// its memory may be reused, as another address space too.
pub fn leave_address_space(root: PhysAddr) {
    let active = Cr3::read().0.start_address();
    if active == root || active == root + TWIN_OFFSET {
        activate_kernel_tables();
    }
    pcid::forget(root.as_u64());
}

/// Switches to the kernel's own tables (no user half): the restricted one, or the
/// unrestricted one while an ASI exit is open on this CPU.
pub fn activate_kernel_tables() {
    let restricted = KERNEL_RESTRICTED_ROOT.load(Ordering::Acquire);
    let value = if super::percpu::is_unrestricted() {
        pcid::value(restricted, unrestricted_twin(restricted), Half::Unrestricted)
    } else {
        pcid::value(restricted, restricted, Half::Restricted)
    };
    // SAFETY: the kernel tables map everything the kernel uses, at the same addresses as
    // every other address space's kernel half; the value comes from `pcid`.
    unsafe { pcid::write_cr3(value) };
}

/// Where device registers are mapped in the kernel half, uncached, one page each.
const DEVICE_MAPPINGS_BASE: u64 = 0xFFFF_FFFF_C000_0000;
const DEVICE_MAPPINGS_PAGES: u64 = 512;
static NEXT_DEVICE_PAGE: AtomicU64 = AtomicU64::new(0);

/// Maps the device-register page at `phys` into the kernel half, uncached, and returns
/// its virtual address. The mapping is shared by every address space: it lies under a
/// kernel PML4 entry that each address space copies by reference.
pub fn map_device_page(phys: PhysAddr, frames: &mut dyn FrameSource) -> VirtAddr {
    let index = NEXT_DEVICE_PAGE.fetch_add(1, Ordering::Relaxed);
    assert!(index < DEVICE_MAPPINGS_PAGES, "too many device mappings");
    let page = VirtAddr::new(DEVICE_MAPPINGS_BASE + index * PAGE_SIZE);
    let leaf =
        Flags::PRESENT | Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | no_execute();
    let root = PhysAddr::new(KERNEL_ROOT.load(Ordering::Acquire));
    // SAFETY: the kernel tables are changed only at boot, on the bootstrap CPU, by this
    // function and `init_kernel_space`; `page` is a fresh slot of the device area, so no
    // existing translation changes and no TLB entry can be stale.
    unsafe {
        map_4k(
            table_mut(root),
            page,
            phys.align_down(PAGE_SIZE),
            leaf,
            Flags::PRESENT | Flags::WRITABLE,
            frames,
        )
    }
    .expect("cannot map device registers");
    page + phys.as_u64() % PAGE_SIZE
}

/// Makes the fresh, zeroed pair of top-level tables at `root` (8 KiB) an address space:
/// copies in the kernel halves, which every address space shares, the restricted one's
/// from the kernel's restricted table.
pub fn install_kernel_half(root: PhysAddr) {
    let kernel_root = PhysAddr::new(KERNEL_ROOT.load(Ordering::Acquire));
    let kernel_restricted = PhysAddr::new(KERNEL_RESTRICTED_ROOT.load(Ordering::Acquire));
    // SAFETY: `root` is the memory of a VSpace object being created (both its tables),
    // which nothing refers to yet; the kernel roots' kernel halves are fixed after boot, so
    // reading them races with nothing.
    let (restricted, unrestricted, kernel, kernel_restricted) = unsafe {
        (
            table_mut(root),
            table_mut(root + TWIN_OFFSET),
            table_mut(kernel_root),
            table_mut(kernel_restricted),
        )
    };
    for slot in FIRST_KERNEL_SLOT..512 {
        restricted[slot] = kernel_restricted[slot].clone();
        unrestricted[slot] = kernel[slot].clone();
    }
}
