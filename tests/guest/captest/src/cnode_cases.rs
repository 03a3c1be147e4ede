//! `cap::cnode::*`: copy, mint, move, mutate, delete and revoke, and their refusals.

use libasi::Error;
use libasi::cap::invocation::cnode_delete;
use libasi::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, CapKind, Endpoint, Notification, ObjectKind, PageTable,
    Rights, Slot, SlotRef, Tcb, Untyped, VSpace,
};
use libasi::message::Message;

use crate::env::{ROOT, Scratch};
use crate::report::{Failure, Outcome, holds, ok, refused};
use crate::{Case, ensure};

pub const CASES: &[Case] = &[
    ("cap::cnode::copy", copy),
    ("cap::cnode::copy_keeps_fewer_rights", copy_keeps_fewer_rights),
    ("cap::cnode::copy_to_occupied_slot", copy_to_occupied),
    ("cap::cnode::copy_onto_itself", copy_onto_itself),
    ("cap::cnode::copy_from_empty_slot", copy_from_empty),
    ("cap::cnode::copy_fixed_capabilities", copy_fixed),
    ("cap::cnode::move", move_cap),
    ("cap::cnode::move_to_occupied_slot", move_to_occupied),
    ("cap::cnode::move_from_empty_slot", move_from_empty),
    ("cap::cnode::mutate_moves_with_fewer_rights", mutate),
    ("cap::cnode::mutate_cannot_badge", mutate_cannot_badge),
    ("cap::cnode::delete", delete),
    ("cap::cnode::delete_empty_slot", delete_empty),
    ("cap::cnode::mint_badge", mint_badge),
    ("cap::cnode::mint_badge_on_badged_endpoint", mint_badge_on_badged),
    ("cap::cnode::mint_badge_on_unbadgeable", mint_badge_on_unbadgeable),
    ("cap::cnode::bad_rights_bits", bad_rights),
    ("cap::cnode::revoke_untyped_removes_its_objects", revoke_untyped),
    ("cap::cnode::revoke_endpoint_removes_copies_only", revoke_endpoint),
    ("cap::cnode::revoke_badged_removes_that_badge_only", revoke_badged),
    ("cap::cnode::revoke_empty_slot", revoke_empty),
    ("cap::cnode::copy_untyped_with_children", copy_untyped_with_children),
    ("cap::cnode::unmapped_page_tables_are_not_derivable", unmapped_tables),
    ("cap::cnode::source_cnode_not_a_cnode", source_not_cnode),
    ("cap::cnode::lookup_depth_mismatch", lookup_depth_mismatch),
    ("cap::cnode::lookup_bad_depth", lookup_bad_depth),
    ("cap::cnode::bad_depth_names_its_word", bad_depth_names_its_word),
    ("cap::cnode::truncated_messages", truncated_messages),
];

/// Run after everything else: if it fails, the root CSpace may be gone.
pub const LAST: &[Case] =
    &[("cap::cnode::deleting_the_root_cnode_slot_keeps_the_cspace", delete_root_cnode_slot)];

fn root(slot: u64) -> Slot {
    Slot::root(slot)
}

fn src(slot: u64) -> SlotRef {
    SlotRef::root(slot)
}

/// A test region and an endpoint made from it.
fn endpoint(s: &mut Scratch<'_>) -> Result<(Cap<Untyped>, Cap<Endpoint>), Failure> {
    let region = s.untyped(12)?;
    let endpoint = s.object(region, ObjectKind::Endpoint, 0)?;
    Ok((region, endpoint))
}

fn copy(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let dest = s.slot()?;
    ok(ROOT.copy(root(dest), src(endpoint.cptr().0), Rights::ALL), "copy an endpoint")?;
    holds(endpoint.cptr(), CapKind::Endpoint, "original after copy")?;
    holds(CPtr(dest), CapKind::Endpoint, "copy")
}

fn copy_keeps_fewer_rights(s: &mut Scratch<'_>) -> Outcome {
    let (region, _) = endpoint(s)?;
    let notification: Cap<Notification> = s.object(region, ObjectKind::Notification, 0)?;
    let dest = s.slots(2)?;
    ok(ROOT.copy(root(dest), src(notification.cptr().0), Rights::READ), "copy with read only")?;
    ok(ROOT.copy(root(dest + 1), src(dest), Rights::NONE), "copy the copy with no rights")?;
    holds(CPtr(dest + 1), CapKind::Notification, "copy without rights")
}

