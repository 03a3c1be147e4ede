//! Operations on slots: inserting, copying, minting, moving, mutating, deleting and
//! revoking capabilities, keeping the derivation tree ([`mdb`]) consistent.
//!
//! Every operation checks all its preconditions before it writes anything, so an error
//! leaves every slot as it was.

use super::capability::{CapData, Capability};
use super::error::CapError;
use super::mdb::{self, MdbNode, SlotStore};
use super::rights::Rights;

/// What deleting a slot found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The slot was already empty.
    Empty,
    /// `cap` was removed. `is_final`: no other slot refers to its object, so the kernel
    /// must now destroy the object (or, for IRQ handlers, free the IRQ).
    Deleted { cap: Capability, is_final: bool },
}

/// One capability removed by [`revoke_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revoked<S> {
    pub slot: S,
    pub cap: Capability,
    pub is_final: bool,
}

/// Puts an original capability with no parent into the empty `slot`: the kernel's
/// capabilities at boot (untyped memory, IRQ control, ASI control, the root task's
/// objects), and reply capabilities when a Call is received.
pub fn insert_root<S: SlotStore>(
    store: &mut S,
    slot: S::Slot,
    cap: Capability,
) -> Result<(), CapError> {
    check_insertable(store, slot, &cap)?;
    store.set_cap(slot, cap);
    store.set_mdb(slot, MdbNode::original());
    Ok(())
}

/// Puts an original capability `cap` into the empty `dst` as a child of `parent`: an IRQ
/// handler issued by IRQ control, or an I/O port capability issued by I/O port control.
///
/// `cap` must lie within `parent`'s region and be new: the kernel must not issue a second
/// handler for an IRQ that has one, or the new original would adopt the existing one as
/// its child.
///
/// As in seL4 (whose `cteInsert` does not ask the source to be revocable), `parent` may be
/// a plain copy of a control capability: the child then goes after the copies, so it
/// descends from the original they were copied from, and revoking that original (not a
/// copy, which cannot have children) takes it back.
pub fn insert_child<S: SlotStore>(
    store: &mut S,
    parent: S::Slot,
    dst: S::Slot,
    cap: Capability,
) -> Result<(), CapError> {
    let parent_cap = store.cap(parent);
    if parent_cap.is_null() {
        return Err(CapError::SourceEmpty);
    }
    check_insertable(store, dst, &cap)?;
    if !parent_cap.same_region_as(&cap) {
        return Err(CapError::NotParent);
    }
    mdb::link_new_child(store, parent, &parent_cap, dst, cap);
    Ok(())
}

/// Copies the capability in `src` into the empty `dst` (seL4's `CNode_Copy`): same
/// rights and badge, a child of `src` (or, if `src` cannot have children, its sibling).
///
/// A copied frame is unmapped. An untyped capability can be copied only without children,
/// and the source is then marked full so that only the copy can retype: two independent
/// watermarks over the same memory would hand it out twice (seL4's `setUntypedCapAsFull`).
pub fn copy<S: SlotStore>(store: &mut S, src: S::Slot, dst: S::Slot) -> Result<(), CapError> {
    mint(store, src, dst, Rights::ALL, CapData::None)
}

/// Copies `src` into the empty `dst` with rights reduced to those also in `rights` and
/// `data` applied (seL4's `CNode_Mint`). A badge can be set only on an unbadged endpoint or
/// notification capability; the badged capability then starts a subtree of its own, so
/// revoking it removes exactly the copies of that badge.
pub fn mint<S: SlotStore>(
    store: &mut S,
    src: S::Slot,
    dst: S::Slot,
    rights: Rights,
    data: CapData,
) -> Result<(), CapError> {
    let src_cap = store.cap(src);
    if src_cap.is_null() {
        return Err(CapError::SourceEmpty);
    }
    let new_cap = src_cap.minted(rights, data)?;
    check_insertable(store, dst, &new_cap)?;
    let is_untyped = matches!(src_cap, Capability::Untyped { .. });
    if is_untyped && mdb::has_children(store, src, &src_cap) {
        return Err(CapError::RevokeFirst);
    }
    if let Capability::Untyped { base, size_bits, device, .. } = src_cap {
        let full = Capability::Untyped { base, size_bits, device, watermark: 1 << size_bits };
        store.set_cap(src, full);
    }
    // seL4's `isCapRevocable`: only a derivation that creates new authority makes an
    // original that can itself have children.
    let revocable = is_untyped || new_cap.badge() != src_cap.badge();
    mdb::link_after(store, src, dst, new_cap, revocable);
    Ok(())
}

