//! Capability values: what a slot holds, and the rules for deriving one from another.

use core::num::NonZeroU16;

use super::error::CapError;
use super::object::{FrameSize, ObjectType, PtLevel};
use super::rights::Rights;

/// An address-space identifier. 0 is never an ASID (as in seL4, where it means "none"),
/// which lets `Option<Asid>` and `Option<Mapping>` take no room for the `None`.
pub type Asid = NonZeroU16;

/// Where a frame or page-table capability is mapped: the address space and the virtual
/// address. Each capability records its own mapping so that deleting it can undo exactly
/// that mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    pub asid: Asid,
    pub vaddr: u64,
}

/// A capability: an unforgeable reference to an object with the rights to use it.
///
/// Object addresses are physical. The value is `Copy` and 32 bytes ([`CAPABILITY_SIZE`]):
/// the largest variant, `Frame`, holds its base, a [`Mapping`] (a word, an ASID and
/// padding) and three bytes beside the tag. A slot (64 bytes) has room for it and the
/// 16 bytes of derivation-tree links. Flattening the mapping into the variant would save
/// 8 bytes but lose the `Option` that keeps "mapped" and its address together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// An empty slot.
    Null,
    /// The region `[base, base + 2^size_bits)`; `watermark` bytes from `base` are taken by
    /// objects retyped from it (or were, until its children were revoked).
    Untyped {
        base: u64,
        size_bits: u8,
        device: bool,
        watermark: u64,
    },
    /// Badge 0 means unbadged: the original capability that badged ones are minted from.
    Endpoint {
        object: u64,
        badge: u64,
        rights: Rights,
    },
    Notification {
        object: u64,
        badge: u64,
        rights: Rights,
    },
    /// The one-shot right to reply to the thread at `tcb`, which is blocked in a Call.
    ///
    /// seL4's classic implicit reply: the kernel places it in the receiver's TCB (its
    /// "caller" slot) when a Call is received, and consumes it on the reply. It is never
    /// copied (the caller expects one reply), only moved out (seL4's `SaveCaller`).
    /// `can_grant` is the grant right of the endpoint the Call came through.
    Reply {
        tcb: u64,
        can_grant: bool,
    },
    /// A CNode of `2^radix_bits` slots; a lookup through it must match `guard` in the
    /// `guard_bits` bits before the slot index (see [`cspace`](super::cspace)).
    CNode {
        object: u64,
        radix_bits: u8,
        guard: u64,
        guard_bits: u8,
    },
    Tcb {
        object: u64,
    },
    Frame {
        base: u64,
        size: FrameSize,
        rights: Rights,
        device: bool,
        mapping: Option<Mapping>,
    },
    PageTable {
        object: u64,
        level: PtLevel,
        mapping: Option<Mapping>,
    },
    /// An address space (its PML4), usable for mappings once it has an ASID.
    VSpace {
        object: u64,
        asid: Option<Asid>,
    },
    /// The authority to create IRQ handler capabilities; one exists.
    IrqControl,
    IrqHandler {
        irq: u8,
    },
    /// The authority to change the sensitivity of untyped memory (ASI); one exists.
    AsiControl,
    /// The authority to create I/O port capabilities; one exists.
    IoPortControl,
    /// The right to read and write the I/O ports `first..=last`.
    IoPort {
        first: u16,
        last: u16,
    },
}

/// The size of a [`Capability`] in bytes.
pub const CAPABILITY_SIZE: usize = size_of::<Capability>();
const _: () = assert!(CAPABILITY_SIZE <= 32, "a capability and its links must fit in a slot");

/// What mint or mutate may set besides rights (seL4's "cap data").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapData {
    None,
    /// A badge for an unbadged endpoint or notification capability; not 0.
    Badge(u64),
    /// A CNode capability's guard.
    Guard {
        guard: u64,
        guard_bits: u8,
    },
}

/// A naturally aligned range of physical memory: `[base, base + 2^size_bits)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size_bits: u8,
}

impl Region {
    // u128: a region may end at 2^64.
    const fn end(self) -> u128 {
        self.base as u128 + (1u128 << self.size_bits)
    }

    pub const fn contains(self, other: Region) -> bool {
        self.base <= other.base && other.end() <= self.end()
    }

    pub const fn overlaps(self, other: Region) -> bool {
        (self.base as u128) < other.end() && (other.base as u128) < self.end()
    }
}

