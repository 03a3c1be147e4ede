//! What the benchmarks that need kernel objects share: the root task's boot information,
//! free slots, a pool of untyped memory, its IPC buffer, helper threads started in its
//! own address space (each with a static stack and, if it needs one, an IPC buffer frame),
//! and peer processes spawned from the [`PEER_MODULE`] boot module, each in an address
//! space and CSpace of its own; memsrv, started from the [`MEMSRV_MODULE`] boot module
//! when a benchmark first needs it.

use core::fmt;
use core::sync::atomic::AtomicU64;

use libasi::Error;
use libasi::boot::{ModuleDescriptor, SlotRange};
use libasi::cap::{
    AsiControl, CNode, CNodeAt, CPtr, Cap, CapData, CapType, Endpoint, Frame, FrameAttributes,
    ObjectKind, PageTable, Rights, Sensitivity, Slot, SlotAllocator, SlotRef, Tcb, TcbConfig,
    Untyped, UserRegisters, VSpace,
};
use libasi::ipc::IpcBuffer;
use libasi::memsrv::Client;
use libasi::process::{Process, SpawnError, SpawnOptions, Spawner};

pub const ROOT: Cap<CNode> = Cap::<CNode>::ROOT;
pub const ROOT_TCB: Cap<Tcb> = Cap::<Tcb>::ROOT_TCB;
pub const ROOT_VSPACE: Cap<VSpace> = Cap::<VSpace>::ROOT_VSPACE;

/// The root task's priority while the benchmarks run: one below the top, so that a helper
/// thread at [`HELPER_PRIORITY`] runs as soon as it is made runnable.
pub const ROOT_PRIORITY: u8 = 254;
/// Every helper thread's priority: the highest there is. Peer processes run at it too.
pub const HELPER_PRIORITY: u8 = 255;

/// The boot module of the cross-address-space benchmarks' server (`tests/guest/bench-peer`),
/// which the host passes next to this program.
pub const PEER_MODULE: &str = "bench-peer";

/// The boot module of the memory server (`memsrv/server`), which the host passes after
/// [`PEER_MODULE`] for the memsrv benchmarks.
pub const MEMSRV_MODULE: &str = "memsrv-server";
/// What memsrv manages: [`MEMSRV_REGIONS`] untyped regions of 2^`MEMSRV_REGION_BITS` bytes
/// (two pageblocks each), the first sensitive and the others nonsensitive, so that either
/// sensitivity is served without a flip until the workload asks for more of it.
const MEMSRV_REGIONS: u64 = 2;
const MEMSRV_REGION_BITS: u8 = PAGEBLOCK_BITS + 1;
/// A pageblock (2 MiB), in bits.
pub const PAGEBLOCK_BITS: u8 = 21;
/// memsrv's own memory (its CNode of 2^12 slots alone is 256 KiB), as init gives it.
const MEMSRV_MEMORY_BITS: u8 = 20;
/// The bench program's client number and quota at memsrv: every page of its pageblocks.
const MEMSRV_CLIENT: u16 = 1;
const MEMSRV_QUOTA_PAGES: u32 = (MEMSRV_REGIONS as u32) << (MEMSRV_REGION_BITS - 12);

/// Where helper `index`'s IPC buffer frame is mapped, one page each.
const HELPER_BUFFER_BASE: u64 = 0x10_0000_0000;
/// Where `map_unmap_frame` maps its frame: a page table of its own, away from the buffers.
pub const MAP_ADDRESS: u64 = 0x10_0020_0000;
/// Where `asi_exit_reentry` maps the sensitive frame it makes the root task's IPC buffer:
/// a page table of its own.
pub const ASI_BUFFER_ADDRESS: u64 = 0x10_0040_0000;

/// How many helper threads can exist at once.
const HELPERS: usize = 2;
const STACK_WORDS: usize = 1024;

#[repr(C, align(16))]
struct Stack([AtomicU64; STACK_WORDS]);

static STACKS: [Stack; HELPERS] =
    [const { Stack([const { AtomicU64::new(0) }; STACK_WORDS]) }; HELPERS];

/// A setup step failed: what it was, and the kernel's error.
#[derive(Clone, Copy, Debug)]
pub struct SetupError {
    pub step: &'static str,
    pub error: Error,
}

