//! User threads, as the foundation kernel knows them: a name, saved registers, an address
//! space, and boot arguments. (Capability-based TCBs replace this table later.)

use crate::arch::{AddressSpace, FpuState, PhysAddr, UserContext};
use kernel_core::cap::Capability;
use spin::{Mutex, MutexGuard};

/// The most threads the kernel runs at once.
pub const MAX_THREADS: usize = 16;
/// The longest thread name kept.
pub const MAX_NAME: usize = 32;
/// The longest boot-argument string kept.
pub const MAX_BOOT_ARGS: usize = 128;

/// A thread's slot in the thread table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadId(pub usize);

/// Whether a thread can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Runnable,
    /// Stopped by the kernel after a fault it could not deliver.
    Stopped,
}

#[derive(Debug)]
pub struct Thread {
    pub name: heapless::String<MAX_NAME>,
    pub boot_args: heapless::String<MAX_BOOT_ARGS>,
    pub state: ThreadState,
    pub context: UserContext,
    /// FPU/SIMD registers while another thread's are loaded on the CPU.
    pub fpu: FpuState,
    pub address_space: AddressSpace,
    /// The root of the thread's CSpace, where its capability pointers are resolved.
    pub cspace_root: Capability,
    /// The frame of the thread's IPC buffer, if it has one.
    pub ipc_buffer: Option<PhysAddr>,
    /// The encoded boot information, for the root task.
    pub boot_info: Option<&'static [u8]>,
}

/// Every thread, by [`ThreadId`].
#[derive(Debug)]
pub struct ThreadTable {
    slots: [Option<Thread>; MAX_THREADS],
}

/// The table has no free slot.
#[derive(Debug)]
pub struct TooManyThreads;

impl ThreadTable {
    pub fn add(&mut self, thread: Thread) -> Result<ThreadId, TooManyThreads> {
        let index = self.slots.iter().position(Option::is_none).ok_or(TooManyThreads)?;
        self.slots[index] = Some(thread);
        Ok(ThreadId(index))
    }

    pub fn get_mut(&mut self, id: ThreadId) -> Option<&mut Thread> {
        self.slots.get_mut(id.0)?.as_mut()
    }

    /// Ends a thread and frees its slot, giving the thread back to the caller.
    pub fn remove(&mut self, id: ThreadId) -> Option<Thread> {
        self.slots.get_mut(id.0)?.take()
    }

    /// The first runnable thread after `after` in slot order, wrapping around (and
    /// considering `after` itself last).
    pub fn next_runnable(&self, after: Option<ThreadId>) -> Option<ThreadId> {
        let start = after.map_or(0, |id| id.0 + 1);
        (0..MAX_THREADS)
            .map(|offset| (start + offset) % MAX_THREADS)
            .find(
                |&index| matches!(&self.slots[index], Some(t) if t.state == ThreadState::Runnable),
            )
            .map(ThreadId)
    }
}

static THREADS: Mutex<ThreadTable> =
    Mutex::new(ThreadTable { slots: [const { None }; MAX_THREADS] });

/// Locks the thread table. The kernel runs with interrupts off, so the lock is held only
/// against other CPUs.
pub fn threads() -> MutexGuard<'static, ThreadTable> {
    THREADS.lock()
}
