//! The interrupt descriptor table and the entry stubs behind it.
//!
//! Each of the 256 vectors has a 16-byte stub that makes the stack uniform (pushes a zero
//! where the CPU pushes no error code, then the vector number). From user mode the CPU has
//! switched to the running thread's register area in its TCB (the TSS's `rsp0` points at
//! its top), so `trap_common` saves the general registers there too and continues on the
//! kernel stack; from kernel mode, and for the vectors with their own interrupt stacks, the
//! [`TrapFrame`] stays on the stack it was pushed to.

use super::context::{TrapFrame, pop_general_registers, push_general_registers};
use core::arch::global_asm;
use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

/// The interrupt stacks in the TSS, for exceptions that must not trust the current stack.
#[derive(Clone, Copy, Debug)]
#[repr(u16)]
pub enum IstSlot {
    DoubleFault = 0,
    Nmi = 1,
    MachineCheck = 2,
}

const STUB_SIZE: u64 = 16;
const DOUBLE_FAULT: u8 = 8;
const NMI: u8 = 2;
const MACHINE_CHECK: u8 = 18;

unsafe extern "C" {
    static trap_stubs: u8;
}

/// One 16-byte interrupt gate.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, DPL 0, 64-bit interrupt gate: interrupts stay off in the handler, and user
/// code cannot raise these vectors with `int`.
const INTERRUPT_GATE: u8 = 0x8e;

impl Gate {
    fn new(handler: VirtAddr, ist: Option<IstSlot>) -> Self {
        let offset = handler.as_u64();
        Self {
            offset_low: offset as u16,
            selector: super::percpu::KERNEL_CODE_SELECTOR,
            ist: ist.map_or(0, |slot| slot as u8 + 1),
            attributes: INTERRUPT_GATE,
            offset_middle: (offset >> 16) as u16,
            offset_high: (offset >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

/// Loads the IDT on this CPU, building it the first time.
pub fn load() {
    let idt = IDT.call_once(|| {
        // SAFETY: only the symbol's address is taken.
        let stubs = VirtAddr::from_ptr(unsafe { &trap_stubs });
        let mut gates = [Gate::default(); 256];
        for (vector, gate) in gates.iter_mut().enumerate() {
            let ist = match vector as u8 {
                DOUBLE_FAULT => Some(IstSlot::DoubleFault),
                NMI => Some(IstSlot::Nmi),
                MACHINE_CHECK => Some(IstSlot::MachineCheck),
                _ => None,
            };
            *gate = Gate::new(stubs + vector as u64 * STUB_SIZE, ist);
        }
        Idt(gates)
    });
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the table is static and complete: every gate points at the entry stub for
    // its vector in `trap_stubs`, with the kernel code selector, and the IST slots it
    // names are set in every CPU's TSS.
    unsafe { lidt(&pointer) };
}

global_asm!(
    r#"
    .text
    .balign 16
    .global trap_stubs
trap_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    .if (vector == 2) || (vector == 8) || (vector == 18)
    jmp trap_on_interrupt_stack
    .else
    jmp trap_common
    .endif
    .set vector, vector + 1
    .endr

trap_common:
    testb $3, 24(%rsp)
    jz trap_from_kernel
    swapgs
"#,
    push_general_registers!(),
    r#"
    cld
    movq %gs:{kernel_stack}, %rsp
    call {user_trap}
    ud2

trap_from_kernel:
"#,
    push_general_registers!(),
    r#"
    cld
    movq %rsp, %rdi
    call {kernel_trap}
"#,
    pop_general_registers!(),
    r#"
    addq $16, %rsp
    iretq

trap_on_interrupt_stack:
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:
"#,
    push_general_registers!(),
    r#"
    cld
    movq %rsp, %rdi
    call {kernel_trap}
"#,
    pop_general_registers!(),
    r#"
    testb $3, 24(%rsp)
    jz 2f
    swapgs
2:
    addq $16, %rsp
    iretq
"#,
    kernel_stack = const super::percpu::CPU_BLOCK_KERNEL_STACK_OFFSET,
    user_trap = sym super::entry::rust_user_trap,
    kernel_trap = sym kernel_trap_trampoline,
    options(att_syntax)
);

/// Called with a frame on a kernel stack: an interrupt or exception in kernel mode, or one
/// of the vectors with their own stacks (NMI, double fault, machine check) from either
/// mode. Returns only to resume what was interrupted.
extern "C" fn kernel_trap_trampoline(frame: &mut TrapFrame) {
    super::entry::rust_kernel_trap(frame);
}
