//! The `syscalls` run: every way the kernel must refuse or honour a call.

use libasi::SyscallError::{BufferTooSmall, InvalidAddress, InvalidLength, UnknownSyscall};
use libasi::syscall::{syscall0, syscall2};
use syscall_abi::{DEBUG_WRITE_MAX, Syscall, USER_SPACE_END};

use crate::registers;
use crate::report::{Failure, Tally, Want};

/// The boot arguments that select this run; BootArgs checks expect to read them back.
pub const ARGS: &str = "syscalls";

const UNKNOWN_NUMBERS: [(&str, u64); 4] = [
    ("user::unknown_syscall_0_rejected", 0),
    ("user::unknown_syscall_64_rejected", 64),
    ("user::unknown_syscall_1000_rejected", 1000),
    ("user::unknown_syscall_max_rejected", u64::MAX),
];

/// Ranges DebugWrite must refuse as an invalid address: `(name, pointer, length)`.
const BAD_RANGES: [(&str, u64, u64); 7] = [
    ("user::debug_write_kernel_half_rejected", 0xffff_8000_0000_0000, 8),
    ("user::debug_write_kernel_image_rejected", 0xffff_ffff_8000_0000, 8),
    ("user::debug_write_non_canonical_rejected", 0x0000_8000_0000_0000, 8),
    ("user::debug_write_crossing_user_end_rejected", USER_SPACE_END - 8, 16),
    ("user::debug_write_wrapping_rejected", u64::MAX - 7, 16),
    ("user::debug_write_null_page_rejected", 0x10, 8),
    ("user::debug_write_unmapped_rejected", 0x7000_0000_0000, 8),
];

/// One byte over the limit, mapped and readable, so only the length can be wrong. Ends
/// in a newline so that a kernel wrongly printing it leaves the next line parseable.
static TOO_LONG: [u8; DEBUG_WRITE_MAX as usize + 1] = {
    let mut bytes = [b'x'; DEBUG_WRITE_MAX as usize + 1];
    bytes[DEBUG_WRITE_MAX as usize] = b'\n';
    bytes
};

/// An immutable static: it lives in `.rodata`, which the loader maps without write access.
static READ_ONLY: [u8; 64] = [0xa5; 64];

const UNTOUCHED: u8 = 0xaa;

pub fn run() {
    let mut tally = Tally::default();
    for (name, number) in UNKNOWN_NUMBERS {
        tally.record(name, unknown_syscall(number));
    }
    for (name, pointer, len) in BAD_RANGES {
        tally.record(name, debug_write(pointer, len, Want::Refused(InvalidAddress)));
    }
    tally.record(
        "user::debug_write_too_long_rejected",
        debug_write(TOO_LONG.as_ptr() as u64, TOO_LONG.len() as u64, Want::Refused(InvalidLength)),
    );
    tally
        .record("user::debug_write_empty_accepted", debug_write(ARGS.as_ptr() as u64, 0, Want::Ok));
    let line = b"probe: a valid DebugWrite\n";
    tally.record(
        "user::debug_write_accepted",
        debug_write(line.as_ptr() as u64, line.len() as u64, Want::Ok),
    );
    tally.record("user::boot_args_read_only_buffer_rejected", boot_args_read_only());
    tally.record("user::boot_args_small_buffer_rejected", boot_args_small_buffer());
    tally.record("user::boot_args_read", boot_args_read());
    tally.record(
        "user::registers_preserved_across_syscall",
        registers::preserved_across_syscall(Syscall::DebugWrite),
    );
    tally.record(
        "user::registers_preserved_across_null_syscall",
        registers::preserved_across_syscall(Syscall::Null),
    );
    tally.record(
        "user::vector_registers_survive_kernel_entries",
        registers::vector_registers_survive_kernel_entries(),
    );
    tally.record(
        "user::non_canonical_stack_pointer_survives_kernel_entries",
        registers::non_canonical_stack_pointer_survives_kernel_entries(),
    );
    tally.finish();
}

fn unknown_syscall(number: u64) -> Result<(), Failure> {
    if Syscall::from_number(number).is_some() {
        return Err(Failure::NumberInUse(number));
    }
    // SAFETY: the ABI assigns no call to `number` (checked above), so the kernel must
    // refuse it without acting on the argument registers.
    let got = unsafe { syscall0(number) };
    Want::Refused(UnknownSyscall).check(got)
}

fn debug_write(pointer: u64, len: u64, want: Want) -> Result<(), Failure> {
    // SAFETY: DebugWrite only reads the range it is given, whatever it is; a call that
    // writes nothing into this program cannot break its memory safety.
    let got = unsafe { syscall2(Syscall::DebugWrite.number(), pointer, len) };
    want.check(got)
}

fn boot_args_read_only() -> Result<(), Failure> {
    // The buffer is longer than the arguments, so only the permission is at fault; a
    // kernel that tried the copy anyway would fault on the page (it keeps CR0.WP set).
    // SAFETY: READ_ONLY sits in a page mapped without write access, which BootArgs must
    // refuse before copying anything, so READ_ONLY cannot change.
    let got = unsafe {
        syscall2(Syscall::BootArgs.number(), READ_ONLY.as_ptr() as u64, READ_ONLY.len() as u64)
    };
    Want::Refused(InvalidAddress).check(got)
}

fn boot_args_small_buffer() -> Result<(), Failure> {
    let mut buf = [UNTOUCHED; 16];
    let short = ARGS.len() as u64 - 1;
    // SAFETY: BootArgs writes at most `short` bytes at `buf`, a local array we borrow
    // exclusively and which is longer than that.
    let got = unsafe { syscall2(Syscall::BootArgs.number(), buf.as_mut_ptr() as u64, short) };
    Want::RefusedWith(BufferTooSmall, ARGS.len() as u64).check(got)?;
    match buf.iter().position(|&byte| byte != UNTOUCHED) {
        Some(index) => Err(Failure::BufferWritten { index, byte: buf[index] }),
        None => Ok(()),
    }
}

fn boot_args_read() -> Result<(), Failure> {
    let mut buf = [0; 16];
    // SAFETY: BootArgs writes at most `buf.len()` bytes at `buf`, a local array we borrow
    // exclusively.
    let got =
        unsafe { syscall2(Syscall::BootArgs.number(), buf.as_mut_ptr() as u64, buf.len() as u64) };
    Want::OkWith(ARGS.len() as u64).check(got)?;
    if buf.starts_with(ARGS.as_bytes()) { Ok(()) } else { Err(Failure::ReadBack(buf)) }
}
