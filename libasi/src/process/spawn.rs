//! The spawner: builds a process from a boot module's frames and untyped memory.

use core::fmt;

use kernel_core::elf::{ElfError, Executable};
use syscall_abi::boot_info::ModuleDescriptor;

use super::layout::{
    self, CNODE_GUARD_BITS, CNODE_RADIX, IPC_BUFFER, MAX_GRANTED, PAGE_SIZE, STACK_BOTTOM,
    STACK_PAGES, STACK_TOP, slot,
};
use super::plan::{self, Contents, Page};
use crate::Error;
use crate::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, Frame, FrameAttributes, ObjectKind, PageTable, Rights,
    Slot, SlotAllocator, SlotRef, Tcb, TcbConfig, Untyped, UserRegisters, VSpace,
};

/// Where the spawner maps things in the caller's own address space while it works, unless
/// told otherwise ([`Spawner::scratch_at`]): one page to fill fresh frames through, then,
/// from [`MODULE_WINDOW_OFFSET`] on, the boot module's frames (read-only) to read the
/// executable. Nothing stays mapped there between spawns.
pub const DEFAULT_SCRATCH: u64 = 0x0000_5000_0000_0000;
/// Where the module window starts, from the scratch base (a page table of its own).
pub const MODULE_WINDOW_OFFSET: u64 = 0x20_0000;
/// The largest boot module the spawner reads: 64 MiB.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;
/// Default size of the untyped region a process is built from: 1 MiB.
pub const DEFAULT_MEMORY_BITS: u8 = 20;

/// Why a spawn failed: the step that failed and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The module is not an executable this spawner can load.
    Elf(ElfError),
    /// The module is larger than [`MAX_MODULE_BYTES`] or its frames do not cover it.
    ModuleSize,
    /// More capabilities to hand over than [`MAX_GRANTED`].
    TooManyGrants,
    /// The caller's slot allocator ran out.
    NoSlots,
    /// The kernel refused `step`.
    Kernel { step: &'static str, error: Error },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf(error) => write!(f, "not a loadable executable: {error:?}"),
            Self::ModuleSize => {
                write!(f, "module larger than {MAX_MODULE_BYTES} bytes or its frames")
            }
            Self::TooManyGrants => write!(f, "more than {MAX_GRANTED} capabilities to hand over"),
            Self::NoSlots => f.write_str("no free slots left in the caller's CNode"),
            Self::Kernel { step, error } => write!(f, "{step}: {error}"),
        }
    }
}

impl core::error::Error for SpawnError {}

/// Tags a kernel refusal with the step it stopped.
trait Step<T> {
    fn step(self, step: &'static str) -> Result<T, SpawnError>;
}

impl<T> Step<T> for Result<T, Error> {
    fn step(self, step: &'static str) -> Result<T, SpawnError> {
        self.map_err(|error| SpawnError::Kernel { step, error })
    }
}

/// A capability to hand over: copied (or minted, with a badge) into the process's next
/// granted slot with `rights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    cap: CPtr,
    rights: Rights,
    badge: Option<u64>,
}

/// How to start one process: its priority, fault endpoint, memory, and the capabilities
/// it gets ([`layout`] says in which slots).
///
/// ```ignore
/// let options = SpawnOptions::new(100)
///     .grant(endpoint.cptr(), Rights::READ)                        // granted(0)
///     .grant_badged(console.cptr(), Rights::WRITE, 2);             // granted(1)
/// let process = spawner.spawn(module, &options)?;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnOptions {
    priority: u8,
    fault_endpoint: Option<CPtr>,
    memory_bits: u8,
    start: bool,
    grants: [Option<Grant>; MAX_GRANTED],
    grant_count: usize,
    too_many: bool,
}

impl SpawnOptions {
    /// A process at `priority` (at most the spawner's authority's maximum controlled
    /// priority), no fault endpoint, [`DEFAULT_MEMORY_BITS`] of memory, started at once.
    pub const fn new(priority: u8) -> Self {
        Self {
            priority,
            fault_endpoint: None,
            memory_bits: DEFAULT_MEMORY_BITS,
            start: true,
            grants: [None; MAX_GRANTED],
            grant_count: 0,
            too_many: false,
        }
    }

