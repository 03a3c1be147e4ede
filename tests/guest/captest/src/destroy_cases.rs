//! `cap::destroy::*`: the capabilities a destroyed CNode or TCB holds go as if each were
//! deleted on its own — an I/O port range or IRQ held only there can be issued again —
//! whether the container's last capability is deleted or its region revoked, however deep
//! it sits, and when CNodes hold themselves or each other.

use libasi::Error;
use libasi::cap::{
    CNode, Cap, CapType, IoPortControl, IrqControl, ObjectKind, Rights, Slot, SlotRef, Tcb,
    TcbConfig, Untyped, VSpace,
};

use crate::Case;
use crate::env::{ROOT, Scratch};
use crate::report::{Failure, Outcome, ok, refused};

pub const CASES: &[Case] = &[
    ("cap::destroy::cnode_deleted_gives_back_its_io_ports", ports_in_cnode),
    ("cap::destroy::cnode_revoked_gives_back_its_irq_handler", handler_in_revoked_cnode),
    ("cap::destroy::nested_cnode_deleted_gives_back_its_io_ports", ports_nested),
    ("cap::destroy::tcb_deleted_gives_back_io_ports_in_its_cspace", ports_under_tcb),
    ("cap::destroy::cnode_cycle_revoked_gives_back_its_io_ports", ports_in_cycle),
    ("cap::destroy::cnode_holding_itself_revoked_gives_back_its_irq", handler_in_self_holder),
];

/// Ports no other case issues, clear of the kernel's own.
const FIRST: u16 = 0x80;
const LAST: u16 = 0x83;
/// An ISA IRQ no device of the test machine uses.
const IRQ: u8 = 5;
const RADIX: u8 = 2;

fn cnode(s: &mut Scratch<'_>, region: Cap<Untyped>) -> Result<Cap<CNode>, Failure> {
    s.object(region, ObjectKind::CNode, RADIX)
}

fn at(cnode: Cap<CNode>, index: u64) -> SlotRef {
    SlotRef::new(cnode, index, RADIX)
}

/// Moves the root capability `cap` into slot `index` of `into`.
fn move_into<T: CapType>(into: Cap<CNode>, index: u64, cap: Cap<T>) -> Outcome {
    ok(
        into.move_cap(Slot::new(index, RADIX), SlotRef::root(cap.cptr().0)),
        "move a capability into a CNode",
    )
}

/// Whether the ports are free, seen by issuing them into a fresh root slot (which the
/// case's cleanup deletes, freeing them again).
fn ports_issuable(s: &mut Scratch<'_>, what: &str) -> Outcome {
    let slot = s.slot()?;
    ok(Cap::<IoPortControl>::BOOT.issue(FIRST, LAST, slot), what).map(drop)
}

fn ports_taken(s: &mut Scratch<'_>, what: &str) -> Outcome {
    let slot = s.slot()?;
    refused(Cap::<IoPortControl>::BOOT.issue(FIRST, LAST, slot), Error::RevokeFirst, what)
}

fn irq_issuable(s: &mut Scratch<'_>, what: &str) -> Outcome {
    let slot = s.slot()?;
    ok(Cap::<IrqControl>::BOOT.get(IRQ, slot), what).map(drop)
}

fn irq_taken(s: &mut Scratch<'_>, what: &str) -> Outcome {
    let slot = s.slot()?;
    refused(Cap::<IrqControl>::BOOT.get(IRQ, slot), Error::RevokeFirst, what)
}

fn ports_in_cnode(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let holder = cnode(s, region)?;
    ok(Cap::<IoPortControl>::BOOT.issue_at(FIRST, LAST, at(holder, 1)), "issue into the CNode")?;
    ports_taken(s, "the ports while the CNode lives")?;
    ok(ROOT.delete(Slot::root(holder.cptr().0)), "delete the CNode's only capability")?;
    ports_issuable(s, "the ports after the CNode's deletion")
}

fn handler_in_revoked_cnode(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let holder = cnode(s, region)?;
    ok(Cap::<IrqControl>::BOOT.get_at(IRQ, at(holder, 2)), "issue the handler into the CNode")?;
    irq_taken(s, "the IRQ while the CNode lives")?;
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the CNode's region")?;
    irq_issuable(s, "the IRQ after the revoke")
}

fn ports_nested(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let outer = cnode(s, region)?;
    let middle = cnode(s, region)?;
    let inner = cnode(s, region)?;
    ok(Cap::<IoPortControl>::BOOT.issue_at(FIRST, LAST, at(inner, 3)), "issue into the inner")?;
    move_into(middle, 0, inner)?;
    move_into(outer, 1, middle)?;
    ports_taken(s, "the ports two CNodes down")?;
    ok(ROOT.delete(Slot::root(outer.cptr().0)), "delete the outer CNode")?;
    ports_issuable(s, "the ports after the outer CNode's deletion")
}

fn ports_under_tcb(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(14)?;
    let cspace = cnode(s, region)?;
    let tcb: Cap<Tcb> = s.object(region, ObjectKind::Tcb, 0)?;
    ok(Cap::<IoPortControl>::BOOT.issue_at(FIRST, LAST, at(cspace, 1)), "issue into the CNode")?;
    ok(tcb.configure(&TcbConfig::new(cspace, Cap::<VSpace>::ROOT_VSPACE)), "configure the TCB")?;
    // The TCB's CSpace root slot now holds the CNode's only capability.
    ok(ROOT.delete(Slot::root(cspace.cptr().0)), "delete the CNode's root capability")?;
    ports_taken(s, "the ports in the TCB's CSpace")?;
    ok(ROOT.delete(Slot::root(tcb.cptr().0)), "delete the TCB")?;
    ports_issuable(s, "the ports after the TCB's deletion")
}

fn ports_in_cycle(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let a = cnode(s, region)?;
    let b = cnode(s, region)?;
    ok(Cap::<IoPortControl>::BOOT.issue_at(FIRST, LAST, at(a, 1)), "issue into A")?;
    ok(b.copy(Slot::new(0, RADIX), SlotRef::root(a.cptr().0), Rights::ALL), "copy A into B")?;
    move_into(a, 0, b)?;
    ok(ROOT.delete(Slot::root(a.cptr().0)), "delete A's root capability")?;
    // Each holds the other's last capability: both live on, reachable from nothing.
    ports_taken(s, "the ports in the unreachable cycle")?;
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the cycle's region")?;
    ports_issuable(s, "the ports after the revoke")
}

fn handler_in_self_holder(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let holder = cnode(s, region)?;
    ok(Cap::<IrqControl>::BOOT.get_at(IRQ, at(holder, 3)), "issue the handler into the CNode")?;
    ok(
        holder.copy(Slot::new(0, RADIX), SlotRef::root(holder.cptr().0), Rights::ALL),
        "copy the CNode into itself",
    )?;
    ok(ROOT.delete(Slot::root(holder.cptr().0)), "delete the root capability")?;
    irq_taken(s, "the IRQ in the CNode that holds itself")?;
    ok(ROOT.revoke(Slot::root(region.cptr().0)), "revoke the region")?;
    irq_issuable(s, "the IRQ after the revoke")
}
