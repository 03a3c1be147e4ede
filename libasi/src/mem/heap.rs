//! [`Heap`]: a global allocator for servers, growing by frames of a chosen sensitivity.

mod granules;

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;

use spin::Mutex;

use self::granules::{Granules, MAX_ALIGN};
use super::space::{WINDOW, Window, own_vspace};
use super::tables::TABLE_PAGES;
use super::{FrameSource, MemError, TableSource};
use crate::cap::{Cap, FrameAttributes, Rights, Sensitivity, VSpace};
use crate::process::layout::PAGE_SIZE;

/// A heap's size unless its type says otherwise: 4 MiB (and 32 KiB of bookkeeping).
pub const DEFAULT_PAGES: usize = 1024;

/// A `GlobalAlloc` for `no_std` servers: blocks of 16-byte granules, first fit, in up to
/// `PAGES` pages of the map window that it fills with frames from a [`FrameSource`] as it
/// grows, every one of the [`Sensitivity`] it was set up with. A server that keeps
/// secrets in `Vec`s and `String`s asks for sensitive frames, and the kernel's restricted
/// view of memory never maps them.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// #![forbid(unsafe_code)]
///
/// extern crate alloc;
///
/// use libasi::cap::Sensitivity;
/// use libasi::mem::{Heap, UntypedSource};
/// use libasi::memsrv::FrameSupply;
///
/// #[global_allocator]
/// static HEAP: Heap<FrameSupply> = Heap::new();
///
/// libasi::entry!(main);
///
/// fn main() -> u64 {
///     // `client`: memsrv's client; `frame_slots`, `table_slots`: empty slot ranges;
///     // `memory`: an untyped region of nonsensitive memory for the page tables.
///     let frames = FrameSupply::new(client, frame_slots);
///     let mut tables = UntypedSource::new(memory, table_slots);
///     if HEAP.init(frames, &mut tables, Sensitivity::Sensitive).is_err() {
///         return 1;
///     }
///     let key = alloc::vec![0u8; 32]; // in a sensitive frame
///     0
/// }
/// ```
///
/// (Not a doctest: it needs the kernel and memsrv. `tests/guest/ipctest`'s `ipc::mem::heap_*`
/// cases run the same with an [`UntypedSource`](super::UntypedSource) in QEMU.)
///
/// Before [`init`](Self::init), and when a block does not fit or the source has no frame
/// to give, `alloc` returns null as `GlobalAlloc` asks (`Vec::try_reserve` reports it as
/// an error; other allocations go to the alloc error handler). The allocator never
/// panics. Its bookkeeping is a bit per granule in the `Heap` value itself, never inside
/// the blocks, so the allocator reads and writes none of the memory it hands out. The heap
/// keeps its pages and frames for good; what `dealloc` frees is reused.
pub struct Heap<F, const PAGES: usize = DEFAULT_PAGES> {
    state: Mutex<State<F, PAGES>>,
}

struct State<F, const PAGES: usize> {
    granules: Granules<PAGES>,
    /// Set by `init`.
    region: Option<Region<F>>,
}

/// The heap's pages and where their frames come from.
struct Region<F> {
    source: F,
    sensitivity: Sensitivity,
    vspace: Cap<VSpace>,
    /// The first page, 2 MiB aligned.
    base: u64,
    /// Pages from `base` with a frame mapped.
    mapped: usize,
}

/// What a heap holds, for reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    /// The sensitivity of its frames; `None` before `init`.
    pub sensitivity: Option<Sensitivity>,
    /// Pages with a frame mapped, from the first: the frames it has had from its source.
    pub pages_mapped: usize,
    /// Bytes in blocks handed out and not freed, rounded up to granules.
    pub bytes_used: usize,
    /// The most it can grow to, in bytes.
    pub capacity: usize,
}

impl<F, const PAGES: usize> Heap<F, PAGES> {
    /// A heap with no pages yet: every allocation fails until [`init`](Self::init).
    pub const fn new() -> Self {
        Self { state: Mutex::new(State { granules: Granules::new(), region: None }) }
    }
}

impl<F, const PAGES: usize> Default for Heap<F, PAGES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: FrameSource, const PAGES: usize> Heap<F, PAGES> {
    /// Sets the heap up: `PAGES` pages of the map window, 2 MiB aligned, with their page
    /// tables installed from `tables` now; frames of `sensitivity` from `source` as it
    /// grows. [`MemError::AlreadyInitialized`] the second time.
    pub fn init(
        &self,
        source: F,
        tables: &mut impl TableSource,
        sensitivity: Sensitivity,
    ) -> Result<(), MemError> {
        self.init_in(&WINDOW, own_vspace(), source, tables, sensitivity)
    }

    /// [`init`](Self::init) in `window` of `vspace`.
    fn init_in(
        &self,
        window: &Window,
        vspace: Cap<VSpace>,
        source: F,
        tables: &mut impl TableSource,
        sensitivity: Sensitivity,
    ) -> Result<(), MemError> {
        let mut state = self.state.lock();
        if state.region.is_some() {
            return Err(MemError::AlreadyInitialized);
        }
        let base = window.reserve(vspace, PAGES, TABLE_PAGES, tables)?;
        state.region = Some(Region { source, sensitivity, vspace, base, mapped: 0 });
        Ok(())
    }

