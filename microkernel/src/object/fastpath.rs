//! The IPC fastpath: `Call` and `ReplyReceive` with register-only messages, when the other
//! side is already waiting and may run at once.
//!
//! Each function checks every condition first and changes nothing if one fails (the caller
//! then takes the general path); otherwise it moves the message register to register,
//! updates the two threads and names the thread to switch to directly — no run-queue
//! traffic, no full register copies, no capability transfer, and no FPU work: no CR0
//! write either, since it is taken only when the FPU trap setting is already right for
//! the thread it switches to (lazy switching leaves the state itself to that thread's
//! first FPU instruction).

use super::ipc::{Endpoint, RECEIVERS, SENDERS, await_reply, delete_reply};
use super::slots::Slots;
use super::tcb::{Tcb, TcbSlot, ThreadState, frame};
use crate::sched::{self, DirectRun};
use kernel_core::cap::Rights;
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::peek::{self, EndpointFields};
use syscall_abi::ipc::{MessageInfo, REGISTER_WORDS};

/// The message registers, in message-word order.
const MESSAGE_REGISTERS: [usize; REGISTER_WORDS] = [frame::R10, frame::R8, frame::R9, frame::R15];

/// The header of a register-only message without capabilities, or `None`.
fn register_only(thread: Tcb) -> Option<MessageInfo> {
    let info = MessageInfo::from_word(thread.register(frame::RSI)).ok()?;
    (usize::from(info.length) <= REGISTER_WORDS && info.caps == 0).then_some(info)
}

/// The endpoint capability `cptr` names in `thread`'s CSpace, if that CSpace is a single
/// CNode whose guard and radix take all 64 bits (as in every CSpace the kernel and libasi
/// build). `None` for anything else, including every lookup that fails: the general path
/// resolves it, and reports the error.
fn endpoint_at(thread: Tcb, cptr: u64) -> Option<(Endpoint, Rights, u64)> {
    let root = peek::cnode(&Slots::capability_words(thread.slot(TcbSlot::CSpaceRoot)))?;
    let radix_bits = u32::from(root.radix_bits);
    if u32::from(root.guard_bits) + radix_bits != u64::BITS || radix_bits >= u64::BITS {
        return None;
    }
    if cptr.checked_shr(radix_bits).unwrap_or(0) != root.guard {
        return None;
    }
    let index = cptr & ((1 << radix_bits) - 1);
    let slot = root.object + (index << SLOT_SIZE_BITS);
    let EndpointFields { object, badge, rights } = peek::endpoint(&Slots::capability_words(slot))?;
    Some((Endpoint::at(object), rights, badge))
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
pub fn call(caller: Tcb) -> Option<DirectRun> {
    let info = register_only(caller)?;
    let (endpoint, rights, badge) = endpoint_at(caller, caller.register(frame::RDI))?;
    if !rights.contains(Rights::WRITE) || endpoint.kind() != RECEIVERS {
        return None;
    }
    let receiver = endpoint.head()?;
    let run = sched::may_run_directly(receiver)?;
    endpoint.remove(receiver);
    deliver(caller, receiver, info, badge);
    await_reply(caller, receiver, rights.contains(Rights::GRANT_REPLY));
    receiver.set_state(ThreadState::Runnable);
    Some(run)
}

/// `ReplyReceive` where the caller being answered waits for a plain reply and no sender
/// waits on the endpoint: the reply goes straight to the caller, the replier waits on the
/// endpoint, and the caller is the thread to run next.
pub fn reply_receive(replier: Tcb) -> Option<DirectRun> {
    let info = register_only(replier)?;
    let reply_slot = replier.slot(TcbSlot::Caller);
    let caller = Tcb::at(peek::reply_target(&Slots::capability_words(reply_slot))?);
    if caller.state() != ThreadState::BlockedOnReply || caller.pending_send().is_fault {
        return None;
    }
    let (endpoint, rights, _) = endpoint_at(replier, replier.register(frame::RDI))?;
    if !rights.contains(Rights::READ)
        || endpoint.kind() == SENDERS
        || replier.bound_notification() != 0
    {
        return None;
    }
    let run = sched::may_run_directly(caller)?;
    delete_reply(reply_slot);
    deliver(replier, caller, info, 0);
    caller.set_state(ThreadState::Runnable);
    endpoint.push(RECEIVERS, replier, ThreadState::BlockedOnReceive);
    Some(run)
}
