//! Capabilities: typed capability pointers and the invocations of untyped memory, CNodes,
//! threads (TCBs), frames and page tables, I/O ports and interrupts (IRQ handlers, with a
//! driver loop). Endpoint and notification operations are in [`crate::ipc`].
//!
//! A [`CPtr`] names a slot in the caller's CSpace (resolved at depth 64). A [`Cap<T>`] is a
//! `CPtr` with a claim about what the slot holds — a claim only: the kernel checks the
//! capability on every invocation, and [`Cap::identify`] asks it what is really there.
//! Conversions between kinds are explicit ([`Cap::cast`]).
//!
//! Arguments that name a slot *inside a CNode* are a [`Slot`] (index and depth, resolved
//! in the invoked CNode) or a [`SlotRef`] (the same plus the CNode). The root task's root
//! CNode has radix 12 and a guard of 52 zero bits, so a root slot is index = slot number,
//! depth = 64 ([`Slot::root`]).
//!
//! # Example: a server retypes an endpoint
//!
//! ```ignore
//! use libasi::boot;
//! use libasi::cap::{Cap, CNode, CNodeAt, Endpoint, ObjectKind, SlotAllocator, Untyped};
//!
//! fn make_endpoint() -> Result<Cap<Endpoint>, libasi::Error> {
//!     let info = boot::info()?;
//!     let mut slots = SlotAllocator::new(info.empty);
//!     // Any untyped region that is not device memory will do.
//!     let (index, _) = info
//!         .untyped()
//!         .iter()
//!         .enumerate()
//!         .find(|(_, untyped)| !untyped.device)
//!         .expect("no RAM");
//!     let untyped = Cap::<Untyped>::from_slot(info.untyped_slots.start + index as u64);
//!     let slot = slots.alloc().expect("root CNode full");
//!     untyped.retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, slot, 1)?;
//!     Ok(Cap::from_slot(slot))
//! }
//! ```
//!
//! (Not a doctest: the invocation needs the kernel. `tests/guest/captest` runs this and
//! much more in QEMU.)

mod alloc;
mod asi;
mod cnode;
pub mod invocation;
mod io;
mod irq;
mod tcb;
mod untyped;
mod vspace;

pub use tcb::{TcbConfig, UserRegisters};
pub use untyped::UntypedInfo;

use core::fmt;
use core::marker::PhantomData;

pub use alloc::SlotAllocator;
pub use asi::{Counters, Sensitivity};
pub use syscall_abi::invocation::{CapKind, Invocation, ObjectKind};

use crate::Error;
use syscall_abi::boot_info::slot;

/// A capability pointer: the bits that name a slot in the caller's CSpace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CPtr(pub u64);

impl CPtr {
    /// The null pointer: slot 0 of the root task's CNode, always empty.
    pub const NULL: Self = Self(slot::NULL);
}

impl fmt::Display for CPtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A kind of capability, as a zero-sized marker for [`Cap`].
pub trait CapType: sealed::Sealed {
    /// What `DebugCapIdentify` reports for a slot holding one.
    const KIND: CapKind;
}

macro_rules! cap_types {
    ($($(#[$doc:meta])* $name:ident => $kind:ident,)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum $name {}
            impl sealed::Sealed for $name {}
            impl CapType for $name {
                const KIND: CapKind = CapKind::$kind;
            }
        )*
    };
}

cap_types! {
    /// Untyped memory, to retype into objects.
    Untyped => Untyped,
    /// A CNode: slots for capabilities.
    CNode => CNode,
    Endpoint => Endpoint,
    Notification => Notification,
    Reply => Reply,
    Tcb => Tcb,
    /// A 4 KiB or 2 MiB frame.
    Frame => Frame,
    /// A page table of any level below the PML4 (PDPT, PD, PT).
    PageTable => PageTable,
    /// An address space (its PML4).
    VSpace => VSpace,
    IrqControl => IrqControl,
    IrqHandler => IrqHandler,
    AsiControl => AsiControl,
    /// The authority to issue I/O port capabilities.
    IoPortControl => IoPortControl,
    /// A range of I/O ports.
    IoPort => IoPort,
}

/// A capability pointer claimed to name a capability of kind `T`.
pub struct Cap<T: CapType> {
    cptr: CPtr,
    kind: PhantomData<fn() -> T>,
}

impl<T: CapType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: CapType> Copy for Cap<T> {}

impl<T: CapType> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}

impl<T: CapType> Eq for Cap<T> {}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{:?}>({})", T::KIND, self.cptr)
    }
}

impl<T: CapType> From<Cap<T>> for CPtr {
    fn from(cap: Cap<T>) -> Self {
        cap.cptr
    }
}

