//! `cap::retype::*`: carving objects out of untyped memory, and every refusal of it.

use libasi::Error;
use libasi::cap::invocation::retype_raw;
use libasi::cap::{
    CNode, CNodeAt, CPtr, Cap, CapKind, Endpoint, Frame, Notification, ObjectKind, PageTable,
    Rights, Slot, SlotRef, Tcb, Untyped, VSpace,
};

use crate::env::{KERNEL_OBJECTS, ROOT, Scratch};
use crate::report::{Outcome, holds, ok, refused};
use crate::{Case, ensure, fail};

pub const CASES: &[Case] = &[
    ("cap::retype::untyped_child", untyped_child),
    ("cap::retype::tcb", tcb),
    ("cap::retype::endpoint", endpoint),
    ("cap::retype::notification", notification),
    ("cap::retype::cnode_radixes", cnode_radixes),
    ("cap::retype::frame_4k", frame_4k),
    ("cap::retype::frame_2m", frame_2m),
    ("cap::retype::page_table_levels", page_table_levels),
    ("cap::retype::vspace", vspace),
    ("cap::retype::bulk_fills_consecutive_slots", bulk_fills_consecutive_slots),
    ("cap::retype::bulk_256_fills_a_region_exactly", bulk_256),
    ("cap::retype::watermark_carves_in_order", watermark_carves_in_order),
    ("cap::retype::object_larger_than_region", object_larger_than_region),
    ("cap::retype::revoke_makes_the_region_reusable", revoke_makes_reusable),
    ("cap::retype::delete_of_every_child_makes_the_region_reusable", delete_makes_reusable),
    ("cap::retype::into_occupied_slot_is_delete_first", into_occupied_slot),
    ("cap::retype::count_out_of_range", count_out_of_range),
    ("cap::retype::size_out_of_range", size_out_of_range),
    ("cap::retype::unknown_object_kind", unknown_object_kind),
    ("cap::retype::past_the_cnode_end", past_the_cnode_end),
    ("cap::retype::destination_not_a_cnode", destination_not_a_cnode),
    ("cap::retype::destination_depth_mismatch", destination_depth_mismatch),
    ("cap::retype::device_memory_refuses_kernel_objects", device_refuses_kernel_objects),
    ("cap::retype::device_memory_gives_frames", device_gives_frames),
    ("cap::retype::on_a_non_untyped_capability", on_non_untyped),
    ("cap::retype::truncated_message", truncated_message),
    ("cap::retype::copied_untyped_retypes_only_through_the_copy", copied_untyped),
    ("cap::retype::copy_of_a_derived_untyped", copy_of_derived_untyped),
    ("cap::retype::into_a_nested_cnode", into_nested_cnode),
];

fn retype_into(
    untyped: Cap<Untyped>,
    kind: ObjectKind,
    bits: u8,
    first: u64,
    count: u64,
) -> Result<(), Error> {
    untyped.retype(kind, bits, CNodeAt::ROOT, first, count)
}

fn untyped_child(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    let child: Cap<Untyped> = s.object(region, ObjectKind::Untyped, 12)?;
    // The child is itself usable.
    s.object::<Endpoint>(child, ObjectKind::Endpoint, 0)?;
    Ok(())
}

fn tcb(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    s.object::<Tcb>(region, ObjectKind::Tcb, 0).map(drop)
}

fn endpoint(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    s.object::<Endpoint>(region, ObjectKind::Endpoint, 0).map(drop)
}

fn notification(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    s.object::<Notification>(region, ObjectKind::Notification, 0).map(drop)
}

fn cnode_radixes(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(20)?;
    for radix in [1, 2, 4, 8, 12] {
        s.object::<CNode>(region, ObjectKind::CNode, radix)?;
    }
    Ok(())
}

fn frame_4k(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    s.object::<Frame>(region, ObjectKind::Frame4K, 0).map(drop)
}

