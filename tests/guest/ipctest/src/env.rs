//! What a case runs in, inside the process the runner spawned for it: the process's free
//! slots, the memory the runner granted it as a pool, its IPC buffer, the IPC buffers and
//! stacks for child threads, the `DONE` notification children signal, and a watchdog
//! thread that signals it when everything else is blocked. [`Scratch`] starts children
//! for the case and cleans up after it.

use core::sync::atomic::{AtomicU64, Ordering};

use case_process::own;
use libasi::Error;
use libasi::boot::SlotRange;
use libasi::cap::{
    CNode, CNodeAt, CPtr, Cap, CapData, CapType, Frame, FrameAttributes, Notification, ObjectKind,
    PageTable, Rights, Sensitivity, Slot, SlotAllocator, SlotRef, Tcb, TcbConfig, Untyped,
    UserRegisters, VSpace,
};
use libasi::ipc::{IpcBuffer, IpcBufferCell};

use crate::report::{Failure, TakenSlots, identify, ok};
use crate::{ensure, fail};

pub const ROOT: Cap<CNode> = own::CNODE;
pub const OWN_TCB: Cap<Tcb> = own::TCB;
pub const OWN_VSPACE: Cap<VSpace> = own::VSPACE;

/// How many child threads one case may run at once (each has a stack and IPC buffer).
pub const CHILDREN: usize = 4;
/// The watchdog's stack.
const WATCHDOG: usize = CHILDREN;
const STACK_WORDS: usize = 2048;

/// A 2 MiB pageblock, the unit of sensitivity, in bits.
pub const PAGEBLOCK_BITS: u8 = 21;

/// Where the children's IPC buffer frames are mapped, one page each.
pub const CHILD_BUFFER_BASE: u64 = 0x10_0000_0000;

/// The badge the watchdog signals `DONE` with: every other thread is blocked.
pub const DEADLOCK: u64 = 1 << 63;

/// The badge child `index` signals `DONE` with.
pub const fn done_badge(index: usize) -> u64 {
    1 << index
}

#[repr(C, align(16))]
struct Stack([AtomicU64; STACK_WORDS]);

static STACKS: [Stack; CHILDREN + 1] =
    [const { Stack([const { AtomicU64::new(0) }; STACK_WORDS]) }; CHILDREN + 1];

/// Each child's IPC buffer (NONE for a child started without one).
pub static CHILD_BUFFERS: [IpcBufferCell; CHILDREN] = [const { IpcBufferCell::new() }; CHILDREN];
/// The badged `DONE` capability of each child, and the watchdog's.
static DONE_CAPS: [AtomicU64; CHILDREN + 1] = [const { AtomicU64::new(0) }; CHILDREN + 1];

/// Words children and the root share; cleared before every case.
pub static SHARED: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];

pub fn shared(index: usize) -> u64 {
    SHARED[index].load(Ordering::SeqCst)
}

pub fn set_shared(index: usize, value: u64) {
    SHARED[index].store(value, Ordering::SeqCst);
}

/// A child's view of its own buffer.
pub fn child_buffer(index: u64) -> IpcBuffer {
    CHILD_BUFFERS.get(index as usize).map_or(IpcBuffer::NONE, IpcBufferCell::get)
}

/// Signals `DONE` with child `index`'s badge and ends the thread.
pub fn child_done(index: u64) -> ! {
    let _ =
        Cap::<Notification>::from_slot(DONE_CAPS[index as usize].load(Ordering::SeqCst)).signal();
    libasi::thread::exit(0)
}

/// Signals `DONE` with child `index`'s badge (the child goes on).
pub fn child_signal(index: u64) {
    let _ =
        Cap::<Notification>::from_slot(DONE_CAPS[index as usize].load(Ordering::SeqCst)).signal();
}

extern "C" fn watchdog_main(_: u64, _: u64) -> ! {
    let done = Cap::<Notification>::from_slot(DONE_CAPS[WATCHDOG].load(Ordering::SeqCst));
    loop {
        let _ = done.signal();
    }
}

/// The entry of a child thread: `arg` in rdi, its index (stack, IPC buffer, DONE badge) in
/// rsi.
pub type Entry = extern "C" fn(u64, u64) -> !;

/// What the case's process set up before the case.
#[derive(Debug)]
pub struct Env {
    pub slots: SlotAllocator,
    pub pool: Cap<Untyped>,
    pub buffer: IpcBuffer,
    pub done: Cap<Notification>,
}

