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

/// Issues `call` — a real DebugWrite (the full copy-and-print path, not an early refusal)
/// or the Null call (the kernel's shortest way back) — with every register but rax, rdx,
/// rcx and r11 holding a known value, and compares after.
pub fn preserved_across_syscall(call: Syscall) -> Result<(), Failure> {
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
    // rbx and rbp cannot be asm operands (LLVM reserves rbx; rbp is the frame pointer), so
    // the block saves them on its own stack (hence no `nostack`), loads the sentinels, and
    // after the call copies them into rcx and r11 (free once `syscall` clobbered them).
    // SAFETY: DebugWrite only reads MESSAGE, a static, and Null touches no memory; rbx and
    // rbp are restored and every other register the block changes is declared.
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
            inlateout("rax") call.number() => status,
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
    Want::OkWith(0).check(RawReturn { status, value })?;
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

/// How long (in TSC ticks) the vector-register check keeps calling the kernel: many
/// 5 ms timeslices on any clock QEMU gives the TSC, so the timer interrupts it repeatedly.
const VECTOR_CHECK_TICKS: u64 = 50_000_000;
const VECTOR_NAMES: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
];

/// Fills xmm0–xmm15 with distinct values, keeps entering the kernel (system calls, and
/// timer interrupts while it spins) for a while, and checks every register afterwards.
pub fn vector_registers_survive_kernel_entries() -> Result<(), Failure> {
    const BASE: u64 = 0x5a5a_7700_0000_7700;
    let mut saved = [[0u64; 2]; 16];
    // xmm0–xmm15 cannot be named as operands on the soft-float target, and compiled code
    // here never holds anything in them. The system call number is unassigned.
    // SAFETY: the block writes only `saved` (through rdi, 256 bytes), the registers it
    // declares and xmm0–xmm15; the kernel refuses the call without touching memory.
    unsafe {
        asm!(
            "mov rax, {base}",
            "movq xmm0, rax", "punpcklqdq xmm0, xmm0", "inc rax",
            "movq xmm1, rax", "punpcklqdq xmm1, xmm1", "inc rax",
            "movq xmm2, rax", "punpcklqdq xmm2, xmm2", "inc rax",
            "movq xmm3, rax", "punpcklqdq xmm3, xmm3", "inc rax",
            "movq xmm4, rax", "punpcklqdq xmm4, xmm4", "inc rax",
            "movq xmm5, rax", "punpcklqdq xmm5, xmm5", "inc rax",
            "movq xmm6, rax", "punpcklqdq xmm6, xmm6", "inc rax",
            "movq xmm7, rax", "punpcklqdq xmm7, xmm7", "inc rax",
            "movq xmm8, rax", "punpcklqdq xmm8, xmm8", "inc rax",
            "movq xmm9, rax", "punpcklqdq xmm9, xmm9", "inc rax",
            "movq xmm10, rax", "punpcklqdq xmm10, xmm10", "inc rax",
            "movq xmm11, rax", "punpcklqdq xmm11, xmm11", "inc rax",
            "movq xmm12, rax", "punpcklqdq xmm12, xmm12", "inc rax",
            "movq xmm13, rax", "punpcklqdq xmm13, xmm13", "inc rax",
            "movq xmm14, rax", "punpcklqdq xmm14, xmm14", "inc rax",
            "movq xmm15, rax", "punpcklqdq xmm15, xmm15",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "mov r8, rax",
            "2:",
            "mov eax, {unknown}",
            "syscall",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "sub rax, r8",
            "cmp rax, {ticks}",
            "jb 2b",
            "movdqu [rdi], xmm0",
            "movdqu [rdi + 16], xmm1",
            "movdqu [rdi + 32], xmm2",
            "movdqu [rdi + 48], xmm3",
            "movdqu [rdi + 64], xmm4",
            "movdqu [rdi + 80], xmm5",
            "movdqu [rdi + 96], xmm6",
            "movdqu [rdi + 112], xmm7",
            "movdqu [rdi + 128], xmm8",
            "movdqu [rdi + 144], xmm9",
            "movdqu [rdi + 160], xmm10",
            "movdqu [rdi + 176], xmm11",
            "movdqu [rdi + 192], xmm12",
            "movdqu [rdi + 208], xmm13",
            "movdqu [rdi + 224], xmm14",
            "movdqu [rdi + 240], xmm15",
            base = const BASE,
            unknown = const 1000,
            ticks = const VECTOR_CHECK_TICKS,
            in("rdi") saved.as_mut_ptr(),
            out("rax") _,
            out("rcx") _,
            out("rdx") _,
            out("r8") _,
            out("r11") _,
            options(nostack),
        );
    }
    for (index, [low, high]) in saved.into_iter().enumerate() {
        let sent = BASE + index as u64;
        for got in [low, high] {
            if got != sent {
                return Err(Failure::Register { name: VECTOR_NAMES[index], sent, got });
            }
        }
    }
    Ok(())
}

/// Not canonical: neither half of the address space.
const NON_CANONICAL_STACK: u64 = 0x8000_0000_0000_0000;

/// User code may leave anything in `rsp` when it enters the kernel, which must neither
/// trust nor check it: this keeps calling the kernel (zero-byte DebugWrites, returning by
/// `sysret`) and being interrupted by the timer (returning by `iretq`) with a non-canonical
/// stack pointer, then puts the real one back.
pub fn non_canonical_stack_pointer_survives_kernel_entries() -> Result<(), Failure> {
    let status: u64;
    // SAFETY: nothing touches the stack while rsp is bad (the kernel does not use the user
    // stack, and the block makes no calls); r12 keeps the real rsp, restored before the
    // block ends; a zero-byte DebugWrite reads no memory.
    unsafe {
        asm!(
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "add rax, {ticks}",
            "mov r13, rax",
            "mov r12, rsp",
            "mov rsp, {bad}",
            "2:",
            "mov eax, {debug_write}",
            "xor esi, esi",
            "syscall",
            "test rax, rax",
            "jnz 3f",
            "rdtsc",
            "shl rdx, 32",
            "or rax, rdx",
            "cmp rax, r13",
            "jb 2b",
            "xor eax, eax",
            "3:",
            "mov rsp, r12",
            bad = in(reg) NON_CANONICAL_STACK,
            debug_write = const Syscall::DebugWrite.number(),
            ticks = const VECTOR_CHECK_TICKS,
            in("rdi") MESSAGE.as_ptr(),
            out("r13") _,
            out("rax") status,
            out("rdx") _,
            out("rcx") _,
            out("r11") _,
            out("rsi") _,
            out("r12") _,
            options(nostack),
        );
    }
    Want::Ok.check(RawReturn { status, value: 0 })
}