fn frame_2m(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(22)?;
    // One endpoint first: the frame must be aligned up past it, to the second 2 MiB.
    s.object::<Endpoint>(region, ObjectKind::Endpoint, 0)?;
    s.object::<Frame>(region, ObjectKind::Frame2M, 0)?;
    refused(
        retype_into(region, ObjectKind::Frame2M, 0, s.slot()?, 1),
        Error::NotEnoughMemory,
        "a second 2 MiB frame after an endpoint",
    )
}

fn page_table_levels(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    for kind in
        [ObjectKind::PageDirectoryPointerTable, ObjectKind::PageDirectory, ObjectKind::PageTable]
    {
        s.object::<PageTable>(region, kind, 0)?;
    }
    Ok(())
}

fn vspace(s: &mut Scratch<'_>) -> Outcome {
    // Two VSpaces of 8 KiB each (a restricted and an unrestricted top-level table).
    let region = s.untyped(14)?;
    s.object::<VSpace>(region, ObjectKind::VSpace, 0)?;
    s.object::<VSpace>(region, ObjectKind::VSpace, 0).map(drop)
}

fn bulk_fills_consecutive_slots(s: &mut Scratch<'_>) -> Outcome {
    const COUNT: u64 = 32;
    let region = s.untyped(12)?;
    // A free slot on each side, to see that nothing spills over.
    let before = s.slots(COUNT as usize + 2)?;
    let first = before + 1;
    ok(retype_into(region, ObjectKind::Notification, 0, first, COUNT), "retype 32 notifications")?;
    for slot in first..first + COUNT {
        holds(CPtr(slot), CapKind::Notification, "bulk retype")?;
    }
    holds(CPtr(before), CapKind::Null, "slot before the range")?;
    holds(CPtr(first + COUNT), CapKind::Null, "slot after the range")
}

fn bulk_256(s: &mut Scratch<'_>) -> Outcome {
    // 256 endpoints of 16 bytes are exactly 4 KiB.
    let region = s.untyped(12)?;
    let first = s.slots(256)?;
    ok(retype_into(region, ObjectKind::Endpoint, 0, first, 256), "retype 256 endpoints")?;
    for slot in first..first + 256 {
        holds(CPtr(slot), CapKind::Endpoint, "bulk retype of 256")?;
    }
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, s.slot()?, 1),
        Error::NotEnoughMemory,
        "a 257th endpoint",
    )
}

fn watermark_carves_in_order(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    // Endpoint at 0, TCB aligned up to 2048; then nothing fits after the watermark at
    // 4096, although 2032 bytes below the TCB were never used.
    s.object::<Endpoint>(region, ObjectKind::Endpoint, 0)?;
    s.object::<Tcb>(region, ObjectKind::Tcb, 0)?;
    let slot = s.slot()?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, slot, 1),
        Error::NotEnoughMemory,
        "endpoint after a TCB ending the region",
    )?;
    holds(CPtr(slot), CapKind::Null, "slot of the refused retype")?;
    // A refusal changed nothing: still nothing fits.
    refused(
        retype_into(region, ObjectKind::Notification, 0, slot, 1),
        Error::NotEnoughMemory,
        "a second try",
    )
}

fn object_larger_than_region(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    refused(
        retype_into(region, ObjectKind::Frame2M, 0, slot, 1),
        Error::NotEnoughMemory,
        "2 MiB frame from 4 KiB",
    )?;
    refused(
        retype_into(region, ObjectKind::CNode, 7, slot, 1),
        Error::NotEnoughMemory,
        "8 KiB CNode from 4 KiB",
    )?;
    refused(
        retype_into(region, ObjectKind::Tcb, 0, slot, 3),
        Error::NotEnoughMemory,
        "three TCBs from 4 KiB",
    )?;
    refused(
        retype_into(region, ObjectKind::Untyped, 13, slot, 1),
        Error::NotEnoughMemory,
        "8 KiB untyped from 4 KiB",
    )
}

