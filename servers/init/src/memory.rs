//! init and memsrv: the pageblocks init gives memsrv, the frames init asks it for, and
//! the report init prints at the end.
//!
//! init carves [`PAGEBLOCKS`] untyped regions of one 2 MiB pageblock each from its pool
//! (nonsensitive, as the whole pool is by then) and moves them to memsrv, which flips one
//! only when a request needs memory of the other sensitivity. init is memsrv's client 1,
//! with a quota of [`QUOTA_PAGES`]: it asks for [`FRAMES`] 4 KiB frames of each
//! sensitivity, checks that each frame is of the sensitivity asked for, frees them all and
//! reports what that cost the kernel (flips, ASI exits).

use core::fmt;

use libasi::cap::{
    AsiControl, CNodeAt, Cap, Counters, Frame, ObjectKind, Sensitivity, SlotAllocator, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::println;
use libasi::process::layout;
use memsrv_api::{ORDER_4K, Stats};
use memsrv_client::Client;
use syscall_abi::counters::Counter;

use crate::{Context, InitError};

/// Pageblocks memsrv gets: one for every granted slot after its endpoint and the ASI
/// control capability, as many as it manages.
pub const PAGEBLOCKS: usize = layout::MAX_GRANTED - memsrv_api::grants::FIRST_MEMORY;
/// log2 of a pageblock's size.
const PAGEBLOCK_BITS: u8 = 21;
/// init's client number at memsrv.
pub const CLIENT_ID: u16 = 1;
/// Pages init may hold at memsrv: what it asks for, and no more.
pub const QUOTA_PAGES: u32 = 2 * FRAMES as u32;
/// Frames init asks for per sensitivity.
const FRAMES: usize = 4;
/// The sensitivities, in the order init asks for them.
const SENSITIVITIES: [Sensitivity; 2] = [Sensitivity::Sensitive, Sensitivity::Nonsensitive];

/// Carves [`PAGEBLOCKS`] pageblocks from `pool` into new root slots.
pub fn carve_pageblocks(
    pool: Cap<Untyped>,
    slots: &mut SlotAllocator,
) -> Result<[Cap<Untyped>; PAGEBLOCKS], InitError> {
    let first = slots.alloc_range(PAGEBLOCKS).ok_or(InitError::NoSlots)?;
    pool.retype(ObjectKind::Untyped, PAGEBLOCK_BITS, CNodeAt::ROOT, first, PAGEBLOCKS as u64)
        .context("carve memsrv's pageblocks")?;
    Ok(core::array::from_fn(|index| Cap::from_slot(first + index as u64)))
}

/// What asking memsrv for frames of one sensitivity cost the kernel.
#[derive(Clone, Copy)]
pub struct Allocations {
    sensitivity: Sensitivity,
    /// Pageblocks flipped meanwhile.
    flips: u64,
    /// Times the kernel left its restricted view meanwhile.
    asi_exits: u64,
}

/// Asks memsrv as `client` for [`FRAMES`] frames of each sensitivity (into slots from
/// `slots`), checks them, frees them all; returns what each sensitivity cost and
/// memsrv's statistics afterwards.
pub fn exercise(
    client: &Client,
    slots: &mut SlotAllocator,
    buffer: IpcBuffer,
) -> Result<([Allocations; 2], Stats), InitError> {
    let mut held: [Option<Cap<Frame>>; 2 * FRAMES] = [None; 2 * FRAMES];
    let mut costs =
        SENSITIVITIES.map(|sensitivity| Allocations { sensitivity, flips: 0, asi_exits: 0 });
    for (frames, cost) in held.chunks_mut(FRAMES).zip(&mut costs) {
        let before = counters(buffer)?;
        for frame in frames {
            let slot = slots.alloc().ok_or(InitError::NoSlots)?;
            let allocated = client
                .alloc_frame(ORDER_4K, cost.sensitivity, slot)
                .map_err(|error| InitError::Memsrv("allocate a frame", error))?;
            *frame = Some(allocated);
            let got = allocated.sensitivity().context("a frame's sensitivity")?;
            if got != cost.sensitivity {
                return Err(InitError::WrongSensitivity(cost.sensitivity, got));
            }
        }
        let spent = counters(buffer)?.since(&before);
        cost.flips = spent.get(Counter::Flips);
        cost.asi_exits = spent.get(Counter::AsiExits);
    }
    // The kernel's restricted view agrees with every pageblock's sensitivity.
    Cap::<AsiControl>::BOOT.verify().context("verify the restricted view")?;
    let during = stats(client)?;
    if during.used_pages != QUOTA_PAGES.into() {
        return Err(InitError::Usage(during.used_pages));
    }
    for frame in held.into_iter().flatten() {
        client.free(frame).map_err(|error| InitError::Memsrv("free a frame", error))?;
        slots.free(frame.cptr().0);
    }
    let after = stats(client)?;
    if after.used_pages != 0 {
        return Err(InitError::Usage(after.used_pages));
    }
    Ok((costs, after))
}

/// Prints the report: init's allocations, memsrv's pageblocks and flips, and the kernel's
/// entries, ASI exits and flushes since boot.
pub fn report(costs: &[Allocations; 2], stats: &Stats, buffer: IpcBuffer) -> Result<(), InitError> {
    for cost in costs {
        let name = match cost.sensitivity {
            Sensitivity::Sensitive => "sensitive",
            Sensitivity::Nonsensitive => "nonsensitive",
        };
        println!(
            "init: allocated {FRAMES} {name} 4 KiB frames from memsrv: {}, {}; checked, freed",
            Count(cost.flips, "flip", "flips"),
            Count(cost.asi_exits, "ASI exit", "ASI exits"),
        );
    }
    let [sensitive, nonsensitive] = stats.pageblocks;
    println!(
        "init: memsrv pageblocks: {sensitive} sensitive, {nonsensitive} nonsensitive ({} of 2 MiB); {} since start",
        sensitive + nonsensitive,
        Count(stats.flips, "flip", "flips"),
    );
    let kernel = counters(buffer)?;
    let count = |counter, one, many| Count(kernel.get(counter), one, many);
    let (syscalls, interrupts, exceptions) = (
        kernel.get(Counter::SyscallEntries),
        kernel.get(Counter::InterruptEntries),
        kernel.get(Counter::ExceptionEntries),
    );
    println!(
        "init: kernel since boot: {} ({}, {}, {}), {}",
        Count(syscalls + interrupts + exceptions, "entry", "entries"),
        Count(syscalls, "system call", "system calls"),
        Count(interrupts, "interrupt", "interrupts"),
        Count(exceptions, "exception", "exceptions"),
        count(Counter::Cr3Writes, "CR3 write", "CR3 writes"),
    );
    println!(
        "init: kernel since boot: {}, {}; {}, {}, {}",
        count(Counter::AsiExits, "ASI exit", "ASI exits"),
        count(Counter::AsiEntries, "re-entry", "re-entries"),
        count(Counter::L1dFlushes, "L1D flush", "L1D flushes"),
        count(Counter::Ibpb, "IBPB", "IBPBs"),
        count(Counter::Verws, "VERW", "VERWs"),
    );
    println!(
        "init: kernel since boot: {}, {}, {}",
        count(Counter::Flips, "pageblock flip", "pageblock flips"),
        count(Counter::PagesZeroed, "page zeroed", "pages zeroed"),
        count(Counter::TlbShootdowns, "TLB shootdown", "TLB shootdowns"),
    );
    Ok(())
}

/// A count with its noun, singular or plural.
struct Count(u64, &'static str, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(count, one, many) = *self;
        write!(f, "{count} {}", if count == 1 { one } else { many })
    }
}

/// The kernel's counters on CPU 0.
fn counters(buffer: IpcBuffer) -> Result<Counters, InitError> {
    Cap::<AsiControl>::BOOT.counters(buffer, 0).context("read the kernel's counters")
}

fn stats(client: &Client) -> Result<Stats, InitError> {
    client.stats().map_err(|error| InitError::Memsrv("memsrv's statistics", error))
}
