//! The buddy tree mirrored in capabilities: which of memsrv's slots holds which node's
//! untyped half or which allocation.
//!
//! memsrv must make a block the allocator chose at exactly that address, but the kernel
//! places objects after an untyped region's watermark. So memsrv splits untyped
//! capabilities along the buddy tree and makes a block's capability from the untyped of
//! its own node, which then has no other children, so it lands at the node's base.
//!
//! Node 1 is a whole pageblock, nodes `2i` and `2i + 1` are the halves of node `i`. A
//! node's *half* is an untyped capability covering exactly the node; a *leaf* is what
//! memsrv made from a node's untyped (a frame, a frame region, an object) and handed to
//! a client. Every record sits in the slot its capability occupies, so a handle (slot
//! plus generation) finds it in O(1); an index from (pageblock, node, half or leaf) to
//! the slot finds the capability of a node. Halves outlive the leaves below them (a cache:
//! the next allocation nearby needs no split); [`Records::clear_below`] and
//! [`Records::prune_unused`] decide which go, and memsrv deletes their capabilities.

use heapless::index_map::FnvIndexMap;

use crate::Sensitivity;
use crate::block::{Block, FRAME_SHIFT, PAGEBLOCK_ORDER, PAGEBLOCK_SIZE};

/// Bits of a slot number: memsrv's CNode has 2^12 slots.
pub const SLOT_BITS: u32 = 12;
/// Slots of memsrv's CNode, hence the most records.
pub const SLOTS: usize = 1 << SLOT_BITS;

/// Names a leaf: its slot, and above it the generation, so that a handle of a freed leaf
/// never names a newer one in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle(pub u64);

/// What memsrv made from a node and handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    /// One frame of the node's size.
    Frame,
    /// An untyped region of the node's size that the client retypes into frames.
    Frames,
    /// A kernel object.
    Object,
}

/// An allocation: who holds it and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The client number of the holder.
    pub owner: u16,
    pub kind: LeafKind,
    /// The order of the block it occupies.
    pub order: u8,
    /// The sensitivity of its pageblock, which cannot flip while it is allocated.
    pub sensitivity: Sensitivity,
    /// A 4 KiB frame its holder freed and memsrv keeps for it (`memsrv_api::kept`): not
    /// in use, so it cannot be freed again.
    pub kept: bool,
}

/// A node of a pageblock: the pageblock's index in memsrv's table and the node number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub pageblock: u16,
    pub node: u16,
}

impl Node {
    /// The node of `block`, whose pageblock is memsrv's pageblock `pageblock`.
    pub fn of(pageblock: u16, block: Block) -> Self {
        let level = u32::from(PAGEBLOCK_ORDER - block.order);
        let offset = block.addr % PAGEBLOCK_SIZE;
        let node = (1 << level) + (offset >> (FRAME_SHIFT + u32::from(block.order)));
        Self { pageblock, node: node as u16 }
    }

    /// The whole pageblock.
    pub const fn is_root(self) -> bool {
        self.node == 1
    }

    pub const fn parent(self) -> Self {
        Self { pageblock: self.pageblock, node: self.node / 2 }
    }

    pub const fn buddy(self) -> Self {
        Self { pageblock: self.pageblock, node: self.node ^ 1 }
    }

    /// The left one of this node's children.
    pub const fn left_child(self) -> Self {
        Self { pageblock: self.pageblock, node: self.node * 2 }
    }

    /// The left one of this node and its buddy.
    pub const fn left(self) -> Self {
        Self { pageblock: self.pageblock, node: self.node & !1 }
    }

    /// log2 of the node's size in bytes.
    pub const fn size_bits(self) -> u8 {
        let level = (u16::BITS - 1 - self.node.leading_zeros()) as u8;
        FRAME_SHIFT as u8 + PAGEBLOCK_ORDER - level
    }

    /// The order of a block the size of this node.
    pub const fn order(self) -> u8 {
        self.size_bits() - FRAME_SHIFT as u8
    }

