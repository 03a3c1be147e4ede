//! What happens when the last capability to an object goes: the object is destroyed
//! before its memory can be reused.
//!
//! Only CNodes need work today: the capabilities inside a CNode are linked into derivation
//! trees that run through other slots, so they must be deleted before the CNode's memory
//! can become anything else. Deleting them can reach further CNodes whose last capability
//! lives inside, nested arbitrarily deep. The walk below therefore keeps no stack: when it
//! descends into a nested CNode it records, in that CNode's own reserved words, where it
//! came from, and climbs back by reading them. (Endpoints, notifications, TCBs and mappings
//! gain destruction work as those objects become live.)

use super::slots::Slots;
use crate::arch::{self, PhysAddr};
use kernel_core::cap::encoding::{RESERVED_OFFSET, SLOT_WORDS};
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::ops::{DeleteOutcome, delete};
use kernel_core::cap::{Capability, SlotStore, is_final};

/// A CNode being emptied: its base address and slot count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CNodeMemory {
    base: u64,
    slots: u64,
}

impl CNodeMemory {
    fn of(cap: &Capability) -> Option<Self> {
        match *cap {
            Capability::CNode { object, radix_bits, .. } => {
                Some(Self { base: object, slots: 1 << radix_bits })
            }
            _ => None,
        }
    }

    fn slot(&self, index: u64) -> u64 {
        self.base + (index << SLOT_SIZE_BITS)
    }

    fn first_occupied(&self, from: u64) -> Option<u64> {
        (from..self.slots).find(|&index| Slots.cap(self.slot(index)) != Capability::Null)
    }

    /// Where the walk came from, kept in the reserved words of this CNode's slot 0 while
    /// the walk is inside it: the parent CNode's base, and the parent slot's index.
    fn record_parent(&self, parent: CNodeMemory, index: u64) {
        let words = arch::object_words(PhysAddr::new(self.slot(0)), SLOT_WORDS);
        words[RESERVED_OFFSET].set(parent.base | parent.slots.trailing_zeros() as u64);
        words[RESERVED_OFFSET + 1].set(index);
    }

    fn take_parent(&self) -> (CNodeMemory, u64) {
        let words = arch::object_words(PhysAddr::new(self.slot(0)), SLOT_WORDS);
        let (packed, index) = (words[RESERVED_OFFSET].get(), words[RESERVED_OFFSET + 1].get());
        words[RESERVED_OFFSET].set(0);
        words[RESERVED_OFFSET + 1].set(0);
        let radix = packed & ((1 << SLOT_SIZE_BITS) - 1);
        (CNodeMemory { base: packed & !((1 << SLOT_SIZE_BITS) - 1), slots: 1 << radix }, index)
    }
}

/// Destroys the object of `cap`, whose last capability was just deleted.
pub fn destroy(cap: &Capability) {
    if let Some(cnode) = CNodeMemory::of(cap) {
        empty_cnode(cnode);
    }
}

fn empty_cnode(root: CNodeMemory) {
    let mut current = root;
    let mut cursor = 0;
    loop {
        let Some(index) = current.first_occupied(cursor) else {
            if current == root {
                return;
            }
            let (parent, parent_index) = current.take_parent();
            // The emptied CNode's last capability: deleting it now is final and needs no
            // further walk.
            let _ = delete(&mut Slots, parent.slot(parent_index));
            current = parent;
            cursor = parent_index + 1;
            continue;
        };
        let slot = current.slot(index);
        let cap = Slots.cap(slot);
        if let Some(nested) = CNodeMemory::of(&cap)
            && is_final(&Slots, slot)
            && nested.first_occupied(0).is_some()
        {
            nested.record_parent(current, index);
            current = nested;
            cursor = 0;
            continue;
        }
        if let DeleteOutcome::Deleted { cap, is_final: true } = delete(&mut Slots, slot) {
            debug_assert!(
                CNodeMemory::of(&cap).is_none_or(|cnode| cnode.first_occupied(0).is_none())
            );
        }
        cursor = index + 1;
    }
}
