//! Where a [`Heap`](super::Heap)'s frames come from ([`FrameSource`]), and a source of
//! frames and page tables over untyped memory ([`UntypedSource`]).

use syscall_abi::boot_info::SlotRange;

use super::{MemError, TableLevel, TableSource};
use crate::cap::{CNode, CNodeAt, Cap, Frame, ObjectKind, PageTable, Sensitivity, Slot, Untyped};

/// Where a heap gets 4 KiB frames of the sensitivity it was set up with: each a fresh
/// frame, its capability in a slot of the caller's root CNode that the source gives up
/// to the caller. The heap keeps the frames mapped for good.
///
/// memsrv's client implements it (`libasi::memsrv::FrameSupply`); so does
/// [`UntypedSource`] for memory a program holds itself. A source must not allocate from
/// the heap it feeds: it is called while that heap is locked.
pub trait FrameSource {
    /// Why a frame could not be had.
    type Error;

    /// A 4 KiB frame of `sensitivity`.
    fn frame(&mut self, sensitivity: Sensitivity) -> Result<Cap<Frame>, Self::Error>;
}

/// Frames and page tables retyped from one untyped region, into the slots of a range of
/// the caller's root CNode, one object per slot in order.
///
/// ```ignore
/// // Sensitive frames for a heap, from a pageblock made sensitive with the ASI control
/// // capability; 64 empty root slots for them.
/// let frames = UntypedSource::new(pageblock, slots.alloc_range(64).map(|start| SlotRange {
///     start,
///     end: start + 64,
/// }).ok_or(MemError::NoSlots)?);
/// ```
///
/// (Not a doctest: retyping needs the kernel; `tests/guest/ipctest` runs it.)
///
/// A frame comes with the region's sensitivity: asked for the other,
/// [`frame`](FrameSource::frame) deletes what it made and refuses with
/// [`MemError::WrongSensitivity`]. Page tables need nonsensitive memory, as every kernel
/// object does. The source never frees: deleting the objects (or revoking the region)
/// is the caller's, once nothing maps them.
#[derive(Clone, Copy, Debug)]
pub struct UntypedSource {
    untyped: Cap<Untyped>,
    slots: SlotRange,
    next: u64,
}

impl UntypedSource {
    /// Objects from `untyped` into the empty root slots `slots`.
    pub const fn new(untyped: Cap<Untyped>, slots: SlotRange) -> Self {
        Self { untyped, slots, next: slots.start }
    }

    /// The slots filled so far, in the order they were.
    pub const fn used(&self) -> SlotRange {
        SlotRange { start: self.slots.start, end: self.next }
    }

    /// One object of `kind` in the next slot.
    fn retype(&mut self, kind: ObjectKind) -> Result<u64, MemError> {
        let slot = self.next;
        if slot >= self.slots.end {
            return Err(MemError::NoSlots);
        }
        self.untyped.retype(kind, 0, CNodeAt::ROOT, slot, 1)?;
        self.next += 1;
        Ok(slot)
    }
}

impl FrameSource for UntypedSource {
    type Error = MemError;

    fn frame(&mut self, sensitivity: Sensitivity) -> Result<Cap<Frame>, MemError> {
        let frame = Cap::<Frame>::from_slot(self.retype(ObjectKind::Frame4K)?);
        let got = frame.sensitivity()?;
        if got != sensitivity {
            // The frame was the slot's last object: with it deleted, the slot is free again.
            Cap::<CNode>::ROOT.delete(Slot::root(frame.cptr().0))?;
            self.next -= 1;
            return Err(MemError::WrongSensitivity { wanted: sensitivity, got });
        }
        Ok(frame)
    }
}

impl TableSource for UntypedSource {
    fn table(&mut self, level: TableLevel) -> Result<Cap<PageTable>, MemError> {
        Ok(Cap::from_slot(self.retype(level.object_kind())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_range_has_no_slot_to_retype_into() {
        let mut source = UntypedSource::new(Cap::from_slot(9), SlotRange { start: 30, end: 30 });
        assert_eq!(source.table(TableLevel::PageTable), Err(MemError::NoSlots));
        assert_eq!(source.frame(Sensitivity::Sensitive), Err(MemError::NoSlots));
        assert_eq!(source.used(), SlotRange { start: 30, end: 30 });
    }
}