impl<T: CapType> Cap<T> {
    /// The claim that `cptr` names a `T`.
    pub const fn new(cptr: CPtr) -> Self {
        Self { cptr, kind: PhantomData }
    }

    /// The claim that root CNode slot `slot` holds a `T`.
    pub const fn from_slot(slot: u64) -> Self {
        Self::new(CPtr(slot))
    }

    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same pointer with another claim.
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::new(self.cptr)
    }

    /// What the slot really holds, as the kernel says.
    pub fn identify(self) -> Result<CapKind, Error> {
        crate::debug::cap_identify(self.cptr)
    }

    /// The claim checked with the kernel: `Ok(true)` if the slot holds a `T`.
    pub fn holds_claimed_kind(self) -> Result<bool, Error> {
        Ok(self.identify()? == T::KIND)
    }
}

impl Cap<CNode> {
    /// The root task's root CNode ([`slot::CNODE`]).
    pub const ROOT: Self = Self::from_slot(slot::CNODE);
}

impl Cap<Tcb> {
    /// The root task's own TCB ([`slot::TCB`]); its maximum controlled priority is 255.
    pub const ROOT_TCB: Self = Self::from_slot(slot::TCB);
}

impl Cap<VSpace> {
    /// The root task's address space ([`slot::VSPACE`]).
    pub const ROOT_VSPACE: Self = Self::from_slot(slot::VSPACE);
}

impl Cap<Frame> {
    /// The frame of the root task's IPC buffer ([`slot::IPC_BUFFER`]).
    pub const ROOT_IPC_BUFFER: Self = Self::from_slot(slot::IPC_BUFFER);
}

impl Cap<IrqControl> {
    /// The root task's IRQ control capability ([`slot::IRQ_CONTROL`]).
    pub const BOOT: Self = Self::from_slot(slot::IRQ_CONTROL);
}

impl Cap<IoPortControl> {
    /// The root task's I/O port control capability ([`slot::IO_PORT_CONTROL`]).
    pub const BOOT: Self = Self::from_slot(slot::IO_PORT_CONTROL);
}

impl Cap<AsiControl> {
    /// The root task's ASI control capability ([`slot::ASI_CONTROL`]).
    pub const BOOT: Self = Self::from_slot(slot::ASI_CONTROL);
}

/// The depth at which a pointer resolves through the root CNode (guard 52 + radix 12).
pub const FULL_DEPTH: u8 = 64;

/// A slot named inside a CNode that an invocation resolves it in: the low `depth` bits of
/// `index`, read through the CNode's guard and radix and any CNodes below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub index: u64,
    pub depth: u8,
}

impl Slot {
    pub const fn new(index: u64, depth: u8) -> Self {
        Self { index, depth }
    }

    /// Slot `slot` of the root CNode, through a capability to it with its boot guard.
    pub const fn root(slot: u64) -> Self {
        Self { index: slot, depth: FULL_DEPTH }
    }
}

/// A slot in a given CNode: the source argument of two-slot CNode operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRef {
    /// The CNode, named by a pointer in the caller's CSpace.
    pub cnode: Cap<CNode>,
    pub slot: Slot,
}

impl SlotRef {
    pub const fn new(cnode: Cap<CNode>, index: u64, depth: u8) -> Self {
        Self { cnode, slot: Slot { index, depth } }
    }

    /// Slot `slot` of the root CNode.
    pub const fn root(slot: u64) -> Self {
        Self { cnode: Cap::<CNode>::ROOT, slot: Slot::root(slot) }
    }
}

/// A CNode named as a retype destination: a pointer resolved in the caller's CSpace with
/// `depth` bits, which must reach a slot holding a CNode capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CNodeAt {
    pub cnode: Cap<CNode>,
    pub depth: u8,
}

impl CNodeAt {
    /// The root CNode, at full depth.
    pub const ROOT: Self = Self { cnode: Cap::<CNode>::ROOT, depth: FULL_DEPTH };

    /// `cnode` at full depth.
    pub const fn full(cnode: Cap<CNode>) -> Self {
        Self { cnode, depth: FULL_DEPTH }
    }
}

/// Access rights kept by copy, mint and mutate ([`syscall_abi::invocation::rights`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rights(u64);

impl Rights {
    pub const NONE: Self = Self(0);
    pub const READ: Self = Self(syscall_abi::invocation::rights::READ as u64);
    pub const WRITE: Self = Self(syscall_abi::invocation::rights::WRITE as u64);
    pub const GRANT: Self = Self(syscall_abi::invocation::rights::GRANT as u64);
    pub const GRANT_REPLY: Self = Self(syscall_abi::invocation::rights::GRANT_REPLY as u64);
    pub const ALL: Self = Self(syscall_abi::invocation::rights::ALL as u64);

