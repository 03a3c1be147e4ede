//! Interrupts: the IRQ control capability issues the one handler capability of an IRQ,
//! and a handler capability points its IRQ at a notification and acknowledges deliveries.
//!
//! IRQs 0–15 are the ISA interrupt lines as the firmware routes them (line 0, the PIT,
//! usually arrives on I/O APIC input 2); 16–23 are I/O APIC inputs. A new handler's line
//! is masked. Each interrupt masks the line again and signals the notification with the
//! badge of the notification capability given to [`Cap<IrqHandler>::set_notification`];
//! nothing more arrives until [`Cap<IrqHandler>::ack`] unmasks the line. Deleting the last
//! handler capability masks the line and lets IRQ control issue it again; destroying the
//! notification detaches it (the line stays masked).

use syscall_abi::invocation::Invocation;

use super::{Cap, IrqControl, IrqHandler, Notification, SlotRef};
use crate::Error;
use crate::message::Message;

/// `IrqControlGet`: IRQ, destination CNode, index, depth.
fn get_message(irq: u8, dest: SlotRef) -> Message {
    Message::new(Invocation::IrqControlGet.label())
        .push(u64::from(irq))
        .push(dest.cnode.cptr().0)
        .push(dest.slot.index)
        .push(u64::from(dest.slot.depth))
}

/// `IrqHandlerSetNotification`: the notification's pointer.
fn set_notification_message(notification: Cap<Notification>) -> Message {
    Message::new(Invocation::IrqHandlerSetNotification.label()).push(notification.cptr().0)
}

fn bare(invocation: Invocation) -> Message {
    Message::new(invocation.label())
}

impl Cap<IrqControl> {
    /// Makes the handler capability for `irq` in the empty root slot `slot` and returns
    /// it. Refusals: [`Error::RangeError`] (word 0) for an IRQ that reaches no I/O APIC
    /// input, [`Error::RevokeFirst`] if a handler for it exists already,
    /// [`Error::DeleteFirst`] if the slot is occupied. A copy of IRQ control issues too;
    /// revoking the original takes back what it issued.
    pub fn get(self, irq: u8, slot: u64) -> Result<Cap<IrqHandler>, Error> {
        self.get_at(irq, SlotRef::root(slot))?;
        Ok(Cap::from_slot(slot))
    }

    /// As [`get`](Self::get), into any slot: `dest` names a CNode in the caller's CSpace
    /// and a slot resolved in it.
    pub fn get_at(self, irq: u8, dest: SlotRef) -> Result<(), Error> {
        get_message(irq, dest).call(self.cptr()).map(drop)
    }
}

/// An IRQ's handler: where its interrupts go, and the acknowledgement that lets the next
/// one through.
///
/// # Example: a driver loop
///
/// ```ignore
/// use libasi::cap::{Cap, IrqControl, IrqHandler, Notification};
///
/// /// Serves IRQ `irq` for ever: `notification` is a capability with the WRITE right
/// /// (its badge, here 1, says which source fired) and `slot` a free root slot.
/// fn drive(irq: u8, notification: Cap<Notification>, slot: u64) -> Result<(), libasi::Error> {
///     let handler = Cap::<IrqControl>::BOOT.get(irq, slot)?;
///     handler.set_notification(notification)?;
///     // The line starts masked: the first acknowledgement lets interrupts through.
///     handler.ack()?;
///     loop {
///         let badge = notification.wait()?;
///         if badge & 1 != 0 {
///             // Talk to the device (e.g. through a Cap<IoPort>) until it deasserts the
///             // interrupt, then let the next one through.
///             handle_device();
///             handler.ack()?;
///         }
///     }
/// }
/// ```
///
/// (Not a doctest: it needs the kernel. `tests/guest/devtest` drives the PIT's IRQ 0 like
/// this in QEMU.)
impl Cap<IrqHandler> {
    /// Unmasks the IRQ: after a delivery, lets the next interrupt through (and the first
    /// one, after [`set_notification`](Self::set_notification)).
    pub fn ack(self) -> Result<(), Error> {
        bare(Invocation::IrqHandlerAck).call(self.cptr()).map(drop)
    }

    /// Each interrupt from now on signals `notification` with that capability's badge.
    /// Refusals: [`Error::InvalidCapability`] (word 0) if it is no notification
    /// capability, [`Error::InsufficientRights`] without the WRITE right.
    pub fn set_notification(self, notification: Cap<Notification>) -> Result<(), Error> {
        set_notification_message(notification).call(self.cptr()).map(drop)
    }

    /// Masks the IRQ and stops signalling the notification.
    pub fn clear(self) -> Result<(), Error> {
        bare(Invocation::IrqHandlerClear).call(self.cptr()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{CNode, CPtr};

    fn check(message: &Message, invocation: Invocation, words: &[u64]) {
        assert_eq!(message.label(), invocation.label());
        assert_eq!(message.words(), words);
        assert_eq!(words.len(), invocation.words(), "{invocation:?}");
        assert_eq!(usize::from(message.info().length), words.len());
    }

    #[test]
    fn get_sends_irq_then_destination() {
        check(&get_message(0, SlotRef::root(40)), Invocation::IrqControlGet, &[0, 1, 40, 64]);
        let dest = SlotRef::new(Cap::<CNode>::from_slot(12), 5, 8);
        check(&get_message(23, dest), Invocation::IrqControlGet, &[23, 12, 5, 8]);
    }

    #[test]
    fn handler_invocations_carry_only_the_notification() {
        check(
            &set_notification_message(Cap::from_slot(33)),
            Invocation::IrqHandlerSetNotification,
            &[33],
        );
        check(&bare(Invocation::IrqHandlerAck), Invocation::IrqHandlerAck, &[]);
        check(&bare(Invocation::IrqHandlerClear), Invocation::IrqHandlerClear, &[]);
        assert_eq!(Cap::<IrqControl>::BOOT.cptr(), CPtr(2));
    }
}
