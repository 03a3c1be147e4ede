//! VSpaces: mapping frames and page tables, and every refusal of a bad mapping.

use libasi::Error;
use libasi::cap::{Cap, Frame, FrameAttributes, ObjectKind, PageTable, Rights};
use libasi::fault::vector;

use crate::Case;
use crate::env::{OWN_VSPACE, Scratch, map_with_tables};
use crate::fault_cases::fault_of;
use crate::report::{Failure, Outcome, ok, refused};
use crate::{children, ensure, raw};

pub const CASES: &[Case] = &[
    ("ipc::vspace::map_frame_read_write", map_read_write),
    ("ipc::vspace::missing_tables_reported_by_level", missing_tables),
    ("ipc::vspace::already_mapped_refused", already_mapped),
    ("ipc::vspace::writable_and_executable_refused", write_execute),
    ("ipc::vspace::read_only_cap_cannot_map_writable", read_only_cap),
    ("ipc::vspace::unmapped_page_faults_at_its_address", unmap_then_fault),
    ("ipc::vspace::frame_address_is_plausible", frame_address),
    ("ipc::vspace::deleting_the_frame_cap_unmaps", delete_unmaps),
    ("ipc::vspace::kernel_half_refused", kernel_half),
    ("ipc::vspace::last_user_page_refused", last_user_page),
    ("ipc::vspace::misaligned_refused", misaligned),
    ("ipc::vspace::map_2mib_frame", large_frame),
    ("ipc::vspace::unmapped_table_is_missing_again", table_unmap),
];

const RW: Rights = Rights::READ.union(Rights::WRITE);

/// Each case's own 1 GiB of address space, so that tables never carry over.
fn region(case: u64) -> u64 {
    0x40_0000_0000 + (case << 30)
}

fn frame(s: &mut Scratch<'_>) -> Result<Cap<Frame>, Failure> {
    s.object(ObjectKind::Frame4K)
}

fn map(s: &mut Scratch<'_>, frame: Cap<Frame>, address: u64) -> Outcome {
    map_with_tables(frame, address, &mut || {
        let untyped = s.untyped(12)?;
        Ok((untyped, s.slot()?))
    })
}

fn map_read_write(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let address = region(1);
    map(s, frame, address)?;
    ensure!(raw::read(address) == 0, "a fresh frame reads {:#x}", raw::read(address));
    raw::write(address + 8, 0x1122_3344_5566_7788);
    raw::write(address + 0xff8, 42);
    let (a, b) = (raw::read(address + 8), raw::read(address + 0xff8));
    ensure!(a == 0x1122_3344_5566_7788 && b == 42, "read back {a:#x} and {b}");
    Ok(())
}

fn missing_tables(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    // A fresh PML4 slot: nothing below it yet.
    let address = 0x4000_0000_0000 + region(2);
    let kinds =
        [ObjectKind::PageDirectoryPointerTable, ObjectKind::PageDirectory, ObjectKind::PageTable];
    for (level, kind) in (1..=3).zip(kinds) {
        refused(
            frame.map(OWN_VSPACE, address, RW, FrameAttributes::NONE),
            Error::MissingPageTable { level },
            "map below missing tables",
        )?;
        let table: Cap<PageTable> = s.object(kind)?;
        ok(table.map(OWN_VSPACE, address), "install the missing table")?;
    }
    ok(frame.map(OWN_VSPACE, address, RW, FrameAttributes::NONE), "map with every table")?;
    raw::write(address, 5);
    ensure!(raw::read(address) == 5, "the mapping does not hold what was written");
    Ok(())
}

fn already_mapped(s: &mut Scratch<'_>) -> Outcome {
    let first = frame(s)?;
    let second = frame(s)?;
    let address = region(3);
    map(s, first, address)?;
    refused(
        second.map(OWN_VSPACE, address, RW, FrameAttributes::NONE),
        Error::AlreadyMapped,
        "a second frame at the same address",
    )?;
    refused(
        first.map(OWN_VSPACE, address + 0x1000, RW, FrameAttributes::NONE),
        Error::AlreadyMapped,
        "the mapped capability at a second address",
    )?;
    let table: Cap<PageTable> = s.object(ObjectKind::PageTable)?;
    refused(table.map(OWN_VSPACE, address), Error::AlreadyMapped, "a second page table")
}

fn write_execute(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let address = region(4);
    let table_check = frame.map(OWN_VSPACE, address, RW, FrameAttributes::EXECUTABLE);
    refused(table_check, Error::InvalidArgument { word: 3 }, "writable and executable")?;
    refused(
        frame.map(OWN_VSPACE, address, Rights::READ, FrameAttributes::from_word_unchecked(2)),
        Error::InvalidArgument { word: 3 },
        "an unknown attribute bit",
    )?;
    map_with_tables(frame, address, &mut || {
        let untyped = s.untyped(12)?;
        Ok((untyped, s.slot()?))
    })
}

