//! System calls: decode, check every argument, act, answer.

use crate::arch::{self, PhysAddr, UserContext};
use crate::cpu::this_cpu;
use crate::sched;
use crate::thread::{Thread, ThreadId, ThreadTable, threads};
use crate::usercopy::{UserReadable, UserWritable};
use spin::MutexGuard;
use syscall_abi::ipc::{MessageInfo, REGISTER_WORDS, ipc_buffer};
use syscall_abi::{DEBUG_WRITE_MAX, Syscall, SyscallError};

/// Handles the system call whose registers are in `frame` and returns to user mode.
pub fn handle(frame: &mut UserContext) -> ! {
    let mut table = threads();
    let id = this_cpu().current_thread().expect("a system call comes from the current thread");
    let (number, args) = (frame.rax, [frame.rdi, frame.rsi]);
    let outcome = match Syscall::from_number(number) {
        Some(Syscall::ThreadExit) => exit_thread(table, id, args[0]),
        Some(Syscall::DebugWrite) => {
            debug_write(caller(&mut table, id), args[0], args[1]).map(|()| 0)
        }
        Some(Syscall::BootArgs) => boot_args(caller(&mut table, id), args[0], args[1]),
        Some(Syscall::BootInfo) => boot_info(caller(&mut table, id), args[0], args[1]),
        Some(Syscall::Call) => call(caller(&mut table, id), frame),
        Some(Syscall::DebugCapIdentify) => {
            crate::object::cspace::identify(&caller(&mut table, id).cspace_root, args[0])
        }
        None => Err(SyscallError::UnknownSyscall.into()),
    };
    let thread = caller(&mut table, id);
    thread.context = *frame;
    match outcome {
        Ok(value) => thread.context.set_syscall_result(syscall_abi::SUCCESS, value),
        Err(Refusal { error, detail }) => thread.context.set_syscall_result(error.code(), detail),
    }
    let context = thread.context;
    drop(table);
    arch::enter_user(&context)
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

fn caller(table: &mut ThreadTable, id: ThreadId) -> &mut Thread {
    table.get_mut(id).expect("the current thread is in the table")
}

fn debug_write(thread: &Thread, addr: u64, len: u64) -> Result<(), Refusal> {
    if len > DEBUG_WRITE_MAX {
        return Err(SyscallError::InvalidLength.into());
    }
    let source = UserReadable::new(&thread.address_space, addr, len)?;
    let mut chunk = [0u8; 256];
    let mut offset = 0;
    while offset < source.len() {
        let count = source.read_into(offset, &mut chunk);
        arch::console_write(&chunk[..count]);
        offset += count;
    }
    Ok(())
}

/// Copies the caller's boot arguments out; the value is their full length either way, so
/// a caller with too small a buffer learns what it needs.
fn boot_args(thread: &Thread, addr: u64, len: u64) -> Result<u64, Refusal> {
    let args = thread.boot_args.as_bytes();
    let destination = UserWritable::new(&thread.address_space, addr, len)?;
    if destination.len() < args.len() {
        return Err(Refusal::new(SyscallError::BufferTooSmall, args.len() as u64));
    }
    destination.write(args);
    Ok(args.len() as u64)
}

/// Copies the caller's boot information out (the root task's only); the value is its
/// encoded length either way.
fn boot_info(thread: &Thread, addr: u64, len: u64) -> Result<u64, Refusal> {
    let encoded = thread.boot_info.ok_or(SyscallError::IllegalOperation)?;
    let destination = UserWritable::new(&thread.address_space, addr, len)?;
    if destination.len() < encoded.len() {
        return Err(Refusal::new(SyscallError::BufferTooSmall, encoded.len() as u64));
    }
    destination.write(encoded);
    Ok(encoded.len() as u64)
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

/// `Call` on a kernel object's capability: an invocation.
fn call(thread: &Thread, frame: &UserContext) -> Result<u64, Refusal> {
    let info = MessageInfo::from_word(frame.rsi).map_err(|_| SyscallError::InvalidLength)?;
    let message = Message {
        info,
        registers: [frame.r10, frame.r8, frame.r9, frame.r15],
        ipc_buffer: thread.ipc_buffer,
    };
    crate::object::invoke::invoke(&thread.cspace_root, frame.rdi, &message)
}

fn exit_thread(mut table: MutexGuard<'static, ThreadTable>, id: ThreadId, code: u64) -> ! {
    let thread = table.remove(id).expect("the caller is in the table");
    sched::forget_fpu_owner(id);
    log!("thread {} exited with code {code}", thread.name);
    sched::run_next(table)
}
