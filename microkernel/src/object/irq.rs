//! Interrupts for user space: IRQ control issues one handler capability per IRQ; a
//! handler is pointed at a notification; each interrupt masks its line and signals the
//! notification, and the handler's Ack unmasks it again.

use super::cspace;
use super::invoke::{Reply, cap_refusal};
use super::notification::{self, Notification};
use super::slots::Slots;
use crate::arch;
use crate::syscall::{Message, Refusal};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_core::cap::Capability;
use kernel_core::cap::ops::insert_child;
use spin::Mutex;
use syscall_abi::SyscallError;
use syscall_abi::invocation::Invocation;

/// Where one IRQ goes.
#[derive(Clone, Copy, Debug, Default)]
struct Route {
    /// A handler capability exists for it.
    issued: bool,
    /// The notification it signals (0: none) and the badge it signals with.
    notification: u64,
    badge: u64,
}

static ROUTES: Mutex<[Route; arch::IRQS as usize]> =
    Mutex::new([Route { issued: false, notification: 0, badge: 0 }; arch::IRQS as usize]);

/// Interrupts delivered, per IRQ.
static DELIVERED: [AtomicU64; arch::IRQS as usize] =
    [const { AtomicU64::new(0) }; arch::IRQS as usize];

/// How many times `irq` has fired since boot.
#[cfg(feature = "ktest")]
pub fn deliveries(irq: u8) -> u64 {
    DELIVERED[usize::from(irq)].load(Ordering::Relaxed)
}

/// IRQ `irq` fired (its line is masked now): signal its notification.
pub fn deliver(irq: u8) {
    DELIVERED[usize::from(irq)].fetch_add(1, Ordering::Relaxed);
    let route = ROUTES.lock()[usize::from(irq)];
    if route.notification != 0 {
        notification::signal_object(Notification::at(route.notification), route.badge);
    }
}

/// Whether any IRQ could wake a thread: then an idle CPU waits instead of stopping.
pub fn any_routed() -> bool {
    ROUTES.lock().iter().any(|route| route.notification != 0)
}

/// IRQ control's one invocation: words IRQ, destination CNode, index, depth.
pub fn control(
    root: &Capability,
    control_slot: u64,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    if invocation != Invocation::IrqControlGet {
        return Err(SyscallError::IllegalOperation.into());
    }
    let irq =
        u8::try_from(message.word(0)?).map_err(|_| Refusal::new(SyscallError::RangeError, 0))?;
    let input = arch::irq_input(irq).ok_or(Refusal::new(SyscallError::RangeError, 0))?;
    let (_, cnode) = cspace::capability(root, message.word(1)?)?;
    if !matches!(cnode, Capability::CNode { .. }) {
        return Err(Refusal::new(SyscallError::InvalidCapability, 1));
    }
    let destination = cspace::slot(&cnode, message.word(2)?, message.word(3)?, 3)?;
    let mut routes = ROUTES.lock();
    // One handler per IRQ, and per I/O APIC input: an ISA line routed onto the input of
    // another IRQ would otherwise take its interrupts.
    let input_taken = routes
        .iter()
        .enumerate()
        .any(|(other, route)| route.issued && arch::irq_input(other as u8) == Some(input));
    if input_taken {
        return Err(SyscallError::RevokeFirst.into());
    }
    // The invoked capability may be a copy of the control capability: the new one then
    // goes under the original (see `insert_child`), as in seL4.
    insert_child(&mut Slots, control_slot, destination, Capability::IrqHandler { irq })
        .map_err(|error| cap_refusal(error, u64::MAX))?;
    routes[usize::from(irq)] = Route { issued: true, notification: 0, badge: 0 };
    Ok(Reply::empty())
}

/// An IRQ handler's invocations: Ack, SetNotification, Clear.
pub fn handler(
    root: &Capability,
    irq: u8,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    match invocation {
        Invocation::IrqHandlerAck => arch::set_irq_masked(irq, false),
        Invocation::IrqHandlerSetNotification => {
            let (_, cap) = cspace::capability(root, message.word(0)?)?;
            let (notification, rights, badge) =
                Notification::of(&cap).ok_or(Refusal::new(SyscallError::InvalidCapability, 0))?;
            if !rights.contains(kernel_core::cap::Rights::WRITE) {
                return Err(SyscallError::InsufficientRights.into());
            }
            let mut routes = ROUTES.lock();
            routes[usize::from(irq)].notification = notification.address();
            routes[usize::from(irq)].badge = badge;
        }
        Invocation::IrqHandlerClear => {
            arch::set_irq_masked(irq, true);
            ROUTES.lock()[usize::from(irq)].notification = 0;
        }
        _ => return Err(SyscallError::IllegalOperation.into()),
    }
    Ok(Reply::empty())
}

/// The last handler capability for `irq` is gone: the line is masked and can be issued
/// again.
pub fn release(irq: u8) {
    arch::set_irq_masked(irq, true);
    if let Some(route) = ROUTES.lock().get_mut(usize::from(irq)) {
        *route = Route::default();
    }
}

/// The notification at `base` is being destroyed: no IRQ may signal it any more.
pub fn forget_notification(base: u64) {
    for (irq, route) in ROUTES.lock().iter_mut().enumerate() {
        if route.notification == base {
            route.notification = 0;
            arch::set_irq_masked(irq as u8, true);
        }
    }
}
