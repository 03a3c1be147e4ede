//! IRQs: issuing handlers, pointing them at notifications, and the PIT's interrupt (ISA
//! line 0) arriving, held back until acknowledged, and stopped by clear, delete and the
//! notification's destruction.

use libasi::Error;
use libasi::cap::{
    CPtr, Cap, CapKind, Invocation, IoPort, IrqControl, IrqHandler, Notification, ObjectKind,
    Rights, Slot, SlotRef,
};
use libasi::message::Message;

use crate::Case;
use crate::env::{IRQ_CONTROL, IRQS, ROOT, Scratch, TIMEOUT};
use crate::pit::{self, Pit};
use crate::report::{Failure, Outcome, holds, ok, refused};
use crate::{ensure, fail};

pub const CASES: &[Case] = &[
    ("dev::irq::get_makes_a_handler", get_identifies),
    ("dev::irq::second_get_of_an_irq_refused", second_get),
    ("dev::irq::unroutable_irqs_refused", unroutable),
    ("dev::irq::io_apic_inputs_16_to_23_issue", io_apic_inputs),
    ("dev::irq::get_into_an_occupied_slot_leaves_the_irq_free", occupied_slot),
    ("dev::irq::deleting_the_handler_frees_the_irq", delete_frees),
    ("dev::irq::copied_handler_keeps_the_irq_until_the_last_goes", copies),
    ("dev::irq::set_notification_needs_write", needs_write),
    ("dev::irq::wrong_capability_types_refused", wrong_types),
    ("dev::irq::pit_interrupt_signals_the_badge", signals_badge),
    ("dev::irq::waiting_root_wakes_with_the_badge", blocking_wait),
    ("dev::irq::no_second_interrupt_before_ack", held_until_ack),
    ("dev::irq::each_ack_lets_the_next_interrupt_through", ack_cycles),
    ("dev::irq::clear_stops_signals", clear_stops),
    ("dev::irq::set_notification_again_redirects", redirect),
    ("dev::irq::deleting_a_live_handler_stops_signals", delete_live),
    ("dev::irq::destroyed_notification_is_detached", notification_destroyed),
    ("dev::irq::isa_line_2_does_not_take_over_the_pit_input", isa_line_2),
];

/// Periods of the 1 kHz PIT to wait for an interrupt that must come.
const MUST_COME: u32 = 500;
/// Periods to wait for one that must not: dozens of chances for it to slip through.
const MUST_NOT_COME: u32 = 30;

const BADGE: u64 = 0x10;

/// Polls `notification` while the PIT runs, for up to `periods` periods.
fn poll_for(
    pit: Pit,
    notification: Cap<Notification>,
    periods: u32,
) -> Result<Option<u64>, Failure> {
    pit.wait_for(periods, || match notification.poll() {
        Ok(bits) => Ok(Some(bits)),
        Err(Error::WouldBlock) => Ok(None),
        Err(error) => fail!("poll the notification: {error}"),
    })
}

/// An interrupt must arrive, signalling exactly `badge`.
fn expect_signal(pit: Pit, notification: Cap<Notification>, badge: u64, what: &str) -> Outcome {
    match poll_for(pit, notification, MUST_COME)? {
        Some(bits) if bits == badge => Ok(()),
        Some(bits) => fail!("{what}: signalled {bits:#x}, expected {badge:#x}"),
        None => fail!("{what}: no signal within {MUST_COME} PIT periods"),
    }
}

/// No signal may arrive for a while.
fn expect_silence(pit: Pit, notification: Cap<Notification>, what: &str) -> Outcome {
    match poll_for(pit, notification, MUST_NOT_COME)? {
        None => Ok(()),
        Some(bits) => fail!("{what}: signalled {bits:#x} within {MUST_NOT_COME} PIT periods"),
    }
}

/// IRQ 0's handler pointed at a notification through a capability with [`BADGE`], the PIT
/// running at 1 kHz and the line unmasked: the first interrupt is on its way.
struct Armed {
    handler: Cap<IrqHandler>,
    notification: Cap<Notification>,
    pit: Pit,
}

fn arm(s: &mut Scratch<'_>) -> Result<Armed, Failure> {
    let handler = s.handler(pit::IRQ)?;
    let notification = s.notification()?;
    let badged = s.mint(notification, Rights::WRITE, BADGE)?;
    ok(handler.set_notification(badged), "set the notification")?;
    let pit = s.pit();
    ok(pit.start(pit::KHZ), "start the PIT at 1 kHz")?;
    // A stale signal from before the line was set up is no part of this case.
    let _ = notification.poll();
    ok(handler.ack(), "unmask with ack")?;
    Ok(Armed { handler, notification, pit })
}

fn get_identifies(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    holds(handler, CapKind::IrqHandler, "the handler of IRQ 0")
}

fn second_get(s: &mut Scratch<'_>) -> Outcome {
    s.handler(pit::IRQ)?;
    let slot = s.slot()?;
    refused(IRQ_CONTROL.get(pit::IRQ, slot), Error::RevokeFirst, "a second handler for IRQ 0")?;
    holds(CPtr(slot), CapKind::Null, "the destination after the refusal")
}

