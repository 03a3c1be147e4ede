//! What the root task learns at boot: where its initial capabilities are.
//!
//! The kernel builds one [`BootInfo`] and the root task copies it out with the `BootInfo`
//! system call (no shared mapping: user code reads it without `unsafe`). The wire format
//! is fixed little-endian, written by [`BootInfo::encode`] and checked by
//! [`BootInfo::decode`], so a reader never trusts lengths it has not checked.

/// Slots of the root CNode that hold the same capability on every boot.
pub mod slot {
    /// Always empty: capability pointer 0 names nothing.
    pub const NULL: u64 = 0;
    /// The root CNode itself.
    pub const CNODE: u64 = 1;
    /// The authority to create IRQ handler capabilities.
    pub const IRQ_CONTROL: u64 = 2;
    /// The authority to change memory's sensitivity.
    pub const ASI_CONTROL: u64 = 3;
    /// The root task's own thread.
    pub const TCB: u64 = 4;
    /// The root task's address space.
    pub const VSPACE: u64 = 5;
    /// The frame holding the root task's IPC buffer.
    pub const IPC_BUFFER: u64 = 6;
    /// The authority to create I/O port capabilities.
    pub const IO_PORT_CONTROL: u64 = 7;
    /// The first slot the kernel fills per boot (modules, untyped memory).
    pub const FIRST_FREE: u64 = 8;
}

/// The most untyped capabilities the boot information lists.
pub const MAX_UNTYPED: usize = 256;
/// The most boot modules it lists.
pub const MAX_MODULES: usize = 8;
/// The longest module name it keeps, in bytes.
pub const MAX_MODULE_NAME: usize = 32;
/// Bytes of an encoded [`BootInfo`] at most; a buffer this large always suffices.
pub const ENCODED_MAX: usize =
    HEADER_BYTES + MAX_UNTYPED * UNTYPED_BYTES + MAX_MODULES * MODULE_BYTES;

const MAGIC: u32 = 0x4153_4942; // "BISA"
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 4 + 4 + 1 + 7 + 8 * 5 + 4 + 4;
const UNTYPED_BYTES: usize = 8 + 1 + 1 + 6;
const MODULE_BYTES: usize = 8 + 8 + 8 + 1 + MAX_MODULE_NAME + 7;

/// A run of consecutive slots in the root CNode, `start .. end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u64,
    pub end: u64,
}

impl SlotRange {
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// One untyped capability: `2^size_bits` bytes of physical memory at `base`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDescriptor {
    pub base: u64,
    pub size_bits: u8,
    /// Device memory: it can only become frames, which the kernel never zeroes.
    pub device: bool,
}

/// A boot module: a file the boot loader placed in memory, given to the root task as the
/// 4 KiB frames that hold it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleDescriptor {
    /// The frame capabilities, in address order; the module starts at the first frame.
    pub frames: SlotRange,
    /// The module's length in bytes.
    pub size: u64,
    name: [u8; MAX_MODULE_NAME],
    name_len: u8,
}

impl ModuleDescriptor {
    /// A descriptor; `None` if the name is longer than [`MAX_MODULE_NAME`].
    pub fn new(name: &str, frames: SlotRange, size: u64) -> Option<Self> {
        let mut descriptor = Self { frames, size, name: [0; MAX_MODULE_NAME], name_len: 0 };
        descriptor.name.get_mut(..name.len())?.copy_from_slice(name.as_bytes());
        descriptor.name_len = name.len() as u8;
        Some(descriptor)
    }

    /// The module's name (its file name), as the boot loader gave it.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..usize::from(self.name_len)]).unwrap_or_default()
    }
}

/// The root task's initial capabilities, beyond the fixed [`slot`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// The root CNode has `2^cnode_radix_bits` slots.
    pub cnode_radix_bits: u8,
    /// Where the root task's IPC buffer is mapped ([`crate::ipc::ipc_buffer`]).
    pub ipc_buffer: u64,
    /// Slots the root task may fill.
    pub empty: SlotRange,
    /// Slots holding untyped capabilities, described in the same order by `untyped()`.
    pub untyped_slots: SlotRange,
    untyped: [UntypedDescriptor; MAX_UNTYPED],
    untyped_count: usize,
    modules: [ModuleDescriptor; MAX_MODULES],
    module_count: usize,
}

/// An untyped or module list is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFull;

/// Why bytes are not a boot information record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header or the lists it announces.
    Truncated,
    /// Not this format, or another version of it.
    BadMagicOrVersion,
    /// A count or name length beyond this format's limits, or a name that is not UTF-8.
    OutOfRange,
}

