//! Why a call failed: the kernel's refusal with the detail it returned in `rdx`, or a
//! problem `libasi` found before or after asking the kernel.

use core::fmt;

use syscall_abi::SyscallError;
use syscall_abi::boot_info::DecodeError;

/// The message word a detail refers to when it names the invoked capability itself rather
/// than an argument ([`Error::InvalidCapability`]).
pub const INVOKED_CAPABILITY: u64 = u64::MAX;

/// A refused or failed call.
///
/// The variants named after a [`SyscallError`] are the kernel's answers; where the ABI
/// says what `rdx` carries, the variant keeps it under a name saying what it is (a
/// message-word index, a slot offset, a count of bits or words). The last few variants are
/// `libasi`'s own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    UnknownSyscall,
    InvalidAddress,
    InvalidLength,
    /// The caller's buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        needed: u64,
    },
    /// A capability pointer did not resolve: `bits_left` bits were left unresolved.
    LookupFailed {
        bits_left: u64,
    },
    EmptySlot,
    /// The capability is of the wrong type: argument `word`, or [`INVOKED_CAPABILITY`].
    InvalidCapability {
        word: u64,
    },
    IllegalOperation,
    InsufficientRights,
    /// Message word `word` is malformed (a badge, guard or rights mask).
    InvalidArgument {
        word: u64,
    },
    /// Message word `word` is out of range (a size, count, slot index or depth).
    RangeError {
        word: u64,
    },
    AlignmentError,
    /// Destination slot `index` (counted from the first of the range) is occupied.
    DeleteFirst {
        index: u64,
    },
    RevokeFirst,
    NotEnoughMemory,
    /// The message was too short: the invocation needs `needed` words.
    TruncatedMessage {
        needed: u64,
    },
    DeviceMemory,
    NotDerivable,
    WouldBlock,
    IpcCancelled,
    /// A page table the mapping needs is missing: `level` 1 (PDPT), 2 (page directory) or
    /// 3 (page table).
    MissingPageTable {
        level: u64,
    },
    AlreadyMapped,
    /// The untyped region's sensitivity cannot change: it is not whole pageblocks.
    NotPageblocks,
    /// Kernel objects cannot be made from sensitive memory.
    SensitiveMemory,
    /// The kernel's restricted view of memory is wrong at the pageblock at `block`.
    AsiInconsistent {
        block: u64,
    },
    /// A refusal with a known code that has no variant of its own here yet (the ABI grows
    /// faster than this list), with `rdx` as the kernel returned it.
    Kernel {
        error: SyscallError,
        detail: u64,
    },
    /// A status code this library does not know: kernel and `libasi` were built from
    /// different ABI versions.
    UnknownStatus {
        status: u64,
        detail: u64,
    },
    /// A message of more than four words needs the IPC buffer, whose address is unknown
    /// (only the root task learns it, from [`boot::info`](crate::boot::info)).
    NoIpcBuffer,
    /// The boot information the kernel copied out does not decode.
    BootInfo(DecodeError),
    /// `DebugCapIdentify` answered with a kind this library does not know.
    UnknownCapKind(u64),
}

impl Error {
    /// The error for a call that returned `status` in `rax` and `detail` in `rdx`; `None`
    /// when `status` is success.
    pub const fn from_raw(status: u64, detail: u64) -> Option<Self> {
        if status == syscall_abi::SUCCESS {
            return None;
        }
        let Some(error) = SyscallError::from_code(status) else {
            return Some(Self::UnknownStatus { status, detail });
        };
        Some(Self::from_kernel(error, detail))
    }

