//! `cap::control::*`: copies of I/O port control and IRQ control issue as the original
//! does (as in seL4); what they issue belongs to the original's subtree, so revoking the
//! original takes it back, while revoking a copy, which has no children, takes nothing.

use libasi::Error;
use libasi::cap::{CPtr, Cap, CapKind, CapType, IoPortControl, IrqControl, Rights, Slot, SlotRef};

use crate::Case;
use crate::env::{ROOT, Scratch};
use crate::report::{Failure, Outcome, holds, ok, refused};

pub const CASES: &[Case] = &[
    ("cap::control::copy_of_io_port_control_issues_under_the_original", io_port_copy),
    ("cap::control::copy_of_irq_control_issues_under_the_original", irq_copy),
    ("cap::control::copy_issuing_into_an_occupied_slot_changes_nothing", occupied),
];

const FIRST: u16 = 0x80;
const LAST: u16 = 0x83;
const IRQ: u8 = 5;

/// A copy of the root task's capability in `original`'s slot, in a new root slot.
fn copy_of<T: CapType>(s: &mut Scratch<'_>, original: Cap<T>) -> Result<Cap<T>, Failure> {
    let slot = s.slot()?;
    ok(
        ROOT.copy(Slot::root(slot), SlotRef::root(original.cptr().0), Rights::ALL),
        "copy the control capability",
    )?;
    Ok(Cap::from_slot(slot))
}

fn io_port_copy(s: &mut Scratch<'_>) -> Outcome {
    let original = Cap::<IoPortControl>::BOOT;
    let copy = copy_of(s, original)?;
    let (issued, again) = (s.slot()?, s.slot()?);
    let ports = ok(copy.issue(FIRST, LAST, issued), "issue ports from the copy")?;
    ok(ports.in8(FIRST), "read a port through what the copy issued")?;
    refused(original.issue(FIRST, LAST, again), Error::RevokeFirst, "the same ports again")?;
    ok(ROOT.revoke(Slot::root(copy.cptr().0)), "revoke the copy")?;
    holds(CPtr(issued), CapKind::IoPort, "the ports after revoking the copy")?;
    ok(ROOT.revoke(Slot::root(original.cptr().0)), "revoke the original")?;
    holds(CPtr(issued), CapKind::Null, "the ports after revoking the original")?;
    holds(copy.cptr(), CapKind::Null, "the copy after revoking the original")?;
    ok(original.issue(FIRST, LAST, again), "the ports, free again").map(drop)
}

fn irq_copy(s: &mut Scratch<'_>) -> Outcome {
    let original = Cap::<IrqControl>::BOOT;
    let copy = copy_of(s, original)?;
    let (issued, again) = (s.slot()?, s.slot()?);
    ok(copy.get(IRQ, issued), "get a handler from the copy")?;
    refused(original.get(IRQ, again), Error::RevokeFirst, "the same IRQ again")?;
    ok(ROOT.revoke(Slot::root(copy.cptr().0)), "revoke the copy")?;
    holds(CPtr(issued), CapKind::IrqHandler, "the handler after revoking the copy")?;
    ok(ROOT.revoke(Slot::root(original.cptr().0)), "revoke the original")?;
    holds(CPtr(issued), CapKind::Null, "the handler after revoking the original")?;
    holds(copy.cptr(), CapKind::Null, "the copy after revoking the original")?;
    ok(original.get(IRQ, again), "the IRQ, free again").map(drop)
}

fn occupied(s: &mut Scratch<'_>) -> Outcome {
    let ports = copy_of(s, Cap::<IoPortControl>::BOOT)?;
    let irqs = copy_of(s, Cap::<IrqControl>::BOOT)?;
    let full = s.slot()?;
    ok(
        ROOT.copy(Slot::root(full), SlotRef::root(ports.cptr().0), Rights::ALL),
        "fill the destination",
    )?;
    refused(
        ports.issue(FIRST, LAST, full),
        Error::DeleteFirst { index: 0 },
        "ports into an occupied slot",
    )?;
    refused(
        irqs.get(IRQ, full),
        Error::DeleteFirst { index: 0 },
        "a handler into an occupied slot",
    )?;
    holds(CPtr(full), CapKind::IoPortControl, "the occupied slot after the refusals")?;
    let (issued, handler) = (s.slot()?, s.slot()?);
    ok(ports.issue(FIRST, LAST, issued), "the ports, still free")?;
    ok(irqs.get(IRQ, handler), "the IRQ, still free").map(drop)
}
