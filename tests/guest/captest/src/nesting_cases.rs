//! `cap::nested::*`: CNodes inside CNodes — multi-level pointers, guards, and what
//! deleting the last capability to a CNode does to what it holds, down long chains.

use libasi::Error;
use libasi::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, CapKind, Endpoint, ObjectKind, Rights, Slot, SlotRef,
    Untyped,
};

use crate::env::{ROOT, Scratch};
use crate::report::{Failure, Outcome, holds, ok, refused};
use crate::{Case, ensure};

pub const CASES: &[Case] = &[
    ("cap::nested::two_level_pointers", two_level_pointers),
    ("cap::nested::lookup_failures_report_bits_left", lookup_failures),
    ("cap::nested::mint_guard_then_resolve_through_it", mint_guard),
    ("cap::nested::mint_guard_that_does_not_fit", mint_bad_guard),
    ("cap::nested::mutate_sets_a_guard", mutate_guard),
    ("cap::nested::delete_last_cnode_cap_deletes_its_contents", delete_destroys_contents),
    ("cap::nested::delete_spares_a_shared_inner_cnode", delete_spares_shared),
    ("cap::nested::cnode_holding_itself_is_revocable", cnode_holding_itself),
    ("cap::nested::chain_of_100_deleted_from_the_top", chain_100_delete),
    ("cap::nested::chain_of_256_deleted_from_the_top", chain_256_delete),
    ("cap::nested::chain_of_100_revoked_through_the_region", chain_100_revoke),
];

/// A copy of the root CNode capability without its guard: it resolves 12 bits per level,
/// so pointers through it can go on into CNodes below.
fn unguarded_root(s: &mut Scratch<'_>) -> Result<Cap<CNode>, Failure> {
    let slot = s.slot()?;
    let Some(no_guard) = CapData::guard(0, 0) else { crate::fail!("guard encoding") };
    ok(
        ROOT.mint(Slot::root(slot), SlotRef::root(1), Rights::ALL, no_guard),
        "mint the root CNode without guard",
    )?;
    Ok(Cap::from_slot(slot))
}

/// Where `index` of the radix-`radix` CNode in root slot `slot` is, through [`unguarded_root`].
fn two_level(slot: u64, radix: u8, index: u64) -> Slot {
    Slot::new((slot << radix) | index, 12 + radix)
}

fn two_level_pointers(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let r0 = unguarded_root(s)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 4)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    let n = nested.cptr().0;
    // Into the nested CNode through two levels, out again through two levels.
    ok(
        r0.copy(two_level(n, 4, 3), SlotRef::root(endpoint.cptr().0), Rights::ALL),
        "copy into nested slot 3",
    )?;
    let out = s.slots(2)?;
    ok(
        ROOT.copy(Slot::root(out), SlotRef::new(r0, two_level(n, 4, 3).index, 16), Rights::ALL),
        "copy out of nested slot 3",
    )?;
    holds(CPtr(out), CapKind::Endpoint, "copy read back from the nested CNode")?;
    // The same slot through the nested CNode's own capability.
    ok(
        ROOT.move_cap(Slot::root(out + 1), SlotRef::new(nested, 3, 4)),
        "move out of nested slot 3 directly",
    )?;
    holds(CPtr(out + 1), CapKind::Endpoint, "moved out of the nested CNode")?;
    refused(
        ROOT.copy(Slot::root(out + 2), SlotRef::new(r0, two_level(n, 4, 3).index, 16), Rights::ALL),
        Error::EmptySlot,
        "nested slot 3 after moving out",
    )?;
    // One level through the unguarded root: a root slot at depth 12.
    ok(r0.delete(Slot::new(out, 12)), "delete a root slot at depth 12")?;
    holds(CPtr(out), CapKind::Null, "root slot deleted through the unguarded copy")
}

