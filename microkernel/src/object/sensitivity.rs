//! The sensitivity of physical memory, kept per pageblock (`kernel_core::sensitivity`),
//! and its one way of changing: the ASI control capability's `SetSensitivity` on an
//! untyped region.
//!
//! Memory becoming nonsensitive is zeroed by the kernel first, whatever user space did
//! before: it may have held secrets, and nonsensitive memory is what the restricted
//! address space maps.

use super::slots::Slots;
use crate::arch;
use crate::syscall::Refusal;
use kernel_core::cap::Capability;
use kernel_core::cap::mdb::has_children;
use kernel_core::memory::{PAGE_SIZE, PAGEBLOCK_SIZE, PhysRange};
use kernel_core::sensitivity::{
    FlipRefusal, MAX_PHYSICAL, Mismatch, PageblockMap, Sensitivity, check_flip,
};
use spin::Mutex;
use syscall_abi::SyscallError;
use syscall_abi::counters::Counter;

static MAP: Mutex<PageblockMap> = Mutex::new(PageblockMap::nonsensitive());

/// Sets the map as boot leaves memory (`PageblockMap::at_boot`), and takes the sensitive
/// pageblocks out of the restricted window.
pub fn init(usable: &[PhysRange], handed_out: &[PhysRange]) {
    let map = PageblockMap::at_boot(usable, handed_out);
    let everything = PhysRange::new(0, MAX_PHYSICAL);
    for block in map.changing(everything, Sensitivity::Nonsensitive) {
        arch::exclude_from_restricted_window(block.start);
    }
    *MAP.lock() = map;
}

/// Checks that the restricted window maps exactly the nonsensitive pageblocks of RAM, and
/// keeps no frame number in the entries it does not map; the first mismatch.
pub fn verify() -> Result<(), Mismatch> {
    let map = MAP.lock();
    arch::verify_restricted_window(|block, entry| map.check_restricted(block, entry))
}

/// Whether every pageblock `range` touches has `sensitivity`.
pub fn is_all(range: PhysRange, sensitivity: Sensitivity) -> bool {
    MAP.lock().is_all(range, sensitivity)
}

/// The sensitivity of the pageblock holding `address`.
pub fn of(address: u64) -> Sensitivity {
    MAP.lock().sensitivity(address)
}

/// How many pageblocks are sensitive, for the boot log.
pub fn sensitive_blocks() -> usize {
    MAP.lock().sensitive_blocks()
}

/// Gives the untyped region in `slot` (holding `cap`) `sensitivity`, zeroing the
/// pageblocks that become nonsensitive; refused, changing nothing, unless the region is
/// RAM with nothing carved from it covering whole pageblocks.
pub fn set(slot: u64, cap: &Capability, sensitivity: Sensitivity) -> Result<(), Refusal> {
    let Capability::Untyped { base, size_bits, device, .. } = *cap else {
        return Err(Refusal::new(SyscallError::InvalidCapability, 0));
    };
    let range = check_flip(base, size_bits, device, has_children(&Slots, slot, cap)).map_err(
        |refusal| match refusal {
            FlipRefusal::DeviceMemory => SyscallError::DeviceMemory,
            FlipRefusal::HasChildren => SyscallError::RevokeFirst,
            FlipRefusal::NotWholePageblocks => SyscallError::NotPageblocks,
        },
    )?;
    let mut map = MAP.lock();
    for block in map.changing(range, sensitivity) {
        // Becoming nonsensitive: zeroed before the restricted view maps it. Becoming
        // sensitive: out of the restricted view (and its translation flushed) first.
        if sensitivity == Sensitivity::Nonsensitive {
            arch::zero_physical(block);
            arch::count_event(Counter::PagesZeroed, PAGEBLOCK_SIZE / PAGE_SIZE);
        }
        arch::set_restricted_block(block.start, sensitivity == Sensitivity::Nonsensitive);
    }
    let changed = map.set(range, sensitivity);
    arch::count_event(Counter::Flips, changed as u64);
    if cfg!(debug_assertions) {
        drop(map);
        if let Err(mismatch) = verify() {
            panic!("the restricted window disagrees with the sensitivity map: {mismatch:?}");
        }
    }
    Ok(())
}