impl Env {
    /// Also starts the watchdog.
    pub fn new() -> Result<Self, Failure> {
        let mut slots = SlotAllocator::new(own::free_slots());
        let pool = own::MEMORY;
        let buffer = ok(own::buffer(), "the process's IPC buffer")?;
        let mut take = || slots.alloc().ok_or_else(|| Failure::new(format_args!("no free slot")));
        let done_slot = take()?;
        ok(pool.retype(ObjectKind::Notification, 0, CNodeAt::ROOT, done_slot, 1), "retype DONE")?;
        let done = Cap::<Notification>::from_slot(done_slot);
        for (index, cell) in DONE_CAPS.iter().enumerate() {
            let slot = take()?;
            let badge = if index == WATCHDOG { DEADLOCK } else { done_badge(index) };
            ok(
                ROOT.mint(
                    Slot::root(slot),
                    SlotRef::root(done_slot),
                    Rights::WRITE,
                    CapData::badge(badge),
                ),
                "mint a DONE badge",
            )?;
            cell.store(slot, Ordering::SeqCst);
        }
        ok(OWN_TCB.bind_notification(done), "bind DONE to the case's thread")?;
        for index in 0..CHILDREN {
            let frame = take()?;
            ok(
                pool.retype(ObjectKind::Frame4K, 0, CNodeAt::ROOT, frame, 1),
                "retype a buffer frame",
            )?;
            record_buffer_frame(index, frame);
            let address = CHILD_BUFFER_BASE + 0x1000 * index as u64;
            map_with_tables(Cap::from_slot(frame), address, &mut || {
                let slot = take()?;
                Ok((pool, slot))
            })?;
        }
        let watchdog_slot = take()?;
        ok(
            pool.retype(ObjectKind::Tcb, 0, CNodeAt::ROOT, watchdog_slot, 1),
            "retype the watchdog",
        )?;
        let watchdog = Cap::<Tcb>::from_slot(watchdog_slot);
        let config = TcbConfig::new(ROOT, OWN_VSPACE);
        start_at(watchdog, watchdog_main, 0, WATCHDOG, config, 1, true)?;
        Ok(Self { slots, pool, buffer, done })
    }
}

/// Maps `frame` read-write at `address` in the root VSpace, retyping and installing the
/// page tables it is missing from the untyped and slot `table` hands out.
pub fn map_with_tables(
    frame: Cap<Frame>,
    address: u64,
    table: &mut dyn FnMut() -> Result<(Cap<Untyped>, u64), Failure>,
) -> Result<(), Failure> {
    for _ in 0..4 {
        match frame.map(OWN_VSPACE, address, Rights::READ | Rights::WRITE, FrameAttributes::NONE) {
            Ok(()) => return Ok(()),
            Err(Error::MissingPageTable { level }) => {
                let kind = match level {
                    1 => ObjectKind::PageDirectoryPointerTable,
                    2 => ObjectKind::PageDirectory,
                    3 => ObjectKind::PageTable,
                    _ => fail!("MissingPageTable names level {level}"),
                };
                let (untyped, slot) = table()?;
                ok(untyped.retype(kind, 0, CNodeAt::ROOT, slot, 1), "retype a page table")?;
                ok(
                    Cap::<PageTable>::from_slot(slot).map(OWN_VSPACE, address),
                    "install a page table",
                )?;
            }
            Err(error) => fail!("map a frame at {address:#x}: {error}"),
        }
    }
    fail!("mapping at {address:#x} still misses tables after three installs")
}

fn stack_top(index: usize) -> u64 {
    STACKS[index].0.as_ptr() as u64 + (STACK_WORDS * 8) as u64
}

/// Configures `tcb`, points it at `entry` with `arg` (rdi) and `index` (rsi), sets its
/// priority and (if `start`) resumes it.
pub fn start_at(
    tcb: Cap<Tcb>,
    entry: Entry,
    arg: u64,
    index: usize,
    config: TcbConfig,
    priority: u8,
    start: bool,
) -> Result<(), Failure> {
    ok(tcb.configure(&config), "configure a child TCB")?;
    let mut registers = UserRegisters::start(entry as usize as u64, stack_top(index) - 8);
    registers.rdi = arg;
    registers.rsi = index as u64;
    ok(tcb.write_registers(false, &registers), "write a child's registers")?;
    ok(tcb.set_priority(OWN_TCB, priority), "set a child's priority")?;
    if start {
        ok(tcb.resume(), "resume a child")?;
    }
    Ok(())
}

/// How to start a child.
#[derive(Clone, Copy, Debug)]
pub struct Spawn {
    pub priority: u8,
    pub fault_endpoint: CPtr,
    pub buffer: bool,
    /// An IPC buffer the case mapped itself: its address and frame (instead of the
    /// child's own from start-up, if `buffer`).
    pub buffer_in: Option<(u64, CPtr)>,
    pub start: bool,
}

