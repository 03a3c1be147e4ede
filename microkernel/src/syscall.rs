//! System calls: decode, check every argument, act, answer.

use crate::arch::{self, PhysAddr};
use crate::cpu::this_cpu;
use crate::object::fastpath;
use crate::object::ipc::{self, SendKind};
use crate::object::notification::{self, Notification};
use crate::object::root::root_task;
use crate::object::tcb::{Tcb, frame};
use crate::sched;
use crate::usercopy::{UserReadable, UserWritable};
use syscall_abi::fault::FaultKind;
use syscall_abi::ipc::{MessageInfo, REGISTER_WORDS, ipc_buffer};
use syscall_abi::{DEBUG_WRITE_MAX, Syscall, SyscallError};

/// Handles system call `number` of the current thread, whose registers the entry code
/// saved in its TCB, and returns to user mode. The Null call returns before anything
/// else is set up, which is what makes it the measure of entry and exit alone; `Call` and
/// `ReplyReceive` try the IPC fastpath before the general path, which is kept in
/// [`handle_call`] so that the fastpath pays for none of its stack frame.
///
/// `thread` is the caller's TCB, as the entry code found it from where it saved the
/// registers: the fastpath needs no look at the CPU's state and no window check for it.
#[inline(always)]
pub fn handle(number: u64, thread: &'static arch::ThreadObject) -> ! {
    if number == Syscall::Null.number() {
        arch::return_from_syscall(syscall_abi::SUCCESS, 0);
    }
    let caller = Tcb::of_object(thread);
    debug_assert!(this_cpu().current_thread() == Some(caller), "registers of another thread");
    if number == Syscall::Call.number() {
        fastpath::call(caller);
    } else if number == Syscall::ReplyReceive.number() {
        fastpath::reply_receive(caller);
    }
    handle_call(caller, number)
}

#[inline(never)]
fn handle_call(caller: Tcb, number: u64) -> ! {
    let args = [caller.register(frame::RDI), caller.register(frame::RSI)];
    let outcome = match Syscall::from_number(number) {
        Some(Syscall::ThreadExit) => exit_thread(caller, args[0]),
        Some(Syscall::DebugWrite) => debug_write(caller, args[0], args[1]).map(|()| 0),
        Some(Syscall::BootArgs) => boot_args(caller, args[0], args[1]),
        Some(Syscall::BootInfo) => boot_info(caller, args[0], args[1]),
        Some(Syscall::Call) => call(caller),
        Some(Syscall::Send) => ipc_send(caller, args[0], SendKind::Send),
        Some(Syscall::NonBlockingSend) => ipc_send(caller, args[0], SendKind::NonBlockingSend),
        Some(Syscall::Receive) => ipc_receive(caller, args[0], true),
        Some(Syscall::NonBlockingReceive) => ipc_receive(caller, args[0], false),
        Some(Syscall::Reply) => ipc::reply(caller).map(|()| 0),
        Some(Syscall::ReplyReceive) => {
            ipc::reply(caller).and_then(|()| ipc_receive(caller, args[0], true))
        }
        Some(Syscall::Yield) => {
            sched::rotate_current();
            Ok(0)
        }
        Some(Syscall::Null) => Ok(0),
        Some(Syscall::DebugCapIdentify) => {
            crate::object::cspace::identify(&caller.cspace_root(), args[0])
        }
        None => {
            let words = [
                number,
                0,
                0,
                caller.register(frame::RIP),
                caller.register(frame::RSP),
                caller.register(frame::RFLAGS),
            ];
            // With a fault endpoint the thread waits for the handler; resumed, its call
            // still answers UnknownSyscall.
            ipc::send_fault(caller, FaultKind::UnknownSyscall, &words);
            Err(SyscallError::UnknownSyscall.into())
        }
    };
    // An invocation may have destroyed the caller's own TCB; then there is no one to answer.
    if this_cpu().current_thread() == Some(caller) {
        match outcome {
            Ok(value) => caller.set_syscall_result(syscall_abi::SUCCESS, value),
            Err(Refusal { error, detail }) => caller.set_syscall_result(error.code(), detail),
        }
    }
    sched::run()
}

/// A refused call: the error, and the detail returned beside it in `rdx` (0 unless the
/// error's documentation says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: SyscallError,
    pub detail: u64,
}

impl Refusal {
    pub const fn new(error: SyscallError, detail: u64) -> Self {
        Self { error, detail }
    }
}

impl From<SyscallError> for Refusal {
    fn from(error: SyscallError) -> Self {
        Self { error, detail: 0 }
    }
}

fn address_space(thread: Tcb) -> Result<arch::AddressSpace, Refusal> {
    thread.address_space().ok_or(SyscallError::InvalidAddress.into())
}

fn debug_write(thread: Tcb, addr: u64, len: u64) -> Result<(), Refusal> {
    if len > DEBUG_WRITE_MAX {
        return Err(SyscallError::InvalidLength.into());
    }
    let source = UserReadable::new(&address_space(thread)?, addr, len)?;
    let mut chunk = [0u8; 256];
    let mut offset = 0;
    while offset < source.len() {
        let count = source.read_into(offset, &mut chunk);
        arch::console_write(&chunk[..count]);
        offset += count;
    }
    Ok(())
}

/// Copies `bytes` to the caller's buffer; the value is their full length either way, so a
/// caller with too small a buffer learns what it needs.
fn copy_out(thread: Tcb, bytes: &[u8], addr: u64, len: u64) -> Result<u64, Refusal> {
    let destination = UserWritable::new(&address_space(thread)?, addr, len)?;
    if destination.len() < bytes.len() {
        return Err(Refusal::new(SyscallError::BufferTooSmall, bytes.len() as u64));
    }
    destination.write(bytes);
    Ok(bytes.len() as u64)
}