fn copy_to_occupied(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let other: Cap<Tcb> = s.object(region, ObjectKind::Tcb, 0)?;
    refused(
        ROOT.copy(root(other.cptr().0), src(endpoint.cptr().0), Rights::ALL),
        Error::DeleteFirst { index: 0 },
        "copy onto a TCB",
    )?;
    holds(other.cptr(), CapKind::Tcb, "destination after the refusal")?;
    refused(
        ROOT.copy(root(1), src(endpoint.cptr().0), Rights::ALL),
        Error::DeleteFirst { index: 0 },
        "copy onto the root CNode's slot",
    )
}

fn copy_onto_itself(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let slot = endpoint.cptr().0;
    refused(
        ROOT.copy(root(slot), src(slot), Rights::ALL),
        Error::DeleteFirst { index: 0 },
        "copy a slot onto itself",
    )?;
    refused(
        ROOT.move_cap(root(slot), src(slot)),
        Error::DeleteFirst { index: 0 },
        "move a slot onto itself",
    )?;
    holds(CPtr(slot), CapKind::Endpoint, "slot after the refusals")
}

fn copy_from_empty(s: &mut Scratch<'_>) -> Outcome {
    let (from, to) = (s.slot()?, s.slot()?);
    refused(
        ROOT.copy(root(to), src(from), Rights::ALL),
        Error::EmptySlot,
        "copy from an empty slot",
    )?;
    refused(ROOT.copy(root(to), src(0), Rights::ALL), Error::EmptySlot, "copy from slot 0")?;
    holds(CPtr(to), CapKind::Null, "destination after the refusals")
}

fn copy_fixed(s: &mut Scratch<'_>) -> Outcome {
    let dest = s.slots(4)?;
    let fixed = [(1, CapKind::CNode), (2, CapKind::IrqControl), (3, CapKind::AsiControl)];
    for (index, (slot, kind)) in fixed.into_iter().enumerate() {
        let to = dest + index as u64;
        ok(ROOT.copy(root(to), src(slot), Rights::ALL), "copy a fixed capability")?;
        holds(CPtr(to), kind, "copy of a fixed capability")?;
    }
    // A module frame: read-only at boot, copied with all rights asked (it keeps read).
    let frame = s.info().modules().first().map_or(0, |module| module.frames.start);
    ok(ROOT.copy(root(dest + 3), src(frame), Rights::ALL), "copy a module frame")?;
    holds(CPtr(dest + 3), CapKind::Frame, "copy of a module frame")
}

fn move_cap(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let dest = s.slots(2)?;
    ok(ROOT.move_cap(root(dest), src(endpoint.cptr().0)), "move an endpoint")?;
    holds(endpoint.cptr(), CapKind::Null, "source after move")?;
    holds(CPtr(dest), CapKind::Endpoint, "destination after move")?;
    // The moved capability is still the untyped region's child.
    ok(ROOT.move_cap(root(dest + 1), src(region.cptr().0)), "move the region")?;
    ensure!(s.has_children(Cap::from_slot(dest + 1))?, "the moved region lost its child");
    ok(ROOT.revoke(root(dest + 1)), "revoke the moved region")?;
    holds(CPtr(dest), CapKind::Null, "moved endpoint after revoking the moved region")
}

fn move_to_occupied(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let other: Cap<Notification> = s.object(region, ObjectKind::Notification, 0)?;
    refused(
        ROOT.move_cap(root(other.cptr().0), src(endpoint.cptr().0)),
        Error::DeleteFirst { index: 0 },
        "move onto a notification",
    )?;
    holds(endpoint.cptr(), CapKind::Endpoint, "source after the refusal")?;
    holds(other.cptr(), CapKind::Notification, "destination after the refusal")
}

fn move_from_empty(s: &mut Scratch<'_>) -> Outcome {
    let (from, to) = (s.slot()?, s.slot()?);
    refused(ROOT.move_cap(root(to), src(from)), Error::EmptySlot, "move from an empty slot")?;
    refused(
        ROOT.mutate(root(to), src(from), Rights::ALL, CapData::NONE),
        Error::EmptySlot,
        "mutate from an empty slot",
    )
}

fn mutate(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let dest = s.slot()?;
    ok(
        ROOT.mutate(root(dest), src(endpoint.cptr().0), Rights::WRITE, CapData::NONE),
        "mutate to write only",
    )?;
    holds(endpoint.cptr(), CapKind::Null, "source after mutate")?;
    holds(CPtr(dest), CapKind::Endpoint, "destination after mutate")
}