impl Spawn {
    /// Below the root task: it runs when the root task blocks.
    pub const LOW: Self = Self {
        priority: 100,
        fault_endpoint: CPtr::NULL,
        buffer: false,
        buffer_in: None,
        start: true,
    };

    #[must_use]
    pub const fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    #[must_use]
    pub const fn fault(mut self, endpoint: CPtr) -> Self {
        self.fault_endpoint = endpoint;
        self
    }

    #[must_use]
    pub const fn with_buffer(mut self) -> Self {
        self.buffer = true;
        self
    }

    /// The IPC buffer is `frame`, which the case mapped read-write at `address` in the
    /// process's VSpace.
    #[must_use]
    pub const fn with_buffer_in(mut self, address: u64, frame: Cap<Frame>) -> Self {
        self.buffer_in = Some((address, frame.cptr()));
        self
    }

    #[must_use]
    pub const fn stopped(mut self) -> Self {
        self.start = false;
        self
    }
}

/// A child started by [`Scratch::spawn`].
#[derive(Clone, Copy, Debug)]
pub struct Child {
    pub tcb: Cap<Tcb>,
    pub index: usize,
}

impl Child {
    pub const fn done_badge(self) -> u64 {
        done_badge(self.index)
    }
}

const MAX_TAKEN: usize = 128;

/// One case's view of the environment: slots it takes are revoked, deleted and given back
/// when it ends; children it starts go with their TCBs.
#[derive(Debug)]
pub struct Scratch<'e> {
    pub env: &'e mut Env,
    taken: TakenSlots<MAX_TAKEN>,
    children: usize,
    objects: Option<Cap<Untyped>>,
    /// The slot of the pageblock [`Scratch::sensitive_pageblock`] made sensitive.
    sensitive: Option<u64>,
}

impl<'e> Scratch<'e> {
    pub fn new(env: &'e mut Env) -> Self {
        for word in &SHARED {
            word.store(0, Ordering::SeqCst);
        }
        for cell in &CHILD_BUFFERS {
            cell.set(IpcBuffer::NONE);
        }
        let _ = env.done.poll();
        Self { env, taken: TakenSlots::default(), children: 0, objects: None, sensitive: None }
    }

    pub fn buffer(&self) -> IpcBuffer {
        self.env.buffer
    }

    /// A free root slot, taken for this case.
    pub fn slot(&mut self) -> Result<u64, Failure> {
        self.taken.take(&mut self.env.slots, 1)
    }

    /// `count` consecutive free root slots, taken for this case.
    pub fn slots(&mut self, count: usize) -> Result<SlotRange, Failure> {
        let start = self.taken.take(&mut self.env.slots, count)?;
        Ok(SlotRange { start, end: start + count as u64 })
    }

    /// A fresh untyped region of `2^bits` bytes, carved from the pool.
    pub fn untyped(&mut self, bits: u8) -> Result<Cap<Untyped>, Failure> {
        let slot = self.slot()?;
        let pool = self.env.pool;
        ok(pool.retype(ObjectKind::Untyped, bits, CNodeAt::ROOT, slot, 1), "retype a test region")?;
        Ok(Cap::from_slot(slot))
    }

    /// A 2 MiB pageblock carved from the pool and made sensitive with the ASI control
    /// capability (granted to this program by the runner's `asi-control=ipctest`). Cleanup makes
    /// it nonsensitive again, once what was carved from it is revoked: the sensitivity
    /// of memory outlives the capabilities to it, and the next case's process is made
    /// from the same memory. One per case.
    pub fn sensitive_pageblock(&mut self) -> Result<Cap<Untyped>, Failure> {
        ensure!(self.sensitive.is_none(), "a case asks for a second sensitive pageblock");
        let block = self.untyped(PAGEBLOCK_BITS)?;
        self.sensitive = Some(block.cptr().0);
        ok(
            own::ASI_CONTROL.set_sensitivity(block, Sensitivity::Sensitive),
            "make a pageblock sensitive (is the ASI control capability granted?)",
        )?;
        Ok(block)
    }

    /// One object of `kind` in a new slot, from this case's region.
    pub fn object<T: CapType>(&mut self, kind: ObjectKind) -> Result<Cap<T>, Failure> {
        let untyped = match self.objects {
            Some(untyped) => untyped,
            None => {
                let untyped = self.untyped(20)?;
                self.objects = Some(untyped);
                untyped
            }
        };
        let slot = self.slot()?;
        ok(untyped.retype(kind, 0, CNodeAt::ROOT, slot, 1), "retype one object")?;
        let got = identify(CPtr(slot))?;
        ensure!(got == T::KIND, "{kind:?} in slot {slot} identifies as {got:?}");
        Ok(Cap::from_slot(slot))
    }

