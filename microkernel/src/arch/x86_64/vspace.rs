//! User address spaces as capability objects: installing page-table objects and mapping
//! frame objects into a VSpace (a pair of PML4s sharing the user half: the restricted one,
//! which operations are given and walk, and its unrestricted twin, into which every change
//! of a PML4 entry is copied), and undoing it.
//!
//! Every operation checks the whole path first and changes one entry at most (a PML4
//! entry in both tables), so a refusal changes nothing. Removing an entry flushes the TLB
//! when the address space is active on this CPU, and with PCIDs makes every PCID of it
//! that the flush does not reach stale (`pcid`); with SMP this is where a shootdown to the
//! other CPUs running it goes.

use super::paging::{TWIN_OFFSET, mirror_user_entry, table_in_window};
use super::pcid::{self, read_cr3, write_cr3};
use x86_64::instructions::tlb;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::PageTableFlags as Flags;
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::{PhysAddr, VirtAddr};

/// A level of the paging hierarchy, by what an entry at that level maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableLevel {
    /// A page-directory-pointer table, installed in the PML4.
    Pdpt,
    /// A page directory, installed in a PDPT.
    Pd,
    /// A page table, installed in a page directory.
    Pt,
}

impl TableLevel {
    /// How many levels below the PML4 the entry that installs this table lies.
    const fn depth(self) -> usize {
        match self {
            Self::Pdpt => 0,
            Self::Pd => 1,
            Self::Pt => 2,
        }
    }
}

/// A frame's page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    Small,
    Large,
}

/// Why a VSpace operation was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VSpaceError {
    /// The address is not in the user half, or (for a frame) not below its last page.
    KernelHalf,
    /// The address is not aligned to the page or table size.
    Misaligned,
    /// A table on the way is not installed; the value says which level is missing.
    MissingTable(TableLevel),
    /// Something is already installed or mapped there.
    AlreadyMapped,
}

/// What user code may do with a mapped frame, beyond reading, and how it is cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameAccess {
    pub write: bool,
    pub execute: bool,
    /// Device memory: mapped uncached.
    pub uncached: bool,
}

const USER_TABLE: Flags = Flags::PRESENT.union(Flags::WRITABLE).union(Flags::USER_ACCESSIBLE);
const LEVEL_BITS: [u32; 4] = [39, 30, 21, 12];

fn index(address: VirtAddr, depth: usize) -> usize {
    ((address.as_u64() >> LEVEL_BITS[depth]) & 0x1ff) as usize
}

/// The entry at `depth` (0 = PML4) for `address`, walking only through present,
/// non-huge entries; `Err(depth_missing)` where a table is absent.
fn entry(
    root: PhysAddr,
    address: VirtAddr,
    depth: usize,
) -> Result<&'static mut PageTableEntry, usize> {
    let mut table = root;
    for level in 0..depth {
        let entry = &table_in_window(table)[index(address, level)];
        if !entry.flags().contains(Flags::PRESENT) || entry.flags().contains(Flags::HUGE_PAGE) {
            return Err(level);
        }
        table = entry.addr();
    }
    Ok(&mut table_in_window(table)[index(address, depth)])
}

/// `size` bytes at `address`, aligned to `size` and wholly below `end`.
fn check_user(address: VirtAddr, size: u64, end: u64) -> Result<(), VSpaceError> {
    if address.as_u64() > end - size {
        return Err(VSpaceError::KernelHalf);
    }
    if !address.is_aligned(size) {
        return Err(VSpaceError::Misaligned);
    }
    Ok(())
}

fn missing(depth: usize) -> VSpaceError {
    VSpaceError::MissingTable(match depth {
        0 => TableLevel::Pdpt,
        1 => TableLevel::Pd,
        _ => TableLevel::Pt,
    })
}

/// Installs the zeroed table object at `table` as the `level` table covering `address`.
pub fn install_table(
    root: PhysAddr,
    address: VirtAddr,
    level: TableLevel,
    table: PhysAddr,
) -> Result<(), VSpaceError> {
    check_user(address, 1 << LEVEL_BITS[level.depth()], syscall_abi::USER_SPACE_END)?;
    let slot = entry(root, address, level.depth()).map_err(missing)?;
    if !slot.is_unused() {
        return Err(VSpaceError::AlreadyMapped);
    }
    slot.set_addr(table, USER_TABLE);
    if level == TableLevel::Pdpt {
        mirror_user_entry(root, index(address, 0));
    }
    Ok(())
}

/// Removes the `level` table at `table` from the slot covering `address`, if it is what
/// is installed there. Returns whether it was.
pub fn remove_table(root: PhysAddr, address: VirtAddr, level: TableLevel, table: PhysAddr) -> bool {
    let Ok(slot) = entry(root, address, level.depth()) else { return false };
    if slot.flags().contains(Flags::PRESENT)
        && !slot.flags().contains(Flags::HUGE_PAGE)
        && slot.addr() == table
    {
        slot.set_unused();
        if level == TableLevel::Pdpt {
            mirror_user_entry(root, index(address, 0));
        }
        flush_all(root);
        return true;
    }
    false
}

/// Maps the frame at `frame` at `address`, readable by user code, plus `access`.
pub fn map_frame(
    root: PhysAddr,
    address: VirtAddr,
    frame: PhysAddr,
    size: PageSize,
    access: FrameAccess,
) -> Result<(), VSpaceError> {
    let (depth, alignment) = match size {
        PageSize::Small => (3, 1 << 12),
        PageSize::Large => (2, 1 << 21),
    };
    check_user(address, alignment, syscall_abi::USER_MAPPABLE_END)?;
    let slot = entry(root, address, depth).map_err(missing)?;
    if !slot.is_unused() {
        return Err(VSpaceError::AlreadyMapped);
    }
    let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
    if access.write {
        flags |= Flags::WRITABLE;
    }
    if !access.execute && super::paging::nx_enabled() {
        flags |= Flags::NO_EXECUTE;
    }
    if access.uncached {
        flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
    }
    if size == PageSize::Large {
        flags |= Flags::HUGE_PAGE;
    }
    slot.set_addr(frame, flags);
    Ok(())
}

/// Unmaps the frame at `frame` from `address`, if that is what is mapped there. Returns
/// whether it was.
pub fn unmap_frame(root: PhysAddr, address: VirtAddr, frame: PhysAddr, size: PageSize) -> bool {
    let depth = if size == PageSize::Small { 3 } else { 2 };
    let Ok(slot) = entry(root, address, depth) else { return false };
    let huge = slot.flags().contains(Flags::HUGE_PAGE);
    if slot.flags().contains(Flags::PRESENT)
        && slot.addr() == frame
        && huge == (size == PageSize::Large)
    {
        slot.set_unused();
        if is_active(root) {
            tlb::flush(address);
        }
        pcid::user_mapping_removed(root.as_u64());
        return true;
    }
    false
}

/// Whether the address space at `root` is active here, on either of its tables.
fn is_active(root: PhysAddr) -> bool {
    let active = Cr3::read().0.start_address();
    active == root || active == root + TWIN_OFFSET
}

/// Forgets every translation of `root` (a table went: every page below it may be cached):
/// at once if it is active here, otherwise before its PCIDs are used again.
fn flush_all(root: PhysAddr) {
    if is_active(root) {
        // SAFETY: reloading CR3 with its current value (which never reads back with the
        // no-flush bit) only flushes non-global TLB entries: all of them without PCIDs,
        // the current PCID's with.
        unsafe { write_cr3(read_cr3()) };
    }
    pcid::user_mapping_removed(root.as_u64());
}
