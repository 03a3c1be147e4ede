//! Retype: carving new objects out of an untyped region (seL4's `Untyped_Retype`).
//!
//! Split in two so the kernel can prepare the memory in between: [`plan_retype`] checks
//! everything and says where the objects go, the kernel zeroes and initialises them, and
//! [`RetypePlan::apply`] records them as capabilities.

use super::capability::{Capability, Region};
use super::mdb::{self, SlotStore};
use super::object::ObjectType;
use super::rights::Rights;
use crate::memory::{PhysRange, align_up};

/// The most objects one retype creates (seL4's default fan-out limit), which bounds the
/// time one system call spends.
pub const MAX_RETYPE_COUNT: usize = 256;

/// Why a retype was refused. Nothing changes on a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetypeError {
    /// The capability is not an untyped capability.
    NotUntyped,
    /// `count` is 0 or above [`MAX_RETYPE_COUNT`].
    InvalidCount,
    /// The size is out of range for the object type.
    InvalidSize,
    /// Device memory can become only frames and smaller device untyped regions: the kernel
    /// never keeps its own objects in it.
    DeviceMemoryNotFrames,
    /// Destination slot number `index` is not empty, or is given twice.
    DeleteFirst { index: usize },
    /// The objects do not fit between the watermark and the end of the region.
    NotEnoughMemory,
    /// The untyped capability changed between planning and applying.
    UntypedChanged,
}

/// Where the objects of one retype go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetypePlan {
    untyped: Capability,
    object_type: ObjectType,
    user_size_bits: u8,
    object_size_bits: u8,
    first: u64,
    count: usize,
    new_watermark: u64,
    reset: bool,
}

/// Checks a retype of `count` objects of `object_type` from the capability `untyped`,
/// into destinations `0..count` of which `dest_slot_empty(i)` says whether they are empty.
///
/// As in seL4, an untyped region without children is empty again: its watermark starts
/// over from 0 (`has_children` is [`mdb::has_children`] of its slot). Otherwise the
/// objects go after the watermark. Each is aligned to its size and they are contiguous.
pub fn plan_retype(
    untyped: &Capability,
    has_children: bool,
    object_type: ObjectType,
    user_size_bits: u8,
    count: usize,
    dest_slot_empty: impl Fn(usize) -> bool,
) -> Result<RetypePlan, RetypeError> {
    let Capability::Untyped { base, size_bits, device, watermark } = *untyped else {
        return Err(RetypeError::NotUntyped);
    };
    let object_size_bits = object_type.size_bits(user_size_bits).ok_or(RetypeError::InvalidSize)?;
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(RetypeError::InvalidCount);
    }
    if device && !object_type.allowed_in_device_memory() {
        return Err(RetypeError::DeviceMemoryNotFrames);
    }
    if let Some(index) = (0..count).find(|&index| !dest_slot_empty(index)) {
        return Err(RetypeError::DeleteFirst { index });
    }
    let start = if has_children { watermark } else { 0 };
    // The region is aligned to its own size, so aligning the offset aligns the address.
    // Sizes are at most 2^47 and counts at most 2^8: no overflow.
    let first_offset = align_up(start, 1 << object_size_bits);
    let new_watermark = first_offset + ((count as u64) << object_size_bits);
    if object_size_bits > size_bits || new_watermark > 1 << size_bits {
        return Err(RetypeError::NotEnoughMemory);
    }
    Ok(RetypePlan {
        untyped: *untyped,
        object_type,
        user_size_bits,
        object_size_bits,
        first: base + first_offset,
        count,
        new_watermark,
        reset: !has_children,
    })
}

impl RetypePlan {
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn object_type(&self) -> ObjectType {
        self.object_type
    }

    /// The memory object `index` occupies.
    pub fn object(&self, index: usize) -> Region {
        Region {
            base: self.first + ((index as u64) << self.object_size_bits),
            size_bits: self.object_size_bits,
        }
    }

    /// All the memory the new objects occupy: what the kernel must zero before
    /// [`apply`](Self::apply) (and, for kernel objects under ASI, check is nonsensitive).
    pub fn memory(&self) -> PhysRange {
        PhysRange::from_start_len(self.first, (self.count as u64) << self.object_size_bits)
    }

    /// The untyped region's watermark after the retype, in bytes from its base.
    pub fn new_watermark(&self) -> u64 {
        self.new_watermark
    }

    /// Whether the watermark started over because the region had no children.
    pub fn reset(&self) -> bool {
        self.reset
    }

    /// The capability to object `index`, with all rights, unbadged and unmapped.
    pub fn capability(&self, index: usize) -> Capability {
        let base = self.object(index).base;
        let device = matches!(self.untyped, Capability::Untyped { device: true, .. });
        match self.object_type {
            ObjectType::Untyped => {
                Capability::Untyped { base, size_bits: self.user_size_bits, device, watermark: 0 }
            }
            ObjectType::Tcb => Capability::Tcb { object: base },
            ObjectType::Endpoint => {
                Capability::Endpoint { object: base, badge: 0, rights: Rights::ALL }
            }
            ObjectType::Notification => {
                Capability::Notification { object: base, badge: 0, rights: Rights::ALL }
            }
            ObjectType::CNode => Capability::CNode {
                object: base,
                radix_bits: self.user_size_bits,
                guard: 0,
                guard_bits: 0,
            },
            ObjectType::Frame(size) => {
                Capability::Frame { base, size, rights: Rights::ALL, device, mapping: None }
            }
            ObjectType::PageTable(level) => {
                Capability::PageTable { object: base, level, mapping: None }
            }
            ObjectType::VSpace => Capability::VSpace { object: base, asid: None },
        }
    }

    /// Records the retype: sets the watermark of the untyped capability in `untyped_slot`
    /// and puts the capability to object `i` into `dest(i)`, each a child of the untyped
    /// capability.
    ///
    /// Checks again what could have changed since planning (the untyped capability, its
    /// children, the destinations, which must also be distinct), so that a mistake in the
    /// kernel cannot hand out memory twice; on error nothing changes.
    pub fn apply<S: SlotStore>(
        &self,
        store: &mut S,
        untyped_slot: S::Slot,
        dest: impl Fn(usize) -> S::Slot,
    ) -> Result<(), RetypeError> {
        if store.cap(untyped_slot) != self.untyped
            || !store.mdb(untyped_slot).revocable
            || (self.reset && mdb::has_children(store, untyped_slot))
        {
            return Err(RetypeError::UntypedChanged);
        }
        for index in 0..self.count {
            let slot = dest(index);
            if !store.cap(slot).is_null() || (0..index).any(|earlier| dest(earlier) == slot) {
                return Err(RetypeError::DeleteFirst { index });
            }
        }
        let mut updated = self.untyped;
        if let Capability::Untyped { watermark, .. } = &mut updated {
            *watermark = self.new_watermark;
        }
        store.set_cap(untyped_slot, updated);
        for index in 0..self.count {
            // What `ops::insert_child` checks holds: the destination is empty, and the
            // object lies inside the untyped region, which is revocable.
            mdb::link_after(store, untyped_slot, dest(index), self.capability(index), true);
        }
        Ok(())
    }
}
