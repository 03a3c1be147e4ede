//! The calling thread.

use syscall_abi::Syscall;

use crate::syscall::syscall1_noreturn;

/// The exit code of a thread that panicked.
pub const PANIC_EXIT_CODE: u64 = 101;

/// Ends the calling thread with exit code `code`.
pub fn exit(code: u64) -> ! {
    // SAFETY: ThreadExit reads no memory through its argument; `code` is a plain number.
    unsafe { syscall1_noreturn(Syscall::ThreadExit.number(), code) }
}
