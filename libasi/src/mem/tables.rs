//! Page tables: where a mapping's missing tables come from ([`TableSource`]), which of the
//! map window's tables are installed ([`WindowTables`]), and mapping a run of frames with
//! the tables the kernel says are missing ([`map_frames`]).

use super::{FrameRun, MemError};
use crate::Error;
use crate::cap::{Cap, FrameAttributes, ObjectKind, PageTable, Rights, VSpace};
use crate::process::layout::{MAP_WINDOW_BYTES, PAGE_SIZE};

/// A level of page table below the PML4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableLevel {
    /// Covers 512 GiB.
    Pdpt,
    /// Covers 1 GiB.
    PageDirectory,
    /// Covers 2 MiB.
    PageTable,
}

impl TableLevel {
    /// The object to retype for a table of this level.
    pub const fn object_kind(self) -> ObjectKind {
        match self {
            Self::Pdpt => ObjectKind::PageDirectoryPointerTable,
            Self::PageDirectory => ObjectKind::PageDirectory,
            Self::PageTable => ObjectKind::PageTable,
        }
    }

    /// The level [`Error::MissingPageTable`] names (1, 2 or 3).
    pub const fn from_missing(level: u64) -> Option<Self> {
        match level {
            1 => Some(Self::Pdpt),
            2 => Some(Self::PageDirectory),
            3 => Some(Self::PageTable),
            _ => None,
        }
    }
}

/// Where page tables come from when a mapping needs one: a fresh, uninstalled table of
/// the level asked for, made from nonsensitive memory (the kernel makes kernel objects
/// from nothing else), its capability in a slot of the caller's root CNode that the
/// source gives up to the caller. [`UntypedSource`](super::UntypedSource) retypes them
/// from an untyped region.
///
/// A source must not allocate from a [`Heap`](super::Heap): it is called while the heap
/// or the address space is locked.
pub trait TableSource {
    /// A table of `level`.
    fn table(&mut self, level: TableLevel) -> Result<Cap<PageTable>, MemError>;
}

/// Pages of the map window: 1 GiB of 4 KiB pages.
pub const WINDOW_PAGES: usize = (MAP_WINDOW_BYTES / PAGE_SIZE) as usize;
/// Pages one page table covers.
pub const TABLE_PAGES: usize = 512;
const TABLES: usize = WINDOW_PAGES / TABLE_PAGES;

/// Which of the window's page tables are installed: the PDPT and page directory above it
/// and the page table of each 2 MiB. Tables stay installed once they are, for the next
/// mappings there: at most 514 of them, one per 2 MiB of the window ever used and two
/// above.
#[derive(Clone, Debug)]
pub struct WindowTables {
    pdpt: bool,
    directory: bool,
    tables: [u64; TABLES / 64],
}

impl WindowTables {
    /// None installed.
    pub const fn new() -> Self {
        Self { pdpt: false, directory: false, tables: [0; TABLES / 64] }
    }

    /// The highest table missing above window page `page`, to install first; `None`
    /// when every one is there.
    pub fn missing(&self, page: usize) -> Option<TableLevel> {
        let table = page / TABLE_PAGES;
        if !self.pdpt {
            Some(TableLevel::Pdpt)
        } else if !self.directory {
            Some(TableLevel::PageDirectory)
        } else if self.tables[table / 64] & (1 << (table % 64)) == 0 {
            Some(TableLevel::PageTable)
        } else {
            None
        }
    }

    /// Notes that the table of `level` above window page `page` is installed.
    pub fn record(&mut self, level: TableLevel, page: usize) {
        let table = page / TABLE_PAGES;
        match level {
            TableLevel::Pdpt => self.pdpt = true,
            TableLevel::PageDirectory => self.directory = true,
            TableLevel::PageTable => self.tables[table / 64] |= 1 << (table % 64),
        }
    }
}

/// Maps the frames of `frames` at consecutive pages from `address` in `vspace` with
/// `rights`, never executable, installing the tables the kernel names missing from
/// `tables`. On failure it unmaps the frames it had mapped.
pub fn map_frames(
    vspace: Cap<VSpace>,
    address: u64,
    frames: FrameRun,
    rights: Rights,
    tables: &mut impl TableSource,
) -> Result<(), MemError> {
    let mut mapped = 0;
    let result = frames.iter().try_for_each(|frame| {
        let page = address + mapped * PAGE_SIZE;
        loop {
            match frame.map(vspace, page, rights, FrameAttributes::NONE) {
                Err(Error::MissingPageTable { level }) => {
                    let level = TableLevel::from_missing(level)
                        .ok_or(MemError::Kernel(Error::MissingPageTable { level }))?;
                    tables.table(level)?.map(vspace, page)?;
                }
                result => break result?,
            }
        }
        mapped += 1;
        Ok(())
    });
    if result.is_err() {
        // What was mapped goes again; an unmap that fails leaves nothing more to do.
        for frame in frames.iter().take(mapped as usize) {
            let _ = frame.unmap();
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_the_kernels() {
        assert_eq!(TableLevel::from_missing(1), Some(TableLevel::Pdpt));
        assert_eq!(TableLevel::from_missing(3), Some(TableLevel::PageTable));
        assert_eq!(TableLevel::from_missing(4), None);
        assert_eq!(TableLevel::PageDirectory.object_kind(), ObjectKind::PageDirectory);
    }

    #[test]
    fn tables_are_missing_top_down_until_recorded() {
        let mut tables = WindowTables::new();
        assert_eq!(tables.missing(0), Some(TableLevel::Pdpt));
        tables.record(TableLevel::Pdpt, 0);
        assert_eq!(tables.missing(7), Some(TableLevel::PageDirectory));
        tables.record(TableLevel::PageDirectory, 7);
        assert_eq!(tables.missing(511), Some(TableLevel::PageTable));
        tables.record(TableLevel::PageTable, 511);
        assert_eq!(tables.missing(0), None, "the same 2 MiB");
        assert_eq!(tables.missing(512), Some(TableLevel::PageTable), "the next 2 MiB");
        tables.record(TableLevel::PageTable, WINDOW_PAGES - 1);
        assert_eq!(tables.missing(WINDOW_PAGES - TABLE_PAGES), None);
        assert_eq!(TABLES, 512);
    }
}