fn unroutable(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    for irq in [IRQS, 200, u8::MAX] {
        refused(IRQ_CONTROL.get(irq, slot), Error::RangeError { word: 0 }, "an unroutable IRQ")
            .map_err(|failure| Failure::new(format_args!("IRQ {irq}: {failure}")))?;
    }
    let raw = Message::new(Invocation::IrqControlGet.label())
        .push(256)
        .push(ROOT.cptr().0)
        .push(slot)
        .push(64)
        .call(IRQ_CONTROL.cptr());
    refused(raw, Error::RangeError { word: 0 }, "IRQ 256 (0 + 2^8)")?;
    holds(CPtr(slot), CapKind::Null, "the destination after the refusals")
}

fn io_apic_inputs(s: &mut Scratch<'_>) -> Outcome {
    for irq in 16..IRQS {
        let handler =
            s.handler(irq).map_err(|failure| Failure::new(format_args!("IRQ {irq}: {failure}")))?;
        holds(handler, CapKind::IrqHandler, "an I/O APIC input's handler")?;
        s.delete(handler)?;
    }
    Ok(())
}

fn occupied_slot(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    match IRQ_CONTROL.get(pit::IRQ, notification.cptr().0) {
        Err(Error::DeleteFirst { .. }) => {}
        Err(error) => fail!("get into an occupied slot: expected DeleteFirst, got {error}"),
        Ok(_) => fail!("get into an occupied slot succeeded"),
    }
    holds(notification, CapKind::Notification, "the occupied slot")?;
    // The refused get must not have marked IRQ 0 as issued.
    s.handler(pit::IRQ).map(drop)
}

fn delete_frees(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    s.delete(handler)?;
    holds(handler, CapKind::Null, "the deleted handler's slot")?;
    let again = s.handler(pit::IRQ)?;
    holds(again, CapKind::IrqHandler, "IRQ 0's handler, issued again")
}

fn copies(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    let copy = s.slot()?;
    ok(
        ROOT.copy(Slot::root(copy), SlotRef::root(handler.cptr().0), Rights::ALL),
        "copy the handler",
    )?;
    holds(CPtr(copy), CapKind::IrqHandler, "the copy")?;
    s.delete(handler)?;
    let slot = s.slot()?;
    refused(IRQ_CONTROL.get(pit::IRQ, slot), Error::RevokeFirst, "get while a copy remains")?;
    s.delete(CPtr(copy))?;
    ok(IRQ_CONTROL.get(pit::IRQ, slot), "get after the last copy went").map(drop)
}

fn needs_write(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    let notification = s.notification()?;
    let read_only = s.mint(notification, Rights::READ, 0)?;
    refused(handler.set_notification(read_only), Error::InsufficientRights, "read-only")?;
    let write_only = s.mint(notification, Rights::WRITE, 1)?;
    ok(handler.set_notification(write_only), "write-only").map(drop)
}

fn wrong_types(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    let endpoint = s.endpoint()?;
    let notification = s.notification()?;
    let slot = s.slot()?;
    refused(
        handler.set_notification(endpoint.cast()),
        Error::InvalidCapability { word: 0 },
        "set_notification with an endpoint",
    )?;
    refused(
        handler.set_notification(handler.cast()),
        Error::InvalidCapability { word: 0 },
        "set_notification with the handler itself",
    )?;
    refused(handler.cast::<IoPort>().in8(0x40), Error::IllegalOperation, "in8 on a handler")?;
    refused(IRQ_CONTROL.cast::<IrqHandler>().ack(), Error::IllegalOperation, "ack on IRQ control")?;
    refused(
        handler.cast::<IrqControl>().get(1, slot),
        Error::IllegalOperation,
        "get on a handler",
    )?;
    refused(
        IRQ_CONTROL.get_at(1, SlotRef { cnode: notification.cast(), slot: Slot::root(slot) }),
        Error::InvalidCapability { word: 1 },
        "get into a 'CNode' that is a notification",
    )?;
    holds(CPtr(slot), CapKind::Null, "the destination after the refusals")
}

fn signals_badge(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "the first interrupt")
}

fn blocking_wait(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    let timeout = s.mint(armed.notification, Rights::WRITE, TIMEOUT)?;
    let bits = s.wait_guarded(armed.notification, timeout)?;
    ensure!(bits & TIMEOUT == 0, "the guard timed the wait out (bits {bits:#x})");
    ensure!(bits == BADGE, "the wait returned {bits:#x}, expected {BADGE:#x}");
    // Once more, after an ack.
    ok(armed.handler.ack(), "ack")?;
    let bits = s.wait_guarded(armed.notification, timeout)?;
    ensure!(bits == BADGE, "the second wait returned {bits:#x}, expected {BADGE:#x}");
    Ok(())
}

fn held_until_ack(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "the first interrupt")?;
    expect_silence(armed.pit, armed.notification, "without an ack")?;
    ok(armed.handler.ack(), "ack")?;
    expect_signal(armed.pit, armed.notification, BADGE, "after the ack")
}