fn mutate_cannot_badge(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let dest = s.slot()?;
    refused(
        ROOT.mutate(root(dest), src(endpoint.cptr().0), Rights::ALL, CapData::badge(7)),
        Error::InvalidArgument { word: 6 },
        "mutate with a badge",
    )?;
    holds(endpoint.cptr(), CapKind::Endpoint, "source after the refusal")?;
    holds(CPtr(dest), CapKind::Null, "destination after the refusal")
}

fn delete(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let tcb: Cap<Tcb> = s.object(region, ObjectKind::Tcb, 0)?;
    for cap in [endpoint.cptr(), tcb.cptr()] {
        ok(ROOT.delete(root(cap.0)), "delete")?;
        holds(cap, CapKind::Null, "slot after delete")?;
    }
    Ok(())
}

fn delete_empty(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    ok(ROOT.delete(root(slot)), "delete an empty slot")?;
    ok(ROOT.delete(root(slot)), "delete it again")?;
    ok(ROOT.delete(root(0)), "delete slot 0")?;
    holds(CPtr(slot), CapKind::Null, "slot after delete")
}

fn mint_badge(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let notification: Cap<Notification> = s.object(region, ObjectKind::Notification, 0)?;
    let dest = s.slots(2)?;
    ok(
        ROOT.mint(root(dest), src(endpoint.cptr().0), Rights::ALL, CapData::badge(0x1234)),
        "mint an endpoint with a badge",
    )?;
    holds(CPtr(dest), CapKind::Endpoint, "badged endpoint")?;
    ok(
        ROOT.mint(
            root(dest + 1),
            src(notification.cptr().0),
            Rights::WRITE,
            CapData::badge(u64::MAX),
        ),
        "mint a notification with badge 2^64-1",
    )?;
    holds(CPtr(dest + 1), CapKind::Notification, "badged notification")
}

fn mint_badge_on_badged(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let dest = s.slots(3)?;
    ok(
        ROOT.mint(root(dest), src(endpoint.cptr().0), Rights::ALL, CapData::badge(5)),
        "mint badge 5",
    )?;
    refused(
        ROOT.mint(root(dest + 1), src(dest), Rights::ALL, CapData::badge(6)),
        Error::InvalidArgument { word: 6 },
        "mint badge 6 on the badged endpoint",
    )?;
    refused(
        ROOT.mint(root(dest + 1), src(dest), Rights::ALL, CapData::badge(5)),
        Error::InvalidArgument { word: 6 },
        "mint the same badge again",
    )?;
    holds(CPtr(dest + 1), CapKind::Null, "destination after the refusals")?;
    // Badge 0 means "keep the badge": a plain copy.
    ok(
        ROOT.mint(root(dest + 2), src(dest), Rights::READ, CapData::NONE),
        "mint badge 0 from the badged endpoint",
    )?;
    holds(CPtr(dest + 2), CapKind::Endpoint, "copy of the badged endpoint")
}

fn mint_badge_on_unbadgeable(s: &mut Scratch<'_>) -> Outcome {
    let (region, _) = endpoint(s)?;
    let tcb: Cap<Tcb> = s.object(region, ObjectKind::Tcb, 0)?;
    let dest = s.slot()?;
    refused(
        ROOT.mint(root(dest), src(tcb.cptr().0), Rights::ALL, CapData::badge(1)),
        Error::InvalidArgument { word: 6 },
        "badge a TCB",
    )?;
    refused(
        ROOT.mint(root(dest), src(3), Rights::ALL, CapData::badge(1)),
        Error::InvalidArgument { word: 6 },
        "badge ASI control",
    )?;
    refused(
        ROOT.mint(root(dest), src(region.cptr().0), Rights::ALL, CapData::badge(1)),
        Error::InvalidArgument { word: 6 },
        "badge an untyped region",
    )?;
    holds(CPtr(dest), CapKind::Null, "destination after the refusals")
}

