//! Synchronous IPC through endpoints: Send, Call, Recv, Reply, and their non-blocking and
//! combined forms.
//!
//! An endpoint is a queue of threads all waiting to send or all waiting to receive (16
//! bytes: the head, with the queue's kind in its low bits, and the tail; TCBs are 2 KiB
//! aligned). A message is the header, up to four words in registers and the rest copied
//! between the two threads' IPC buffers; the receiver also gets the badge of the
//! capability the sender used. A Call leaves the caller waiting for the reply and gives
//! the receiver a reply capability in its TCB's caller slot (seL4's implicit reply).

use super::slots::Slots;
use super::tcb::{PendingSend, Tcb, TcbSlot, ThreadState, frame};
use crate::arch::{self, PhysAddr};
use crate::sched;
use crate::syscall::Refusal;
use core::cell::Cell;
use core::fmt;
use kernel_core::cap::ops::mint;
use kernel_core::cap::{CapData, Capability, Rights, SlotStore, peek};
use syscall_abi::SyscallError;
use syscall_abi::fault::{self, FaultKind};
use syscall_abi::ipc::{MAX_WORDS, MessageInfo, REGISTER_WORDS, ipc_buffer};

const IDLE: u64 = 0;
pub(super) const SENDERS: u64 = 1;
/// Threads waiting to receive on an endpoint, or to wait on a notification.
pub(super) const RECEIVERS: u64 = 2;
const KIND_MASK: u64 = 0b11;

/// A queue of waiting threads in the first two words of an endpoint or notification: the
/// head, with the queue's kind in its low bits, and the tail. Like a `Tcb`, the handle
/// keeps the words, checked against the window once when it is made.
#[derive(Clone, Copy)]
pub(super) struct WaitQueue {
    pub(super) base: u64,
    words: &'static [Cell<u64>; 2],
}

impl PartialEq for WaitQueue {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base
    }
}

impl Eq for WaitQueue {}

impl fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WaitQueue({:#x})", self.base)
    }
}

pub(super) type Endpoint = WaitQueue;

impl WaitQueue {
    /// The queue at the start of the endpoint or notification at `base`.
    #[inline(always)]
    pub(super) fn at(base: u64) -> Self {
        Self { base, words: arch::object_words(base) }
    }

    #[inline(always)]
    fn words(self) -> &'static [Cell<u64>; 2] {
        self.words
    }

    #[inline(always)]
    pub(super) fn kind(self) -> u64 {
        self.words()[0].get() & KIND_MASK
    }

    #[inline(always)]
    pub(super) fn head(self) -> Option<Tcb> {
        let head = self.words()[0].get() & !KIND_MASK;
        (head != 0).then(|| Tcb::at(head))
    }

    #[inline(always)]
    fn set(self, kind: u64, head: u64, tail: u64) {
        let kind = if head == 0 { IDLE } else { kind };
        self.words()[0].set(head | kind);
        self.words()[1].set(tail);
    }

    /// Queues `tcb` at the tail, waiting in `state`, and takes it out of scheduling.
    pub(super) fn push(self, kind: u64, tcb: Tcb, state: ThreadState) {
        self.push_tail(kind, tcb);
        sched::block(tcb, state);
    }

    /// Links `tcb` in at the tail; its thread state and scheduling are the caller's.
    #[inline(always)]
    pub(super) fn push_tail(self, kind: u64, tcb: Tcb) {
        let tail = self.words()[1].get();
        tcb.set_ipc_queue(self.base, 0, tail);
        let head = if tail == 0 {
            tcb.address()
        } else {
            let (endpoint, _, before) = Tcb::at(tail).ipc_queue();
            Tcb::at(tail).set_ipc_queue(endpoint, tcb.address(), before);
            self.words()[0].get() & !KIND_MASK
        };
        self.set(kind, head, tcb.address());
    }

    /// Unlinks `head`, the first thread in the queue.
    #[inline(always)]
    pub(super) fn remove_head(self, head: Tcb) {
        let (_, next, _) = head.ipc_queue();
        let kind = self.kind();
        if next == 0 {
            self.set(kind, 0, 0);
        } else {
            let (endpoint, after, _) = Tcb::at(next).ipc_queue();
            Tcb::at(next).set_ipc_queue(endpoint, after, 0);
            self.set(kind, next, self.words()[1].get());
        }
        head.set_ipc_queue(0, 0, 0);
    }

    pub(super) fn remove(self, tcb: Tcb) {
        let (_, next, previous) = tcb.ipc_queue();
        let kind = self.kind();
        let (mut head, mut tail) = (self.words()[0].get() & !KIND_MASK, self.words()[1].get());
        if previous == 0 {
            head = next;
        } else {
            let (endpoint, _, before) = Tcb::at(previous).ipc_queue();
            Tcb::at(previous).set_ipc_queue(endpoint, next, before);
        }
        if next == 0 {
            tail = previous;
        } else {
            let (endpoint, after, _) = Tcb::at(next).ipc_queue();
            Tcb::at(next).set_ipc_queue(endpoint, after, previous);
        }
        tcb.set_ipc_queue(0, 0, 0);
        self.set(kind, head, tail);
    }

    /// Takes the first waiter if the queue holds threads of `kind`.
    pub(super) fn pop(self, kind: u64) -> Option<Tcb> {
        let head = self.head().filter(|_| self.kind() == kind)?;
        self.remove(head);
        Some(head)
    }
}

