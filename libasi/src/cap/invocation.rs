//! The messages of each invocation, packed in the word order
//! [`syscall_abi::invocation::Invocation`] documents. Pure functions, so the packing is
//! tested on the host; the wrappers on [`Cap`](super::Cap) send what these build.

use syscall_abi::invocation::{Invocation, ObjectKind};

use super::{CNodeAt, CapData, Rights, Slot, SlotRef};
use crate::message::Message;

/// `UntypedRetype`: object kind, size bits, destination CNode pointer, its depth, first
/// destination slot index, number of objects.
pub fn retype(kind: ObjectKind, size_bits: u8, dest: CNodeAt, first: u64, count: u64) -> Message {
    retype_raw(kind.code(), u64::from(size_bits), dest, first, count)
}

/// [`retype`] with the kind and size as raw words, so tests can send what the kernel must
/// refuse.
pub fn retype_raw(kind: u64, size_bits: u64, dest: CNodeAt, first: u64, count: u64) -> Message {
    Message::new(Invocation::UntypedRetype.label())
        .push(kind)
        .push(size_bits)
        .push(dest.cnode.cptr().0)
        .push(u64::from(dest.depth))
        .push(first)
        .push(count)
}

fn two_slot(invocation: Invocation, dest: Slot, src: SlotRef) -> Message {
    Message::new(invocation.label())
        .push(dest.index)
        .push(u64::from(dest.depth))
        .push(src.cnode.cptr().0)
        .push(src.slot.index)
        .push(u64::from(src.slot.depth))
}

/// `CNodeCopy`: destination index, depth, source CNode, index, depth, rights.
pub fn cnode_copy(dest: Slot, src: SlotRef, rights: Rights) -> Message {
    two_slot(Invocation::CNodeCopy, dest, src).push(rights.word())
}

/// `CNodeMint`: as copy, then the cap data.
pub fn cnode_mint(dest: Slot, src: SlotRef, rights: Rights, data: CapData) -> Message {
    two_slot(Invocation::CNodeMint, dest, src).push(rights.word()).push(data.word())
}

/// `CNodeMove`: destination index, depth, source CNode, index, depth.
pub fn cnode_move(dest: Slot, src: SlotRef) -> Message {
    two_slot(Invocation::CNodeMove, dest, src)
}

/// `CNodeMutate`: as move, then rights and cap data.
pub fn cnode_mutate(dest: Slot, src: SlotRef, rights: Rights, data: CapData) -> Message {
    two_slot(Invocation::CNodeMutate, dest, src).push(rights.word()).push(data.word())
}

/// `CNodeDelete`: index, depth.
pub fn cnode_delete(slot: Slot) -> Message {
    Message::new(Invocation::CNodeDelete.label()).push(slot.index).push(u64::from(slot.depth))
}

/// `CNodeRevoke`: index, depth.
pub fn cnode_revoke(slot: Slot) -> Message {
    Message::new(Invocation::CNodeRevoke.label()).push(slot.index).push(u64::from(slot.depth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{CNode, Cap};

    fn check(message: &Message, invocation: Invocation, words: &[u64]) {
        assert_eq!(message.label(), invocation.label());
        assert_eq!(message.words(), words);
        assert_eq!(
            words.len(),
            invocation.words(),
            "{invocation:?} needs {} words",
            invocation.words()
        );
        assert_eq!(usize::from(message.info().length), words.len());
    }

    const SRC_CNODE: Cap<CNode> = Cap::from_slot(77);

    #[test]
    fn retype_sends_kind_size_destination_depth_first_count() {
        let dest = CNodeAt { cnode: Cap::from_slot(9), depth: 64 };
        check(
            &retype(ObjectKind::CNode, 5, dest, 300, 4),
            Invocation::UntypedRetype,
            &[4, 5, 9, 64, 300, 4],
        );
        check(
            &retype_raw(99, 300, CNodeAt::ROOT, 1, 0),
            Invocation::UntypedRetype,
            &[99, 300, 1, 64, 1, 0],
        );
    }

    #[test]
    fn copy_sends_destination_source_rights() {
        let src = SlotRef::new(SRC_CNODE, 12, 8);
        check(
            &cnode_copy(Slot::new(100, 64), src, Rights::READ | Rights::GRANT),
            Invocation::CNodeCopy,
            &[100, 64, 77, 12, 8, 0b101],
        );
    }

    #[test]
    fn mint_adds_the_cap_data() {
        let src = SlotRef::new(SRC_CNODE, 3, 20);
        let data = CapData::guard(0b11, 2).unwrap();
        check(
            &cnode_mint(Slot::new(5, 12), src, Rights::ALL, data),
            Invocation::CNodeMint,
            &[5, 12, 77, 3, 20, 15, (0b11 << 6) | 2],
        );
        check(
            &cnode_mint(Slot::root(6), SlotRef::root(7), Rights::NONE, CapData::badge(0xbeef)),
            Invocation::CNodeMint,
            &[6, 64, 1, 7, 64, 0, 0xbeef],
        );
    }

    #[test]
    fn move_sends_destination_and_source_only() {
        check(
            &cnode_move(Slot::root(40), SlotRef::root(41)),
            Invocation::CNodeMove,
            &[40, 64, 1, 41, 64],
        );
    }

    #[test]
    fn mutate_sends_rights_then_cap_data() {
        check(
            &cnode_mutate(
                Slot::root(40),
                SlotRef::new(SRC_CNODE, 2, 4),
                Rights::WRITE,
                CapData::badge(9),
            ),
            Invocation::CNodeMutate,
            &[40, 64, 77, 2, 4, 2, 9],
        );
    }

    #[test]
    fn delete_and_revoke_send_index_and_depth() {
        check(&cnode_delete(Slot::new(0x123, 14)), Invocation::CNodeDelete, &[0x123, 14]);
        check(&cnode_revoke(Slot::root(8)), Invocation::CNodeRevoke, &[8, 64]);
    }
}
