//! [`AddressSpace`]: the caller's own address space as `mem` maps into it, with the map
//! window's bookkeeping: which pages are taken, which page tables are installed.

use core::fmt;

use spin::Mutex;

use super::bitmap::{count_set, find_clear_run, set_run};
use super::tables::{TABLE_PAGES, TableSource, WINDOW_PAGES, WindowTables, map_frames};
use super::{FrameRun, Mapping, MemError};
use crate::cap::{Cap, Rights, VSpace};
use crate::process::layout::{MAP_WINDOW, PAGE_SIZE};

/// The caller's address space, where [`AddressSpace::map`] picks free pages of the map
/// window ([`MAP_WINDOW`], 1 GiB) for [`Mapping`]s and a [`Heap`](super::Heap) reserves
/// its pages. A program has one, usually in a `static`, named by its VSpace capability:
///
/// ```ignore
/// use libasi::cap::Cap;
/// use libasi::mem::AddressSpace;
/// use libasi::process::layout::slot;
///
/// // In a process the spawner started; the root task's VSpace is Cap::ROOT_VSPACE.
/// static SPACE: AddressSpace = AddressSpace::new(Cap::from_slot(slot::VSPACE));
/// ```
///
/// (Not a doctest: see [`Mapping`].)
///
/// Two values for the same address space would both hand out the window's pages; the
/// kernel refuses the second mapping of a page ([`crate::Error::AlreadyMapped`]), so that
/// is an error, never two mappings of one page. Page tables the window gets stay installed
/// for later mappings: at most 514, and repeated mapping and unmapping reuses them.
pub struct AddressSpace {
    vspace: Cap<VSpace>,
    window: Mutex<Window>,
}

struct Window {
    /// A bit per page: taken by a mapping or a heap.
    pages: [u64; WINDOW_PAGES / 64],
    tables: WindowTables,
}

impl AddressSpace {
    /// The address space `vspace` names, with every page of its window free.
    pub const fn new(vspace: Cap<VSpace>) -> Self {
        Self {
            vspace,
            window: Mutex::new(Window {
                pages: [0; WINDOW_PAGES / 64],
                tables: WindowTables::new(),
            }),
        }
    }

    pub const fn vspace(&self) -> Cap<VSpace> {
        self.vspace
    }

    /// Maps `frames` at the first free run of pages of the window with `rights` (never
    /// executable), installing the page tables it lacks from `tables`. The pages are free
    /// again when the mapping is dropped.
    pub fn map(
        &self,
        frames: impl Into<FrameRun>,
        rights: Rights,
        tables: &mut impl TableSource,
    ) -> Result<Mapping<'_>, MemError> {
        let frames = frames.into();
        let address = self.reserve(frames.len(), 1, tables)?;
        match map_frames(self.vspace, address, frames, rights, tables) {
            Ok(()) => Ok(Mapping::mapped(frames, address, rights, Some(self))),
            Err(error) => {
                self.give_back(address, frames.len());
                Err(error)
            }
        }
    }

    /// How many pages of the window are free.
    pub fn free_pages(&self) -> usize {
        WINDOW_PAGES - count_set(&self.window.lock().pages)
    }

    /// Takes the first `count` free pages of the window that start at a multiple of
    /// `align` pages and installs the page tables above them from `tables`; their
    /// address. Nothing is taken if that fails.
    pub(super) fn reserve(
        &self,
        count: usize,
        align: usize,
        tables: &mut impl TableSource,
    ) -> Result<u64, MemError> {
        let mut window = self.window.lock();
        let first = find_clear_run(&window.pages, WINDOW_PAGES, count, align)
            .ok_or(MemError::WindowFull)?;
        let mut page = first;
        while page < first + count {
            while let Some(level) = window.tables.missing(page) {
                let address = MAP_WINDOW + page as u64 * PAGE_SIZE;
                tables.table(level)?.map(self.vspace, address)?;
                window.tables.record(level, page);
            }
            page = (page / TABLE_PAGES + 1) * TABLE_PAGES;
        }
        set_run(&mut window.pages, first, count, true);
        Ok(MAP_WINDOW + first as u64 * PAGE_SIZE)
    }

    /// Frees the `count` pages from `address`, which [`reserve`](Self::reserve) took.
    pub(super) fn give_back(&self, address: u64, count: usize) {
        let first = ((address - MAP_WINDOW) / PAGE_SIZE) as usize;
        set_run(&mut self.window.lock().pages, first, count, false);
    }
}

#[cfg(test)]
impl AddressSpace {
    /// Records every table of the window as installed, so that host tests can reserve
    /// pages without a kernel.
    pub(super) fn pretend_tables_installed(&self) {
        use super::TableLevel;
        let mut window = self.window.lock();
        window.tables.record(TableLevel::Pdpt, 0);
        window.tables.record(TableLevel::PageDirectory, 0);
        for table in 0..WINDOW_PAGES / TABLE_PAGES {
            window.tables.record(TableLevel::PageTable, table * TABLE_PAGES);
        }
    }
}

impl fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressSpace").field("vspace", &self.vspace).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::PageTable;
    use crate::mem::TableLevel;

    /// Tables that cannot be installed on the host: the first table asked for fails the
    /// reservation, which must then take nothing.
    struct NoTables(usize);

    impl TableSource for NoTables {
        fn table(&mut self, _: TableLevel) -> Result<Cap<PageTable>, MemError> {
            self.0 += 1;
            Err(MemError::NoSlots)
        }
    }

    #[test]
    fn a_failed_reservation_takes_no_pages() {
        let space = AddressSpace::new(Cap::from_slot(2));
        let mut tables = NoTables(0);
        assert_eq!(space.reserve(4, 1, &mut tables), Err(MemError::NoSlots));
        assert_eq!(tables.0, 1);
        assert_eq!(space.free_pages(), WINDOW_PAGES);
        assert_eq!(space.reserve(WINDOW_PAGES + 1, 1, &mut tables), Err(MemError::WindowFull));
    }

    #[test]
    fn pages_are_taken_first_fit_and_given_back() {
        let space = AddressSpace::new(Cap::from_slot(2));
        space.pretend_tables_installed();
        let mut tables = NoTables(0);
        let a = space.reserve(3, 1, &mut tables).unwrap();
        let b = space.reserve(1, TABLE_PAGES, &mut tables).unwrap();
        let c = space.reserve(1, 1, &mut tables).unwrap();
        assert_eq!(a, MAP_WINDOW);
        assert_eq!(b, MAP_WINDOW + 0x20_0000, "2 MiB aligned");
        assert_eq!(c, MAP_WINDOW + 3 * PAGE_SIZE, "the first free page");
        assert_eq!(space.free_pages(), WINDOW_PAGES - 5);
        space.give_back(a, 3);
        assert_eq!(space.reserve(2, 1, &mut tables), Ok(MAP_WINDOW), "freed pages come back");
        assert_eq!(tables.0, 0, "no table asked for");
    }
}