    /// The error for the kernel's refusal `error` with `detail` from `rdx` (ignored where
    /// the ABI defines none).
    pub const fn from_kernel(error: SyscallError, detail: u64) -> Self {
        match error {
            SyscallError::UnknownSyscall => Self::UnknownSyscall,
            SyscallError::InvalidAddress => Self::InvalidAddress,
            SyscallError::InvalidLength => Self::InvalidLength,
            SyscallError::BufferTooSmall => Self::BufferTooSmall { needed: detail },
            SyscallError::LookupFailed => Self::LookupFailed { bits_left: detail },
            SyscallError::EmptySlot => Self::EmptySlot,
            SyscallError::InvalidCapability => Self::InvalidCapability { word: detail },
            SyscallError::IllegalOperation => Self::IllegalOperation,
            SyscallError::InsufficientRights => Self::InsufficientRights,
            SyscallError::InvalidArgument => Self::InvalidArgument { word: detail },
            SyscallError::RangeError => Self::RangeError { word: detail },
            SyscallError::AlignmentError => Self::AlignmentError,
            SyscallError::DeleteFirst => Self::DeleteFirst { index: detail },
            SyscallError::RevokeFirst => Self::RevokeFirst,
            SyscallError::NotEnoughMemory => Self::NotEnoughMemory,
            SyscallError::TruncatedMessage => Self::TruncatedMessage { needed: detail },
            SyscallError::DeviceMemory => Self::DeviceMemory,
            SyscallError::NotDerivable => Self::NotDerivable,
            SyscallError::WouldBlock => Self::WouldBlock,
            SyscallError::IpcCancelled => Self::IpcCancelled,
            SyscallError::MissingPageTable => Self::MissingPageTable { level: detail },
            SyscallError::AlreadyMapped => Self::AlreadyMapped,
            SyscallError::NotPageblocks => Self::NotPageblocks,
            SyscallError::SensitiveMemory => Self::SensitiveMemory,
            SyscallError::AsiInconsistent => Self::AsiInconsistent { block: detail },
            #[allow(unreachable_patterns, reason = "codes the ABI adds later")]
            error => Self::Kernel { error, detail },
        }
    }

    /// The kernel's error code, if this is a refusal by the kernel with a known code.
    pub const fn kernel_error(&self) -> Option<SyscallError> {
        Some(match self {
            Self::UnknownSyscall => SyscallError::UnknownSyscall,
            Self::InvalidAddress => SyscallError::InvalidAddress,
            Self::InvalidLength => SyscallError::InvalidLength,
            Self::BufferTooSmall { .. } => SyscallError::BufferTooSmall,
            Self::LookupFailed { .. } => SyscallError::LookupFailed,
            Self::EmptySlot => SyscallError::EmptySlot,
            Self::InvalidCapability { .. } => SyscallError::InvalidCapability,
            Self::IllegalOperation => SyscallError::IllegalOperation,
            Self::InsufficientRights => SyscallError::InsufficientRights,
            Self::InvalidArgument { .. } => SyscallError::InvalidArgument,
            Self::RangeError { .. } => SyscallError::RangeError,
            Self::AlignmentError => SyscallError::AlignmentError,
            Self::DeleteFirst { .. } => SyscallError::DeleteFirst,
            Self::RevokeFirst => SyscallError::RevokeFirst,
            Self::NotEnoughMemory => SyscallError::NotEnoughMemory,
            Self::TruncatedMessage { .. } => SyscallError::TruncatedMessage,
            Self::DeviceMemory => SyscallError::DeviceMemory,
            Self::NotDerivable => SyscallError::NotDerivable,
            Self::WouldBlock => SyscallError::WouldBlock,
            Self::IpcCancelled => SyscallError::IpcCancelled,
            Self::MissingPageTable { .. } => SyscallError::MissingPageTable,
            Self::AlreadyMapped => SyscallError::AlreadyMapped,
            Self::NotPageblocks => SyscallError::NotPageblocks,
            Self::SensitiveMemory => SyscallError::SensitiveMemory,
            Self::AsiInconsistent { .. } => SyscallError::AsiInconsistent,
            Self::Kernel { error, .. } => *error,
            Self::UnknownStatus { .. }
            | Self::NoIpcBuffer
            | Self::BootInfo(_)
            | Self::UnknownCapKind(_) => return None,
        })
    }

