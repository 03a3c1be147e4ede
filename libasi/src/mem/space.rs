//! The caller's own address space as `mem` maps into it: which VSpace that is, and the map
//! window's bookkeeping (which pages are taken, which page tables are installed).

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::MemError;
use super::bitmap::{count_set, find_clear_run, set_run};
use super::tables::{TABLE_PAGES, TableSource, WINDOW_PAGES, WindowTables};
use crate::cap::{CPtr, Cap, VSpace};
use crate::process::layout::{MAP_WINDOW, PAGE_SIZE};

/// The slot of the calling program's own VSpace capability, as [`entry!`](crate::entry)'s
/// start-up recorded it; 0 (the null slot, which the kernel refuses to map through) until
/// then.
static OWN_VSPACE: AtomicU64 = AtomicU64::new(CPtr::NULL.0);

/// Records `vspace` as the program's own address space: the only one `mem` maps into, so
/// that a slice of a mapping is always of memory this program sees. Called once, at
/// start-up.
pub(crate) fn record_own_vspace(vspace: Cap<VSpace>) {
    OWN_VSPACE.store(vspace.cptr().0, Ordering::Relaxed);
}

/// The program's own address space.
pub(super) fn own_vspace() -> Cap<VSpace> {
    Cap::from_slot(OWN_VSPACE.load(Ordering::Relaxed))
}

/// The map window of this program's address space: one per program.
pub(super) static WINDOW: Window = Window::new();

/// How many pages of the map window are free: 262144 when no [`Mapping`](super::Mapping)
/// or [`Heap`](super::Heap) holds any.
pub fn free_window_pages() -> usize {
    WINDOW.free_pages()
}

/// The window's bookkeeping. Page tables it gets stay installed for later mappings: at
/// most 514, and repeated mapping and unmapping reuses them.
pub(super) struct Window {
    state: Mutex<State>,
}

struct State {
    /// A bit per page: taken by a mapping or a heap.
    pages: [u64; WINDOW_PAGES / 64],
    tables: WindowTables,
}

impl Window {
    const fn new() -> Self {
        Self {
            state: Mutex::new(State { pages: [0; WINDOW_PAGES / 64], tables: WindowTables::new() }),
        }
    }

    fn free_pages(&self) -> usize {
        WINDOW_PAGES - count_set(&self.state.lock().pages)
    }

    /// Takes the first `count` free pages of the window that start at a multiple of
    /// `align` pages and installs the page tables above them in `vspace` from `tables`;
    /// their address. Nothing is taken if that fails.
    pub(super) fn reserve(
        &self,
        vspace: Cap<VSpace>,
        count: usize,
        align: usize,
        tables: &mut impl TableSource,
    ) -> Result<u64, MemError> {
        let mut state = self.state.lock();
        let first =
            find_clear_run(&state.pages, WINDOW_PAGES, count, align).ok_or(MemError::WindowFull)?;
        let mut page = first;
        while page < first + count {
            while let Some(level) = state.tables.missing(page) {
                let address = MAP_WINDOW + page as u64 * PAGE_SIZE;
                tables.table(level)?.map(vspace, address)?;
                state.tables.record(level, page);
            }
            page = (page / TABLE_PAGES + 1) * TABLE_PAGES;
        }
        set_run(&mut state.pages, first, count, true);
        Ok(MAP_WINDOW + first as u64 * PAGE_SIZE)
    }

    /// Frees the `count` pages from `address`, which [`reserve`](Self::reserve) took.
    pub(super) fn give_back(&self, address: u64, count: usize) {
        let first = ((address - MAP_WINDOW) / PAGE_SIZE) as usize;
        set_run(&mut self.state.lock().pages, first, count, false);
    }
}

#[cfg(test)]
impl Window {
    /// A window of its own, for host tests.
    pub(super) const fn for_test() -> Self {
        Self::new()
    }

    /// Records every table as installed, so that host tests can reserve pages without a
    /// kernel.
    pub(super) fn pretend_tables_installed(&self) {
        use super::TableLevel;
        let mut state = self.state.lock();
        state.tables.record(TableLevel::Pdpt, 0);
        state.tables.record(TableLevel::PageDirectory, 0);
        for table in 0..WINDOW_PAGES / TABLE_PAGES {
            state.tables.record(TableLevel::PageTable, table * TABLE_PAGES);
        }
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

    const VSPACE: Cap<VSpace> = Cap::from_slot(2);

    #[test]
    fn a_failed_reservation_takes_no_pages() {
        let window = Window::for_test();
        let mut tables = NoTables(0);
        assert_eq!(window.reserve(VSPACE, 4, 1, &mut tables), Err(MemError::NoSlots));
        assert_eq!(tables.0, 1);
        assert_eq!(window.free_pages(), WINDOW_PAGES);
        let too_many = window.reserve(VSPACE, WINDOW_PAGES + 1, 1, &mut tables);
        assert_eq!(too_many, Err(MemError::WindowFull));
    }

    #[test]
    fn pages_are_taken_first_fit_and_given_back() {
        let window = Window::for_test();
        window.pretend_tables_installed();
        let mut tables = NoTables(0);
        let a = window.reserve(VSPACE, 3, 1, &mut tables).unwrap();
        let b = window.reserve(VSPACE, 1, TABLE_PAGES, &mut tables).unwrap();
        let c = window.reserve(VSPACE, 1, 1, &mut tables).unwrap();
        assert_eq!(a, MAP_WINDOW);
        assert_eq!(b, MAP_WINDOW + 0x20_0000, "2 MiB aligned");
        assert_eq!(c, MAP_WINDOW + 3 * PAGE_SIZE, "the first free page");
        assert_eq!(window.free_pages(), WINDOW_PAGES - 5);
        window.give_back(a, 3);
        assert_eq!(
            window.reserve(VSPACE, 2, 1, &mut tables),
            Ok(MAP_WINDOW),
            "freed pages come back"
        );
        assert_eq!(tables.0, 0, "no table asked for");
    }

    #[test]
    fn the_own_vspace_is_null_until_recorded() {
        assert_eq!(own_vspace().cptr(), CPtr::NULL);
    }
}