impl Capability {
    pub const fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The kind of object the capability refers to, for capabilities to memory objects.
    pub const fn object_type(&self) -> Option<ObjectType> {
        Some(match self {
            Self::Untyped { .. } => ObjectType::Untyped,
            Self::Endpoint { .. } => ObjectType::Endpoint,
            Self::Notification { .. } => ObjectType::Notification,
            Self::CNode { .. } => ObjectType::CNode,
            Self::Tcb { .. } => ObjectType::Tcb,
            Self::Frame { size, .. } => ObjectType::Frame(*size),
            Self::PageTable { level, .. } => ObjectType::PageTable(*level),
            Self::VSpace { .. } => ObjectType::VSpace,
            Self::Null
            | Self::Reply { .. }
            | Self::IrqControl
            | Self::IrqHandler { .. }
            | Self::AsiControl
            | Self::IoPortControl
            | Self::IoPort { .. } => return None,
        })
    }

    /// The physical address of the object; for a reply capability, the caller's TCB.
    pub const fn object_address(&self) -> Option<u64> {
        match self {
            Self::Untyped { base, .. } | Self::Frame { base, .. } => Some(*base),
            Self::Endpoint { object, .. }
            | Self::Notification { object, .. }
            | Self::CNode { object, .. }
            | Self::Tcb { object }
            | Self::PageTable { object, .. }
            | Self::VSpace { object, .. } => Some(*object),
            Self::Reply { tcb, .. } => Some(*tcb),
            Self::Null
            | Self::IrqControl
            | Self::IrqHandler { .. }
            | Self::AsiControl
            | Self::IoPortControl
            | Self::IoPort { .. } => None,
        }
    }

    /// The memory the object occupies, for capabilities to memory objects.
    pub const fn region(&self) -> Option<Region> {
        let user_size_bits = match self {
            Self::Untyped { size_bits, .. } => *size_bits,
            Self::CNode { radix_bits, .. } => *radix_bits,
            _ => 0,
        };
        match (self.object_type(), self.object_address()) {
            (Some(object_type), Some(base)) => match object_type.size_bits(user_size_bits) {
                Some(size_bits) => Some(Region { base, size_bits }),
                None => None,
            },
            _ => None,
        }
    }

    /// The badge of an endpoint or notification capability (0: unbadged).
    pub const fn badge(&self) -> Option<u64> {
        match self {
            Self::Endpoint { badge, .. } | Self::Notification { badge, .. } => Some(*badge),
            _ => None,
        }
    }

    /// seL4's `sameRegionAs`: whether `other` could be derived from `self`. An untyped
    /// capability covers everything inside its region, a frame every frame inside it, IRQ
    /// control every IRQ handler; anything else only capabilities to its own object.
    pub fn same_region_as(&self, other: &Capability) -> bool {
        match (*self, *other) {
            (Self::Untyped { .. }, _) | (Self::Frame { .. }, Self::Frame { .. }) => {
                match (self.region(), other.region()) {
                    (Some(outer), Some(inner)) => outer.contains(inner),
                    _ => false,
                }
            }
            (Self::Endpoint { object: a, .. }, Self::Endpoint { object: b, .. })
            | (Self::Notification { object: a, .. }, Self::Notification { object: b, .. })
            | (Self::Reply { tcb: a, .. }, Self::Reply { tcb: b, .. })
            | (Self::Tcb { object: a }, Self::Tcb { object: b })
            | (Self::VSpace { object: a, .. }, Self::VSpace { object: b, .. }) => a == b,
            (
                Self::CNode { object: a, radix_bits: radix_a, .. },
                Self::CNode { object: b, radix_bits: radix_b, .. },
            ) => a == b && radix_a == radix_b,
            (
                Self::PageTable { object: a, level: level_a, .. },
                Self::PageTable { object: b, level: level_b, .. },
            ) => a == b && level_a == level_b,
            (Self::IrqControl, Self::IrqControl | Self::IrqHandler { .. })
            | (Self::AsiControl, Self::AsiControl)
            | (Self::IoPortControl, Self::IoPortControl | Self::IoPort { .. }) => true,
            (Self::IrqHandler { irq: a }, Self::IrqHandler { irq: b }) => a == b,
            (Self::IoPort { first: a, last: b }, Self::IoPort { first: c, last: d }) => {
                a == c && b == d
            }
            _ => false,
        }
    }

