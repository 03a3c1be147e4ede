//! What a case runs in, inside the process the runner spawned for it: the process's free
//! slots, the memory the runner granted it as a pool, the I/O port and IRQ control
//! capabilities it granted, a capability to the PIT for timing, and the guard thread that
//! bounds blocking waits. [`Scratch`] hands a case slots and objects and deletes them
//! when it ends.

use core::sync::atomic::{AtomicU64, Ordering};

use case_process::own;
use libasi::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, CapType, Endpoint, IoPort, IoPortControl, IrqControl,
    IrqHandler, Notification, ObjectKind, Rights, Slot, SlotAllocator, SlotRef, Tcb, TcbConfig,
    Untyped, UserRegisters, VSpace,
};
use libasi::{Error, ipc};

use crate::pit::{self, Pit};
use crate::report::{Failure, Outcome, TakenSlots, identify, ok};
use crate::{ensure, fail};

pub const ROOT: Cap<CNode> = own::CNODE;
pub const OWN_TCB: Cap<Tcb> = own::TCB;
pub const OWN_VSPACE: Cap<VSpace> = own::VSPACE;
/// Copies of the root task's, granted by the runner.
pub const IO_PORT_CONTROL: Cap<IoPortControl> = own::IO_PORT_CONTROL;
pub const IRQ_CONTROL: Cap<IrqControl> = own::IRQ_CONTROL;

/// The badge the guard signals with: the wait timed out.
pub const TIMEOUT: u64 = 1 << 63;
/// How many times the guard yields before it signals: far longer than a PIT period.
const GUARD_YIELDS: u64 = 200_000;
/// The IRQs the kernel may route (ISA lines 0–15, I/O APIC inputs 16–23).
pub const IRQS: u8 = 24;

const STACK_WORDS: usize = 1024;

#[repr(C, align(16))]
struct Stack([AtomicU64; STACK_WORDS]);

static GUARD_STACK: Stack = Stack([const { AtomicU64::new(0) }; STACK_WORDS]);
/// The notification capability the guard signals when its time is up.
static GUARD_TIMEOUT: AtomicU64 = AtomicU64::new(0);

extern "C" fn guard_main(yields: u64, _: u64) -> ! {
    for _ in 0..yields {
        ipc::yield_now();
    }
    let _ = Cap::<Notification>::from_slot(GUARD_TIMEOUT.load(Ordering::SeqCst)).signal();
    // The root task suspends the guard once it wakes.
    loop {
        ipc::yield_now();
    }
}

/// What the case's process set up before the case.
#[derive(Debug)]
pub struct Env {
    pub slots: SlotAllocator,
    pub pool: Cap<Untyped>,
    /// The PIT, through a capability the environment issued for itself.
    pub pit: Pit,
    guard: Cap<Tcb>,
}

impl Env {
    pub fn new() -> Result<Self, Failure> {
        let mut slots = SlotAllocator::new(own::free_slots());
        let pool = own::MEMORY;
        let mut take = || slots.alloc().ok_or_else(|| Failure::new(format_args!("no free slot")));
        let pit_slot = take()?;
        // Issued ranges never overlap, so cases reach the PIT through this capability
        // (`Scratch::pit`) rather than issuing its ports again.
        let pit = Pit(ok(
            IO_PORT_CONTROL.issue(pit::FIRST_PORT, pit::LAST_PORT, pit_slot),
            "issue the environment's PIT ports",
        )?);
        let guard_slot = take()?;
        ok(pool.retype(ObjectKind::Tcb, 0, CNodeAt::ROOT, guard_slot, 1), "retype the guard")?;
        let guard = Cap::<Tcb>::from_slot(guard_slot);
        ok(guard.configure(&TcbConfig::new(ROOT, OWN_VSPACE)), "configure the guard")?;
        ok(guard.set_priority(OWN_TCB, 1), "set the guard's priority")?;
        Ok(Self { slots, pool, pit, guard })
    }

    /// Waits on `notification`, with the guard set to signal `timeout` (a badged
    /// capability to the same notification, [`TIMEOUT`]) if nothing else does first.
    /// Returns the bits the wait took.
    pub fn wait_guarded(
        &mut self,
        notification: Cap<Notification>,
        timeout: Cap<Notification>,
    ) -> Result<u64, Failure> {
        GUARD_TIMEOUT.store(timeout.cptr().0, Ordering::SeqCst);
        let top = GUARD_STACK.0.as_ptr() as u64 + (STACK_WORDS * 8) as u64;
        let entry: extern "C" fn(u64, u64) -> ! = guard_main;
        let mut registers = UserRegisters::start(entry as usize as u64, top - 8);
        registers.rdi = GUARD_YIELDS;
        ok(self.guard.write_registers(true, &registers), "start the guard")?;
        let bits = notification.wait();
        ok(self.guard.suspend(), "suspend the guard")?;
        ok(bits, "wait on the notification")
    }

