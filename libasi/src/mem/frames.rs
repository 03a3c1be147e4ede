//! [`FrameRun`]: the 4 KiB frames a [`Mapping`](super::Mapping) maps, by slot.

use super::MemError;
use crate::cap::{Cap, Frame};
use crate::process::layout::PAGE_SIZE;

/// The most frames in one run: as many pages as the user half has.
const MAX_FRAMES: usize = (syscall_abi::USER_SPACE_END / PAGE_SIZE) as usize;

/// 4 KiB frames whose capabilities sit in consecutive slots of the caller's root CNode
/// (where a capability pointer is the slot number), mapped in that order at consecutive
/// pages. One frame converts: `FrameRun::from(frame)`.
///
/// ```ignore
/// // The boot module's frames, as the spawner reads them.
/// let frames = FrameRun::new(Cap::from_slot(module.frames.start), module.frames.len() as usize)?;
/// ```
///
/// (Not a doctest: see [`Mapping`](super::Mapping).)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRun {
    first: u64,
    count: usize,
}

impl FrameRun {
    /// `count` frames from `first`'s slot on; [`MemError::BadRun`] for none, or more than
    /// the user half has pages for.
    pub const fn new(first: Cap<Frame>, count: usize) -> Result<Self, MemError> {
        if count == 0 || count > MAX_FRAMES {
            return Err(MemError::BadRun);
        }
        Ok(Self { first: first.cptr().0, count })
    }

    /// How many frames.
    pub const fn len(self) -> usize {
        self.count
    }

    /// Never: a run has at least one frame.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// The bytes the frames hold: 4 KiB each.
    pub const fn bytes(self) -> u64 {
        self.count as u64 * PAGE_SIZE
    }

    /// The frames, in order.
    pub fn iter(self) -> impl Iterator<Item = Cap<Frame>> {
        (self.first..self.first + self.count as u64).map(Cap::from_slot)
    }
}

impl From<Cap<Frame>> for FrameRun {
    fn from(frame: Cap<Frame>) -> Self {
        Self { first: frame.cptr().0, count: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_name_consecutive_slots() {
        let run = FrameRun::new(Cap::from_slot(40), 3).unwrap();
        let slots: Vec<_> = run.iter().map(|frame| frame.cptr().0).collect();
        assert_eq!(slots, [40, 41, 42]);
        assert_eq!(run.bytes(), 3 * 4096);
        assert_eq!(FrameRun::from(Cap::<Frame>::from_slot(9)).len(), 1);
        assert_eq!(FrameRun::new(Cap::from_slot(40), 0), Err(MemError::BadRun));
        assert_eq!(FrameRun::new(Cap::from_slot(40), usize::MAX), Err(MemError::BadRun));
    }
}
