//! Slots as raw 64-bit words: how the kernel stores capabilities and derivation-tree links
//! in physical memory.
//!
//! The kernel reads and writes CNode and TCB slots only as `u64` words (`Cell<u64>`), so
//! any bit pattern in that memory is a valid Rust value; stale or corrupted memory can
//! only fail to decode here, never become undefined behaviour. Decoding therefore checks
//! everything and reports [`CorruptSlot`] rather than guess.
//!
//! Two properties hold for every input, and the tests check both:
//! - `decode_capability(encode_capability(&cap))` is `Ok(cap)` for every capability the
//!   kernel can hold (each field is stored at its full width, never truncated), and `Err`
//!   for one it cannot (say, a misaligned object): never a different capability;
//! - if `decode_capability(words)` is `Ok(cap)`, then `encode_capability(&cap) == words`:
//!   every bit the layout does not use must be zero, so each capability has exactly one
//!   encoding. The same holds for the links.
//!
//! # Slot layout
//!
//! A slot is 64 bytes ([`SLOT_SIZE_BITS`]), eight words:
//!
//! | word | contents                                                   |
//! |------|------------------------------------------------------------|
//! | 0–3  | the capability ([`encode_capability`])                     |
//! | 4–5  | the derivation-tree links, [`MdbNode`] ([`encode_links`])  |
//! | 6–7  | reserved, zero                                             |
//!
//! # Capability layout
//!
//! Word 0 holds the tag and the small fields, at byte boundaries so that a hex dump reads
//! easily; words 1 and 2 hold the 64-bit fields whole; word 3 is reserved (zero) for later
//! use. Nothing is packed into the spare bits of addresses, so nothing depends on an
//! object's alignment for the encoding to be lossless (alignment is only *checked*).
//!
//! Word 0:
//!
//! | bits  | field                                                               |
//! |-------|---------------------------------------------------------------------|
//! | 0–7   | tag (table below); Null is 0                                        |
//! | 8–15  | size: untyped `size_bits`, CNode `radix_bits`, frame page size in   |
//! |       | bits (12 or 21), page-table level (3 PDPT, 2 PD, 1 PT, as on x86)   |
//! | 16–23 | rights, [`Rights::bits`] (endpoint, notification, frame)           |
//! | 24    | `device` (untyped, frame)                                           |
//! | 25    | `can_grant` (reply)                                                 |
//! | 26    | mapped: the frame or page table has a mapping, the VSpace an ASID   |
//! | 27–31 | reserved, zero                                                      |
//! | 32–39 | CNode `guard_bits`; IRQ handler `irq`                               |
//! | 40–47 | reserved, zero                                                      |
//! | 48–63 | ASID (frame, page table, VSpace); zero unless mapped                |
//!
//! Per variant (word 3 is always zero, and every field of word 0 a variant does not use
//! is zero):
//!
//! | tag | variant        | word 0 fields                      | word 1   | word 2          |
//! |-----|----------------|------------------------------------|----------|-----------------|
//! | 0   | `Null`         | —                                  | 0        | 0               |
//! | 1   | `Untyped`      | size = `size_bits`, device         | `base`   | `watermark`     |
//! | 2   | `Endpoint`     | rights                             | `object` | `badge`         |
//! | 3   | `Notification` | rights                             | `object` | `badge`         |
//! | 4   | `Reply`        | can_grant                          | `tcb`    | 0               |
//! | 5   | `CNode`        | size = `radix_bits`, guard_bits    | `object` | `guard`         |
//! | 6   | `Tcb`          | —                                  | `object` | 0               |
//! | 7   | `Frame`        | size, rights, device, mapped, ASID | `base`   | `vaddr` or 0    |
//! | 8   | `PageTable`    | size = level, mapped, ASID         | `object` | `vaddr` or 0    |
//! | 9   | `VSpace`       | mapped (has an ASID), ASID         | `object` | 0               |
//! | 10  | `IrqControl`   | —                                  | 0        | 0               |
//! | 11  | `IrqHandler`   | `irq`                              | 0        | 0               |
//! | 12  | `AsiControl`   | —                                  | 0        | 0               |
//! | 13  | `IoPortControl`| —                                  | 0        | 0               |
//! | 14  | `IoPort`       | —                                  | `first \| last << 16` | 0 |
//!
//! (`vaddr` is the mapping's address, 0 when unmapped.)
//!
//! A zeroed slot is therefore an empty slot with empty links: a freshly zeroed CNode is a
//! CNode of empty slots.
//!
//! What decoding checks, besides the tag and the zero bits:
//! - physical addresses (word 1) are below 2^52 ([`PHYS_ADDR_BITS`]) and aligned to the
//!   object's size: `2^size_bits` for an untyped region, `2^(radix_bits + 6)` for a CNode,
//!   the page size for a frame, 2 KiB for a TCB (also a reply's `tcb`), 16 bytes for an
//!   endpoint, 32 for a notification, 4 KiB for page tables, 8 KiB for VSpaces — objects are
//!   naturally aligned ([`object`](super::object)), which retype relies on;
//! - an untyped `size_bits` and a CNode `radix_bits` are in range
//!   ([`ObjectType::size_bits`]), and an untyped watermark is at most the region's size;
//! - a CNode guard fits in `guard_bits`, and `guard_bits + radix_bits` is at most 64 (as
//!   mint and mutate require);
//! - rights name only known rights, a frame size is 12 or 21, a level 1 to 3;
//! - a mapping has a non-zero ASID and a user address ([`USER_ADDR_BITS`]) aligned to
//!   4 KiB, for frames and page tables alike; the kernel must record page-table mappings
//!   at 4 KiB-aligned addresses.
//!
//! Badges, guards with their bits, IRQ numbers and the device flag take any value.
//!
//! # Link layout
//!
//! Slot ids are the physical addresses of slots: 64-byte aligned, below 2^52, never 0
//! (physical address 0 is never a slot), so 0 stands for `None`.
//!
//! | word | bits  | field                                   |
//! |------|-------|-----------------------------------------|
//! | 4    | 0     | `revocable`                             |
//! | 4    | 1     | `first_badged`                          |
//! | 4    | 2–5   | reserved, zero                          |
//! | 4    | 6–63  | `prev` (the address; 0: `None`)         |
//! | 5    | 0–5   | reserved, zero                          |
//! | 5    | 6–63  | `next` (the address; 0: `None`)         |
//!
//! and an address is refused unless it is below 2^52.

use core::num::NonZeroU16;

