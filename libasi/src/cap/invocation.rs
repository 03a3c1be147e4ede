//! The messages of each invocation, packed in the word order
//! [`syscall_abi::invocation::Invocation`] documents. Pure functions, so the packing is
//! tested on the host; the wrappers on [`Cap`](super::Cap) send what these build.

use syscall_abi::invocation::{Invocation, ObjectKind, user_registers};

use super::{CNodeAt, CPtr, CapData, FrameAttributes, Rights, Slot, SlotRef, TcbConfig};
use crate::message::Message;

/// The most words an invocation has: `TcbWriteRegisters`, with every register.
pub const INVOCATION_WORDS: usize = 2 + user_registers::COUNT;

/// What the builders here make: a [`Message`] only as long as the longest invocation, so
/// that making one zeroes 20 words, not 120.
pub type InvocationMessage = Message<INVOCATION_WORDS>;

/// `UntypedRetype`: object kind, size bits, destination CNode pointer, its depth, first
/// destination slot index, number of objects.
pub fn retype(
    kind: ObjectKind,
    size_bits: u8,
    dest: CNodeAt,
    first: u64,
    count: u64,
) -> InvocationMessage {
    retype_raw(kind.code(), u64::from(size_bits), dest, first, count)
}

/// [`retype`] with the kind and size as raw words, so tests can send what the kernel must
/// refuse.
pub fn retype_raw(
    kind: u64,
    size_bits: u64,
    dest: CNodeAt,
    first: u64,
    count: u64,
) -> InvocationMessage {
    Message::empty(Invocation::UntypedRetype.label())
        .push(kind)
        .push(size_bits)
        .push(dest.cnode.cptr().0)
        .push(u64::from(dest.depth))
        .push(first)
        .push(count)
}

fn two_slot(invocation: Invocation, dest: Slot, src: SlotRef) -> InvocationMessage {
    Message::empty(invocation.label())
        .push(dest.index)
        .push(u64::from(dest.depth))
        .push(src.cnode.cptr().0)
        .push(src.slot.index)
        .push(u64::from(src.slot.depth))
}

/// `CNodeCopy`: destination index, depth, source CNode, index, depth, rights.
pub fn cnode_copy(dest: Slot, src: SlotRef, rights: Rights) -> InvocationMessage {
    two_slot(Invocation::CNodeCopy, dest, src).push(rights.word())
}

/// `CNodeMint`: as copy, then the cap data.
pub fn cnode_mint(dest: Slot, src: SlotRef, rights: Rights, data: CapData) -> InvocationMessage {
    two_slot(Invocation::CNodeMint, dest, src).push(rights.word()).push(data.word())
}

/// `CNodeMove`: destination index, depth, source CNode, index, depth.
pub fn cnode_move(dest: Slot, src: SlotRef) -> InvocationMessage {
    two_slot(Invocation::CNodeMove, dest, src)
}

/// `CNodeMutate`: as move, then rights and cap data.
pub fn cnode_mutate(dest: Slot, src: SlotRef, rights: Rights, data: CapData) -> InvocationMessage {
    two_slot(Invocation::CNodeMutate, dest, src).push(rights.word()).push(data.word())
}

/// `CNodeDelete`: index, depth.
pub fn cnode_delete(slot: Slot) -> InvocationMessage {
    Message::empty(Invocation::CNodeDelete.label()).push(slot.index).push(u64::from(slot.depth))
}

/// `CNodeRevoke`: index, depth.
pub fn cnode_revoke(slot: Slot) -> InvocationMessage {
    Message::empty(Invocation::CNodeRevoke.label()).push(slot.index).push(u64::from(slot.depth))
}

/// `TcbConfigure`: fault endpoint, CSpace root, its guard data, VSpace root, 0, IPC
/// buffer address, IPC buffer frame.
pub fn tcb_configure(config: &TcbConfig) -> InvocationMessage {
    Message::empty(Invocation::TcbConfigure.label())
        .push(config.fault_endpoint.0)
        .push(config.cspace_root.cptr().0)
        .push(config.cspace_root_data.word())
        .push(config.vspace_root.cptr().0)
        .push(0)
        .push(config.ipc_buffer)
        .push(config.ipc_buffer_frame.0)
}

/// `TcbWriteRegisters`: resume, count, then the first `count` registers in
/// [`user_registers`] order (`registers` is cut to [`user_registers::COUNT`]).
pub fn tcb_write_registers(resume: bool, registers: &[u64]) -> InvocationMessage {
    let registers = &registers[..registers.len().min(user_registers::COUNT)];
    let mut message = Message::empty(Invocation::TcbWriteRegisters.label())
        .push(u64::from(resume))
        .push(registers.len() as u64);
    for &word in registers {
        message = message.push(word);
    }
    message
}

/// `TcbReadRegisters`: suspend first, count.
pub fn tcb_read_registers(suspend: bool, count: u64) -> InvocationMessage {
    Message::empty(Invocation::TcbReadRegisters.label()).push(u64::from(suspend)).push(count)
}

