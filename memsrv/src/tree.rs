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
//! the slot finds the capability of a node.

use heapless::index_map::FnvIndexMap;

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

    /// Whether it holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;

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

    #[test]
    fn handles_name_live_leaves_only() {
        let mut records = Box::new(Records::EMPTY);
        let node = Node { pageblock: 2, node: 5 };
        let leaf = Leaf { owner: 7, kind: LeafKind::Frame, order: 7 };
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
