//! `libasi::mem` in a process of its own: frames mapped as `Mapping`s that unmap when
//! dropped, and a `Heap` (this program's global allocator) growing by frames of a chosen
//! sensitivity.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use libasi::boot::SlotRange;
use libasi::cap::{CNodeAt, Cap, Frame, ObjectKind, Rights, Sensitivity};
use libasi::fault::vector;
use libasi::mem::{
    FrameRun, FrameSource, Heap, Mapping, MemError, UntypedSource, free_window_pages,
};
use libasi::process::layout::{MAP_WINDOW, MAP_WINDOW_BYTES, PAGE_SIZE};

use crate::Case;
use crate::env::Scratch;
use crate::fault_cases::fault_of;
use crate::report::{Failure, Outcome, ok};
use crate::{children, ensure, fail, raw};

pub const CASES: &[Case] = &[
    ("ipc::mem::mapping_reads_writes_and_unmaps_on_drop", map_write_drop),
    ("ipc::mem::read_only_mapping_refuses_writes", read_only),
    ("ipc::mem::map_and_drop_200_times_leaks_nothing", cycles),
    ("ipc::mem::mapping_at_refuses_bad_and_occupied_addresses", mapping_at),
    ("ipc::mem::untyped_source_checks_sensitivity", wrong_sensitivity),
    ("ipc::mem::heap_collections_in_sensitive_frames", heap_collections),
    ("ipc::mem::heap_out_of_memory_is_an_allocation_error", heap_out_of_memory),
];

/// The heap cases' allocator: 256 pages (1 MiB) of the map window at most. Only the heap
/// cases initialise it; in every other case it has no pages and nothing allocates.
#[global_allocator]
static HEAP: Heap<UntypedSource, HEAP_PAGES> = Heap::new();
const HEAP_PAGES: usize = 256;

const RW: Rights = Rights::READ.union(Rights::WRITE);
const WINDOW_PAGES: usize = (MAP_WINDOW_BYTES / PAGE_SIZE) as usize;
/// The page tables the window needs for mappings in its first 2 MiB: a PDPT, a page
/// directory and a page table.
const FIRST_TABLES: u64 = 3;

/// A source of page tables from a fresh region of this case (nonsensitive, as the pool
/// is), with `count` slots.
fn tables(s: &mut Scratch<'_>, count: usize) -> Result<UntypedSource, Failure> {
    let memory = s.untyped(16)?;
    Ok(UntypedSource::new(memory, s.slots(count)?))
}

/// `count` fresh 4 KiB frames in consecutive slots.
fn frames(s: &mut Scratch<'_>, count: usize) -> Result<FrameRun, Failure> {
    let memory = s.untyped(16)?;
    let slots = s.slots(count)?;
    ok(
        memory.retype(ObjectKind::Frame4K, 0, CNodeAt::ROOT, slots.start, count as u64),
        "retype frames",
    )?;
    mem(FrameRun::new(Cap::from_slot(slots.start), count), "a run of frames")
}

/// The value of a `mem` call that must succeed.
fn mem<T>(result: Result<T, MemError>, what: &str) -> Result<T, Failure> {
    result.map_err(|error| Failure::new(format_args!("{what}: {error}")))
}

/// A `mem` call that must fail with exactly `want`.
fn mem_refused<T>(result: Result<T, MemError>, want: MemError, what: &str) -> Outcome {
    match result {
        Err(error) if error == want => Ok(()),
        Err(error) => fail!("{what}: expected {want}, got {error}"),
        Ok(_) => fail!("{what}: expected {want}, got success"),
    }
}

