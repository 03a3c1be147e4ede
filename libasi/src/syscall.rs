//! Raw system calls: the only place user space executes the `syscall` instruction.
//!
//! The register contract is [`syscall_abi`]'s: number in `rax`, arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, `r8`, `r9`; status back in `rax`, value in `rdx`; `rcx` and `r11` are
//! clobbered by the instruction. Only the arities some caller needs exist.

use core::arch::asm;

use crate::Error;

/// What a system call left in `rax` and `rdx`, before interpretation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawReturn {
    /// `rax`: [`syscall_abi::SUCCESS`] or a [`SyscallError`](crate::SyscallError) code.
    pub status: u64,
    /// `rdx`: the call-specific value.
    pub value: u64,
}

impl RawReturn {
    /// The value on success, otherwise the kernel's error.
    pub const fn result(self) -> Result<u64, Error> {
        match syscall_abi::decode_result(self.status, self.value) {
            Ok(value) => Ok(value),
            Err(Some(error)) => Err(Error::Kernel(error)),
            Err(None) => Err(Error::UnknownCode(self.status)),
        }
    }
}

/// Issues system call `number` with no arguments.
///
/// # Safety
///
/// Whatever call `number` names must not touch memory in a way the caller has not
/// accounted for; the argument registers hold arbitrary values.
pub unsafe fn syscall0(number: u64) -> RawReturn {
    let (status, value);
    // SAFETY: `syscall` changes only rax, rdx, rcx and r11 (all declared) and, through the
    // kernel, whatever memory the call names, which the caller vouches for. The kernel runs
    // on its own stack, so nothing below our rsp is touched.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Issues system call `number` with arguments `a0` (`rdi`) and `a1` (`rsi`).
///
/// # Safety
///
/// If the call reads or writes memory through its arguments, that memory must be valid
/// for the access: any bytes the kernel may write must be exclusively borrowed by the
/// caller, and any it may read must stay unchanged during the call.
pub unsafe fn syscall2(number: u64, a0: u64, a1: u64) -> RawReturn {
    let (status, value);
    // SAFETY: as in `syscall0`; memory reached through `a0`/`a1` is the caller's promise.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            in("rdi") a0,
            in("rsi") a1,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Issues system call `number` with argument `a0` (`rdi`), for a call that never returns.
///
/// Should the kernel return anyway, the `ud2` behind the `syscall` makes the thread fault
/// instead of running on past a point the compiler believes unreachable.
///
/// # Safety
///
/// As for [`syscall2`]: any memory the call reaches through `a0` must be valid for it.
pub unsafe fn syscall1_noreturn(number: u64, a0: u64) -> ! {
    // SAFETY: as in `syscall0`; the call does not return, so no register needs restoring.
    unsafe {
        asm!(
            "syscall",
            "ud2",
            in("rax") number,
            in("rdi") a0,
            options(noreturn, nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    use syscall_abi::SyscallError;

    use super::*;

    #[test]
    fn success_yields_the_value() {
        let raw = RawReturn { status: syscall_abi::SUCCESS, value: 42 };
        assert_eq!(raw.result(), Ok(42));
    }

    #[test]
    fn known_codes_become_kernel_errors() {
        let raw = RawReturn { status: SyscallError::InvalidAddress.code(), value: 9 };
        assert_eq!(raw.result(), Err(Error::Kernel(SyscallError::InvalidAddress)));
    }

    #[test]
    fn unknown_codes_are_kept() {
        let raw = RawReturn { status: 77, value: 0 };
        assert_eq!(raw.result(), Err(Error::UnknownCode(77)));
    }
}