    /// seL4's `sameObjectAs`: whether both capabilities refer to the very same object, so
    /// that deleting one of them does not end the object's life. Unlike
    /// [`same_region_as`](Self::same_region_as), containment is not enough: frames and
    /// untyped regions must have the same base and size, and IRQ control is not the same
    /// object as an IRQ handler.
    ///
    /// seL4 says an untyped capability is never the same object as another; here copies of
    /// an untyped capability are, so that deleting one reports "final" only for the last —
    /// nothing in this kernel relies on untyped deletions always being final.
    pub fn is_same_object(&self, other: &Capability) -> bool {
        match (*self, *other) {
            (Self::Untyped { .. }, Self::Untyped { .. })
            | (Self::Frame { .. }, Self::Frame { .. }) => {
                self.region().is_some() && self.region() == other.region()
            }
            (Self::Untyped { .. } | Self::Frame { .. }, _)
            | (Self::IrqControl, Self::IrqHandler { .. })
            | (Self::IoPortControl, Self::IoPort { .. }) => false,
            _ => self.same_region_as(other),
        }
    }

    /// The capability a copy receives (seL4's `deriveCap`, except the untyped rule, which
    /// needs the derivation tree: see [`ops::copy`](super::ops::copy)). A frame copy is
    /// unmapped: a mapping belongs to the one capability that made it.
    pub fn derived(&self) -> Result<Capability, CapError> {
        match *self {
            Self::Null | Self::Reply { .. } => Err(CapError::NotDerivable),
            Self::PageTable { mapping: None, .. } | Self::VSpace { asid: None, .. } => {
                Err(CapError::NotDerivable)
            }
            Self::Frame { base, size, rights, device, .. } => {
                Ok(Self::Frame { base, size, rights, device, mapping: None })
            }
            cap => Ok(cap),
        }
    }

    /// The capability with its rights reduced to those also in `mask`. Capabilities
    /// without rights are unchanged.
    pub fn masked(&self, mask: Rights) -> Capability {
        let mut cap = *self;
        match &mut cap {
            Self::Endpoint { rights, .. }
            | Self::Notification { rights, .. }
            | Self::Frame { rights, .. } => *rights = *rights & mask,
            Self::Reply { can_grant, .. } => *can_grant &= mask.contains(Rights::GRANT),
            _ => {}
        }
        cap
    }

    /// What [`ops::mint`](super::ops::mint) puts in the destination: a derived copy with
    /// rights masked and `data` applied.
    pub fn minted(&self, rights: Rights, data: CapData) -> Result<Capability, CapError> {
        self.derived()?.masked(rights).with_data(data, false)
    }

    /// What [`ops::mutate`](super::ops::mutate) puts in the destination: the same
    /// capability (mapping included) with rights masked and `data` applied.
    pub fn mutated(&self, rights: Rights, data: CapData) -> Result<Capability, CapError> {
        if let Self::Frame { rights: current, mapping: Some(_), .. } = self
            && !rights.contains(*current)
        {
            return Err(CapError::MappedFrameRights);
        }
        self.masked(rights).with_data(data, true)
    }

