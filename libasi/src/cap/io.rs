//! I/O ports: the I/O port control capability issues capabilities to ranges of ports, and
//! an I/O port capability reads and writes the ports it covers.
//!
//! The kernel refuses ranges that touch the ports it drives itself (the interrupt
//! controllers 0x20–0x21 and 0xa0–0xa1, the emulator's exit port 0xf4–0xf7 and the
//! registers that configure its serial console, COM1's 0x3fa–0x3fc: COM1's data,
//! interrupt-enable and status registers may be issued, for a console server that reads
//! input), and every access that is not wholly inside the capability's range:
//! a 16-bit access at the last port, or a 32-bit one within three ports of it, is refused.

use syscall_abi::invocation::Invocation;

use super::{Cap, IoPort, IoPortControl, SlotRef};
use crate::Error;
use crate::message::Message;

/// `IoPortControlIssue`: first port, last port, destination CNode, index, depth.
fn issue_message(first: u16, last: u16, dest: SlotRef) -> Message {
    Message::new(Invocation::IoPortControlIssue.label())
        .push(u64::from(first))
        .push(u64::from(last))
        .push(dest.cnode.cptr().0)
        .push(dest.slot.index)
        .push(u64::from(dest.slot.depth))
}

/// The width of one port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Byte,
    Word,
    DoubleWord,
}

/// `IoPortIn8/16/32`: port.
fn in_message(width: Width, port: u16) -> Message {
    let invocation = match width {
        Width::Byte => Invocation::IoPortIn8,
        Width::Word => Invocation::IoPortIn16,
        Width::DoubleWord => Invocation::IoPortIn32,
    };
    Message::new(invocation.label()).push(u64::from(port))
}

/// `IoPortOut8/16/32`: port, value.
fn out_message(width: Width, port: u16, value: u32) -> Message {
    let invocation = match width {
        Width::Byte => Invocation::IoPortOut8,
        Width::Word => Invocation::IoPortOut16,
        Width::DoubleWord => Invocation::IoPortOut32,
    };
    Message::new(invocation.label()).push(u64::from(port)).push(u64::from(value))
}

/// Issuing I/O port capabilities.
///
/// # Example: reading the PIT's counter
///
/// ```ignore
/// use libasi::cap::{Cap, IoPortControl};
///
/// // The PIT's four ports into free root slot `slot`, then latch channel 0's count.
/// let pit = Cap::<IoPortControl>::BOOT.issue(0x40, 0x43, slot)?;
/// pit.out8(0x43, 0x00)?;
/// let count = u16::from_le_bytes([pit.in8(0x40)?, pit.in8(0x40)?]);
/// ```
///
/// (Not a doctest: it needs the kernel. `tests/guest/devtest` does this in QEMU.)
impl Cap<IoPortControl> {
    /// Makes a capability to the ports `first..=last` in the empty root slot `slot` and
    /// returns it. Refusals: [`Error::RangeError`] with word 0 if the range touches a port
    /// the kernel drives, word 1 if `last < first`; [`Error::RevokeFirst`] if a capability
    /// to one of the ports exists; [`Error::DeleteFirst`] if the slot is occupied. A copy
    /// of I/O port control issues too; revoking the original takes back what it issued.
    pub fn issue(self, first: u16, last: u16, slot: u64) -> Result<Cap<IoPort>, Error> {
        self.issue_at(first, last, SlotRef::root(slot))?;
        Ok(Cap::from_slot(slot))
    }

    /// As [`issue`](Self::issue), into any slot: `dest` names a CNode in the caller's
    /// CSpace and a slot resolved in it.
    pub fn issue_at(self, first: u16, last: u16, dest: SlotRef) -> Result<(), Error> {
        issue_message(first, last, dest).call(self.cptr()).map(drop)
    }
}

impl Cap<IoPort> {
    fn read(self, width: Width, port: u16) -> Result<u32, Error> {
        // The kernel answers the value zero-extended from the access width.
        in_message(width, port).call(self.cptr()).map(|value| value as u32)
    }

    fn write(self, width: Width, port: u16, value: u32) -> Result<(), Error> {
        out_message(width, port, value).call(self.cptr()).map(drop)
    }

    /// Reads a byte from `port`. Every access is refused with [`Error::RangeError`] (word
    /// 0) unless all the ports it touches are in the capability's range.
    pub fn in8(self, port: u16) -> Result<u8, Error> {
        self.read(Width::Byte, port).map(|value| value as u8)
    }

    /// Reads 16 bits from `port` and `port + 1`.
    pub fn in16(self, port: u16) -> Result<u16, Error> {
        self.read(Width::Word, port).map(|value| value as u16)
    }

    /// Reads 32 bits from `port ..= port + 3`.
    pub fn in32(self, port: u16) -> Result<u32, Error> {
        self.read(Width::DoubleWord, port)
    }

    /// Writes a byte to `port`.
    pub fn out8(self, port: u16, value: u8) -> Result<(), Error> {
        self.write(Width::Byte, port, u32::from(value))
    }

    /// Writes 16 bits to `port` and `port + 1`.
    pub fn out16(self, port: u16, value: u16) -> Result<(), Error> {
        self.write(Width::Word, port, u32::from(value))
    }

    /// Writes 32 bits to `port ..= port + 3`.
    pub fn out32(self, port: u16, value: u32) -> Result<(), Error> {
        self.write(Width::DoubleWord, port, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{CNode, CPtr, CapType};
    use syscall_abi::invocation::CapKind;

    fn check(message: &Message, invocation: Invocation, words: &[u64]) {
        assert_eq!(message.label(), invocation.label());
        assert_eq!(message.words(), words);
        assert_eq!(words.len(), invocation.words(), "{invocation:?}");
        assert_eq!(usize::from(message.info().length), words.len());
    }

    #[test]
    fn issue_sends_range_then_destination() {
        let dest = SlotRef::new(Cap::<CNode>::from_slot(9), 0x123, 12);
        check(
            &issue_message(0x40, 0x43, dest),
            Invocation::IoPortControlIssue,
            &[0x40, 0x43, 9, 0x123, 12],
        );
        check(
            &issue_message(0, u16::MAX, SlotRef::root(300)),
            Invocation::IoPortControlIssue,
            &[0, 0xffff, 1, 300, 64],
        );
    }

    #[test]
    fn accesses_pick_the_invocation_by_width() {
        check(&in_message(Width::Byte, 0x40), Invocation::IoPortIn8, &[0x40]);
        check(&in_message(Width::Word, 0x1f0), Invocation::IoPortIn16, &[0x1f0]);
        check(&in_message(Width::DoubleWord, 0xcfc), Invocation::IoPortIn32, &[0xcfc]);
        check(&out_message(Width::Byte, 0x43, 0x34), Invocation::IoPortOut8, &[0x43, 0x34]);
        check(&out_message(Width::Word, 0x1f0, 0xbeef), Invocation::IoPortOut16, &[0x1f0, 0xbeef]);
        check(
            &out_message(Width::DoubleWord, 0xcf8, 0x8000_0000),
            Invocation::IoPortOut32,
            &[0xcf8, 0x8000_0000],
        );
    }

    #[test]
    fn the_boot_control_capability_is_in_its_fixed_slot() {
        assert_eq!(Cap::<IoPortControl>::BOOT.cptr(), CPtr(7));
        assert_eq!(<IoPortControl as CapType>::KIND, CapKind::IoPortControl);
        assert_eq!(<IoPort as CapType>::KIND, CapKind::IoPort);
    }
}
