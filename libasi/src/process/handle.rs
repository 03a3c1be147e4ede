//! A spawned process as its parent holds it, and its end: [`Process::destroy`].

use syscall_abi::boot_info::SlotRange;

use super::layout::granted;
use crate::Error;
use crate::cap::{CNode, Cap, Slot, SlotAllocator, SlotRef, Tcb, Untyped, VSpace};

/// A spawned process, as its parent holds it: capabilities (in the parent's root CNode)
/// to its thread, address space, CNode and the untyped region everything came from, and
/// the run of the parent's slots its capabilities sit in ([`slots`](Self::slots), which
/// starts with `memory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub tcb: Cap<Tcb>,
    pub vspace: Cap<VSpace>,
    pub cnode: Cap<CNode>,
    /// Its CNode has 2^`cnode_radix` slots.
    pub cnode_radix: u8,
    pub memory: Cap<Untyped>,
    pub entry: u64,
    pub slots: SlotRange,
}

const ROOT: Cap<CNode> = Cap::<CNode>::ROOT;

impl Process {
    /// Runs a process spawned [`stopped`](super::SpawnOptions::stopped).
    pub fn start(&self) -> Result<(), Error> {
        self.tcb.resume()
    }

    /// Moves the `index`th capability handed over (one [granted
    /// moved](super::SpawnOptions::grant_moved)) back to the caller's root slot `dest`.
    pub fn give_back(&self, index: usize, dest: u64) -> Result<(), Error> {
        let source = SlotRef::new(self.cnode, granted(index).0, self.cnode_radix);
        ROOT.move_cap(Slot::root(dest), source)
    }

    /// Ends the process and everything it had: its thread stops, every capability in its
    /// CNode goes (grants, IRQ handlers, I/O ports, its own objects), every capability
    /// the spawner made for it goes, its memory region is revoked (which destroys every
    /// object made from it) and deleted, and `slots` gets the parent's slots back. `slots`
    /// must be the allocator the spawner took them from. On an error the slots stay taken,
    /// since some may still hold a capability.
    pub fn destroy(&self, slots: &mut SlotAllocator) -> Result<(), Error> {
        // A running thread could make objects between the steps below.
        self.tcb.suspend()?;
        // Revoking the region destroys the CNode, and the kernel gives everything in it
        // (grants, I/O ports, IRQ handlers) the clean-up its own deletion would.
        teardown(self.slots, slots)
    }
}

/// Deletes what the slots `range` hold, the region in its first slot last, and frees the
/// range: what a destroyed or half-built process leaves.
pub(super) fn teardown(range: SlotRange, slots: &mut SlotAllocator) -> Result<(), Error> {
    // Newest first, while the address space is alive: the copies of module frames are
    // not made from the region, so revoking it would not unmap them; a frame's mapping
    // goes with its capability.
    for slot in (range.start + 1..range.end).rev() {
        ROOT.delete(Slot::root(slot))?;
    }
    let memory = Slot::root(range.start);
    ROOT.revoke(memory)?;
    ROOT.delete(memory)?;
    slots.free_range(range.start, range.len() as usize);
    Ok(())
}
