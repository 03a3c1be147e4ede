//! Resolving a caller's capability pointers, and what a failed lookup tells the caller.

use super::slots::Slots;
use crate::syscall::Refusal;
use kernel_core::cap::{Capability, LookupError, SlotStore, resolve};
use syscall_abi::SyscallError;
use syscall_abi::invocation::CapKind;

/// The depth a capability pointer is resolved with when the call gives none: all 64 bits.
pub const FULL_DEPTH: u8 = 64;

impl From<LookupError> for Refusal {
    fn from(error: LookupError) -> Self {
        match error {
            LookupError::BadDepth => Refusal::new(SyscallError::RangeError, u64::MAX),
            LookupError::InvalidRoot => Refusal::new(SyscallError::InvalidCapability, u64::MAX),
            LookupError::MissingCapability { bits_left }
            | LookupError::DepthMismatch { bits_left, .. }
            | LookupError::GuardMismatch { bits_left, .. } => {
                Refusal::new(SyscallError::LookupFailed, u64::from(bits_left))
            }
        }
    }
}

/// The slot `cptr` names in the CSpace under `root`, `depth` bits deep. A depth of 0 or
/// over 64 is refused as a range error naming `depth_word`, the message word it came in.
#[inline]
pub fn slot(root: &Capability, cptr: u64, depth: u64, depth_word: u64) -> Result<u64, Refusal> {
    let bad_depth = Refusal::new(SyscallError::RangeError, depth_word);
    let depth = u8::try_from(depth).map_err(|_| bad_depth)?;
    match resolve(&Slots, root, cptr, depth) {
        Err(LookupError::BadDepth) => Err(bad_depth),
        result => Ok(result?),
    }
}

/// What kind of capability `cptr` names at full depth (an empty slot is
/// [`CapKind::Null`]).
pub fn identify(root: &Capability, cptr: u64) -> Result<u64, Refusal> {
    let slot = slot(root, cptr, u64::from(FULL_DEPTH), u64::MAX)?;
    let kind = match Slots.cap(slot) {
        Capability::Null => CapKind::Null,
        Capability::Untyped { .. } => CapKind::Untyped,
        Capability::Endpoint { .. } => CapKind::Endpoint,
        Capability::Notification { .. } => CapKind::Notification,
        Capability::Reply { .. } => CapKind::Reply,
        Capability::CNode { .. } => CapKind::CNode,
        Capability::Tcb { .. } => CapKind::Tcb,
        Capability::Frame { .. } => CapKind::Frame,
        Capability::PageTable { .. } => CapKind::PageTable,
        Capability::VSpace { .. } => CapKind::VSpace,
        Capability::IrqControl => CapKind::IrqControl,
        Capability::IrqHandler { .. } => CapKind::IrqHandler,
        Capability::AsiControl => CapKind::AsiControl,
        Capability::IoPortControl => CapKind::IoPortControl,
        Capability::IoPort { .. } => CapKind::IoPort,
    };
    Ok(kind.code())
}

/// The slot and the capability `cptr` names at full depth; an empty slot is refused.
pub fn capability(root: &Capability, cptr: u64) -> Result<(u64, Capability), Refusal> {
    let slot = slot(root, cptr, u64::from(FULL_DEPTH), u64::MAX)?;
    match Slots.cap(slot) {
        Capability::Null => Err(SyscallError::EmptySlot.into()),
        cap => Ok((slot, cap)),
    }
}
