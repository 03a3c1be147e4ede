//! The two checks that need system calls libasi's safe API cannot express: an unknown
//! call number, and a buffer address in the kernel half.

use libasi::Error;
use libasi::syscall::{syscall0, syscall2};
use syscall_abi::Syscall;

/// A call number the ABI does not assign.
pub const UNASSIGNED: u64 = 99;

/// Issues call number [`UNASSIGNED`].
pub fn unknown_syscall() -> Result<u64, Error> {
    // SAFETY: no system call has this number, so the kernel touches no memory; the
    // argument registers are irrelevant.
    unsafe { syscall0(UNASSIGNED) }.result()
}

/// Asks for the boot information to be written at a kernel address.
pub fn boot_info_to_kernel_half() -> Result<u64, Error> {
    // SAFETY: the address is in the kernel half, which the kernel refuses to write for a
    // user; no memory of ours is named.
    unsafe { syscall2(Syscall::BootInfo.number(), 0xffff_8000_0000_0000, 4096) }.result()
}
