use core::fmt;

use syscall_abi::SyscallError;

/// A system call the kernel refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel answered with one of the codes of the ABI.
    Kernel(SyscallError),
    /// The kernel answered with a status code this library does not know, which means
    /// the kernel and `libasi` were built from different ABI versions.
    UnknownCode(u64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(error) => f.write_str(error.name()),
            Self::UnknownCode(code) => write!(f, "unknown status code {code}"),
        }
    }
}

impl core::error::Error for Error {}