/// The endpoint a capability names, with the rights and badge it carries.
pub(super) fn endpoint_of(cap: &Capability) -> Option<(Endpoint, Rights, u64)> {
    match *cap {
        Capability::Endpoint { object, rights, badge } => {
            Some((Endpoint::at(object), rights, badge))
        }
        _ => None,
    }
}

/// Whether a capability names an endpoint (IPC) rather than an object to invoke.
pub fn is_endpoint(cap: &Capability) -> bool {
    endpoint_of(cap).is_some()
}

/// How the sending side of an IPC wants it done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    Send,
    NonBlockingSend,
    Call,
}

/// `sender` sends (or calls) on the endpoint `cap` names, with its registers as saved.
pub fn send(sender: Tcb, cap: &Capability, kind: SendKind) -> Result<(), Refusal> {
    let (endpoint, rights, badge) = endpoint_of(cap).ok_or(SyscallError::InvalidCapability)?;
    if !rights.contains(Rights::WRITE) {
        return Err(SyscallError::InsufficientRights.into());
    }
    let info = message_info(sender)?;
    let send = PendingSend {
        badge,
        is_call: kind == SendKind::Call,
        can_grant: rights.contains(Rights::GRANT),
        can_grant_reply: rights.contains(Rights::GRANT_REPLY),
        is_fault: false,
    };
    match endpoint.pop(RECEIVERS) {
        Some(receiver) => {
            deliver(sender, receiver, info, send, endpoint);
            sched::make_runnable(receiver);
            Ok(())
        }
        None if kind == SendKind::NonBlockingSend => Err(SyscallError::WouldBlock.into()),
        None => {
            sender.set_pending_send(send);
            endpoint.push(SENDERS, sender, ThreadState::BlockedOnSend);
            Ok(())
        }
    }
}

/// `receiver` receives on the endpoint `cap` names; `blocking` says whether it waits.
pub fn receive(receiver: Tcb, cap: &Capability, blocking: bool) -> Result<(), Refusal> {
    let (endpoint, rights, _) = endpoint_of(cap).ok_or(SyscallError::InvalidCapability)?;
    if !rights.contains(Rights::READ) {
        return Err(SyscallError::InsufficientRights.into());
    }
    if super::notification::take_bound_signal(receiver) {
        return Ok(());
    }
    match endpoint.pop(SENDERS) {
        Some(sender) => {
            let send = sender.pending_send();
            let info = if send.is_fault {
                sender.fault_info()
            } else {
                message_info(sender).unwrap_or_default()
            };
            deliver(sender, receiver, info, send, endpoint);
            if !send.is_call {
                sched::make_runnable(sender);
            }
            Ok(())
        }
        None if !blocking => Err(SyscallError::WouldBlock.into()),
        None => {
            endpoint.push(RECEIVERS, receiver, ThreadState::BlockedOnReceive);
            Ok(())
        }
    }
}

