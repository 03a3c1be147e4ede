//! The derivation tree (seL4's mapping database): which capability was derived from which.
//!
//! Every slot holding a capability is a node of a doubly-linked list. Each tree is one
//! list in pre-order: a node's descendants directly follow it. The parent relation is not
//! stored; it follows from the capabilities themselves ([`is_parent_of`]), which is what
//! lets a node be 16 bytes and every operation touch only a node and its neighbours:
//!
//! - `a` can have descendants only if it is *revocable* (an original: made by retype, by
//!   the kernel at boot, or by a derivation that creates new authority — a copy of an
//!   untyped capability, a newly badged endpoint, an IRQ handler from IRQ control);
//! - `b` descends from `a` only if `a.same_region_as(b)`;
//! - for endpoints and notifications, an unbadged `a` is the ancestor of every capability
//!   to the object that follows it, but a badged `a` only of same-badge copies that are not
//!   themselves *first badged*, the start of another badge's subtree.
//!
//! The descendants of `a` are then the longest run of nodes after `a` that satisfy
//! `is_parent_of(a, _)`.

use core::fmt::Debug;

use super::capability::Capability;

/// A slot's place in the derivation tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdbNode<S> {
    pub prev: Option<S>,
    pub next: Option<S>,
    /// Whether the capability can have descendants.
    pub revocable: bool,
    /// Whether a badged capability starts a subtree of its own rather than being a copy
    /// under an earlier capability with the same badge.
    pub first_badged: bool,
}

impl<S> MdbNode<S> {
    /// The node of an empty slot.
    pub const fn empty() -> Self {
        Self { prev: None, next: None, revocable: false, first_badged: false }
    }

    /// The node of an original capability with no place in any list yet.
    pub const fn original() -> Self {
        Self { prev: None, next: None, revocable: true, first_badged: true }
    }
}

/// Where slots live. In the kernel a slot is the physical address of 64 bytes inside a
/// CNode or TCB object; in tests, whatever is convenient.
///
/// Writes never fail: the kernel only hands out slots inside objects it knows exist.
pub trait SlotStore {
    type Slot: Copy + Eq + Debug;

    fn cap(&self, slot: Self::Slot) -> Capability;
    /// Whether `slot` holds no capability: what a destination is checked for, which a
    /// store may answer without decoding a whole capability.
    fn is_empty(&self, slot: Self::Slot) -> bool {
        self.cap(slot).is_null()
    }
    fn set_cap(&mut self, slot: Self::Slot, cap: Capability);
    fn mdb(&self, slot: Self::Slot) -> MdbNode<Self::Slot>;
    fn set_mdb(&mut self, slot: Self::Slot, node: MdbNode<Self::Slot>);
    /// Slot `index` of the CNode `cnode` refers to. Called only with a CNode capability and
    /// `index < 2^radix_bits`.
    fn cnode_slot(&self, cnode: &Capability, index: u64) -> Self::Slot;
}

/// seL4's `isMDBParentOf`: whether `b`, which follows `a` in its list, descends from `a`.
/// Meaningful only within `a`'s run of descendants (see the module documentation).
pub fn is_parent_of<S: SlotStore>(store: &S, a: S::Slot, b: S::Slot) -> bool {
    store.mdb(a).revocable && descends_from(store, &store.cap(a), b, &store.cap(b))
}

/// The capabilities' half of [`is_parent_of`], for a revocable `a_cap` whose capabilities
/// the caller has already read: whether `b`, holding `b_cap`, descends from it.
pub(super) fn descends_from<S: SlotStore>(
    store: &S,
    a_cap: &Capability,
    b: S::Slot,
    b_cap: &Capability,
) -> bool {
    if !a_cap.same_region_as(b_cap) {
        return false;
    }
    match (a_cap.badge(), b_cap.badge()) {
        (Some(0), _) | (None, _) => true,
        (Some(a_badge), b_badge) => b_badge == Some(a_badge) && !store.mdb(b).first_badged,
    }
}

/// Whether the capability in `slot`, `cap`, has descendants.
pub fn has_children<S: SlotStore>(store: &S, slot: S::Slot, cap: &Capability) -> bool {
    debug_assert!(store.cap(slot) == *cap, "{cap:?} is not the capability in {slot:?}");
    let node = store.mdb(slot);
    node.revocable
        && node.next.is_some_and(|next| descends_from(store, cap, next, &store.cap(next)))
}

