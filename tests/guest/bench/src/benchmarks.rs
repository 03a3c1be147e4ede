//! The benchmarks, in the order they run and print.
//!
//! Adding one: write a function that prepares whatever it needs, then hands the operation
//! to time to [`Bench::time`] (the operation returns `Err` for an outcome that means the
//! figure would be meaningless), and add it to [`ALL`]. The host requires the names in
//! `tests/src/bench.rs`'s `EXPECTED`; add the new name there too.

use core::fmt;

use libasi::SyscallError;
use libasi::syscall::{RawReturn, syscall0, syscall2};
use syscall_abi::Syscall;

use crate::measure::{Bench, Summary};
use crate::tsc;

/// A named benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Benchmark {
    /// The name in its `BENCH` line: no spaces.
    pub name: &'static str,
    /// Runs it and summarises the samples.
    pub run: fn(&mut Bench<'_>) -> Result<Summary, Unexpected>,
}

/// Every benchmark. The first two describe the measurement itself.
pub const ALL: &[Benchmark] = &[
    Benchmark { name: "rdtsc_overhead", run: rdtsc_overhead },
    Benchmark { name: "calibration_loop", run: calibration_loop },
    Benchmark { name: "null_syscall", run: null_syscall },
    Benchmark { name: "debug_write_0", run: debug_write_0 },
];

/// A system call returned something other than what the benchmark is meant to measure.
#[derive(Clone, Copy, Debug)]
pub struct Unexpected {
    want: &'static str,
    got: RawReturn,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got status {} value {}", self.want, self.got.status, self.got.value)
    }
}

/// Checks that a call returned `status`.
fn expect(got: RawReturn, status: u64, want: &'static str) -> Result<(), Unexpected> {
    if got.status == status { Ok(()) } else { Err(Unexpected { want, got }) }
}

/// Two back-to-back counter reads: what every other figure includes besides its operation.
fn rdtsc_overhead(bench: &mut Bench<'_>) -> Result<Summary, Unexpected> {
    bench.time(|| Ok(()))
}

/// A loop of exactly [`tsc::SPIN_INSTRUCTIONS`] instructions; its median minus
/// `rdtsc_overhead`'s, divided by that count, is ticks per instruction (1 under icount).
fn calibration_loop(bench: &mut Bench<'_>) -> Result<Summary, Unexpected> {
    let summary = bench.time(|| {
        tsc::spin();
        Ok(())
    })?;
    Ok(summary.with_instructions(tsc::SPIN_INSTRUCTIONS))
}

/// A number that names no system call.
const UNASSIGNED_SYSCALL: u64 = 1000;

/// The cheapest round trip into the kernel: a call number it refuses at once. Measures the
/// full entry and exit path (`syscall`, register save, the dispatcher's decode and its
/// bookkeeping, register restore, `sysret`) with no work in between.
fn null_syscall(bench: &mut Bench<'_>) -> Result<Summary, Unexpected> {
    bench.time(|| {
        // SAFETY: an unassigned call number is refused before anything is read or written.
        let got = unsafe { syscall0(UNASSIGNED_SYSCALL) };
        expect(got, SyscallError::UnknownSyscall.code(), "UnknownSyscall")
    })
}

/// DebugWrite of zero bytes: a real call, with its argument checks, that prints nothing.
fn debug_write_0(bench: &mut Bench<'_>) -> Result<Summary, Unexpected> {
    static NOTHING: [u8; 1] = [0];
    bench.time(|| {
        // SAFETY: DebugWrite reads at most `len` = 0 bytes at a live static.
        let got = unsafe { syscall2(Syscall::DebugWrite.number(), NOTHING.as_ptr() as u64, 0) };
        expect(got, syscall_abi::SUCCESS, "success")
    })
}