    /// The block this node is, in the pageblock at `base`.
    pub const fn block(self, base: u64) -> Block {
        let order = self.order();
        let level = PAGEBLOCK_ORDER - order;
        let offset = ((self.node as u64) - (1 << level)) << (FRAME_SHIFT + order as u32);
        Block { addr: base + offset, order }
    }

    fn key(self, leaf: bool) -> u32 {
        (u32::from(self.pageblock) << 12) | (u32::from(self.node) << 1) | u32::from(leaf)
    }
}

#[derive(Clone, Copy, Debug)]
struct Record {
    node: Node,
    /// `None` for a half.
    leaf: Option<Leaf>,
    generation: u64,
}

/// Every half and leaf memsrv holds, by slot.
#[derive(Debug)]
pub struct Records {
    by_slot: [Option<Record>; SLOTS],
    by_node: FnvIndexMap<u32, u16, SLOTS>,
    /// Bumped for every leaf, so that a freed leaf's handle never names a newer one (52
    /// bits of it fit in a handle: wrapping would take 2^52 allocations).
    generation: u64,
}

impl Records {
    pub const EMPTY: Self =
        Self { by_slot: [None; SLOTS], by_node: FnvIndexMap::new(), generation: 0 };

    /// Records that `slot` holds the half of `node`.
    pub fn insert_half(&mut self, slot: u64, node: Node) {
        self.insert(slot, Record { node, leaf: None, generation: 0 });
    }

    /// Records that `slot` holds `leaf`, made from `node`; its handle.
    pub fn insert_leaf(&mut self, slot: u64, node: Node, leaf: Leaf) -> Handle {
        self.generation = (self.generation + 1) & (u64::MAX >> SLOT_BITS);
        let generation = self.generation;
        self.insert(slot, Record { node, leaf: Some(leaf), generation });
        Handle((generation << SLOT_BITS) | slot)
    }

    fn insert(&mut self, slot: u64, record: Record) {
        if let Some(entry) = self.by_slot.get_mut(slot as usize) {
            *entry = Some(record);
            // Cannot fail: there are as many index entries as slots.
            let _ = self.by_node.insert(record.node.key(record.leaf.is_some()), slot as u16);
        }
    }

    /// The slot, node and leaf `handle` names, if it is a live leaf.
    pub fn leaf(&self, handle: Handle) -> Option<(u64, Node, Leaf)> {
        let slot = handle.0 & ((1 << SLOT_BITS) - 1);
        let record = (*self.by_slot.get(slot as usize)?)?;
        let leaf = record.leaf?;
        ((record.generation << SLOT_BITS) | slot == handle.0).then_some((slot, record.node, leaf))
    }

    /// The slot and leaf `handle` names, if it is a live leaf, to change in place (mark
    /// it kept for its holder, or in use again).
    #[inline]
    pub fn leaf_mut(&mut self, handle: Handle) -> Option<(u64, &mut Leaf)> {
        let slot = handle.0 & ((1 << SLOT_BITS) - 1);
        let record = self.by_slot.get_mut(slot as usize)?.as_mut()?;
        let current = (record.generation << SLOT_BITS) | slot == handle.0;
        record.leaf.as_mut().filter(|_| current).map(|leaf| (slot, leaf))
    }

    /// The handle and leaf in `slot`, if it holds one, to change in place.
    #[inline]
    pub fn leaf_at_mut(&mut self, slot: u64) -> Option<(Handle, &mut Leaf)> {
        let record = self.by_slot.get_mut(slot as usize)?.as_mut()?;
        let handle = Handle((record.generation << SLOT_BITS) | slot);
        record.leaf.as_mut().map(|leaf| (handle, leaf))
    }

    /// The node and leaf in `slot`, if it holds a leaf.
    pub fn leaf_at(&self, slot: u64) -> Option<(Node, Leaf)> {
        let record = (*self.by_slot.get(slot as usize)?)?;
        Some((record.node, record.leaf?))
    }

    /// The slot of `node`'s half, if it has one.
    pub fn half(&self, node: Node) -> Option<u64> {
        self.by_node.get(&node.key(false)).map(|&slot| u64::from(slot))
    }

    /// Whether a leaf was made from `node` itself.
    pub fn has_leaf(&self, node: Node) -> bool {
        self.by_node.contains_key(&node.key(true))
    }

