//! CNode slots in physical memory: the kernel's [`SlotStore`].
//!
//! A slot is 64 bytes at a 64-byte-aligned physical address, which is also its identity:
//! four words of capability, two of derivation-tree links, two reserved
//! (`kernel_core::cap::encoding`). The kernel writes only valid encodings, so a slot that
//! fails to decode means kernel memory was corrupted: that stops the kernel.

use crate::arch;
use core::cell::Cell;
use kernel_core::cap::encoding::{
    CAPABILITY_WORDS, LINKS_OFFSET, SLOT_WORDS, decode_capability, decode_fields, decode_links,
    encode_capability, encode_links,
};
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::peek::{self, CapabilityWords};
use kernel_core::cap::{Capability, MdbNode, SlotStore};

/// Every CNode slot, wherever it lives.
#[derive(Debug, Default)]
pub struct Slots;

#[inline(always)]
fn words(slot: u64) -> &'static [Cell<u64>; SLOT_WORDS] {
    arch::object_words(slot)
}

impl Slots {
    /// The capability words of `slot` as they are, for `kernel_core::cap::peek`'s readers.
    #[inline(always)]
    pub fn capability_words(slot: u64) -> CapabilityWords {
        let words = words(slot);
        core::array::from_fn(|index| words[index].get())
    }

    /// Puts `cap` into the empty `slot` as a capability that stands alone in the
    /// derivation tree: an original with no parent, copies or children, as a reply
    /// capability always is (it cannot be copied or derived from).
    pub fn put_standalone(slot: u64, cap: &Capability) {
        debug_assert!(Slots.cap(slot).is_null(), "slot {slot:#x} is occupied");
        Self::write_standalone(words(slot), encode_capability(cap));
    }

    /// [`put_standalone`](Self::put_standalone) for a slot whose words the caller holds
    /// (a TCB's own slots), with the capability already encoded.
    #[inline(always)]
    pub fn write_standalone(slot: &[Cell<u64>; SLOT_WORDS], capability: CapabilityWords) {
        let links = encode_links(&MdbNode::original());
        for (cell, word) in slot[..CAPABILITY_WORDS].iter().zip(capability) {
            cell.set(word);
        }
        for (cell, word) in slot[LINKS_OFFSET..LINKS_OFFSET + 2].iter().zip(links) {
            cell.set(word);
        }
    }

    /// Empties `slot`, which [`put_standalone`](Self::put_standalone) filled: deleting
    /// such a capability is just clearing its words.
    pub fn clear_standalone(slot: u64) {
        debug_assert!(Slots.mdb(slot) == MdbNode::original(), "slot {slot:#x} is not standalone");
        Self::erase_standalone(words(slot));
    }

    /// [`clear_standalone`](Self::clear_standalone) for a slot whose words the caller
    /// holds.
    #[inline(always)]
    pub fn erase_standalone(slot: &[Cell<u64>; SLOT_WORDS]) {
        for cell in &slot[..LINKS_OFFSET + 2] {
            cell.set(0);
        }
    }
}

impl SlotStore for Slots {
    type Slot = u64;

    fn cap(&self, slot: u64) -> Capability {
        let words = words(slot);
        let raw = core::array::from_fn(|index| words[index].get());
        // The full check re-encodes the capability to catch stray bits; debug builds pay
        // for it on every read, release builds check the fields only.
        let decode = if cfg!(debug_assertions) { decode_capability } else { decode_fields };
        decode(raw).unwrap_or_else(|error| panic!("slot {slot:#x} is corrupt: {error:?}"))
    }

    /// The tag alone: what the release decode reads of an empty slot, without the full
    /// decode's reading of the rest, or its checks of an occupied slot's fields.
    fn is_empty(&self, slot: u64) -> bool {
        peek::is_null(&Self::capability_words(slot))
    }

    fn set_cap(&mut self, slot: u64, cap: Capability) {
        let words = words(slot);
        for (cell, word) in words[..CAPABILITY_WORDS].iter().zip(encode_capability(&cap)) {
            cell.set(word);
        }
    }

    fn mdb(&self, slot: u64) -> MdbNode<u64> {
        let words = words(slot);
        let raw = [words[LINKS_OFFSET].get(), words[LINKS_OFFSET + 1].get()];
        decode_links(raw)
            .unwrap_or_else(|error| panic!("slot {slot:#x} links are corrupt: {error:?}"))
    }

    fn set_mdb(&mut self, slot: u64, node: MdbNode<u64>) {
        let words = words(slot);
        for (cell, word) in words[LINKS_OFFSET..LINKS_OFFSET + 2].iter().zip(encode_links(&node)) {
            cell.set(word);
        }
    }

    fn cnode_slot(&self, cnode: &Capability, index: u64) -> u64 {
        match cnode {
            Capability::CNode { object, .. } => object + (index << SLOT_SIZE_BITS),
            other => panic!("cnode_slot on {other:?}"),
        }
    }
}
