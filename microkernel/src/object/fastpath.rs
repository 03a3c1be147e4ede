//! The IPC fastpath: `Call` and `ReplyReceive` with register-only messages, when the other
//! side is already waiting and may run at once.
//!
//! Each function checks every condition first and changes nothing if one fails (the caller
//! then takes the general path); otherwise it moves the message register to register,
//! updates the two threads and names the thread to switch to directly — no run-queue
//! traffic, no full register copies, no FPU work (lazy switching leaves that to the
//! thread's first FPU instruction), no capability transfer.

use super::cspace;
use super::ipc::{RECEIVERS, SENDERS, await_reply, delete_reply, endpoint_of};
use super::slots::Slots;
use super::tcb::{Tcb, TcbSlot, ThreadState, frame};
use crate::sched;
use kernel_core::cap::{Capability, Rights, SlotStore};
use syscall_abi::ipc::{MessageInfo, REGISTER_WORDS};

/// The message registers, in message-word order.
const MESSAGE_REGISTERS: [usize; REGISTER_WORDS] = [frame::R10, frame::R8, frame::R9, frame::R15];

/// The header of a register-only message without capabilities, or `None`.
fn register_only(thread: Tcb) -> Option<MessageInfo> {
    let info = MessageInfo::from_word(thread.register(frame::RSI)).ok()?;
    (usize::from(info.length) <= REGISTER_WORDS && info.caps == 0).then_some(info)
}

/// Makes `to`'s system call return `from`'s register message, with `badge`.
fn deliver(from: Tcb, to: Tcb, info: MessageInfo, badge: u64) {
    for &register in &MESSAGE_REGISTERS[..usize::from(info.length)] {
        to.set_register(register, from.register(register));
    }
    to.set_register(frame::RSI, MessageInfo { caps: 0, unwrapped: 0, ..info }.to_word());
    to.set_register(frame::RDI, badge);
    to.set_syscall_result(syscall_abi::SUCCESS, 0);
}

/// `Call` on an endpoint where a receiver waits: the message goes straight to it, the
/// caller waits for the reply, and the receiver is the thread to run next.
pub fn call(caller: Tcb) -> Option<Tcb> {
    let info = register_only(caller)?;
    let (_, cap) = cspace::capability(&caller.cspace_root(), caller.register(frame::RDI)).ok()?;
    let (endpoint, rights, badge) = endpoint_of(&cap)?;
    if !rights.contains(Rights::WRITE) || endpoint.kind() != RECEIVERS {
        return None;
    }
    let receiver = endpoint.head()?;
    if !sched::may_run_directly(receiver) {
        return None;
    }
    endpoint.remove(receiver);
    deliver(caller, receiver, info, badge);
    await_reply(caller, receiver, rights.contains(Rights::GRANT_REPLY));
    receiver.set_state(ThreadState::Runnable);
    Some(receiver)
}

/// `ReplyReceive` where the caller being answered waits for a plain reply and no sender
/// waits on the endpoint: the reply goes straight to the caller, the replier waits on the
/// endpoint, and the caller is the thread to run next.
pub fn reply_receive(replier: Tcb) -> Option<Tcb> {
    let info = register_only(replier)?;
    let reply_slot = replier.slot(TcbSlot::Caller);
    let Capability::Reply { tcb, .. } = Slots.cap(reply_slot) else { return None };
    let caller = Tcb::at(tcb);
    if caller.state() != ThreadState::BlockedOnReply || caller.pending_send().is_fault {
        return None;
    }
    let (_, cap) = cspace::capability(&replier.cspace_root(), replier.register(frame::RDI)).ok()?;
    let (endpoint, rights, _) = endpoint_of(&cap)?;
    if !rights.contains(Rights::READ)
        || endpoint.kind() == SENDERS
        || replier.bound_notification() != 0
    {
        return None;
    }
    if !sched::may_run_directly(caller) {
        return None;
    }
    delete_reply(reply_slot);
    deliver(replier, caller, info, 0);
    caller.set_state(ThreadState::Runnable);
    endpoint.push(RECEIVERS, replier, ThreadState::BlockedOnReceive);
    Some(caller)
}
