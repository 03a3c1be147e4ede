//! I/O ports for user space: I/O port control issues capabilities to port ranges, and an
//! I/O port capability reads and writes the ports it covers.

use super::cspace;
use super::invoke::{Reply, cap_refusal};
use super::slots::Slots;
use crate::arch::{self, PortWidth};
use crate::syscall::{Message, Refusal};
use kernel_core::cap::Capability;
use kernel_core::cap::ops::insert_child;
use spin::Mutex;
use syscall_abi::SyscallError;
use syscall_abi::invocation::Invocation;

/// Which ports have been issued, one bit each: issued ranges never overlap, so each I/O
/// port capability (with its copies) is the only authority over its ports and revoking
/// one never reaches another.
static ISSUED: Mutex<[u64; 1024]> = Mutex::new([0; 1024]);

fn ports(first: u16, last: u16) -> impl Iterator<Item = usize> {
    usize::from(first)..=usize::from(last)
}

/// The last capability to `first..=last` is gone: the ports can be issued again.
pub fn release(first: u16, last: u16) {
    let mut issued = ISSUED.lock();
    for port in ports(first, last) {
        issued[port / 64] &= !(1 << (port % 64));
    }
}

/// Ports the kernel drives itself: the legacy interrupt controllers, the emulator's exit
/// port, and the registers that configure its serial console (COM1's FIFO control, line
/// control and modem control). COM1's data and interrupt-enable registers (0x3f8–0x3f9)
/// and its status registers (0x3fd–0x3ff) may go to a console server that reads input:
/// the kernel only writes the data register and polls the line status, which reading
/// the received byte, enabling the receive interrupt or reading the status cannot upset,
/// and with the line control register kept here 0x3f8–0x3f9 never become the divisor.
const KERNEL_PORTS: [(u16, u16); 4] = [(0x20, 0x21), (0xa0, 0xa1), (0xf4, 0xf7), (0x3fa, 0x3fc)];

/// I/O port control's one invocation: words first, last, destination CNode, index, depth.
pub fn control(
    root: &Capability,
    control_slot: u64,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    if invocation != Invocation::IoPortControlIssue {
        return Err(SyscallError::IllegalOperation.into());
    }
    let first =
        u16::try_from(message.word(0)?).map_err(|_| Refusal::new(SyscallError::RangeError, 0))?;
    let last = u16::try_from(message.word(1)?)
        .ok()
        .filter(|&last| last >= first)
        .ok_or(Refusal::new(SyscallError::RangeError, 1))?;
    if KERNEL_PORTS.iter().any(|&(low, high)| first <= high && low <= last) {
        return Err(Refusal::new(SyscallError::RangeError, 0));
    }
    let (_, cnode) = cspace::capability(root, message.word(2)?)?;
    if !matches!(cnode, Capability::CNode { .. }) {
        return Err(Refusal::new(SyscallError::InvalidCapability, 2));
    }
    let destination = cspace::slot(&cnode, message.word(3)?, message.word(4)?, 4)?;
    let mut issued = ISSUED.lock();
    if ports(first, last).any(|port| issued[port / 64] & (1 << (port % 64)) != 0) {
        return Err(SyscallError::RevokeFirst.into());
    }
    // The invoked capability may be a copy of the control capability: the new one then
    // goes under the original (see `insert_child`), as in seL4.
    insert_child(&mut Slots, control_slot, destination, Capability::IoPort { first, last })
        .map_err(|error| cap_refusal(error, u64::MAX))?;
    for port in ports(first, last) {
        issued[port / 64] |= 1 << (port % 64);
    }
    Ok(Reply::empty())
}

/// An I/O port capability's invocations: In8/16/32 (word: port; value in `rdx`) and
/// Out8/16/32 (words: port, value).
pub fn access(
    first: u16,
    last: u16,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    let (width, write) = match invocation {
        Invocation::IoPortIn8 => (PortWidth::Byte, false),
        Invocation::IoPortIn16 => (PortWidth::Word, false),
        Invocation::IoPortIn32 => (PortWidth::DoubleWord, false),
        Invocation::IoPortOut8 => (PortWidth::Byte, true),
        Invocation::IoPortOut16 => (PortWidth::Word, true),
        Invocation::IoPortOut32 => (PortWidth::DoubleWord, true),
        _ => return Err(SyscallError::IllegalOperation.into()),
    };
    let bytes = match width {
        PortWidth::Byte => 1,
        PortWidth::Word => 2,
        PortWidth::DoubleWord => 4,
    };
    let port = u16::try_from(message.word(0)?)
        .ok()
        .filter(|&port| port >= first && u32::from(port) + bytes - 1 <= u32::from(last))
        .ok_or(Refusal::new(SyscallError::RangeError, 0))?;
    if write {
        let value = u32::try_from(message.word(1)?)
            .map_err(|_| Refusal::new(SyscallError::RangeError, 1))?;
        arch::port_write(port, width, value);
        return Ok(Reply::empty());
    }
    Ok(Reply { value: u64::from(arch::port_read(port, width)), words: heapless::Vec::new() })
}
