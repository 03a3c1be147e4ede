//! Invocations of untyped memory.

use syscall_abi::invocation::ObjectKind;

use super::{CNodeAt, Cap, Untyped, invocation};
use crate::Error;

impl Cap<Untyped> {
    /// Carves `count` objects of `kind` out of this untyped region into slots `first ..
    /// first + count` of the CNode `dest` names. `size_bits` is the region size for
    /// [`ObjectKind::Untyped`], the radix (log2 of the slot count) for
    /// [`ObjectKind::CNode`], and ignored for the other kinds.
    ///
    /// Objects go after the region's watermark, each aligned to its size; a region whose
    /// children are all gone starts over from its base. Refusals: [`Error::RangeError`]
    /// (size: word 1, destination past the CNode's end: word 4, count 0 or above 256:
    /// word 5), [`Error::DeleteFirst`] with the offset of an occupied destination,
    /// [`Error::NotEnoughMemory`], [`Error::DeviceMemory`] for kernel objects from device
    /// memory, [`Error::InvalidCapability`] (word 2) if `dest` is not a CNode.
    pub fn retype(
        self,
        kind: ObjectKind,
        size_bits: u8,
        dest: CNodeAt,
        first: u64,
        count: u64,
    ) -> Result<(), Error> {
        invocation::retype(kind, size_bits, dest, first, count).call(self.cptr()).map(drop)
    }
}
