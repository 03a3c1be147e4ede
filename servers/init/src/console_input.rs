//! Console input, with the boot argument [`INTERACTIVE`]: COM1's IRQ and receive
//! registers for the console, and an input notification for the client, which init makes
//! the console's input client. Without it the console only prints, no IRQ is routed, and
//! the system ends once every thread waits; with it, it ends when input does (Ctrl-D).

use libasi::cap::{
    CNodeAt, Cap, IoPort, IoPortControl, IrqControl, IrqHandler, Notification, ObjectKind, Rights,
    SlotAllocator, Untyped,
};
use libasi::process::SpawnOptions;
use protocol::console::{self, com1};

use crate::{Context, InitError};

/// init's boot argument for an interactive console.
pub const INTERACTIVE: &str = "console=interactive";

/// What the console and its input client get for input.
pub struct ConsoleInput {
    /// Bound to the console's thread; COM1's IRQ signals it.
    signal: Cap<Notification>,
    /// The client's: the console signals it when a line is ready.
    reader: Cap<Notification>,
    irq: Cap<IrqHandler>,
    data: Cap<IoPort>,
    status: Cap<IoPort>,
}

impl ConsoleInput {
    /// Makes the two notifications from `pool` and takes COM1's IRQ and ports.
    pub fn new(pool: Cap<Untyped>, slots: &mut SlotAllocator) -> Result<Self, InitError> {
        let first = slots.alloc_range(2).ok_or(InitError::NoSlots)?;
        pool.retype(ObjectKind::Notification, 0, CNodeAt::ROOT, first, 2)
            .context("retype the console input's notifications")?;
        let mut slot = || slots.alloc().ok_or(InitError::NoSlots);
        let irq = Cap::<IrqControl>::BOOT.get(com1::IRQ, slot()?).context("COM1's IRQ")?;
        let (first_port, last_port) = com1::DATA_PORTS;
        let data = Cap::<IoPortControl>::BOOT
            .issue(first_port, last_port, slot()?)
            .context("COM1's data ports")?;
        let status = Cap::<IoPortControl>::BOOT
            .issue(com1::STATUS_PORT, com1::STATUS_PORT, slot()?)
            .context("COM1's status port")?;
        Ok(Self {
            signal: Cap::from_slot(first),
            reader: Cap::from_slot(first + 1),
            irq,
            data,
            status,
        })
    }

    /// The console's input capabilities, after its endpoint (`console::grants`). The IRQ
    /// handler and the ports are moved: only the console drives COM1's input.
    pub fn console(&self, options: SpawnOptions) -> SpawnOptions {
        options
            .grant_badged(self.signal.cptr(), Rights::WRITE, console::SERIAL_SIGNAL)
            .grant_moved(self.irq.cptr())
            .grant_moved(self.data.cptr())
            .grant_moved(self.status.cptr())
            .grant_badged(self.reader.cptr(), Rights::WRITE, console::LINE_READY)
    }

    /// The input client's notification, after its other capabilities (`client::grants`).
    pub fn client(&self, options: SpawnOptions) -> SpawnOptions {
        options.grant(self.reader.cptr(), Rights::READ)
    }
}