use super::capability::{Capability, Mapping};
use super::mdb::MdbNode;
use super::object::{
    ENDPOINT_SIZE_BITS, FrameSize, NOTIFICATION_SIZE_BITS, ObjectType, PAGE_TABLE_SIZE_BITS,
    PtLevel, SLOT_SIZE_BITS, TCB_SIZE_BITS, VSPACE_SIZE_BITS,
};
use super::rights::Rights;

/// Words in an encoded capability.
pub const CAPABILITY_WORDS: usize = 4;
/// Words in an encoded [`MdbNode`].
pub const LINK_WORDS: usize = 2;
/// Words in a slot.
pub const SLOT_WORDS: usize = 8;
/// Where the capability starts in a slot, in words.
pub const CAPABILITY_OFFSET: usize = 0;
/// Where the links start in a slot, in words.
pub const LINKS_OFFSET: usize = CAPABILITY_OFFSET + CAPABILITY_WORDS;
/// Where the reserved words start in a slot, in words.
pub const RESERVED_OFFSET: usize = LINKS_OFFSET + LINK_WORDS;

const _: () = assert!(SLOT_WORDS * 8 == 1 << SLOT_SIZE_BITS);
const _: () = assert!(RESERVED_OFFSET <= SLOT_WORDS);

/// Physical addresses are below `2^PHYS_ADDR_BITS` (x86_64's architectural maximum).
pub const PHYS_ADDR_BITS: u32 = 52;
/// User virtual addresses are below `2^USER_ADDR_BITS` (the lower half of 4-level paging).
pub const USER_ADDR_BITS: u32 = 47;

/// Why a slot's words do not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptSlot {
    /// The word of the slot (0 to [`SLOT_WORDS`] − 1) where the problem was found.
    pub word: usize,
    pub reason: CorruptReason,
}

/// What was wrong with a slot's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The tag names no kind of capability.
    UnknownTag,
    /// A bit the layout does not use for this variant is set.
    ReservedBits,
    /// An untyped `size_bits` or a CNode `radix_bits` is out of range.
    SizeOutOfRange,
    /// A frame size other than 12 or 21 bits.
    UnknownFrameSize,
    /// A page-table level other than 1 to 3.
    UnknownLevel,
    /// Rights bits that name no right.
    UnknownRights,
    /// A mapping, or a VSpace said to have an ASID, with ASID 0.
    ZeroAsid,
    /// A physical address at or above 2^52.
    AddressOutOfRange,
    /// An object address not aligned to the object's size, or a slot address not aligned
    /// to 64 bytes.
    Misaligned,
    /// An untyped watermark beyond the end of the region.
    WatermarkBeyondRegion,
    /// A CNode guard wider than `guard_bits`, or `guard_bits + radix_bits` over 64.
    BadGuard,
    /// A mapping address that is not a 4 KiB-aligned user address.
    BadMappingAddress,
    /// An empty slot (Null capability) with derivation-tree links.
    EmptySlotLinked,
}

pub(super) const TAG_NULL: u64 = 0;
const TAG_UNTYPED: u64 = 1;
pub(super) const TAG_ENDPOINT: u64 = 2;
const TAG_NOTIFICATION: u64 = 3;
pub(super) const TAG_REPLY: u64 = 4;
pub(super) const TAG_CNODE: u64 = 5;
const TAG_TCB: u64 = 6;
pub(super) const TAG_FRAME: u64 = 7;
const TAG_PAGE_TABLE: u64 = 8;
pub(super) const TAG_VSPACE: u64 = 9;
const TAG_IRQ_CONTROL: u64 = 10;
const TAG_IRQ_HANDLER: u64 = 11;
const TAG_ASI_CONTROL: u64 = 12;
const TAG_IO_PORT_CONTROL: u64 = 13;
const TAG_IO_PORT: u64 = 14;

pub(super) const TAG_SHIFT: u32 = 0;
pub(super) const SIZE_SHIFT: u32 = 8;
pub(super) const RIGHTS_SHIFT: u32 = 16;
const DEVICE_BIT: u64 = 1 << 24;
pub(super) const CAN_GRANT_BIT: u64 = 1 << 25;
const MAPPED_BIT: u64 = 1 << 26;
/// CNode `guard_bits` or IRQ handler `irq`.
pub(super) const NUMBER_SHIFT: u32 = 32;
const ASID_SHIFT: u32 = 48;

const LINK_REVOCABLE: u64 = 1 << 0;
const LINK_FIRST_BADGED: u64 = 1 << 1;
const LINK_LOW_BITS: u64 = (1 << SLOT_SIZE_BITS) - 1;
/// What [`encode_links`] writes for a slot id that is not a slot address: it has reserved
/// bits set, so it never decodes.
const INVALID_LINK: u64 = u64::MAX;

const PAGE_BITS: u32 = 12;

pub(super) fn byte(word: u64, shift: u32) -> u8 {
    (word >> shift) as u8
}

fn corrupt(word: usize, reason: CorruptReason) -> CorruptSlot {
    CorruptSlot { word, reason }
}

fn mapping_fields(mapping: Option<Mapping>) -> (u64, u64) {
    match mapping {
        Some(Mapping { asid, vaddr }) => (MAPPED_BIT | u64::from(asid.get()) << ASID_SHIFT, vaddr),
        None => (0, 0),
    }
}

/// The words of `Capability::Reply { tcb, can_grant }`, for the IPC fastpath, which
/// writes one on every call and cannot afford the general encoder's dispatch.
#[inline(always)]
pub const fn encode_reply(tcb: u64, can_grant: bool) -> [u64; CAPABILITY_WORDS] {
    [TAG_REPLY | if can_grant { CAN_GRANT_BIT } else { 0 }, tcb, 0, 0]
}