    /// Whether `node` is in use: it is a leaf or split into halves.
    pub fn in_use(&self, node: Node) -> bool {
        self.by_node.contains_key(&node.key(true))
            || self.by_node.contains_key(&node.left_child().key(false))
    }

    /// Forgets what `slot` holds.
    pub fn remove(&mut self, slot: u64) {
        if let Some(record) = self.by_slot.get_mut(slot as usize).and_then(Option::take) {
            self.by_node.swap_remove(&record.node.key(record.leaf.is_some()));
        }
    }

    /// Deletes the halves cached below `node`, which holds no leaf (its block is being
    /// handed out whole, or its pageblock flips), so that its untyped has no children:
    /// each half's record goes, and `delete` gets its slot (children before parents).
    pub fn clear_below(&mut self, node: Node, delete: &mut impl FnMut(u64)) {
        if node.order() == 0 {
            return;
        }
        let left = node.left_child();
        if self.half(left).is_none() {
            return;
        }
        for half in [left, left.buddy()] {
            self.clear_below(half, delete);
            self.delete_half(half, delete);
        }
    }

    /// Deletes the cached halves below `node` in every subtree that holds no leaf, as
    /// [`clear_below`](Self::clear_below) does; whether the subtree of `node` holds one.
    pub fn prune_unused(&mut self, node: Node, delete: &mut impl FnMut(u64)) -> bool {
        if self.has_leaf(node) {
            return true;
        }
        let left = node.left_child();
        if node.order() == 0 || self.half(left).is_none() {
            return false;
        }
        let used = [left, left.buddy()].map(|half| self.prune_unused(half, delete));
        if used == [false, false] {
            self.delete_half(left, delete);
            self.delete_half(left.buddy(), delete);
        }
        used.contains(&true)
    }

    fn delete_half(&mut self, half: Node, delete: &mut impl FnMut(u64)) {
        if let Some(slot) = self.half(half) {
            self.remove(slot);
            delete(slot);
        }
    }

    /// Whether it holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    #[test]
    fn nodes_and_blocks_correspond() {
        let base = 0x40_0000;
        for order in 0..=PAGEBLOCK_ORDER {
            for index in 0..(1u64 << (PAGEBLOCK_ORDER - order)) {
                let block =
                    Block { addr: base + (index << (FRAME_SHIFT + u32::from(order))), order };
                let node = Node::of(3, block);
                assert_eq!(node.pageblock, 3);
                assert_eq!(node.block(base), block);
                assert_eq!(node.order(), order);
                assert_eq!(u32::from(node.size_bits()), FRAME_SHIFT + u32::from(order));
                if !node.is_root() {
                    assert_eq!(node.parent().order(), order + 1);
                    assert_eq!(node.buddy().buddy(), node);
                    assert_eq!(node.left().node % 2, 0);
                }
            }
        }
        assert!(Node::of(0, Block { addr: base, order: PAGEBLOCK_ORDER }).is_root());
    }

    /// Records of every half from `node` down to order `down_to`, in fresh slots from
    /// `next`, as memsrv makes them: in pairs.
    fn split(records: &mut Records, node: Node, down_to: u8, next: &mut u64) {
        if node.order() <= down_to {
            return;
        }
        let left = node.left_child();
        for half in [left, left.buddy()] {
            records.insert_half(*next, half);
            *next += 1;
        }
        for half in [left, left.buddy()] {
            split(records, half, down_to, next);
        }
    }

    #[test]
    fn clearing_below_a_node_deletes_its_halves_children_first() {
        let mut records = Box::new(Records::EMPTY);
        let root = Node { pageblock: 0, node: 1 };
        let mut next = 100;
        split(&mut records, root, 6, &mut next);
        let made = next - 100;
        assert_eq!(made, 2 + 4 + 8, "orders 8, 7 and 6");
        let mut deleted = Vec::new();
        let left = root.left_child();
        records.clear_below(left, &mut |slot| deleted.push(slot));
        // Below the left half: its 2 halves and their 4; the left half itself stays.
        assert_eq!(deleted.len(), 6);
        assert!(records.half(left).is_some() && records.half(left.left_child()).is_none());
        for slot in &deleted {
            assert!(records.leaf_at(*slot).is_none());
        }
        // A child's slot is deleted before its parent's.
        let position = |slot| deleted.iter().position(|&deleted| deleted == slot).unwrap();
        assert!(position(104) < position(102), "{deleted:?}");
        deleted.clear();
        records.clear_below(root, &mut |slot| deleted.push(slot));
        assert_eq!(deleted.len(), made as usize - 6);
        assert!(records.is_empty());
    }

