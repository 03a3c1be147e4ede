//! The kernel's per-CPU event counters, always on, read through the ASI control
//! capability ([`Invocation::AsiControlCounters`](crate::invocation::Invocation)). They
//! say what instruction counts under an emulator cannot: how often the kernel was entered,
//! switched address spaces and flushed.

/// One counter, as its index in the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Kernel entries by `syscall`.
    SyscallEntries = 0,
    /// Kernel entries by an interrupt from user mode (timer, devices).
    InterruptEntries = 1,
    /// Kernel entries by an exception in user mode (faults, the lazy-FPU trap).
    ExceptionEntries = 2,
    /// CR3 writes: switches between address spaces, and between a restricted table and its
    /// unrestricted twin (each ASI exit and re-entry is one).
    Cr3Writes = 3,
    /// Indirect branch prediction barriers issued.
    Ibpb = 4,
    /// L1 data cache flushes, by MSR or in software.
    L1dFlushes = 5,
    /// CPU buffer clears (`VERW`).
    Verws = 6,
    /// Pageblocks whose sensitivity changed.
    Flips = 7,
    /// 4 KiB pages the kernel zeroed because they became nonsensitive.
    PagesZeroed = 8,
    /// TLB shootdowns: translations flushed because memory became sensitive (on this CPU;
    /// other CPUs too once SMP comes).
    TlbShootdowns = 9,
    /// ASI exits: kernel page faults on sensitive memory in the physical window, after
    /// which the kernel runs on the unrestricted tables.
    AsiExits = 10,
    /// Returns to the restricted tables after an ASI exit (with the exit flushes).
    AsiEntries = 11,
}

/// How many counters there are.
pub const COUNT: usize = 12;

impl Counter {
    pub const ALL: [Self; COUNT] = [
        Self::SyscallEntries,
        Self::InterruptEntries,
        Self::ExceptionEntries,
        Self::Cr3Writes,
        Self::Ibpb,
        Self::L1dFlushes,
        Self::Verws,
        Self::Flips,
        Self::PagesZeroed,
        Self::TlbShootdowns,
        Self::AsiExits,
        Self::AsiEntries,
    ];

    /// The counter's name in logs and benchmark tables.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SyscallEntries => "syscall_entries",
            Self::InterruptEntries => "interrupt_entries",
            Self::ExceptionEntries => "exception_entries",
            Self::Cr3Writes => "cr3_writes",
            Self::Ibpb => "ibpb",
            Self::L1dFlushes => "l1d_flushes",
            Self::Verws => "verw",
            Self::Flips => "flips",
            Self::PagesZeroed => "pages_zeroed",
            Self::TlbShootdowns => "tlb_shootdowns",
            Self::AsiExits => "asi_exits",
            Self::AsiEntries => "asi_entries",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_its_index_and_a_name() {
        for (index, counter) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(counter as usize, index);
            assert!(!counter.name().is_empty());
        }
    }
}
