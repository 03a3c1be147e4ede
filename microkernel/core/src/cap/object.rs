//! The kinds of object user space can retype untyped memory into, and their sizes.
//!
//! Every object is naturally aligned to its size, so "size in bits" doubles as the
//! alignment, and an object is identified by its base address alone.

use syscall_abi::invocation::ObjectKind;

/// A slot of a CNode: 64 bytes. The capability takes at most 32 (see
/// [`CAPABILITY_SIZE`](super::capability::CAPABILITY_SIZE)); the derivation-tree links take
/// 16 more: `prev` and `next` are physical addresses of 64-byte-aligned slots, so their low
/// six bits are free to hold the `revocable` and `first_badged` flags.
pub const SLOT_SIZE_BITS: u8 = 6;

/// A TCB: 2 KiB. It holds the saved user registers (~200 bytes), the thread's FPU and SIMD
/// state (the kernel reserves 1 KiB: 576 bytes of legacy area and XSAVE header plus 256 of
/// AVX, 64-byte aligned), five capability slots (CSpace root, VSpace root, IPC buffer frame,
/// reply and caller: 320 bytes) and the scheduling fields. That is ~1.6 KiB, too big for
/// 1 KiB. AVX-512 state (2.7 KiB in all) would need 4 KiB, so the kernel must not enable it
/// in XCR0 without growing this.
pub const TCB_SIZE_BITS: u8 = 11;
/// An endpoint: a queue head and tail and a state word.
pub const ENDPOINT_SIZE_BITS: u8 = 4;
/// A notification: queue head and tail, state, the pending word and a bound TCB.
pub const NOTIFICATION_SIZE_BITS: u8 = 5;
/// Page-table pages at every level.
pub const PAGE_TABLE_SIZE_BITS: u8 = 12;
/// A VSpace: two top-level tables (PML4s) sharing the user half, the restricted one at
/// the object's base (what CR3 holds) and the unrestricted one 4 KiB above it.
pub const VSPACE_SIZE_BITS: u8 = 13;
/// The smallest untyped region: one endpoint.
pub const MIN_UNTYPED_BITS: u8 = 4;
/// The largest untyped region, as seL4 on x86_64: 128 TiB.
pub const MAX_UNTYPED_BITS: u8 = 47;
/// A CNode has at least two slots (a one-slot CNode resolves no bits, see
/// [`cspace`](super::cspace)), and is no bigger than the largest untyped.
pub const MIN_CNODE_RADIX: u8 = 1;
pub const MAX_CNODE_RADIX: u8 = MAX_UNTYPED_BITS - SLOT_SIZE_BITS;

/// The two page sizes a frame can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameSize {
    Small4K,
    Large2M,
}

impl FrameSize {
    pub const fn size_bits(self) -> u8 {
        match self {
            Self::Small4K => 12,
            Self::Large2M => 21,
        }
    }
}

/// The levels of x86_64 paging below the PML4 (which is the VSpace object itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PtLevel {
    /// Page-directory-pointer table: maps 1 GiB per entry, installed in a PML4.
    Pdpt,
    /// Page directory: maps 2 MiB per entry, installed in a PDPT.
    Pd,
    /// Page table: maps 4 KiB per entry, installed in a PD.
    Pt,
}

/// What an untyped region can be retyped into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    Untyped,
    Tcb,
    Endpoint,
    Notification,
    CNode,
    Frame(FrameSize),
    PageTable(PtLevel),
    /// An address space: its restricted and unrestricted PML4s.
    VSpace,
}

impl ObjectType {
    /// The object type a retype request names.
    pub const fn of_kind(kind: ObjectKind) -> Self {
        match kind {
            ObjectKind::Untyped => Self::Untyped,
            ObjectKind::Tcb => Self::Tcb,
            ObjectKind::Endpoint => Self::Endpoint,
            ObjectKind::Notification => Self::Notification,
            ObjectKind::CNode => Self::CNode,
            ObjectKind::Frame4K => Self::Frame(FrameSize::Small4K),
            ObjectKind::Frame2M => Self::Frame(FrameSize::Large2M),
            ObjectKind::PageDirectoryPointerTable => Self::PageTable(PtLevel::Pdpt),
            ObjectKind::PageDirectory => Self::PageTable(PtLevel::Pd),
            ObjectKind::PageTable => Self::PageTable(PtLevel::Pt),
            ObjectKind::VSpace => Self::VSpace,
        }
    }

