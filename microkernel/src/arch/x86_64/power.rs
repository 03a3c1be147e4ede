//! Ending the machine: QEMU's `isa-debug-exit` device, or a halt where there is none.

use x86_64::instructions::port::Port;

/// Writes `code` to the `isa-debug-exit` port; under QEMU the process exits with status
/// `(code << 1) | 1`. On a machine without the device the write is ignored and the CPU
/// halts for good.
pub fn exit_emulator(code: u32) -> ! {
    let mut port = Port::<u32>::new(syscall_abi::exit_code::PORT);
    // SAFETY: the port is the debug-exit device (or nothing); writing it has no effect on
    // memory and ends the emulator.
    unsafe { port.write(code) };
    halt_forever()
}

/// Stops this CPU with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Waits with interrupts enabled until one arrives and has been handled, then returns with
/// interrupts off again (the kernel runs with them off).
pub fn wait_for_interrupt() {
    // SAFETY: `sti; hlt` opens the window only for the halt (`sti` takes effect after the
    // next instruction, so no interrupt is lost between them); the handlers return here
    // through `trap_common`, and `cli` closes it before any other kernel code runs.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}