/// `replier` answers the call its caller slot records, if any (no caller: nothing
/// happens, as in seL4).
pub fn reply(replier: Tcb) -> Result<(), Refusal> {
    let slot = replier.slot(TcbSlot::Caller);
    let Some(peek::ReplyFields { tcb, can_grant }) =
        peek::reply(&replier.slot_words(TcbSlot::Caller))
    else {
        return Ok(());
    };
    let caller = Tcb::at(tcb);
    let info = message_info(replier)?;
    delete_reply(slot);
    if caller.state() != ThreadState::BlockedOnReply {
        return Ok(());
    }
    if caller.pending_send().is_fault {
        // A fault reply: label 0 resumes the thread with its registers as they are now.
        caller.set_pending_send(PendingSend { is_fault: false, ..caller.pending_send() });
        if info.label == 0 {
            sched::make_runnable(caller);
        } else {
            sched::block(caller, ThreadState::Inactive);
        }
        return Ok(());
    }
    transfer(replier, caller, info, 0, can_grant.then_some(Grant { endpoint: None }));
    sched::make_runnable(caller);
    Ok(())
}

/// Moves a message from `sender` to `receiver` through `endpoint`; after a call the sender
/// waits for the reply.
fn deliver(sender: Tcb, receiver: Tcb, info: MessageInfo, send: PendingSend, endpoint: Endpoint) {
    if send.is_fault {
        transfer_fault(sender, receiver, info, send.badge);
    } else {
        let grant = send.can_grant.then_some(Grant { endpoint: Some(endpoint.base) });
        transfer(sender, receiver, info, send.badge, grant);
    }
    if send.is_call {
        await_reply(sender, receiver, send.can_grant_reply);
    }
}

/// The caller waits for its reply; the receiver holds the reply capability, which may
/// carry capabilities back if the caller's endpoint capability had grant-reply.
pub(super) fn await_reply(caller: Tcb, receiver: Tcb, can_grant: bool) {
    let slot = receiver.slot(TcbSlot::Caller);
    delete_reply(slot);
    Slots::put_standalone(slot, &Capability::Reply { tcb: caller.address(), can_grant });
    caller.set_reply_slot(slot);
    sched::block(caller, ThreadState::BlockedOnReply);
}

/// Empties a thread's caller slot, which holds a reply capability or nothing (reply
/// capabilities live nowhere else and stand alone in the derivation tree).
pub(super) fn delete_reply(slot: u64) {
    if let Some(tcb) = peek::reply_target(&Slots::capability_words(slot)) {
        Tcb::at(tcb).set_reply_slot(0);
        Slots::clear_standalone(slot);
    }
}

/// The header a thread's saved `rsi` holds; a length past the maximum is refused.
fn message_info(thread: Tcb) -> Result<MessageInfo, Refusal> {
    MessageInfo::from_word(thread.registers().rsi).map_err(|_| SyscallError::InvalidLength.into())
}

/// The sender may transfer capabilities: it used a capability with the grant right (or a
/// reply capability with grant-reply). `endpoint` is the endpoint the message goes
/// through (none for a reply), whose own badged capabilities arrive unwrapped.
#[derive(Clone, Copy, Debug)]
struct Grant {
    endpoint: Option<u64>,
}

