//! Notifications: a word of signal bits and a queue of waiting threads (32 bytes).
//!
//! Signal ORs the badge of the capability used into the word, or hands it straight to the
//! first waiter; Wait takes the whole word, or waits for a signal; Poll takes it without
//! waiting. A notification may be bound to one thread: a signal then also ends that
//! thread's wait on an endpoint, so a server can wait for requests and interrupts at once.
//!
//! Layout, in words: 0–1 the wait queue, 2 the pending signal bits, 3 the bound TCB with
//! bit 0 set while signals are pending (TCBs are 2 KiB aligned).

use super::ipc::{RECEIVERS, WaitQueue};
use super::tcb::{Tcb, ThreadState};
use crate::arch;
use crate::sched;
use crate::syscall::Refusal;
use kernel_core::cap::{Capability, Rights};
use syscall_abi::SyscallError;

const PENDING: usize = 2;
const BOUND: usize = 3;
const ACTIVE: u64 = 1;

/// A notification object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    base: u64,
}

impl Notification {
    /// The notification a capability names, with its rights and badge.
    pub fn of(cap: &Capability) -> Option<(Self, Rights, u64)> {
        match *cap {
            Capability::Notification { object, rights, badge } => {
                Some((Self { base: object }, rights, badge))
            }
            _ => None,
        }
    }

    pub const fn at(base: u64) -> Self {
        Self { base }
    }

    pub const fn address(self) -> u64 {
        self.base
    }

    fn words(self) -> &'static [core::cell::Cell<u64>; 4] {
        arch::object_words(self.base)
    }

    fn queue(self) -> WaitQueue {
        WaitQueue::at(self.base)
    }

    fn bound(self) -> Option<Tcb> {
        let bound = self.words()[BOUND].get() & !ACTIVE;
        (bound != 0).then(|| Tcb::at(bound))
    }

    /// Takes the pending signal bits, if any signal is pending.
    fn take(self) -> Option<u64> {
        let flags = self.words()[BOUND].get();
        if flags & ACTIVE == 0 {
            return None;
        }
        self.words()[BOUND].set(flags & !ACTIVE);
        Some(self.words()[PENDING].replace(0))
    }

    fn accumulate(self, badge: u64) {
        let words = self.words();
        words[PENDING].set(words[PENDING].get() | badge);
        words[BOUND].set(words[BOUND].get() | ACTIVE);
    }
}

/// Makes a waiting thread's system call return `bits` as the badge of an empty message.
fn wake(tcb: Tcb, bits: u64) {
    let mut registers = tcb.registers();
    registers.rax = syscall_abi::SUCCESS;
    registers.rdx = 0;
    registers.rdi = bits;
    registers.rsi = 0;
    tcb.set_registers(&registers);
    sched::make_runnable(tcb);
}

/// Signals the notification `cap` names with the capability's badge.
pub fn signal(cap: &Capability) -> Result<(), Refusal> {
    let (notification, rights, badge) =
        Notification::of(cap).ok_or(SyscallError::InvalidCapability)?;
    if !rights.contains(Rights::WRITE) {
        return Err(SyscallError::InsufficientRights.into());
    }
    signal_object(notification, badge);
    Ok(())
}

/// Signals `notification` with `badge` (a capability's, or an IRQ handler's).
pub fn signal_object(notification: Notification, badge: u64) {
    if let Some(waiter) = notification.queue().pop(RECEIVERS) {
        wake(waiter, badge);
        return;
    }
    if let Some(bound) = notification.bound()
        && bound.state() == ThreadState::BlockedOnReceive
    {
        super::ipc::cancel(bound);
        wake(bound, badge);
        return;
    }
    notification.accumulate(badge);
}

/// `tcb` waits on the notification `cap` names (or, not `blocking`, polls it).
pub fn wait(tcb: Tcb, cap: &Capability, blocking: bool) -> Result<(), Refusal> {
    let (notification, rights, _) = Notification::of(cap).ok_or(SyscallError::InvalidCapability)?;
    if !rights.contains(Rights::READ) {
        return Err(SyscallError::InsufficientRights.into());
    }
    match notification.take() {
        Some(bits) => {
            wake(tcb, bits);
            Ok(())
        }
        None if !blocking => Err(SyscallError::WouldBlock.into()),
        None => {
            notification.queue().push(RECEIVERS, tcb, ThreadState::BlockedOnNotification);
            Ok(())
        }
    }
}

/// A thread about to wait on an endpoint first takes a signal pending on its bound
/// notification, if there is one: then it does not wait at all.
pub fn take_bound_signal(tcb: Tcb) -> bool {
    let bound = tcb.bound_notification();
    match (bound != 0).then(|| Notification::at(bound).take()).flatten() {
        Some(bits) => {
            wake(tcb, bits);
            true
        }
        None => false,
    }
}

/// Binds the notification `cap` names to `tcb`; each may have one binding.
pub fn bind(tcb: Tcb, cap: &Capability) -> Result<(), Refusal> {
    let (notification, _, _) =
        Notification::of(cap).ok_or(Refusal::new(SyscallError::InvalidCapability, 0))?;
    if tcb.bound_notification() != 0 || notification.bound().is_some() {
        return Err(SyscallError::IllegalOperation.into());
    }
    let words = notification.words();
    words[BOUND].set(tcb.address() | (words[BOUND].get() & ACTIVE));
    tcb.set_bound_notification(notification.base);
    Ok(())
}

/// Ends `tcb`'s binding, if it has one.
pub fn unbind(tcb: Tcb) {
    let bound = tcb.bound_notification();
    if bound != 0 {
        let words = Notification::at(bound).words();
        words[BOUND].set(words[BOUND].get() & ACTIVE);
        tcb.set_bound_notification(0);
    }
}

/// The notification at `base` is being destroyed: its waiters wake with an error and its
/// bound thread is unbound.
pub fn finalise(base: u64) {
    super::irq::forget_notification(base);
    super::ipc::cancel_all(base);
    if let Some(bound) = Notification::at(base).bound() {
        unbind(bound);
    }
}