fn ack_cycles(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    for round in 0..5 {
        expect_signal(armed.pit, armed.notification, BADGE, "an interrupt")
            .map_err(|failure| Failure::new(format_args!("round {round}: {failure}")))?;
        ok(armed.handler.ack(), "ack")?;
    }
    Ok(())
}

fn clear_stops(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "before clear")?;
    ok(armed.handler.clear(), "clear")?;
    expect_silence(armed.pit, armed.notification, "after clear")?;
    // An ack unmasks the line again, but the interrupts have nowhere to go.
    ok(armed.handler.ack(), "ack after clear")?;
    expect_silence(armed.pit, armed.notification, "after clear and ack")?;
    // Setting a notification again restores delivery.
    let badged = s.mint(armed.notification, Rights::WRITE, 0x3)?;
    ok(armed.handler.set_notification(badged), "set the notification again")?;
    ok(armed.handler.ack(), "ack")?;
    expect_signal(armed.pit, armed.notification, 0x3, "after setting it again")
}

fn redirect(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "to the first notification")?;
    let second = s.notification()?;
    let badged = s.mint(second, Rights::WRITE, 0x200)?;
    ok(armed.handler.set_notification(badged), "point the handler at a second notification")?;
    ok(armed.handler.ack(), "ack")?;
    expect_signal(armed.pit, second, 0x200, "to the second notification")?;
    refused(armed.notification.poll(), Error::WouldBlock, "the first notification")
}

fn delete_live(s: &mut Scratch<'_>) -> Outcome {
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "before the delete")?;
    ok(armed.handler.ack(), "ack")?;
    s.delete(armed.handler)?;
    // An interrupt may have been delivered between the ack and the delete.
    let _ = armed.notification.poll();
    expect_silence(armed.pit, armed.notification, "after deleting the handler")?;
    // The IRQ is free again, and its new handler starts masked and pointing nowhere.
    let again = s.handler(pit::IRQ)?;
    expect_silence(armed.pit, armed.notification, "with a new handler")?;
    ok(again.set_notification(s.mint(armed.notification, Rights::WRITE, 0x7)?), "set")?;
    ok(again.ack(), "ack the new handler")?;
    expect_signal(armed.pit, armed.notification, 0x7, "through the new handler")
}

fn notification_destroyed(s: &mut Scratch<'_>) -> Outcome {
    let handler = s.handler(pit::IRQ)?;
    // A region of its own, so a second notification lands where the first was.
    let region = s.untyped(12)?;
    let first = s.object_from::<Notification>(region, ObjectKind::Notification)?;
    ok(handler.set_notification(first), "set the notification")?;
    let pit = s.pit();
    ok(pit.start(pit::KHZ), "start the PIT")?;
    ok(handler.ack(), "unmask")?;
    pit.delay(5)?;
    s.delete(first)?;
    holds(first, CapKind::Null, "the destroyed notification's slot")?;
    // Same memory, new object: nothing may reach it through the old route.
    let second = s.object_from::<Notification>(region, ObjectKind::Notification)?;
    ok(handler.ack(), "ack after the destruction")?;
    expect_silence(pit, second, "a new notification where the old one was")?;
    // The handler still works once pointed somewhere again.
    let badged = s.mint(second, Rights::WRITE, 0x40)?;
    ok(handler.set_notification(badged), "set the new notification")?;
    ok(handler.ack(), "ack")?;
    expect_signal(pit, second, 0x40, "the new notification")
}

/// Where the firmware routes ISA line 0 (the PIT) to I/O APIC input 2, ISA line 2 must not
/// reach that input too: either IRQ 2 is refused, or its handler leaves the PIT's
/// interrupts with IRQ 0. The kernel maps line 2 to input 2 as well, so acknowledging IRQ
/// 2 reprograms input 2 with IRQ 2's vector and the PIT's interrupts signal IRQ 2's
/// notification (and clearing or deleting IRQ 2's handler masks IRQ 0's line).
fn isa_line_2(s: &mut Scratch<'_>) -> Outcome {
    const LINE_2: u8 = 2;
    let armed = arm(s)?;
    expect_signal(armed.pit, armed.notification, BADGE, "IRQ 0 before IRQ 2 is set up")?;
    ok(armed.handler.ack(), "ack IRQ 0")?;
    let slot = s.slot()?;
    let line_2 = match IRQ_CONTROL.get(LINE_2, slot) {
        Ok(handler) => handler,
        Err(Error::RangeError { .. } | Error::RevokeFirst) => return Ok(()),
        Err(error) => fail!("get IRQ 2: {error}"),
    };
    let other = s.notification()?;
    ok(line_2.set_notification(s.mint(other, Rights::WRITE, 0x2)?), "point IRQ 2 elsewhere")?;
    ok(line_2.ack(), "ack IRQ 2")?;
    let _ = armed.notification.poll();
    expect_signal(armed.pit, armed.notification, BADGE, "IRQ 0 once IRQ 2 is set up")?;
    refused(other.poll(), Error::WouldBlock, "IRQ 2's notification")
}
