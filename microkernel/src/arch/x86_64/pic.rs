//! The legacy 8259 interrupt controllers: moved off the exception vectors and masked,
//! since the kernel does not take device interrupts through them.

use x86_64::instructions::port::Port;

const PRIMARY_COMMAND: u16 = 0x20;
const PRIMARY_DATA: u16 = 0x21;
const SECONDARY_COMMAND: u16 = 0xa0;
const SECONDARY_DATA: u16 = 0xa1;
/// Where the remapped PIC vectors start, so a stray one cannot pose as an exception.
const PIC_VECTOR_BASE: u8 = 0x20;

/// Reprograms both PICs to vectors 0x20..0x30 and masks every line.
pub fn disable() {
    let mut primary_command = Port::<u8>::new(PRIMARY_COMMAND);
    let mut primary_data = Port::<u8>::new(PRIMARY_DATA);
    let mut secondary_command = Port::<u8>::new(SECONDARY_COMMAND);
    let mut secondary_data = Port::<u8>::new(SECONDARY_DATA);
    // SAFETY: the 8259 initialisation sequence (ICW1..ICW4) followed by a full mask; the
    // ports belong to the PICs and writing them touches no memory. Where no PIC exists
    // the writes are ignored.
    unsafe {
        primary_command.write(0x11);
        secondary_command.write(0x11);
        primary_data.write(PIC_VECTOR_BASE);
        secondary_data.write(PIC_VECTOR_BASE + 8);
        primary_data.write(4);
        secondary_data.write(2);
        primary_data.write(0x01);
        secondary_data.write(0x01);
        primary_data.write(0xff);
        secondary_data.write(0xff);
    }
}