fn lookup_failures(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let r0 = unguarded_root(s)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 4)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    let empty = s.slot()?;
    // Four bits left at a slot holding an endpoint, or nothing.
    refused(
        r0.delete(two_level(endpoint.cptr().0, 4, 0)),
        Error::LookupFailed { bits_left: 4 },
        "through an endpoint",
    )?;
    refused(
        r0.delete(two_level(empty, 4, 0)),
        Error::LookupFailed { bits_left: 4 },
        "through an empty slot",
    )?;
    // Two bits left for the nested CNode's radix of 4.
    refused(
        r0.delete(Slot::new(nested.cptr().0 << 2, 14)),
        Error::LookupFailed { bits_left: 2 },
        "too few bits for the nested radix",
    )?;
    // Through the guarded root, a second level is unreachable: 64 bits are all used.
    let second_level = (nested.cptr().0 << 12) | 3;
    refused(
        ROOT.delete(Slot::new(second_level, 64)),
        Error::LookupFailed { bits_left: 64 },
        "second level through the guarded root",
    )?;
    // Ten bits run out inside the unguarded root's radix of 12.
    refused(
        r0.delete(Slot::new(1, 10)),
        Error::LookupFailed { bits_left: 10 },
        "depth 10 through radix 12",
    )
}

fn mint_guard(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 4)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    let guarded = s.slot()?;
    let Some(guard) = CapData::guard(0b101, 3) else { crate::fail!("guard encoding") };
    ok(
        ROOT.mint(Slot::root(guarded), SlotRef::root(nested.cptr().0), Rights::ALL, guard),
        "mint the nested CNode with guard 101",
    )?;
    holds(CPtr(guarded), CapKind::CNode, "guarded CNode capability")?;
    let guarded: Cap<CNode> = Cap::from_slot(guarded);
    let through_guard = Slot::new(0b101 << 4 | 7, 7);
    ok(
        guarded.copy(through_guard, SlotRef::root(endpoint.cptr().0), Rights::ALL),
        "copy into slot 7 through the guard",
    )?;
    let out = s.slot()?;
    // Read back through the unguarded capability: the same CNode.
    ok(ROOT.move_cap(Slot::root(out), SlotRef::new(nested, 7, 4)), "move slot 7 out, unguarded")?;
    holds(CPtr(out), CapKind::Endpoint, "slot 7 of the nested CNode")?;
    refused(
        guarded.delete(Slot::new(0b100 << 4 | 7, 7)),
        Error::LookupFailed { bits_left: 7 },
        "wrong guard",
    )?;
    refused(
        guarded.delete(Slot::new(7, 4)),
        Error::LookupFailed { bits_left: 4 },
        "guard left out",
    )?;
    // The guarded capability as the source CNode of a copy.
    ok(guarded.copy(through_guard, SlotRef::root(out), Rights::ALL), "put it back")?;
    let again = s.slot()?;
    ok(
        ROOT.copy(Slot::root(again), SlotRef::new(guarded, through_guard.index, 7), Rights::ALL),
        "copy out through the guard",
    )?;
    holds(CPtr(again), CapKind::Endpoint, "copy through the guarded source")?;
    // A guard of 60 bits fills 64 bits with the radix: full-depth pointers into the CNode.
    let wide = s.slot()?;
    let sixty = CapData::from_word_unchecked(60);
    ok(
        ROOT.mint(Slot::root(wide), SlotRef::root(nested.cptr().0), Rights::ALL, sixty),
        "mint with a 60-bit guard",
    )?;
    ok(Cap::<CNode>::from_slot(wide).delete(Slot::new(7, 64)), "delete slot 7 at depth 64")?;
    refused(
        ROOT.copy(Slot::root(out), SlotRef::new(nested, 7, 4), Rights::ALL),
        Error::EmptySlot,
        "slot 7 after its delete",
    )
}

fn mint_bad_guard(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 4)?;
    let dest = s.slot()?;
    let from = SlotRef::root(nested.cptr().0);
    let cases = [
        (61, "61 guard bits and radix 4"),
        ((0b1000 << 6) | 3, "guard 1000 in 3 bits"),
        (63, "63 guard bits"),
    ];
    for (word, what) in cases {
        let data = CapData::from_word_unchecked(word);
        refused(
            ROOT.mint(Slot::root(dest), from, Rights::ALL, data),
            Error::InvalidArgument { word: 6 },
            what,
        )?;
        refused(
            ROOT.mutate(Slot::root(dest), from, Rights::ALL, data),
            Error::InvalidArgument { word: 6 },
            what,
        )?;
    }
    holds(nested.cptr(), CapKind::CNode, "source after the refusals")?;
    holds(CPtr(dest), CapKind::Null, "destination after the refusals")
}

