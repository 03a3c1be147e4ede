//! `ipc::destroy::*`: what a destroyed CNode holds is destroyed as if deleted on its own —
//! threads waiting on its endpoints and notifications wake with `IpcCancelled`, its frames
//! are unmapped — however deep the CNode sits and when CNodes hold each other.

use libasi::SyscallError;
use libasi::cap::{
    CNode, CNodeAt, Cap, CapType, Frame, FrameAttributes, ObjectKind, Rights, Slot, SlotRef,
    Untyped,
};

use crate::children::{self, ERROR};
use crate::env::{Child, OWN_VSPACE, ROOT, Scratch, Spawn, map_with_tables, shared};
use crate::report::{Failure, Outcome, ok};
use crate::{Case, ensure, raw};

pub const CASES: &[Case] = &[
    ("ipc::destroy::cnode_deleted_wakes_its_endpoints_receiver", endpoint_in_cnode),
    ("ipc::destroy::nested_cnode_deleted_wakes_its_notifications_waiter", notification_nested),
    ("ipc::destroy::cnode_cycle_revoked_wakes_its_endpoints_receiver", endpoint_in_cycle),
    ("ipc::destroy::cnode_deleted_unmaps_its_frame", frame_in_cnode),
];

const RADIX: u8 = 2;

/// A CNode of four slots from `region`, in a new root slot.
fn cnode(s: &mut Scratch<'_>, region: Cap<Untyped>) -> Result<Cap<CNode>, Failure> {
    let slot = s.slot()?;
    ok(region.retype(ObjectKind::CNode, RADIX, CNodeAt::ROOT, slot, 1), "retype a CNode")?;
    Ok(Cap::from_slot(slot))
}

/// Moves the root capability `cap` into slot `index` of `into`.
fn move_into<T: CapType>(into: Cap<CNode>, index: u64, cap: Cap<T>) -> Outcome {
    ok(
        into.move_cap(Slot::new(index, RADIX), SlotRef::root(cap.cptr().0)),
        "move a capability into a CNode",
    )
}

/// Waits for `child` to wake from its wait and checks it woke with `IpcCancelled`.
fn woke_cancelled(s: &mut Scratch<'_>, child: Child) -> Outcome {
    s.wait_done(child.done_badge(), "the waiter on the destroyed object")?;
    ensure!(
        shared(ERROR) == SyscallError::IpcCancelled.code(),
        "the waiter's call answered {} (expected IPC cancelled)",
        shared(ERROR)
    );
    Ok(())
}

fn endpoint_in_cnode(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    let region = s.untyped(12)?;
    let holder = cnode(s, region)?;
    move_into(holder, 1, endpoint)?;
    s.delete(holder)?;
    woke_cancelled(s, child)
}

fn notification_nested(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    let child = s.spawn(children::waiter, notification.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    let region = s.untyped(12)?;
    let outer = cnode(s, region)?;
    let inner = cnode(s, region)?;
    move_into(inner, 3, notification)?;
    move_into(outer, 2, inner)?;
    s.delete(outer)?;
    woke_cancelled(s, child)
}

fn endpoint_in_cycle(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    // Each CNode holds a capability to the other: deleting their root capabilities
    // leaves both alive, reachable from nothing, until their region is revoked.
    let region = s.untyped(12)?;
    let a = cnode(s, region)?;
    let b = cnode(s, region)?;
    move_into(a, 1, endpoint)?;
    ok(b.copy(Slot::new(0, RADIX), SlotRef::root(a.cptr().0), Rights::ALL), "copy A into B")?;
    move_into(a, 0, b)?;
    s.delete(a)?;
    s.wait_idle()?;
    ensure!(shared(ERROR) == 0, "the receiver woke while the cycle was alive: {}", shared(ERROR));
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the cycle's region")?;
    woke_cancelled(s, child)
}

fn frame_in_cnode(s: &mut Scratch<'_>) -> Outcome {
    const ADDRESS: u64 = 0x48_0000_0000;
    let first = s.object::<Frame>(ObjectKind::Frame4K)?;
    let second = s.object::<Frame>(ObjectKind::Frame4K)?;
    map_with_tables(first, ADDRESS, &mut || {
        let untyped = s.untyped(12)?;
        Ok((untyped, s.slot()?))
    })?;
    raw::write(ADDRESS, 0x77);
    let region = s.untyped(12)?;
    let outer = cnode(s, region)?;
    let inner = cnode(s, region)?;
    move_into(inner, 0, first)?;
    move_into(outer, 3, inner)?;
    s.delete(outer)?;
    ok(
        second.map(OWN_VSPACE, ADDRESS, Rights::READ | Rights::WRITE, FrameAttributes::NONE),
        "map a second frame where the destroyed CNode's was",
    )?;
    ensure!(raw::read(ADDRESS) == 0, "the address still shows the destroyed CNode's frame");
    Ok(())
}