impl BootInfo {
    /// An empty record for a root CNode of `2^cnode_radix_bits` slots.
    pub const fn new(cnode_radix_bits: u8) -> Self {
        Self {
            cnode_radix_bits,
            ipc_buffer: 0,
            empty: SlotRange { start: 0, end: 0 },
            untyped_slots: SlotRange { start: 0, end: 0 },
            untyped: [UntypedDescriptor { base: 0, size_bits: 0, device: false }; MAX_UNTYPED],
            untyped_count: 0,
            modules: [ModuleDescriptor {
                frames: SlotRange { start: 0, end: 0 },
                size: 0,
                name: [0; MAX_MODULE_NAME],
                name_len: 0,
            }; MAX_MODULES],
            module_count: 0,
        }
    }

    pub fn untyped(&self) -> &[UntypedDescriptor] {
        &self.untyped[..self.untyped_count]
    }

    /// The slot and size (bits) of the largest untyped region of RAM (the first of equal
    /// ones), where a root task usually makes its objects from.
    pub fn largest_ram(&self) -> Option<(u64, u8)> {
        let (index, largest) = self
            .untyped()
            .iter()
            .enumerate()
            .filter(|(_, untyped)| !untyped.device)
            .max_by_key(|&(index, untyped)| (untyped.size_bits, core::cmp::Reverse(index)))?;
        Some((self.untyped_slots.start + index as u64, largest.size_bits))
    }

    pub fn modules(&self) -> &[ModuleDescriptor] {
        &self.modules[..self.module_count]
    }

    pub fn push_untyped(&mut self, untyped: UntypedDescriptor) -> Result<(), ListFull> {
        *self.untyped.get_mut(self.untyped_count).ok_or(ListFull)? = untyped;
        self.untyped_count += 1;
        Ok(())
    }

    pub fn push_module(&mut self, module: ModuleDescriptor) -> Result<(), ListFull> {
        *self.modules.get_mut(self.module_count).ok_or(ListFull)? = module;
        self.module_count += 1;
        Ok(())
    }

