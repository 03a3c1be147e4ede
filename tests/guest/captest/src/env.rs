//! What every case runs in: the boot information, the free slots, a pool of untyped memory
//! to carve test regions from, and [`Scratch`], which cleans up after a case.

use libasi::Error;
use libasi::boot::BootInfo;
use libasi::cap::{
    AsiControl, CNode, CNodeAt, Cap, CapType, Frame, FrameAttributes, ObjectKind, PageTable,
    Rights, Sensitivity, Slot, SlotAllocator, SlotRef, Untyped, VSpace,
};
use libasi::process::table_kind;

use crate::report::{Failure, Outcome, TakenSlots, identify, ok};
use crate::{ensure, fail};

/// The root CNode, invoked with root slot numbers at depth 64.
pub const ROOT: Cap<CNode> = Cap::<CNode>::ROOT;

/// Every kind of kernel object (as opposed to frames and untyped regions), with a size
/// argument: what neither device nor sensitive memory may hold.
pub const KERNEL_OBJECTS: [(ObjectKind, u8); 8] = [
    (ObjectKind::Tcb, 0),
    (ObjectKind::Endpoint, 0),
    (ObjectKind::Notification, 0),
    (ObjectKind::CNode, 2),
    (ObjectKind::PageDirectoryPointerTable, 0),
    (ObjectKind::PageDirectory, 0),
    (ObjectKind::PageTable, 0),
    (ObjectKind::VSpace, 0),
];

/// State shared by all cases.
#[derive(Debug)]
pub struct Env {
    pub info: BootInfo,
    pub slots: SlotAllocator,
    /// The largest untyped region of RAM; cases get regions retyped from it.
    pub pool: Cap<Untyped>,
    pub pool_bits: u8,
}

impl Env {
    pub fn new(info: BootInfo) -> Result<Self, Failure> {
        let slots = SlotAllocator::new(info.empty);
        let Some((pool, pool_bits)) = libasi::boot::largest_ram(&info) else {
            fail!("the boot information lists no untyped RAM");
        };
        // Boot leaves the memory it hands out sensitive; the cases' objects need it not.
        ok(
            Cap::<AsiControl>::BOOT.set_sensitivity(pool, Sensitivity::Nonsensitive),
            "make the pool nonsensitive",
        )?;
        Ok(Self { info, slots, pool, pool_bits })
    }

    /// The slot and size of a device untyped region of at least `min_bits`.
    pub fn device_untyped(&self, min_bits: u8) -> Option<(Cap<Untyped>, u8)> {
        let (index, device) = self
            .info
            .untyped()
            .iter()
            .enumerate()
            .find(|(_, untyped)| untyped.device && untyped.size_bits >= min_bits)?;
        Some((Cap::from_slot(self.info.untyped_slots.start + index as u64), device.size_bits))
    }
}

/// The most slots one case may take.
const MAX_TAKEN: usize = 768;

/// One case's view of the environment: slots it takes are remembered and, when the case
/// ends, revoked, deleted, checked empty and given back.
#[derive(Debug)]
pub struct Scratch<'e> {
    pub env: &'e mut Env,
    taken: TakenSlots<MAX_TAKEN>,
}

impl<'e> Scratch<'e> {
    pub fn new(env: &'e mut Env) -> Self {
        Self { env, taken: TakenSlots::default() }
    }

    pub fn info(&self) -> &BootInfo {
        &self.env.info
    }

    /// `count` consecutive free root slots, taken for this case.
    pub fn slots(&mut self, count: usize) -> Result<u64, Failure> {
        self.taken.take(&mut self.env.slots, count)
    }

    /// A free root slot, taken for this case.
    pub fn slot(&mut self) -> Result<u64, Failure> {
        self.slots(1)
    }

    /// A fresh untyped region of `2^bits` bytes, carved from the pool.
    pub fn untyped(&mut self, bits: u8) -> Result<Cap<Untyped>, Failure> {
        let slot = self.slot()?;
        let pool = self.env.pool;
        ok(
            pool.retype(ObjectKind::Untyped, bits, CNodeAt::ROOT, slot, 1),
            "retype a test region from the pool",
        )?;
        Ok(Cap::from_slot(slot))
    }

    /// One object of `kind` from `untyped`, in a new slot, checked to identify as `T`.
    pub fn object<T: CapType>(
        &mut self,
        untyped: Cap<Untyped>,
        kind: ObjectKind,
        size_bits: u8,
    ) -> Result<Cap<T>, Failure> {
        let slot = self.slot()?;
        let what = "retype one object";
        ok(untyped.retype(kind, size_bits, CNodeAt::ROOT, slot, 1), what)?;
        let got = identify(libasi::cap::CPtr(slot))?;
        ensure!(
            got == T::KIND,
            "{kind:?} in slot {slot} identifies as {got:?}, expected {:?}",
            T::KIND
        );
        Ok(Cap::from_slot(slot))
    }

    /// Maps `frame` read-write at `address` in the root VSpace, with page tables from
    /// `tables` (nonsensitive memory) where they are missing; they are this case's, and go
    /// when it ends.
    pub fn map(&mut self, frame: Cap<Frame>, address: u64, tables: Cap<Untyped>) -> Outcome {
        let vspace = Cap::<VSpace>::ROOT_VSPACE;
        loop {
            match frame.map(vspace, address, Rights::READ | Rights::WRITE, FrameAttributes::NONE) {
                Err(Error::MissingPageTable { level }) => {
                    let Some(kind) = table_kind(level) else {
                        fail!("missing table level {level}")
                    };
                    let table: Cap<PageTable> = self.object(tables, kind, 0)?;
                    ok(table.map(vspace, address), "install a page table")?;
                }
                result => return ok(result, "map the frame"),
            }
        }
    }

    /// Whether the untyped region at `untyped` has children, observed through the
    /// kernel's rule that such a capability cannot be copied. The probe copy is deleted
    /// again (which leaves a childless region free to start over).
    pub fn has_children(&mut self, untyped: Cap<Untyped>) -> Result<bool, Failure> {
        let probe = self.slot()?;
        let src = SlotRef::root(untyped.cptr().0);
        match ROOT.copy(Slot::root(probe), src, Rights::ALL) {
            Ok(()) => {
                ok(ROOT.delete(Slot::root(probe)), "delete the probe copy")?;
                Ok(false)
            }
            Err(Error::RevokeFirst) => Ok(true),
            Err(error) => fail!("probe copy of untyped {}: {error}", untyped.cptr()),
        }
    }

    /// Revokes, deletes and frees every slot taken, newest first; says what went wrong.
    pub fn cleanup(&mut self) -> Result<(), Failure> {
        self.taken.release(&mut self.env.slots, |_| Ok(()))
    }
}