    #[test]
    fn pruning_keeps_exactly_the_halves_above_leaves() {
        let mut records = Box::new(Records::EMPTY);
        let root = Node { pageblock: 3, node: 1 };
        let mut next = 0;
        split(&mut records, root, 0, &mut next);
        assert_eq!(next, 1022, "a pageblock split down to 4 KiB");
        // One 4 KiB leaf, made from the last order-0 half.
        let leaf = Node { pageblock: 3, node: 1023 };
        records.insert_leaf(
            next,
            leaf,
            Leaf {
                owner: 1,
                kind: LeafKind::Frame,
                order: 0,
                sensitivity: Sensitivity::Sensitive,
                kept: false,
            },
        );
        let mut deleted = 0;
        assert!(records.prune_unused(root, &mut |_| deleted += 1));
        // What stays is the leaf's path: one pair of halves per order, 9 pairs.
        assert_eq!(1022 - deleted, 18);
        let mut node = leaf;
        while !node.is_root() {
            assert!(records.half(node).is_some() && records.half(node.buddy()).is_some());
            node = node.parent();
        }
        records.remove(next);
        deleted = 0;
        assert!(!records.prune_unused(root, &mut |_| deleted += 1));
        assert_eq!(deleted, 18);
        assert!(records.is_empty());
    }

    #[test]
    fn handles_name_live_leaves_only() {
        let mut records = Box::new(Records::EMPTY);
        let node = Node { pageblock: 2, node: 5 };
        let leaf = Leaf {
            owner: 7,
            kind: LeafKind::Frame,
            order: 7,
            sensitivity: Sensitivity::Nonsensitive,
            kept: false,
        };
        // Halves come in pairs.
        records.insert_half(39, node.left());
        records.insert_half(40, node);
        let handle = records.insert_leaf(41, node, leaf);
        assert_eq!(records.leaf(handle), Some((41, node, leaf)));
        assert_eq!(records.leaf(Handle(40)), None, "a half is no allocation");
        assert_eq!(records.half(node), Some(40));
        assert!(records.in_use(node));
        assert!(records.in_use(node.parent()), "its parent is split");
        assert!(records.has_leaf(node) && !records.has_leaf(node.parent()));
        assert_eq!(records.leaf_at(41), Some((node, leaf)));
        assert_eq!(records.leaf_at_mut(41).map(|(handle, _)| handle), Some(handle));
        assert!(records.leaf_at_mut(40).is_none() && records.leaf_mut(Handle(40)).is_none());
        let (slot, found) = records.leaf_mut(handle).unwrap();
        assert_eq!(slot, 41);
        found.kept = true;
        assert_eq!(records.leaf(handle), Some((41, node, Leaf { kept: true, ..leaf })));
        records.leaf_at_mut(41).unwrap().1.kept = false;
        assert_eq!(records.leaf(handle), Some((41, node, leaf)));
        assert!(records.leaf_mut(Handle(handle.0 + (1 << SLOT_BITS))).is_none(), "stale");
        assert_eq!(records.leaf_at(40), None);
        assert_eq!(records.leaf_at(u64::MAX), None);
        records.remove(41);
        assert_eq!(records.leaf(handle), None);
        let again = records.insert_leaf(41, node, leaf);
        assert_ne!(again, handle);
        assert_eq!(records.leaf(handle), None, "a stale handle names nothing");
        assert_eq!(records.leaf(Handle(u64::MAX)), None);
        records.remove(41);
        assert!(!records.in_use(node));
        records.remove(40);
        records.remove(39);
        assert!(!records.in_use(node.parent()));
        assert!(records.is_empty());
    }
}
