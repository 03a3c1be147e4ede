//! Allocations that succeed: frames of each sensitivity, batches, kernel objects, frees.

use case_report::{Failure, Outcome, ensure, ok};
use libasi::cap::{
    CNode, CNodeAt, Cap, CapKind, CapType, Endpoint, Frame, Notification, ObjectKind, PageTable,
    Rights, Sensitivity, Slot, SlotRef, Tcb, Untyped, VSpace,
};
use libasi::memsrv::{Allocated, FixedObject};
use memsrv_api::{Error as Refusal, Object};

use crate::env::{ASI, Env, gone, refused, same_stats};

pub fn nonsensitive_4k(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Nonsensitive)?;
    env.free(env.first, frame)
}

pub fn sensitive_4k(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Sensitive)?;
    env.free(env.first, frame)
}

pub fn flip_when_one_runs_out(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    ensure!(before.pageblocks == [2, 2], "memsrv should start with 2 + 2 pageblocks: {before:?}");
    let frames = [
        env.alloc_checked(9, Sensitivity::Sensitive)?,
        env.alloc_checked(9, Sensitivity::Sensitive)?,
        env.alloc_checked(9, Sensitivity::Sensitive)?,
    ];
    let after = env.stats()?;
    ensure!(
        after.flips == before.flips + 1,
        "three sensitive pageblocks of two take one flip: {before:?} -> {after:?}"
    );
    ensure!(after.pageblocks == [3, 1], "one pageblock flipped to sensitive: {after:?}");
    let usage = env.usage(env.first)?;
    ensure!(
        usage.pages == 3 * 512 && usage.frame_allocations == 3,
        "the client holds 3 pageblocks: {usage:?}"
    );
    for frame in frames {
        env.free(env.first, frame)?;
    }
    Ok(())
}

pub fn frames_in_one_request(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    // The last: a whole pageblock of 4 KiB frames, more than one retype makes.
    for (sensitivity, count, pages) in [
        (Sensitivity::Sensitive, 16, 16),
        (Sensitivity::Nonsensitive, 3, 4),
        (Sensitivity::Nonsensitive, 512, 512),
    ] {
        let region = env.slot()?;
        let first = env.slots(usize::from(count))?;
        let frames = env
            .first
            .alloc_frames(0, sensitivity, count, region, first)
            .map_err(|error| Failure::new(format_args!("{count} frames: {error:?}")))?;
        ok(ASI.verify(), "AsiControl::verify after a batch")?;
        for index in 0..count {
            let Some(frame) = frames.frame(index) else { case_report::fail!("frame {index}") };
            let got = ok(frame.sensitivity(), "a frame's sensitivity")?;
            ensure!(got == sensitivity, "frame {index}: asked for {sensitivity:?}, got {got:?}");
            let address = ok(frame.address(), "a frame's address")?;
            let want = frames.address + u64::from(index) * 4096;
            ensure!(address == want, "frame {index} at {address:#x}, not {want:#x}");
        }
        let usage = env.usage(env.first)?;
        ensure!(
            usage.pages == pages && usage.frame_allocations == 1,
            "{count} frames hold {pages} pages: {usage:?}"
        );
        if let Err(error) = env.first.free(frames.region.handle) {
            case_report::fail!("free the batch: {error:?}");
        }
        gone(frames.region.cap, "the region")?;
        for index in 0..count {
            if let Some(frame) = frames.frame(index) {
                gone(frame, "a frame of a freed batch")?;
            }
        }
        env.slots.free(region);
        env.slots.free_range(first, usize::from(count));
    }
    same_stats(&before, &env.stats()?)
}

/// Allocates an object, checks what the slot holds, and returns it.
fn object<T: CapType>(
    env: &mut Env,
    object: Object,
    kind: CapKind,
) -> Result<Allocated<T>, Failure> {
    let slot = env.slot()?;
    let allocated = env
        .first
        .alloc::<T>(object, slot)
        .map_err(|error| Failure::new(format_args!("{object:?}: {error:?}")))?;
    let got = ok(allocated.cap.identify(), "identify an object")?;
    ensure!(got == kind, "{object:?}: the slot holds a {got:?}");
    Ok(allocated)
}

