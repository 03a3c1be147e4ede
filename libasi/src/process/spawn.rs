//! The spawner: builds a process from a boot module's frames and untyped memory.

use core::fmt;

use kernel_core::elf::{ElfError, Executable};
use syscall_abi::boot_info::{ModuleDescriptor, SlotRange};

use super::budget::{self, SlotBlock};
use super::handle::{Process, teardown};
use super::layout::{
    self, IPC_BUFFER, MAX_GRANTED, PAGE_SIZE, STACK_BOTTOM, STACK_PAGES, STACK_TOP, slot,
};
use super::options::{Grant, SpawnOptions};
use super::plan::{self, Contents, Page};
use crate::Error;
use crate::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, Frame, FrameAttributes, ObjectKind, PageTable, Rights,
    Slot, SlotAllocator, SlotRef, Tcb, TcbConfig, Untyped, UserRegisters, VSpace,
};
use crate::mem::{FrameRun, Mapping, MemError, TableLevel, TableSource};

/// Where the spawner maps things in the caller's own address space while it works, unless
/// told otherwise ([`Spawner::scratch_at`]): one page to fill fresh frames through, then,
/// from [`MODULE_WINDOW_OFFSET`] on, the boot module's frames (read-only) to read the
/// executable. Nothing stays mapped there between spawns.
pub const DEFAULT_SCRATCH: u64 = 0x0000_5000_0000_0000;
/// Where the module window starts, from the scratch base (a page table of its own).
pub const MODULE_WINDOW_OFFSET: u64 = 0x20_0000;
/// The largest boot module the spawner reads: 64 MiB.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;

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
    /// A mapping in the scratch area failed at `step` (a scratch address the window
    /// reserves, or a module of no frames).
    Scratch { step: &'static str, error: MemError },
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
            Self::Scratch { step, error } => write!(f, "{step}: {error}"),
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

/// Starts processes from boot modules. It works in the caller's root CNode (the root
/// task's, guard 52 + radix 12, slots named by number) and address space, takes slots from
/// `slots` and memory from `pool`, an untyped region of RAM.
///
/// For each process it carves an untyped region from `pool` and makes from it: a VSpace
/// with the page tables it needs, the frames of the image's writable and partly-filled
/// pages (filled through a scratch mapping in the caller), the stack and IPC buffer frames
/// ([`layout`]), a CNode of 2^8 slots (or [`SpawnOptions::cnode_radix`]'s) laid out as
/// [`layout`] says, and a TCB. Read-only pages the module holds exactly map copies of the
/// module's own frame capabilities.
///
/// The process's capabilities in the caller sit in one run of slots, counted before the
/// first is taken ([`budget`](super::budget)); [`Process::destroy`] gives it back. The
/// page tables of the scratch area come from `pool` and go when the spawn ends, so once
/// every process made from `pool` is destroyed, `pool` has no children and its whole
/// space is free again. A spawn that fails takes down what it had built.
#[derive(Debug)]
pub struct Spawner<'s> {
    pool: Cap<Untyped>,
    slots: &'s mut SlotAllocator,
    authority: Cap<Tcb>,
    scratch: u64,
}

const ROOT: Cap<CNode> = Cap::<CNode>::ROOT;

impl<'s> Spawner<'s> {
    /// A spawner for the root task: its TCB as the priority authority. The scratch area is
    /// in the caller's own address space ([`Mapping::at`]).
    pub fn new(pool: Cap<Untyped>, slots: &'s mut SlotAllocator) -> Self {
        Self { pool, slots, authority: Cap::<Tcb>::ROOT_TCB, scratch: DEFAULT_SCRATCH }
    }

    /// Uses `address` (2 MiB aligned, with [`MAX_MODULE_BYTES`] + 2 MiB free above it,
    /// outside the 512 GiB of [`layout::MAP_WINDOW`]) as the scratch area.
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

    /// `count` consecutive slots of the caller, handed out one by one.
    fn block(&mut self, count: usize) -> Result<SlotBlock, SpawnError> {
        let start = self.slots.alloc_range(count).ok_or(SpawnError::NoSlots)?;
        Ok(SlotBlock::new(SlotRange { start, end: start + count as u64 }))
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
        let mut tables = self.block(budget::scratch_tables(frames))?;

        // Read the executable through the module's frames, mapped read-only.
        let process = FrameRun::new(Cap::from_slot(module.frames.start), frames as usize)
            .and_then(|run| {
                let mut source = ScratchTables { memory: self.pool, block: &mut tables };
                let window = self.scratch + MODULE_WINDOW_OFFSET;
                Mapping::at(window, run, Rights::READ, &mut source)
            })
            .map_err(scratch_error("map the module's frames"))
            .and_then(|module_pages| {
                // Boot-module frames are only ever given out read-only, so the bytes
                // do not change while they are read.
                let image = module_pages
                    .bytes()
                    .get(..module.size as usize)
                    .ok_or(SpawnError::ModuleSize)?;
                let executable = Executable::parse(image).map_err(SpawnError::Elf)?;
                // The module's pages are unmapped when `module_pages` drops, before their
                // tables are deleted below.
                self.build(&executable, image, module, options, &mut tables)
            });
        let cleared = delete_all(tables.used()).step("delete the scratch page tables");
        if cleared.is_ok() {
            let range = tables.range();
            self.slots.free_range(range.start, range.len() as usize);
        }
        let process = process?;
        match cleared {
            Ok(()) => Ok(process),
            Err(error) => {
                let _ = process.destroy(self.slots);
                Err(error)
            }
        }
    }