/// Moves the capability from `src` to the empty `dst`; its place in the derivation tree
/// moves with it (seL4's `CNode_Move`).
pub fn move_cap<S: SlotStore>(store: &mut S, src: S::Slot, dst: S::Slot) -> Result<(), CapError> {
    mutate(store, src, dst, Rights::ALL, CapData::None)
}

/// Moves the capability from `src` to the empty `dst`, reducing its rights and applying
/// `data` on the way (seL4's `CNode_Mutate`). Only what cannot change the derivation tree
/// is allowed: a CNode's guard, fewer rights (but not for a mapped frame, whose page-table
/// entry still grants them) — never a badge.
pub fn mutate<S: SlotStore>(
    store: &mut S,
    src: S::Slot,
    dst: S::Slot,
    rights: Rights,
    data: CapData,
) -> Result<(), CapError> {
    let src_cap = store.cap(src);
    if src_cap.is_null() {
        return Err(CapError::SourceEmpty);
    }
    let new_cap = src_cap.mutated(rights, data)?;
    if !store.is_empty(dst) {
        return Err(CapError::DestinationOccupied);
    }
    mdb::relink(store, src, dst, new_cap);
    Ok(())
}

/// Empties `slot` (seL4's `cteDelete` without finalisation, which is the kernel's part).
///
/// The capability's descendants stay, now under its parent. When the outcome is final the
/// kernel must destroy the object; when the object holds slots (a CNode, a TCB), it must
/// first delete those, since they are linked into lists that outlive the memory.
/// Whether final or not, a frame or page-table capability's own mapping must be undone.
pub fn delete<S: SlotStore>(store: &mut S, slot: S::Slot) -> DeleteOutcome {
    let cap = store.cap(slot);
    if cap.is_null() {
        return DeleteOutcome::Empty;
    }
    let node = store.mdb(slot);
    let is_final = mdb::is_final_with_links(store, &cap, node);
    mdb::unlink(store, slot, node);
    DeleteOutcome::Deleted { cap, is_final }
}

/// Deletes the first remaining descendant of `slot`, or returns `None` when none is left.
/// One step of [`revoke`], for a kernel that wants to check for pending interrupts between
/// steps: the state between two steps is consistent, and calling again continues.
pub fn revoke_next<S: SlotStore>(store: &mut S, slot: S::Slot) -> Option<Revoked<S::Slot>> {
    let node = store.mdb(slot);
    let next = node.next.filter(|_| node.revocable)?;
    let (parent_cap, cap) = (store.cap(slot), store.cap(next));
    if !mdb::descends_from(store, &parent_cap, next, &cap) {
        return None;
    }
    // What `delete` does, without reading again the capabilities already in hand: `slot`
    // is the descendant's previous neighbour.
    let next_node = store.mdb(next);
    debug_assert!(next_node.prev == Some(slot), "{next:?} does not follow {slot:?}");
    let is_final = !parent_cap.is_same_object(&cap)
        && !mdb::refers_to_same_object(store, next_node.next, &cap);
    mdb::unlink(store, next, next_node);
    Some(Revoked { slot: next, cap, is_final })
}

/// Deletes every descendant of `slot` (seL4's `CNode_Revoke`), telling `on_delete` about
/// each: its slot, its capability, and whether it was final. The capability in `slot`
/// itself stays.
pub fn revoke<S: SlotStore>(
    store: &mut S,
    slot: S::Slot,
    mut on_delete: impl FnMut(S::Slot, Capability, bool),
) {
    while let Some(revoked) = revoke_next(store, slot) {
        on_delete(revoked.slot, revoked.cap, revoked.is_final);
    }
}

fn check_insertable<S: SlotStore>(
    store: &S,
    dst: S::Slot,
    cap: &Capability,
) -> Result<(), CapError> {
    if cap.is_null() {
        return Err(CapError::NullCapability);
    }
    if !store.is_empty(dst) {
        return Err(CapError::DestinationOccupied);
    }
    Ok(())
}
