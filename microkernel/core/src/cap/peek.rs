//! Single fields of a capability read straight from its slot words, for the IPC fastpath
//! and the slots every message reads (a thread's IPC buffer).
//!
//! [`decode_capability`](super::encoding::decode_capability) checks every field of every
//! variant, which costs more than a whole fastpath IPC may. These readers look only at
//! the tag and the fields one variant needs, and trust the rest: they are for words the
//! kernel wrote itself with [`encode_capability`](super::encoding::encode_capability),
//! and each agrees with the full decode on every such encoding (tested below).

use super::encoding::{
    CAN_GRANT_BIT, CAPABILITY_WORDS, NUMBER_SHIFT, RIGHTS_SHIFT, SIZE_SHIFT, TAG_CNODE,
    TAG_ENDPOINT, TAG_FRAME, TAG_NULL, TAG_REPLY, TAG_SHIFT, TAG_VSPACE, byte,
};
use super::rights::Rights;

/// The words of one capability, as a slot holds them.
pub type CapabilityWords = [u64; CAPABILITY_WORDS];

fn tag(words: &CapabilityWords) -> u64 {
    u64::from(byte(words[0], TAG_SHIFT))
}

/// An endpoint capability's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointFields {
    pub object: u64,
    pub badge: u64,
    pub rights: Rights,
}

/// The fields of an endpoint capability, or `None` for any other kind.
#[inline]
pub fn endpoint(words: &CapabilityWords) -> Option<EndpointFields> {
    (tag(words) == TAG_ENDPOINT).then(|| EndpointFields {
        object: words[1],
        badge: words[2],
        rights: Rights::from_bits_truncate(byte(words[0], RIGHTS_SHIFT)),
    })
}

/// A CNode capability's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CNodeFields {
    pub object: u64,
    pub radix_bits: u8,
    pub guard: u64,
    pub guard_bits: u8,
}

/// The fields of a CNode capability, or `None` for any other kind.
#[inline]
pub fn cnode(words: &CapabilityWords) -> Option<CNodeFields> {
    (tag(words) == TAG_CNODE).then(|| CNodeFields {
        object: words[1],
        radix_bits: byte(words[0], SIZE_SHIFT),
        guard: words[2],
        guard_bits: byte(words[0], NUMBER_SHIFT),
    })
}

/// A CNode capability whose guard and radix together take all 64 bits of a capability
/// pointer: one level resolves any pointer. What the IPC fastpath needs of a CSpace root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatCNode {
    pub object: u64,
    pub radix_bits: u8,
    pub guard: u64,
}

/// The [`FlatCNode`] in `words`, if they hold a CNode capability resolving all 64 bits.
/// The radix and guard sizes are adjacent-enough bytes of word 0 that the low byte of one
/// sum of shifted words is their sum (both are at most 64, so it cannot carry).
#[inline(always)]
pub fn flat_cnode(words: &CapabilityWords) -> Option<FlatCNode> {
    let sizes = (words[0] >> SIZE_SHIFT).wrapping_add(words[0] >> NUMBER_SHIFT) as u8;
    (tag(words) == TAG_CNODE && u32::from(sizes) == u64::BITS).then(|| FlatCNode {
        object: words[1],
        radix_bits: byte(words[0], SIZE_SHIFT),
        guard: words[2],
    })
}

/// A reply capability's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyFields {
    pub tcb: u64,
    pub can_grant: bool,
}

/// The fields of a reply capability, or `None` for any other kind.
#[inline]
pub fn reply(words: &CapabilityWords) -> Option<ReplyFields> {
    (tag(words) == TAG_REPLY)
        .then(|| ReplyFields { tcb: words[1], can_grant: words[0] & CAN_GRANT_BIT != 0 })
}

/// The TCB a reply capability answers, or `None` for any other kind.
#[inline]
pub fn reply_target(words: &CapabilityWords) -> Option<u64> {
    (tag(words) == TAG_REPLY).then_some(words[1])
}

/// The top-level table of a VSpace capability, or `None` for any other kind.
#[inline]
pub fn vspace_root(words: &CapabilityWords) -> Option<u64> {
    (tag(words) == TAG_VSPACE).then_some(words[1])
}

/// Where a frame is: its base address and the size of its page in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameFields {
    pub base: u64,
    pub size_bits: u8,
}

