//! The `syscall` instruction's entry path.

use super::context::{SYSCALL_VECTOR, push_general_registers};
use super::percpu::{
    CPU_BLOCK_KERNEL_STACK_OFFSET, CPU_BLOCK_USER_FRAME_OFFSET, CPU_BLOCK_USER_STACK_OFFSET,
    KERNEL_CODE_SELECTOR, SYSRET_BASE_SELECTOR, USER_CODE_SELECTOR, USER_DATA_SELECTOR,
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

global_asm!(
    r#"
    .text
    .global syscall_entry
syscall_entry:
    swapgs
    movq %rsp, %gs:{user_stack}
    movq %gs:{user_frame}, %rsp
    pushq ${user_ss}
    pushq %gs:{user_stack}
    pushq %r11
    pushq ${user_cs}
    pushq %rcx
    pushq $0
    pushq ${syscall_vector}
"#,
    push_general_registers!(),
    r#"
    movq %rsp, %rsi
    movq %gs:{kernel_stack}, %rsp
    movq %rax, %rdi
    call {rust_syscall}
    ud2
"#,
    user_stack = const CPU_BLOCK_USER_STACK_OFFSET,
    kernel_stack = const CPU_BLOCK_KERNEL_STACK_OFFSET,
    user_frame = const CPU_BLOCK_USER_FRAME_OFFSET,
    user_ss = const USER_DATA_SELECTOR,
    user_cs = const USER_CODE_SELECTOR,
    syscall_vector = const SYSCALL_VECTOR,
    rust_syscall = sym super::entry::rust_syscall,
    options(att_syntax)
);