/// The caller's boot arguments: the root task's module arguments; no other thread has any.
fn boot_args(thread: Tcb, addr: u64, len: u64) -> Result<u64, Refusal> {
    let args =
        root_task().filter(|root| root.is(thread)).map_or("", |root| root.boot_args.as_str());
    copy_out(thread, args.as_bytes(), addr, len)
}

/// The root task's boot information, for the root task only.
fn boot_info(thread: Tcb, addr: u64, len: u64) -> Result<u64, Refusal> {
    let root = root_task().filter(|root| root.is(thread)).ok_or(SyscallError::IllegalOperation)?;
    copy_out(thread, root.encoded_boot_info(), addr, len)
}

/// A message as the kernel reads it: header, register words, and the sender's IPC buffer
/// for the words beyond them.
#[derive(Debug)]
pub struct Message {
    pub info: MessageInfo,
    registers: [u64; REGISTER_WORDS],
    ipc_buffer: Option<PhysAddr>,
}

impl Message {
    /// How many words a reply to this message can carry: the registers' four without an
    /// IPC buffer. An invocation checks this before acting, so that a reply that could
    /// not be delivered is refused with nothing changed.
    pub fn reply_capacity(&self) -> usize {
        if self.ipc_buffer.is_some() { syscall_abi::ipc::MAX_WORDS } else { REGISTER_WORDS }
    }
}

impl Message {
    /// Message word `index`; past the message's length it is refused as truncated.
    pub fn word(&self, index: usize) -> Result<u64, Refusal> {
        if index >= usize::from(self.info.length) {
            return Err(Refusal::new(SyscallError::TruncatedMessage, index as u64 + 1));
        }
        if let Some(&word) = self.registers.get(index) {
            return Ok(word);
        }
        let buffer = self.ipc_buffer.ok_or(SyscallError::InvalidAddress)?;
        let mut bytes = [0u8; 8];
        let at = buffer.as_u64() + 8 * (ipc_buffer::MESSAGE + index) as u64;
        if !arch::read_physical(at, &mut bytes) {
            return Err(SyscallError::InvalidAddress.into());
        }
        Ok(u64::from_le_bytes(bytes))
    }
}

/// Send or call on the endpoint at `cptr`. A thread that blocks answers nothing now: its
/// result is written when the IPC completes.
fn ipc_send(thread: Tcb, cptr: u64, kind: SendKind) -> Result<u64, Refusal> {
    let (_, cap) = crate::object::cspace::capability(&thread.cspace_root(), cptr)?;
    if Notification::of(&cap).is_some() {
        notification::signal(&cap)?;
    } else {
        ipc::send(thread, &cap, kind)?;
    }
    Ok(0)
}

/// Receive on an endpoint, or wait (poll, when not blocking) on a notification.
fn ipc_receive(thread: Tcb, cptr: u64, blocking: bool) -> Result<u64, Refusal> {
    let (_, cap) = crate::object::cspace::capability(&thread.cspace_root(), cptr)?;
    if Notification::of(&cap).is_some() {
        notification::wait(thread, &cap, blocking)?;
    } else {
        ipc::receive(thread, &cap, blocking)?;
    }
    Ok(0)
}

/// `Call`: on an endpoint capability an IPC call, on any other an invocation. An
/// invocation's reply words go where a received message's would: the first four in
/// registers, the rest in the IPC buffer, with the header in `rsi`.
fn call(thread: Tcb) -> Result<u64, Refusal> {
    let root = thread.cspace_root();
    let (slot, cap) = crate::object::cspace::capability(&root, thread.register(frame::RDI))?;
    if ipc::is_endpoint(&cap) {
        ipc::send(thread, &cap, SendKind::Call)?;
        return Ok(0);
    }
    let info = MessageInfo::from_word(thread.register(frame::RSI))
        .map_err(|_| SyscallError::InvalidLength)?;
    let message = Message {
        info,
        registers: frame::MESSAGE.map(|register| thread.register(register)),
        ipc_buffer: thread.ipc_buffer_frame(),
    };
    // Borrowed, not moved out of the result: a reply is 160 bytes.
    let outcome = crate::object::invoke::invoke(&root, slot, cap, &message);
    let reply = outcome.as_ref().map_err(|&refusal| refusal)?;
    if this_cpu().current_thread() == Some(thread) {
        deliver_reply(thread, &reply.words)?;
    }
    Ok(reply.value)
}

fn deliver_reply(thread: Tcb, words: &[u64]) -> Result<(), Refusal> {
    let info = MessageInfo::new(0, words.len(), 0).map_err(|_| SyscallError::InvalidLength)?;
    if words.len() > REGISTER_WORDS {
        let buffer = thread.ipc_buffer_frame().ok_or(SyscallError::InvalidAddress)?;
        for (index, &word) in words.iter().enumerate().skip(REGISTER_WORDS) {
            let at = buffer.as_u64() + 8 * (ipc_buffer::MESSAGE + index) as u64;
            arch::write_physical(PhysAddr::new(at), &word.to_le_bytes());
        }
    }
    thread.set_register(frame::RSI, info.to_word());
    for (&register, &word) in frame::MESSAGE.iter().zip(words) {
        thread.set_register(register, word);
    }
    Ok(())
}

/// The caller ends: it becomes inactive and the next thread runs.
fn exit_thread(thread: Tcb, code: u64) -> ! {
    ipc::stop(thread);
    log!("thread {} exited with code {code}", thread.name());
    sched::run()
}