fn revoke_makes_reusable(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let first = s.slots(4)?;
    ok(retype_into(region, ObjectKind::Tcb, 0, first, 2), "two TCBs")?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, first + 2, 1),
        Error::NotEnoughMemory,
        "region full",
    )?;
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the region")?;
    for slot in first..first + 2 {
        holds(CPtr(slot), CapKind::Null, "TCB slot after revoke")?;
    }
    holds(region.cptr(), CapKind::Untyped, "the revoked region itself")?;
    // The whole region again, as one object of its full size.
    ok(retype_into(region, ObjectKind::Untyped, 12, first + 2, 1), "the full 4 KiB again")?;
    holds(CPtr(first + 2), CapKind::Untyped, "reused region")
}

fn delete_makes_reusable(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let first = s.slots(3)?;
    ok(retype_into(region, ObjectKind::Tcb, 0, first, 2), "two TCBs")?;
    ok(ROOT.delete(Slot::root(first)), "delete one TCB")?;
    refused(
        retype_into(region, ObjectKind::Tcb, 0, first, 1),
        Error::NotEnoughMemory,
        "one child left: the watermark holds",
    )?;
    ok(ROOT.delete(Slot::root(first + 1)), "delete the other")?;
    ok(retype_into(region, ObjectKind::Tcb, 0, first, 2), "two TCBs once no child is left")
}

fn into_occupied_slot(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let first = s.slots(3)?;
    ok(retype_into(region, ObjectKind::Endpoint, 0, first + 1, 1), "endpoint in the middle slot")?;
    refused(
        retype_into(region, ObjectKind::Notification, 0, first, 3),
        Error::DeleteFirst { index: 1 },
        "three notifications over it",
    )?;
    holds(CPtr(first), CapKind::Null, "first slot after the refusal")?;
    holds(CPtr(first + 1), CapKind::Endpoint, "occupied slot after the refusal")?;
    holds(CPtr(first + 2), CapKind::Null, "last slot after the refusal")?;
    // The untyped region's own slot is occupied too.
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, region.cptr().0, 1),
        Error::DeleteFirst { index: 0 },
        "retype over the untyped's own slot",
    )
}

fn count_out_of_range(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    let slot = s.slot()?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, slot, 0),
        Error::RangeError { word: 5 },
        "count 0",
    )?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, slot, 257),
        Error::RangeError { word: 5 },
        "count 257",
    )?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, slot, u64::MAX),
        Error::RangeError { word: 5 },
        "count 2^64-1",
    )
}

fn size_out_of_range(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    let slot = s.slot()?;
    let cases = [
        (ObjectKind::Untyped, 3, "untyped of 2^3"),
        (ObjectKind::Untyped, 48, "untyped of 2^48"),
        (ObjectKind::CNode, 0, "CNode of radix 0"),
        (ObjectKind::CNode, 42, "CNode of radix 42"),
    ];
    for (kind, bits, what) in cases {
        refused(retype_into(region, kind, bits, slot, 1), Error::RangeError { word: 1 }, what)?;
    }
    let message = retype_raw(ObjectKind::Untyped.code(), 256 + 12, CNodeAt::ROOT, slot, 1);
    refused(message.call(region.cptr()), Error::RangeError { word: 1 }, "size word 268")?;
    holds(CPtr(slot), CapKind::Null, "destination after the refusals")
}

fn unknown_object_kind(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    for kind in [ObjectKind::ALL.len() as u64, 0x100, u64::MAX] {
        let message = retype_raw(kind, 0, CNodeAt::ROOT, slot, 1);
        refused(
            message.call(region.cptr()),
            Error::InvalidArgument { word: 0 },
            "unknown object kind",
        )?;
    }
    Ok(())
}

