//! The 8254 PIT through an I/O port capability: channel 0 as a rate generator (its output
//! is ISA IRQ 0), its counter read back by latching, and time measured in its periods.

use libasi::Error;
use libasi::cap::{Cap, IoPort};

use crate::fail;
use crate::report::{Failure, ok};

pub const CHANNEL0: u16 = 0x40;
pub const COMMAND: u16 = 0x43;
/// The first and last of the PIT's ports.
pub const FIRST_PORT: u16 = CHANNEL0;
pub const LAST_PORT: u16 = COMMAND;
/// ISA line 0.
pub const IRQ: u8 = 0;

/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const RATE_GENERATOR: u8 = 0b0011_0100;
/// Channel 0, low then high byte, mode 0 (interrupt on terminal count): written without a
/// count, the channel stops counting and its output stays put.
const STOP: u8 = 0b0011_0000;
/// Channel 0, latch the current count.
const LATCH: u8 = 0b0000_0000;

/// The divisor for about 1000 interrupts a second (1.193182 MHz input clock).
pub const KHZ: u16 = 1193;

/// Samples of an unchanging counter before a wait gives up: the PIT is not counting.
const MAX_STALLED: u32 = 200_000;

/// Channel 0 of the PIT, through a capability covering ports 0x40–0x43.
#[derive(Clone, Copy, Debug)]
pub struct Pit(pub Cap<IoPort>);

impl Pit {
    /// Runs channel 0 as a rate generator: one period (and one interrupt) every `divisor`
    /// input clocks.
    pub fn start(self, divisor: u16) -> Result<(), Error> {
        let [low, high] = divisor.to_le_bytes();
        self.0.out8(COMMAND, RATE_GENERATOR)?;
        self.0.out8(CHANNEL0, low)?;
        self.0.out8(CHANNEL0, high)
    }

    /// Stops channel 0's periodic output.
    pub fn stop(self) -> Result<(), Error> {
        self.0.out8(COMMAND, STOP)
    }

    /// Channel 0's current count.
    pub fn count(self) -> Result<u16, Error> {
        self.0.out8(COMMAND, LATCH)?;
        let low = self.0.in8(CHANNEL0)?;
        let high = self.0.in8(CHANNEL0)?;
        Ok(u16::from_le_bytes([low, high]))
    }

    /// Calls `probe` until it finds something (returned) or the counter has reloaded
    /// `periods` times (`None`). A reload is seen as the count going up; a period missed
    /// between two samples only makes the wait longer. Fails if the counter stops moving.
    pub fn wait_for<T>(
        self,
        periods: u32,
        mut probe: impl FnMut() -> Result<Option<T>, Failure>,
    ) -> Result<Option<T>, Failure> {
        let mut last = ok(self.count(), "read the PIT's count")?;
        let mut seen = 0;
        let mut stalled = 0;
        while seen < periods {
            if let Some(found) = probe()? {
                return Ok(Some(found));
            }
            let now = ok(self.count(), "read the PIT's count")?;
            if now == last {
                stalled += 1;
                if stalled == MAX_STALLED {
                    fail!("the PIT's count stays at {now} (is channel 0 running?)");
                }
                continue;
            }
            stalled = 0;
            if now > last {
                seen += 1;
            }
            last = now;
        }
        Ok(None)
    }

    /// Waits `periods` periods.
    pub fn delay(self, periods: u32) -> Result<(), Failure> {
        self.wait_for(periods, || Ok(None::<()>)).map(drop)
    }
}
