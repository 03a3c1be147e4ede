//! Invocations of CNodes. Each takes its slot arguments in the invocation's word order:
//! the destination (resolved in the invoked CNode), then the source (a CNode named in the
//! caller's CSpace, and a slot in it).

use super::{CNode, Cap, CapData, Rights, Slot, SlotRef, invocation};
use crate::Error;

impl Cap<CNode> {
    /// Copies the capability at `src` into the empty `dest`, keeping only `rights`.
    ///
    /// An untyped capability with children is refused ([`Error::RevokeFirst`]); copying
    /// one without children leaves the original unable to retype until the copy is gone.
    pub fn copy(self, dest: Slot, src: SlotRef, rights: Rights) -> Result<(), Error> {
        invocation::cnode_copy(dest, src, rights).call(self.cptr()).map(drop)
    }

    /// As [`copy`](Self::copy), applying `data`: a badge to an unbadged endpoint or
    /// notification, or a guard to a CNode capability.
    pub fn mint(
        self,
        dest: Slot,
        src: SlotRef,
        rights: Rights,
        data: CapData,
    ) -> Result<(), Error> {
        invocation::cnode_mint(dest, src, rights, data).call(self.cptr()).map(drop)
    }

    /// Moves the capability at `src` into the empty `dest`; `src` is empty afterwards.
    pub fn move_cap(self, dest: Slot, src: SlotRef) -> Result<(), Error> {
        invocation::cnode_move(dest, src).call(self.cptr()).map(drop)
    }

    /// Moves the capability at `src` into the empty `dest`, keeping only `rights` and
    /// applying `data` (a CNode guard; never a badge).
    pub fn mutate(
        self,
        dest: Slot,
        src: SlotRef,
        rights: Rights,
        data: CapData,
    ) -> Result<(), Error> {
        invocation::cnode_mutate(dest, src, rights, data).call(self.cptr()).map(drop)
    }

    /// Empties `slot`; the object goes if that was its last capability. An empty slot is
    /// no error.
    pub fn delete(self, slot: Slot) -> Result<(), Error> {
        invocation::cnode_delete(slot).call(self.cptr()).map(drop)
    }

    /// Deletes every capability derived from the one in `slot`, which stays.
    pub fn revoke(self, slot: Slot) -> Result<(), Error> {
        invocation::cnode_revoke(slot).call(self.cptr()).map(drop)
    }
}
