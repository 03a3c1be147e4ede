//! Capabilities: the kernel's access control and memory ownership, after seL4.
//!
//! # The model
//!
//! Every kernel object lives in memory that user space retyped from an *untyped*
//! capability; the kernel allocates nothing after boot. A thread names objects through
//! capabilities kept in *slots* of *CNodes*, which form its CSpace. What is here is the
//! hardware-free part, generic over where slots live ([`SlotStore`]): the kernel implements
//! the store over physical memory, the tests over a map.
//!
//! - [`capability`]: the [`Capability`] values, 32 bytes each, and the rules for deriving
//!   one from another (rights only shrink, a badge is set once).
//! - [`object`]: object types and their sizes; a slot is 64 bytes, a TCB 2 KiB.
//! - [`cspace`]: resolving a capability pointer through guarded CNodes to a slot.
//! - [`mdb`]: the derivation tree, a linked list in pre-order per tree, through the slots.
//! - [`encoding`]: slots as the raw 64-bit words the kernel keeps them in, decoded with
//!   every field checked.
//! - [`ops`]: copy, mint, move, mutate, delete, revoke.
//! - [`retype`]: carving objects out of untyped memory, with a watermark that starts over
//!   once every child is gone.
//!
//! # Where it follows seL4 and where it differs
//!
//! It follows seL4's classic (non-MCS) kernel: the same derivation tree (`isMDBParentOf`
//! with revocable and first-badged flags, `isFinalCapability` from the neighbours, the
//! first-badged flag passed on when a slot empties), the same guarded-page-table lookup,
//! the same derivation rules (`deriveCap`: frame copies are unmapped, unmapped page tables
//! and reply capabilities are not copied, untyped capabilities only without children, and
//! the copied-from untyped becomes full), implicit reply capabilities placed in the
//! receiver's TCB by Call, and retype's reset of a childless untyped.
//!
//! It differs in a few places, each for a reason given where it is done:
//! - copies of an untyped capability are the same object, so only the last deletion is
//!   final ([`Capability::is_same_object`]);
//! - running out of bits inside a guard is a depth mismatch, not a guard mismatch
//!   ([`cspace`]);
//! - mutate may reduce rights (except of a mapped frame), not only change a guard;
//! - badge 0 cannot be minted explicitly ([`CapData::None`] says "keep the badge");
//! - there are no zombies: deleting a final CNode or TCB returns its capability, and the
//!   kernel deletes the slots inside before reusing the memory ([`ops::delete`]);
//! - a new original (a retyped object, an IRQ handler) goes after its parent's plain
//!   copies rather than right after the parent, so that all capabilities to one object
//!   stay adjacent and finality read from neighbours is exact even for IRQ control;
//! - a reply capability has no master reply capability above it: the kernel inserts it as
//!   a root ([`ops::insert_root`]) into the receiver's caller slot and remembers, in the
//!   caller's TCB, which slot holds it, so that deleting the caller can delete it;
//! - [`AsiControl`](Capability::AsiControl) is new: the one authority over memory
//!   sensitivity, as IRQ control is over interrupts.
//!
//! # What the kernel does around it
//!
//! - Implements [`SlotStore`] over physical memory: a slot is the 64-byte-aligned address
//!   of a CNode entry or of one of a TCB's slots; `cnode_slot` is `object + 64 * index`.
//! - At boot, [`ops::insert_root`]s one untyped capability per free block, IRQ control,
//!   ASI control and the root task's own objects.
//! - Decodes system calls into [`resolve`] (with the caller's CSpace root) and the
//!   operations here, and maps [`CapError`], [`LookupError`] and [`RetypeError`] to
//!   error codes.
//! - Between [`plan_retype`] and [`RetypePlan::apply`], zeroes [`RetypePlan::memory`] and
//!   initialises the objects; under ASI it first refuses kernel objects in sensitive
//!   memory ([`ObjectType::is_kernel_object`]).
//! - On every deletion (from [`ops::delete`] or [`ops::revoke`]) undoes the capability's
//!   own mapping, and on a final one destroys the object: empties a CNode's or TCB's slots
//!   first, cancels IPC on an endpoint or notification, frees the ASID of a VSpace, the
//!   IRQ of a handler.
//! - Issues IRQ handlers and I/O port capabilities with [`ops::insert_child`] under IRQ
//!   or I/O port control (or a copy of it), at most one per IRQ or port, and records
//!   mappings by rewriting the frame or page-table capability in place.

pub mod capability;
pub mod cspace;
pub mod encoding;
pub mod error;
pub mod mdb;
pub mod object;
pub mod ops;
pub mod peek;
pub mod retype;
pub mod rights;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod test_store;

pub use capability::{Asid, CapData, Capability, Mapping, Region};
pub use cspace::{LookupError, resolve, resolve_cap};
pub use encoding::{
    CorruptReason, CorruptSlot, decode_capability, decode_links, decode_slot, encode_capability,
    encode_links, encode_slot,
};
pub use error::CapError;
pub use mdb::{MdbNode, SlotStore, has_children, is_final, is_parent_of};
pub use object::{FrameSize, ObjectType, PtLevel};
pub use ops::{
    DeleteOutcome, Revoked, copy, delete, insert_child, insert_root, mint, move_cap, mutate,
    revoke, revoke_next,
};
pub use retype::{RetypeError, RetypePlan, plan_retype};
pub use rights::Rights;
