//! Turning an executable's segments into pages: which pages a process needs, with what
//! rights, and where each page's contents come from. Pure, tested on the host.

use core::ops::Range;

use kernel_core::elf::{Executable, LoadSegment};

use super::layout::PAGE_SIZE;

/// Where a page's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Nothing from the file: a fresh (zeroed) frame as it is.
    Zero,
    /// The boot module's own frame number `frame` (counted from the module's start) holds
    /// exactly this page: a read-only page maps a copy of that capability, no copying.
    Module { frame: u64 },
    /// A fresh frame with the file bytes `file` copied to offset `offset`; zero elsewhere.
    Copy { file: Range<usize>, offset: usize },
}

/// One page of a process's image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub vaddr: u64,
    pub writable: bool,
    pub executable: bool,
    pub contents: Contents,
}

/// The pages of `segment`, in address order.
pub fn segment_pages(segment: &LoadSegment) -> impl Iterator<Item = Page> + '_ {
    (segment.first_page()..segment.end_page()).step_by(PAGE_SIZE as usize).map(|page| Page {
        vaddr: page,
        writable: segment.access.write,
        executable: segment.access.execute,
        contents: contents(segment, page),
    })
}

/// Every page of `executable`, segment by segment.
pub fn pages(executable: &Executable) -> impl Iterator<Item = Page> + '_ {
    executable.segments().flat_map(segment_pages)
}

/// How many pages `executable` needs, and how many of them need a fresh frame (the rest
/// map the module's own frames).
pub fn count(executable: &Executable) -> (usize, usize) {
    pages(executable).fold((0, 0), |(all, fresh), page| {
        (all + 1, fresh + usize::from(!matches!(page.contents, Contents::Module { .. })))
    })
}

fn contents(segment: &LoadSegment, page: u64) -> Contents {
    let (file, offset) = segment.file_bytes_for_page(page);
    if file.is_empty() {
        return Contents::Zero;
    }
    // A read-only page may be the module's frame itself when the file's page lines up
    // with the memory page and the file covers every byte of the segment in it.
    let aligned = segment.file_offset % PAGE_SIZE == segment.vaddr % PAGE_SIZE;
    let segment_end_in_page = (page + PAGE_SIZE).min(segment.vaddr + segment.mem_size);
    let file_covers = segment_end_in_page <= segment.vaddr + segment.file_size;
    if !segment.access.write && aligned && file_covers {
        let page_file_offset = file.start as u64 - offset as u64;
        return Contents::Module { frame: page_file_offset / PAGE_SIZE };
    }
    Contents::Copy { file, offset }
}

#[cfg(test)]
pub(crate) mod tests {
    use kernel_core::elf::SegmentAccess;

    use super::*;

    const RX: SegmentAccess = SegmentAccess { read: true, write: false, execute: true };
    const RW: SegmentAccess = SegmentAccess { read: true, write: true, execute: false };

    fn segment(
        vaddr: u64,
        file_offset: u64,
        file_size: u64,
        mem_size: u64,
        access: SegmentAccess,
    ) -> LoadSegment {
        LoadSegment { vaddr, mem_size, file_offset, file_size, access }
    }

    #[test]
    fn aligned_read_only_pages_come_from_the_module() {
        let text = segment(0x20_1000, 0x1000, 0x228f, 0x228f, RX);
        let pages: Vec<_> = segment_pages(&text).collect();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].vaddr, 0x20_1000);
        assert!(pages.iter().all(|page| page.executable && !page.writable));
        let frames: Vec<_> = pages.iter().map(|page| page.contents.clone()).collect();
        assert_eq!(
            frames,
            [
                Contents::Module { frame: 1 },
                Contents::Module { frame: 2 },
                Contents::Module { frame: 3 }
            ]
        );
    }

    #[test]
    fn writable_pages_are_copied_and_bss_is_zero() {
        let data = segment(0x20_4010, 0x4010, 0x48, 0x2000, RW);
        let pages: Vec<_> = segment_pages(&data).collect();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].contents, Contents::Copy { file: 0x4010..0x4058, offset: 0x10 });
        assert_eq!(pages[1].contents, Contents::Zero);
        assert_eq!(pages[2].contents, Contents::Zero);
        assert!(pages.iter().all(|page| page.writable && !page.executable));
    }

    #[test]
    fn read_only_pages_the_file_does_not_cover_are_copied() {
        // A read-only segment with zero-filled memory after its file bytes: the page that
        // mixes both must not show the file's next bytes.
        let rodata = segment(0x20_0000, 0, 0x1800, 0x3000, RX);
        let contents: Vec<_> = segment_pages(&rodata).map(|page| page.contents).collect();
        assert_eq!(
            contents,
            [
                Contents::Module { frame: 0 },
                Contents::Copy { file: 0x1000..0x1800, offset: 0 },
                Contents::Zero
            ]
        );
        // File and memory offsets that do not line up: every page is copied.
        let misaligned = segment(0x20_0000, 0x10, 0x1000, 0x1000, RX);
        assert!(
            segment_pages(&misaligned).all(|page| matches!(page.contents, Contents::Copy { .. }))
        );
    }

    /// An executable of two segments: text (R+X) at 0x20_1000, 0x1800 bytes from file
    /// offset 0x1000; data (R+W) at 0x20_3000, 0x10 bytes of file and 0x3000 of memory.
    pub(crate) fn sample_image() -> Vec<u8> {
        let mut image = vec![0u8; 0x5000];
        image[..4].copy_from_slice(b"\x7fELF");
        image[4] = 2;
        image[5] = 1;
        image[16] = 2; // ET_EXEC
        image[18] = 62; // EM_X86_64
        image[24..32].copy_from_slice(&0x20_1000u64.to_le_bytes());
        image[32..40].copy_from_slice(&64u64.to_le_bytes());
        image[54] = 56;
        image[56] = 2;
        let headers = [
            (5u32, 0x1000u64, 0x20_1000u64, 0x1800u64, 0x1800u64),
            (6, 0x3000, 0x20_3000, 0x10, 0x3000),
        ];
        for (index, (flags, offset, vaddr, file, mem)) in headers.into_iter().enumerate() {
            let at = 64 + index * 56;
            image[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
            image[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            image[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            image[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            image[at + 32..at + 40].copy_from_slice(&file.to_le_bytes());
            image[at + 40..at + 48].copy_from_slice(&mem.to_le_bytes());
        }
        image
    }

    #[test]
    fn counts_tell_fresh_frames_from_shared_ones() {
        let image = sample_image();
        let executable = Executable::parse(&image).unwrap();
        // Text: two shared pages (its file bytes end mid-page where its memory does, so
        // the module's frame covers the second too). Data: three fresh pages.
        assert_eq!(count(&executable), (5, 3));
        let first = pages(&executable).next().unwrap();
        assert_eq!(first.contents, Contents::Module { frame: 1 });
    }
}