fn mutate_guard(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 4)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    let dest = s.slot()?;
    let Some(guard) = CapData::guard(0b11, 2) else { crate::fail!("guard encoding") };
    ok(
        ROOT.mutate(Slot::root(dest), SlotRef::root(nested.cptr().0), Rights::ALL, guard),
        "mutate with guard 11",
    )?;
    holds(nested.cptr(), CapKind::Null, "source after mutate")?;
    let guarded: Cap<CNode> = Cap::from_slot(dest);
    ok(
        guarded.move_cap(Slot::new(0b11 << 4 | 2, 6), SlotRef::root(endpoint.cptr().0)),
        "move into slot 2 through the new guard",
    )?;
    holds(endpoint.cptr(), CapKind::Null, "endpoint's old slot")?;
    refused(
        guarded.delete(Slot::new(2, 4)),
        Error::LookupFailed { bits_left: 4 },
        "without the guard",
    )?;
    ok(
        ROOT.move_cap(Slot::root(endpoint.cptr().0), SlotRef::new(guarded, 0b11 << 4 | 2, 6)),
        "move it back",
    )?;
    holds(endpoint.cptr(), CapKind::Endpoint, "endpoint moved back")
}

fn delete_destroys_contents(s: &mut Scratch<'_>) -> Outcome {
    // The endpoint from one region, the CNode from another, so each region's children
    // can be observed on their own.
    let endpoints = s.untyped(12)?;
    let cnodes = s.untyped(12)?;
    let endpoint: Cap<Endpoint> = s.object(endpoints, ObjectKind::Endpoint, 0)?;
    let nested: Cap<CNode> = s.object(cnodes, ObjectKind::CNode, 2)?;
    ok(
        nested.copy(Slot::new(1, 2), SlotRef::root(endpoint.cptr().0), Rights::ALL),
        "copy the endpoint into the CNode",
    )?;
    ok(ROOT.delete(Slot::root(endpoint.cptr().0)), "delete the original endpoint")?;
    ensure!(
        s.has_children(endpoints)?,
        "the endpoint went with its original although a copy remains"
    );
    ok(ROOT.delete(Slot::root(nested.cptr().0)), "delete the CNode's only capability")?;
    ensure!(!s.has_children(endpoints)?, "the copy inside the deleted CNode survived");
    ensure!(!s.has_children(cnodes)?, "the deleted CNode is still a child of its region");
    // Now with the only capability to the endpoint moved inside.
    let endpoint: Cap<Endpoint> = s.object(endpoints, ObjectKind::Endpoint, 0)?;
    let nested: Cap<CNode> = s.object(cnodes, ObjectKind::CNode, 2)?;
    ok(
        nested.move_cap(Slot::new(3, 2), SlotRef::root(endpoint.cptr().0)),
        "move the endpoint into the CNode",
    )?;
    ok(ROOT.delete(Slot::root(nested.cptr().0)), "delete the CNode")?;
    ensure!(!s.has_children(endpoints)?, "the endpoint moved into the deleted CNode survived");
    // Both regions are whole again.
    ok(
        endpoints.retype(ObjectKind::Untyped, 12, CNodeAt::ROOT, s.slot()?, 1),
        "the endpoints' region, whole",
    )?;
    ok(
        cnodes.retype(ObjectKind::Untyped, 12, CNodeAt::ROOT, s.slot()?, 1),
        "the CNodes' region, whole",
    )
}

fn delete_spares_shared(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let outer: Cap<CNode> = s.object(region, ObjectKind::CNode, 2)?;
    let inner: Cap<CNode> = s.object(region, ObjectKind::CNode, 2)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    ok(
        inner.move_cap(Slot::new(1, 2), SlotRef::root(endpoint.cptr().0)),
        "endpoint into the inner CNode",
    )?;
    ok(
        outer.copy(Slot::new(0, 2), SlotRef::root(inner.cptr().0), Rights::ALL),
        "inner CNode copied into the outer",
    )?;
    ok(ROOT.delete(Slot::root(outer.cptr().0)), "delete the outer CNode")?;
    // The inner CNode keeps its root capability, so it and its contents live on.
    holds(inner.cptr(), CapKind::CNode, "inner CNode")?;
    let out = s.slot()?;
    ok(
        ROOT.move_cap(Slot::root(out), SlotRef::new(inner, 1, 2)),
        "move the endpoint out of the inner CNode",
    )?;
    holds(CPtr(out), CapKind::Endpoint, "endpoint from the inner CNode")
}