    /// Faults go to `endpoint` (a pointer in the caller's CSpace), copied into the
    /// process's [`slot::FAULT_ENDPOINT`] with the write right only.
    #[must_use]
    pub const fn fault_endpoint(mut self, endpoint: CPtr) -> Self {
        self.fault_endpoint = Some(endpoint);
        self
    }

    /// Builds the process from an untyped region of 2^`bits` bytes.
    #[must_use]
    pub const fn memory_bits(mut self, bits: u8) -> Self {
        self.memory_bits = bits;
        self
    }

    /// Leaves the thread stopped; [`Process::start`] runs it.
    #[must_use]
    pub const fn stopped(mut self) -> Self {
        self.start = false;
        self
    }

    /// Hands over a copy of `cap` with `rights` in the next granted slot.
    #[must_use]
    pub const fn grant(self, cap: CPtr, rights: Rights) -> Self {
        self.push(Grant { cap, rights, badge: None })
    }

    /// Hands over a copy of the endpoint or notification `cap` with `rights` and `badge`
    /// in the next granted slot.
    #[must_use]
    pub const fn grant_badged(self, cap: CPtr, rights: Rights, badge: u64) -> Self {
        self.push(Grant { cap, rights, badge: Some(badge) })
    }

    const fn push(mut self, grant: Grant) -> Self {
        if self.grant_count < MAX_GRANTED {
            self.grants[self.grant_count] = Some(grant);
            self.grant_count += 1;
        } else {
            self.too_many = true;
        }
        self
    }

    /// How many capabilities are handed over.
    pub const fn granted(&self) -> usize {
        self.grant_count
    }
}

/// A spawned process, as its parent holds it: capabilities (in the parent's root CNode)
/// to its thread, address space, CNode and the untyped region everything came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub tcb: Cap<Tcb>,
    pub vspace: Cap<VSpace>,
    pub cnode: Cap<CNode>,
    pub memory: Cap<Untyped>,
    pub entry: u64,
}

impl Process {
    /// Runs a process spawned [`stopped`](SpawnOptions::stopped).
    pub fn start(&self) -> Result<(), Error> {
        self.tcb.resume()
    }
}

/// Starts processes from boot modules. It works in the caller's root CNode (the root
/// task's, guard 52 + radix 12, slots named by number) and address space, takes slots from
/// `slots` and memory from `pool`, an untyped region of RAM.
///
/// For each process it carves an untyped region from `pool` and makes from it: a VSpace
/// with the page tables it needs, the frames of the image's writable and partly-filled
/// pages (filled through a scratch mapping in the caller), the stack and IPC buffer frames
/// ([`layout`]), a CNode of 2^8 slots laid out as [`layout`] says, and a TCB. Read-only
/// pages the module holds exactly map copies of the module's own frame capabilities. The
/// page tables of the scratch area come from `pool` and stay for the next spawn.
#[derive(Debug)]
pub struct Spawner<'s> {
    pool: Cap<Untyped>,
    slots: &'s mut SlotAllocator,
    authority: Cap<Tcb>,
    vspace: Cap<VSpace>,
    scratch: u64,
}

const ROOT: Cap<CNode> = Cap::<CNode>::ROOT;

impl<'s> Spawner<'s> {
    /// A spawner for the root task: its VSpace, its TCB as the priority authority.
    pub fn new(pool: Cap<Untyped>, slots: &'s mut SlotAllocator) -> Self {
        Self {
            pool,
            slots,
            authority: Cap::<Tcb>::ROOT_TCB,
            vspace: Cap::<VSpace>::ROOT_VSPACE,
            scratch: DEFAULT_SCRATCH,
        }
    }

    /// Uses `address` (2 MiB aligned, with [`MAX_MODULE_BYTES`] + 2 MiB free above it) as
    /// the scratch area.
    #[must_use]
    pub fn scratch_at(mut self, address: u64) -> Self {
        self.scratch = address;
        self
    }

    /// Sets priorities with `authority`'s maximum controlled priority as the bound.
    #[must_use]
    pub fn authority(mut self, authority: Cap<Tcb>) -> Self {
        self.authority = authority;
        self
    }

    fn slot(&mut self) -> Result<u64, SpawnError> {
        self.slots.alloc().ok_or(SpawnError::NoSlots)
    }

    fn slots(&mut self, count: usize) -> Result<u64, SpawnError> {
        self.slots.alloc_range(count).ok_or(SpawnError::NoSlots)
    }