    /// Builds the process for `executable` in a run of slots of its own; on failure,
    /// takes down what it had built.
    fn build(
        &mut self,
        executable: &Executable,
        image: &[u8],
        module: &ModuleDescriptor,
        options: &SpawnOptions,
        scratch_tables: &mut SlotBlock,
    ) -> Result<Process, SpawnError> {
        let mut block = self.block(budget::process_slots(executable, options.memory_grants()))?;
        let built = self.build_in(&mut block, executable, image, module, options, scratch_tables);
        if built.is_err() {
            // Slots that may still hold something stay taken.
            let _ = teardown(block.used(), self.slots);
            let unused = SlotRange { start: block.used().end, end: block.range().end };
            self.slots.free_range(unused.start, unused.len() as usize);
        }
        built
    }

    fn build_in(
        &mut self,
        block: &mut SlotBlock,
        executable: &Executable,
        image: &[u8],
        module: &ModuleDescriptor,
        options: &SpawnOptions,
        scratch_tables: &mut SlotBlock,
    ) -> Result<Process, SpawnError> {
        let memory = retype(
            self.pool,
            ObjectKind::Untyped,
            options.memory_bits,
            1,
            block,
            "carve the process's memory",
        )?;
        let memory = Cap::<Untyped>::from_slot(memory);
        // Granted regions first: the largest objects, aligned at the region's start.
        let mut regions = [0; MAX_GRANTED];
        for (index, grant) in options.grants.iter().flatten().enumerate() {
            if let Grant::Memory { bits } = *grant {
                regions[index] =
                    retype(memory, ObjectKind::Untyped, bits, 1, block, "carve a granted region")?;
            }
        }
        let vspace = Cap::<VSpace>::from_slot(retype(
            memory,
            ObjectKind::VSpace,
            0,
            1,
            block,
            "retype a VSpace",
        )?);
        self.load(executable, image, module, vspace, memory, block, scratch_tables)?;

        let stack = retype(
            memory,
            ObjectKind::Frame4K,
            0,
            STACK_PAGES as usize,
            block,
            "retype the stack",
        )?;
        for page in 0..STACK_PAGES {
            map(
                Cap::from_slot(stack + page),
                vspace,
                STACK_BOTTOM + page * PAGE_SIZE,
                Rights::READ | Rights::WRITE,
                memory,
                block,
                "map the stack",
            )?;
        }
        let buffer = retype(memory, ObjectKind::Frame4K, 0, 1, block, "retype the IPC buffer")?;
        let rights = Rights::READ | Rights::WRITE;
        map(
            Cap::from_slot(buffer),
            vspace,
            IPC_BUFFER,
            rights,
            memory,
            block,
            "map the IPC buffer",
        )?;

        let cnode = Cap::<CNode>::from_slot(retype(
            memory,
            ObjectKind::CNode,
            options.cnode_radix,
            1,
            block,
            "retype the CNode",
        )?);
        let tcb =
            Cap::<Tcb>::from_slot(retype(memory, ObjectKind::Tcb, 0, 1, block, "retype the TCB")?);
        fill_cspace(cnode, vspace, tcb, options, &regions)?;

        let guard = guard_data(options.cnode_radix);
        let mut config = TcbConfig::new(cnode, vspace).ipc_buffer(IPC_BUFFER, CPtr(buffer));
        config.cspace_root_data = guard;
        if options.fault_endpoint.is_some() {
            config = config.fault_endpoint(CPtr(slot::FAULT_ENDPOINT));
        }
        tcb.configure(&config).step("configure the TCB")?;
        tcb.set_priority(self.authority, options.priority).step("set the priority")?;
        if options.max_priority != 0 {
            tcb.set_max_controlled_priority(self.authority, options.max_priority)
                .step("set the maximum controlled priority")?;
        }
        let entry = executable.entry;
        let cnode_radix = options.cnode_radix;
        let process =
            Process { tcb, vspace, cnode, cnode_radix, memory, entry, slots: block.range() };
        lend(&process, options)?;
        let started = tcb.write_registers(options.start, &start_registers(entry));
        if started.is_err() {
            take_back(&process, options);
        }
        started.step("write the registers")?;
        Ok(process)
    }

