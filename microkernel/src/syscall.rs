//! System calls: decode, check every argument, act, answer.

use crate::arch::UserContext;
use crate::cpu::this_cpu;
use crate::sched;
use crate::thread::{Thread, ThreadId, ThreadTable, threads};
use crate::usercopy::{UserReadable, UserWritable};
use spin::MutexGuard;
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
        None => Err(SyscallError::UnknownSyscall.into()),
    };
    let thread = caller(&mut table, id);
    thread.context = *frame;
    match outcome {
        Ok(value) => thread.context.set_syscall_result(syscall_abi::SUCCESS, value),
        Err(Refusal { error, value }) => thread.context.set_syscall_result(error.code(), value),
    }
    let context = thread.context;
    drop(table);
    crate::arch::enter_user(&context)
}

/// A refused call: the error, and the value returned beside it (0 unless the error's
/// documentation says otherwise).
struct Refusal {
    error: SyscallError,
    value: u64,
}

impl From<SyscallError> for Refusal {
    fn from(error: SyscallError) -> Self {
        Self { error, value: 0 }
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
        crate::arch::console_write(&chunk[..count]);
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
        return Err(Refusal { error: SyscallError::BufferTooSmall, value: args.len() as u64 });
    }
    destination.write(args);
    Ok(args.len() as u64)
}

fn exit_thread(mut table: MutexGuard<'static, ThreadTable>, id: ThreadId, code: u64) -> ! {
    let thread = table.remove(id).expect("the caller is in the table");
    sched::forget_fpu_owner(id);
    log!("thread {} exited with code {code}", thread.name);
    sched::run_next(table)
}