/// seL4's `isFinalCapability`: whether no other slot refers to the same object as `cap`,
/// the capability in `slot`. All capabilities to one object are adjacent in their list
/// (each copy is inserted next to its source, and a source with copies never gains an
/// unrelated descendant between them), so the neighbours are enough.
pub fn is_final<S: SlotStore>(store: &S, slot: S::Slot, cap: &Capability) -> bool {
    debug_assert!(store.cap(slot) == *cap, "{cap:?} is not the capability in {slot:?}");
    is_final_with_links(store, cap, store.mdb(slot))
}

/// [`is_final`] for a capability whose links, `node`, the caller has already read.
pub(super) fn is_final_with_links<S: SlotStore>(
    store: &S,
    cap: &Capability,
    node: MdbNode<S::Slot>,
) -> bool {
    !refers_to_same_object(store, node.prev, cap) && !refers_to_same_object(store, node.next, cap)
}

/// Whether `neighbour` holds a capability to the same object as `cap`.
pub(super) fn refers_to_same_object<S: SlotStore>(
    store: &S,
    neighbour: Option<S::Slot>,
    cap: &Capability,
) -> bool {
    neighbour.is_some_and(|other| store.cap(other).is_same_object(cap))
}

/// Puts `cap` into the empty `dst` as the node right after `parent`, with the given node
/// flags.
pub(super) fn link_after<S: SlotStore>(
    store: &mut S,
    parent: S::Slot,
    dst: S::Slot,
    cap: Capability,
    revocable: bool,
) {
    let parent_node = store.mdb(parent);
    if let Some(next) = parent_node.next {
        store.set_mdb(next, MdbNode { prev: Some(dst), ..store.mdb(next) });
    }
    store.set_mdb(parent, MdbNode { next: Some(dst), ..parent_node });
    store.set_cap(dst, cap);
    store.set_mdb(
        dst,
        MdbNode { prev: Some(parent), next: parent_node.next, revocable, first_badged: revocable },
    );
}

/// Puts the original capability `cap` into the empty `dst` as a child of `parent`, after
/// the plain copies that follow it: those must stay next to it, since finality is read
/// from neighbours (a handler issued by IRQ control must not separate it from its
/// copies). Plain copies have no children, so the new child still descends from `parent`
/// — or, when `parent` is itself a plain copy, from the original before it. `parent_cap`
/// is the capability in `parent`.
pub(super) fn link_new_child<S: SlotStore>(
    store: &mut S,
    parent: S::Slot,
    parent_cap: &Capability,
    dst: S::Slot,
    cap: Capability,
) {
    let mut after = parent;
    while let Some(next) = store.mdb(after).next
        && !store.mdb(next).revocable
        && store.cap(next).is_same_object(parent_cap)
    {
        after = next;
    }
    link_after(store, after, dst, cap, true);
}

/// Takes `slot` out of its list and empties it (seL4's `emptySlot`). If it started a badge
/// subtree, the next node inherits that: otherwise the copies that followed it would fall
/// into the subtree of an earlier capability with the same badge. `node` is the slot's.
pub(super) fn unlink<S: SlotStore>(store: &mut S, slot: S::Slot, node: MdbNode<S::Slot>) {
    if let Some(prev) = node.prev {
        store.set_mdb(prev, MdbNode { next: node.next, ..store.mdb(prev) });
    }
    if let Some(next) = node.next {
        let next_node = store.mdb(next);
        store.set_mdb(
            next,
            MdbNode {
                prev: node.prev,
                first_badged: next_node.first_badged || node.first_badged,
                ..next_node
            },
        );
    }
    store.set_cap(slot, Capability::Null);
    store.set_mdb(slot, MdbNode::empty());
}

/// Moves the capability and node of `src` to the empty `dst`, putting `cap` there, and
/// points the neighbours at `dst` (seL4's `cteMove`).
pub(super) fn relink<S: SlotStore>(store: &mut S, src: S::Slot, dst: S::Slot, cap: Capability) {
    let node = store.mdb(src);
    store.set_cap(src, Capability::Null);
    store.set_mdb(src, MdbNode::empty());
    store.set_cap(dst, cap);
    store.set_mdb(dst, node);
    if let Some(prev) = node.prev {
        store.set_mdb(prev, MdbNode { next: Some(dst), ..store.mdb(prev) });
    }
    if let Some(next) = node.next {
        store.set_mdb(next, MdbNode { prev: Some(dst), ..store.mdb(next) });
    }
}
