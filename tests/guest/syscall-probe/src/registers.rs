//! Whether a system call keeps the registers the ABI says it keeps.

use core::arch::asm;

use libasi::syscall::RawReturn;
use syscall_abi::Syscall;

use crate::report::{Failure, Want};

const MESSAGE: &[u8] = b"probe: checking registers across a syscall\n";

// Distinct values with bits in both halves, so that a register swapped with another or
// cut to 32 bits shows.
const RBX: u64 = 0x5a5a_0b0b_0000_0b0b;
const RBP: u64 = 0x5a5a_0b0f_0000_0b0f;
const R8: u64 = 0x5a5a_0808_0000_0808;
const R9: u64 = 0x5a5a_0909_0000_0909;
const R10: u64 = 0x5a5a_1010_0000_1010;
const R12: u64 = 0x5a5a_1212_0000_1212;
const R13: u64 = 0x5a5a_1313_0000_1313;
const R14: u64 = 0x5a5a_1414_0000_1414;
const R15: u64 = 0x5a5a_1515_0000_1515;

/// Issues a real DebugWrite (the full copy-and-print path, not an early refusal) with
/// every register but rax, rdx, rcx and r11 holding a known value, and compares after.
pub fn preserved_across_syscall() -> Result<(), Failure> {
    let pointer = MESSAGE.as_ptr() as u64;
    let len = MESSAGE.len() as u64;
    let (status, value): (u64, u64);
    let (rbx, rbp, rdi, rsi, r8, r9, r10, r12, r13, r14, r15): (
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
    );
    // SAFETY: DebugWrite only reads MESSAGE, a static. rbx and rbp cannot be asm operands
    // (LLVM reserves rbx; rbp is the frame pointer), so the block saves them on the stack,
    // loads the sentinels, and after the call copies them into rcx and r11 (free once
    // `syscall` has clobbered them) before restoring both; every other register it
    // changes is declared. The pushes stay within our own stack, hence no `nostack`.
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "mov rbx, {rbx}",
            "mov rbp, {rbp}",
            "syscall",
            "mov rcx, rbx",
            "mov r11, rbp",
            "pop rbp",
            "pop rbx",
            rbx = const RBX,
            rbp = const RBP,
            inlateout("rax") Syscall::DebugWrite.number() => status,
            inlateout("rdi") pointer => rdi,
            inlateout("rsi") len => rsi,
            lateout("rdx") value,
            inlateout("r8") R8 => r8,
            inlateout("r9") R9 => r9,
            inlateout("r10") R10 => r10,
            inlateout("r12") R12 => r12,
            inlateout("r13") R13 => r13,
            inlateout("r14") R14 => r14,
            inlateout("r15") R15 => r15,
            lateout("rcx") rbx,
            lateout("r11") rbp,
        );
    }
    Want::Ok.check(RawReturn { status, value })?;
    let compared = [
        ("rbx", RBX, rbx),
        ("rbp", RBP, rbp),
        ("rdi", pointer, rdi),
        ("rsi", len, rsi),
        ("r8", R8, r8),
        ("r9", R9, r9),
        ("r10", R10, r10),
        ("r12", R12, r12),
        ("r13", R13, r13),
        ("r14", R14, r14),
        ("r15", R15, r15),
    ];
    match compared.into_iter().find(|(_, sent, got)| sent != got) {
        Some((name, sent, got)) => Err(Failure::Register { name, sent, got }),
        None => Ok(()),
    }
}
