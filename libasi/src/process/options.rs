//! How to start one process: [`SpawnOptions`], built up call by call.

use super::layout::{CNODE_RADIX, MAX_GRANTED};
use crate::cap::{CPtr, Rights};

/// Default size of the untyped region a process is built from: 1 MiB.
pub const DEFAULT_MEMORY_BITS: u8 = 20;

/// What goes into one granted slot of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Grant {
    /// A copy of the caller's `cap` with `rights` (minted with `badge` if there is one).
    Copy { cap: CPtr, rights: Rights, badge: Option<u64> },
    /// An untyped region of 2^`bits` bytes carved from the process's own memory: it goes
    /// when the process is destroyed.
    Memory { bits: u8 },
    /// The caller's `cap` itself, moved.
    Move { cap: CPtr },
    /// Nothing: the slot stays empty.
    Empty,
}

/// How to start one process: its priority, fault endpoint, memory, and the capabilities
/// it gets ([`layout`](super::layout) says in which slots).
///
/// ```ignore
/// let options = SpawnOptions::new(100)
///     .grant(endpoint.cptr(), Rights::READ)                        // granted(0)
///     .grant_badged(console.cptr(), Rights::WRITE, 2)              // granted(1)
///     .grant_memory(16);                                           // granted(2)
/// let process = spawner.spawn(module, &options)?;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnOptions {
    pub(super) priority: u8,
    pub(super) max_priority: u8,
    pub(super) fault_endpoint: Option<CPtr>,
    pub(super) memory_bits: u8,
    pub(super) cnode_radix: u8,
    pub(super) start: bool,
    pub(super) grants: [Option<Grant>; MAX_GRANTED],
    grant_count: usize,
    pub(super) too_many: bool,
}

impl SpawnOptions {
    /// A process at `priority` (at most the spawner's authority's maximum controlled
    /// priority) that may give none higher than 0, no fault endpoint,
    /// [`DEFAULT_MEMORY_BITS`] of memory, started at once.
    pub const fn new(priority: u8) -> Self {
        Self {
            priority,
            max_priority: 0,
            fault_endpoint: None,
            memory_bits: DEFAULT_MEMORY_BITS,
            cnode_radix: CNODE_RADIX,
            start: true,
            grants: [None; MAX_GRANTED],
            grant_count: 0,
            too_many: false,
        }
    }

    /// The thread may set priorities up to `priority` (its maximum controlled priority,
    /// bounded like the priority by the spawner's authority).
    #[must_use]
    pub const fn max_priority(mut self, priority: u8) -> Self {
        self.max_priority = priority;
        self
    }

    /// Faults go to `endpoint` (a pointer in the caller's CSpace), copied into the
    /// process's [`FAULT_ENDPOINT`](super::layout::slot::FAULT_ENDPOINT) slot with the
    /// write right only.
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

    /// Gives the process a CNode of 2^`radix` slots instead of 2^[`CNODE_RADIX`]: for a
    /// server that keeps many capabilities (memsrv). Its guard still makes a capability
    /// pointer the slot number; the process must know its radix to know its slot count.
    #[must_use]
    pub const fn cnode_radix(mut self, radix: u8) -> Self {
        self.cnode_radix = radix;
        self
    }

    /// Leaves the thread stopped; [`Process::start`](super::Process::start) runs it.
    #[must_use]
    pub const fn stopped(mut self) -> Self {
        self.start = false;
        self
    }

    /// Hands over a copy of `cap` with `rights` in the next granted slot.
    #[must_use]
    pub const fn grant(self, cap: CPtr, rights: Rights) -> Self {
        self.push(Grant::Copy { cap, rights, badge: None })
    }

    /// Hands over a copy of the endpoint or notification `cap` with `rights` and `badge`
    /// in the next granted slot.
    #[must_use]
    pub const fn grant_badged(self, cap: CPtr, rights: Rights, badge: u64) -> Self {
        self.push(Grant::Copy { cap, rights, badge: Some(badge) })
    }

    /// Hands over, in the next granted slot, an untyped region of 2^`bits` bytes carved
    /// from the process's own memory ([`memory_bits`](Self::memory_bits) must leave room
    /// for it and the image), for the process to make objects of its own from.
    #[must_use]
    pub const fn grant_memory(self, bits: u8) -> Self {
        self.push(Grant::Memory { bits })
    }

    /// Moves the caller's `cap` into the next granted slot: for a capability the caller
    /// should not hold while the process does. The caller has it no more; [`Process::give_back`] moves it back, and
    /// it goes with the process if it is not given back before
    /// [`Process::destroy`](super::Process::destroy).
    ///
    /// [`Process::give_back`]: super::Process::give_back
    #[must_use]
    pub const fn grant_moved(self, cap: CPtr) -> Self {
        self.push(Grant::Move { cap })
    }

    /// Leaves the next granted slot empty: for a layout in which a capability not every
    /// process gets keeps its slot.
    #[must_use]
    pub const fn skip_grant(self) -> Self {
        self.push(Grant::Empty)
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

    /// How many of them are memory carved for the process.
    pub(super) fn memory_grants(&self) -> usize {
        self.grants.iter().flatten().filter(|grant| matches!(grant, Grant::Memory { .. })).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_collect_grants_in_order() {
        let options = SpawnOptions::new(7)
            .grant(CPtr(40), Rights::READ)
            .grant_badged(CPtr(41), Rights::WRITE, 3)
            .grant_memory(16)
            .grant_moved(CPtr(2))
            .fault_endpoint(CPtr(9))
            .memory_bits(21)
            .max_priority(6);
        assert_eq!(options.granted(), 4);
        assert_eq!(
            options.grants[1],
            Some(Grant::Copy { cap: CPtr(41), rights: Rights::WRITE, badge: Some(3) })
        );
        assert_eq!(options.grants[2], Some(Grant::Memory { bits: 16 }));
        assert_eq!(options.grants[3], Some(Grant::Move { cap: CPtr(2) }));
        assert_eq!(options.memory_grants(), 1);
        assert_eq!((options.priority, options.memory_bits, options.start), (7, 21, true));
        assert_eq!((options.max_priority, SpawnOptions::new(7).max_priority), (6, 0));
        assert_eq!(options.fault_endpoint, Some(CPtr(9)));
        assert!(!options.stopped().start);
        let skipping = SpawnOptions::new(1).skip_grant().grant(CPtr(40), Rights::READ);
        assert_eq!(skipping.grants[0], Some(Grant::Empty));
        assert_eq!(
            skipping.grants[1],
            Some(Grant::Copy { cap: CPtr(40), rights: Rights::READ, badge: None })
        );
        assert_eq!((skipping.granted(), skipping.memory_grants()), (2, 0));
        let mut many = SpawnOptions::new(1);
        for index in 0..=MAX_GRANTED as u64 {
            many = many.grant(CPtr(index), Rights::ALL);
        }
        assert!(many.too_many);
        assert_eq!(many.granted(), MAX_GRANTED);
        assert_eq!(many.memory_grants(), 0);
    }
}