    /// `count` objects of `kind` from `memory` in fresh consecutive slots; the first slot.
    fn retype(
        &mut self,
        memory: Cap<Untyped>,
        kind: ObjectKind,
        size_bits: u8,
        count: usize,
        step: &'static str,
    ) -> Result<u64, SpawnError> {
        let first = self.slots(count)?;
        memory.retype(kind, size_bits, CNodeAt::ROOT, first, count as u64).step(step)?;
        Ok(first)
    }

    /// Maps `frame` at `vaddr` in `vspace`, installing the page tables it misses (made
    /// from `memory`), level by level as the kernel names them.
    #[allow(clippy::too_many_arguments, reason = "one mapping's every parameter")]
    fn map(
        &mut self,
        frame: Cap<Frame>,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: Rights,
        attributes: FrameAttributes,
        memory: Cap<Untyped>,
        step: &'static str,
    ) -> Result<(), SpawnError> {
        loop {
            match frame.map(vspace, vaddr, rights, attributes) {
                Err(Error::MissingPageTable { level }) => {
                    let kind = table_kind(level).ok_or(SpawnError::Kernel {
                        step,
                        error: Error::MissingPageTable { level },
                    })?;
                    let table = self.retype(memory, kind, 0, 1, "retype a page table")?;
                    Cap::<PageTable>::from_slot(table)
                        .map(vspace, vaddr)
                        .step("install a page table")?;
                }
                result => return result.step(step),
            }
        }
    }

    /// Spawns the program in boot module `module` as a process with `options`.
    pub fn spawn(
        &mut self,
        module: &ModuleDescriptor,
        options: &SpawnOptions,
    ) -> Result<Process, SpawnError> {
        if options.too_many {
            return Err(SpawnError::TooManyGrants);
        }
        let frames = module.frames.len();
        if module.size > MAX_MODULE_BYTES || module.size.div_ceil(PAGE_SIZE) > frames {
            return Err(SpawnError::ModuleSize);
        }
        let memory = Cap::<Untyped>::from_slot(self.retype(
            self.pool,
            ObjectKind::Untyped,
            options.memory_bits,
            1,
            "carve the process's memory",
        )?);
        let vspace = Cap::<VSpace>::from_slot(self.retype(
            memory,
            ObjectKind::VSpace,
            0,
            1,
            "retype a VSpace",
        )?);

        // Read the executable through the module's frames, mapped read-only.
        let window = self.scratch + MODULE_WINDOW_OFFSET;
        let mut mapped = 0;
        let mut result = Ok(());
        while mapped < frames {
            let frame = Cap::<Frame>::from_slot(module.frames.start + mapped);
            let vaddr = window + mapped * PAGE_SIZE;
            let pool = self.pool;
            result = self.map(
                frame,
                self.vspace,
                vaddr,
                Rights::READ,
                FrameAttributes::NONE,
                pool,
                "map a module frame",
            );
            if result.is_err() {
                break;
            }
            mapped += 1;
        }
        let entry = result.and_then(|_| {
            // The module's `size` bytes lie in its frames (checked above), mapped read-only
            // at `window`; boot-module frames are only ever given out read-only.
            // SAFETY: nothing writes those frames, and they stay mapped until the
            // unmapping below, after the last use of `image`.
            let image = unsafe { crate::syscall::mapped_bytes(window, module.size as usize) };
            let executable = Executable::parse(image).map_err(SpawnError::Elf)?;
            self.load(&executable, image, module, vspace, memory)?;
            Ok(executable.entry)
        });
        for index in 0..mapped {
            let _ = Cap::<Frame>::from_slot(module.frames.start + index).unmap();
        }
        let entry = entry?;

        let stack =
            self.retype(memory, ObjectKind::Frame4K, 0, STACK_PAGES as usize, "retype the stack")?;
        for page in 0..STACK_PAGES {
            self.map(
                Cap::from_slot(stack + page),
                vspace,
                STACK_BOTTOM + page * PAGE_SIZE,
                Rights::READ | Rights::WRITE,
                FrameAttributes::NONE,
                memory,
                "map the stack",
            )?;
        }
        let buffer = self.retype(memory, ObjectKind::Frame4K, 0, 1, "retype the IPC buffer")?;
        self.map(
            Cap::from_slot(buffer),
            vspace,
            IPC_BUFFER,
            Rights::READ | Rights::WRITE,
            FrameAttributes::NONE,
            memory,
            "map the IPC buffer",
        )?;

        let cnode = Cap::<CNode>::from_slot(self.retype(
            memory,
            ObjectKind::CNode,
            CNODE_RADIX,
            1,
            "retype the CNode",
        )?);
        let tcb =
            Cap::<Tcb>::from_slot(self.retype(memory, ObjectKind::Tcb, 0, 1, "retype the TCB")?);
        fill_cspace(cnode, vspace, tcb, options)?;

        let guard = guard_data();
        let mut config = TcbConfig::new(cnode, vspace).ipc_buffer(IPC_BUFFER, CPtr(buffer));
        config.cspace_root_data = guard;
        if options.fault_endpoint.is_some() {
            config = config.fault_endpoint(CPtr(slot::FAULT_ENDPOINT));
        }
        tcb.configure(&config).step("configure the TCB")?;
        tcb.set_priority(self.authority, options.priority).step("set the priority")?;
        tcb.write_registers(options.start, &start_registers(entry)).step("write the registers")?;
        Ok(Process { tcb, vspace, cnode, memory, entry })
    }