/// The four words of `cap` (see the [module documentation](self) for the layout).
///
/// Lossless for every capability [`decode_capability`] accepts; a capability it would
/// refuse (a misaligned object, an out-of-range size) is still written field by field, so
/// that it decodes to an error rather than to another capability.
pub fn encode_capability(cap: &Capability) -> [u64; CAPABILITY_WORDS] {
    let size = |bits: u8| u64::from(bits) << SIZE_SHIFT;
    let rights = |rights: Rights| u64::from(rights.bits()) << RIGHTS_SHIFT;
    let flag = |set: bool, bit: u64| if set { bit } else { 0 };
    let (word0, object, extra) = match *cap {
        Capability::Null => (TAG_NULL, 0, 0),
        Capability::Untyped { base, size_bits, device, watermark } => {
            (TAG_UNTYPED | size(size_bits) | flag(device, DEVICE_BIT), base, watermark)
        }
        Capability::Endpoint { object, badge, rights: r } => {
            (TAG_ENDPOINT | rights(r), object, badge)
        }
        Capability::Notification { object, badge, rights: r } => {
            (TAG_NOTIFICATION | rights(r), object, badge)
        }
        Capability::Reply { tcb, can_grant } => return encode_reply(tcb, can_grant),
        Capability::CNode { object, radix_bits, guard, guard_bits } => {
            (TAG_CNODE | size(radix_bits) | u64::from(guard_bits) << NUMBER_SHIFT, object, guard)
        }
        Capability::Tcb { object } => (TAG_TCB, object, 0),
        Capability::Frame { base, size: frame_size, rights: r, device, mapping } => {
            let (mapped, vaddr) = mapping_fields(mapping);
            let fields = size(frame_size.size_bits()) | rights(r) | flag(device, DEVICE_BIT);
            (TAG_FRAME | fields | mapped, base, vaddr)
        }
        Capability::PageTable { object, level, mapping } => {
            let (mapped, vaddr) = mapping_fields(mapping);
            (TAG_PAGE_TABLE | size(level_number(level)) | mapped, object, vaddr)
        }
        Capability::VSpace { object, asid } => {
            let (mapped, _) = mapping_fields(asid.map(|asid| Mapping { asid, vaddr: 0 }));
            (TAG_VSPACE | mapped, object, 0)
        }
        Capability::IrqControl => (TAG_IRQ_CONTROL, 0, 0),
        Capability::IrqHandler { irq } => (TAG_IRQ_HANDLER | u64::from(irq) << NUMBER_SHIFT, 0, 0),
        Capability::AsiControl => (TAG_ASI_CONTROL, 0, 0),
        Capability::IoPortControl => (TAG_IO_PORT_CONTROL, 0, 0),
        Capability::IoPort { first, last } => {
            (TAG_IO_PORT, u64::from(first) | u64::from(last) << 16, 0)
        }
    };
    [word0, object, extra, 0]
}

const fn level_number(level: PtLevel) -> u8 {
    match level {
        PtLevel::Pdpt => 3,
        PtLevel::Pd => 2,
        PtLevel::Pt => 1,
    }
}

/// The capability in `words`, or why they hold none (see the [module documentation](self)
/// for the layout and the checks). Word indices in the error count from the start of the
/// slot, assuming the words were read at [`CAPABILITY_OFFSET`].
pub fn decode_capability(words: [u64; CAPABILITY_WORDS]) -> Result<Capability, CorruptSlot> {
    let cap = decode_fields(words)?;
    // Every field was read at its full width, so re-encoding reproduces exactly the bits
    // the layout uses: any other difference is a bit that should be zero.
    let canonical = encode_capability(&cap);
    match (0..CAPABILITY_WORDS).find(|&i| canonical[i] != words[i]) {
        Some(i) => Err(corrupt(CAPABILITY_OFFSET + i, CorruptReason::ReservedBits)),
        None => Ok(cap),
    }
}

/// Reads and checks the fields of the variant `words` name, leaving bits outside them to
/// [`decode_capability`]: for words the caller wrote itself with [`encode_capability`],
/// where a stray bit could only be memory corruption.
pub fn decode_fields(words: [u64; CAPABILITY_WORDS]) -> Result<Capability, CorruptSlot> {
    use CorruptReason::*;
    const W0: usize = CAPABILITY_OFFSET;
    const W1: usize = CAPABILITY_OFFSET + 1;
    const W2: usize = CAPABILITY_OFFSET + 2;

    let [word0, object, extra, _] = words;
    let size = byte(word0, SIZE_SHIFT);
    let device = word0 & DEVICE_BIT != 0;
    let rights = || Rights::from_bits(byte(word0, RIGHTS_SHIFT)).ok_or(corrupt(W0, UnknownRights));
    let physical = |size_bits: u8| check_physical(object, size_bits, W1);
    let asid = || -> Result<Option<NonZeroU16>, CorruptSlot> {
        if word0 & MAPPED_BIT == 0 {
            // An ASID or address without the mapped bit is caught as reserved bits.
            return Ok(None);
        }
        NonZeroU16::new((word0 >> ASID_SHIFT) as u16).map(Some).ok_or(corrupt(W0, ZeroAsid))
    };
    let mapping = || -> Result<Option<Mapping>, CorruptSlot> {
        let Some(asid) = asid()? else { return Ok(None) };
        if extra >> USER_ADDR_BITS != 0 || extra & ((1 << PAGE_BITS) - 1) != 0 {
            return Err(corrupt(W2, BadMappingAddress));
        }
        Ok(Some(Mapping { asid, vaddr: extra }))
    };

    Ok(match byte(word0, TAG_SHIFT) as u64 {
        TAG_NULL => Capability::Null,
        TAG_UNTYPED => {
            let size_bits =
                ObjectType::Untyped.size_bits(size).ok_or(corrupt(W0, SizeOutOfRange))?;
            physical(size_bits)?;
            if extra > 1 << size_bits {
                return Err(corrupt(W2, WatermarkBeyondRegion));
            }
            Capability::Untyped { base: object, size_bits, device, watermark: extra }
        }
        TAG_ENDPOINT => {
            physical(ENDPOINT_SIZE_BITS)?;
            Capability::Endpoint { object, badge: extra, rights: rights()? }
        }
        TAG_NOTIFICATION => {
            physical(NOTIFICATION_SIZE_BITS)?;
            Capability::Notification { object, badge: extra, rights: rights()? }
        }
        TAG_REPLY => {
            physical(TCB_SIZE_BITS)?;
            Capability::Reply { tcb: object, can_grant: word0 & CAN_GRANT_BIT != 0 }
        }
        TAG_CNODE => {
            let radix_bits = size;
            let size_bits =
                ObjectType::CNode.size_bits(radix_bits).ok_or(corrupt(W0, SizeOutOfRange))?;
            physical(size_bits)?;
            let guard_bits = byte(word0, NUMBER_SHIFT);
            if u32::from(guard_bits) + u32::from(radix_bits) > 64 {
                return Err(corrupt(W0, BadGuard));
            }
            // guard_bits < 64 here, since radix_bits >= 1.
            if extra >> guard_bits != 0 {
                return Err(corrupt(W2, BadGuard));
            }
            Capability::CNode { object, radix_bits, guard: extra, guard_bits }
        }
        TAG_TCB => {
            physical(TCB_SIZE_BITS)?;
            Capability::Tcb { object }
        }
        TAG_FRAME => {
            let frame_size = match size {
                12 => FrameSize::Small4K,
                21 => FrameSize::Large2M,
                _ => return Err(corrupt(W0, UnknownFrameSize)),
            };
            physical(frame_size.size_bits())?;
            let rights = rights()?;
            Capability::Frame {
                base: object,
                size: frame_size,
                rights,
                device,
                mapping: mapping()?,
            }
        }
        TAG_PAGE_TABLE => {
            let level = match size {
                3 => PtLevel::Pdpt,
                2 => PtLevel::Pd,
                1 => PtLevel::Pt,
                _ => return Err(corrupt(W0, UnknownLevel)),
            };
            physical(PAGE_TABLE_SIZE_BITS)?;
            Capability::PageTable { object, level, mapping: mapping()? }
        }
        TAG_VSPACE => {
            physical(VSPACE_SIZE_BITS)?;
            Capability::VSpace { object, asid: asid()? }
        }
        TAG_IRQ_CONTROL => Capability::IrqControl,
        TAG_IRQ_HANDLER => Capability::IrqHandler { irq: byte(word0, NUMBER_SHIFT) },
        TAG_ASI_CONTROL => Capability::AsiControl,
        TAG_IO_PORT_CONTROL => Capability::IoPortControl,
        TAG_IO_PORT => {
            let (first, last) = (object as u16, (object >> 16) as u16);
            if first > last {
                return Err(corrupt(W1, SizeOutOfRange));
            }
            Capability::IoPort { first, last }
        }
        _ => return Err(corrupt(W0, UnknownTag)),
    })
}