/// Attaches `step` to a failed setup call.
pub fn setup<T>(result: Result<T, Error>, step: &'static str) -> Result<T, SetupError> {
    result.map_err(|error| SetupError { step, error })
}

/// Starting a peer process (or memsrv) failed.
#[derive(Clone, Copy, Debug)]
pub enum SpawnFailure {
    /// The boot information lists no module of that name.
    NoModule(&'static str),
    /// The spawner refused to start the module of that name.
    Spawner(&'static str, SpawnError),
    /// Preparing what the module of that name is given failed.
    Setup(&'static str, SetupError),
}

impl fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoModule(name) => write!(f, "no boot module `{name}` to start"),
            Self::Spawner(name, error) => write!(f, "cannot start `{name}`: {error}"),
            Self::Setup(name, SetupError { step, error }) => {
                write!(f, "cannot start `{name}`: cannot {step}: {error}")
            }
        }
    }
}

/// The entry of a helper thread: `arg` in rdi, its buffer (0 for none) in rsi.
pub type Entry = extern "C" fn(u64, u64) -> !;

/// A helper thread: its TCB and the slots it owns.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    pub tcb: Cap<Tcb>,
    index: usize,
}

/// The root task's resources.
#[derive(Debug)]
pub struct Env {
    slots: SlotAllocator,
    pool: Cap<Untyped>,
    /// The root task's IPC buffer.
    pub buffer: IpcBuffer,
    helpers: [bool; HELPERS],
    /// Each helper's IPC buffer frame, retyped and mapped on first use.
    buffer_frames: [Option<Cap<Frame>>; HELPERS],
    /// The [`PEER_MODULE`] boot module, if the host passed it.
    peer_module: Option<ModuleDescriptor>,
    /// The [`MEMSRV_MODULE`] boot module, if the host passed it.
    memsrv_module: Option<ModuleDescriptor>,
    /// memsrv, once started: the bench program's client of it.
    memsrv: Option<Client>,
}

impl Env {
    /// Reads the boot information (which also records the IPC buffer for long
    /// invocations), picks the largest untyped RAM region as the pool and notes the
    /// [`PEER_MODULE`] boot module; drops the root task to [`ROOT_PRIORITY`]. Not inlined:
    /// the boot information is large, and leaves the stack when this returns.
    #[inline(never)]
    pub fn new() -> Result<Self, SetupError> {
        let info = setup(libasi::boot::info(), "read the boot information")?;
        let (pool, _) = libasi::boot::largest_ram(&info)
            .ok_or(SetupError { step: "find untyped RAM", error: Error::NotEnoughMemory })?;
        // Boot leaves the memory it hands out sensitive; the benchmarks' objects need it not.
        setup(
            Cap::<AsiControl>::BOOT.set_sensitivity(pool, Sensitivity::Nonsensitive),
            "make the pool nonsensitive",
        )?;
        let module = |name: &str| info.modules().iter().find(|module| module.name() == name);
        let (peer_module, memsrv_module) = (module(PEER_MODULE), module(MEMSRV_MODULE));
        let buffer = setup(IpcBuffer::root(), "find the root task's IPC buffer")?;
        setup(ROOT_TCB.set_priority(ROOT_TCB, ROOT_PRIORITY), "lower the root task's priority")?;
        Ok(Self {
            slots: SlotAllocator::new(info.empty),
            pool,
            buffer,
            helpers: [false; HELPERS],
            buffer_frames: [None; HELPERS],
            peer_module: peer_module.copied(),
            memsrv_module: memsrv_module.copied(),
            memsrv: None,
        })
    }

    /// A free root CNode slot.
    pub fn slot(&mut self) -> Result<u64, SetupError> {
        self.slots
            .alloc()
            .ok_or(SetupError { step: "find a free slot", error: Error::NotEnoughMemory })
    }

    /// `count` adjacent free root CNode slots.
    pub fn slot_range(&mut self, count: usize) -> Result<SlotRange, SetupError> {
        let start = self.slots.alloc_range(count).ok_or(SetupError {
            step: "find adjacent free slots",
            error: Error::NotEnoughMemory,
        })?;
        Ok(SlotRange { start, end: start + count as u64 })
    }

