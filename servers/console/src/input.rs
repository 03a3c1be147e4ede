//! Input from COM1: the receive side of the 16550 UART the kernel writes its log to.
//!
//! The console enables the UART's received-data interrupt; each interrupt masks IRQ 4 and
//! signals the notification bound to the console's thread. The console then reads every
//! byte waiting in the UART, echoes it and feeds it to the line editor, and acknowledges
//! the IRQ only when the UART is empty, so the next byte interrupts again. Finished lines
//! wait in a short queue for the input client; while the queue is full the console
//! leaves the bytes in the UART and the IRQ masked, and takes them once the client has
//! read a line.

use console_line::{Action, Editor, Line};
use heapless::Deque;
use libasi::cap::{Cap, IoPort, IrqHandler, Notification, Tcb};
use libasi::message::Message;
use libasi::process::{self, layout};
use libasi::{Error, debug};
use protocol::console::{self, com1, grants};
use protocol::{MAX_WORDS, OK, REFUSED, Text};

/// Interrupt enable register: the received-data-available interrupt.
const INTERRUPT_ENABLE: u16 = com1::DATA_PORTS.0 + 1;
const RECEIVED_DATA_INTERRUPT: u8 = 0x01;
/// Receive buffer register: the oldest byte received.
const RECEIVE_BUFFER: u16 = com1::DATA_PORTS.0;
/// Line status register: bit 0, a received byte is waiting.
const DATA_READY: u8 = 0x01;

/// COM1's input, and the lines made of it that the client has not read yet.
pub struct Input {
    irq: Cap<IrqHandler>,
    data: Cap<IoPort>,
    status: Cap<IoPort>,
    reader: Cap<Notification>,
    editor: Editor,
    lines: Deque<Line, { console::QUEUED_LINES }>,
    /// Ctrl-D was typed on an empty line: nothing more is read, and the IRQ is cleared, so
    /// that once every thread waits the system can end.
    ended: bool,
}

impl Input {
    /// The input `init` granted, set up and with whatever was typed before taken; `None`
    /// if it granted none (the slot of COM1's IRQ handler is empty).
    pub fn granted() -> Result<Option<Self>, Error> {
        let irq = Cap::<IrqHandler>::new(process::granted(grants::IRQ));
        if !irq.holds_claimed_kind()? {
            return Ok(None);
        }
        let signal = Cap::<Notification>::new(process::granted(grants::SIGNAL));
        Cap::<Tcb>::from_slot(layout::slot::TCB).bind_notification(signal)?;
        irq.set_notification(signal)?;
        let mut input = Self {
            irq,
            data: Cap::new(process::granted(grants::DATA)),
            status: Cap::new(process::granted(grants::STATUS)),
            reader: Cap::new(process::granted(grants::READER)),
            editor: Editor::new(),
            lines: Deque::new(),
            ended: false,
        };
        input.data.out8(INTERRUPT_ENABLE, RECEIVED_DATA_INTERRUPT)?;
        // Bytes typed before the interrupt was enabled raised none: take them now (this
        // also lets the first interrupt through).
        input.take()?;
        Ok(Some(input))
    }

    /// What has been typed of the line not yet finished.
    pub fn pending(&self) -> &[u8] {
        self.editor.pending()
    }

    /// Takes the bytes waiting in the UART, until it is empty (then the IRQ is acknowledged)
    /// or the queue of lines is full or input has ended (then it stays masked).
    pub fn take(&mut self) -> Result<(), Error> {
        while !self.ended && !self.lines.is_full() {
            if !self.data_ready()? {
                self.irq.ack()?;
                // A byte that arrived between the status read and the acknowledgement may
                // have raised its interrupt while the line was masked: look once more.
                if !self.data_ready()? {
                    return Ok(());
                }
            }
            let byte = self.data.in8(RECEIVE_BUFFER)?;
            self.feed(byte)?;
        }
        Ok(())
    }

    fn data_ready(&self) -> Result<bool, Error> {
        Ok(self.status.in8(com1::STATUS_PORT)? & DATA_READY != 0)
    }

    /// One byte to the line editor, and its echo.
    fn feed(&mut self, byte: u8) -> Result<(), Error> {
        match self.editor.feed(byte) {
            Action::Nothing => Ok(()),
            Action::Echo(byte) => debug::write(&[byte]),
            // Back over the character, blank it, back again.
            Action::Erase => debug::write(b"\x08 \x08"),
            Action::Line(line) => {
                debug::write(b"\n")?;
                // `take` stops while the queue is full, so there is room.
                let _ = self.lines.push_back(line);
                self.reader.signal()
            }
            // On an empty line: the cursor is at the start of a line already.
            Action::End => {
                self.ended = true;
                // Masked and routed nowhere: the kernel may stop once every thread waits.
                self.irq.clear()?;
                self.reader.signal()
            }
        }
    }

    /// The answer to the input client's [`READ_LINE`](console::READ_LINE).
    pub fn read_line(&mut self) -> Result<Message, Error> {
        let answer = match self.lines.pop_front() {
            Some(line) => {
                let label = if line.cut() { console::CUT } else { OK };
                let mut words = [0; MAX_WORDS];
                let count = Text::from_bytes(line.as_bytes()).to_words(&mut words);
                Message::with_words(label, &words[..count]).unwrap_or(Message::new(REFUSED))
            }
            None if self.ended => Message::new(console::END),
            None => Message::new(console::NO_LINE),
        };
        // A line left the queue: there is room for what waits in the UART.
        self.take()?;
        Ok(answer)
    }
}