fn read_only_cap(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let read_only = s.mint(frame, Rights::READ, 0)?;
    let address = region(5);
    // Install the tables with a throwaway mapping of the original, then unmap it.
    map(s, frame, address)?;
    ok(frame.unmap(), "unmap the original")?;
    refused(
        read_only.map(OWN_VSPACE, address, RW, FrameAttributes::NONE),
        Error::InsufficientRights,
        "writable from a read-only capability",
    )?;
    ok(read_only.map(OWN_VSPACE, address, Rights::READ, FrameAttributes::NONE), "map read-only")?;
    ensure!(raw::read(address) == 0, "the read-only mapping reads {:#x}", raw::read(address));
    Ok(())
}

fn unmap_then_fault(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let address = region(6);
    map(s, frame, address)?;
    raw::write(address + 0x40, 9);
    ok(frame.unmap(), "unmap")?;
    let (_, _, fault) = fault_of(s, children::toucher, address + 0x40)?;
    ensure!(
        fault.is_exception(vector::PAGE_FAULT) && fault.address == address + 0x40,
        "fault code {} address {:#x}; expected a page fault at {:#x}",
        fault.code,
        fault.address,
        address + 0x40
    );
    Ok(())
}

fn frame_address(s: &mut Scratch<'_>) -> Outcome {
    let first = frame(s)?;
    let second = frame(s)?;
    let a = ok(first.address(), "address of the first frame")?;
    let b = ok(second.address(), "address of the second frame")?;
    ensure!(a != 0 && a % 0x1000 == 0 && a < 1 << 40, "implausible frame address {a:#x}");
    ensure!(b % 0x1000 == 0 && a != b, "two frames at {a:#x} and {b:#x}");
    Ok(())
}

fn delete_unmaps(s: &mut Scratch<'_>) -> Outcome {
    let first = frame(s)?;
    let second = frame(s)?;
    let address = region(8);
    map(s, first, address)?;
    raw::write(address, 0x77);
    s.delete(first)?;
    ok(
        second.map(OWN_VSPACE, address, RW, FrameAttributes::NONE),
        "map a second frame where the deleted one was",
    )?;
    ensure!(raw::read(address) == 0, "the address still shows the deleted frame's data");
    Ok(())
}

fn kernel_half(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    refused(
        frame.map(OWN_VSPACE, 0xffff_8000_0000_0000, RW, FrameAttributes::NONE),
        Error::RangeError { word: 1 },
        "map in the kernel half",
    )?;
    refused(
        frame.map(OWN_VSPACE, 0x8000_0000_0000, RW, FrameAttributes::NONE),
        Error::RangeError { word: 1 },
        "map at a non-canonical address",
    )
}

/// The user half's last page is never mapped (a `syscall` at its end would return to a
/// non-canonical address); the page below it is an ordinary one.
fn last_user_page(s: &mut Scratch<'_>) -> Outcome {
    let last = syscall_abi::USER_SPACE_END - 0x1000;
    let frame = frame(s)?;
    refused(
        frame.map(OWN_VSPACE, last, RW, FrameAttributes::NONE),
        Error::RangeError { word: 1 },
        "map the last user page",
    )?;
    let top_word = last - 8;
    map(s, frame, last - 0x1000)?;
    raw::write(top_word, 0x5a);
    ensure!(raw::read(top_word) == 0x5a, "the page below the last one does not keep data");
    Ok(())
}

fn misaligned(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let address = region(10);
    refused(
        frame.map(OWN_VSPACE, address + 0x800, RW, FrameAttributes::NONE),
        Error::AlignmentError,
        "map at a half page",
    )
}

fn large_frame(s: &mut Scratch<'_>) -> Outcome {
    let untyped = s.untyped(21)?;
    let slot = s.slot()?;
    ok(
        untyped.retype(ObjectKind::Frame2M, 0, libasi::cap::CNodeAt::ROOT, slot, 1),
        "retype a 2 MiB frame",
    )?;
    let frame = Cap::<Frame>::from_slot(slot);
    let address = region(11) + 0x20_0000;
    refused(
        frame.map(OWN_VSPACE, address + 0x1000, RW, FrameAttributes::NONE),
        Error::AlignmentError,
        "a 2 MiB frame at a 4 KiB boundary",
    )?;
    map(s, frame, address)?;
    raw::write(address, 1);
    raw::write(address + 0x1f_fff8, 2);
    let (a, b) = (raw::read(address), raw::read(address + 0x1f_fff8));
    ensure!((a, b) == (1, 2), "the 2 MiB mapping reads {a} and {b}");
    Ok(())
}

fn table_unmap(s: &mut Scratch<'_>) -> Outcome {
    let frame = frame(s)?;
    let address = region(12);
    let directory: Cap<PageTable> = s.object(ObjectKind::PageDirectory)?;
    ok(directory.map(OWN_VSPACE, address), "install a page directory")?;
    let table: Cap<PageTable> = s.object(ObjectKind::PageTable)?;
    ok(table.map(OWN_VSPACE, address), "install a page table")?;
    ok(table.unmap(), "remove the page table")?;
    refused(
        frame.map(OWN_VSPACE, address, RW, FrameAttributes::NONE),
        Error::MissingPageTable { level: 3 },
        "map after the table was removed",
    )?;
    ok(table.map(OWN_VSPACE, address), "install the table again")?;
    ok(frame.map(OWN_VSPACE, address, RW, FrameAttributes::NONE), "map")
}