fn fixed<T: FixedObject>(env: &mut Env, kind: CapKind) -> Result<Allocated<T>, Failure> {
    object(env, T::OBJECT, kind)
}

fn free_object<T: CapType>(env: &mut Env, allocated: Allocated<T>) -> Outcome {
    if let Err(error) = env.first.free(allocated.handle) {
        case_report::fail!("free {:?}: {error:?}", allocated.handle);
    }
    gone(allocated.cap, "a freed object")?;
    env.slots.free(allocated.cap.cptr().0);
    Ok(())
}

pub fn kernel_objects(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let tcb = fixed::<Tcb>(env, CapKind::Tcb)?;
    let endpoint = fixed::<Endpoint>(env, CapKind::Endpoint)?;
    let notification = fixed::<Notification>(env, CapKind::Notification)?;
    let vspace = fixed::<VSpace>(env, CapKind::VSpace)?;
    let cnode = object::<CNode>(env, Object::CNode { radix: 4 }, CapKind::CNode)?;
    let untyped = object::<Untyped>(env, Object::Untyped { size_bits: 16 }, CapKind::Untyped)?;
    // The untyped memory is nonsensitive: a frame retyped from it says so, and it can
    // hold kernel objects.
    let slot = env.slot()?;
    ok(untyped.cap.retype(ObjectKind::Frame4K, 0, CNodeAt::ROOT, slot, 1), "retype a frame")?;
    let frame = Cap::<Frame>::from_slot(slot);
    let got = ok(frame.sensitivity(), "the frame's sensitivity")?;
    ensure!(got == Sensitivity::Nonsensitive, "memory for objects is {got:?}");
    // A copy of the endpoint goes with the free too.
    let copy = env.slot()?;
    ok(
        Cap::ROOT.copy(Slot::root(copy), SlotRef::root(endpoint.cap.cptr().0), Rights::ALL),
        "copy",
    )?;
    let usage = env.usage(env.first)?;
    // Objects take whole pages: the VSpace two, the 16-slot CNode one, the untyped 16.
    // Page tables come from untyped memory: the kernel copies no unmapped table.
    let table = env.slot()?;
    ok(untyped.cap.retype(ObjectKind::PageTable, 0, CNodeAt::ROOT, table, 1), "retype a table")?;
    ensure!(usage.objects == 6 && usage.pages == 3 + 2 + 1 + 16, "six objects: {usage:?}");
    free_object(env, tcb)?;
    free_object(env, endpoint)?;
    gone(Cap::<Endpoint>::from_slot(copy), "a copy of a freed endpoint")?;
    env.slots.free(copy);
    free_object(env, notification)?;
    free_object(env, vspace)?;
    free_object(env, cnode)?;
    free_object(env, untyped)?;
    gone(frame, "a frame made from freed untyped memory")?;
    gone(Cap::<PageTable>::from_slot(table), "a table made from freed untyped memory")?;
    env.slots.free(slot);
    env.slots.free(table);
    refused(env.first.free(untyped.handle), Refusal::NotYours, "an object freed twice")?;
    same_stats(&before, &env.stats()?)
}

pub fn free_revokes(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let small = env.alloc_checked(0, Sensitivity::Sensitive)?;
    let large = env.alloc_checked(9, Sensitivity::Sensitive)?;
    let copy = env.slot()?;
    ok(Cap::ROOT.copy(Slot::root(copy), SlotRef::root(small.cap.cptr().0), Rights::READ), "copy")?;
    let usage = env.usage(env.first)?;
    ensure!(usage.pages == 513, "usage after two frames: {usage:?}");
    env.free(env.first, small)?;
    gone(Cap::<Frame>::from_slot(copy), "a copy of a freed frame")?;
    env.slots.free(copy);
    env.free(env.first, large)?;
    let usage = env.usage(env.first)?;
    ensure!(usage.pages == 0 && usage.frame_allocations == 0, "usage after the frees: {usage:?}");
    same_stats(&before, &env.stats()?)?;
    ok(ASI.verify(), "AsiControl::verify after the frees")
}
