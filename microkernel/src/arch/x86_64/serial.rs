//! The first 16550 UART (COM1), the kernel's console.

use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
const LINE_STATUS_TRANSMIT_EMPTY: u8 = 0x20;

struct Uart {
    data: Port<u8>,
    interrupt_enable: Port<u8>,
    fifo_control: Port<u8>,
    line_control: Port<u8>,
    modem_control: Port<u8>,
    line_status: Port<u8>,
}

impl Uart {
    const fn new(base: u16) -> Self {
        Self {
            data: Port::new(base),
            interrupt_enable: Port::new(base + 1),
            fifo_control: Port::new(base + 2),
            line_control: Port::new(base + 3),
            modem_control: Port::new(base + 4),
            line_status: Port::new(base + 5),
        }
    }

    fn init(&mut self) {
        // SAFETY: COM1's registers are I/O ports that only this driver touches; this is
        // the 16550's documented programming sequence (115200 baud, 8N1, FIFOs on, no
        // interrupts), which has no effect on memory.
        unsafe {
            self.interrupt_enable.write(0x00);
            self.line_control.write(0x80);
            self.data.write(0x01);
            self.interrupt_enable.write(0x00);
            self.line_control.write(0x03);
            self.fifo_control.write(0xc7);
            self.modem_control.write(0x03);
        }
    }

    fn write_byte(&mut self, byte: u8) {
        // SAFETY: reading the line status and writing the data register of COM1 only
        // moves a byte to the UART.
        unsafe {
            while self.line_status.read() & LINE_STATUS_TRANSMIT_EMPTY == 0 {
                core::hint::spin_loop();
            }
            self.data.write(byte);
        }
    }
}

static CONSOLE: Mutex<Uart> = Mutex::new(Uart::new(COM1));

/// Programs the UART. Output before this still works on QEMU, which ignores the setup.
pub fn init() {
    CONSOLE.lock().init();
}

/// Writes `bytes`, turning `\n` into `\r\n` for terminals.
pub fn write_bytes(bytes: &[u8]) {
    write_locked(&mut CONSOLE.lock(), bytes);
}

/// Writes `bytes` even if the console lock is held: for the panic path, where the holder
/// may be the code that panicked. Output may interleave; it is the last thing the kernel
/// says.
pub fn write_bytes_forced(bytes: &[u8]) {
    let mut uart = Uart::new(COM1);
    write_locked(&mut uart, bytes);
}

fn write_locked(uart: &mut Uart, bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'\n' {
            uart.write_byte(b'\r');
        }
        uart.write_byte(byte);
    }
}
