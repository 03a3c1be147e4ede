//! Checks an ELF64 executable before the kernel maps it into a new address space.
//!
//! Only what loading needs is read: the header, and the `PT_LOAD` program headers. Every
//! offset and size is checked against the file and the user half, so a corrupt image is
//! refused rather than loaded partly.

use crate::memory::{PAGE_SIZE, align_down, align_up};
use syscall_abi::USER_SPACE_END;

/// The most loadable segments an image may have.
pub const MAX_SEGMENTS: usize = 16;

const HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;
const PT_LOAD: u32 = 1;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the headers it announces.
    Truncated,
    /// Not a little-endian ELF64 executable for x86_64.
    NotX86_64Executable,
    /// A program header entry size other than 56.
    BadProgramHeaderSize,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// A segment's file bytes reach past the end of the file, or exceed its memory size.
    SegmentOutsideFile,
    /// A segment lies (partly) outside the user half, or is empty.
    SegmentOutsideUserSpace,
    /// A segment is both writable and executable.
    WritableAndExecutable,
    /// Two segments share a page.
    OverlappingSegments,
    /// The entry point is not inside an executable segment.
    EntryNotExecutable,
}

/// The access a segment asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentAccess {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// One `PT_LOAD` segment, already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub access: SegmentAccess,
}

impl LoadSegment {
    /// The first page the segment touches.
    pub const fn first_page(&self) -> u64 {
        align_down(self.vaddr, PAGE_SIZE)
    }

    /// The end of the last page the segment touches.
    pub const fn end_page(&self) -> u64 {
        align_up(self.vaddr + self.mem_size, PAGE_SIZE)
    }

    /// The file bytes (as an offset range into the image) that belong at `page`, and the
    /// offset inside the page where they go. Bytes of the page outside that are zero.
    pub fn file_bytes_for_page(&self, page: u64) -> (core::ops::Range<usize>, usize) {
        let file_end_vaddr = self.vaddr + self.file_size;
        let copy_start = page.max(self.vaddr);
        let copy_end = (page + PAGE_SIZE).min(file_end_vaddr);
        if copy_start >= copy_end {
            return (0..0, 0);
        }
        let from = self.file_offset + (copy_start - self.vaddr);
        let len = copy_end - copy_start;
        (from as usize..(from + len) as usize, (copy_start - page) as usize)
    }
}

/// A checked executable: its entry point and loadable segments.
#[derive(Clone, Debug)]
pub struct Executable {
    pub entry: u64,
    segments: [Option<LoadSegment>; MAX_SEGMENTS],
}

impl Executable {
    /// Reads and checks `image`.
    pub fn parse(image: &[u8]) -> Result<Self, ElfError> {
        let header = image.get(..HEADER_SIZE).ok_or(ElfError::Truncated)?;
        let is_elf64_le = header[..4] == *b"\x7fELF" && header[4] == 2 && header[5] == 1;
        if !is_elf64_le || read_u16(header, 16) != ET_EXEC || read_u16(header, 18) != EM_X86_64 {
            return Err(ElfError::NotX86_64Executable);
        }
        let entry = read_u64(header, 24);
        let table_offset = read_u64(header, 32);
        if usize::from(read_u16(header, 54)) != PROGRAM_HEADER_SIZE {
            return Err(ElfError::BadProgramHeaderSize);
        }
        let count = u64::from(read_u16(header, 56));
        let table_end = table_offset
            .checked_add(count * PROGRAM_HEADER_SIZE as u64)
            .filter(|&end| end <= image.len() as u64)
            .ok_or(ElfError::Truncated)?;
        let table = &image[table_offset as usize..table_end as usize];

        let mut segments = [None; MAX_SEGMENTS];
        let mut loaded = 0;
        for entry_bytes in table.chunks_exact(PROGRAM_HEADER_SIZE) {
            if read_u32(entry_bytes, 0) != PT_LOAD {
                continue;
            }
            let segment = check_segment(entry_bytes, image.len() as u64)?;
            let slot = segments.get_mut(loaded).ok_or(ElfError::TooManySegments)?;
            *slot = Some(segment);
            loaded += 1;
        }
        let executable = Self { entry, segments };
        executable.check_no_shared_pages()?;
        if !executable
            .segments()
            .any(|s| s.access.execute && s.vaddr <= entry && entry < s.vaddr + s.mem_size)
        {
            return Err(ElfError::EntryNotExecutable);
        }
        Ok(executable)
    }

    /// The loadable segments in file order.
    pub fn segments(&self) -> impl Iterator<Item = &LoadSegment> {
        self.segments.iter().map_while(Option::as_ref)
    }

    fn check_no_shared_pages(&self) -> Result<(), ElfError> {
        for (index, a) in self.segments().enumerate() {
            for b in self.segments().skip(index + 1) {
                if a.first_page() < b.end_page() && b.first_page() < a.end_page() {
                    return Err(ElfError::OverlappingSegments);
                }
            }
        }
        Ok(())
    }
}