    /// Maps every page of `executable` into `vspace`.
    fn load(
        &mut self,
        executable: &Executable,
        image: &[u8],
        module: &ModuleDescriptor,
        vspace: Cap<VSpace>,
        memory: Cap<Untyped>,
    ) -> Result<(), SpawnError> {
        for page in plan::pages(executable) {
            let frame = match &page.contents {
                Contents::Module { frame } => {
                    let slot = self.slot()?;
                    let source = SlotRef::root(module.frames.start + frame);
                    ROOT.copy(Slot::root(slot), source, Rights::READ)
                        .step("copy a module frame")?;
                    Cap::<Frame>::from_slot(slot)
                }
                Contents::Zero => Cap::from_slot(self.retype(
                    memory,
                    ObjectKind::Frame4K,
                    0,
                    1,
                    "retype a page",
                )?),
                Contents::Copy { file, offset } => {
                    let frame = Cap::from_slot(self.retype(
                        memory,
                        ObjectKind::Frame4K,
                        0,
                        1,
                        "retype a page",
                    )?);
                    self.fill(frame, *offset, &image[file.clone()])?;
                    frame
                }
            };
            let (rights, attributes) = page_rights(&page);
            self.map(frame, vspace, page.vaddr, rights, attributes, memory, "map a page")?;
        }
        Ok(())
    }

    /// Copies `bytes` to `offset` in the fresh (zeroed) `frame` through the scratch page.
    fn fill(&mut self, frame: Cap<Frame>, offset: usize, bytes: &[u8]) -> Result<(), SpawnError> {
        let pool = self.pool;
        let scratch = self.scratch;
        self.map(
            frame,
            self.vspace,
            scratch,
            Rights::READ | Rights::WRITE,
            FrameAttributes::NONE,
            pool,
            "map a page to fill it",
        )?;
        debug_assert!(offset + bytes.len() <= PAGE_SIZE as usize);
        // `frame` is fresh, just mapped writable at the scratch page; the plan cuts file
        // bytes at page boundaries, so `offset + bytes.len()` stays inside the page.
        // SAFETY: no Rust reference points into that page, and `bytes` (the module,
        // mapped elsewhere) does not overlap it.
        unsafe { crate::syscall::write_bytes(scratch + offset as u64, bytes) };
        frame.unmap().step("unmap a filled page")
    }
}

/// Copies the process's own capabilities, its fault endpoint and its grants into `cnode`.
fn fill_cspace(
    cnode: Cap<CNode>,
    vspace: Cap<VSpace>,
    tcb: Cap<Tcb>,
    options: &SpawnOptions,
) -> Result<(), SpawnError> {
    let child = |index: u64| Slot::new(index, CNODE_RADIX);
    cnode
        .mint(child(slot::CNODE), SlotRef::root(cnode.cptr().0), Rights::ALL, guard_data())
        .step("give the process its CNode")?;
    cnode
        .copy(child(slot::VSPACE), SlotRef::root(vspace.cptr().0), Rights::ALL)
        .step("give the process its VSpace")?;
    cnode
        .copy(child(slot::TCB), SlotRef::root(tcb.cptr().0), Rights::ALL)
        .step("give the process its TCB")?;
    if let Some(endpoint) = options.fault_endpoint {
        cnode
            .copy(child(slot::FAULT_ENDPOINT), SlotRef::root(endpoint.0), Rights::WRITE)
            .step("give the process its fault endpoint")?;
    }
    for (index, grant) in options.grants.iter().flatten().enumerate() {
        let dest = child(layout::granted(index).0);
        let source = SlotRef::root(grant.cap.0);
        match grant.badge {
            Some(badge) => cnode.mint(dest, source, grant.rights, CapData::badge(badge)),
            None => cnode.copy(dest, source, grant.rights),
        }
        .step("hand over a capability")?;
    }
    Ok(())
}

