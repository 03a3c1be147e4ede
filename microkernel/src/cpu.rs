//! Per-CPU kernel state, behind one accessor: [`this_cpu`].

use crate::arch;
use crate::object::tcb::Tcb;
use crate::sched::RunQueues;
use core::sync::atomic::{AtomicU64, Ordering};

const NONE: u64 = 0;

/// What one CPU is doing. Each CPU's lives in its arch-level block, one `gs`-relative
/// load away ([`this_cpu`]).
pub struct Cpu {
    /// The TCB running on this CPU (0: none).
    current: AtomicU64,
    /// The threads ready to run on this CPU.
    pub(crate) run_queue: RunQueues,
}

impl core::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cpu").field("current", &self.current).finish_non_exhaustive()
    }
}

fn tcb(address: u64) -> Option<Tcb> {
    (address != NONE).then(|| Tcb::at(address))
}

impl Cpu {
    pub const fn new() -> Self {
        Self { current: AtomicU64::new(NONE), run_queue: RunQueues::new() }
    }

    /// The thread this CPU runs, if any.
    pub fn current_thread(&self) -> Option<Tcb> {
        tcb(self.current.load(Ordering::Relaxed))
    }

    pub fn set_current_thread(&self, thread: Option<Tcb>) {
        self.current.store(thread.map_or(NONE, Tcb::address), Ordering::Relaxed);
    }
}

/// The state of the CPU this code runs on.
#[inline(always)]
pub fn this_cpu() -> &'static Cpu {
    arch::kernel_cpu_state()
}
