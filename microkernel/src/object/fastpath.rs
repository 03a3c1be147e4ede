//! The IPC fastpath: `Call` and `ReplyReceive` with register-only messages, when the other
//! side is already waiting and may run at once.
//!
//! Each function checks every condition first and returns, having changed nothing, if one
//! fails (the caller then takes the general path); otherwise it moves the message register
//! to register, updates the two threads and the endpoint, and leaves the kernel straight
//! into the other thread — no run-queue traffic, no full register copies, no capability
//! transfer, and no FPU work: no CR0 write either, since it is taken only when the FPU
//! trap setting is already right for the thread it switches to (lazy switching leaves the
//! state itself to that thread's first FPU instruction).

use super::ipc::{Endpoint, RECEIVERS, SENDERS};
use super::slots::Slots;
use super::tcb::{PendingSend, Tcb, TcbSlot, ThreadState, frame};
use crate::sched;
use kernel_core::cap::Rights;
use kernel_core::cap::encoding::encode_reply;
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::peek::{self, EndpointFields};
use syscall_abi::ipc::MessageInfo;

/// The endpoint capability `cptr` names in `thread`'s CSpace, if that CSpace is a single
/// CNode whose guard and radix take all 64 bits (as in every CSpace the kernel and libasi
/// build). `None` for anything else, including every lookup that fails: the general path
/// resolves it, and reports the error.
#[inline(always)]
fn endpoint_at(thread: Tcb, cptr: u64) -> Option<(Endpoint, Rights, u64)> {
    let root = peek::flat_cnode(&thread.slot_words(TcbSlot::CSpaceRoot))?;
    let radix_bits = u32::from(root.radix_bits);
    // A CNode has at least two slots, so both the radix and the guard size are below 64
    // and the shifts exact (the kernel writes only valid capabilities; were one not, the
    // wrapping shifts give a wrong slot, which the endpoint or window check refuses).
    if cptr.wrapping_shr(radix_bits) != root.guard {
        return None;
    }
    let guard_bits = u64::BITS - radix_bits;
    let index = cptr.wrapping_shl(guard_bits).wrapping_shr(guard_bits);
    let slot = root.object + (index << SLOT_SIZE_BITS);
    let EndpointFields { object, badge, rights } = peek::endpoint(&Slots::capability_words(slot))?;
    Some((Endpoint::at(object), rights, badge))
}

/// Makes `to`'s system call return `from`'s register message of `length` words, with
/// `header` and `badge`.
#[inline(always)]
fn deliver(from: Tcb, to: Tcb, length: usize, header: u64, badge: u64) {
    for &register in &frame::MESSAGE[..length] {
        to.set_register(register, from.register(register));
    }
    to.set_register(frame::RSI, header);
    to.set_register(frame::RDI, badge);
    to.set_syscall_result(syscall_abi::SUCCESS, 0);
}

/// `Call` on an endpoint where a receiver waits: the message goes straight to it, the
/// caller waits for the reply, and the receiver runs. Returns only if the fastpath does
/// not apply, having changed nothing.
#[inline(always)]
pub fn call(caller: Tcb) {
    let Some((length, header)) = MessageInfo::register_only(caller.register(frame::RSI)) else {
        return;
    };
    let Some((endpoint, rights, badge)) = endpoint_at(caller, caller.register(frame::RDI)) else {
        return;
    };
    if !rights.contains(Rights::WRITE) || endpoint.kind() != RECEIVERS {
        return;
    }
    let Some(receiver) = endpoint.head() else { return };
    // A reply capability left from an unanswered call would have to be deleted first.
    if !peek::is_null(&receiver.slot_words(TcbSlot::Caller)) {
        return;
    }
    let Some(space) = sched::may_run_directly(receiver) else { return };
    endpoint.remove_head(receiver);
    deliver(caller, receiver, length, header, badge);
    let can_grant_reply = rights.contains(Rights::GRANT_REPLY);
    let reply = encode_reply(caller.address(), can_grant_reply);
    Slots::write_standalone(receiver.slot_cells(TcbSlot::Caller), reply);
    caller.set_reply_slot(receiver.slot(TcbSlot::Caller));
    caller.set_pending_send(PendingSend {
        badge,
        is_call: true,
        can_grant: rights.contains(Rights::GRANT),
        can_grant_reply,
        is_fault: false,
    });
    caller.set_state(ThreadState::BlockedOnReply);
    receiver.set_state(ThreadState::Runnable);
    sched::run_directly(receiver, &space)
}

/// `ReplyReceive` where the caller being answered waits for a plain reply and no sender
/// waits on the endpoint: the reply goes straight to the caller, the replier waits on the
/// endpoint, and the caller runs. Returns only if the fastpath does not apply, having
/// changed nothing.
#[inline(always)]
pub fn reply_receive(replier: Tcb) {
    let Some((length, header)) = MessageInfo::register_only(replier.register(frame::RSI)) else {
        return;
    };
    let Some(caller) = peek::reply_target(&replier.slot_words(TcbSlot::Caller)) else { return };
    let caller = Tcb::at(caller);
    if caller.state() != ThreadState::BlockedOnReply || caller.pending_send().is_fault {
        return;
    }
    let Some((endpoint, rights, _)) = endpoint_at(replier, replier.register(frame::RDI)) else {
        return;
    };
    if !rights.contains(Rights::READ)
        || endpoint.kind() == SENDERS
        || replier.bound_notification() != 0
    {
        return;
    }
    let Some(space) = sched::may_run_directly(caller) else { return };
    Slots::erase_standalone(replier.slot_cells(TcbSlot::Caller));
    caller.set_reply_slot(0);
    deliver(replier, caller, length, header, 0);
    caller.set_state(ThreadState::Runnable);
    endpoint.push_tail(RECEIVERS, replier);
    replier.set_state(ThreadState::BlockedOnReceive);
    sched::run_directly(caller, &space)
}
