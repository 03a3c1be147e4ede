//! Notifications: signal, wait, poll, badges, waking waiters, binding, destruction.

use libasi::Error;
use libasi::cap::{Notification, Rights};

use crate::Case;
use crate::children::{self, BADGE, COUNT, ERROR, LEN};
use crate::ensure;
use crate::env::{Scratch, Spawn, shared};
use crate::report::{Outcome, ok, refused};

pub const CASES: &[Case] = &[
    ("ipc::notification::signal_then_wait_returns_the_badge", signal_then_wait),
    ("ipc::notification::badges_or_together", badges_or),
    ("ipc::notification::poll_when_idle_would_block", poll_idle),
    ("ipc::notification::rights_enforced", rights),
    ("ipc::notification::signal_wakes_a_waiting_thread", wakes_waiter),
    ("ipc::notification::bound_signal_ends_an_endpoint_receive", bound_receive),
    ("ipc::notification::binding_twice_refused", bind_twice),
    ("ipc::notification::destroy_wakes_waiter_with_ipc_cancelled", destroy_wakes),
];

fn signal_then_wait(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    let badged = s.mint(notification, Rights::ALL, 0x5)?;
    ok(badged.signal(), "signal")?;
    let bits = ok(notification.wait(), "wait")?;
    ensure!(bits == 0x5, "wait returned {bits:#x}, expected 0x5");
    refused(notification.poll(), Error::WouldBlock, "poll after the wait took the bits")
}

fn badges_or(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    let one = s.mint(notification, Rights::WRITE, 0b0001)?;
    let two = s.mint(notification, Rights::WRITE, 0b0100)?;
    ok(one.signal(), "signal 0b0001")?;
    ok(two.signal(), "signal 0b0100")?;
    ok(one.signal(), "signal 0b0001 again")?;
    let bits = ok(notification.poll(), "poll")?;
    ensure!(bits == 0b0101, "poll returned {bits:#b}, expected 0b101");
    Ok(())
}

fn poll_idle(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    refused(notification.poll(), Error::WouldBlock, "poll with nothing signalled")
}

fn rights(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    let read_only = s.mint(notification, Rights::READ, 0)?;
    let write_only = s.mint(notification, Rights::WRITE, 1)?;
    refused(read_only.signal(), Error::InsufficientRights, "signal, read-only")?;
    refused(write_only.poll(), Error::InsufficientRights, "poll, write-only")?;
    refused(write_only.wait(), Error::InsufficientRights, "wait, write-only")
}

fn wakes_waiter(s: &mut Scratch<'_>) -> Outcome {
    let notification = s.notification()?;
    let badged = s.mint(notification, Rights::WRITE, 0x30)?;
    let child = s.spawn(children::waiter, notification.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    ensure!(shared(BADGE) == 0, "the waiter returned before the signal");
    ok(badged.signal(), "signal")?;
    s.wait_done(child.done_badge(), "the woken waiter")?;
    ensure!(shared(BADGE) == 0x30, "the waiter got {:#x}, expected 0x30", shared(BADGE));
    Ok(())
}

fn bound_receive(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let notification = s.notification()?;
    let badged = s.mint(notification, Rights::WRITE, 0x40)?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    ok(child.tcb.bind_notification(notification), "bind")?;
    s.wait_idle()?;
    ok(badged.signal(), "signal the bound notification")?;
    s.wait_done(child.done_badge(), "the receiver")?;
    ensure!(
        shared(ERROR) == 0 && shared(COUNT) == 1 && shared(BADGE) == 0x40 && shared(LEN) == 0,
        "the receive ended with error {} count {} badge {:#x} length {}",
        shared(ERROR),
        shared(COUNT),
        shared(BADGE),
        shared(LEN)
    );
    Ok(())
}

fn bind_twice(s: &mut Scratch<'_>) -> Outcome {
    let first = s.tcb()?;
    let second = s.tcb()?;
    let a = s.notification()?;
    let b = s.notification()?;
    ok(first.bind_notification(a), "bind a to the first thread")?;
    refused(first.bind_notification(b), Error::IllegalOperation, "bind b to the bound thread")?;
    refused(second.bind_notification(a), Error::IllegalOperation, "bind the bound a elsewhere")?;
    ok(first.unbind_notification(), "unbind")?;
    ok(first.bind_notification(b), "bind b after unbinding")?;
    ok(second.bind_notification(a), "bind a after unbinding")
}

fn destroy_wakes(s: &mut Scratch<'_>) -> Outcome {
    let notification: libasi::cap::Cap<Notification> = s.notification()?;
    let child = s.spawn(children::waiter, notification.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    s.delete(notification)?;
    s.wait_done(child.done_badge(), "the woken waiter")?;
    ensure!(
        shared(ERROR) == libasi::SyscallError::IpcCancelled.code(),
        "the wait answered {} (expected IPC cancelled)",
        shared(ERROR)
    );
    Ok(())
}