/// Copies the message from `sender` to `receiver` and makes the receiver's system call
/// return it: status 0, badge in `rdi`, header in `rsi`, words in registers and IPC buffer,
/// and capabilities where the grant allows. Words past what the receiver's IPC buffer can
/// take are cut off; the header says how many words and capabilities arrived.
fn transfer(sender: Tcb, receiver: Tcb, info: MessageInfo, badge: u64, grant: Option<Grant>) {
    let mut length = usize::from(info.length).min(MAX_WORDS);
    if length > REGISTER_WORDS {
        match (sender.ipc_buffer_frame(), receiver.ipc_buffer_frame()) {
            (Some(source), Some(destination)) => copy_buffer_words(source, destination, length),
            _ => length = REGISTER_WORDS,
        }
    }
    for &register in frame::MESSAGE.iter().take(length) {
        receiver.set_register(register, sender.register(register));
    }
    let (caps, unwrapped) = match grant {
        Some(grant) if info.caps > 0 => transfer_caps(sender, receiver, info.caps, grant),
        _ => (0, 0),
    };
    let delivered = MessageInfo { label: info.label, length: length as u8, caps, unwrapped };
    receiver.set_register(frame::RSI, delivered.to_word());
    receiver.set_register(frame::RDI, badge);
    receiver.set_syscall_result(syscall_abi::SUCCESS, 0);
}

fn buffer_word(buffer: PhysAddr, index: usize) -> Option<u64> {
    let mut bytes = [0u8; 8];
    arch::read_physical(buffer.as_u64() + 8 * index as u64, &mut bytes)
        .then(|| u64::from_le_bytes(bytes))
}

fn set_buffer_word(buffer: PhysAddr, index: usize, word: u64) {
    arch::write_physical(buffer + 8 * index as u64, &word.to_le_bytes());
}

/// Transfers up to `count` capabilities named in the sender's IPC buffer, as seL4 does:
/// a badged capability to the endpoint the message travels through arrives as its badge
/// alone (unwrapped); any other is copied into the one receive slot the receiver's IPC
/// buffer names. Transfer stops at the first capability that cannot go. Returns how many
/// went and which of them were unwrapped.
fn transfer_caps(sender: Tcb, receiver: Tcb, count: u8, grant: Grant) -> (u8, u8) {
    let (Some(source), Some(destination)) =
        (sender.ipc_buffer_frame(), receiver.ipc_buffer_frame())
    else {
        return (0, 0);
    };
    let mut receive_slot = receive_slot(receiver, destination);
    let (mut transferred, mut unwrapped) = (0u8, 0u8);
    for index in 0..usize::from(count) {
        let Some(cptr) = buffer_word(source, ipc_buffer::CAPS_OR_BADGES + index) else { break };
        let Ok((slot, cap)) = super::cspace::capability(&sender.cspace_root(), cptr) else { break };
        match (cap, grant.endpoint) {
            (Capability::Endpoint { object, badge, .. }, Some(endpoint))
                if object == endpoint && badge != 0 =>
            {
                set_buffer_word(destination, ipc_buffer::CAPS_OR_BADGES + index, badge);
                unwrapped |= 1 << index;
            }
            _ => {
                let Some(target) = receive_slot.take() else { break };
                if mint(&mut Slots, slot, target, Rights::ALL, CapData::None).is_err() {
                    break;
                }
            }
        }
        transferred += 1;
    }
    (transferred, unwrapped)
}

/// The empty slot the receiver's IPC buffer names for a received capability, if any.
fn receive_slot(receiver: Tcb, buffer: PhysAddr) -> Option<u64> {
    let cnode = buffer_word(buffer, ipc_buffer::RECEIVE_CNODE)?;
    let index = buffer_word(buffer, ipc_buffer::RECEIVE_INDEX)?;
    let depth = buffer_word(buffer, ipc_buffer::RECEIVE_DEPTH)?;
    let root = receiver.cspace_root();
    let (_, node) = super::cspace::capability(&root, cnode).ok()?;
    let slot = super::cspace::slot(&node, index, depth, u64::MAX).ok()?;
    Slots.is_empty(slot).then_some(slot)
}

