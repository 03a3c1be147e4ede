//! What happens when the last capability to an object goes: the object is destroyed
//! before its memory can be reused.
//!
//! CNodes and TCBs hold capabilities, which are linked into derivation trees running
//! through other slots, so those must be deleted before the memory can become anything
//! else; a TCB must also leave the scheduler. Deleting them can reach further CNodes and
//! TCBs whose last capability lives inside, nested arbitrarily deep. The walk below
//! therefore keeps no stack: when it descends into a nested container it records, in the
//! reserved words of that container's first slot, where it came from, and climbs back by
//! reading them. Every other capability the walk deletes gets what any deletion gets
//! ([`after_delete`]): its mapping undone and, if it was the last, its object finalised.

use super::ipc;
use super::slots::Slots;
use super::tcb::Tcb;
use super::vspace;
use crate::arch::{self, PhysAddr};
use crate::sched;
use kernel_core::cap::encoding::{RESERVED_OFFSET, SLOT_WORDS};
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::ops::{DeleteOutcome, delete};
use kernel_core::cap::{Capability, SlotStore, is_final};

/// An object that holds capability slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    CNode { base: u64, radix_bits: u8 },
    Tcb(Tcb),
}

/// TCBs have five slots.
const TCB_SLOTS: u64 = 5;
const LOW_BITS: u64 = (1 << SLOT_SIZE_BITS) - 1;

impl Container {
    fn of(cap: &Capability) -> Option<Self> {
        match *cap {
            Capability::CNode { object, radix_bits, .. } => {
                Some(Self::CNode { base: object, radix_bits })
            }
            Capability::Tcb { object } => Some(Self::Tcb(Tcb::at(object))),
            _ => None,
        }
    }

    fn slots(self) -> u64 {
        match self {
            Self::CNode { radix_bits, .. } => 1 << radix_bits,
            Self::Tcb(_) => TCB_SLOTS,
        }
    }

    fn slot(self, index: u64) -> u64 {
        match self {
            Self::CNode { base, .. } => base + (index << SLOT_SIZE_BITS),
            Self::Tcb(tcb) => {
                tcb.all_slots().nth(index as usize).unwrap_or_else(|| panic!("TCB slot {index}"))
            }
        }
    }

    fn first_occupied(self, from: u64) -> Option<u64> {
        (from..self.slots()).find(|&index| !Slots.is_empty(self.slot(index)))
    }

    /// One word naming the container: its (64-byte-aligned) address, with the low bits
    /// saying which kind: 0 for a TCB, 1 + radix for a CNode.
    fn pack(self) -> u64 {
        match self {
            Self::CNode { base, radix_bits } => base | (u64::from(radix_bits) + 1),
            Self::Tcb(tcb) => tcb.address(),
        }
    }

    fn unpack(word: u64) -> Self {
        match word & LOW_BITS {
            0 => Self::Tcb(Tcb::at(word)),
            kind => Self::CNode { base: word & !LOW_BITS, radix_bits: (kind - 1) as u8 },
        }
    }

    fn back_pointer(self) -> &'static [core::cell::Cell<u64>] {
        let words = arch::object_words::<SLOT_WORDS>(self.slot(0));
        &words[RESERVED_OFFSET..RESERVED_OFFSET + 2]
    }

    /// Records, while the walk is inside this container, where it came from.
    fn record_parent(self, parent: Container, index: u64) {
        let words = self.back_pointer();
        words[0].set(parent.pack());
        words[1].set(index);
    }

    fn take_parent(self) -> (Container, u64) {
        let words = self.back_pointer();
        let parent = (Container::unpack(words[0].get()), words[1].get());
        words[0].set(0);
        words[1].set(0);
        parent
    }
}

/// Deletes the capability in `slot` and does what its going entails: undoes its mapping,
/// and destroys its object if it was the last capability to it.
pub fn delete_slot(slot: u64) {
    after_delete(delete(&mut Slots, slot));
}

/// What follows every deletion: the capability's mapping is undone, and the last
/// capability to an object destroys it.
pub fn after_delete(outcome: DeleteOutcome) {
    if let DeleteOutcome::Deleted { cap, is_final } = outcome {
        undo_mapping(&cap, is_final);
        if is_final {
            match Container::of(&cap) {
                Some(container) => {
                    retire(container);
                    empty(container);
                }
                None => finalise(&cap),
            }
        }
    }
}

/// A frame capability's mapping is its own and goes with it; a page table's is shared by
/// its copies and goes with the last.
fn undo_mapping(cap: &Capability, is_final: bool) {
    match cap {
        Capability::Frame { .. } => vspace::unmap(cap),
        Capability::PageTable { .. } if is_final => vspace::unmap(cap),
        _ => {}
    }
}

/// Ends an object that holds no capabilities: threads waiting on an endpoint wake with an
/// error; a caller whose reply capability goes stops expecting it to be answered.
fn finalise(cap: &Capability) {
    match *cap {
        Capability::Endpoint { object, .. } => ipc::cancel_all(object),
        Capability::Notification { object, .. } => super::notification::finalise(object),
        Capability::Reply { tcb, .. } => Tcb::at(tcb).set_reply_slot(0),
        Capability::VSpace { object, asid } => {
            // The CPU may still be in it (a thread revoking its own memory): leave first.
            arch::leave_address_space(PhysAddr::new(object));
            if let Some(asid) = asid {
                super::asid::release(asid, object);
            }
        }
        Capability::IrqHandler { irq } => super::irq::release(irq),
        Capability::IoPort { first, last } => super::io_port::release(first, last),
        _ => {}
    }
}

/// What a container must stop doing before its slots go: a TCB stops waiting and leaves
/// the scheduler.
fn retire(container: Container) {
    if let Container::Tcb(tcb) = container {
        ipc::cancel(tcb);
        super::notification::unbind(tcb);
        sched::forget(tcb);
    }
}

fn empty(root: Container) {
    let mut current = root;
    let mut cursor = 0;
    loop {
        let Some(index) = current.first_occupied(cursor) else {
            if current == root {
                return;
            }
            let (parent, parent_index) = current.take_parent();
            // The emptied (and retired) container's last capability: deleting it now is
            // final and needs no further work.
            let _ = delete(&mut Slots, parent.slot(parent_index));
            current = parent;
            cursor = parent_index + 1;
            continue;
        };
        let slot = current.slot(index);
        let cap = Slots.cap(slot);
        if let Some(nested) = Container::of(&cap)
            && is_final(&Slots, slot, &cap)
        {
            retire(nested);
            if nested.first_occupied(0).is_some() {
                nested.record_parent(current, index);
                current = nested;
                cursor = 0;
                continue;
            }
        }
        if let DeleteOutcome::Deleted { cap, is_final } = delete(&mut Slots, slot) {
            undo_mapping(&cap, is_final);
            match Container::of(&cap) {
                // Retired above, and empty: the walk, not recursion, destroys containers.
                Some(nested) => debug_assert!(!is_final || nested.first_occupied(0).is_none()),
                None if is_final => finalise(&cap),
                None => {}
            }
        }
        cursor = index + 1;
    }
}