    /// Maps every page of `executable` into `vspace`.
    #[allow(clippy::too_many_arguments, reason = "where the pages come from and go")]
    fn load(
        &mut self,
        executable: &Executable,
        image: &[u8],
        module: &ModuleDescriptor,
        vspace: Cap<VSpace>,
        memory: Cap<Untyped>,
        block: &mut SlotBlock,
        scratch_tables: &mut SlotBlock,
    ) -> Result<(), SpawnError> {
        for page in plan::pages(executable) {
            let frame = match &page.contents {
                Contents::Module { frame } => {
                    let slot = block.take(1).ok_or(SpawnError::NoSlots)?;
                    let source = SlotRef::root(module.frames.start + frame);
                    ROOT.copy(Slot::root(slot), source, Rights::READ)
                        .step("copy a module frame")?;
                    Cap::<Frame>::from_slot(slot)
                }
                Contents::Zero => Cap::from_slot(retype(
                    memory,
                    ObjectKind::Frame4K,
                    0,
                    1,
                    block,
                    "retype a page",
                )?),
                Contents::Copy { file, offset } => {
                    let frame = Cap::from_slot(retype(
                        memory,
                        ObjectKind::Frame4K,
                        0,
                        1,
                        block,
                        "retype a page",
                    )?);
                    self.fill(frame, *offset, &image[file.clone()], scratch_tables)?;
                    frame
                }
            };
            let (rights, attributes) = page_rights(&page);
            map_with(frame, vspace, page.vaddr, rights, attributes, memory, block, "map a page")?;
        }
        Ok(())
    }

    /// Copies `bytes` to `offset` in the fresh (zeroed) `frame` through the scratch page.
    fn fill(
        &mut self,
        frame: Cap<Frame>,
        offset: usize,
        bytes: &[u8],
        tables: &mut SlotBlock,
    ) -> Result<(), SpawnError> {
        let mut source = ScratchTables { memory: self.pool, block: tables };
        let rights = Rights::READ | Rights::WRITE;
        let mut page = Mapping::at(self.scratch, frame, rights, &mut source)
            .map_err(scratch_error("map a page to fill it"))?;
        // The plan cuts file bytes at page boundaries, so this is inside the page; a plan
        // that did not would fail the spawn here rather than write past it.
        let target = page
            .bytes_mut()
            .map_err(scratch_error("fill a page"))?
            .get_mut(offset..offset + bytes.len())
            .ok_or(SpawnError::ModuleSize)?;
        target.copy_from_slice(bytes);
        page.unmap().map(drop).map_err(scratch_error("unmap a filled page"))
    }
}

/// The spawner's scratch page tables: made from `memory` into the next slots of `block`,
/// deleted when the spawn ends.
struct ScratchTables<'b> {
    memory: Cap<Untyped>,
    block: &'b mut SlotBlock,
}

impl TableSource for ScratchTables<'_> {
    fn table(&mut self, level: TableLevel) -> Result<Cap<PageTable>, MemError> {
        let slot = self.block.take(1).ok_or(MemError::NoSlots)?;
        self.memory.retype(level.object_kind(), 0, CNodeAt::ROOT, slot, 1)?;
        Ok(Cap::from_slot(slot))
    }
}

/// The spawn error for a scratch mapping that failed at `step`.
fn scratch_error(step: &'static str) -> impl Fn(MemError) -> SpawnError {
    move |error| match error {
        MemError::Kernel(error) => SpawnError::Kernel { step, error },
        MemError::NoSlots => SpawnError::NoSlots,
        error => SpawnError::Scratch { step, error },
    }
}

/// `count` objects of `kind` from `memory` in the next slots of `block`; the first slot.
fn retype(
    memory: Cap<Untyped>,
    kind: ObjectKind,
    size_bits: u8,
    count: usize,
    block: &mut SlotBlock,
    step: &'static str,
) -> Result<u64, SpawnError> {
    let first = block.take(count).ok_or(SpawnError::NoSlots)?;
    memory.retype(kind, size_bits, CNodeAt::ROOT, first, count as u64).step(step)?;
    Ok(first)
}

/// Maps `frame` (not executable) at `vaddr` in `vspace`; see [`map_with`].
fn map(
    frame: Cap<Frame>,
    vspace: Cap<VSpace>,
    vaddr: u64,
    rights: Rights,
    memory: Cap<Untyped>,
    tables: &mut SlotBlock,
    step: &'static str,
) -> Result<(), SpawnError> {
    map_with(frame, vspace, vaddr, rights, FrameAttributes::NONE, memory, tables, step)
}