    /// What the heap holds now.
    pub fn stats(&self) -> HeapStats {
        let state = self.state.lock();
        HeapStats {
            sensitivity: state.region.as_ref().map(|region| region.sensitivity),
            pages_mapped: state.region.as_ref().map_or(0, |region| region.mapped),
            bytes_used: state.granules.used_bytes(),
            capacity: PAGES * PAGE_SIZE as usize,
        }
    }

    /// The address of a new block for `layout`, its pages mapped; `None` if it does not
    /// fit or a page cannot be had.
    fn allocate(&self, layout: Layout) -> Option<usize> {
        let mut state = self.state.lock();
        let State { granules, region } = &mut *state;
        let region = region.as_mut()?;
        let offset = granules.find(layout.size(), layout.align())?;
        let end = offset.checked_add(layout.size().max(1))?;
        region.grow(end.div_ceil(PAGE_SIZE as usize))?;
        granules.take(offset, layout.size());
        Some(region.base as usize + offset)
    }

    /// Frees the block at `address` for `layout`; anything not a block of this heap is
    /// left alone.
    fn deallocate(&self, address: usize, layout: Layout) {
        let mut state = self.state.lock();
        let State { granules, region } = &mut *state;
        if let Some(offset) =
            region.as_ref().and_then(|region| address.checked_sub(region.base as usize))
        {
            granules.free(offset, layout.size());
        }
    }
}

impl<F: FrameSource> Region<F> {
    /// Maps frames until `pages` pages from the base have one; `None` if the source or
    /// the kernel refuses, keeping the pages mapped so far.
    fn grow(&mut self, pages: usize) -> Option<()> {
        while self.mapped < pages {
            let frame = self.source.frame(self.sensitivity).ok()?;
            let address = self.base + self.mapped as u64 * PAGE_SIZE;
            let rights = Rights::READ | Rights::WRITE;
            frame.map(self.vspace, address, rights, FrameAttributes::NONE).ok()?;
            self.mapped += 1;
        }
        Some(())
    }
}

// SAFETY: `alloc` returns null or the address of `layout.size()` bytes (at least one
// granule) aligned to `layout.align()` (the region is 2 MiB aligned and larger alignments
// are refused), inside the heap's region, every page of which holds a frame mapped
// readable and writable before the address is returned and never unmapped by the heap.
// The granules stay marked from `alloc` until `dealloc` of that block, so no two live
// blocks overlap, and the allocator never touches a block's memory. The lock makes all of
// this hold across threads.
unsafe impl<F: FrameSource, const PAGES: usize> GlobalAlloc for Heap<F, PAGES> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        const { assert!(MAX_ALIGN <= TABLE_PAGES * PAGE_SIZE as usize) };
        self.allocate(layout).map_or(core::ptr::null_mut(), core::ptr::with_exposed_provenance_mut)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        self.deallocate(pointer.addr(), layout);
    }
}

impl<F, const PAGES: usize> fmt::Debug for Heap<F, PAGES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap").field("pages", &PAGES).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{Frame, PageTable};
    use crate::mem::TableLevel;

    /// A source with no frames to give.
    struct Empty;

    impl FrameSource for Empty {
        type Error = MemError;

        fn frame(&mut self, _: Sensitivity) -> Result<Cap<Frame>, MemError> {
            Err(MemError::NoSlots)
        }
    }

    struct NoTables;

    impl TableSource for NoTables {
        fn table(&mut self, _: TableLevel) -> Result<Cap<PageTable>, MemError> {
            Err(MemError::NoSlots)
        }
    }

    const VSPACE: Cap<VSpace> = Cap::from_slot(2);

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn nothing_is_allocated_before_init() {
        let heap = Heap::<Empty, 4>::new();
        // SAFETY: a valid, non-zero layout; a null result is what is checked.
        let pointer = unsafe { heap.alloc(layout(8)) };
        assert!(pointer.is_null());
        let stats = heap.stats();
        assert_eq!(
            stats,
            HeapStats { sensitivity: None, pages_mapped: 0, bytes_used: 0, capacity: 4 * 4096 }
        );
    }

    #[test]
    fn a_failed_init_leaves_the_heap_unset() {
        let heap = Heap::<Empty, 4>::new();
        let window = Window::for_test();
        let init = heap.init_in(&window, VSPACE, Empty, &mut NoTables, Sensitivity::Sensitive);
        assert_eq!(init, Err(MemError::NoSlots));
        assert_eq!(heap.stats().sensitivity, None);
    }

    #[test]
    fn a_source_without_frames_fails_allocations_and_takes_nothing() {
        let heap = Heap::<Empty, 4>::new();
        let window = Window::for_test();
        window.pretend_tables_installed();
        heap.init_in(&window, VSPACE, Empty, &mut NoTables, Sensitivity::Sensitive).unwrap();
        let again = heap.init_in(&window, VSPACE, Empty, &mut NoTables, Sensitivity::Sensitive);
        assert_eq!(again, Err(MemError::AlreadyInitialized));
        assert_eq!(heap.allocate(layout(100)), None);
        assert_eq!(heap.allocate(Layout::from_size_align(8, 1 << 22).unwrap()), None);
        let stats = heap.stats();
        assert_eq!(stats.sensitivity, Some(Sensitivity::Sensitive));
        assert_eq!((stats.pages_mapped, stats.bytes_used), (0, 0));
        // Freeing what was never handed out changes nothing.
        heap.deallocate(0x1000, layout(16));
        heap.deallocate(usize::MAX, layout(16));
        assert_eq!(heap.stats().bytes_used, 0);
    }
}
