//! I/O port access on behalf of user space, through an I/O port capability.

use x86_64::instructions::port::Port;

/// How wide an I/O port access is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortWidth {
    Byte,
    Word,
    DoubleWord,
}

/// Reads `port`. The caller holds a capability to it (and the kernel drives none of the
/// ports such capabilities cover).
pub fn read(port: u16, width: PortWidth) -> u32 {
    // SAFETY: reading an I/O port touches no memory; which device it reaches is the
    // capability holder's business, and the kernel's own devices are never covered.
    unsafe {
        match width {
            PortWidth::Byte => u32::from(Port::<u8>::new(port).read()),
            PortWidth::Word => u32::from(Port::<u16>::new(port).read()),
            PortWidth::DoubleWord => Port::<u32>::new(port).read(),
        }
    }
}

/// Writes `value` (cut to the width) to `port`, for a capability holder as for [`read`].
pub fn write(port: u16, width: PortWidth, value: u32) {
    // SAFETY: as for `read`: the access touches no memory the kernel relies on.
    unsafe {
        match width {
            PortWidth::Byte => Port::<u8>::new(port).write(value as u8),
            PortWidth::Word => Port::<u16>::new(port).write(value as u16),
            PortWidth::DoubleWord => Port::<u32>::new(port).write(value),
        }
    }
}