fn check_segment(entry: &[u8], file_len: u64) -> Result<LoadSegment, ElfError> {
    let flags = read_u32(entry, 4);
    let segment = LoadSegment {
        file_offset: read_u64(entry, 8),
        vaddr: read_u64(entry, 16),
        file_size: read_u64(entry, 32),
        mem_size: read_u64(entry, 40),
        access: SegmentAccess {
            read: flags & PF_R != 0,
            write: flags & PF_W != 0,
            execute: flags & PF_X != 0,
        },
    };
    let file_end = segment.file_offset.checked_add(segment.file_size);
    if segment.file_size > segment.mem_size || file_end.is_none_or(|end| end > file_len) {
        return Err(ElfError::SegmentOutsideFile);
    }
    let mem_end = segment.vaddr.checked_add(segment.mem_size);
    if segment.mem_size == 0 || mem_end.is_none_or(|end| end > USER_SPACE_END - PAGE_SIZE) {
        return Err(ElfError::SegmentOutsideUserSpace);
    }
    if segment.access.write && segment.access.execute {
        return Err(ElfError::WritableAndExecutable);
    }
    Ok(segment)
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Segment {
        flags: u32,
        offset: u64,
        vaddr: u64,
        file_size: u64,
        mem_size: u64,
    }

    const TEXT: Segment = Segment {
        flags: PF_R | PF_X,
        offset: 0x1000,
        vaddr: 0x201000,
        file_size: 0x80,
        mem_size: 0x80,
    };
    const DATA: Segment = Segment {
        flags: PF_R | PF_W,
        offset: 0x1080,
        vaddr: 0x202080,
        file_size: 0x10,
        mem_size: 0x2000,
    };

    fn image(entry: u64, segments: &[Segment]) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x2000];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        bytes[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        bytes[24..32].copy_from_slice(&entry.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (index, segment) in segments.iter().enumerate() {
            let at = 64 + index * 56;
            bytes[at..at + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&segment.flags.to_le_bytes());
            bytes[at + 8..at + 16].copy_from_slice(&segment.offset.to_le_bytes());
            bytes[at + 16..at + 24].copy_from_slice(&segment.vaddr.to_le_bytes());
            bytes[at + 32..at + 40].copy_from_slice(&segment.file_size.to_le_bytes());
            bytes[at + 40..at + 48].copy_from_slice(&segment.mem_size.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn a_well_formed_image_parses() {
        let executable = Executable::parse(&image(0x201010, &[TEXT, DATA])).unwrap();
        assert_eq!(executable.entry, 0x201010);
        let segments: Vec<_> = executable.segments().collect();
        assert_eq!(segments.len(), 2);
        assert!(segments[0].access.execute && !segments[0].access.write);
        assert_eq!((segments[1].first_page(), segments[1].end_page()), (0x202000, 0x205000));
    }

    #[test]
    fn file_bytes_land_at_their_page_offsets() {
        let executable = Executable::parse(&image(0x201010, &[TEXT, DATA])).unwrap();
        let data = executable.segments().nth(1).unwrap();
        assert_eq!(data.file_bytes_for_page(0x202000), (0x1080..0x1090, 0x80));
        assert_eq!(data.file_bytes_for_page(0x203000), (0..0, 0));
    }

    #[test]
    fn corrupt_images_are_refused() {
        assert_eq!(Executable::parse(&[0; 10]).unwrap_err(), ElfError::Truncated);
        let mut not_elf = image(0x201010, &[TEXT]);
        not_elf[0] = 0;
        assert_eq!(Executable::parse(&not_elf).unwrap_err(), ElfError::NotX86_64Executable);
        let mut huge_table = image(0x201010, &[TEXT]);
        huge_table[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Executable::parse(&huge_table).unwrap_err(), ElfError::Truncated);
    }

    #[test]
    fn segments_must_stay_inside_file_and_user_half() {
        let past_file = Segment { file_size: 0x10_0000, mem_size: 0x10_0000, ..TEXT };
        assert_eq!(
            Executable::parse(&image(0x201010, &[past_file])).unwrap_err(),
            ElfError::SegmentOutsideFile
        );
        let kernel_half = Segment { vaddr: 0xffff_8000_0000_0000, ..TEXT };
        assert_eq!(
            Executable::parse(&image(0x201010, &[kernel_half])).unwrap_err(),
            ElfError::SegmentOutsideUserSpace
        );
        let wrapping = Segment { vaddr: u64::MAX - 0x10, ..TEXT };
        assert_eq!(
            Executable::parse(&image(0x201010, &[wrapping])).unwrap_err(),
            ElfError::SegmentOutsideUserSpace
        );
    }

    #[test]
    fn writable_code_overlaps_and_bad_entries_are_refused() {
        let wx = Segment { flags: PF_R | PF_W | PF_X, ..TEXT };
        assert_eq!(
            Executable::parse(&image(0x201010, &[wx])).unwrap_err(),
            ElfError::WritableAndExecutable
        );
        let shares_page = Segment { vaddr: 0x201800, ..DATA };
        assert_eq!(
            Executable::parse(&image(0x201010, &[TEXT, shares_page])).unwrap_err(),
            ElfError::OverlappingSegments
        );
        assert_eq!(
            Executable::parse(&image(0x202090, &[TEXT, DATA])).unwrap_err(),
            ElfError::EntryNotExecutable
        );
    }
}
