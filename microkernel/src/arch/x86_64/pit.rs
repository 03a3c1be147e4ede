//! The 8254 programmable interval timer, used only as a known clock to measure the local
//! APIC timer against.
//!
//! Channel 0 runs as a free-running rate generator and is read back by latching its count:
//! that needs nothing but the PIT's own ports. (Channel 2's output bit lives in the PC's
//! port 0x61, which QEMU's `microvm` machine does not have.) Its interrupt line stays masked.

use x86_64::instructions::port::Port;

/// The PIT's input clock, in Hz.
const PIT_FREQUENCY: u64 = 1_193_182;
const CHANNEL0_DATA: u16 = 0x40;
const COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const CHANNEL0_RATE_GENERATOR: u8 = 0b0011_0100;
/// Channel 0, latch the current count.
const CHANNEL0_LATCH: u8 = 0b0000_0000;
/// Reads of an unchanged count before concluding there is no PIT.
const MAX_STALLED_READS: u32 = 1_000_000;

/// The PIT did not count: the machine has none.
#[derive(Debug)]
pub struct NoPit;

struct Channel0 {
    command: Port<u8>,
    data: Port<u8>,
}

impl Channel0 {
    fn start_free_running(&mut self) {
        // SAFETY: programming channel 0 of the PIT with a full 65536-count period; its
        // interrupt line is masked, and no memory is touched.
        unsafe {
            self.command.write(CHANNEL0_RATE_GENERATOR);
            self.data.write(0);
            self.data.write(0);
        }
    }

    fn count(&mut self) -> u16 {
        // SAFETY: latching and reading channel 0's count has no effect beyond the PIT's
        // read-back state machine, which only this code uses.
        unsafe {
            self.command.write(CHANNEL0_LATCH);
            let low = self.data.read();
            let high = self.data.read();
            u16::from_le_bytes([low, high])
        }
    }
}

/// Starts channel 0 as a rate generator at about `hz` interrupts a second (its interrupt
/// line is the ISA IRQ 0), for the interrupt-delivery test.
#[cfg(feature = "ktest")]
pub fn start_periodic(hz: u64) {
    let divisor = (PIT_FREQUENCY / hz).clamp(1, 0xffff) as u16;
    let mut channel = Channel0 { command: Port::new(COMMAND), data: Port::new(CHANNEL0_DATA) };
    // SAFETY: reprogramming channel 0's period; no memory is touched.
    unsafe {
        channel.command.write(CHANNEL0_RATE_GENERATOR);
        channel.data.write(divisor as u8);
        channel.data.write((divisor >> 8) as u8);
    }
}

/// Runs `measure_start`, waits `millis` milliseconds by the PIT, then returns what
/// `measure_end` says. Interrupts are not used: the count is polled.
pub fn time_interval<T>(
    millis: u64,
    measure_start: impl FnOnce(),
    measure_end: impl FnOnce() -> T,
) -> Result<T, NoPit> {
    let wanted = PIT_FREQUENCY * millis / 1000;
    let mut channel = Channel0 { command: Port::new(COMMAND), data: Port::new(CHANNEL0_DATA) };
    channel.start_free_running();
    let mut last = channel.count();
    measure_start();
    let mut elapsed = 0u64;
    let mut stalled = 0u32;
    while elapsed < wanted {
        let now = channel.count();
        if now == last {
            stalled += 1;
            if stalled == MAX_STALLED_READS {
                return Err(NoPit);
            }
            continue;
        }
        stalled = 0;
        // The count runs down and wraps from 0 to 65535.
        elapsed += u64::from(last.wrapping_sub(now));
        last = now;
    }
    Ok(measure_end())
}