fn bad_rights(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let dest = s.slot()?;
    let from = src(endpoint.cptr().0);
    for word in [0x10, 0xff, 0x100, u64::MAX] {
        let rights = Rights::from_word_unchecked(word);
        let want = Error::InvalidArgument { word: 5 };
        refused(ROOT.copy(root(dest), from, rights), want, "copy with bad rights")?;
        refused(
            ROOT.mint(root(dest), from, rights, CapData::badge(1)),
            want,
            "mint with bad rights",
        )?;
        refused(
            ROOT.mutate(root(dest), from, rights, CapData::NONE),
            want,
            "mutate with bad rights",
        )?;
    }
    holds(endpoint.cptr(), CapKind::Endpoint, "source after the refusals")?;
    holds(CPtr(dest), CapKind::Null, "destination after the refusals")
}

fn revoke_untyped(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    let first = s.slots(12)?;
    let mut next = first;
    for (kind, bits, count) in [
        (ObjectKind::Endpoint, 0, 4),
        (ObjectKind::Tcb, 0, 2),
        (ObjectKind::CNode, 4, 1),
        (ObjectKind::Frame4K, 0, 2),
        (ObjectKind::Notification, 0, 1),
        (ObjectKind::VSpace, 0, 1),
        (ObjectKind::Untyped, 12, 1),
    ] {
        ok(region.retype(kind, bits, CNodeAt::ROOT, next, count), "retype before revoke")?;
        next += count;
    }
    // A copy of one of them, elsewhere.
    let copy = s.slot()?;
    ok(ROOT.copy(root(copy), src(first), Rights::ALL), "copy an endpoint")?;
    ok(ROOT.revoke(root(region.cptr().0)), "revoke the region")?;
    for slot in (first..next).chain([copy]) {
        holds(CPtr(slot), CapKind::Null, "object slot after revoking its region")?;
    }
    holds(region.cptr(), CapKind::Untyped, "the region after revoke")?;
    ensure!(!s.has_children(region)?, "the region still has children");
    Ok(())
}

fn revoke_endpoint(s: &mut Scratch<'_>) -> Outcome {
    let (region, endpoint) = endpoint(s)?;
    let copies = s.slots(4)?;
    let original = endpoint.cptr().0;
    ok(ROOT.copy(root(copies), src(original), Rights::ALL), "first copy")?;
    ok(ROOT.copy(root(copies + 1), src(original), Rights::READ), "second copy")?;
    ok(ROOT.copy(root(copies + 2), src(copies), Rights::ALL), "copy of a copy")?;
    ok(ROOT.mint(root(copies + 3), src(original), Rights::ALL, CapData::badge(9)), "badged copy")?;
    ok(ROOT.revoke(root(original)), "revoke the original")?;
    holds(CPtr(original), CapKind::Endpoint, "original after revoke")?;
    for slot in copies..copies + 4 {
        holds(CPtr(slot), CapKind::Null, "copy after revoking the original")?;
    }
    // The endpoint itself is still the region's child.
    ensure!(s.has_children(region)?, "revoking the endpoint's copies removed the endpoint");
    Ok(())
}

fn revoke_badged(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let slots = s.slots(5)?;
    let original = endpoint.cptr().0;
    let (plain, badged, badged_copy, other_badge, other_copy) =
        (slots, slots + 1, slots + 2, slots + 3, slots + 4);
    ok(ROOT.copy(root(plain), src(original), Rights::ALL), "plain copy")?;
    ok(ROOT.mint(root(badged), src(original), Rights::ALL, CapData::badge(1)), "badge 1")?;
    ok(ROOT.copy(root(badged_copy), src(badged), Rights::ALL), "copy of badge 1")?;
    ok(ROOT.mint(root(other_badge), src(original), Rights::ALL, CapData::badge(2)), "badge 2")?;
    ok(ROOT.copy(root(other_copy), src(other_badge), Rights::ALL), "copy of badge 2")?;
    ok(ROOT.revoke(root(badged)), "revoke badge 1")?;
    holds(CPtr(badged_copy), CapKind::Null, "copy of badge 1 after revoking it")?;
    for slot in [original, plain, badged, other_badge, other_copy] {
        holds(CPtr(slot), CapKind::Endpoint, "other capability after revoking badge 1")?;
    }
    // Revoking a plain (non-original) copy removes nothing.
    ok(ROOT.revoke(root(plain)), "revoke the plain copy")?;
    holds(CPtr(other_copy), CapKind::Endpoint, "badge 2 copy after revoking a plain copy")
}

fn revoke_empty(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    ok(ROOT.revoke(root(slot)), "revoke an empty slot")
}

