//! What the boot loader tells the kernel — memory map, boot modules, command line — read
//! from the Multiboot 1 information structure and kept in fixed-size storage.

use crate::memory::{MemoryRegion, PhysRange, RegionKind};

/// The most memory-map entries kept.
pub const MAX_MEMORY_REGIONS: usize = 64;
/// The most boot modules kept.
pub const MAX_MODULES: usize = 8;
/// The longest command line (kernel or module) kept, in bytes.
pub const MAX_COMMAND_LINE: usize = 256;

/// The magic value a Multiboot 1 loader leaves in `eax`.
pub const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

const FLAG_COMMAND_LINE: u32 = 1 << 2;
const FLAG_MODULES: u32 = 1 << 3;
const FLAG_MEMORY_MAP: u32 = 1 << 6;
const INFO_SIZE: usize = 52;
const MODULE_ENTRY_SIZE: u64 = 16;

/// Why the boot information could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The loader is not Multiboot 1.
    BadMagic(u32),
    /// The loader gave no memory map.
    NoMemoryMap,
    /// More regions or modules than the kernel keeps.
    TooMany,
    /// A string is longer than [`MAX_COMMAND_LINE`] or not UTF-8.
    BadString,
    /// A structure lies where physical memory cannot be read.
    Unreadable(u64),
}

/// A UTF-8 string of at most [`MAX_COMMAND_LINE`] bytes, stored inline.
#[derive(Clone, Copy)]
pub struct BootString {
    bytes: [u8; MAX_COMMAND_LINE],
    len: usize,
}

impl BootString {
    pub const fn empty() -> Self {
        Self { bytes: [0; MAX_COMMAND_LINE], len: 0 }
    }

    /// Copies `text`; `None` if it does not fit.
    pub fn new(text: &str) -> Option<Self> {
        let mut string = Self::empty();
        string.bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
        string.len = text.len();
        Some(string)
    }