/// Maps `frame` at `vaddr` in `vspace`, installing the page tables it misses (made from
/// `memory` into the next slots of `tables`), level by level as the kernel names them.
#[allow(clippy::too_many_arguments, reason = "one mapping's every parameter")]
fn map_with(
    frame: Cap<Frame>,
    vspace: Cap<VSpace>,
    vaddr: u64,
    rights: Rights,
    attributes: FrameAttributes,
    memory: Cap<Untyped>,
    tables: &mut SlotBlock,
    step: &'static str,
) -> Result<(), SpawnError> {
    loop {
        match frame.map(vspace, vaddr, rights, attributes) {
            Err(Error::MissingPageTable { level }) => {
                let kind = table_kind(level)
                    .ok_or(SpawnError::Kernel { step, error: Error::MissingPageTable { level } })?;
                let table = retype(memory, kind, 0, 1, tables, "retype a page table")?;
                Cap::<PageTable>::from_slot(table)
                    .map(vspace, vaddr)
                    .step("install a page table")?;
            }
            result => return result.step(step),
        }
    }
}

/// Deletes what `range` holds, newest first (a page table before the one it is mapped
/// in).
fn delete_all(range: SlotRange) -> Result<(), Error> {
    (range.start..range.end).rev().try_for_each(|slot| ROOT.delete(Slot::root(slot)))
}

/// Copies the process's own capabilities, its fault endpoint and its grants into `cnode`.
fn fill_cspace(
    cnode: Cap<CNode>,
    vspace: Cap<VSpace>,
    tcb: Cap<Tcb>,
    options: &SpawnOptions,
    regions: &[u64; MAX_GRANTED],
) -> Result<(), SpawnError> {
    let child = |index: u64| Slot::new(index, options.cnode_radix);
    let guard = guard_data(options.cnode_radix);
    cnode
        .mint(child(slot::CNODE), SlotRef::root(cnode.cptr().0), Rights::ALL, guard)
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
        match *grant {
            Grant::Copy { cap, rights, badge: Some(badge) } => {
                cnode.mint(dest, SlotRef::root(cap.0), rights, CapData::badge(badge))
            }
            Grant::Copy { cap, rights, badge: None } => {
                cnode.copy(dest, SlotRef::root(cap.0), rights)
            }
            // Moved, so that only the process holds it.
            Grant::Memory { .. } => cnode.move_cap(dest, SlotRef::root(regions[index])),
            // Moved last: see `lend`. An empty grant leaves its slot alone.
            Grant::Move { .. } | Grant::Empty => continue,
        }
        .step("hand over a capability")?;
    }
    Ok(())
}

/// Moves the caller's capabilities [granted moved](SpawnOptions::grant_moved) into the
/// process: the last step that can fail before it starts, so that a failed spawn can
/// still give them back.
fn lend(process: &Process, options: &SpawnOptions) -> Result<(), SpawnError> {
    for (index, grant) in options.grants.iter().flatten().enumerate() {
        if let Grant::Move { cap } = *grant {
            let dest = Slot::new(layout::granted(index).0, process.cnode_radix);
            if let Err(error) = process.cnode.move_cap(dest, SlotRef::root(cap.0)) {
                take_back(process, options);
                return Err(SpawnError::Kernel { step: "move a capability over", error });
            }
        }
    }
    Ok(())
}

/// Moves back what [`lend`] moved, as far as it got.
fn take_back(process: &Process, options: &SpawnOptions) {
    for (index, grant) in options.grants.iter().flatten().enumerate() {
        if let Grant::Move { cap } = *grant {
            let _ = process.give_back(index, cap.0);
        }
    }
}

/// The guard that makes a process's CNode of 2^`radix` slots resolve slot numbers at
/// depth 64.
fn guard_data(radix: u8) -> CapData {
    64u8.checked_sub(radix).and_then(|bits| CapData::guard(0, bits)).unwrap_or(CapData::NONE)
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
    use crate::process::layout::{CNODE_GUARD_BITS, CNODE_RADIX};

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
        assert_eq!(guard_data(CNODE_RADIX).word(), u64::from(CNODE_GUARD_BITS));
        assert_eq!(guard_data(12).word(), 52);
    }

    #[test]
    fn the_scratch_area_holds_the_largest_module() {
        assert_eq!(DEFAULT_SCRATCH % (2 << 20), 0);
        const { assert!(DEFAULT_SCRATCH + MODULE_WINDOW_OFFSET + MAX_MODULE_BYTES <= STACK_BOTTOM) };
    }
}