    pub fn endpoint(&mut self) -> Result<Cap<libasi::cap::Endpoint>, Failure> {
        self.object(ObjectKind::Endpoint)
    }

    pub fn notification(&mut self) -> Result<Cap<Notification>, Failure> {
        self.object(ObjectKind::Notification)
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

    /// A TCB, not configured.
    pub fn tcb(&mut self) -> Result<Cap<Tcb>, Failure> {
        self.object(ObjectKind::Tcb)
    }

    /// Starts a child thread at `entry` with `arg`.
    pub fn spawn(&mut self, entry: Entry, arg: u64, how: Spawn) -> Result<Child, Failure> {
        ensure!(self.children < CHILDREN, "case starts more than {CHILDREN} children");
        let index = self.children;
        self.children += 1;
        let tcb = self.tcb()?;
        let mut config = TcbConfig::new(ROOT, OWN_VSPACE).fault_endpoint(how.fault_endpoint);
        let buffer = match how.buffer_in {
            Some(mapped) => Some(mapped),
            None if how.buffer => {
                Some((CHILD_BUFFER_BASE + 0x1000 * index as u64, self.env.buffer_frame(index)?))
            }
            None => None,
        };
        if let Some((address, frame)) = buffer {
            config = config.ipc_buffer(address, frame);
            // SAFETY: the page at `address` was mapped read-write (at start-up, or by the
            // case for `buffer_in`) and holds no Rust object; it becomes this child's
            // registered buffer by the configure below and only this child uses it.
            let buffer = unsafe { IpcBuffer::new(address) };
            CHILD_BUFFERS[index].set(buffer.unwrap_or(IpcBuffer::NONE));
        }
        start_at(tcb, entry, arg, index, config, how.priority, how.start)?;
        Ok(Child { tcb, index })
    }

    /// Waits on `DONE` until every bit of `want` has come; fails if the watchdog says
    /// everything else is blocked first. Returns the bits seen.
    pub fn wait_done(&mut self, want: u64, what: &str) -> Result<u64, Failure> {
        let mut seen = 0;
        while seen & want != want {
            let bits = ok(self.env.done.wait(), "wait on DONE")?;
            seen |= bits;
            ensure!(
                bits & DEADLOCK == 0 || seen & want == want,
                "{what}: every thread blocked before DONE bits {want:#x} came (got {seen:#x})"
            );
        }
        Ok(seen)
    }

    /// Waits until every other thread is blocked (the watchdog signals).
    pub fn wait_idle(&mut self) -> Result<u64, Failure> {
        let mut seen = 0;
        while seen & DEADLOCK == 0 {
            seen |= ok(self.env.done.wait(), "wait on DONE")?;
        }
        Ok(seen)
    }

    /// Deletes `slot` now (a TCB, endpoint, ...); it stays taken until cleanup.
    pub fn delete(&mut self, cap: impl Into<CPtr>) -> Result<(), Failure> {
        let cptr = cap.into();
        ok(ROOT.delete(Slot::root(cptr.0)), "delete a capability")
    }

    /// Revokes, deletes and frees every slot taken, newest first; says what went wrong.
    pub fn cleanup(&mut self) -> Result<(), Failure> {
        let sensitive = self.sensitive.take();
        let result =
            self.taken.release(&mut self.env.slots, |slot| restore_sensitivity(sensitive, slot));
        let _ = self.env.done.poll();
        result
    }
}

/// Makes the pageblock in `slot` nonsensitive again if it is `sensitive`, the one
/// [`Scratch::sensitive_pageblock`] made sensitive (with nothing carved from it now).
fn restore_sensitivity(sensitive: Option<u64>, slot: u64) -> Result<(), Error> {
    if sensitive != Some(slot) {
        return Ok(());
    }
    own::ASI_CONTROL.set_sensitivity(Cap::from_slot(slot), Sensitivity::Nonsensitive)
}

impl Env {
    /// The frame of child buffer `index`, found by its slot (kept from start-up).
    fn buffer_frame(&self, index: usize) -> Result<CPtr, Failure> {
        let frame = BUFFER_FRAMES[index].load(Ordering::SeqCst);
        ensure!(frame != 0, "child buffer {index} has no frame");
        Ok(CPtr(frame))
    }
}

static BUFFER_FRAMES: [AtomicU64; CHILDREN] = [const { AtomicU64::new(0) }; CHILDREN];

pub fn record_buffer_frame(index: usize, slot: u64) {
    BUFFER_FRAMES[index].store(slot, Ordering::SeqCst);
}