fn copy_untyped_with_children(s: &mut Scratch<'_>) -> Outcome {
    let (region, _) = endpoint(s)?;
    let dest = s.slot()?;
    refused(
        ROOT.copy(root(dest), src(region.cptr().0), Rights::ALL),
        Error::RevokeFirst,
        "copy a region with a child",
    )?;
    refused(
        ROOT.mint(root(dest), src(region.cptr().0), Rights::ALL, CapData::NONE),
        Error::RevokeFirst,
        "mint a region with a child",
    )?;
    holds(CPtr(dest), CapKind::Null, "destination after the refusals")?;
    // Moving it is fine: the children move along.
    ok(ROOT.move_cap(root(dest), src(region.cptr().0)), "move a region with a child")?;
    ensure!(s.has_children(Cap::from_slot(dest))?, "the moved region lost its child");
    Ok(())
}

fn unmapped_tables(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(15)?;
    let dest = s.slots(2)?;
    for kind in
        [ObjectKind::PageDirectoryPointerTable, ObjectKind::PageDirectory, ObjectKind::PageTable]
    {
        let table: Cap<PageTable> = s.object(region, kind, 0)?;
        refused(
            ROOT.copy(root(dest), src(table.cptr().0), Rights::ALL),
            Error::NotDerivable,
            "copy an unmapped page table",
        )?;
        refused(
            ROOT.mint(root(dest), src(table.cptr().0), Rights::ALL, CapData::NONE),
            Error::NotDerivable,
            "mint an unmapped page table",
        )?;
        // It can be moved.
        ok(ROOT.move_cap(root(dest), src(table.cptr().0)), "move an unmapped page table")?;
        holds(CPtr(dest), CapKind::PageTable, "moved page table")?;
        ok(ROOT.delete(root(dest)), "delete the moved table")?;
    }
    // A VSpace gets its address-space identifier when it is made, which makes it
    // derivable like a mapped table.
    let vspace: Cap<VSpace> = s.object(region, ObjectKind::VSpace, 0)?;
    ok(ROOT.copy(root(dest + 1), src(vspace.cptr().0), Rights::ALL), "copy a VSpace")?;
    holds(CPtr(dest + 1), CapKind::VSpace, "copy of a VSpace")
}

fn source_not_cnode(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let (dest, empty) = (s.slot()?, s.slot()?);
    let via_endpoint = SlotRef::new(endpoint.cast(), endpoint.cptr().0, 64);
    refused(
        ROOT.copy(root(dest), via_endpoint, Rights::ALL),
        Error::InvalidCapability { word: 2 },
        "source CNode is an endpoint",
    )?;
    refused(
        ROOT.move_cap(root(dest), via_endpoint),
        Error::InvalidCapability { word: 2 },
        "move with an endpoint as source CNode",
    )?;
    let via_empty = SlotRef::new(Cap::from_slot(empty), 1, 64);
    refused(
        ROOT.copy(root(dest), via_empty, Rights::ALL),
        Error::EmptySlot,
        "source CNode slot is empty",
    )?;
    let via_far = SlotRef::new(Cap::new(CPtr(1 << 40)), 1, 64);
    refused(
        ROOT.copy(root(dest), via_far, Rights::ALL),
        Error::LookupFailed { bits_left: 64 },
        "source CNode pointer beyond the guard",
    )
}

fn lookup_depth_mismatch(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let slot = endpoint.cptr().0;
    for depth in [1, 12, 32, 52, 63] {
        refused(
            ROOT.delete(Slot::new(slot, depth)),
            Error::LookupFailed { bits_left: u64::from(depth) },
            "delete at a short depth",
        )?;
    }
    refused(
        ROOT.delete(Slot::new(slot | 1 << 20, 64)),
        Error::LookupFailed { bits_left: 64 },
        "delete with guard bits set",
    )?;
    let dest = s.slot()?;
    refused(
        ROOT.copy(root(dest), SlotRef::new(ROOT, slot, 40), Rights::ALL),
        Error::LookupFailed { bits_left: 40 },
        "copy from source depth 40",
    )?;
    holds(CPtr(slot), CapKind::Endpoint, "endpoint after the refusals")
}