    /// Gives back `slot`, which is empty already (e.g. memsrv revoked what was in it).
    pub fn release_slot(&mut self, slot: u64) {
        self.slots.free(slot);
    }

    /// Deletes the capability in `slot` and gives the slot back.
    pub fn free<T: CapType>(&mut self, cap: Cap<T>) -> Result<(), SetupError> {
        setup(ROOT.delete(Slot::root(cap.cptr().0)), "delete a capability")?;
        self.slots.free(cap.cptr().0);
        Ok(())
    }

    /// One object of `kind` (`size_bits` for untyped regions) from `untyped`, or the pool.
    pub fn retype<T: CapType>(
        &mut self,
        untyped: Option<Cap<Untyped>>,
        kind: ObjectKind,
        size_bits: u8,
    ) -> Result<Cap<T>, SetupError> {
        let slot = self.slot()?;
        let untyped = untyped.unwrap_or(self.pool);
        setup(untyped.retype(kind, size_bits, CNodeAt::ROOT, slot, 1), "retype an object")?;
        Ok(Cap::from_slot(slot))
    }

    /// Maps `frame` read-write at `address` in the root VSpace, installing the page tables
    /// it is missing (retyped from the pool; they stay for the rest of the run).
    pub fn map_with_tables(&mut self, frame: Cap<Frame>, address: u64) -> Result<(), SetupError> {
        for _ in 0..4 {
            let rights = Rights::READ | Rights::WRITE;
            match frame.map(ROOT_VSPACE, address, rights, FrameAttributes::NONE) {
                Ok(()) => return Ok(()),
                Err(Error::MissingPageTable { level }) => {
                    let kind = match level {
                        1 => ObjectKind::PageDirectoryPointerTable,
                        2 => ObjectKind::PageDirectory,
                        _ => ObjectKind::PageTable,
                    };
                    let table: Cap<PageTable> = self.retype(None, kind, 0)?;
                    setup(table.map(ROOT_VSPACE, address), "install a page table")?;
                }
                Err(error) => return Err(SetupError { step: "map a frame", error }),
            }
        }
        Err(SetupError { step: "map a frame", error: Error::MissingPageTable { level: 0 } })
    }

    /// Starts a helper thread in the root task's address space at [`HELPER_PRIORITY`],
    /// running `entry(arg, buffer address)`; with `buffer`, it gets an IPC buffer of its
    /// own. It runs at once (it outranks the root task) until it blocks.
    pub fn start_helper(
        &mut self,
        entry: Entry,
        arg: u64,
        buffer: bool,
    ) -> Result<Helper, SetupError> {
        let index = self
            .helpers
            .iter()
            .position(|used| !used)
            .ok_or(SetupError { step: "find a helper stack", error: Error::NotEnoughMemory })?;
        let tcb: Cap<Tcb> = self.retype(None, ObjectKind::Tcb, 0)?;
        self.helpers[index] = true;
        let mut config = TcbConfig::new(ROOT, ROOT_VSPACE);
        let mut buffer_address = 0;
        if buffer {
            let address = HELPER_BUFFER_BASE + 0x1000 * index as u64;
            let frame = match self.buffer_frames[index] {
                Some(frame) => frame,
                None => {
                    let frame = self.retype(None, ObjectKind::Frame4K, 0)?;
                    self.map_with_tables(frame, address)?;
                    self.buffer_frames[index] = Some(frame);
                    frame
                }
            };
            config = config.ipc_buffer(address, frame.cptr());
            buffer_address = address;
        }
        setup(tcb.configure(&config), "configure a helper")?;
        let stack_top = STACKS[index].0.as_ptr() as u64 + (STACK_WORDS * 8) as u64;
        let mut registers = UserRegisters::start(entry as usize as u64, stack_top - 8);
        registers.rdi = arg;
        registers.rsi = buffer_address;
        setup(tcb.write_registers(false, &registers), "write a helper's registers")?;
        setup(tcb.set_priority(ROOT_TCB, HELPER_PRIORITY), "set a helper's priority")?;
        setup(tcb.resume(), "resume a helper")?;
        Ok(Helper { tcb, index })
    }

    /// Ends a helper: its TCB goes, and with it the thread, wherever it waits.
    pub fn stop_helper(&mut self, helper: Helper) -> Result<(), SetupError> {
        self.free(helper.tcb)?;
        self.helpers[helper.index] = false;
        Ok(())
    }

