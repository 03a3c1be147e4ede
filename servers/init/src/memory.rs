//! init and memsrv: how the boot memory is divided, the frames init asks memsrv for, and
//! the report init prints at the end.
//!
//! At boot every whole pageblock handed out is sensitive. init keeps two pageblocks of
//! the largest region, makes them nonsensitive and builds memsrv (and its own endpoints)
//! from them; every other whole pageblock of RAM goes to memsrv, as naturally aligned untyped
//! regions ([`Division`]). Only the fragments smaller than a pageblock around the kernel
//! and the boot modules stay with init, unused: memsrv manages pageblocks. After that,
//! init asks memsrv for everything, including the memory the other servers are built
//! from.

use core::fmt;

use libasi::boot::{BootInfo, SlotRange};
use libasi::cap::{
    AsiControl, CNodeAt, Cap, Counters, ObjectKind, Sensitivity, SlotAllocator, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::memsrv::{AllocatedFrame, Client, FramePool};
use libasi::println;
use memsrv_api::{ORDER_4K, Stats, grants};
use syscall_abi::counters::Counter;

use crate::{Context, InitError};

/// log2 of a pageblock's size.
pub const PAGEBLOCK_BITS: u8 = 21;
/// log2 of the bootstrap region: two pageblocks, room for memsrv's memory, init's
/// endpoints and the spawner's scratch page tables.
const BOOTSTRAP_BITS: u8 = PAGEBLOCK_BITS + 1;
/// log2 of the memory memsrv is built from: 1 MiB (its CNode alone is 256 KiB).
pub const MEMSRV_MEMORY_BITS: u8 = 20;
/// log2 of the memory each other server is built from: 512 KiB, carved from a pageblock
/// init asks memsrv for (the rest of which holds the spawner's scratch page tables).
pub const SERVER_MEMORY_BITS: u8 = 19;
/// Regions memsrv can be granted: every granted slot after its endpoint and the ASI
/// control capability.
pub const MAX_REGIONS: usize = libasi::process::layout::MAX_GRANTED - grants::FIRST_MEMORY;
/// init's client number at memsrv.
pub const CLIENT_ID: u16 = 1;
/// Servers init builds from a pageblock memsrv gives: console, echo, client, keystore and
/// signer.
const SERVERS_FROM_MEMSRV: u32 = 5;
/// Pages init may hold at memsrv: a pageblock for each server it starts that way, and the
/// frames it asks for.
pub const QUOTA_PAGES: u32 = SERVERS_FROM_MEMSRV * 512 + 2 * FRAMES as u32;
/// Frames init asks for per sensitivity.
const FRAMES: usize = 4;
/// The sensitivities, in the order init asks for them.
const SENSITIVITIES: [Sensitivity; 2] = [Sensitivity::Sensitive, Sensitivity::Nonsensitive];

/// How the boot memory is divided between init and memsrv.
pub struct Division {
    /// Two nonsensitive pageblocks: init's endpoints and memsrv itself are made from them.
    pub bootstrap: Cap<Untyped>,
    /// Every other whole pageblock of RAM, as naturally aligned regions, for memsrv.
    pub regions: heapless::Vec<Cap<Untyped>, MAX_REGIONS>,
    /// Bytes memsrv gets.
    pub memsrv_bytes: u64,
    /// Bytes of fragments smaller than a pageblock, which stay with init.
    pub kept_bytes: u64,
}

/// Divides the boot memory: the first two pageblocks of the largest RAM region become the
/// bootstrap, the rest of that region is carved into aligned regions (one of each size
/// from two pageblocks up to half the region), and every other RAM region of at least a
/// pageblock goes to memsrv whole.
pub fn divide(info: &BootInfo, slots: &mut SlotAllocator) -> Result<Division, InitError> {
    let (pool, pool_bits) = libasi::boot::largest_ram(info).ok_or(InitError::NoMemory)?;
    if pool_bits <= BOOTSTRAP_BITS {
        return Err(InitError::NoMemory);
    }
    let pieces = usize::from(pool_bits - BOOTSTRAP_BITS);
    let first = slots.alloc_range(pieces + 1).ok_or(InitError::NoSlots)?;
    // Retyped smallest first, each after the last: the bootstrap at the pool's base, then
    // one of every size from the bootstrap's up, which tiles the rest exactly.
    pool.retype(ObjectKind::Untyped, BOOTSTRAP_BITS, CNodeAt::ROOT, first, 1)
        .context("carve the bootstrap region")?;
    for (index, bits) in (BOOTSTRAP_BITS..pool_bits).enumerate() {
        pool.retype(ObjectKind::Untyped, bits, CNodeAt::ROOT, first + 1 + index as u64, 1)
            .context("carve memsrv's regions")?;
    }
    let bootstrap = Cap::<Untyped>::from_slot(first);
    Cap::<AsiControl>::BOOT
        .set_sensitivity(bootstrap, Sensitivity::Nonsensitive)
        .context("make the bootstrap region nonsensitive")?;
    let mut division = Division {
        bootstrap,
        regions: heapless::Vec::new(),
        memsrv_bytes: (1 << pool_bits) - (1 << BOOTSTRAP_BITS),
        kept_bytes: 0,
    };
    for index in 0..pieces {
        division.give(Cap::from_slot(first + 1 + index as u64))?;
    }
    let pool_slot = pool.cptr().0;
    for (index, untyped) in info.untyped().iter().enumerate() {
        let slot = info.untyped_slots.start + index as u64;
        if untyped.device || slot == pool_slot {
            continue;
        }
        if untyped.size_bits < PAGEBLOCK_BITS {
            division.kept_bytes += 1 << untyped.size_bits;
        } else {
            division.give(Cap::from_slot(slot))?;
            division.memsrv_bytes += 1 << untyped.size_bits;
        }
    }
    Ok(division)
}

impl Division {
    fn give(&mut self, region: Cap<Untyped>) -> Result<(), InitError> {
        self.regions.push(region).map_err(|_| InitError::TooManyRegions)
    }
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

/// Sensitive 4 KiB frames init allocates and frees in turn through a [`FramePool`].
pub const CHURN: u64 = 64;

/// What churning [`CHURN`] sensitive frames through a [`FramePool`] cost.
pub struct Churn {
    /// Frames memsrv made (the rest came back kept).
    made: u64,
    /// Kernel entries meanwhile.
    entries: u64,
    /// Times the kernel left its restricted view meanwhile.
    asi_exits: u64,
}

/// Allocates and frees one sensitive frame [`CHURN`] times through a [`FramePool`] on
/// `client`, then has memsrv take back what it kept: after the first, memsrv hands back
/// the frame just freed, with no retype, so no zeroing and no ASI exit.
pub fn churn(
    client: Client,
    slots: &mut SlotAllocator,
    buffer: IpcBuffer,
) -> Result<Churn, InitError> {
    let first = slots.alloc_range(2).ok_or(InitError::NoSlots)?;
    let range = SlotRange { start: first, end: first + 2 };
    let mut pool = FramePool::new(client, range);
    let failed = |error| InitError::Memsrv("churn a frame", error);
    let before = counters(buffer)?;
    let mut handles = heapless::Vec::<_, { CHURN as usize }>::new();
    for _ in 0..CHURN {
        let frame = pool.alloc(Sensitivity::Sensitive).map_err(failed)?;
        if !handles.contains(&frame.handle) {
            let _ = handles.push(frame.handle);
        }
        pool.free(frame).map_err(failed)?;
    }
    let spent = counters(buffer)?.since(&before);
    pool.release_kept().map_err(failed)?;
    slots.free_range(first, 2);
    Ok(Churn {
        made: handles.len() as u64,
        entries: spent.entries(),
        asi_exits: spent.get(Counter::AsiExits),
    })
}

/// Asks memsrv as `client` for [`FRAMES`] frames of each sensitivity (into slots from
/// `slots`), checks them, frees them all; returns what each sensitivity cost and
/// memsrv's statistics afterwards.
pub fn exercise(
    client: &Client,
    slots: &mut SlotAllocator,
    buffer: IpcBuffer,
) -> Result<([Allocations; 2], Stats), InitError> {
    let mut held: [Option<AllocatedFrame>; 2 * FRAMES] = [None; 2 * FRAMES];
    let mut costs =
        SENSITIVITIES.map(|sensitivity| Allocations { sensitivity, flips: 0, asi_exits: 0 });
    let before_all = client.usage().map_err(|error| InitError::Memsrv("usage", error))?;
    for (frames, cost) in held.chunks_mut(FRAMES).zip(&mut costs) {
        let before = counters(buffer)?;
        for frame in frames {
            let slot = slots.alloc().ok_or(InitError::NoSlots)?;
            let allocated = client
                .alloc_frame(ORDER_4K, cost.sensitivity, slot)
                .map_err(|error| InitError::Memsrv("allocate a frame", error))?;
            *frame = Some(allocated);
            let got = allocated.cap.sensitivity().context("a frame's sensitivity")?;
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
    let during = client.usage().map_err(|error| InitError::Memsrv("usage", error))?;
    if during.pages != before_all.pages + 2 * FRAMES as u64 {
        return Err(InitError::Usage(during.pages));
    }
    for frame in held.into_iter().flatten() {
        client.free(frame.handle).map_err(|error| InitError::Memsrv("free a frame", error))?;
        slots.free(frame.cap.cptr().0);
    }
    let after = client.usage().map_err(|error| InitError::Memsrv("usage", error))?;
    if after != before_all {
        return Err(InitError::Usage(after.pages));
    }
    let stats = client.stats().map_err(|error| InitError::Memsrv("memsrv's statistics", error))?;
    Ok((costs, stats))
}

/// Prints the report: how memory was divided, init's allocations, memsrv's pageblocks
/// and flips, and the kernel's entries, ASI exits and flushes since boot.
pub fn report(
    division: &Division,
    costs: &[Allocations; 2],
    churn: &Churn,
    stats: &Stats,
    buffer: IpcBuffer,
) -> Result<(), InitError> {
    println!(
        "init: memsrv manages {} MiB in {} regions; init kept two pageblocks to start it and {} KiB of fragments below a pageblock",
        division.memsrv_bytes >> 20,
        division.regions.len(),
        division.kept_bytes >> 10,
    );
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
    println!(
        "init: churned {CHURN} sensitive 4 KiB frames through a FramePool: {} made, {} kept and reused; {}, {}",
        churn.made,
        CHURN - churn.made,
        Count(churn.entries, "kernel entry", "kernel entries"),
        Count(churn.asi_exits, "ASI exit", "ASI exits"),
    );
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
        Count(kernel.entries(), "entry", "entries"),
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
pub struct Count(pub u64, pub &'static str, pub &'static str);

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
