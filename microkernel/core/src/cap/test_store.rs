//! An in-memory [`SlotStore`] for tests: slots are addressed by fake physical addresses,
//! so CNode slot `i` of a CNode at `object` is `object + 64 * i`, as in the kernel.

use std::collections::BTreeMap;

use super::capability::Capability;
use super::mdb::{MdbNode, SlotStore};
use super::object::SLOT_SIZE_BITS;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestStore {
    slots: BTreeMap<u64, (Capability, MdbNode<u64>)>,
}

impl TestStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The non-empty slots and their contents, for comparing before and after.
    pub fn snapshot(&self) -> Vec<(u64, Capability, MdbNode<u64>)> {
        self.slots
            .iter()
            .filter(|(_, (cap, node))| !cap.is_null() || *node != MdbNode::empty())
            .map(|(&slot, &(cap, node))| (slot, cap, node))
            .collect()
    }

    /// Slots holding a capability, in address order.
    pub fn occupied(&self) -> Vec<u64> {
        self.snapshot().into_iter().filter(|(_, cap, _)| !cap.is_null()).map(|(s, ..)| s).collect()
    }

    /// Checks that the lists are well formed: links are mutual, only occupied slots are
    /// linked, and there are no cycles. Returns the lists, each from its head.
    pub fn lists(&self) -> Vec<Vec<u64>> {
        let mut lists = Vec::new();
        for (slot, cap, node) in self.snapshot() {
            assert!(!cap.is_null(), "empty slot {slot:#x} has links {node:?}");
            if let Some(next) = node.next {
                assert_eq!(
                    self.mdb(next).prev,
                    Some(slot),
                    "next of {slot:#x} does not point back"
                );
            }
            if let Some(prev) = node.prev {
                assert_eq!(
                    self.mdb(prev).next,
                    Some(slot),
                    "prev of {slot:#x} does not point back"
                );
            } else {
                let mut list = vec![slot];
                while let Some(next) = self.mdb(*list.last().unwrap()).next {
                    assert!(!list.contains(&next), "cycle through {next:#x}");
                    list.push(next);
                }
                lists.push(list);
            }
        }
        let linked: usize = lists.iter().map(Vec::len).sum();
        assert_eq!(linked, self.occupied().len(), "a slot is in no list");
        lists
    }
}

impl SlotStore for TestStore {
    type Slot = u64;

    fn cap(&self, slot: u64) -> Capability {
        self.slots.get(&slot).map_or(Capability::Null, |entry| entry.0)
    }

    fn set_cap(&mut self, slot: u64, cap: Capability) {
        self.slots.entry(slot).or_insert((Capability::Null, MdbNode::empty())).0 = cap;
    }

    fn mdb(&self, slot: u64) -> MdbNode<u64> {
        self.slots.get(&slot).map_or(MdbNode::empty(), |entry| entry.1)
    }

    fn set_mdb(&mut self, slot: u64, node: MdbNode<u64>) {
        self.slots.entry(slot).or_insert((Capability::Null, MdbNode::empty())).1 = node;
    }

    fn cnode_slot(&self, cnode: &Capability, index: u64) -> u64 {
        let Capability::CNode { object, radix_bits, .. } = *cnode else {
            panic!("cnode_slot of {cnode:?}");
        };
        assert!(index < 1 << radix_bits, "index {index} outside {cnode:?}");
        object + (index << SLOT_SIZE_BITS)
    }
}
