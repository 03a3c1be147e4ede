//! What a program learns at boot: its arguments (the command line of the boot module it
//! was loaded from) and, for the root task, its initial capabilities ([`info`]).

use core::fmt;
use core::str::Utf8Error;

use syscall_abi::Syscall;
use syscall_abi::boot_info::ENCODED_MAX;

pub use syscall_abi::boot_info::{BootInfo, ModuleDescriptor, SlotRange, UntypedDescriptor, slot};

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
        Err(Error::BufferTooSmall { needed }) => {
            Err(BootArgsError::BufferTooSmall { needed: needed as usize })
        }
        Err(error) => Err(BootArgsError::Kernel(error)),
    }
}

/// The root task's boot information: its root CNode's size, the slots holding untyped
/// memory and boot-module frames, the empty slots, and where its IPC buffer is.
///
/// Also records the IPC buffer's address for [`syscall::call`](crate::syscall::call), so
/// invocations of more than four words work from then on. Only the root task has boot
/// information; the kernel refuses the call ([`Error::IllegalOperation`]) for others.
pub fn info() -> Result<BootInfo, Error> {
    let mut buf = [0u8; ENCODED_MAX];
    let len = info_into(&mut buf)?;
    let info = decode_info(&buf, len)?;
    crate::syscall::set_ipc_buffer(info.ipc_buffer);
    Ok(info)
}

/// The largest untyped region of RAM and its size in bits, where a root task usually makes
/// its objects from (after making it nonsensitive: see [`Sensitivity`](crate::cap::Sensitivity)).
pub fn largest_ram(info: &BootInfo) -> Option<(crate::cap::Cap<crate::cap::Untyped>, u8)> {
    info.largest_ram().map(|(slot, bits)| (crate::cap::Cap::from_slot(slot), bits))
}

/// The raw `BootInfo` call: copies the encoded boot information into `buf` and returns its
/// length. A buffer of [`ENCODED_MAX`] bytes always suffices.
pub fn info_into(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: BootInfo writes at most `buf.len()` bytes at `buf`, which we borrow
    // exclusively for the call, and reads nothing from it.
    let raw =
        unsafe { syscall2(Syscall::BootInfo.number(), buf.as_mut_ptr() as u64, buf.len() as u64) };
    raw.result().map(|len| len as usize)
}

/// Decodes the first `len` bytes of `buf` as boot information.
fn decode_info(buf: &[u8], len: usize) -> Result<BootInfo, Error> {
    let bytes = buf.get(..len).ok_or(Error::BufferTooSmall { needed: len as u64 })?;
    BootInfo::decode(bytes).map_err(Error::BootInfo)
}

#[cfg(test)]
mod tests {
    use syscall_abi::SyscallError;
    use syscall_abi::boot_info::DecodeError;

    use super::*;

    #[test]
    fn boot_information_decodes_from_the_copied_prefix() {
        let mut info = BootInfo::new(12);
        info.ipc_buffer = 0x7fff_0000_0000;
        info.empty = SlotRange { start: 40, end: 4096 };
        let mut buf = [0xaa; ENCODED_MAX];
        let len = info.encode(&mut buf).unwrap();
        assert_eq!(decode_info(&buf, len), Ok(info));
        assert_eq!(decode_info(&buf, len - 1), Err(Error::BootInfo(DecodeError::Truncated)));
        assert_eq!(
            decode_info(&buf, ENCODED_MAX + 1),
            Err(Error::BufferTooSmall { needed: ENCODED_MAX as u64 + 1 })
        );
    }

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
        let expected = BootArgsError::Kernel(Error::InvalidAddress);
        assert_eq!(interpret(raw, &[0; 4]), Err(expected));
        let raw = RawReturn { status: 99, value: 0 };
        assert_eq!(
            interpret(raw, &[]),
            Err(BootArgsError::Kernel(Error::UnknownStatus { status: 99, detail: 0 }))
        );
    }
}
