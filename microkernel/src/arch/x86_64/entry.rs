//! Where the assembly entry points land in Rust, and the hand-over to generic code.

use super::context::{TrapFrame, word};
use super::percpu::count;
use super::{ioapic, lapic};
use kernel_core::mitigation::Mitigations;
use syscall_abi::counters::Counter;
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
const DEVICE_NOT_AVAILABLE: u8 = 7;
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

/// An interrupt or exception from user mode. Its frame is in the running thread's TCB;
/// this runs on the kernel stack and ends by entering user mode again.
pub extern "C" fn rust_user_trap() -> ! {
    let frame = super::percpu::user_frame_top() - size_of::<TrapFrame>() as u64;
    let word = |index: usize| {
        // SAFETY: the frame the entry code just saved lies in the running thread's TCB,
        // object memory inside the physical window; these are plain reads of its words.
        unsafe { (frame + (index * 8) as u64).as_ptr::<u64>().read_volatile() }
    };
    let (vector, error_code) = (word(word::VECTOR), word(word::ERROR_CODE));
    if vector >= FIRST_INTERRUPT || vector == u64::from(NMI) {
        count::<{ Counter::InterruptEntries as usize }>();
    } else {
        count::<{ Counter::ExceptionEntries as usize }>();
    }
    if super::flush::mode() == Mitigations::Blanket {
        super::flush::entry_barrier();
    }
    match vector {
        vector if vector == u64::from(lapic::TIMER_VECTOR) => {
            lapic::timer_interrupt();
            crate::sched::preempt()
        }
        vector if vector == u64::from(lapic::SPURIOUS_VECTOR) => crate::sched::run(),
        vector if irq_of(vector).is_some() => {
            deliver_irq(irq_of(vector).unwrap_or_default());
            crate::sched::run()
        }
        vector if vector >= FIRST_INTERRUPT || vector == u64::from(NMI) => {
            crate::fault::unexpected_interrupt(vector, true);
            lapic::end_of_interrupt();
            crate::sched::run()
        }
        vector if vector == u64::from(DEVICE_NOT_AVAILABLE) => crate::sched::claim_fpu(),
        _ => crate::fault::user_exception(Exception {
            vector: vector as u8,
            error_code,
            fault_address: (vector == u64::from(PAGE_FAULT)).then(Cr2::read_raw),
        }),
    }
}

/// The IRQ a vector carries, if it is one of the device-interrupt vectors.
fn irq_of(vector: u64) -> Option<u8> {
    let base = u64::from(ioapic::IRQ_VECTOR_BASE);
    (base..base + u64::from(ioapic::IRQS)).contains(&vector).then(|| (vector - base) as u8)
}

/// Masks the line until user space acknowledges it, and signals its notification.
fn deliver_irq(irq: u8) {
    ioapic::set_masked(irq, true);
    lapic::end_of_interrupt();
    crate::object::irq::deliver(irq);
}

/// An interrupt or exception in kernel mode (the CPU waiting for an interrupt, an ASI
/// exit, or a kernel bug), or one of the vectors with their own stacks from either mode.
pub fn rust_kernel_trap(frame: &mut TrapFrame) {
    match frame.vector {
        vector if vector == u64::from(lapic::TIMER_VECTOR) => lapic::timer_interrupt(),
        vector if vector == u64::from(lapic::SPURIOUS_VECTOR) => {}
        vector if irq_of(vector).is_some() => deliver_irq(irq_of(vector).unwrap_or_default()),
        vector if vector >= FIRST_INTERRUPT || vector == u64::from(NMI) => {
            crate::fault::unexpected_interrupt(vector, frame.came_from_user_mode());
            if vector >= FIRST_INTERRUPT {
                lapic::end_of_interrupt();
            }
        }
        // A window address the restricted view lacks: an ASI exit, and the retry.
        vector
            if vector == u64::from(PAGE_FAULT)
                && !frame.came_from_user_mode()
                && super::asi::exit_on_fault(Cr2::read_raw(), frame.error_code) => {}
        vector => crate::fault::kernel_exception(
            frame,
            Exception {
                vector: vector as u8,
                error_code: frame.error_code,
                fault_address: (vector == u64::from(PAGE_FAULT)).then(Cr2::read_raw),
            },
        ),
    }
}

/// Every `syscall` from user mode, with its call number and where the entry code saved
/// the caller's registers (in its TCB, through the physical window).
pub extern "C" fn rust_syscall(number: u64, registers: u64) -> ! {
    crate::syscall::handle(number, super::context::thread_of_frame(registers))
}

/// [`rust_syscall`] under `mitigations=blanket`: the entry barrier first.
pub extern "C" fn rust_syscall_flushing(number: u64, registers: u64) -> ! {
    super::flush::entry_barrier();
    rust_syscall(number, registers)
}
