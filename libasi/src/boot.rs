//! The program's boot arguments: the command line of the boot module it was loaded from.

use core::fmt;
use core::str::Utf8Error;

use syscall_abi::{Syscall, SyscallError};

use crate::Error;
use crate::syscall::{RawReturn, syscall2};

/// Why [`args`] could not produce the boot arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootArgsError {
    /// The buffer is shorter than the arguments; `needed` bytes would do.
    BufferTooSmall {
        /// The full length of the arguments.
        needed: usize,
    },
    /// The arguments are not UTF-8.
    InvalidUtf8(Utf8Error),
    /// The kernel refused the call for another reason.
    Kernel(Error),
}

impl fmt::Display for BootArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => write!(f, "boot arguments need {needed} bytes"),
            Self::InvalidUtf8(error) => write!(f, "boot arguments are not UTF-8: {error}"),
            Self::Kernel(error) => write!(f, "boot arguments unavailable: {error}"),
        }
    }
}

impl core::error::Error for BootArgsError {}

/// Copies the boot arguments into `buf` and returns them as text.
pub fn args(buf: &mut [u8]) -> Result<&str, BootArgsError> {
    // SAFETY: BootArgs writes at most `buf.len()` bytes at `buf`, which we borrow
    // exclusively for the call, and reads nothing from it.
    let raw =
        unsafe { syscall2(Syscall::BootArgs.number(), buf.as_mut_ptr() as u64, buf.len() as u64) };
    interpret(raw, buf)
}

/// Turns the kernel's answer to a BootArgs call into the text it left in `buf`.
fn interpret(raw: RawReturn, buf: &[u8]) -> Result<&str, BootArgsError> {
    match raw.result() {
        Ok(len) => {
            // A success longer than the buffer can only come from a confused kernel; the
            // caller's remedy is the same as for an honest refusal.
            let bytes = buf
                .get(..len as usize)
                .ok_or(BootArgsError::BufferTooSmall { needed: len as usize })?;
            core::str::from_utf8(bytes).map_err(BootArgsError::InvalidUtf8)
        }
        Err(Error::Kernel(SyscallError::BufferTooSmall)) => {
            Err(BootArgsError::BufferTooSmall { needed: raw.value as usize })
        }
        Err(error) => Err(BootArgsError::Kernel(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(len: u64) -> RawReturn {
        RawReturn { status: syscall_abi::SUCCESS, value: len }
    }

    #[test]
    fn success_returns_the_copied_prefix() {
        assert_eq!(interpret(ok(8), b"syscalls\0\0\0"), Ok("syscalls"));
        assert_eq!(interpret(ok(0), b"junk"), Ok(""));
    }

    #[test]
    fn too_small_reports_the_needed_length() {
        let raw = RawReturn { status: SyscallError::BufferTooSmall.code(), value: 300 };
        assert_eq!(interpret(raw, &[0; 4]), Err(BootArgsError::BufferTooSmall { needed: 300 }));
    }

    #[test]
    fn success_beyond_the_buffer_is_too_small() {
        assert_eq!(interpret(ok(9), b"abc"), Err(BootArgsError::BufferTooSmall { needed: 9 }));
    }

    #[test]
    fn invalid_utf8_is_its_own_error() {
        assert!(matches!(interpret(ok(2), b"\xff\xfe"), Err(BootArgsError::InvalidUtf8(_))));
    }

    #[test]
    fn other_refusals_pass_through() {
        let raw = RawReturn { status: SyscallError::InvalidAddress.code(), value: 0 };
        let expected = BootArgsError::Kernel(Error::Kernel(SyscallError::InvalidAddress));
        assert_eq!(interpret(raw, &[0; 4]), Err(expected));
        let raw = RawReturn { status: 99, value: 0 };
        assert_eq!(interpret(raw, &[]), Err(BootArgsError::Kernel(Error::UnknownCode(99))));
    }
}