    /// Writes the record into `out` and returns its length; `None` if `out` is too short
    /// (a buffer of [`ENCODED_MAX`] bytes never is).
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut writer = Writer { out, at: 0 };
        writer.u32(MAGIC)?;
        writer.u32(VERSION)?;
        writer.u8(self.cnode_radix_bits)?;
        writer.bytes(&[0; 7])?;
        for value in [
            self.ipc_buffer,
            self.empty.start,
            self.empty.end,
            self.untyped_slots.start,
            self.untyped_slots.end,
        ] {
            writer.u64(value)?;
        }
        writer.u32(self.untyped_count as u32)?;
        writer.u32(self.module_count as u32)?;
        for untyped in self.untyped() {
            writer.u64(untyped.base)?;
            writer.u8(untyped.size_bits)?;
            writer.u8(u8::from(untyped.device))?;
            writer.bytes(&[0; 6])?;
        }
        for module in self.modules() {
            writer.u64(module.frames.start)?;
            writer.u64(module.frames.end)?;
            writer.u64(module.size)?;
            writer.u8(module.name_len)?;
            writer.bytes(&module.name)?;
            writer.bytes(&[0; 7])?;
        }
        Some(writer.at)
    }

    /// Reads a record written by [`encode`](Self::encode), checking every count.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.u32()? != MAGIC || reader.u32()? != VERSION {
            return Err(DecodeError::BadMagicOrVersion);
        }
        let mut info = Self::new(reader.u8()?);
        reader.skip(7)?;
        info.ipc_buffer = reader.u64()?;
        info.empty = SlotRange { start: reader.u64()?, end: reader.u64()? };
        info.untyped_slots = SlotRange { start: reader.u64()?, end: reader.u64()? };
        let untyped_count = reader.u32()? as usize;
        let module_count = reader.u32()? as usize;
        if untyped_count > MAX_UNTYPED || module_count > MAX_MODULES {
            return Err(DecodeError::OutOfRange);
        }
        for _ in 0..untyped_count {
            let base = reader.u64()?;
            let size_bits = reader.u8()?;
            let device = reader.u8()? != 0;
            reader.skip(6)?;
            info.push_untyped(UntypedDescriptor { base, size_bits, device })
                .map_err(|ListFull| DecodeError::OutOfRange)?;
        }
        for _ in 0..module_count {
            let frames = SlotRange { start: reader.u64()?, end: reader.u64()? };
            let size = reader.u64()?;
            let name_len = usize::from(reader.u8()?);
            let name = reader.take(MAX_MODULE_NAME)?;
            reader.skip(7)?;
            let name = name.get(..name_len).ok_or(DecodeError::OutOfRange)?;
            let name = core::str::from_utf8(name).map_err(|_| DecodeError::OutOfRange)?;
            let module =
                ModuleDescriptor::new(name, frames, size).ok_or(DecodeError::OutOfRange)?;
            info.push_module(module).map_err(|ListFull| DecodeError::OutOfRange)?;
        }
        Ok(info)
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Option<()> {
        self.out.get_mut(self.at..self.at + bytes.len())?.copy_from_slice(bytes);
        self.at += bytes.len();
        Some(())
    }

    fn u8(&mut self, value: u8) -> Option<()> {
        self.bytes(&[value])
    }

    fn u32(&mut self, value: u32) -> Option<()> {
        self.bytes(&value.to_le_bytes())
    }

    fn u64(&mut self, value: u64) -> Option<()> {
        self.bytes(&value.to_le_bytes())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let taken = self.bytes.get(self.at..self.at + len).ok_or(DecodeError::Truncated)?;
        self.at += len;
        Ok(taken)
    }

    fn skip(&mut self, len: usize) -> Result<(), DecodeError> {
        self.take(len).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut word = [0; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut word = [0; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BootInfo {
        let mut info = BootInfo::new(12);
        info.ipc_buffer = 0x7fff_f000_0000;
        info.empty = SlotRange { start: 300, end: 4096 };
        info.untyped_slots = SlotRange { start: 100, end: 102 };
        info.push_untyped(UntypedDescriptor { base: 0x40_0000, size_bits: 22, device: false })
            .unwrap();
        info.push_untyped(UntypedDescriptor { base: 0xfe00_0000, size_bits: 20, device: true })
            .unwrap();
        let frames = SlotRange { start: 6, end: 100 };
        info.push_module(ModuleDescriptor::new("memsrv", frames, 380_000).unwrap()).unwrap();
        info
    }

    #[test]
    fn a_record_round_trips() {
        let info = sample();
        let mut buffer = [0u8; ENCODED_MAX];
        let len = info.encode(&mut buffer).unwrap();
        assert_eq!(BootInfo::decode(&buffer[..len]), Ok(info.clone()));
        assert_eq!(info.modules()[0].name(), "memsrv");
        assert!(info.untyped()[1].device);
    }

    #[test]
    fn a_full_record_fits_the_maximum() {
        let mut info = BootInfo::new(12);
        for index in 0..MAX_UNTYPED as u64 {
            info.push_untyped(UntypedDescriptor {
                base: index << 12,
                size_bits: 12,
                device: false,
            })
            .unwrap();
        }
        assert_eq!(info.push_untyped(UntypedDescriptor::default()), Err(ListFull));
        for _ in 0..MAX_MODULES {
            info.push_module(
                ModuleDescriptor::new(&"m".repeat(MAX_MODULE_NAME), SlotRange::default(), 1)
                    .unwrap(),
            )
            .unwrap();
        }
        let mut buffer = [0u8; ENCODED_MAX];
        assert_eq!(info.encode(&mut buffer), Some(ENCODED_MAX));
        assert_eq!(BootInfo::decode(&buffer).unwrap(), info);
        assert_eq!(info.encode(&mut buffer[..ENCODED_MAX - 1]), None);
    }

    #[test]
    fn damaged_records_are_refused() {
        let mut buffer = [0u8; ENCODED_MAX];
        let len = sample().encode(&mut buffer).unwrap();
        assert_eq!(BootInfo::decode(&buffer[..len - 1]), Err(DecodeError::Truncated));
        let mut wrong_magic = buffer;
        wrong_magic[0] ^= 1;
        assert_eq!(BootInfo::decode(&wrong_magic[..len]), Err(DecodeError::BadMagicOrVersion));
        let mut too_many = buffer;
        too_many[HEADER_BYTES - 8..HEADER_BYTES - 4]
            .copy_from_slice(&(MAX_UNTYPED as u32 + 1).to_le_bytes());
        assert_eq!(BootInfo::decode(&too_many[..len]), Err(DecodeError::OutOfRange));
        let mut long_name = buffer;
        let name_len_at = HEADER_BYTES + 2 * UNTYPED_BYTES + 24;
        long_name[name_len_at] = MAX_MODULE_NAME as u8 + 1;
        assert_eq!(BootInfo::decode(&long_name[..len]), Err(DecodeError::OutOfRange));
    }

    #[test]
    fn module_names_longer_than_the_limit_are_refused() {
        assert!(
            ModuleDescriptor::new(&"x".repeat(MAX_MODULE_NAME + 1), SlotRange::default(), 0)
                .is_none()
        );
    }
}