fn past_the_cnode_end(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let end = 1u64 << s.info().cnode_radix_bits;
    let cases = [
        (end - 1, 2, "two slots from the last"),
        (end, 1, "one past the end"),
        (u64::MAX, 1, "index 2^64-1"),
        (u64::MAX - 1, 2, "wrapping range"),
    ];
    for (first, count, what) in cases {
        refused(
            retype_into(region, ObjectKind::Endpoint, 0, first, count),
            Error::RangeError { word: 4 },
            what,
        )?;
    }
    // And in a CNode of 4 slots.
    let small: Cap<CNode> = s.object(region, ObjectKind::CNode, 2)?;
    let into_small = region.retype(ObjectKind::Endpoint, 0, CNodeAt::full(small), 3, 2);
    refused(into_small, Error::RangeError { word: 4 }, "slots 3..5 of a 4-slot CNode")?;
    ok(region.retype(ObjectKind::Endpoint, 0, CNodeAt::full(small), 0, 4), "all 4 slots of it")
}

fn destination_not_a_cnode(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let endpoint: Cap<Endpoint> = s.object(region, ObjectKind::Endpoint, 0)?;
    let slot = s.slot()?;
    let dest = CNodeAt::full(endpoint.cast());
    refused(
        region.retype(ObjectKind::Endpoint, 0, dest, 0, 1),
        Error::InvalidCapability { word: 2 },
        "endpoint as destination",
    )?;
    let empty = CNodeAt::full(Cap::from_slot(slot));
    refused(
        region.retype(ObjectKind::Endpoint, 0, empty, 0, 1),
        Error::EmptySlot,
        "empty slot as destination",
    )?;
    let untyped = CNodeAt::full(region.cast());
    refused(
        region.retype(ObjectKind::Endpoint, 0, untyped, 0, 1),
        Error::InvalidCapability { word: 2 },
        "untyped as destination",
    )
}

fn destination_depth_mismatch(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    // The root needs 52 guard bits and 12 index bits: 32 bits run out inside the guard.
    let shallow = CNodeAt { cnode: Cap::ROOT, depth: 32 };
    refused(
        region.retype(ObjectKind::Endpoint, 0, shallow, slot, 1),
        Error::LookupFailed { bits_left: 32 },
        "destination depth 32",
    )?;
    let beyond_guard = CNodeAt { cnode: Cap::from_slot(1 << 12 | 1), depth: 64 };
    refused(
        region.retype(ObjectKind::Endpoint, 0, beyond_guard, slot, 1),
        Error::LookupFailed { bits_left: 64 },
        "destination pointer with guard bits set",
    )?;
    holds(CPtr(slot), CapKind::Null, "destination after the refusals")
}

fn device_refuses_kernel_objects(s: &mut Scratch<'_>) -> Outcome {
    let Some((device, _)) = s.env.device_untyped(12) else { fail!("no device untyped of 4 KiB") };
    let slot = s.slot()?;
    for (kind, bits) in KERNEL_OBJECTS {
        if retype_into(device, kind, bits, slot, 1) != Err(Error::DeviceMemory) {
            let got = retype_into(device, kind, bits, slot, 1);
            fail!("{kind:?} from device memory: expected device memory, got {got:?}");
        }
    }
    holds(CPtr(slot), CapKind::Null, "destination after the refusals")
}

fn device_gives_frames(s: &mut Scratch<'_>) -> Outcome {
    let Some((device, _)) = s.env.device_untyped(13) else { fail!("no device untyped of 8 KiB") };
    s.object::<Frame>(device, ObjectKind::Frame4K, 0)?;
    let part: Cap<Untyped> = s.object(device, ObjectKind::Untyped, 12)?;
    // A device untyped child is device memory too.
    let slot = s.slot()?;
    refused(
        retype_into(part, ObjectKind::Endpoint, 0, slot, 1),
        Error::DeviceMemory,
        "endpoint from a device child",
    )?;
    s.object::<Frame>(part, ObjectKind::Frame4K, 0).map(drop)
}

fn on_non_untyped(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    // (Not an endpoint: `Call` on an endpoint is IPC, and would wait for a receiver.)
    let notification: Cap<Notification> = s.object(region, ObjectKind::Notification, 0)?;
    let slot = s.slot()?;
    for (cptr, what) in [
        (notification.cptr(), "retype a notification"),
        (CPtr(4), "retype the root task's TCB"),
        (Cap::<CNode>::ROOT.cptr(), "retype the root CNode"),
        (CPtr(2), "retype IRQ control"),
    ] {
        let retype = retype_into(Cap::new(cptr), ObjectKind::Endpoint, 0, slot, 1);
        refused(retype, Error::IllegalOperation, what)?;
    }
    holds(CPtr(slot), CapKind::Null, "destination after the refusals")
}