fn copy_buffer_words(source: PhysAddr, destination: PhysAddr, length: usize) {
    let offset = 8 * (ipc_buffer::MESSAGE + REGISTER_WORDS) as u64;
    let mut bytes = [0u8; 8 * MAX_WORDS];
    let count = 8 * (length - REGISTER_WORDS);
    if arch::read_physical(source.as_u64() + offset, &mut bytes[..count]) {
        arch::write_physical(destination + offset, &bytes[..count]);
    }
}

/// `thread` faulted: if it has a fault endpoint it sends the fault message there, as a
/// call, and waits for the reply (returns true); otherwise nothing happens (false).
pub fn send_fault(thread: Tcb, kind: FaultKind, words: &[u64; fault::words::COUNT]) -> bool {
    let cptr = thread.fault_endpoint();
    if cptr == 0 {
        return false;
    }
    let Ok((_, cap)) = super::cspace::capability(&thread.cspace_root(), cptr) else {
        return false;
    };
    let Some((endpoint, rights, badge)) = endpoint_of(&cap) else {
        return false;
    };
    if !rights.contains(Rights::WRITE) {
        return false;
    }
    let info = MessageInfo {
        label: kind.label(),
        length: fault::words::COUNT as u8,
        caps: 0,
        unwrapped: 0,
    };
    thread.set_fault(info, words);
    let send = PendingSend {
        badge,
        is_call: true,
        can_grant: false,
        can_grant_reply: rights.contains(Rights::GRANT_REPLY),
        is_fault: true,
    };
    thread.set_pending_send(send);
    match endpoint.pop(RECEIVERS) {
        Some(receiver) => {
            deliver(thread, receiver, info, send, endpoint);
            sched::make_runnable(receiver);
        }
        None => endpoint.push(SENDERS, thread, ThreadState::BlockedOnSend),
    }
    true
}

/// Delivers a fault message: the words the kernel recorded, not the thread's registers.
fn transfer_fault(sender: Tcb, receiver: Tcb, info: MessageInfo, badge: u64) {
    let words = sender.fault_words();
    let mut to = receiver.registers();
    let registers = [&mut to.r10, &mut to.r8, &mut to.r9, &mut to.r15];
    for (register, &word) in registers.into_iter().zip(&words) {
        *register = word;
    }
    let mut length = words.len();
    match receiver.ipc_buffer_frame() {
        Some(buffer) => {
            for (index, &word) in words.iter().enumerate().skip(REGISTER_WORDS) {
                set_buffer_word(buffer, ipc_buffer::MESSAGE + index, word);
            }
        }
        None => length = REGISTER_WORDS,
    }
    to.rsi = MessageInfo { length: length as u8, ..info }.to_word();
    to.rdi = badge;
    to.rax = syscall_abi::SUCCESS;
    to.rdx = 0;
    receiver.set_registers(&to);
}

/// A thread stops waiting: it leaves any endpoint queue, and a pending reply to it is
/// withdrawn. Used when it is suspended, faults or is destroyed.
pub fn cancel(tcb: Tcb) {
    let (queue, _, _) = tcb.ipc_queue();
    if queue != 0 {
        WaitQueue::at(queue).remove(tcb);
    }
    if tcb.reply_slot() != 0 {
        delete_reply(tcb.reply_slot());
    }
}

/// The thread stops: it stops waiting and becomes inactive (suspended, exited, faulted).
pub fn stop(tcb: Tcb) {
    cancel(tcb);
    sched::block(tcb, ThreadState::Inactive);
}

/// The endpoint or notification at `base` is being destroyed: every thread waiting on it
/// wakes with [`SyscallError::IpcCancelled`].
pub fn cancel_all(base: u64) {
    let queue = WaitQueue::at(base);
    while let Some(waiter) = queue.head() {
        queue.remove(waiter);
        waiter.set_syscall_result(SyscallError::IpcCancelled.code(), 0);
        sched::make_runnable(waiter);
    }
}