    /// Spawns a process from the [`PEER_MODULE`] boot module, in an address space and
    /// CSpace of its own, at [`HELPER_PRIORITY`] (as the helper threads), with a copy of
    /// `endpoint` that may only receive as its one granted capability
    /// (`libasi::process::granted(0)`). It runs at once (it outranks the root task) until
    /// it waits on the endpoint. Nothing ends it: it waits there for the rest of the run,
    /// which then ends as every other thread is blocked or gone.
    pub fn spawn_peer(&mut self, endpoint: Cap<Endpoint>) -> Result<Process, SpawnFailure> {
        let module = self.peer_module.ok_or(SpawnFailure::NoModule(PEER_MODULE))?;
        let options = SpawnOptions::new(HELPER_PRIORITY).grant(endpoint.cptr(), Rights::READ);
        Spawner::new(self.pool, &mut self.slots)
            .spawn(&module, &options)
            .map_err(|error| SpawnFailure::Spawner(PEER_MODULE, error))
    }

    /// The bench program's memsrv client; the first call starts memsrv from the
    /// [`MEMSRV_MODULE`] boot module, as `tests/guest/memtest` does: two regions of two
    /// pageblocks carved from the pool (the first made sensitive) and moved to it, an
    /// endpoint it receives on, the ASI control capability to flip pageblocks, a CNode of
    /// 2^[`memsrv_api::CNODE_RADIX`] slots for its records, at [`HELPER_PRIORITY`] (a
    /// request is served at once, as the peers serve theirs). The client's capability is a
    /// badged copy of the endpoint with the write and grant-reply rights. memsrv then waits
    /// on its endpoint for the rest of the run, as the peers do.
    pub fn memsrv(&mut self) -> Result<Client, SpawnFailure> {
        if let Some(client) = self.memsrv {
            return Ok(client);
        }
        let module = self.memsrv_module.ok_or(SpawnFailure::NoModule(MEMSRV_MODULE))?;
        let failed = |error| SpawnFailure::Setup(MEMSRV_MODULE, error);
        let regions = self
            .slots
            .alloc_range(MEMSRV_REGIONS as usize)
            .ok_or(SetupError { step: "find slots", error: Error::NotEnoughMemory })
            .map_err(failed)?;
        setup(
            self.pool.retype(
                ObjectKind::Untyped,
                MEMSRV_REGION_BITS,
                CNodeAt::ROOT,
                regions,
                MEMSRV_REGIONS,
            ),
            "carve memsrv's regions",
        )
        .map_err(failed)?;
        setup(
            Cap::<AsiControl>::BOOT
                .set_sensitivity(Cap::from_slot(regions), Sensitivity::Sensitive),
            "make memsrv's first region sensitive",
        )
        .map_err(failed)?;
        let endpoint: Cap<Endpoint> = self.retype(None, ObjectKind::Endpoint, 0).map_err(failed)?;
        let client_slot = self.slot().map_err(failed)?;
        let badge = memsrv_api::badge::client(MEMSRV_CLIENT, MEMSRV_QUOTA_PAGES);
        setup(
            ROOT.mint(
                Slot::root(client_slot),
                SlotRef::root(endpoint.cptr().0),
                Rights::WRITE | Rights::GRANT_REPLY,
                CapData::badge(badge),
            ),
            "mint memsrv's client capability",
        )
        .map_err(failed)?;
        let mut options = SpawnOptions::new(HELPER_PRIORITY)
            .cnode_radix(memsrv_api::CNODE_RADIX)
            .memory_bits(MEMSRV_MEMORY_BITS)
            .grant(endpoint.cptr(), Rights::READ)
            .grant(Cap::<AsiControl>::BOOT.cptr(), Rights::ALL);
        for region in 0..MEMSRV_REGIONS {
            options = options.grant_moved(CPtr(regions + region));
        }
        Spawner::new(self.pool, &mut self.slots)
            .spawn(&module, &options)
            .map_err(|error| SpawnFailure::Spawner(MEMSRV_MODULE, error))?;
        let client = Client::new(Cap::from_slot(client_slot), self.buffer, ROOT);
        self.memsrv = Some(client);
        Ok(client)
    }
}
