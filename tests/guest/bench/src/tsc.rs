//! The time-stamp counter and the calibration loop: this program's only assembly besides
//! libasi's system calls.

use core::arch::asm;

/// Reads the time-stamp counter, fenced on both sides so that on real hardware the read
/// neither starts before earlier instructions finish nor lets later ones start early.
/// Under QEMU's icount it is simply the number of guest instructions executed so far.
#[inline(always)]
pub fn now() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: `lfence` and `rdtsc` only write edx:eax (declared) and touch no memory or
    // flags; the kernel leaves CR4.TSD clear, so `rdtsc` is allowed in user mode. Not
    // `nomem`, so the compiler keeps memory accesses on their side of the read.
    unsafe {
        asm!(
            "lfence",
            "rdtsc",
            "lfence",
            out("eax") low,
            out("edx") high,
            options(nostack, preserves_flags),
        );
    }
    (u64::from(high) << 32) | u64::from(low)
}

/// Iterations of the calibration loop.
const LOOP_ITERATIONS: u64 = 1000;
/// `nop`s in the loop body, besides the loop's own `dec` and `jnz`.
const LOOP_NOPS: u64 = 8;

/// Exactly how many instructions one [`spin`] executes: the `mov` that loads the counter,
/// then per iteration the `nop`s, `dec` and `jnz` (the last `jnz`, not taken, included).
pub const SPIN_INSTRUCTIONS: u64 = 1 + LOOP_ITERATIONS * (LOOP_NOPS + 2);

/// Executes exactly [`SPIN_INSTRUCTIONS`] instructions.
#[inline(always)]
pub fn spin() {
    // SAFETY: the loop only changes ecx (declared as clobbered) and the flags (the block
    // does not claim to preserve them); it touches no memory and no stack. `LOOP_NOPS`
    // must match the number of `nop` lines below.
    unsafe {
        asm!(
            "mov ecx, {iterations}",
            "2:",
            "nop",
            "nop",
            "nop",
            "nop",
            "nop",
            "nop",
            "nop",
            "nop",
            "dec ecx",
            "jnz 2b",
            iterations = const LOOP_ITERATIONS,
            out("rcx") _,
            options(nomem, nostack),
        );
    }
}