fn lookup_bad_depth(s: &mut Scratch<'_>) -> Outcome {
    let (_, endpoint) = endpoint(s)?;
    let slot = endpoint.cptr().0;
    // Depth 0 and depths above 64 are out of range; which word the detail names is checked
    // in `bad_depth_names_its_word`.
    let is_range_error =
        |result: Result<(), Error>| matches!(result, Err(Error::RangeError { .. }));
    ensure!(
        is_range_error(ROOT.delete(Slot::new(slot, 0))),
        "delete at depth 0: {:?}",
        ROOT.delete(Slot::new(slot, 0))
    );
    ensure!(
        is_range_error(ROOT.delete(Slot::new(slot, 65))),
        "delete at depth 65: {:?}",
        ROOT.delete(Slot::new(slot, 65))
    );
    let raw = Message::with_words(libasi::cap::Invocation::CNodeDelete.label(), &[slot, 300])
        .map_err(|_| Failure::new(format_args!("message")))?;
    let got = raw.call(ROOT.cptr()).map(drop);
    ensure!(is_range_error(got), "delete at depth 300: {got:?}");
    let dest = s.slot()?;
    let got = ROOT.copy(root(dest), SlotRef::new(ROOT, slot, 0), Rights::ALL);
    ensure!(is_range_error(got), "copy from source depth 0: {got:?}");
    holds(CPtr(slot), CapKind::Endpoint, "endpoint after the refusals")
}

fn truncated_messages(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    let cases: [(libasi::cap::Invocation, u64); 6] = [
        (libasi::cap::Invocation::CNodeCopy, 6),
        (libasi::cap::Invocation::CNodeMint, 7),
        (libasi::cap::Invocation::CNodeMove, 5),
        (libasi::cap::Invocation::CNodeMutate, 7),
        (libasi::cap::Invocation::CNodeDelete, 2),
        (libasi::cap::Invocation::CNodeRevoke, 2),
    ];
    for (invocation, needed) in cases {
        let words = [slot, 64, 1, slot, 64, 15, 0];
        let short = Message::with_words(invocation.label(), &words[..needed as usize - 1])
            .map_err(|_| Failure::new(format_args!("message")))?;
        refused(
            short.call(ROOT.cptr()),
            Error::TruncatedMessage { needed },
            "CNode invocation one word short",
        )?;
    }
    // The delete of two words works on its own.
    ok(cnode_delete(root(slot)).call(ROOT.cptr()), "delete of exactly two words").map(drop)
}

/// Slot 1 is not the only capability to the root CNode: the root task's TCB holds one as
/// its CSpace root, so deleting slot 1 is not final and must leave the CSpace alone.
fn delete_root_cnode_slot(s: &mut Scratch<'_>) -> Outcome {
    let spare = s.slot()?;
    ok(ROOT.copy(root(spare), src(1), Rights::ALL), "copy the root CNode capability")?;
    let spare_cnode = Cap::<CNode>::from_slot(spare);
    ok(spare_cnode.delete(root(1)), "delete slot 1")?;
    let after = [(2, CapKind::IrqControl), (4, CapKind::Tcb), (spare, CapKind::CNode)]
        .map(|(slot, want)| (slot, want, crate::report::identify(CPtr(slot))));
    let untyped = s.info().untyped_slots.start;
    let untyped_after = crate::report::identify(CPtr(untyped));
    ok(
        spare_cnode.copy(root(1), SlotRef::new(spare_cnode, spare, 64), Rights::ALL),
        "put slot 1 back",
    )?;
    holds(CPtr(1), CapKind::CNode, "slot 1 put back")?;
    for (slot, want, got) in after {
        let got = got?;
        ensure!(got == want, "slot {slot} holds {got:?} after deleting slot 1, expected {want:?}");
    }
    let untyped_after = untyped_after?;
    ensure!(
        untyped_after == CapKind::Untyped,
        "first untyped slot holds {untyped_after:?} after deleting slot 1"
    );
    Ok(())
}

/// A range error's `rdx` is the index of the message word out of range: for a bad depth,
/// the depth's own word in each invocation.
fn bad_depth_names_its_word(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    refused(ROOT.delete(Slot::new(slot, 0)), Error::RangeError { word: 1 }, "delete at depth 0")?;
    refused(ROOT.delete(Slot::new(slot, 65)), Error::RangeError { word: 1 }, "delete at depth 65")?;
    refused(
        ROOT.copy(Slot::root(slot), SlotRef::new(ROOT, 1, 0), Rights::ALL),
        Error::RangeError { word: 4 },
        "copy from source depth 0",
    )?;
    let dest = CNodeAt { cnode: ROOT, depth: 0 };
    refused(
        region.retype(ObjectKind::Endpoint, 0, dest, slot, 1),
        Error::RangeError { word: 3 },
        "retype into destination depth 0",
    )
}
