//! Invocations of untyped memory.

use syscall_abi::invocation::{Invocation, ObjectKind, sensitivity};

use super::{CNodeAt, Cap, Sensitivity, Untyped, invocation};
use crate::Error;
use crate::ipc::IpcBuffer;

/// What an untyped region is, as [`Cap::<Untyped>::describe`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedInfo {
    /// Its physical base address, aligned to its size.
    pub base: u64,
    /// log2 of its size in bytes.
    pub size_bits: u8,
    /// The sensitivity of all of its memory; `None` if its pageblocks disagree.
    pub sensitivity: Option<Sensitivity>,
}

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

    /// Where the region is, how large, and how sensitive its memory is: for a server
    /// handed memory without the boot information that describes it (memsrv). The answer
    /// is `rdx` and two message words, which come back in registers, so `buffer` may be
    /// [`IpcBuffer::NONE`].
    pub fn describe(self, buffer: IpcBuffer) -> Result<UntypedInfo, Error> {
        let message = invocation::bare(Invocation::UntypedDescribe);
        let (base, reply) = crate::ipc::invoke(buffer, self.cptr(), &message)?;
        let &[size_bits, code] = reply.words() else {
            return Err(Error::TruncatedMessage { needed: 2 });
        };
        let sensitivity = match code {
            sensitivity::SENSITIVE => Some(Sensitivity::Sensitive),
            sensitivity::NONSENSITIVE => Some(Sensitivity::Nonsensitive),
            _ => None,
        };
        Ok(UntypedInfo { base, size_bits: size_bits as u8, sensitivity })
    }
}
