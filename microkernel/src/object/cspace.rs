//! Resolving a caller's capability pointers, and what a failed lookup tells the caller.

use super::slots::Slots;
use crate::syscall::Refusal;
use kernel_core::cap::{Capability, LookupError, SlotStore, resolve};
use syscall_abi::SyscallError;

/// The depth a capability pointer is resolved with when the call gives none: all 64 bits.
pub const FULL_DEPTH: u8 = 64;

impl From<LookupError> for Refusal {
    fn from(error: LookupError) -> Self {
        match error {
            LookupError::BadDepth => SyscallError::RangeError.into(),
            LookupError::InvalidRoot => Refusal::new(SyscallError::InvalidCapability, u64::MAX),
            LookupError::MissingCapability { bits_left }
            | LookupError::DepthMismatch { bits_left, .. }
            | LookupError::GuardMismatch { bits_left, .. } => {
                Refusal::new(SyscallError::LookupFailed, u64::from(bits_left))
            }
        }
    }
}

/// The slot `cptr` names in the CSpace under `root`, `depth` bits deep.
pub fn slot(root: &Capability, cptr: u64, depth: u64) -> Result<u64, Refusal> {
    let depth = u8::try_from(depth).map_err(|_| Refusal::from(SyscallError::RangeError))?;
    Ok(resolve(&Slots, root, cptr, depth)?)
}

/// The slot and the capability `cptr` names at full depth; an empty slot is refused.
pub fn capability(root: &Capability, cptr: u64) -> Result<(u64, Capability), Refusal> {
    let slot = slot(root, cptr, u64::from(FULL_DEPTH))?;
    match Slots.cap(slot) {
        Capability::Null => Err(SyscallError::EmptySlot.into()),
        cap => Ok((slot, cap)),
    }
}
