//! Invocations on frame and page-table capabilities: mapping them into a VSpace, and
//! undoing a capability's mapping when it is unmapped or deleted.

use super::asid;
use super::cspace;
use super::invoke::Reply;
use super::slots::Slots;
use crate::arch::{self, FrameAccess, PageSize, PhysAddr, TableLevel, VSpaceError, VirtAddr};
use crate::syscall::{Message, Refusal};
use kernel_core::cap::capability::Mapping;
use kernel_core::cap::{Capability, FrameSize, PtLevel, Rights, SlotStore};
use kernel_core::sensitivity::Sensitivity;
use syscall_abi::SyscallError;
use syscall_abi::invocation::sensitivity;
use syscall_abi::invocation::{Invocation, frame_attributes};

fn level(level: PtLevel) -> TableLevel {
    match level {
        PtLevel::Pdpt => TableLevel::Pdpt,
        PtLevel::Pd => TableLevel::Pd,
        PtLevel::Pt => TableLevel::Pt,
    }
}

/// The address range one table of `level` covers, as a power of two.
fn coverage_bits(level: PtLevel) -> u32 {
    match level {
        PtLevel::Pdpt => 39,
        PtLevel::Pd => 30,
        PtLevel::Pt => 21,
    }
}

fn page_size(size: FrameSize) -> PageSize {
    match size {
        FrameSize::Small4K => PageSize::Small,
        FrameSize::Large2M => PageSize::Large,
    }
}

fn refusal(error: VSpaceError, address_word: u64) -> Refusal {
    match error {
        VSpaceError::KernelHalf => Refusal::new(SyscallError::RangeError, address_word),
        VSpaceError::Misaligned => Refusal::new(SyscallError::AlignmentError, address_word),
        VSpaceError::MissingTable(missing) => {
            let level = match missing {
                TableLevel::Pdpt => 1,
                TableLevel::Pd => 2,
                TableLevel::Pt => 3,
            };
            Refusal::new(SyscallError::MissingPageTable, level)
        }
        VSpaceError::AlreadyMapped => SyscallError::AlreadyMapped.into(),
    }
}

/// The VSpace an argument names: its identifier and top-level table.
fn vspace_argument(root: &Capability, cptr: u64) -> Result<(core::num::NonZeroU16, u64), Refusal> {
    let (_, cap) = cspace::capability(root, cptr)?;
    match cap {
        Capability::VSpace { object, asid: Some(asid) } if asid::root_of(asid) == Some(object) => {
            Ok((asid, object))
        }
        _ => Err(Refusal::new(SyscallError::InvalidCapability, 0)),
    }
}

/// Performs a frame or page-table invocation on `cap`, the capability in `slot`.
pub fn invoke(
    root: &Capability,
    slot: u64,
    cap: &Capability,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    match (invocation, *cap) {
        (Invocation::FrameMap, Capability::Frame { base, size, rights, device, mapping }) => {
            if mapping.is_some() {
                return Err(SyscallError::AlreadyMapped.into());
            }
            let (asid, vspace) = vspace_argument(root, message.word(0)?)?;
            let address = message.word(1)?;
            let wanted = u8::try_from(message.word(2)?)
                .ok()
                .and_then(Rights::from_bits)
                .ok_or(Refusal::new(SyscallError::InvalidArgument, 2))?;
            let attributes = message.word(3)?;
            if attributes & !frame_attributes::EXECUTABLE != 0 {
                return Err(Refusal::new(SyscallError::InvalidArgument, 3));
            }
            if !rights.contains(wanted & (Rights::READ | Rights::WRITE)) {
                return Err(SyscallError::InsufficientRights.into());
            }
            let access = FrameAccess {
                write: wanted.contains(Rights::WRITE),
                execute: attributes & frame_attributes::EXECUTABLE != 0,
                uncached: device,
            };
            if access.write && access.execute {
                return Err(Refusal::new(SyscallError::InvalidArgument, 3));
            }
            arch::map_frame(
                PhysAddr::new(vspace),
                VirtAddr::try_new(address)
                    .map_err(|_| Refusal::new(SyscallError::RangeError, 1))?,
                PhysAddr::new(base),
                page_size(size),
                access,
            )
            .map_err(|error| refusal(error, 1))?;
            let mapping = Some(Mapping { asid, vaddr: address });
            Slots.set_cap(slot, Capability::Frame { base, size, rights, device, mapping });
            Ok(Reply::empty())
        }
        (Invocation::FrameUnmap, Capability::Frame { .. }) => {
            unmap(cap);
            if let Capability::Frame { base, size, rights, device, .. } = *cap {
                Slots
                    .set_cap(slot, Capability::Frame { base, size, rights, device, mapping: None });
            }
            Ok(Reply::empty())
        }
        (Invocation::FrameGetAddress, Capability::Frame { base, .. }) => {
            Ok(Reply { value: base, words: heapless::Vec::new() })
        }
        (Invocation::FrameGetSensitivity, Capability::Frame { base, device, .. }) => {
            // Device memory holds no one's data at rest: it has no pageblock entry, and
            // reads as nonsensitive.
            let sensitive = !device && super::sensitivity::of(base) == Sensitivity::Sensitive;
            let value = if sensitive { sensitivity::SENSITIVE } else { sensitivity::NONSENSITIVE };
            Ok(Reply { value, words: heapless::Vec::new() })
        }
        (
            Invocation::PageTableMap,
            Capability::PageTable { object, level: table_level, mapping },
        ) => {
            if mapping.is_some() {
                return Err(SyscallError::AlreadyMapped.into());
            }
            let (asid, vspace) = vspace_argument(root, message.word(0)?)?;
            let covered = message.word(1)? & !((1u64 << coverage_bits(table_level)) - 1);
            let address = VirtAddr::try_new(covered)
                .map_err(|_| Refusal::new(SyscallError::RangeError, 1))?;
            arch::install_table(
                PhysAddr::new(vspace),
                address,
                level(table_level),
                PhysAddr::new(object),
            )
            .map_err(|error| refusal(error, 1))?;
            let mapping = Some(Mapping { asid, vaddr: covered });
            Slots.set_cap(slot, Capability::PageTable { object, level: table_level, mapping });
            Ok(Reply::empty())
        }
        (Invocation::PageTableUnmap, Capability::PageTable { object, level, .. }) => {
            unmap(cap);
            Slots.set_cap(slot, Capability::PageTable { object, level, mapping: None });
            Ok(Reply::empty())
        }
        _ => Err(SyscallError::IllegalOperation.into()),
    }
}

/// Removes what `cap`'s mapping put in its VSpace, if the VSpace still exists and still
/// has it there.
pub fn unmap(cap: &Capability) {
    match *cap {
        Capability::Frame { base, size, mapping: Some(mapping), .. } => {
            if let Some(root) = asid::root_of(mapping.asid) {
                arch::unmap_frame(
                    PhysAddr::new(root),
                    VirtAddr::new(mapping.vaddr),
                    PhysAddr::new(base),
                    page_size(size),
                );
            }
        }
        Capability::PageTable { object, level: table_level, mapping: Some(mapping) } => {
            if let Some(root) = asid::root_of(mapping.asid) {
                arch::remove_table(
                    PhysAddr::new(root),
                    VirtAddr::new(mapping.vaddr),
                    level(table_level),
                    PhysAddr::new(object),
                );
            }
        }
        _ => {}
    }
}