    fn with_data(self, data: CapData, in_place: bool) -> Result<Capability, CapError> {
        let mut cap = self;
        match (data, &mut cap) {
            (CapData::None, _) => {}
            (
                CapData::Badge(new),
                Self::Endpoint { badge, .. } | Self::Notification { badge, .. },
            ) => {
                if in_place {
                    return Err(CapError::CannotBadgeInPlace);
                }
                if new == 0 {
                    return Err(CapError::ZeroBadge);
                }
                if *badge != 0 {
                    return Err(CapError::AlreadyBadged);
                }
                *badge = new;
            }
            (CapData::Badge(_), _) => return Err(CapError::NotBadgeable),
            (
                CapData::Guard { guard: new, guard_bits: new_bits },
                Self::CNode { radix_bits, guard, guard_bits, .. },
            ) => {
                let fits = new_bits >= 64 || new >> new_bits == 0;
                if !fits || u32::from(new_bits) + u32::from(*radix_bits) > 64 {
                    return Err(CapError::InvalidGuard);
                }
                (*guard, *guard_bits) = (new, new_bits);
            }
            (CapData::Guard { .. }, _) => return Err(CapError::NotACNode),
        }
        Ok(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASID: Asid = Asid::new(3).unwrap();
    const MAPPED: Option<Mapping> = Some(Mapping { asid: ASID, vaddr: 0x40_0000 });

    fn untyped(base: u64, size_bits: u8) -> Capability {
        Capability::Untyped { base, size_bits, device: false, watermark: 0 }
    }

    fn endpoint(object: u64, badge: u64) -> Capability {
        Capability::Endpoint { object, badge, rights: Rights::ALL }
    }

    fn frame(base: u64, size: FrameSize, mapping: Option<Mapping>) -> Capability {
        Capability::Frame { base, size, rights: Rights::ALL, device: false, mapping }
    }

    fn cnode(radix_bits: u8) -> Capability {
        Capability::CNode { object: 0x8000, radix_bits, guard: 0, guard_bits: 0 }
    }

    #[test]
    fn a_capability_is_32_bytes_and_empty_options_cost_nothing() {
        assert_eq!(CAPABILITY_SIZE, 32);
        assert_eq!(size_of::<Option<Mapping>>(), size_of::<Mapping>());
        assert_eq!(size_of::<Option<Asid>>(), 2);
    }

    #[test]
    fn object_types_addresses_and_regions() {
        let cases = [
            (untyped(0x10000, 16), Some(ObjectType::Untyped), Some(0x10000), Some(16)),
            (endpoint(0x20, 5), Some(ObjectType::Endpoint), Some(0x20), Some(4)),
            (cnode(3), Some(ObjectType::CNode), Some(0x8000), Some(9)),
            (Capability::Tcb { object: 0x800 }, Some(ObjectType::Tcb), Some(0x800), Some(11)),
            (
                frame(0x20_0000, FrameSize::Large2M, None),
                Some(ObjectType::Frame(FrameSize::Large2M)),
                Some(0x20_0000),
                Some(21),
            ),
            (
                Capability::PageTable { object: 0x3000, level: PtLevel::Pd, mapping: None },
                Some(ObjectType::PageTable(PtLevel::Pd)),
                Some(0x3000),
                Some(12),
            ),
            (Capability::Reply { tcb: 0x800, can_grant: true }, None, Some(0x800), None),
            (Capability::IrqHandler { irq: 4 }, None, None, None),
            (Capability::IrqControl, None, None, None),
            (Capability::AsiControl, None, None, None),
            (Capability::Null, None, None, None),
        ];
        for (cap, object_type, address, size_bits) in cases {
            assert_eq!(cap.object_type(), object_type, "{cap:?}");
            assert_eq!(cap.object_address(), address, "{cap:?}");
            assert_eq!(cap.region().map(|region| region.size_bits), size_bits, "{cap:?}");
        }
    }

    #[test]
    fn regions_contain_and_overlap() {
        let outer = Region { base: 0x1000, size_bits: 12 };
        assert!(outer.contains(Region { base: 0x1ff0, size_bits: 4 }));
        assert!(!outer.contains(Region { base: 0x1ff0, size_bits: 5 }));
        assert!(outer.overlaps(Region { base: 0x1ff0, size_bits: 5 }));
        assert!(!outer.overlaps(Region { base: 0x2000, size_bits: 4 }));
        let top = Region { base: 1 << 63, size_bits: 63 };
        assert!(top.contains(Region { base: u64::MAX - 15, size_bits: 4 }));
    }

    #[test]
    fn untyped_covers_what_lies_inside_it() {
        let region = untyped(0x10000, 16);
        assert!(region.same_region_as(&Capability::Tcb { object: 0x1f800 }));
        assert!(region.same_region_as(&untyped(0x18000, 15)));
        assert!(region.same_region_as(&region));
        assert!(!region.same_region_as(&untyped(0x18000, 16)));
        assert!(!region.same_region_as(&Capability::Tcb { object: 0x20000 }));
        assert!(!region.same_region_as(&Capability::Reply { tcb: 0x10000, can_grant: false }));
        assert!(!region.same_region_as(&Capability::IrqControl));
        assert!(!region.same_region_as(&Capability::Null));
        assert!(!Capability::Tcb { object: 0x10000 }.same_region_as(&region));
    }

    #[test]
    fn other_capabilities_cover_their_own_object() {
        let large = frame(0x20_0000, FrameSize::Large2M, None);
        assert!(large.same_region_as(&frame(0x20_1000, FrameSize::Small4K, None)));
        assert!(!frame(0x20_1000, FrameSize::Small4K, None).same_region_as(&large));
        assert!(endpoint(0x20, 0).same_region_as(&endpoint(0x20, 7)));
        assert!(!endpoint(0x20, 0).same_region_as(&endpoint(0x30, 0)));
        let notification = Capability::Notification { object: 0x20, badge: 0, rights: Rights::ALL };
        assert!(!endpoint(0x20, 0).same_region_as(&notification));
        assert!(cnode(3).same_region_as(&cnode(3)));
        assert!(!cnode(3).same_region_as(&cnode(4)));
        let pd = Capability::PageTable { object: 0x3000, level: PtLevel::Pd, mapping: None };
        let pt = Capability::PageTable { object: 0x3000, level: PtLevel::Pt, mapping: None };
        assert!(pd.same_region_as(&pd) && !pd.same_region_as(&pt));
        assert!(Capability::IrqControl.same_region_as(&Capability::IrqHandler { irq: 9 }));
        assert!(Capability::IrqControl.same_region_as(&Capability::IrqControl));
        assert!(!Capability::IrqHandler { irq: 9 }.same_region_as(&Capability::IrqControl));
        assert!(
            !Capability::IrqHandler { irq: 9 }.same_region_as(&Capability::IrqHandler { irq: 8 })
        );
        assert!(Capability::AsiControl.same_region_as(&Capability::AsiControl));
        assert!(!Capability::Null.same_region_as(&Capability::Null));
    }

    #[test]
    fn same_object_needs_the_same_object_not_containment() {
        assert!(untyped(0x10000, 16).is_same_object(&untyped(0x10000, 16)));
        assert!(!untyped(0x10000, 16).is_same_object(&untyped(0x10000, 15)));
        assert!(!untyped(0x10000, 16).is_same_object(&Capability::Tcb { object: 0x10000 }));
        let small = frame(0x20_0000, FrameSize::Small4K, None);
        assert!(small.is_same_object(&frame(0x20_0000, FrameSize::Small4K, MAPPED)));
        assert!(!small.is_same_object(&frame(0x20_0000, FrameSize::Large2M, None)));
        assert!(!frame(0x20_0000, FrameSize::Large2M, None).is_same_object(&small));
        assert!(endpoint(0x20, 0).is_same_object(&endpoint(0x20, 9)));
        assert!(!Capability::IrqControl.is_same_object(&Capability::IrqHandler { irq: 1 }));
        assert!(Capability::IrqControl.is_same_object(&Capability::IrqControl));
        assert!(
            Capability::IrqHandler { irq: 1 }.is_same_object(&Capability::IrqHandler { irq: 1 })
        );
        let reply = Capability::Reply { tcb: 0x800, can_grant: false };
        assert!(!reply.is_same_object(&Capability::Tcb { object: 0x800 }));
        assert!(!Capability::Null.is_same_object(&Capability::Null));
    }

    #[test]
    fn derivation_unmaps_frames_and_refuses_what_cannot_be_copied() {
        assert_eq!(
            frame(0x1000, FrameSize::Small4K, MAPPED).derived(),
            Ok(frame(0x1000, FrameSize::Small4K, None))
        );
        let mapped_pt =
            Capability::PageTable { object: 0x3000, level: PtLevel::Pt, mapping: MAPPED };
        assert_eq!(mapped_pt.derived(), Ok(mapped_pt));
        let with_asid = Capability::VSpace { object: 0x4000, asid: Some(ASID) };
        assert_eq!(with_asid.derived(), Ok(with_asid));
        for cap in [
            Capability::Null,
            Capability::Reply { tcb: 0x800, can_grant: true },
            Capability::PageTable { object: 0x4000, level: PtLevel::Pt, mapping: None },
            Capability::VSpace { object: 0x4000, asid: None },
        ] {
            assert_eq!(cap.derived(), Err(CapError::NotDerivable), "{cap:?}");
        }
        for cap in [Capability::IrqControl, Capability::AsiControl, cnode(2), endpoint(0x20, 3)] {
            assert_eq!(cap.derived(), Ok(cap));
        }
    }

    #[test]
    fn masking_only_removes_rights() {
        let read = Capability::Endpoint { object: 0x20, badge: 0, rights: Rights::READ };
        assert_eq!(read.masked(Rights::ALL), read);
        assert_eq!(
            read.masked(Rights::WRITE),
            Capability::Endpoint { object: 0x20, badge: 0, rights: Rights::NONE }
        );
        let reply = Capability::Reply { tcb: 0x800, can_grant: true };
        assert_eq!(reply.masked(Rights::READ), Capability::Reply { tcb: 0x800, can_grant: false });
        assert_eq!(reply.masked(Rights::GRANT), reply);
        assert_eq!(cnode(2).masked(Rights::NONE), cnode(2));
    }

    #[test]
    fn mint_sets_a_badge_once_and_only_on_endpoints_and_notifications() {
        assert_eq!(endpoint(0x20, 0).minted(Rights::ALL, CapData::Badge(7)), Ok(endpoint(0x20, 7)));
        let notification = Capability::Notification { object: 0x40, badge: 0, rights: Rights::ALL };
        assert_eq!(
            notification.minted(Rights::READ, CapData::Badge(1)),
            Ok(Capability::Notification { object: 0x40, badge: 1, rights: Rights::READ })
        );
        assert_eq!(
            endpoint(0x20, 7).minted(Rights::ALL, CapData::Badge(8)),
            Err(CapError::AlreadyBadged)
        );
        assert_eq!(
            endpoint(0x20, 0).minted(Rights::ALL, CapData::Badge(0)),
            Err(CapError::ZeroBadge)
        );
        assert_eq!(cnode(2).minted(Rights::ALL, CapData::Badge(1)), Err(CapError::NotBadgeable));
        assert_eq!(
            endpoint(0x20, 7).minted(Rights::READ, CapData::None),
            Ok(Capability::Endpoint { object: 0x20, badge: 7, rights: Rights::READ })
        );
    }

    #[test]
    fn guards_fit_their_bits_and_only_cnodes_have_them() {
        let guarded = cnode(4).minted(Rights::ALL, CapData::Guard { guard: 0b101, guard_bits: 3 });
        assert_eq!(
            guarded,
            Ok(Capability::CNode { object: 0x8000, radix_bits: 4, guard: 0b101, guard_bits: 3 })
        );
        let full = CapData::Guard { guard: u64::MAX >> 4, guard_bits: 60 };
        assert!(cnode(4).minted(Rights::ALL, full).is_ok());
        for bad in [
            CapData::Guard { guard: 0b1000, guard_bits: 3 },
            CapData::Guard { guard: 0, guard_bits: 61 },
            CapData::Guard { guard: 0, guard_bits: 200 },
        ] {
            assert_eq!(cnode(4).minted(Rights::ALL, bad), Err(CapError::InvalidGuard), "{bad:?}");
        }
        assert_eq!(
            endpoint(0x20, 0).minted(Rights::ALL, CapData::Guard { guard: 0, guard_bits: 1 }),
            Err(CapError::NotACNode)
        );
    }

    #[test]
    fn mutate_keeps_mappings_and_never_badges() {
        let mapped = frame(0x1000, FrameSize::Small4K, MAPPED);
        assert_eq!(mapped.mutated(Rights::ALL, CapData::None), Ok(mapped));
        assert_eq!(mapped.mutated(Rights::READ, CapData::None), Err(CapError::MappedFrameRights));
        let unmapped = frame(0x1000, FrameSize::Small4K, None);
        assert_eq!(
            unmapped.mutated(Rights::READ, CapData::None),
            Ok(Capability::Frame {
                base: 0x1000,
                size: FrameSize::Small4K,
                rights: Rights::READ,
                device: false,
                mapping: None
            })
        );
        assert_eq!(
            endpoint(0x20, 0).mutated(Rights::ALL, CapData::Badge(3)),
            Err(CapError::CannotBadgeInPlace)
        );
        assert_eq!(cnode(2).mutated(Rights::ALL, CapData::Badge(3)), Err(CapError::NotBadgeable));
        let reply = Capability::Reply { tcb: 0x800, can_grant: true };
        assert_eq!(reply.mutated(Rights::ALL, CapData::None), Ok(reply));
        assert_eq!(
            cnode(2).mutated(Rights::NONE, CapData::Guard { guard: 1, guard_bits: 1 }),
            Ok(Capability::CNode { object: 0x8000, radix_bits: 2, guard: 1, guard_bits: 1 })
        );
    }

    #[test]
    fn io_port_control_issues_io_port_ranges() {
        let pit = Capability::IoPort { first: 0x40, last: 0x43 };
        assert!(Capability::IoPortControl.same_region_as(&pit));
        assert!(!pit.same_region_as(&Capability::IoPortControl));
        assert!(!Capability::IoPortControl.is_same_object(&pit));
        assert!(pit.is_same_object(&Capability::IoPort { first: 0x40, last: 0x43 }));
        assert!(!pit.same_region_as(&Capability::IoPort { first: 0x40, last: 0x40 }));
        assert_eq!(pit.derived(), Ok(pit));
    }
}
