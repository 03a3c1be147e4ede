//! The `TEST` lines the host harness reads, and what a failed check says.

use core::fmt;

use libasi::SyscallError;
use libasi::println;
use libasi::syscall::RawReturn;

/// What a check needs a system call to return.
#[derive(Clone, Copy, Debug)]
pub enum Want {
    /// Success, whatever `rdx` holds.
    Ok,
    /// Success with this value in `rdx`.
    OkWith(u64),
    /// This refusal, whatever `rdx` holds.
    Refused(SyscallError),
    /// This refusal with this value in `rdx`.
    RefusedWith(SyscallError, u64),
}

impl Want {
    /// Passes if `got` is what is wanted, otherwise fails saying what came back.
    pub fn check(self, got: RawReturn) -> Result<(), Failure> {
        let (status, value) = match self {
            Self::Ok => (syscall_abi::SUCCESS, None),
            Self::OkWith(value) => (syscall_abi::SUCCESS, Some(value)),
            Self::Refused(error) => (error.code(), None),
            Self::RefusedWith(error, value) => (error.code(), Some(value)),
        };
        if got.status == status && value.is_none_or(|value| got.value == value) {
            Ok(())
        } else {
            Err(Failure::Returned { want: self, got })
        }
    }
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("success"),
            Self::OkWith(value) => write!(f, "success with rdx={value}"),
            Self::Refused(error) => f.write_str(error.name()),
            Self::RefusedWith(error, value) => write!(f, "{} with rdx={value}", error.name()),
        }
    }
}

/// Why a check failed.
#[derive(Debug)]
pub enum Failure {
    /// A call returned something else than wanted.
    Returned { want: Want, got: RawReturn },
    /// The ABI now names this number, so issuing it would no longer test a refusal.
    NumberInUse(u64),
    /// A refused call changed the caller's buffer anyway.
    BufferWritten { index: usize, byte: u8 },
    /// BootArgs succeeded but the buffer holds other text.
    ReadBack([u8; 16]),
    /// A register other than rax, rdx, rcx and r11 changed across a call.
    Register { name: &'static str, sent: u64, got: u64 },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Returned { want, got } => write!(
                f,
                "expected {want}, got rax={} ({}) rdx={:#x}",
                got.status,
                status_name(got.status),
                got.value
            ),
            Self::NumberInUse(number) => write!(f, "syscall number {number} is assigned"),
            Self::BufferWritten { index, byte } => {
                write!(f, "buffer byte {index} changed to {byte:#04x}")
            }
            Self::ReadBack(bytes) => write!(f, "buffer holds \"{}\"", bytes.escape_ascii()),
            Self::Register { name, sent, got } => {
                write!(f, "{name} was {sent:#x} before the call and {got:#x} after")
            }
        }
    }
}

fn status_name(status: u64) -> &'static str {
    match SyscallError::from_code(status) {
        Some(error) => error.name(),
        None if status == syscall_abi::SUCCESS => "success",
        None => "unknown code",
    }
}

/// Counts outcomes and prints one line for each.
#[derive(Debug, Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    pub fn record(&mut self, name: &str, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("TEST PASS {name}");
            }
            Err(failure) => {
                self.failed += 1;
                println!("TEST FAIL {name} {failure}");
            }
        }
    }

    pub fn finish(self) {
        println!("TEST DONE {} {}", self.passed, self.failed);
    }
}