/// `TcbSetPriority` / `TcbSetMaxControlledPriority`: authority TCB, priority.
pub fn tcb_priority(invocation: Invocation, authority: CPtr, priority: u64) -> InvocationMessage {
    Message::empty(invocation.label()).push(authority.0).push(priority)
}

/// An invocation of no words (resume, suspend, unbind, unmap, get address).
pub fn bare(invocation: Invocation) -> InvocationMessage {
    Message::empty(invocation.label())
}

/// An invocation of one word (affinity, bind notification).
pub fn one_word(invocation: Invocation, word: u64) -> InvocationMessage {
    Message::empty(invocation.label()).push(word)
}

/// `FrameMap`: VSpace, address, rights (READ/WRITE), attributes.
pub fn frame_map(
    vspace: CPtr,
    vaddr: u64,
    rights: Rights,
    attributes: FrameAttributes,
) -> InvocationMessage {
    Message::empty(Invocation::FrameMap.label())
        .push(vspace.0)
        .push(vaddr)
        .push(rights.word())
        .push(attributes.word())
}

/// `PageTableMap`: VSpace, an address the table is to cover.
pub fn page_table_map(vspace: CPtr, vaddr: u64) -> InvocationMessage {
    Message::empty(Invocation::PageTableMap.label()).push(vspace.0).push(vaddr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{CNode, Cap};

    #[test]
    fn every_invocation_fits_an_invocation_message() {
        let invocations = (0..=u16::MAX.into()).filter_map(Invocation::from_label);
        for invocation in invocations {
            let registers =
                if invocation == Invocation::TcbWriteRegisters { user_registers::COUNT } else { 0 };
            assert!(invocation.words() + registers <= INVOCATION_WORDS, "{invocation:?}");
        }
    }

    fn check(message: &InvocationMessage, invocation: Invocation, words: &[u64]) {
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
    fn configure_sends_the_seven_words_in_order() {
        let config = TcbConfig {
            fault_endpoint: CPtr(30),
            cspace_root: Cap::ROOT,
            cspace_root_data: CapData::NONE,
            vspace_root: Cap::from_slot(5),
            ipc_buffer: 0x10_0000_0400,
            ipc_buffer_frame: CPtr(31),
        };
        check(
            &tcb_configure(&config),
            Invocation::TcbConfigure,
            &[30, 1, 0, 5, 0, 0x10_0000_0400, 31],
        );
        let plain = TcbConfig::new(Cap::ROOT, Cap::from_slot(5));
        check(&tcb_configure(&plain), Invocation::TcbConfigure, &[0, 1, 0, 5, 0, 0, 0]);
    }

    #[test]
    fn register_writes_carry_resume_count_and_values() {
        let message = tcb_write_registers(true, &[0x20_0000, 0x30_0000]);
        assert_eq!(message.words(), &[1, 2, 0x20_0000, 0x30_0000]);
        assert_eq!(message.label(), Invocation::TcbWriteRegisters.label());
        let all = tcb_write_registers(false, &[7; 30]);
        assert_eq!(all.words().len(), 2 + user_registers::COUNT);
        assert_eq!(all.word(1), user_registers::COUNT as u64);
        check(&tcb_read_registers(true, 18), Invocation::TcbReadRegisters, &[1, 18]);
    }

    #[test]
    fn priorities_name_the_authority_first() {
        check(
            &tcb_priority(Invocation::TcbSetPriority, CPtr(4), 200),
            Invocation::TcbSetPriority,
            &[4, 200],
        );
        check(
            &tcb_priority(Invocation::TcbSetMaxControlledPriority, CPtr(4), 9),
            Invocation::TcbSetMaxControlledPriority,
            &[4, 9],
        );
        check(&one_word(Invocation::TcbSetAffinity, 1), Invocation::TcbSetAffinity, &[1]);
        check(
            &one_word(Invocation::TcbBindNotification, 44),
            Invocation::TcbBindNotification,
            &[44],
        );
        check(&bare(Invocation::TcbResume), Invocation::TcbResume, &[]);
    }

    #[test]
    fn mapping_sends_vspace_address_rights_attributes() {
        check(
            &frame_map(
                CPtr(5),
                0x10_0000_0000,
                Rights::READ | Rights::WRITE,
                FrameAttributes::NONE,
            ),
            Invocation::FrameMap,
            &[5, 0x10_0000_0000, 3, 0],
        );
        check(
            &frame_map(CPtr(5), 0x1000, Rights::READ, FrameAttributes::EXECUTABLE),
            Invocation::FrameMap,
            &[5, 0x1000, 1, 1],
        );
        check(&page_table_map(CPtr(5), 0x4000_0000), Invocation::PageTableMap, &[5, 0x4000_0000]);
        check(&bare(Invocation::FrameGetAddress), Invocation::FrameGetAddress, &[]);
    }

    #[test]
    fn delete_and_revoke_send_index_and_depth() {
        check(&cnode_delete(Slot::new(0x123, 14)), Invocation::CNodeDelete, &[0x123, 14]);
        check(&cnode_revoke(Slot::root(8)), Invocation::CNodeRevoke, &[8, 64]);
    }
}