    pub fn as_str(&self) -> &str {
        // Only `new` fills the bytes, from a `&str`.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl core::fmt::Debug for BootString {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A file the boot loader placed in memory, and the line that named it.
#[derive(Clone, Copy, Debug)]
pub struct BootModule {
    pub range: PhysRange,
    pub line: BootString,
}

/// The boot loader's information, copied out of loader memory.
#[derive(Clone, Debug)]
pub struct BootInfo {
    regions: [Option<MemoryRegion>; MAX_MEMORY_REGIONS],
    modules: [Option<BootModule>; MAX_MODULES],
    pub command_line: BootString,
    /// Memory the loader's structures occupied (the information block itself, the module
    /// list, the memory map and the strings), so it is not handed out before it is read.
    loader_data: [PhysRange; 4],
}

impl BootInfo {
    pub fn regions(&self) -> impl Iterator<Item = &MemoryRegion> + Clone {
        self.regions.iter().map_while(Option::as_ref)
    }

    pub fn modules(&self) -> impl Iterator<Item = &BootModule> {
        self.modules.iter().map_while(Option::as_ref)
    }

    pub fn loader_data(&self) -> &[PhysRange] {
        &self.loader_data
    }

    /// Reads the Multiboot 1 information at `info` through `read`, which fills a buffer
    /// from physical memory and answers `false` where it cannot.
    pub fn from_multiboot(
        magic: u32,
        info: u64,
        read: &dyn Fn(u64, &mut [u8]) -> bool,
    ) -> Result<Self, BootInfoError> {
        if magic != MULTIBOOT_BOOTLOADER_MAGIC {
            return Err(BootInfoError::BadMagic(magic));
        }
        let mut header = [0u8; INFO_SIZE];
        read_exact(read, info, &mut header)?;
        let field = |offset: usize| {
            u32::from_le_bytes(header[offset..offset + 4].try_into().unwrap_or_default())
        };
        let flags = field(0);
        if flags & FLAG_MEMORY_MAP == 0 {
            return Err(BootInfoError::NoMemoryMap);
        }
        let mut boot_info = Self {
            regions: [None; MAX_MEMORY_REGIONS],
            modules: [None; MAX_MODULES],
            command_line: BootString::empty(),
            loader_data: [PhysRange::from_start_len(info, INFO_SIZE as u64); 4],
        };

        let (map_len, map_addr) = (u64::from(field(44)), u64::from(field(48)));
        boot_info.loader_data[1] = PhysRange::from_start_len(map_addr, map_len);
        boot_info.read_memory_map(read, map_addr, map_len)?;
        if flags & FLAG_COMMAND_LINE != 0 {
            boot_info.command_line = read_string(read, u64::from(field(16)))?;
        }
        if flags & FLAG_MODULES != 0 {
            let (count, list) = (u64::from(field(20)), u64::from(field(24)));
            boot_info.loader_data[2] = PhysRange::from_start_len(list, count * MODULE_ENTRY_SIZE);
            boot_info.read_modules(read, list, count)?;
        }
        Ok(boot_info)
    }

    fn read_memory_map(
        &mut self,
        read: &dyn Fn(u64, &mut [u8]) -> bool,
        map_addr: u64,
        map_len: u64,
    ) -> Result<(), BootInfoError> {
        let mut cursor = map_addr;
        let end = map_addr.saturating_add(map_len);
        let mut count = 0;
        while cursor < end {
            let mut entry = [0u8; 24];
            read_exact(read, cursor, &mut entry)?;
            let size = u32::from_le_bytes(entry[0..4].try_into().unwrap_or_default());
            let base = u64::from_le_bytes(entry[4..12].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(entry[12..20].try_into().unwrap_or_default());
            let kind = u32::from_le_bytes(entry[20..24].try_into().unwrap_or_default());
            if len > 0 {
                let slot = self.regions.get_mut(count).ok_or(BootInfoError::TooMany)?;
                *slot = Some(MemoryRegion {
                    range: PhysRange::from_start_len(base, len),
                    kind: RegionKind::from_e820(kind),
                });
                count += 1;
            }
            cursor = cursor.saturating_add(u64::from(size) + 4);
        }
        Ok(())
    }

    fn read_modules(
        &mut self,
        read: &dyn Fn(u64, &mut [u8]) -> bool,
        list: u64,
        count: u64,
    ) -> Result<(), BootInfoError> {
        if count > MAX_MODULES as u64 {
            return Err(BootInfoError::TooMany);
        }
        let mut strings = PhysRange::default();
        for index in 0..count {
            let mut entry = [0u8; MODULE_ENTRY_SIZE as usize];
            read_exact(read, list + index * MODULE_ENTRY_SIZE, &mut entry)?;
            let word = |offset: usize| {
                u64::from(u32::from_le_bytes(
                    entry[offset..offset + 4].try_into().unwrap_or_default(),
                ))
            };
            let line_addr = word(8);
            let line = read_string(read, line_addr)?;
            let line_range = PhysRange::from_start_len(line_addr, line.len as u64 + 1);
            strings = if strings.is_empty() {
                line_range
            } else {
                PhysRange::new(strings.start.min(line_range.start), strings.end.max(line_range.end))
            };
            self.modules[index as usize] =
                Some(BootModule { range: PhysRange::new(word(0), word(4)), line });
        }
        self.loader_data[3] = strings;
        Ok(())
    }
}

fn read_exact(
    read: &dyn Fn(u64, &mut [u8]) -> bool,
    addr: u64,
    buffer: &mut [u8],
) -> Result<(), BootInfoError> {
    if read(addr, buffer) { Ok(()) } else { Err(BootInfoError::Unreadable(addr)) }
}

fn read_string(
    read: &dyn Fn(u64, &mut [u8]) -> bool,
    addr: u64,
) -> Result<BootString, BootInfoError> {
    let mut bytes = [0u8; MAX_COMMAND_LINE + 1];
    for (index, byte) in bytes.iter_mut().enumerate() {
        read_exact(read, addr + index as u64, core::slice::from_mut(byte))?;
        if *byte == 0 {
            let text =
                core::str::from_utf8(&bytes[..index]).map_err(|_| BootInfoError::BadString)?;
            return BootString::new(text).ok_or(BootInfoError::BadString);
        }
    }
    Err(BootInfoError::BadString)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake physical memory of 64 KiB.
    struct Memory(std::cell::RefCell<Vec<u8>>);

    impl Memory {
        fn new() -> Self {
            Self(std::cell::RefCell::new(vec![0; 0x10000]))
        }
        fn put(&self, addr: usize, bytes: &[u8]) {
            self.0.borrow_mut()[addr..addr + bytes.len()].copy_from_slice(bytes);
        }
        fn put32(&self, addr: usize, value: u32) {
            self.put(addr, &value.to_le_bytes());
        }
        fn reader(&self) -> impl Fn(u64, &mut [u8]) -> bool + '_ {
            |addr, buffer| {
                let memory = self.0.borrow();
                let Some(source) = memory.get(addr as usize..addr as usize + buffer.len()) else {
                    return false;
                };
                buffer.copy_from_slice(source);
                true
            }
        }
    }

    fn standard_memory() -> Memory {
        let memory = Memory::new();
        memory.put32(0x1000, FLAG_MEMORY_MAP | FLAG_MODULES | FLAG_COMMAND_LINE);
        memory.put32(0x1000 + 16, 0x3000);
        memory.put(0x3000, b"asi=on\0");
        memory.put32(0x1000 + 20, 1);
        memory.put32(0x1000 + 24, 0x4000);
        memory.put32(0x4000, 0x10_0000);
        memory.put32(0x4004, 0x10_8000);
        memory.put32(0x4008, 0x5000);
        memory.put(0x5000, b"/boot/init hello\0");
        memory.put32(0x1000 + 44, 72);
        memory.put32(0x1000 + 48, 0x2000);
        for (index, (base, len, kind)) in
            [(0u64, 0x9fc00u64, 1u32), (0x10_0000, 0xff0_0000, 1), (0, 0, 2)].iter().enumerate()
        {
            let at = 0x2000 + index * 24;
            memory.put32(at, 20);
            memory.put(at + 4, &base.to_le_bytes());
            memory.put(at + 12, &len.to_le_bytes());
            memory.put32(at + 20, *kind);
        }
        memory
    }

    #[test]
    fn reads_memory_map_modules_and_command_line() {
        let memory = standard_memory();
        let info =
            BootInfo::from_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, &memory.reader()).unwrap();
        let regions: Vec<_> = info.regions().collect();
        assert_eq!(regions.len(), 2, "the empty third entry is skipped");
        assert_eq!(regions[1].range, PhysRange::new(0x10_0000, 0x1000_0000));
        assert_eq!(info.command_line.as_str(), "asi=on");
        let modules: Vec<_> = info.modules().collect();
        assert_eq!(modules[0].range, PhysRange::new(0x10_0000, 0x10_8000));
        assert_eq!(modules[0].line.as_str(), "/boot/init hello");
        assert!(info.loader_data().contains(&PhysRange::new(0x2000, 0x2048)));
        assert!(info.loader_data().contains(&PhysRange::new(0x5000, 0x5011)));
    }

    #[test]
    fn refuses_wrong_magic_missing_map_and_unreadable_memory() {
        let memory = standard_memory();
        assert_eq!(
            BootInfo::from_multiboot(0x1234, 0x1000, &memory.reader()).unwrap_err(),
            BootInfoError::BadMagic(0x1234)
        );
        assert_eq!(
            BootInfo::from_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0xffff_0000, &memory.reader())
                .unwrap_err(),
            BootInfoError::Unreadable(0xffff_0000)
        );
        memory.put32(0x1000, FLAG_MODULES);
        assert_eq!(
            BootInfo::from_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, &memory.reader())
                .unwrap_err(),
            BootInfoError::NoMemoryMap
        );
    }

    #[test]
    fn refuses_unterminated_strings_and_too_many_modules() {
        let memory = standard_memory();
        memory.put(0x3000, &[b'x'; MAX_COMMAND_LINE + 8]);
        assert_eq!(
            BootInfo::from_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, &memory.reader())
                .unwrap_err(),
            BootInfoError::BadString
        );
        let memory = standard_memory();
        memory.put32(0x1000 + 20, MAX_MODULES as u32 + 1);
        assert_eq!(
            BootInfo::from_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, &memory.reader())
                .unwrap_err(),
            BootInfoError::TooMany
        );
    }
}