/// The base and page size of a frame capability, or `None` for any other kind: what a
/// thread's IPC buffer slot is read for on every message that does not fit in registers.
#[inline]
pub fn frame(words: &CapabilityWords) -> Option<FrameFields> {
    (tag(words) == TAG_FRAME)
        .then(|| FrameFields { base: words[1], size_bits: byte(words[0], SIZE_SHIFT) })
}

/// Whether the words hold no capability.
#[inline]
pub fn is_null(words: &CapabilityWords) -> bool {
    tag(words) == TAG_NULL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::encoding::encode_capability;
    use crate::cap::{Asid, Capability, FrameSize, Mapping};
    use core::num::NonZeroU16;

    fn samples() -> [Capability; 16] {
        [
            Capability::Null,
            Capability::Endpoint { object: 0x1_0000, badge: 0, rights: Rights::ALL },
            Capability::Endpoint { object: 0x2_0040, badge: u64::MAX, rights: Rights::READ },
            Capability::Notification { object: 0x3_0000, badge: 7, rights: Rights::WRITE },
            Capability::Reply { tcb: 0x4_0000, can_grant: true },
            Capability::Reply { tcb: 0x4_0800, can_grant: false },
            Capability::CNode { object: 0x8_0000, radix_bits: 12, guard: 0, guard_bits: 52 },
            Capability::CNode { object: 0x9_0000, radix_bits: 8, guard: 0x2a, guard_bits: 6 },
            Capability::CNode { object: 0x9_0000, radix_bits: 8, guard: 0x2a, guard_bits: 56 },
            Capability::CNode { object: 0xc_0000, radix_bits: 1, guard: 1 << 62, guard_bits: 63 },
            Capability::CNode { object: 0xd_0000, radix_bits: 32, guard: 0xffff, guard_bits: 32 },
            Capability::CNode { object: 0xe_0000, radix_bits: 12, guard: 0, guard_bits: 51 },
            Capability::Tcb { object: 0xa_0000 },
            Capability::VSpace { object: 0xb_0000, asid: Asid::new(3) },
            Capability::Frame {
                base: 0x20_0000,
                size: FrameSize::Large2M,
                rights: Rights::READ,
                device: true,
                mapping: Some(Mapping { asid: NonZeroU16::MIN, vaddr: 0x40_0000 }),
            },
            Capability::Frame {
                base: 0xf_f000,
                size: FrameSize::Small4K,
                rights: Rights::ALL,
                device: false,
                mapping: None,
            },
        ]
    }

    #[test]
    fn every_reader_agrees_with_the_full_decode() {
        for cap in samples() {
            let words = encode_capability(&cap);
            let want_endpoint = match cap {
                Capability::Endpoint { object, badge, rights } => {
                    Some(EndpointFields { object, badge, rights })
                }
                _ => None,
            };
            assert_eq!(endpoint(&words), want_endpoint, "{cap:?}");
            let want_cnode = match cap {
                Capability::CNode { object, radix_bits, guard, guard_bits } => {
                    Some(CNodeFields { object, radix_bits, guard, guard_bits })
                }
                _ => None,
            };
            assert_eq!(cnode(&words), want_cnode, "{cap:?}");
            let want_flat = want_cnode
                .filter(|fields| u32::from(fields.guard_bits) + u32::from(fields.radix_bits) == 64)
                .map(|fields| FlatCNode {
                    object: fields.object,
                    radix_bits: fields.radix_bits,
                    guard: fields.guard,
                });
            assert_eq!(flat_cnode(&words), want_flat, "{cap:?}");
            let want_reply = match cap {
                Capability::Reply { tcb, .. } => Some(tcb),
                _ => None,
            };
            assert_eq!(reply_target(&words), want_reply, "{cap:?}");
            let want_fields = match cap {
                Capability::Reply { tcb, can_grant } => Some(ReplyFields { tcb, can_grant }),
                _ => None,
            };
            assert_eq!(reply(&words), want_fields, "{cap:?}");
            let want_vspace = match cap {
                Capability::VSpace { object, .. } => Some(object),
                _ => None,
            };
            assert_eq!(vspace_root(&words), want_vspace, "{cap:?}");
            let want_frame = match cap {
                Capability::Frame { base, size, .. } => {
                    Some(FrameFields { base, size_bits: size.size_bits() })
                }
                _ => None,
            };
            assert_eq!(frame(&words), want_frame, "{cap:?}");
            assert_eq!(is_null(&words), cap.is_null(), "{cap:?}");
        }
    }
}