    /// The detail the kernel returned in `rdx` with the error, where the ABI defines one.
    pub const fn detail(&self) -> Option<u64> {
        match *self {
            Self::BufferTooSmall { needed: value }
            | Self::LookupFailed { bits_left: value }
            | Self::InvalidCapability { word: value }
            | Self::InvalidArgument { word: value }
            | Self::RangeError { word: value }
            | Self::DeleteFirst { index: value }
            | Self::TruncatedMessage { needed: value }
            | Self::MissingPageTable { level: value }
            | Self::AsiInconsistent { block: value }
            | Self::Kernel { detail: value, .. }
            | Self::UnknownStatus { detail: value, .. } => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed } => write!(f, "buffer too small ({needed} needed)"),
            Self::LookupFailed { bits_left } => {
                write!(f, "lookup failed ({bits_left} bits left)")
            }
            Self::InvalidCapability { word: INVOKED_CAPABILITY } => {
                f.write_str("invalid capability (the invoked one)")
            }
            Self::InvalidCapability { word } => write!(f, "invalid capability (word {word})"),
            Self::InvalidArgument { word } => write!(f, "invalid argument (word {word})"),
            Self::RangeError { word } => write!(f, "range error (word {word})"),
            Self::DeleteFirst { index } => write!(f, "delete first (slot +{index})"),
            Self::TruncatedMessage { needed } => {
                write!(f, "truncated message ({needed} words needed)")
            }
            Self::MissingPageTable { level } => write!(f, "missing page table (level {level})"),
            Self::Kernel { error, detail } => write!(f, "{} (detail {detail:#x})", error.name()),
            Self::UnknownStatus { status, detail } => {
                write!(f, "unknown status code {status} (detail {detail:#x})")
            }
            Self::NoIpcBuffer => f.write_str("the IPC buffer's address is unknown"),
            Self::BootInfo(error) => write!(f, "boot information does not decode: {error:?}"),
            Self::UnknownCapKind(code) => write!(f, "unknown capability kind {code}"),
            _ => match self.kernel_error() {
                Some(error) => f.write_str(error.name()),
                None => f.write_str("unknown error"),
            },
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_no_error() {
        assert_eq!(Error::from_raw(syscall_abi::SUCCESS, 5), None);
    }

    #[test]
    fn every_code_round_trips_and_keeps_its_detail_where_defined() {
        let with_detail = [4, 5, 7, 10, 11, 13, 16, 21, 25];
        for code in (1..).take_while(|&code| SyscallError::from_code(code).is_some()) {
            let error = Error::from_raw(code, 42).unwrap();
            assert_eq!(error.kernel_error().map(SyscallError::code), Some(code));
            {
                let expected = if with_detail.contains(&code) { Some(42) } else { None };
                assert_eq!(error.detail(), expected, "{error:?}");
            }
        }
    }

    #[test]
    fn details_are_named() {
        assert_eq!(Error::from_raw(5, 12), Some(Error::LookupFailed { bits_left: 12 }));
        assert_eq!(Error::from_raw(10, 6), Some(Error::InvalidArgument { word: 6 }));
        assert_eq!(Error::from_raw(11, 4), Some(Error::RangeError { word: 4 }));
        assert_eq!(Error::from_raw(13, 3), Some(Error::DeleteFirst { index: 3 }));
        assert_eq!(Error::from_raw(16, 6), Some(Error::TruncatedMessage { needed: 6 }));
        assert_eq!(Error::from_raw(4, 300), Some(Error::BufferTooSmall { needed: 300 }));
        assert_eq!(Error::from_raw(6, 99), Some(Error::EmptySlot));
        assert_eq!(Error::from_raw(21, 2), Some(Error::MissingPageTable { level: 2 }));
        assert_eq!(Error::from_raw(22, 5), Some(Error::AlreadyMapped));
    }

    #[test]
    fn unknown_codes_are_kept_whole() {
        let error = Error::from_raw(77, 9).unwrap();
        assert_eq!(error, Error::UnknownStatus { status: 77, detail: 9 });
        assert_eq!(error.kernel_error(), None);
    }

    #[test]
    fn display_says_what_the_detail_is() {
        let text = |error: Error| error.to_string();
        assert_eq!(text(Error::LookupFailed { bits_left: 52 }), "lookup failed (52 bits left)");
        assert_eq!(
            text(Error::InvalidCapability { word: u64::MAX }),
            "invalid capability (the invoked one)"
        );
        assert_eq!(text(Error::EmptySlot), "empty slot");
        assert_eq!(text(Error::DeleteFirst { index: 0 }), "delete first (slot +0)");
    }
}