fn truncated_message(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    let full = retype_raw(ObjectKind::Endpoint.code(), 0, CNodeAt::ROOT, slot, 1);
    for len in [0, 4, 5] {
        let Ok(short) = libasi::message::Message::with_words(full.label(), &full.words()[..len])
        else {
            fail!("building a message");
        };
        refused(
            short.call(region.cptr()),
            Error::TruncatedMessage { needed: 6 },
            "retype with too few words",
        )?;
    }
    holds(CPtr(slot), CapKind::Null, "destination after the refusals")?;
    // A header claiming fewer words than the registers hold is just as short.
    let info = syscall_abi::ipc::MessageInfo::new(full.label(), 3, 0)
        .map_err(|_| crate::report::Failure::new(format_args!("header")))?;
    refused(
        full.call_with_info(region.cptr(), info.to_word()),
        Error::TruncatedMessage { needed: 6 },
        "six words under a header of three",
    )
}

fn copied_untyped(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let copy = s.slot()?;
    ok(
        ROOT.copy(Slot::root(copy), SlotRef::root(region.cptr().0), Rights::ALL),
        "copy the region",
    )?;
    let copy: Cap<Untyped> = Cap::from_slot(copy);
    let slot = s.slot()?;
    refused(
        retype_into(region, ObjectKind::Endpoint, 0, slot, 1),
        Error::NotEnoughMemory,
        "retype from the original",
    )?;
    ok(retype_into(copy, ObjectKind::Endpoint, 0, slot, 1), "retype from the copy")?;
    refused(
        ROOT.copy(Slot::root(s.slot()?), SlotRef::root(region.cptr().0), Rights::ALL),
        Error::RevokeFirst,
        "copy the original again",
    )
}

fn copy_of_derived_untyped(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(16)?;
    let child: Cap<Untyped> = s.object(region, ObjectKind::Untyped, 12)?;
    let copy = s.slot()?;
    ok(ROOT.copy(Slot::root(copy), SlotRef::root(child.cptr().0), Rights::ALL), "copy the child")?;
    holds(CPtr(copy), CapKind::Untyped, "copy of the child")?;
    let copy: Cap<Untyped> = Cap::from_slot(copy);
    s.object::<Tcb>(copy, ObjectKind::Tcb, 0)?;
    s.object::<Tcb>(copy, ObjectKind::Tcb, 0)?;
    // Revoking the parent region removes the child, its copy and what the copy made.
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the parent")?;
    holds(child.cptr(), CapKind::Null, "child after revoking the parent")?;
    holds(copy.cptr(), CapKind::Null, "copy after revoking the parent")?;
    ensure!(!s.has_children(region)?, "the parent still has children after revoke");
    Ok(())
}

fn into_nested_cnode(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let nested: Cap<CNode> = s.object(region, ObjectKind::CNode, 3)?;
    ok(
        region.retype(ObjectKind::Endpoint, 0, CNodeAt::full(nested), 2, 6),
        "six endpoints into slots 2..8",
    )?;
    // Read the nested slots by moving their capabilities out to the root.
    let out = s.slots(8)?;
    for index in 0..8 {
        let moved = ROOT.move_cap(Slot::root(out + index), SlotRef::new(nested, index, 3));
        let want = if index >= 2 { CapKind::Endpoint } else { CapKind::Null };
        match (moved, want) {
            (Ok(()), _) => {
                holds(CPtr(out + index), want, "capability moved out of the nested CNode")?
            }
            (Err(Error::EmptySlot), CapKind::Null) => {}
            (Err(error), _) => fail!("moving nested slot {index} out: {error}"),
        }
    }
    Ok(())
}
