//! How many of the caller's slots a spawn takes, decided before it takes any: a process's
//! capabilities then sit in one run of slots that its destruction gives back whole. Pure,
//! tested on the host.

use kernel_core::elf::Executable;
use syscall_abi::boot_info::SlotRange;

use super::layout::{IPC_BUFFER, PAGE_SIZE, STACK_BOTTOM, STACK_PAGES};
use super::plan;

/// Address bits each page-table level below the PML4 covers: a PDPT 512 GiB, a page
/// directory 1 GiB, a page table 2 MiB.
const TABLE_SPANS: [u32; 3] = [39, 30, 21];

/// At most how many page tables (of every level below the PML4) mapping `pages` into an
/// empty address space needs: one per level whenever the next page leaves the previous
/// page's table. Exact when the pages come in address order, more otherwise.
pub fn tables_for(pages: impl Iterator<Item = u64>) -> usize {
    let mut previous = [None; TABLE_SPANS.len()];
    let mut tables = 0;
    for page in pages {
        for (span, previous) in TABLE_SPANS.iter().zip(&mut previous) {
            let table = Some(page >> span);
            tables += usize::from(table != *previous);
            *previous = table;
        }
    }
    tables
}

/// The pages every process has besides its image: the stack and the IPC buffer.
pub fn fixed_pages() -> impl Iterator<Item = u64> {
    (0..STACK_PAGES).map(|page| STACK_BOTTOM + page * PAGE_SIZE).chain([IPC_BUFFER])
}

/// Slots of the caller that spawning `executable` takes: its memory region, the
/// `memory_grants` regions carved from it (empty again once handed over), the VSpace,
/// one per page (a fresh frame or a copy of a module frame), the page tables, the CNode
/// and the TCB.
pub fn process_slots(executable: &Executable, memory_grants: usize) -> usize {
    let image = plan::pages(executable).map(|page| page.vaddr);
    let (image_pages, _) = plan::count(executable);
    let all = image.chain(fixed_pages());
    1 + memory_grants + 1 + image_pages + fixed_pages().count() + tables_for(all) + 2
}

/// At most how many page tables mapping `frames` pages from `window` (2 MiB aligned)
/// and one page at `scratch` (the same GiB) takes: a PDPT, a page directory, the
/// scratch page's table and one per 2 MiB of window.
pub fn scratch_tables(frames: u64) -> usize {
    3 + frames.div_ceil(512) as usize
}

/// A run of slots taken from the caller's allocator, handed out one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotBlock {
    range: SlotRange,
    next: u64,
}

impl SlotBlock {
    pub const fn new(range: SlotRange) -> Self {
        Self { range, next: range.start }
    }

    /// The next `count` slots; `None` past the end of the run.
    pub fn take(&mut self, count: usize) -> Option<u64> {
        let first = self.next;
        let end = first.checked_add(count as u64).filter(|&end| end <= self.range.end)?;
        self.next = end;
        Some(first)
    }

    /// The slots handed out so far.
    pub const fn used(&self) -> SlotRange {
        SlotRange { start: self.range.start, end: self.next }
    }

    /// The whole run.
    pub const fn range(&self) -> SlotRange {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_counted_per_level() {
        // One page: a table of each level.
        assert_eq!(tables_for([0x20_0000].into_iter()), 3);
        // A second page in the same 2 MiB: none more; the next 2 MiB: a page table.
        assert_eq!(tables_for([0x20_0000, 0x20_1000].into_iter()), 3);
        assert_eq!(tables_for([0x20_0000, 0x40_0000].into_iter()), 4);
        // The stack and buffer share their tables but none with an image at 2 MiB.
        assert_eq!(tables_for(fixed_pages()), 3);
        assert_eq!(tables_for([0x20_0000].into_iter().chain(fixed_pages())), 6);
        // Out of order is over-counted, never under.
        assert_eq!(tables_for([0x20_0000, 0x40_0000, 0x20_1000].into_iter()), 5);
        assert_eq!(tables_for(core::iter::empty()), 0);
    }

    #[test]
    fn a_process_takes_a_slot_for_everything_it_is_made_of() {
        let image = plan::tests::sample_image();
        let executable = Executable::parse(&image).unwrap();
        // Memory, VSpace, 5 image pages, 17 stack and buffer pages, 6 tables (the image's
        // 2 MiB and the stack's), CNode, TCB; one more per granted region.
        assert_eq!(process_slots(&executable, 0), 1 + 1 + 5 + 17 + 6 + 2);
        assert_eq!(process_slots(&executable, 2), 32 + 2);
    }

    #[test]
    fn fixed_pages_are_stack_then_buffer() {
        let pages: Vec<_> = fixed_pages().collect();
        assert_eq!(pages.len(), STACK_PAGES as usize + 1);
        assert_eq!(pages[0], STACK_BOTTOM);
        assert_eq!(pages.last(), Some(&IPC_BUFFER));
    }

    #[test]
    fn scratch_tables_cover_the_window() {
        assert_eq!(scratch_tables(1), 4);
        assert_eq!(scratch_tables(512), 4);
        assert_eq!(scratch_tables(513), 5);
        assert_eq!(
            scratch_tables(crate::process::MAX_MODULE_BYTES / PAGE_SIZE),
            3 + (crate::process::MAX_MODULE_BYTES >> 21) as usize
        );
    }

    #[test]
    fn blocks_hand_out_their_slots_in_order_and_no_more() {
        let mut block = SlotBlock::new(SlotRange { start: 10, end: 20 });
        assert_eq!(block.take(1), Some(10));
        assert_eq!(block.take(4), Some(11));
        assert_eq!(block.used(), SlotRange { start: 10, end: 15 });
        assert_eq!(block.take(6), None);
        assert_eq!(block.take(5), Some(15));
        assert_eq!(block.take(1), None);
        assert_eq!(block.take(usize::MAX), None);
        assert_eq!(block.range(), SlotRange { start: 10, end: 20 });
    }
}