    /// The size of one object, as a power of two, or `None` if `user_size_bits` is out of
    /// range. `user_size_bits` is the region size for [`Untyped`](Self::Untyped), the radix
    /// (log2 of the slot count) for [`CNode`](Self::CNode), and ignored otherwise, as seL4
    /// does.
    pub const fn size_bits(self, user_size_bits: u8) -> Option<u8> {
        match self {
            Self::Untyped => {
                if user_size_bits >= MIN_UNTYPED_BITS && user_size_bits <= MAX_UNTYPED_BITS {
                    Some(user_size_bits)
                } else {
                    None
                }
            }
            Self::CNode => {
                if user_size_bits >= MIN_CNODE_RADIX && user_size_bits <= MAX_CNODE_RADIX {
                    Some(user_size_bits + SLOT_SIZE_BITS)
                } else {
                    None
                }
            }
            Self::Tcb => Some(TCB_SIZE_BITS),
            Self::Endpoint => Some(ENDPOINT_SIZE_BITS),
            Self::Notification => Some(NOTIFICATION_SIZE_BITS),
            Self::Frame(size) => Some(size.size_bits()),
            Self::PageTable(_) => Some(PAGE_TABLE_SIZE_BITS),
            Self::VSpace => Some(VSPACE_SIZE_BITS),
        }
    }

    /// Whether the kernel itself reads and writes the object. Such objects must live in
    /// RAM the kernel maps (never device memory) and, under ASI, in nonsensitive memory,
    /// because the kernel walks them on every entry.
    pub const fn is_kernel_object(self) -> bool {
        !matches!(self, Self::Untyped | Self::Frame(_))
    }

    /// Whether the object may be made from device untyped memory: frames (for drivers to
    /// map) and smaller device untyped regions (to hand parts of a device on), as in seL4.
    pub const fn allowed_in_device_memory(self) -> bool {
        !self.is_kernel_object()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_sizes_ignore_the_user_size() {
        for user in [0, 7, 60, 255] {
            assert_eq!(ObjectType::Tcb.size_bits(user), Some(11));
            assert_eq!(ObjectType::Endpoint.size_bits(user), Some(4));
            assert_eq!(ObjectType::Notification.size_bits(user), Some(5));
            assert_eq!(ObjectType::Frame(FrameSize::Small4K).size_bits(user), Some(12));
            assert_eq!(ObjectType::Frame(FrameSize::Large2M).size_bits(user), Some(21));
            for level in [PtLevel::Pdpt, PtLevel::Pd, PtLevel::Pt] {
                assert_eq!(ObjectType::PageTable(level).size_bits(user), Some(12));
            }
            assert_eq!(ObjectType::VSpace.size_bits(user), Some(13));
        }
    }

    #[test]
    fn untyped_and_cnode_sizes_are_bounded() {
        assert_eq!(ObjectType::Untyped.size_bits(3), None);
        assert_eq!(ObjectType::Untyped.size_bits(4), Some(4));
        assert_eq!(ObjectType::Untyped.size_bits(47), Some(47));
        assert_eq!(ObjectType::Untyped.size_bits(48), None);
        assert_eq!(ObjectType::CNode.size_bits(0), None);
        assert_eq!(ObjectType::CNode.size_bits(1), Some(7));
        assert_eq!(ObjectType::CNode.size_bits(41), Some(47));
        assert_eq!(ObjectType::CNode.size_bits(42), None);
    }

    #[test]
    fn only_frames_and_untyped_may_be_device_memory() {
        let kernel_objects = [
            ObjectType::Tcb,
            ObjectType::Endpoint,
            ObjectType::Notification,
            ObjectType::CNode,
            ObjectType::PageTable(PtLevel::Pt),
            ObjectType::VSpace,
        ];
        for object in kernel_objects {
            assert!(object.is_kernel_object() && !object.allowed_in_device_memory());
        }
        for object in [ObjectType::Untyped, ObjectType::Frame(FrameSize::Large2M)] {
            assert!(!object.is_kernel_object() && object.allowed_in_device_memory());
        }
    }
}