    /// The rights whose bits are `bits`; `None` if a bit names no right.
    pub const fn from_bits(bits: u64) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 { Some(Self(bits)) } else { None }
    }

    /// `word` sent as it is, bits naming no right included: for tests of the kernel's
    /// checks.
    pub const fn from_word_unchecked(word: u64) -> Self {
        Self(word)
    }

    /// The message word.
    pub const fn word(self) -> u64 {
        self.0
    }

    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Rights {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        self.union(other)
    }
}

/// The attributes of a frame mapping ([`syscall_abi::invocation::frame_attributes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameAttributes(u64);

impl FrameAttributes {
    /// Not executable.
    pub const NONE: Self = Self(0);
    /// Executable (then the mapping may not be writable).
    pub const EXECUTABLE: Self = Self(syscall_abi::invocation::frame_attributes::EXECUTABLE);

    /// `word` sent as it is: for tests of the kernel's checks.
    pub const fn from_word_unchecked(word: u64) -> Self {
        Self(word)
    }

    /// The message word.
    pub const fn word(self) -> u64 {
        self.0
    }
}

/// The cap-data word of mint and mutate: a badge for an endpoint or notification
/// capability, a guard for a CNode capability ([`syscall_abi::invocation::cap_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapData(u64);

impl CapData {
    /// Nothing to apply: no badge, and for a CNode a guard of 0 bits.
    pub const NONE: Self = Self(0);

    /// A badge (0 means none).
    pub const fn badge(badge: u64) -> Self {
        Self(badge)
    }

    /// A CNode guard of `guard_bits` bits; `None` if it does not fit the encoding.
    pub const fn guard(guard: u64, guard_bits: u8) -> Option<Self> {
        match syscall_abi::invocation::cap_data::guard(guard, guard_bits) {
            Some(word) => Some(Self(word)),
            None => None,
        }
    }

    /// `word` sent as it is: for tests of the kernel's checks.
    pub const fn from_word_unchecked(word: u64) -> Self {
        Self(word)
    }

    /// The message word.
    pub const fn word(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_are_the_abi_bits() {
        assert_eq!((Rights::READ | Rights::WRITE).word(), 0b11);
        assert_eq!(Rights::ALL.word(), 0b1111);
        assert_eq!(Rights::from_bits(0b1000), Some(Rights::GRANT_REPLY));
        assert_eq!(Rights::from_bits(0b1_0000), None);
        assert_eq!(Rights::from_word_unchecked(0x10).word(), 0x10);
        assert!((Rights::READ | Rights::WRITE).contains(Rights::WRITE));
        assert!(!Rights::READ.contains(Rights::READ | Rights::WRITE));
    }

    #[test]
    fn cap_data_encodes_guards_as_the_abi_does() {
        assert_eq!(CapData::guard(0b101, 3).unwrap().word(), (0b101 << 6) | 3);
        assert_eq!(CapData::guard(0b1000, 3), None);
        assert_eq!(CapData::guard(0, 59), None);
        assert_eq!(CapData::badge(7).word(), 7);
        assert_eq!(CapData::NONE.word(), 0);
    }

    #[test]
    fn caps_are_pointers_with_a_claim() {
        let endpoint = Cap::<Endpoint>::from_slot(40);
        assert_eq!(CPtr::from(endpoint), CPtr(40));
        assert_eq!(endpoint.cast::<Notification>().cptr(), CPtr(40));
        assert_eq!(Cap::<CNode>::ROOT.cptr(), CPtr(1));
        assert_eq!(Cap::<IrqControl>::BOOT.cptr(), CPtr(2));
        assert_eq!(Cap::<AsiControl>::BOOT.cptr(), CPtr(3));
        assert_eq!(Cap::<Tcb>::ROOT_TCB.cptr(), CPtr(4));
        assert_eq!(Cap::<VSpace>::ROOT_VSPACE.cptr(), CPtr(5));
        assert_eq!(Cap::<Frame>::ROOT_IPC_BUFFER.cptr(), CPtr(6));
        assert_eq!(FrameAttributes::EXECUTABLE.word(), 1);
        assert_eq!(format!("{endpoint:?}"), "Cap<Endpoint>(0x28)");
        assert_eq!(<Frame as CapType>::KIND, CapKind::Frame);
    }

    #[test]
    fn root_slots_resolve_at_full_depth() {
        assert_eq!(Slot::root(9), Slot { index: 9, depth: 64 });
        assert_eq!(SlotRef::root(9), SlotRef::new(Cap::ROOT, 9, 64));
        assert_eq!(CNodeAt::ROOT, CNodeAt::full(Cap::ROOT));
    }
}