/// Checks that `address`, read from slot word `word`, is a physical address aligned to
/// `2^size_bits`.
fn check_physical(address: u64, size_bits: u8, word: usize) -> Result<(), CorruptSlot> {
    if address >> PHYS_ADDR_BITS != 0 {
        Err(corrupt(word, CorruptReason::AddressOutOfRange))
    } else if address & ((1 << size_bits) - 1) != 0 {
        Err(corrupt(word, CorruptReason::Misaligned))
    } else {
        Ok(())
    }
}

#[inline(always)]
fn encode_slot_id(slot: Option<u64>) -> u64 {
    match slot {
        None => 0,
        Some(address)
            if address != 0 && address & LINK_LOW_BITS == 0 && address >> PHYS_ADDR_BITS == 0 =>
        {
            address
        }
        Some(_) => INVALID_LINK,
    }
}

/// The two words of `node` (see the [module documentation](self) for the layout).
///
/// Lossless for every node whose slot ids are slot addresses (non-zero, 64-byte aligned,
/// below 2^52); any other id is written as a word that [`decode_links`] refuses, so a bad
/// node never decodes to a different one.
#[inline(always)]
pub fn encode_links(node: &MdbNode<u64>) -> [u64; LINK_WORDS] {
    let prev = encode_slot_id(node.prev);
    let flags = if node.revocable { LINK_REVOCABLE } else { 0 }
        | if node.first_badged { LINK_FIRST_BADGED } else { 0 };
    [prev | flags, encode_slot_id(node.next)]
}

fn decode_slot_id(address: u64, word: usize) -> Result<Option<u64>, CorruptSlot> {
    if address & LINK_LOW_BITS != 0 {
        return Err(corrupt(word, CorruptReason::Misaligned));
    }
    if address >> PHYS_ADDR_BITS != 0 {
        return Err(corrupt(word, CorruptReason::AddressOutOfRange));
    }
    Ok(if address == 0 { None } else { Some(address) })
}

/// The derivation-tree node in `words`, or why they hold none. Word indices in the error
/// count from the start of the slot, assuming the words were read at [`LINKS_OFFSET`].
pub fn decode_links(words: [u64; LINK_WORDS]) -> Result<MdbNode<u64>, CorruptSlot> {
    let [prev, next] = words;
    let flags = LINK_REVOCABLE | LINK_FIRST_BADGED;
    Ok(MdbNode {
        prev: decode_slot_id(prev & !flags, LINKS_OFFSET)?,
        next: decode_slot_id(next, LINKS_OFFSET + 1)?,
        revocable: prev & LINK_REVOCABLE != 0,
        first_badged: prev & LINK_FIRST_BADGED != 0,
    })
}

/// The eight words of a slot holding `cap` and `node`.
pub fn encode_slot(cap: &Capability, node: &MdbNode<u64>) -> [u64; SLOT_WORDS] {
    let mut words = [0; SLOT_WORDS];
    words[CAPABILITY_OFFSET..LINKS_OFFSET].copy_from_slice(&encode_capability(cap));
    words[LINKS_OFFSET..RESERVED_OFFSET].copy_from_slice(&encode_links(node));
    words
}

