//! Where the assembly entry points land in Rust, and the hand-over to generic code.

use super::context::TrapFrame;
use super::{ioapic, lapic};
use x86_64::registers::control::Cr2;

/// A CPU exception as generic code sees it.
#[derive(Clone, Copy, Debug)]
pub struct Exception {
    pub vector: u8,
    pub error_code: u64,
    /// The faulting linear address (CR2) for a page fault.
    pub fault_address: Option<u64>,
}

const PAGE_FAULT: u8 = 14;
const NMI: u8 = 2;
const FIRST_INTERRUPT: u64 = 32;

impl Exception {
    /// The conventional mnemonic of the exception.
    pub fn name(&self) -> &'static str {
        const NAMES: [&str; 32] = [
            "#DE divide error",
            "#DB debug",
            "NMI",
            "#BP breakpoint",
            "#OF overflow",
            "#BR bound range",
            "#UD invalid opcode",
            "#NM device not available",
            "#DF double fault",
            "coprocessor segment overrun",
            "#TS invalid TSS",
            "#NP segment not present",
            "#SS stack fault",
            "#GP general protection",
            "#PF page fault",
            "reserved",
            "#MF x87 floating point",
            "#AC alignment check",
            "#MC machine check",
            "#XM SIMD floating point",
            "#VE virtualization",
            "#CP control protection",
            "reserved",
            "reserved",
            "reserved",
            "reserved",
            "reserved",
            "reserved",
            "#HV hypervisor injection",
            "#VC VMM communication",
            "#SX security",
            "reserved",
        ];
        NAMES.get(usize::from(self.vector)).copied().unwrap_or("interrupt")
    }
}

/// First Rust code: called by the boot assembly on the boot stack, in the higher half,
/// with the Multiboot magic and information address the loader left in `eax`/`ebx`.
pub extern "C" fn rust_boot_entry(multiboot_magic: u32, multiboot_info: u32) -> ! {
    crate::boot::kernel_main(multiboot_magic, u64::from(multiboot_info))
}

/// Every exception and interrupt, from user or kernel mode.
pub fn rust_trap(frame: &mut TrapFrame) {
    match frame.vector {
        vector if vector == u64::from(lapic::TIMER_VECTOR) => {
            lapic::timer_interrupt();
            if frame.came_from_user_mode() {
                crate::sched::preempt(frame);
            }
            return;
        }
        vector if vector == u64::from(lapic::SPURIOUS_VECTOR) => return,
        vector
            if (u64::from(ioapic::IRQ_VECTOR_BASE)
                ..u64::from(ioapic::IRQ_VECTOR_BASE + ioapic::IRQS))
                .contains(&vector) =>
        {
            let irq = (vector - u64::from(ioapic::IRQ_VECTOR_BASE)) as u8;
            ioapic::set_masked(irq, true);
            lapic::end_of_interrupt();
            crate::object::irq::deliver(irq);
            if frame.came_from_user_mode() {
                crate::sched::preempt_for_interrupt(frame);
            }
            return;
        }
        vector if vector >= FIRST_INTERRUPT || vector == u64::from(NMI) => {
            crate::fault::unexpected_interrupt(frame.vector, frame.came_from_user_mode());
            if vector >= FIRST_INTERRUPT {
                lapic::end_of_interrupt();
            }
            return;
        }
        _ => {}
    }
    let exception = Exception {
        vector: frame.vector as u8,
        error_code: frame.error_code,
        fault_address: (frame.vector == u64::from(PAGE_FAULT)).then(Cr2::read_raw),
    };
    if frame.came_from_user_mode() {
        crate::fault::user_exception(frame, exception)
    } else {
        crate::fault::kernel_exception(frame, exception)
    }
}

/// Every `syscall` from user mode, with the caller's registers.
pub extern "C" fn rust_syscall(frame: &mut TrapFrame) -> ! {
    crate::syscall::handle(frame)
}
