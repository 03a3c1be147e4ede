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
            || (self.reset && mdb::has_children(store, untyped_slot, &self.untyped))
        {
            return Err(RetypeError::UntypedChanged);
        }
        for index in 0..self.count {
            let slot = dest(index);
            if !store.is_empty(slot) || (0..index).any(|earlier| dest(earlier) == slot) {
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
            mdb::link_new_child(store, untyped_slot, &updated, dest(index), self.capability(index));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::object::{FrameSize, PtLevel};
    use crate::cap::ops::{self, insert_root};
    use crate::cap::test_store::TestStore;

    const BASE: u64 = 0x4000_0000;
    const UT: u64 = 0x100_0000;

    fn untyped(size_bits: u8, device: bool, watermark: u64) -> Capability {
        Capability::Untyped { base: BASE, size_bits, device, watermark }
    }

    fn plan(
        cap: &Capability,
        has_children: bool,
        object_type: ObjectType,
        user: u8,
        count: usize,
    ) -> Result<RetypePlan, RetypeError> {
        plan_retype(cap, has_children, object_type, user, count, |_| true)
    }

    fn dest(index: usize) -> u64 {
        UT + 64 * (1 + index as u64)
    }

    fn booted(size_bits: u8, device: bool) -> TestStore {
        let mut store = TestStore::new();
        insert_root(&mut store, UT, untyped(size_bits, device, 0)).unwrap();
        store
    }

    fn retype(
        store: &mut TestStore,
        object_type: ObjectType,
        user: u8,
        count: usize,
    ) -> RetypePlan {
        let cap = store.cap(UT);
        let plan =
            plan(&cap, mdb::has_children(store, UT, &cap), object_type, user, count).unwrap();
        let free: Vec<u64> =
            (0..).map(dest).filter(|&slot| store.cap(slot).is_null()).take(count).collect();
        plan.apply(store, UT, |index| free[index]).unwrap();
        plan
    }

    #[test]
    fn objects_are_contiguous_from_the_base() {
        let plan = plan(&untyped(16, false, 0), false, ObjectType::Endpoint, 0, 3).unwrap();
        assert_eq!(plan.count(), 3);
        assert_eq!(plan.object_type(), ObjectType::Endpoint);
        let bases: Vec<_> = (0..3).map(|index| plan.object(index).base).collect();
        assert_eq!(bases, [BASE, BASE + 16, BASE + 32]);
        assert_eq!(plan.new_watermark(), 48);
        assert_eq!(plan.memory(), PhysRange::new(BASE, BASE + 48));
        assert!(plan.reset());
    }

    #[test]
    fn objects_are_aligned_to_their_size_after_the_watermark() {
        let plan = plan(&untyped(16, false, 16), true, ObjectType::Tcb, 0, 2).unwrap();
        assert_eq!(plan.object(0), Region { base: BASE + 2048, size_bits: 11 });
        assert_eq!(plan.object(1).base, BASE + 4096);
        assert_eq!(plan.new_watermark(), 6144);
        assert!(!plan.reset());
    }

    #[test]
    fn a_region_without_children_starts_over() {
        let plan = plan(&untyped(16, false, 0x8000), false, ObjectType::Endpoint, 0, 1).unwrap();
        assert_eq!(plan.object(0).base, BASE);
    }

    #[test]
    fn the_capabilities_are_fresh_originals() {
        let region = untyped(22, false, 0);
        let cases = [
            (
                ObjectType::Untyped,
                12,
                Capability::Untyped { base: BASE, size_bits: 12, device: false, watermark: 0 },
            ),
            (ObjectType::Tcb, 0, Capability::Tcb { object: BASE }),
            (
                ObjectType::Endpoint,
                0,
                Capability::Endpoint { object: BASE, badge: 0, rights: Rights::ALL },
            ),
            (
                ObjectType::Notification,
                0,
                Capability::Notification { object: BASE, badge: 0, rights: Rights::ALL },
            ),
            (
                ObjectType::CNode,
                5,
                Capability::CNode { object: BASE, radix_bits: 5, guard: 0, guard_bits: 0 },
            ),
            (
                ObjectType::Frame(FrameSize::Large2M),
                0,
                Capability::Frame {
                    base: BASE,
                    size: FrameSize::Large2M,
                    rights: Rights::ALL,
                    device: false,
                    mapping: None,
                },
            ),
            (
                ObjectType::PageTable(PtLevel::Pdpt),
                0,
                Capability::PageTable { object: BASE, level: PtLevel::Pdpt, mapping: None },
            ),
            (ObjectType::VSpace, 0, Capability::VSpace { object: BASE, asid: None }),
        ];
        for (object_type, user, expected) in cases {
            let plan = plan(&region, false, object_type, user, 1).unwrap();
            assert_eq!(plan.capability(0), expected);
            assert_eq!(plan.capability(0).region(), Some(plan.object(0)));
        }
    }

    #[test]
    fn refusals_in_order() {
        let region = untyped(16, false, 0);
        let endpoint = ObjectType::Endpoint;
        assert_eq!(
            plan(&Capability::IrqControl, false, endpoint, 0, 1),
            Err(RetypeError::NotUntyped)
        );
        assert_eq!(plan(&region, false, ObjectType::Untyped, 3, 1), Err(RetypeError::InvalidSize));
        assert_eq!(plan(&region, false, ObjectType::CNode, 0, 1), Err(RetypeError::InvalidSize));
        assert_eq!(plan(&region, false, endpoint, 0, 0), Err(RetypeError::InvalidCount));
        assert_eq!(
            plan(&region, false, endpoint, 0, MAX_RETYPE_COUNT + 1),
            Err(RetypeError::InvalidCount)
        );
        assert_eq!(
            plan_retype(&region, false, endpoint, 0, 4, |index| index != 2),
            Err(RetypeError::DeleteFirst { index: 2 })
        );
    }

    #[test]
    fn objects_must_fit() {
        let region = untyped(12, false, 0);
        assert!(plan(&region, false, ObjectType::Frame(FrameSize::Small4K), 0, 1).is_ok());
        assert_eq!(
            plan(&region, false, ObjectType::Frame(FrameSize::Small4K), 0, 2),
            Err(RetypeError::NotEnoughMemory)
        );
        assert_eq!(
            plan(&region, false, ObjectType::Frame(FrameSize::Large2M), 0, 1),
            Err(RetypeError::NotEnoughMemory)
        );
        assert_eq!(
            plan(&region, false, ObjectType::Endpoint, 0, 256).map(|p| p.new_watermark()),
            Ok(4096)
        );
        let used = untyped(12, false, 4096 - 16);
        assert!(plan(&used, true, ObjectType::Endpoint, 0, 1).is_ok());
        assert_eq!(
            plan(&used, true, ObjectType::Endpoint, 0, 2),
            Err(RetypeError::NotEnoughMemory)
        );
        assert_eq!(
            plan(&used, true, ObjectType::Notification, 0, 1),
            Err(RetypeError::NotEnoughMemory)
        );
    }

    #[test]
    fn device_memory_holds_only_frames_and_device_untyped() {
        let device = untyped(22, true, 0);
        for object_type in
            [ObjectType::Tcb, ObjectType::CNode, ObjectType::VSpace, ObjectType::Endpoint]
        {
            assert_eq!(
                plan(&device, false, object_type, 4, 1),
                Err(RetypeError::DeviceMemoryNotFrames)
            );
        }
        let frames = plan(&device, false, ObjectType::Frame(FrameSize::Small4K), 0, 1).unwrap();
        assert!(matches!(frames.capability(0), Capability::Frame { device: true, .. }));
        let part = plan(&device, false, ObjectType::Untyped, 21, 1).unwrap();
        assert!(matches!(part.capability(0), Capability::Untyped { device: true, .. }));
    }

    #[test]
    fn apply_records_children_and_the_watermark() {
        let mut store = booted(16, false);
        retype(&mut store, ObjectType::Endpoint, 0, 2);
        assert_eq!(store.cap(UT), untyped(16, false, 32));
        assert_eq!(store.lists(), [vec![UT, dest(1), dest(0)]]);
        for index in 0..2 {
            assert!(mdb::is_parent_of(&store, UT, dest(index)));
            assert!(store.mdb(dest(index)).revocable);
        }
        let tcbs = retype(&mut store, ObjectType::Tcb, 0, 1);
        assert_eq!(tcbs.object(0).base, BASE + 2048);
        assert_eq!(store.cap(dest(2)), Capability::Tcb { object: BASE + 2048 });
    }

    #[test]
    fn memory_is_reused_once_every_child_is_revoked() {
        let mut store = booted(16, false);
        retype(&mut store, ObjectType::Tcb, 0, 2);
        ops::delete(&mut store, dest(0));
        // A child remains: the watermark holds.
        assert_eq!(retype(&mut store, ObjectType::Tcb, 0, 1).object(0).base, BASE + 4096);
        let mut finals = 0;
        ops::revoke(&mut store, UT, |_, _, is_final| finals += usize::from(is_final));
        assert_eq!(finals, 2);
        let again = retype(&mut store, ObjectType::Tcb, 0, 1);
        assert!(again.reset());
        assert_eq!(again.object(0).base, BASE);
        assert_eq!(store.cap(UT), untyped(16, false, 2048));
    }

    #[test]
    fn apply_checks_again_and_changes_nothing_on_error() {
        let mut store = booted(16, false);
        let cap = store.cap(UT);
        let stale = plan(&cap, false, ObjectType::Endpoint, 0, 2).unwrap();
        let before = store.clone();
        assert_eq!(
            stale.apply(&mut store, UT, |_| dest(0)),
            Err(RetypeError::DeleteFirst { index: 1 })
        );
        assert_eq!(store, before);
        store.set_cap(dest(1), Capability::IrqControl);
        let before = store.clone();
        assert_eq!(stale.apply(&mut store, UT, dest), Err(RetypeError::DeleteFirst { index: 1 }));
        assert_eq!(store, before);
        // The region gained a child after planning a reset: applying would overlap it.
        let mut store = booted(16, false);
        retype(&mut store, ObjectType::Endpoint, 0, 1);
        store.set_cap(UT, cap);
        let before = store.clone();
        assert_eq!(stale.apply(&mut store, UT, |i| dest(4 + i)), Err(RetypeError::UntypedChanged));
        assert_eq!(store, before);
        // The capability itself changed.
        assert_eq!(
            stale.apply(&mut store, dest(0), |i| dest(4 + i)),
            Err(RetypeError::UntypedChanged)
        );
        assert_eq!(store, before);
    }
}