    /// Stops the PIT and the guard, and checks that no IRQ handler is left.
    pub fn teardown(&mut self) -> Outcome {
        ok(self.pit.stop(), "stop the PIT")?;
        ok(ROOT.delete(Slot::root(self.guard.cptr().0)), "delete the guard")?;
        let slot = self.slots.alloc().ok_or_else(|| Failure::new(format_args!("no free slot")))?;
        for irq in 0..IRQS {
            match IRQ_CONTROL.get(irq, slot) {
                Ok(handler) => ok(ROOT.delete(Slot::root(handler.cptr().0)), "delete a handler")?,
                Err(Error::RangeError { word: 0 }) => {}
                Err(error) => fail!("IRQ {irq} is still taken at the end: {error}"),
            }
        }
        self.slots.free(slot);
        Ok(())
    }
}

const MAX_TAKEN: usize = 64;

/// One case's view of the environment: slots it takes are revoked, deleted and given back
/// when it ends (IRQ handlers with them, which masks their lines).
#[derive(Debug)]
pub struct Scratch<'e> {
    pub env: &'e mut Env,
    taken: TakenSlots<MAX_TAKEN>,
    objects: Option<Cap<Untyped>>,
}

impl<'e> Scratch<'e> {
    pub fn new(env: &'e mut Env) -> Self {
        Self { env, taken: TakenSlots::default(), objects: None }
    }

    pub fn pit(&self) -> Pit {
        self.env.pit
    }

    /// A free root slot, taken for this case.
    pub fn slot(&mut self) -> Result<u64, Failure> {
        self.taken.take(&mut self.env.slots, 1)
    }

    /// A fresh untyped region of `2^bits` bytes, carved from the pool.
    pub fn untyped(&mut self, bits: u8) -> Result<Cap<Untyped>, Failure> {
        let slot = self.slot()?;
        let pool = self.env.pool;
        ok(pool.retype(ObjectKind::Untyped, bits, CNodeAt::ROOT, slot, 1), "retype a test region")?;
        Ok(Cap::from_slot(slot))
    }

    /// One object of `kind` in a new slot, from `untyped`.
    pub fn object_from<T: CapType>(
        &mut self,
        untyped: Cap<Untyped>,
        kind: ObjectKind,
    ) -> Result<Cap<T>, Failure> {
        let slot = self.slot()?;
        ok(untyped.retype(kind, 0, CNodeAt::ROOT, slot, 1), "retype one object")?;
        let got = identify(CPtr(slot))?;
        ensure!(got == T::KIND, "{kind:?} in slot {slot} identifies as {got:?}");
        Ok(Cap::from_slot(slot))
    }

    /// One object of `kind` in a new slot, from this case's region.
    pub fn object<T: CapType>(&mut self, kind: ObjectKind) -> Result<Cap<T>, Failure> {
        let untyped = match self.objects {
            Some(untyped) => untyped,
            None => {
                let untyped = self.untyped(16)?;
                self.objects = Some(untyped);
                untyped
            }
        };
        self.object_from(untyped, kind)
    }

    pub fn notification(&mut self) -> Result<Cap<Notification>, Failure> {
        self.object(ObjectKind::Notification)
    }

    pub fn endpoint(&mut self) -> Result<Cap<Endpoint>, Failure> {
        self.object(ObjectKind::Endpoint)
    }

    /// A copy of `cap` with `rights` and `badge` in a new slot.
    pub fn mint<T: CapType>(
        &mut self,
        cap: Cap<T>,
        rights: Rights,
        badge: u64,
    ) -> Result<Cap<T>, Failure> {
        let slot = self.slot()?;
        ok(
            ROOT.mint(Slot::root(slot), SlotRef::root(cap.cptr().0), rights, CapData::badge(badge)),
            "mint a copy",
        )?;
        Ok(Cap::from_slot(slot))
    }

    /// A capability to the ports `first..=last` in a new slot.
    pub fn ports(&mut self, first: u16, last: u16) -> Result<Cap<IoPort>, Failure> {
        let slot = self.slot()?;
        ok(IO_PORT_CONTROL.issue(first, last, slot), "issue an I/O port capability")
    }

    /// The handler of `irq` in a new slot.
    pub fn handler(&mut self, irq: u8) -> Result<Cap<IrqHandler>, Failure> {
        let slot = self.slot()?;
        ok(IRQ_CONTROL.get(irq, slot), "get an IRQ handler")
    }

    /// Deletes the capability now; its slot stays taken until cleanup.
    pub fn delete(&mut self, cap: impl Into<CPtr>) -> Result<(), Failure> {
        ok(ROOT.delete(Slot::root(cap.into().0)), "delete a capability")
    }

    /// See [`Env::wait_guarded`].
    pub fn wait_guarded(
        &mut self,
        notification: Cap<Notification>,
        timeout: Cap<Notification>,
    ) -> Result<u64, Failure> {
        self.env.wait_guarded(notification, timeout)
    }

    /// Revokes, deletes and frees every slot taken, newest first; says what went wrong.
    pub fn cleanup(&mut self) -> Outcome {
        self.taken.release(&mut self.env.slots, |_| Ok(()))
    }
}
