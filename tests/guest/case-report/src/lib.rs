//! The `TEST` lines the host harness reads, and the checks every case is written with:
//! shared by the guest test programs that run named cases (captest, ipctest, devtest,
//! memtest), with the random numbers of their randomized cases ([`Rng`]).
#![no_std]
#![forbid(unsafe_code)]
// A failure carries its message in a fixed buffer (guest programs have no allocator), so
// every case returns a Result with a 200-byte error: that is the design, not an accident.
#![allow(clippy::result_large_err)]

mod rng;

use core::fmt::{self, Write};

use libasi::Error;
use libasi::cap::{CNode, CPtr, Cap, CapKind, Slot, SlotAllocator};
use libasi::println;

pub use rng::Rng;

/// What a case found wrong, as one line of text.
pub struct Failure {
    text: [u8; 200],
    len: usize,
}

impl Failure {
    pub fn new(args: fmt::Arguments<'_>) -> Self {
        let mut failure = Self { text: [0; 200], len: 0 };
        let _ = failure.write_fmt(args);
        failure
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str` pieces are appended (see `write_str`), so this cannot fail.
        core::str::from_utf8(&self.text[..self.len]).unwrap_or("(garbled)")
    }
}

impl Write for Failure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep whole characters only, so the text stays UTF-8 when it is cut short.
        for c in s.chars() {
            let mut buf = [0; 4];
            let piece = c.encode_utf8(&mut buf).as_bytes();
            let Some(room) = self.text.get_mut(self.len..self.len + piece.len()) else {
                return Ok(());
            };
            room.copy_from_slice(piece);
            self.len += piece.len();
        }
        Ok(())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type Outcome = Result<(), Failure>;

/// Fails the case with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::Failure::new(format_args!($($arg)*)))
    };
}

/// Fails the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// The value of a call that must succeed.
pub fn ok<T>(result: Result<T, Error>, what: &str) -> Result<T, Failure> {
    result.map_err(|error| Failure::new(format_args!("{what}: refused: {error}")))
}

/// A call that must be refused with exactly `want` (detail included).
pub fn refused<T>(result: Result<T, Error>, want: Error, what: &str) -> Outcome {
    match result {
        Err(error) if error == want => Ok(()),
        Err(error) => fail!("{what}: expected {want}, got {error}"),
        Ok(_) => fail!("{what}: expected {want}, got success"),
    }
}

/// What `cptr` holds, as the kernel says.
pub fn identify(cptr: impl Into<CPtr>) -> Result<CapKind, Failure> {
    let cptr = cptr.into();
    libasi::debug::cap_identify(cptr)
        .map_err(|error| Failure::new(format_args!("identify {cptr}: refused: {error}")))
}

/// `cptr` must hold a capability of kind `want`.
pub fn holds(cptr: impl Into<CPtr>, want: CapKind, what: &str) -> Outcome {
    let cptr = cptr.into();
    let got = identify(cptr)?;
    ensure!(got == want, "{what}: slot {cptr} holds {got:?}, expected {want:?}");
    Ok(())
}

/// Counts outcomes and prints one line for each.
#[derive(Debug, Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    pub fn record(&mut self, name: &str, outcome: Outcome) {
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

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Failure({:?})", self.as_str())
    }
}

/// The root slots one case has taken, at most `N`: each is revoked, deleted, checked
/// empty and given back to the program's allocator when the case ends, newest first, so
/// that a failing case does not disturb the next.
#[derive(Debug)]
pub struct TakenSlots<const N: usize> {
    taken: [u64; N],
    count: usize,
}

impl<const N: usize> Default for TakenSlots<N> {
    fn default() -> Self {
        Self { taken: [0; N], count: 0 }
    }
}

impl<const N: usize> TakenSlots<N> {
    /// `count` consecutive free root slots from `slots`, taken for this case; the first.
    pub fn take(&mut self, slots: &mut SlotAllocator, count: usize) -> Result<u64, Failure> {
        ensure!(self.count + count <= N, "case takes more than {N} slots");
        let first = if count == 1 { slots.alloc() } else { slots.alloc_range(count) };
        let Some(first) = first else {
            fail!("no {count} consecutive free slots left");
        };
        for slot in first..first + count as u64 {
            self.taken[self.count] = slot;
            self.count += 1;
        }
        Ok(first)
    }

    /// Gives every taken slot back: revoked, then `after_revoke` (for what a program must
    /// undo once nothing is carved from the slot's capability), deleted, checked empty
    /// and freed. The first thing that went wrong; a slot that could not be emptied stays
    /// taken from `slots`.
    pub fn release(
        &mut self,
        slots: &mut SlotAllocator,
        mut after_revoke: impl FnMut(u64) -> Result<(), Error>,
    ) -> Outcome {
        let root = Cap::<CNode>::ROOT;
        let mut first_error = None;
        while self.count > 0 {
            self.count -= 1;
            let slot = self.taken[self.count];
            let result = root
                .revoke(Slot::root(slot))
                .and_then(|()| after_revoke(slot))
                .and_then(|()| root.delete(Slot::root(slot)))
                .map_err(|error| Failure::new(format_args!("cleanup of slot {slot}: {error}")))
                .and_then(|()| match identify(CPtr(slot))? {
                    CapKind::Null => Ok(()),
                    kind => Err(Failure::new(format_args!(
                        "slot {slot} still holds {kind:?} after delete"
                    ))),
                });
            match result {
                Ok(()) => slots.free(slot),
                Err(failure) => {
                    first_error.get_or_insert(failure);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