fn cnode_holding_itself(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 2)?;
    ok(
        nested.copy(Slot::new(0, 2), SlotRef::root(nested.cptr().0), Rights::ALL),
        "copy the CNode into itself",
    )?;
    ok(ROOT.delete(Slot::root(nested.cptr().0)), "delete the root capability")?;
    // Unreachable now, but still the region's child until the region is revoked.
    ensure!(s.has_children(region)?, "the self-holding CNode vanished");
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the region")?;
    ensure!(!s.has_children(region)?, "the self-holding CNode survived a revoke");
    ok(region.retype(ObjectKind::Untyped, 12, CNodeAt::ROOT, s.slot()?, 1), "the region, whole")
}

/// Builds a chain of `len` CNodes of radix 2 from `region`, each holding the only
/// capability to the next in slot 0 and an endpoint in slot 1; returns the root slot of
/// the outermost, the only one left in the root CNode.
fn chain(s: &mut Scratch<'_>, region: Cap<Untyped>, len: u64) -> Result<u64, Failure> {
    let cnodes = s.slots(len as usize)?;
    let endpoints = s.slots(len as usize)?;
    ok(
        region.retype(ObjectKind::CNode, 2, CNodeAt::ROOT, cnodes, len),
        "retype the chain's CNodes",
    )?;
    ok(
        region.retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, endpoints, len),
        "retype the chain's endpoints",
    )?;
    for level in 0..len {
        let cnode = Cap::<CNode>::from_slot(cnodes + level);
        ok(
            cnode.move_cap(Slot::new(1, 2), SlotRef::root(endpoints + level)),
            "move an endpoint into its CNode",
        )?;
    }
    for level in (1..len).rev() {
        let parent = Cap::<CNode>::from_slot(cnodes + level - 1);
        ok(
            parent.move_cap(Slot::new(0, 2), SlotRef::root(cnodes + level)),
            "move a CNode into its parent",
        )?;
    }
    for slot in (cnodes + 1..cnodes + len).chain(endpoints..endpoints + len) {
        holds(CPtr(slot), CapKind::Null, "root slot emptied into the chain")?;
    }
    Ok(cnodes)
}

fn chain_delete(s: &mut Scratch<'_>, len: u64, region_bits: u8) -> Outcome {
    let region = s.untyped(region_bits)?;
    let top = chain(s, region, len)?;
    ensure!(s.has_children(region)?, "the chain is not the region's child");
    ok(ROOT.delete(Slot::root(top)), "delete the outermost CNode")?;
    holds(CPtr(top), CapKind::Null, "outermost slot")?;
    ensure!(!s.has_children(region)?, "something in the chain survived its deletion");
    let whole = s.slot()?;
    ok(
        region.retype(ObjectKind::Untyped, region_bits, CNodeAt::ROOT, whole, 1),
        "the region, whole",
    )
}

fn chain_100_delete(s: &mut Scratch<'_>) -> Outcome {
    // 100 CNodes of 256 bytes and 100 endpoints: 27 200 bytes.
    chain_delete(s, 100, 15)
}

fn chain_256_delete(s: &mut Scratch<'_>) -> Outcome {
    // 256 CNodes of 256 bytes and 256 endpoints: 69 632 bytes.
    chain_delete(s, 256, 17)
}

fn chain_100_revoke(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(15)?;
    let top = chain(s, region, 100)?;
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the chain's region")?;
    holds(CPtr(top), CapKind::Null, "outermost slot after revoke")?;
    ensure!(!s.has_children(region)?, "something in the chain survived the revoke");
    let whole = s.slot()?;
    ok(region.retype(ObjectKind::Untyped, 15, CNodeAt::ROOT, whole, 1), "the region, whole")
}
