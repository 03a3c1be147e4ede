//! What the runner holds: the pool case processes are built from, its slots, and the
//! endpoint they and their faults reach it on. It starts one process per case, destroys
//! it afterwards, and checks that the destruction gave back every slot and the whole pool.

use core::fmt;

use case_protocol::{MEMORY_BITS, badge};
use case_report::{Failure, Outcome};
use libasi::boot::{BootInfo, ModuleDescriptor};
use libasi::cap::{
    AsiControl, CNodeAt, Cap, CapData, Endpoint, IoPortControl, IrqControl, ObjectKind, Rights,
    Sensitivity, Slot, SlotAllocator, SlotRef, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::process::{Process, SpawnError, SpawnOptions, Spawner};
use syscall_abi::counters::Counter;

use crate::conversation::{Heard, Listener};

/// Case processes run at the root task's priority and may give it, as the root task
/// could when the cases ran in it.
const PRIORITY: u8 = 255;
/// Each process's memory: its image, stack and tables, and the granted region.
const PROCESS_BITS: u8 = MEMORY_BITS + 1;

/// Why the runner cannot go on.
#[derive(Debug)]
pub enum RunnerError {
    Kernel(&'static str, libasi::Error),
    Spawn(SpawnError),
    NoMemory,
    NoSlots,
    /// A process that ran no case left something behind.
    Leak(&'static str),
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(what, error) => write!(f, "{what}: {error}"),
            Self::Spawn(error) => write!(f, "cannot start a case process: {error}"),
            Self::NoMemory => f.write_str("the boot information lists too little untyped RAM"),
            Self::NoSlots => f.write_str("no free slots left"),
            Self::Leak(leak) => f.write_str(leak),
        }
    }
}

trait Context<T> {
    fn context(self, what: &'static str) -> Result<T, RunnerError>;
}

impl<T> Context<T> for Result<T, libasi::Error> {
    fn context(self, what: &'static str) -> Result<T, RunnerError> {
        self.map_err(|error| RunnerError::Kernel(what, error))
    }
}

#[derive(Debug)]
pub struct Runner {
    slots: SlotAllocator,
    /// The largest RAM region: case processes are made from it and nothing else, so it
    /// has no children between cases.
    pool: Cap<Untyped>,
    pool_bits: u8,
    listener: Listener,
    /// The endpoint, badged for each process's calls, and for its faults.
    calls: Cap<Endpoint>,
    faults: Cap<Endpoint>,
}

/// The control capabilities a program's processes get besides their endpoint and memory,
/// as the runner's boot arguments say.
#[derive(Clone, Copy, Debug, Default)]
pub struct Grants {
    /// The I/O port and IRQ control capabilities (`devices=<program>`).
    pub devices: bool,
    /// The ASI control capability (`asi-control=<program>`).
    pub asi: bool,
}

/// A 2 MiB pageblock, the unit of sensitivity, in bits.
const PAGEBLOCK_BITS: u8 = 21;

impl Runner {
    /// Makes the endpoint from a RAM region other than the pool: a pageblock carved from
    /// the next largest region and made nonsensitive (kernel objects need that; boot
    /// leaves whole pageblocks sensitive), as is the pool.
    pub fn new(info: &BootInfo) -> Result<Self, RunnerError> {
        let mut slots = SlotAllocator::new(info.empty);
        let (pool, pool_bits) = libasi::boot::largest_ram(info).ok_or(RunnerError::NoMemory)?;
        let (own_index, _) = info
            .untyped()
            .iter()
            .enumerate()
            .filter(|&(index, untyped)| {
                let slot = info.untyped_slots.start + index as u64;
                !untyped.device && slot != pool.cptr().0 && untyped.size_bits >= PAGEBLOCK_BITS
            })
            .max_by_key(|(_, untyped)| untyped.size_bits)
            .ok_or(RunnerError::NoMemory)?;
        let own = Cap::<Untyped>::from_slot(info.untyped_slots.start + own_index as u64);
        let first = slots.alloc_range(4).ok_or(RunnerError::NoSlots)?;
        own.retype(ObjectKind::Untyped, PAGEBLOCK_BITS, CNodeAt::ROOT, first, 1)
            .context("carve the runner's pageblock")?;
        let block = Cap::<Untyped>::from_slot(first);
        for region in [pool, block] {
            Cap::<AsiControl>::BOOT
                .set_sensitivity(region, Sensitivity::Nonsensitive)
                .context("make memory nonsensitive")?;
        }
        block
            .retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, first + 1, 1)
            .context("retype the runner's endpoint")?;
        let endpoint = Cap::<Endpoint>::from_slot(first + 1);
        for (slot, badge) in [(first + 2, badge::CASE), (first + 3, badge::FAULT)] {
            Cap::ROOT
                .mint(
                    Slot::root(slot),
                    SlotRef::root(first + 1),
                    Rights::WRITE,
                    CapData::badge(badge),
                )
                .context("mint a badged endpoint")?;
        }
        let buffer = IpcBuffer::root().context("the runner's IPC buffer")?;
        Ok(Self {
            slots,
            pool,
            pool_bits,
            listener: Listener { endpoint, buffer },
            calls: Cap::from_slot(first + 2),
            faults: Cap::from_slot(first + 3),
        })
    }

    /// Runs case `index` of `module` in a fresh process (with the control capabilities
    /// `grants` names), destroys the process and checks it left nothing behind: a leak
    /// fails the case.
    pub fn run(
        &mut self,
        module: &ModuleDescriptor,
        index: u16,
        grants: Grants,
    ) -> Result<Heard, RunnerError> {
        let free = self.slots.available();
        let pool_was_whole = self.pool_is_whole()?;
        let process = self.spawn(module, grants, true)?;
        let heard = self.listener.converse(module.name(), index);
        let destroyed = self.end(&process);
        let heard = heard.context("listen to a case process")?;
        let left = destroyed.and_then(|()| self.left_behind(free, pool_was_whole));
        Ok(match (heard, left) {
            (Heard::NoSuchCase, Ok(None)) => Heard::NoSuchCase,
            (Heard::NoSuchCase, Ok(Some(leak))) => return Err(RunnerError::Leak(leak)),
            (Heard::Case(name, outcome), Ok(None)) => Heard::Case(name, outcome),
            (Heard::Case(name, outcome), Ok(Some(leak))) => {
                Heard::Case(name, outcome.and(Err(Failure::new(format_args!("{leak}")))))
            }
            (_, Err(error)) => return Err(error),
        })
    }

    /// Spawns `module` stopped and destroys it again, `times` times, checking each time
    /// that it left nothing behind.
    pub fn respawn(
        &mut self,
        module: &ModuleDescriptor,
        times: u32,
        grants: Grants,
    ) -> Result<Outcome, RunnerError> {
        let free = self.slots.available();
        if !self.pool_is_whole()? {
            return Ok(Err(Failure::new(format_args!(
                "the pool has children before the first spawn"
            ))));
        }
        for time in 1..=times {
            let process = self.spawn(module, grants, false)?;
            self.end(&process)?;
            if let Some(leak) = self.left_behind(free, true)? {
                return Ok(Err(Failure::new(format_args!(
                    "spawn and destroy number {time}: {leak}"
                ))));
            }
        }
        Ok(Ok(()))
    }

    /// Spawns `module`; if `start`, it runs at once and calls the runner.
    fn spawn(
        &mut self,
        module: &ModuleDescriptor,
        grants: Grants,
        start: bool,
    ) -> Result<Process, RunnerError> {
        let mut options = SpawnOptions::new(PRIORITY)
            .max_priority(PRIORITY)
            .memory_bits(PROCESS_BITS)
            .fault_endpoint(self.faults.cptr())
            .grant(self.calls.cptr(), Rights::WRITE)
            .grant_memory(MEMORY_BITS);
        if !start {
            options = options.stopped();
        }
        // In `case_protocol::grants` order: the device slots stay empty without devices
        // when the ASI control capability comes after them.
        if grants.devices {
            options = options
                .grant(Cap::<IoPortControl>::BOOT.cptr(), Rights::ALL)
                .grant(Cap::<IrqControl>::BOOT.cptr(), Rights::ALL);
        } else if grants.asi {
            options = options.skip_grant().skip_grant();
        }
        if grants.asi {
            options = options.grant(Cap::<AsiControl>::BOOT.cptr(), Rights::ALL);
        }
        Spawner::new(self.pool, &mut self.slots).spawn(module, &options).map_err(RunnerError::Spawn)
    }

    /// Destroys `process`, with everything in its CNode (what it issued from the device
    /// control capabilities too).
    fn end(&mut self, process: &Process) -> Result<(), RunnerError> {
        process.destroy(&mut self.slots).context("destroy a case process")
    }

    /// What a destroyed process left behind, if anything: slots still taken (against the
    /// `free` count before it), a pool that is no longer whole, or pageblocks of the pool
    /// left sensitive (a process granted the ASI control capability can make its own
    /// memory sensitive, and destroying it does not change that back; they are made
    /// nonsensitive again here, so that the next process's kernel objects can come from
    /// them).
    fn left_behind(
        &mut self,
        free: usize,
        pool_was_whole: bool,
    ) -> Result<Option<&'static str>, RunnerError> {
        if self.slots.available() != free {
            return Ok(Some("destroying the case's process did not give back every slot"));
        }
        if pool_was_whole && !self.pool_is_whole()? {
            return Ok(Some("destroying the case's process left objects in the pool"));
        }
        if pool_was_whole && self.restore_pool()? > 0 {
            return Ok(Some("the case's process left pageblocks of the pool sensitive"));
        }
        Ok(None)
    }

    /// Makes the whole pool nonsensitive (it has no children); returns how many of its
    /// pageblocks were not, as the kernel counted the flips.
    fn restore_pool(&mut self) -> Result<u64, RunnerError> {
        let asi = Cap::<AsiControl>::BOOT;
        let buffer = self.listener.buffer;
        let before = asi.counters(buffer, 0).context("read the event counters")?;
        asi.set_sensitivity(self.pool, Sensitivity::Nonsensitive)
            .context("make the pool nonsensitive again")?;
        let after = asi.counters(buffer, 0).context("read the event counters")?;
        Ok(after.since(&before).get(Counter::Flips))
    }

    /// Whether the pool has no children: then a region of its whole size can be carved
    /// (and is deleted again at once).
    fn pool_is_whole(&mut self) -> Result<bool, RunnerError> {
        let probe = self.slots.alloc().ok_or(RunnerError::NoSlots)?;
        let carved = self.pool.retype(ObjectKind::Untyped, self.pool_bits, CNodeAt::ROOT, probe, 1);
        let deleted = Cap::ROOT.delete(Slot::root(probe)).context("delete the pool probe");
        self.slots.free(probe);
        deleted?;
        match carved {
            Ok(()) => Ok(true),
            Err(libasi::Error::NotEnoughMemory) => Ok(false),
            Err(error) => Err(RunnerError::Kernel("probe the pool", error)),
        }
    }
}