/// The guard that makes the process's CNode resolve slot numbers at depth 64.
fn guard_data() -> CapData {
    CapData::guard(0, CNODE_GUARD_BITS).unwrap_or(CapData::NONE)
}

/// The table the kernel says is missing at `level`.
pub fn table_kind(level: u64) -> Option<ObjectKind> {
    match level {
        1 => Some(ObjectKind::PageDirectoryPointerTable),
        2 => Some(ObjectKind::PageDirectory),
        3 => Some(ObjectKind::PageTable),
        _ => None,
    }
}

/// The rights and attributes a page is mapped with in the process.
pub fn page_rights(page: &Page) -> (Rights, FrameAttributes) {
    let rights = if page.writable { Rights::READ | Rights::WRITE } else { Rights::READ };
    let attributes =
        if page.executable { FrameAttributes::EXECUTABLE } else { FrameAttributes::NONE };
    (rights, attributes)
}

/// The registers a process starts with: at `entry`, on the empty stack, with its IPC
/// buffer's address in `rdi` for `_start` to record.
pub const fn start_registers(entry: u64) -> UserRegisters {
    let mut registers = UserRegisters::start(entry, STACK_TOP);
    registers.rdi = IPC_BUFFER;
    registers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_collect_grants_in_order() {
        let options = SpawnOptions::new(7)
            .grant(CPtr(40), Rights::READ)
            .grant_badged(CPtr(41), Rights::WRITE, 3)
            .fault_endpoint(CPtr(9))
            .memory_bits(21);
        assert_eq!(options.granted(), 2);
        assert_eq!(
            options.grants[1],
            Some(Grant { cap: CPtr(41), rights: Rights::WRITE, badge: Some(3) })
        );
        assert_eq!((options.priority, options.memory_bits, options.start), (7, 21, true));
        assert_eq!(options.fault_endpoint, Some(CPtr(9)));
        assert!(!options.stopped().start);
        let mut many = SpawnOptions::new(1);
        for index in 0..=MAX_GRANTED as u64 {
            many = many.grant(CPtr(index), Rights::ALL);
        }
        assert!(many.too_many);
        assert_eq!(many.granted(), MAX_GRANTED);
    }

    #[test]
    fn pages_map_with_their_segment_rights() {
        let page = |writable, executable| Page {
            vaddr: 0,
            writable,
            executable,
            contents: Contents::Zero,
        };
        assert_eq!(page_rights(&page(false, true)), (Rights::READ, FrameAttributes::EXECUTABLE));
        assert_eq!(
            page_rights(&page(true, false)),
            (Rights::READ | Rights::WRITE, FrameAttributes::NONE)
        );
        assert_eq!(page_rights(&page(false, false)), (Rights::READ, FrameAttributes::NONE));
    }

    #[test]
    fn tables_by_level_and_start_registers() {
        assert_eq!(table_kind(1), Some(ObjectKind::PageDirectoryPointerTable));
        assert_eq!(table_kind(3), Some(ObjectKind::PageTable));
        assert_eq!(table_kind(4), None);
        let registers = start_registers(0x20_1000);
        assert_eq!(
            (registers.rip, registers.rsp, registers.rdi),
            (0x20_1000, STACK_TOP, IPC_BUFFER)
        );
        assert_eq!(registers.rsp % 16, 0);
        assert_eq!(guard_data().word(), u64::from(CNODE_GUARD_BITS));
    }

    #[test]
    fn the_scratch_area_holds_the_largest_module() {
        assert_eq!(DEFAULT_SCRATCH % (2 << 20), 0);
        const { assert!(DEFAULT_SCRATCH + MODULE_WINDOW_OFFSET + MAX_MODULE_BYTES <= STACK_BOTTOM) };
    }
}
