//! Invocations of frames and page tables: mapping them into an address space.

use syscall_abi::invocation::Invocation;

use super::{Cap, Frame, FrameAttributes, PageTable, Rights, VSpace, invocation};
use crate::Error;

impl Cap<Frame> {
    /// Maps the frame at `vaddr` (aligned to its size) in `vspace`, with `rights` (READ,
    /// WRITE; at most the capability's) and `attributes`. Refusals:
    /// [`Error::MissingPageTable`] with the level of the table to install first
    /// ([`Cap<PageTable>::map`]), [`Error::AlreadyMapped`] (something is mapped there, or
    /// this capability is mapped already), [`Error::InsufficientRights`],
    /// [`Error::InvalidArgument`] (word 3) for writable and executable together,
    /// [`Error::RangeError`] (word 1) in the kernel half, [`Error::AlignmentError`].
    pub fn map(
        self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: Rights,
        attributes: FrameAttributes,
    ) -> Result<(), Error> {
        invocation::frame_map(vspace.cptr(), vaddr, rights, attributes).call(self.cptr()).map(drop)
    }

    /// Removes this capability's mapping, if it has one.
    pub fn unmap(self) -> Result<(), Error> {
        invocation::bare(Invocation::FrameUnmap).call(self.cptr()).map(drop)
    }

    /// The frame's physical address.
    pub fn address(self) -> Result<u64, Error> {
        invocation::bare(Invocation::FrameGetAddress).call(self.cptr())
    }
}

impl Cap<PageTable> {
    /// Installs the table (PDPT, PD or PT) in `vspace` where it covers `vaddr`.
    /// [`Error::MissingPageTable`] if the table above is missing, [`Error::AlreadyMapped`]
    /// if one is installed there already or this one is installed elsewhere.
    pub fn map(self, vspace: Cap<VSpace>, vaddr: u64) -> Result<(), Error> {
        invocation::page_table_map(vspace.cptr(), vaddr).call(self.cptr()).map(drop)
    }

    /// Removes the table from where it is installed, if it is.
    pub fn unmap(self) -> Result<(), Error> {
        invocation::bare(Invocation::PageTableUnmap).call(self.cptr()).map(drop)
    }
}