/// The capability and node of a whole slot, or why it is corrupt. Besides what
/// [`decode_capability`] and [`decode_links`] check, the reserved words must be zero and
/// an empty slot must have empty links.
pub fn decode_slot(words: [u64; SLOT_WORDS]) -> Result<(Capability, MdbNode<u64>), CorruptSlot> {
    let mut cap_words = [0; CAPABILITY_WORDS];
    cap_words.copy_from_slice(&words[CAPABILITY_OFFSET..LINKS_OFFSET]);
    let cap = decode_capability(cap_words)?;
    let node = decode_links([words[LINKS_OFFSET], words[LINKS_OFFSET + 1]])?;
    if let Some(i) = (RESERVED_OFFSET..SLOT_WORDS).find(|&i| words[i] != 0) {
        return Err(corrupt(i, CorruptReason::ReservedBits));
    }
    if cap.is_null() && node != MdbNode::empty() {
        return Err(corrupt(LINKS_OFFSET, CorruptReason::EmptySlotLinked));
    }
    Ok((cap, node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::object::{
        MAX_CNODE_RADIX, MAX_UNTYPED_BITS, MIN_CNODE_RADIX, MIN_UNTYPED_BITS,
    };
    use CorruptReason::*;

    const TOP: u64 = (1 << PHYS_ADDR_BITS) - 1;
    const USER_TOP_PAGE: u64 = (1 << USER_ADDR_BITS) - (1 << PAGE_BITS);

    fn asid(value: u16) -> NonZeroU16 {
        NonZeroU16::new(value).unwrap()
    }

    fn mapped(asid_value: u16, vaddr: u64) -> Option<Mapping> {
        Some(Mapping { asid: asid(asid_value), vaddr })
    }

    fn all_rights() -> impl Iterator<Item = Rights> {
        (0..16).map(|bits| Rights::from_bits(bits).unwrap())
    }

    /// The highest address aligned to `2^bits` below 2^52.
    fn top_aligned(bits: u8) -> u64 {
        TOP & !((1 << bits) - 1)
    }

    fn round_trip(cap: Capability) {
        let words = encode_capability(&cap);
        assert_eq!(decode_capability(words), Ok(cap), "{cap:?} as {words:#x?}");
    }

    fn rejects(words: [u64; 4], word: usize, reason: CorruptReason) {
        assert_eq!(decode_capability(words), Err(CorruptSlot { word, reason }), "{words:#x?}");
    }

    /// Capabilities covering every variant and the edges of every field.
    fn edge_cases() -> Vec<Capability> {
        let mut caps = vec![
            Capability::Null,
            Capability::IrqControl,
            Capability::AsiControl,
            Capability::IoPortControl,
            Capability::IoPort { first: 0, last: 0 },
            Capability::IoPort { first: 0x40, last: 0x43 },
            Capability::IoPort { first: 0, last: u16::MAX },
        ];
        for size_bits in [MIN_UNTYPED_BITS, 12, 21, MAX_UNTYPED_BITS] {
            for device in [false, true] {
                let region = 1u64 << size_bits;
                for base in [0, region, top_aligned(size_bits)] {
                    for watermark in [0, 16, region / 2, region] {
                        caps.push(Capability::Untyped { base, size_bits, device, watermark });
                    }
                }
            }
        }
        for rights in all_rights() {
            for badge in [0, 1, 0x8000_0000_0000_0000, u64::MAX] {
                for object in [0, 0x10, top_aligned(ENDPOINT_SIZE_BITS)] {
                    caps.push(Capability::Endpoint { object, badge, rights });
                }
                for object in [0, 0x20, top_aligned(NOTIFICATION_SIZE_BITS)] {
                    caps.push(Capability::Notification { object, badge, rights });
                }
            }
        }
        for can_grant in [false, true] {
            for tcb in [0, 0x800, top_aligned(TCB_SIZE_BITS)] {
                caps.push(Capability::Reply { tcb, can_grant });
            }
        }
        for radix_bits in [MIN_CNODE_RADIX, 8, 32, MAX_CNODE_RADIX] {
            let object = top_aligned(radix_bits + SLOT_SIZE_BITS);
            for guard_bits in [0, 1, 64 - radix_bits - 1, 64 - radix_bits] {
                let max_guard = if guard_bits == 0 { 0 } else { u64::MAX >> (64 - guard_bits) };
                for guard in [0, max_guard] {
                    caps.push(Capability::CNode { object, radix_bits, guard, guard_bits });
                    caps.push(Capability::CNode { object: 0, radix_bits, guard, guard_bits });
                }
            }
        }
        // The largest guard: 63 bits of ones beside a one-bit radix.
        caps.push(Capability::CNode {
            object: 0x80,
            radix_bits: 1,
            guard: u64::MAX >> 1,
            guard_bits: 63,
        });
        for object in [0, 0x800, top_aligned(TCB_SIZE_BITS)] {
            caps.push(Capability::Tcb { object });
        }
        let mappings = [None, mapped(1, 0), mapped(u16::MAX, USER_TOP_PAGE), mapped(7, 0x40_0000)];
        for size in [FrameSize::Small4K, FrameSize::Large2M] {
            for rights in all_rights() {
                for device in [false, true] {
                    for mapping in mappings {
                        for base in [0, top_aligned(size.size_bits())] {
                            caps.push(Capability::Frame { base, size, rights, device, mapping });
                        }
                    }
                }
            }
        }
        for level in [PtLevel::Pdpt, PtLevel::Pd, PtLevel::Pt] {
            for mapping in mappings {
                for object in [0, 0x1000, top_aligned(PAGE_TABLE_SIZE_BITS)] {
                    caps.push(Capability::PageTable { object, level, mapping });
                }
            }
        }
        for asid_value in [None, Some(asid(1)), Some(asid(u16::MAX))] {
            for object in [0x2000, top_aligned(VSPACE_SIZE_BITS)] {
                caps.push(Capability::VSpace { object, asid: asid_value });
            }
        }
        for irq in [0, 1, 127, 255] {
            caps.push(Capability::IrqHandler { irq });
        }
        caps
    }

    #[test]
    fn every_variant_round_trips_at_its_edges() {
        let caps = edge_cases();
        for cap in &caps {
            round_trip(*cap);
        }
        // Distinct capabilities have distinct encodings.
        let mut by_encoding = std::collections::BTreeMap::new();
        for cap in caps {
            let earlier = *by_encoding.entry(encode_capability(&cap)).or_insert(cap);
            assert_eq!(earlier, cap);
        }
    }

    #[test]
    fn null_is_all_zeros_and_a_zeroed_slot_is_empty() {
        assert_eq!(encode_capability(&Capability::Null), [0; 4]);
        assert_eq!(decode_capability([0; 4]), Ok(Capability::Null));
        assert_eq!(encode_links(&MdbNode::empty()), [0; 2]);
        assert_eq!(decode_links([0; 2]), Ok(MdbNode::empty()));
        assert_eq!(encode_slot(&Capability::Null, &MdbNode::empty()), [0; SLOT_WORDS]);
        assert_eq!(decode_slot([0; SLOT_WORDS]), Ok((Capability::Null, MdbNode::empty())));
        // Nothing else encodes as all zeros.
        for cap in edge_cases().into_iter().filter(|cap| !cap.is_null()) {
            assert_ne!(encode_capability(&cap)[0], 0, "{cap:?}");
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let frame = Capability::Frame {
            base: 0x20_0000,
            size: FrameSize::Large2M,
            rights: Rights::READ | Rights::WRITE,
            device: true,
            mapping: mapped(0xabcd, 0x7fff_ffe0_0000),
        };
        assert_eq!(
            encode_capability(&frame),
            [0xabcd_0000_0503_1507, 0x20_0000, 0x7fff_ffe0_0000, 0]
        );
        let cnode = Capability::CNode { object: 0x4000, radix_bits: 8, guard: 0x5, guard_bits: 3 };
        assert_eq!(encode_capability(&cnode), [0x3_0000_0805, 0x4000, 5, 0]);
        let endpoint = Capability::Endpoint { object: 0x30, badge: u64::MAX, rights: Rights::ALL };
        assert_eq!(encode_capability(&endpoint), [0x0f_0002, 0x30, u64::MAX, 0]);
        assert_eq!(
            encode_capability(&Capability::IrqHandler { irq: 255 }),
            [0xff_0000_000b, 0, 0, 0]
        );
        let pt = Capability::PageTable { object: 0x5000, level: PtLevel::Pdpt, mapping: None };
        assert_eq!(encode_capability(&pt), [0x0308, 0x5000, 0, 0]);
        let node =
            MdbNode { prev: Some(0x1040), next: Some(0x2000), revocable: true, first_badged: true };
        assert_eq!(encode_links(&node), [0x1043, 0x2000]);
        let slot = encode_slot(&endpoint, &node);
        assert_eq!(slot[CAPABILITY_OFFSET..LINKS_OFFSET], encode_capability(&endpoint));
        assert_eq!(slot[LINKS_OFFSET..RESERVED_OFFSET], encode_links(&node));
        assert_eq!(slot[RESERVED_OFFSET..], [0, 0]);
        assert_eq!(decode_slot(slot), Ok((endpoint, node)));
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        fn range(&mut self, low: u8, high: u8) -> u8 {
            low + self.below(u64::from(high - low) + 1) as u8
        }

        fn bool(&mut self) -> bool {
            self.next() & 1 == 1
        }

        /// A value, often at an edge.
        fn word(&mut self) -> u64 {
            match self.below(8) {
                0 => 0,
                1 => u64::MAX,
                2 => 1,
                _ => self.next(),
            }
        }

        fn physical(&mut self, align_bits: u8) -> u64 {
            match self.below(8) {
                0 => 0,
                1 => top_aligned(align_bits),
                _ => self.next() & top_aligned(align_bits),
            }
        }

        fn rights(&mut self) -> Rights {
            Rights::from_bits(self.below(16) as u8).unwrap()
        }

        fn asid(&mut self) -> NonZeroU16 {
            match self.below(4) {
                0 => asid(1),
                1 => asid(u16::MAX),
                _ => asid((self.next() as u16).max(1)),
            }
        }

        fn mapping(&mut self) -> Option<Mapping> {
            self.bool().then(|| Mapping { asid: self.asid(), vaddr: self.next() & USER_TOP_PAGE })
        }

        fn level(&mut self) -> PtLevel {
            [PtLevel::Pdpt, PtLevel::Pd, PtLevel::Pt][self.below(3) as usize]
        }

        fn capability(&mut self) -> Capability {
            match self.below(15) {
                0 => Capability::Null,
                1 => {
                    let size_bits = self.range(MIN_UNTYPED_BITS, MAX_UNTYPED_BITS);
                    Capability::Untyped {
                        base: self.physical(size_bits),
                        size_bits,
                        device: self.bool(),
                        watermark: self.below((1 << size_bits) + 1),
                    }
                }
                2 => Capability::Endpoint {
                    object: self.physical(ENDPOINT_SIZE_BITS),
                    badge: self.word(),
                    rights: self.rights(),
                },
                3 => Capability::Notification {
                    object: self.physical(NOTIFICATION_SIZE_BITS),
                    badge: self.word(),
                    rights: self.rights(),
                },
                4 => {
                    Capability::Reply { tcb: self.physical(TCB_SIZE_BITS), can_grant: self.bool() }
                }
                5 => {
                    let radix_bits = self.range(MIN_CNODE_RADIX, MAX_CNODE_RADIX);
                    let guard_bits = self.range(0, 64 - radix_bits);
                    let guard = self.word().checked_shr(64 - u32::from(guard_bits)).unwrap_or(0);
                    Capability::CNode {
                        object: self.physical(radix_bits + SLOT_SIZE_BITS),
                        radix_bits,
                        guard,
                        guard_bits,
                    }
                }
                6 => Capability::Tcb { object: self.physical(TCB_SIZE_BITS) },
                7 => {
                    let size = if self.bool() { FrameSize::Small4K } else { FrameSize::Large2M };
                    Capability::Frame {
                        base: self.physical(size.size_bits()),
                        size,
                        rights: self.rights(),
                        device: self.bool(),
                        mapping: self.mapping(),
                    }
                }
                8 => Capability::PageTable {
                    object: self.physical(PAGE_TABLE_SIZE_BITS),
                    level: self.level(),
                    mapping: self.mapping(),
                },
                9 => Capability::VSpace {
                    object: self.physical(VSPACE_SIZE_BITS),
                    asid: self.bool().then(|| self.asid()),
                },
                10 => Capability::IrqControl,
                11 => Capability::IrqHandler { irq: self.next() as u8 },
                12 => Capability::AsiControl,
                13 => Capability::IoPortControl,
                _ => {
                    let (a, b) = (self.next() as u16, self.next() as u16);
                    Capability::IoPort { first: a.min(b), last: a.max(b) }
                }
            }
        }

        fn slot_id(&mut self) -> Option<u64> {
            self.bool().then(|| (self.next() & top_aligned(SLOT_SIZE_BITS)).max(64))
        }

        fn node(&mut self) -> MdbNode<u64> {
            MdbNode {
                prev: self.slot_id(),
                next: self.slot_id(),
                revocable: self.bool(),
                first_badged: self.bool(),
            }
        }

        /// Words that are often nearly valid: a valid encoding with a few bits flipped, or
        /// a valid tag with random fields, or plain random words.
        fn garbage<const N: usize>(&mut self, valid: [u64; N]) -> [u64; N] {
            let mut words = valid;
            match self.below(4) {
                0 => words = core::array::from_fn(|_| self.next()),
                1 => {
                    words = core::array::from_fn(|_| self.next() & self.next() & self.next());
                    words[0] = (words[0] & !0xff) | (valid[0] & 0xff);
                }
                _ => {
                    for _ in 0..self.range(1, 3) {
                        words[self.below(N as u64) as usize] ^= 1 << self.below(64);
                    }
                }
            }
            words
        }
    }

    #[test]
    fn random_capabilities_and_nodes_round_trip() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut seen = [0; 15];
        for _ in 0..20_000 {
            let cap = rng.capability();
            round_trip(cap);
            seen[(encode_capability(&cap)[0] & 0xff) as usize] += 1;
            let node = rng.node();
            assert_eq!(decode_links(encode_links(&node)), Ok(node), "{node:?}");
            let node = if cap.is_null() { MdbNode::empty() } else { node };
            assert_eq!(decode_slot(encode_slot(&cap, &node)), Ok((cap, node)));
        }
        assert!(seen.iter().all(|&count| count > 1000), "{seen:?}");
    }

    #[test]
    fn garbage_never_panics_and_never_decodes_ambiguously() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut caps_ok, mut links_ok, mut slots_ok) = (0, 0, 0);
        for _ in 0..100_000 {
            let valid = encode_capability(&rng.capability());
            let words = rng.garbage(valid);
            if let Ok(cap) = decode_capability(words) {
                assert_eq!(encode_capability(&cap), words, "{cap:?}");
                caps_ok += 1;
            }
            let valid = encode_links(&rng.node());
            let words = rng.garbage(valid);
            if let Ok(node) = decode_links(words) {
                assert_eq!(encode_links(&node), words, "{node:?}");
                links_ok += 1;
            }
            let cap = rng.capability();
            let node = if cap.is_null() { MdbNode::empty() } else { rng.node() };
            let words = rng.garbage(encode_slot(&cap, &node));
            if let Ok((cap, node)) = decode_slot(words) {
                assert_eq!(encode_slot(&cap, &node), words, "{cap:?} {node:?}");
                slots_ok += 1;
            }
        }
        // Both outcomes were exercised.
        for ok in [caps_ok, links_ok, slots_ok] {
            assert!(ok > 1000 && ok < 90_000, "{caps_ok} {links_ok} {slots_ok}");
        }
    }

    #[test]
    fn uniformly_random_words_never_panic() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..100_000 {
            let words: [u64; SLOT_WORDS] = core::array::from_fn(|_| rng.next());
            let cap_words = [words[0], words[1], words[2], words[3]];
            if let Ok(cap) = decode_capability(cap_words) {
                assert_eq!(encode_capability(&cap), cap_words);
            }
            if let Ok(node) = decode_links([words[4], words[5]]) {
                assert_eq!(encode_links(&node), [words[4], words[5]]);
            }
            if let Ok((cap, node)) = decode_slot(words) {
                assert_eq!(encode_slot(&cap, &node), words);
            }
        }
    }

    #[test]
    fn corrupt_capabilities_are_refused_with_a_reason() {
        let untyped = |word0: u64, base: u64, watermark: u64| [word0, base, watermark, 0];
        // Tags.
        rejects([15, 0, 0, 0], 0, UnknownTag);
        rejects([TAG_IO_PORT, 0x40 | 0x3f << 16, 0, 0], 1, SizeOutOfRange);
        rejects([0xff, 0, 0, 0], 0, UnknownTag);
        // Fields a variant does not use, and the reserved word.
        rejects([0, 1, 0, 0], 1, ReservedBits);
        rejects([0, 0, 0, 1], 3, ReservedBits);
        rejects([1 << 40, 0, 0, 0], 0, ReservedBits);
        rejects([TAG_TCB | DEVICE_BIT, 0x800, 0, 0], 0, ReservedBits);
        rejects([TAG_TCB, 0x800, 1, 0], 2, ReservedBits);
        rejects([TAG_IRQ_CONTROL | 5 << NUMBER_SHIFT, 0, 0, 0], 0, ReservedBits);
        rejects([TAG_ASI_CONTROL, 0, 0, 1 << 63], 3, ReservedBits);
        rejects([TAG_ENDPOINT | CAN_GRANT_BIT, 0x10, 0, 0], 0, ReservedBits);
        rejects([TAG_REPLY | 0xf << RIGHTS_SHIFT, 0x800, 0, 0], 0, ReservedBits);
        rejects([TAG_IRQ_HANDLER | 1 << 31, 0, 0, 0], 0, ReservedBits);
        // Untyped sizes, alignment, addresses and watermarks.
        rejects(untyped(TAG_UNTYPED | 3 << SIZE_SHIFT, 0, 0), 0, SizeOutOfRange);
        rejects(untyped(TAG_UNTYPED | 48 << SIZE_SHIFT, 0, 0), 0, SizeOutOfRange);
        rejects(untyped(TAG_UNTYPED | 12 << SIZE_SHIFT, 0x1800, 0), 1, Misaligned);
        rejects(untyped(TAG_UNTYPED | 12 << SIZE_SHIFT, 1 << 52, 0), 1, AddressOutOfRange);
        rejects(untyped(TAG_UNTYPED | 12 << SIZE_SHIFT, 0x1000, 0x1001), 2, WatermarkBeyondRegion);
        assert!(decode_capability(untyped(TAG_UNTYPED | 12 << SIZE_SHIFT, 0x1000, 0x1000)).is_ok());
        // Object alignment: endpoints are 16-byte aligned, notifications 32, TCBs 2 KiB.
        rejects([TAG_ENDPOINT, 0x28, 0, 0], 1, Misaligned);
        assert!(decode_capability([TAG_ENDPOINT, 0x10, 0, 0]).is_ok());
        rejects([TAG_NOTIFICATION, 0x10, 0, 0], 1, Misaligned);
        rejects([TAG_TCB, 0x400, 0, 0], 1, Misaligned);
        rejects([TAG_REPLY, 0x400, 0, 0], 1, Misaligned);
        rejects([TAG_VSPACE, 0x800, 0, 0], 1, Misaligned);
        rejects([TAG_TCB, !0x7ff, 0, 0], 1, AddressOutOfRange);
        // Rights.
        rejects([TAG_ENDPOINT | 0x10 << RIGHTS_SHIFT, 0x10, 0, 0], 0, UnknownRights);
        rejects(
            [TAG_FRAME | 12 << SIZE_SHIFT | 0x80 << RIGHTS_SHIFT, 0x1000, 0, 0],
            0,
            UnknownRights,
        );
        // Frame sizes and page-table levels.
        for size in [0, 11, 13, 20, 22, 30, 255] {
            rejects([TAG_FRAME | size << SIZE_SHIFT, 0, 0, 0], 0, UnknownFrameSize);
        }
        rejects([TAG_FRAME | 21 << SIZE_SHIFT, 0x1000, 0, 0], 1, Misaligned);
        for level in [0, 4, 255] {
            rejects([TAG_PAGE_TABLE | level << SIZE_SHIFT, 0x1000, 0, 0], 0, UnknownLevel);
        }
        // Mappings and ASIDs.
        let frame = TAG_FRAME | 12 << SIZE_SHIFT;
        rejects([frame | MAPPED_BIT, 0x1000, 0x1000, 0], 0, ZeroAsid);
        rejects([frame | 1 << ASID_SHIFT, 0x1000, 0, 0], 0, ReservedBits);
        rejects([frame, 0x1000, 0x1000, 0], 2, ReservedBits);
        let mapped_frame = frame | MAPPED_BIT | 1 << ASID_SHIFT;
        assert!(decode_capability([mapped_frame, 0x1000, USER_TOP_PAGE, 0]).is_ok());
        rejects([mapped_frame, 0x1000, 1 << 47, 0], 2, BadMappingAddress);
        rejects([mapped_frame, 0x1000, 0x1800, 0], 2, BadMappingAddress);
        rejects([mapped_frame, 0x1000, 0xffff_8000_0000_0000, 0], 2, BadMappingAddress);
        let pt = TAG_PAGE_TABLE | 1 << SIZE_SHIFT;
        rejects([pt | MAPPED_BIT, 0x1000, 0, 0], 0, ZeroAsid);
        rejects([pt | MAPPED_BIT | 3 << ASID_SHIFT, 0x1000, 0x10, 0], 2, BadMappingAddress);
        rejects([pt, 0x1000, 0x20_0000, 0], 2, ReservedBits);
        rejects([TAG_VSPACE | MAPPED_BIT, 0x2000, 0, 0], 0, ZeroAsid);
        rejects([TAG_VSPACE | 1 << ASID_SHIFT, 0x2000, 0, 0], 0, ReservedBits);
        rejects([TAG_VSPACE | MAPPED_BIT | 1 << ASID_SHIFT, 0x2000, 0x2000, 0], 2, ReservedBits);
        // CNode radix, alignment and guards.
        let cnode = |radix: u64, guard_bits: u64| {
            TAG_CNODE | radix << SIZE_SHIFT | guard_bits << NUMBER_SHIFT
        };
        rejects([cnode(0, 0), 0x1000, 0, 0], 0, SizeOutOfRange);
        rejects([cnode(42, 0), 0, 0, 0], 0, SizeOutOfRange);
        rejects([cnode(4, 0), 0x200, 0, 0], 1, Misaligned);
        rejects([cnode(4, 61), 0x400, 0, 0], 0, BadGuard);
        rejects([cnode(4, 255), 0x400, 0, 0], 0, BadGuard);
        rejects([cnode(4, 3), 0x400, 0b1000, 0], 2, BadGuard);
        rejects([cnode(4, 0), 0x400, 1, 0], 2, BadGuard);
        assert!(decode_capability([cnode(4, 60), 0x400, u64::MAX >> 4, 0]).is_ok());
    }

    #[test]
    fn capabilities_that_cannot_be_held_never_decode_to_others() {
        let invalid = [
            Capability::Untyped { base: 0, size_bits: 60, device: false, watermark: 0 },
            Capability::Untyped { base: 0x1000, size_bits: 13, device: false, watermark: 0 },
            Capability::Untyped { base: 0, size_bits: 12, device: false, watermark: 1 << 13 },
            Capability::Endpoint { object: 0x18, badge: 0, rights: Rights::ALL },
            Capability::Notification { object: 1 << 60, badge: 0, rights: Rights::ALL },
            Capability::CNode { object: 0, radix_bits: 0, guard: 0, guard_bits: 0 },
            Capability::CNode { object: 0, radix_bits: 4, guard: 8, guard_bits: 3 },
            Capability::CNode { object: 0, radix_bits: 4, guard: 0, guard_bits: 200 },
            Capability::Tcb { object: 0x10 },
            Capability::Frame {
                base: 0x1000,
                size: FrameSize::Small4K,
                rights: Rights::ALL,
                device: false,
                mapping: mapped(1, 1 << 47),
            },
            Capability::PageTable { object: 0x1000, level: PtLevel::Pt, mapping: mapped(1, 8) },
            Capability::VSpace { object: 0x1001, asid: None },
        ];
        for cap in invalid {
            assert!(decode_capability(encode_capability(&cap)).is_err(), "{cap:?}");
        }
    }

    #[test]
    fn links_carry_flags_and_refuse_what_is_not_a_slot() {
        for revocable in [false, true] {
            for first_badged in [false, true] {
                for prev in [None, Some(64), Some(TOP & !63)] {
                    for next in [None, Some(64), Some(TOP & !63)] {
                        let node = MdbNode { prev, next, revocable, first_badged };
                        assert_eq!(decode_links(encode_links(&node)), Ok(node));
                    }
                }
            }
        }
        // Flags without links: an original capability not yet in a list.
        assert_eq!(decode_links([3, 0]), Ok(MdbNode::original()));
        let refused = |words, word, reason| {
            assert_eq!(decode_links(words), Err(CorruptSlot { word, reason }), "{words:#x?}");
        };
        refused([0x1004, 0], 4, Misaligned);
        refused([0x1020, 0], 4, Misaligned);
        refused([0, 0x1001], 5, Misaligned);
        refused([0, 0x1002], 5, Misaligned);
        refused([0, 0x1010], 5, Misaligned);
        refused([1 << 52, 0], 4, AddressOutOfRange);
        refused([0, 1 << 63], 5, AddressOutOfRange);
        // Slot ids that are no slot addresses never decode to another node.
        for bad in [0, 1, 63, 0x1010, 1 << 52, u64::MAX] {
            let node =
                MdbNode { prev: Some(bad), next: None, revocable: true, first_badged: false };
            assert!(decode_links(encode_links(&node)).is_err(), "{bad:#x}");
            let node =
                MdbNode { prev: None, next: Some(bad), revocable: false, first_badged: true };
            assert!(decode_links(encode_links(&node)).is_err(), "{bad:#x}");
        }
    }

    #[test]
    fn corrupt_slots_are_refused() {
        let tcb = Capability::Tcb { object: 0x800 };
        let node = MdbNode { prev: Some(0x40), next: None, revocable: true, first_badged: false };
        let good = encode_slot(&tcb, &node);
        for word in RESERVED_OFFSET..SLOT_WORDS {
            let mut words = good;
            words[word] = 1;
            assert_eq!(decode_slot(words), Err(CorruptSlot { word, reason: ReservedBits }));
        }
        let mut words = good;
        words[1] = 0x801;
        assert_eq!(decode_slot(words), Err(CorruptSlot { word: 1, reason: Misaligned }));
        let mut words = good;
        words[5] = 0x41;
        assert_eq!(decode_slot(words), Err(CorruptSlot { word: 5, reason: Misaligned }));
        let linked_empty = encode_slot(&Capability::Null, &node);
        assert_eq!(
            decode_slot(linked_empty),
            Err(CorruptSlot { word: LINKS_OFFSET, reason: EmptySlotLinked })
        );
    }
}