fn map_write_drop(s: &mut Scratch<'_>) -> Outcome {
    let frame = frames(s, 1)?;
    let mut tables = tables(s, 4)?;
    let mut page = mem(Mapping::new(frame, RW, &mut tables), "map a frame")?;
    let address = page.address();
    ensure!(address == MAP_WINDOW, "the first mapping is at {address:#x}, not the window's start");
    ensure!(page.len() == 4096 && page.is_writable(), "{page:?}");
    ensure!(page.bytes().iter().all(|&byte| byte == 0), "a fresh frame is not zero");
    let bytes = mem(page.bytes_mut(), "write access")?;
    bytes[..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    bytes[4095] = 0x5a;
    ensure!(raw::read(address) == 0x1122_3344_5566_7788, "the slice is not the mapped page");
    ensure!(page.bytes()[4095] == 0x5a, "the last byte does not read back");
    drop(page);
    ensure!(free_window_pages() == WINDOW_PAGES, "the page is not free after the drop");

    let (_, _, fault) = fault_of(s, children::toucher, address + 8)?;
    ensure!(
        fault.is_exception(vector::PAGE_FAULT) && fault.address == address + 8,
        "touching the dropped mapping: fault code {} at {:#x}, expected a page fault",
        fault.code,
        fault.address
    );
    // The frame is unmapped, so it maps again: at the same page, with its data.
    let page = mem(Mapping::new(frame, Rights::READ, &mut tables), "map the frame again")?;
    ensure!(page.address() == address, "mapped again at {:#x}", page.address());
    ensure!(page.bytes()[..8] == 0x1122_3344_5566_7788u64.to_le_bytes(), "the data is gone");
    let back = mem(page.unmap(), "unmap explicitly")?;
    ensure!(back == frame, "unmap gave back {back:?}, not {frame:?}");
    Ok(())
}

fn read_only(s: &mut Scratch<'_>) -> Outcome {
    let frame = frames(s, 1)?;
    let mut tables = tables(s, 4)?;
    let mut page = mem(Mapping::new(frame, Rights::READ, &mut tables), "map read-only")?;
    ensure!(!page.is_writable(), "{page:?} says it is writable");
    mem_refused(page.bytes_mut().map(drop), MemError::ReadOnly, "write access")?;
    ensure!(page.bytes()[100] == 0, "a fresh read-only page reads {}", page.bytes()[100]);
    Ok(())
}

/// Every cycle maps at the same pages with the same tables: after 200 the window is all
/// free and no table beyond the first cycle's was made. The runner checks afterwards that
/// the slots and the pool came back.
fn cycles(s: &mut Scratch<'_>) -> Outcome {
    let run = frames(s, 3)?;
    let single = frames(s, 1)?;
    let mut tables = tables(s, 8)?;
    for cycle in 0..200u64 {
        let frames = if cycle % 2 == 0 { run } else { single };
        let mut mapping = mem(Mapping::new(frames, RW, &mut tables), "map")?;
        ensure!(
            mapping.address() == MAP_WINDOW,
            "cycle {cycle} mapped at {:#x}",
            mapping.address()
        );
        let last = mapping.len() - 8;
        mem(mapping.bytes_mut(), "write access")?[last..].copy_from_slice(&cycle.to_le_bytes());
        ensure!(raw::read(MAP_WINDOW + last as u64) == cycle, "cycle {cycle} does not read back");
    }
    ensure!(
        free_window_pages() == WINDOW_PAGES,
        "{} pages still taken",
        WINDOW_PAGES - free_window_pages()
    );
    let made = tables.used().len();
    ensure!(made == FIRST_TABLES, "{made} page tables made in 200 cycles, expected {FIRST_TABLES}");
    Ok(())
}

fn mapping_at(s: &mut Scratch<'_>) -> Outcome {
    let run = frames(s, 2)?;
    let blocker = frames(s, 1)?;
    let mut tables = tables(s, 8)?;
    let outside = 0x44_0000_0000;
    for (address, what) in [
        (MAP_WINDOW + 0x1000, "in the window"),
        (MAP_WINDOW + (1 << 38), "under the window's PDPT"),
        (outside + 0x800, "at half a page"),
        (syscall_abi::USER_SPACE_END - 0x1000, "past the user half's end"),
    ] {
        mem_refused(Mapping::at(address, run, RW, &mut tables), MemError::BadAddress, what)?;
    }
    // The second page is taken, so the run fails there; its first frame, mapped by then,
    // must be unmapped again, or mapping the run below would find it mapped.
    let blocking = mem(Mapping::at(outside + 0x1000, blocker, RW, &mut tables), "map the blocker")?;
    mem_refused(
        Mapping::at(outside, run, RW, &mut tables),
        MemError::Kernel(libasi::Error::AlreadyMapped),
        "a run over a mapped page",
    )?;
    drop(blocking);
    let mut both =
        mem(Mapping::at(outside, run, RW, &mut tables), "map the run once the page is free")?;
    mem(both.bytes_mut(), "write access")?[4096] = 7;
    ensure!(raw::read(outside + 0x1000) == 7, "the run's second frame is not at the second page");
    Ok(())
}

fn wrong_sensitivity(s: &mut Scratch<'_>) -> Outcome {
    let memory = s.untyped(16)?;
    let slots = s.slots(2)?;
    let mut source = UntypedSource::new(memory, slots);
    mem_refused(
        source.frame(Sensitivity::Sensitive),
        MemError::WrongSensitivity {
            wanted: Sensitivity::Sensitive,
            got: Sensitivity::Nonsensitive,
        },
        "a sensitive frame from nonsensitive memory",
    )?;
    ensure!(source.used().is_empty(), "the refused frame kept its slot");
    let frame = mem(source.frame(Sensitivity::Nonsensitive), "a nonsensitive frame")?;
    ensure!(frame.cptr().0 == slots.start, "the frame is in slot {}, not the first", frame.cptr());
    Ok(())
}

/// Initialises [`HEAP`] with `pages` frames of `memory` (of `sensitivity`) at most; the
/// slots the frames go to.
fn init_heap(
    s: &mut Scratch<'_>,
    memory: Cap<libasi::cap::Untyped>,
    pages: usize,
    sensitivity: Sensitivity,
) -> Result<SlotRange, Failure> {
    let frame_slots = s.slots(pages)?;
    let mut tables = tables(s, 4)?;
    let source = UntypedSource::new(memory, frame_slots);
    mem(HEAP.init(source, &mut tables, sensitivity), "initialise the heap")?;
    Ok(frame_slots)
}

fn heap_collections(s: &mut Scratch<'_>) -> Outcome {
    let block = s.sensitive_pageblock()?;
    let frame_slots = init_heap(s, block, 64, Sensitivity::Sensitive)?;
    {
        let numbers: Vec<u64> = (0..4000).map(|n| n * 3).collect();
        let sum: u64 = numbers.iter().sum();
        ensure!(numbers.len() == 4000 && sum == 3 * 3999 * 4000 / 2, "the Vec sums to {sum}");
        let mut names = BTreeMap::new();
        for key in 0..300u32 {
            let mut name = String::new();
            let _ = write!(name, "key number {key}");
            names.insert(key, name);
        }
        ensure!(
            names.get(&123).map(String::as_str) == Some("key number 123"),
            "the map lost key 123"
        );
        ensure!(names.len() == 300, "the map has {} entries", names.len());
        let stats = HEAP.stats();
        ensure!(
            stats.bytes_used >= 4000 * 8,
            "the heap says {} bytes are in use",
            stats.bytes_used
        );
        ensure!(stats.sensitivity == Some(Sensitivity::Sensitive), "{stats:?}");
        ensure!(stats.pages_mapped >= 8, "{} pages hold a 32 KiB Vec", stats.pages_mapped);
        for slot in frame_slots.start..frame_slots.start + stats.pages_mapped as u64 {
            let got =
                ok(Cap::<Frame>::from_slot(slot).sensitivity(), "a heap frame's sensitivity")?;
            ensure!(got == Sensitivity::Sensitive, "the heap frame in slot {slot} is {got:?}");
        }
        let address = numbers.as_ptr() as u64;
        let window = MAP_WINDOW..MAP_WINDOW + MAP_WINDOW_BYTES;
        ensure!(window.contains(&address), "the Vec is at {address:#x}, outside the map window");
    }
    let stats = HEAP.stats();
    ensure!(
        stats.bytes_used == 0,
        "{} bytes still in use after everything was dropped",
        stats.bytes_used
    );
    Ok(())
}

fn heap_out_of_memory(s: &mut Scratch<'_>) -> Outcome {
    let memory = s.untyped(16)?;
    init_heap(s, memory, 8, Sensitivity::Nonsensitive)?;
    let mut small: Vec<u8> = Vec::new();
    ok_reserve(small.try_reserve(16 * 1024), "16 KiB, four of the eight frames")?;
    let mut large: Vec<u8> = Vec::new();
    ensure!(large.try_reserve(64 * 1024).is_err(), "64 KiB from eight frames did not fail");
    ensure!(
        large.try_reserve(HEAP_PAGES * 4096 + 1).is_err(),
        "more than the heap's pages did not fail"
    );
    let stats = HEAP.stats();
    ensure!(stats.pages_mapped == 8, "{} frames mapped; the source had 8", stats.pages_mapped);
    drop(small);
    let mut again: Vec<u8> = Vec::new();
    ok_reserve(again.try_reserve(28 * 1024), "28 KiB after the failures, in the frames there are")?;
    again.resize(28 * 1024, 0xee);
    ensure!(again.iter().all(|&byte| byte == 0xee), "the block does not hold what was written");
    Ok(())
}

fn ok_reserve(result: Result<(), alloc::collections::TryReserveError>, what: &str) -> Outcome {
    match result {
        Ok(()) => Ok(()),
        Err(error) => fail!("reserve {what}: {error}"),
    }
}
