//! The `syscall` instruction's entry path.

use super::context::{SYSCALL_VECTOR, TrapFrame};
use super::percpu::{
    CPU_BLOCK_KERNEL_STACK_OFFSET, CPU_BLOCK_SYSCALL_COUNTER_OFFSET, CPU_BLOCK_USER_FRAME_OFFSET,
    CPU_BLOCK_USER_STACK_OFFSET, KERNEL_CODE_SELECTOR, SYSRET_BASE_SELECTOR,
};
use core::arch::global_asm;
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;

const IA32_STAR: u32 = 0xC000_0081;

/// RFLAGS bits cleared on entry: interrupts stay off in the kernel, and user code must not
/// be able to hand the kernel a set AC (which would switch SMAP off), DF, TF or NT.
fn entry_flag_mask() -> RFlags {
    RFlags::INTERRUPT_FLAG
        | RFlags::TRAP_FLAG
        | RFlags::DIRECTION_FLAG
        | RFlags::ALIGNMENT_CHECK
        | RFlags::NESTED_TASK
        | RFlags::IOPL_HIGH
        | RFlags::IOPL_LOW
}

/// Points `syscall` at the entry that issues the entry barrier first (`mitigations=blanket`).
pub fn use_flushing_entry() {
    unsafe extern "C" {
        static syscall_entry_flushing: u8;
    }
    // SAFETY: the flushing entry saves and switches stacks exactly as `syscall_entry` does
    // (the same sequence) before it touches memory.
    unsafe { LStar::write(VirtAddr::from_ptr(&syscall_entry_flushing)) };
}

/// Enables `syscall`/`sysret` on this CPU and points it at the entry stub.
pub fn init() {
    unsafe extern "C" {
        static syscall_entry: u8;
    }
    let star = (u64::from(SYSRET_BASE_SELECTOR) << 48) | (u64::from(KERNEL_CODE_SELECTOR) << 32);
    let mut star_msr = Msr::new(IA32_STAR);
    // SAFETY: STAR holds the selectors of the GDT every CPU loads (layout fixed in
    // `percpu`), LSTAR the entry stub below, which switches to this CPU's kernel stack
    // before touching memory; SCE only makes `syscall` legal.
    unsafe {
        star_msr.write(star);
        LStar::write(VirtAddr::from_ptr(&syscall_entry));
        SFMask::write(entry_flag_mask());
        Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}

/// The entry sequence both `syscall` entry points share, up to the call into Rust: it saves
/// the caller's registers into its TCB's register area, as a `TrapFrame` whose vector says
/// `syscall`, counts the entry and moves to the kernel stack with the call number and the
/// frame's address as the arguments. Three kinds of word are not written: `cs` and `ss`,
/// which every frame of a user thread already holds (set when the TCB is made, rewritten
/// with the same selectors by every interrupt from user mode, kept by register writes);
/// the error code, which only exception frames carry; and the `rcx` and `r11` slots,
/// since `syscall` put the return address and flags there, which go to `rip` and `rflags`
/// instead and which `sysret` overwrites on the way out.
macro_rules! save_syscall_frame {
    () => {
        r#"
    swapgs
    incq %gs:{syscall_counter}
    movq %rsp, %gs:{user_stack}
    movq %gs:{user_frame}, %rsp
    subq ${frame_size}, %rsp
    movq %rax, {rax}(%rsp)
    movq %rbx, {rbx}(%rsp)
    movq %rdx, {rdx}(%rsp)
    movq %rsi, {rsi}(%rsp)
    movq %rdi, {rdi}(%rsp)
    movq %rbp, {rbp}(%rsp)
    movq %r8, {r8}(%rsp)
    movq %r9, {r9}(%rsp)
    movq %r10, {r10}(%rsp)
    movq %r12, {r12}(%rsp)
    movq %r13, {r13}(%rsp)
    movq %r14, {r14}(%rsp)
    movq %r15, {r15}(%rsp)
    movq %rcx, {rip}(%rsp)
    movq %r11, {rflags}(%rsp)
    movq %gs:{user_stack}, %rcx
    movq %rcx, {rsp}(%rsp)
    movq ${syscall_vector}, {vector}(%rsp)
    movq %rsp, %rsi
    movq %gs:{kernel_stack}, %rsp
    movq %rax, %rdi
"#
    };
}

global_asm!(
    "    .text\n    .global syscall_entry\nsyscall_entry:",
    save_syscall_frame!(),
    "    call {rust_syscall}\n    ud2",
    "    .global syscall_entry_flushing\nsyscall_entry_flushing:",
    save_syscall_frame!(),
    "    call {rust_syscall_flushing}\n    ud2",
    syscall_counter = const CPU_BLOCK_SYSCALL_COUNTER_OFFSET,
    user_stack = const CPU_BLOCK_USER_STACK_OFFSET,
    kernel_stack = const CPU_BLOCK_KERNEL_STACK_OFFSET,
    user_frame = const CPU_BLOCK_USER_FRAME_OFFSET,
    frame_size = const size_of::<TrapFrame>(),
    rax = const core::mem::offset_of!(TrapFrame, rax),
    rbx = const core::mem::offset_of!(TrapFrame, rbx),
    rdx = const core::mem::offset_of!(TrapFrame, rdx),
    rsi = const core::mem::offset_of!(TrapFrame, rsi),
    rdi = const core::mem::offset_of!(TrapFrame, rdi),
    rbp = const core::mem::offset_of!(TrapFrame, rbp),
    r8 = const core::mem::offset_of!(TrapFrame, r8),
    r9 = const core::mem::offset_of!(TrapFrame, r9),
    r10 = const core::mem::offset_of!(TrapFrame, r10),
    r12 = const core::mem::offset_of!(TrapFrame, r12),
    r13 = const core::mem::offset_of!(TrapFrame, r13),
    r14 = const core::mem::offset_of!(TrapFrame, r14),
    r15 = const core::mem::offset_of!(TrapFrame, r15),
    rip = const core::mem::offset_of!(TrapFrame, rip),
    rflags = const core::mem::offset_of!(TrapFrame, rflags),
    rsp = const core::mem::offset_of!(TrapFrame, rsp),
    vector = const core::mem::offset_of!(TrapFrame, vector),
    syscall_vector = const SYSCALL_VECTOR,
    rust_syscall = sym super::entry::rust_syscall,
    rust_syscall_flushing = sym super::entry::rust_syscall_flushing,
    options(att_syntax)
);
