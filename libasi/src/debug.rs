//! Output to the kernel's debug console.

mod line_buffer;

use core::fmt;

use syscall_abi::invocation::CapKind;
use syscall_abi::{DEBUG_WRITE_MAX, Syscall};

use crate::Error;
use crate::cap::CPtr;
use crate::syscall::{RawReturn, syscall1, syscall2};
use line_buffer::LineBuffer;

/// Writes `bytes` to the debug console, in as many calls as the kernel's
/// [`DEBUG_WRITE_MAX`] requires.
pub fn write(bytes: &[u8]) -> Result<(), Error> {
    for chunk in chunks(bytes) {
        // SAFETY: DebugWrite only reads `chunk.len()` bytes at `chunk`, a live shared
        // borrow that nothing can change during the call.
        let raw = unsafe {
            syscall2(Syscall::DebugWrite.number(), chunk.as_ptr() as u64, chunk.len() as u64)
        };
        raw.result()?;
    }
    Ok(())
}

/// What kind of capability `cptr` names in the caller's CSpace (at depth 64):
/// [`CapKind::Null`] for an empty slot. For tests and debugging (`DebugCapIdentify`).
pub fn cap_identify(cptr: CPtr) -> Result<CapKind, Error> {
    // SAFETY: DebugCapIdentify reads no memory through its argument, a capability pointer.
    let raw = unsafe { syscall1(Syscall::DebugCapIdentify.number(), cptr.0) };
    identified(raw)
}

fn identified(raw: RawReturn) -> Result<CapKind, Error> {
    let code = raw.result()?;
    CapKind::from_code(code).ok_or(Error::UnknownCapKind(code))
}

/// The pieces one [`write`] hands to the kernel; none for an empty buffer.
fn chunks(bytes: &[u8]) -> core::slice::Chunks<'_, u8> {
    bytes.chunks(DEBUG_WRITE_MAX as usize)
}

/// The debug console as a [`fmt::Write`] target, unbuffered: every piece of formatted
/// output becomes its own system call. [`print!`](crate::print) buffers lines instead.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Formats `args` to the debug console, handing each line (up to a few hundred bytes) to
/// the kernel in one system call so that lines of concurrent programs do not interleave.
/// The backend of [`print!`](crate::print) and [`println!`](crate::println).
///
/// A refused write is dropped: the console is where it would have been reported.
pub fn print(args: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new(write);
    if fmt::write(&mut line, args).is_ok() {
        let _ = line.flush();
    }
}

/// Prints to the kernel's debug console, like `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::debug::print(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the kernel's debug console, like `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print!("\n")
    };
    ($($arg:tt)*) => {
        $crate::debug::print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(len: usize) -> Vec<usize> {
        chunks(&vec![0; len]).map(<[u8]>::len).collect()
    }

    #[test]
    fn identify_decodes_kinds_and_passes_refusals() {
        let ok = |value| RawReturn { status: syscall_abi::SUCCESS, value };
        assert_eq!(identified(ok(5)), Ok(CapKind::CNode));
        assert_eq!(identified(ok(0)), Ok(CapKind::Null));
        assert_eq!(identified(ok(99)), Err(Error::UnknownCapKind(99)));
        let refused = RawReturn { status: 5, value: 64 };
        assert_eq!(identified(refused), Err(Error::LookupFailed { bits_left: 64 }));
    }

    #[test]
    fn empty_writes_issue_no_call() {
        assert!(lengths(0).is_empty());
    }

    #[test]
    fn writes_split_at_the_kernel_limit() {
        let max = DEBUG_WRITE_MAX as usize;
        assert_eq!(lengths(1), [1]);
        assert_eq!(lengths(max), [max]);
        assert_eq!(lengths(max + 1), [max, 1]);
        assert_eq!(lengths(2 * max + 5), [max, max, 5]);
    }
}
