//! Per-CPU kernel state, behind one accessor: [`this_cpu`].

use crate::arch;
use crate::thread::ThreadId;
use core::sync::atomic::{AtomicUsize, Ordering};

const NO_THREAD: usize = usize::MAX;

/// What one CPU is doing.
#[derive(Debug)]
pub struct Cpu {
    current: AtomicUsize,
    /// The thread whose FPU/SIMD registers are loaded on this CPU.
    fpu_owner: AtomicUsize,
}

impl Cpu {
    /// The thread this CPU runs, if any.
    pub fn current_thread(&self) -> Option<ThreadId> {
        match self.current.load(Ordering::Relaxed) {
            NO_THREAD => None,
            index => Some(ThreadId(index)),
        }
    }

    pub fn set_current_thread(&self, thread: Option<ThreadId>) {
        self.current.store(thread.map_or(NO_THREAD, |id| id.0), Ordering::Relaxed);
    }

    /// The thread whose FPU registers this CPU holds, if any.
    pub fn fpu_owner(&self) -> Option<ThreadId> {
        match self.fpu_owner.load(Ordering::Relaxed) {
            NO_THREAD => None,
            index => Some(ThreadId(index)),
        }
    }

    pub fn set_fpu_owner(&self, thread: Option<ThreadId>) {
        self.fpu_owner.store(thread.map_or(NO_THREAD, |id| id.0), Ordering::Relaxed);
    }
}

static CPUS: [Cpu; arch::MAX_CPUS] = [const {
    Cpu { current: AtomicUsize::new(NO_THREAD), fpu_owner: AtomicUsize::new(NO_THREAD) }
}; arch::MAX_CPUS];

/// The state of the CPU this code runs on.
pub fn this_cpu() -> &'static Cpu {
    &CPUS[arch::cpu_index()]
}
