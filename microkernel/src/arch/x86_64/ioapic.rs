//! The I/O APIC: routes device interrupt lines to vectors on the bootstrap CPU. Every
//! input starts masked; an IRQ handler capability unmasks its line, and the kernel masks
//! it again on each delivery until user space acknowledges it.

use super::acpi::{InterruptRouting, IsaRoute};
use super::lapic;
use super::paging::{FrameSource, map_device_page};
use spin::{Mutex, Once};
use x86_64::{PhysAddr, VirtAddr};

/// The vector of IRQ 0; IRQ `n` arrives on `IRQ_VECTOR_BASE + n`.
pub const IRQ_VECTOR_BASE: u8 = 0x40;
/// IRQs the kernel routes: the 16 ISA lines and I/O APIC inputs 16–23.
pub const IRQS: u8 = 24;

const REGISTER_SELECT: u64 = 0x00;
const REGISTER_WINDOW: u64 = 0x10;
const REDIRECTION_TABLE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const ACTIVE_LOW: u32 = 1 << 13;

struct IoApic {
    registers: VirtAddr,
    gsi_base: u32,
    inputs: u32,
    isa: [IsaRoute; 16],
}

static IO_APIC: Once<Mutex<IoApic>> = Once::new();

impl IoApic {
    fn read(&self, register: u32) -> u32 {
        // SAFETY: `registers` maps the I/O APIC's page uncached; selecting a register and
        // reading the window is its documented access protocol and touches no memory.
        unsafe {
            (self.registers + REGISTER_SELECT).as_mut_ptr::<u32>().write_volatile(register);
            (self.registers + REGISTER_WINDOW).as_ptr::<u32>().read_volatile()
        }
    }

    fn write(&self, register: u32, value: u32) {
        // SAFETY: as in `read`; writing a redirection entry only reroutes an interrupt.
        unsafe {
            (self.registers + REGISTER_SELECT).as_mut_ptr::<u32>().write_volatile(register);
            (self.registers + REGISTER_WINDOW).as_mut_ptr::<u32>().write_volatile(value);
        }
    }

    /// The input and its electrical settings for `irq`.
    fn route(&self, irq: u8) -> Option<(u32, IsaRoute)> {
        let route = match self.isa.get(usize::from(irq)) {
            Some(&isa) => isa,
            None => IsaRoute { gsi: u32::from(irq), active_low: true, level_triggered: true },
        };
        let input = route.gsi.checked_sub(self.gsi_base).filter(|&input| input < self.inputs)?;
        Some((input, route))
    }

    fn program(&self, irq: u8, masked: bool) {
        let Some((input, route)) = self.route(irq) else { return };
        let mut low = u32::from(IRQ_VECTOR_BASE + irq);
        if route.active_low {
            low |= ACTIVE_LOW;
        }
        if route.level_triggered {
            low |= LEVEL_TRIGGERED;
        }
        if masked {
            low |= MASKED;
        }
        self.write(REDIRECTION_TABLE + 2 * input + 1, lapic::id() << 24);
        self.write(REDIRECTION_TABLE + 2 * input, low);
    }
}

/// Maps the I/O APIC and masks every input.
pub fn init(routing: &InterruptRouting, frames: &mut dyn FrameSource) -> u32 {
    let registers = map_device_page(PhysAddr::new(routing.io_apic_address), frames);
    let mut io_apic = IoApic { registers, gsi_base: routing.gsi_base, inputs: 0, isa: routing.isa };
    io_apic.inputs = ((io_apic.read(1) >> 16) & 0xff) + 1;
    for input in 0..io_apic.inputs {
        io_apic.write(REDIRECTION_TABLE + 2 * input, MASKED);
    }
    let inputs = io_apic.inputs;
    IO_APIC.call_once(|| Mutex::new(io_apic));
    inputs
}

/// The I/O APIC input `irq` arrives on, if it reaches one on this machine. Two IRQs can
/// share an input (an ISA line routed onto another's input): only one may be in use.
pub fn input(irq: u8) -> Option<u32> {
    if irq >= IRQS {
        return None;
    }
    IO_APIC.get()?.lock().route(irq).map(|(input, _)| input)
}

/// Lets `irq` through (`true`) or holds it back.
pub fn set_masked(irq: u8, masked: bool) {
    if let Some(io_apic) = IO_APIC.get() {
        io_apic.lock().program(irq, masked);
    }
}
