//! Per-CPU kernel state, behind one accessor: [`this_cpu`].

use crate::arch;
use crate::object::tcb::Tcb;
use core::sync::atomic::{AtomicU64, Ordering};

const NONE: u64 = 0;

/// What one CPU is doing.
#[derive(Debug)]
pub struct Cpu {
    /// The TCB running on this CPU (0: none).
    current: AtomicU64,
}

fn tcb(address: u64) -> Option<Tcb> {
    (address != NONE).then(|| Tcb::at(address))
}

impl Cpu {
    /// The thread this CPU runs, if any.
    pub fn current_thread(&self) -> Option<Tcb> {
        tcb(self.current.load(Ordering::Relaxed))
    }

    pub fn set_current_thread(&self, thread: Option<Tcb>) {
        self.current.store(thread.map_or(NONE, Tcb::address), Ordering::Relaxed);
    }
}

static CPUS: [Cpu; arch::MAX_CPUS] =
    [const { Cpu { current: AtomicU64::new(NONE) } }; arch::MAX_CPUS];

/// The state of the CPU this code runs on.
pub fn this_cpu() -> &'static Cpu {
    &CPUS[arch::cpu_index()]
}
