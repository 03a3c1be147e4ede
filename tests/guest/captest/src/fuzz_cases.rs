//! `cap::fuzz::*`: a thread of the root task makes thousands of system calls with random
//! arguments ([`crate::fuzz`]) against capabilities of its own: a pageblock of untyped
//! memory, its own CSpace root, a spare address space, an endpoint (a partner thread
//! receives on it), a notification, a frame, the ASI control capability and a TCB that
//! hands out priorities. The kernel must answer each one without a panic,
//! and afterwards be whole: the memory comes back entirely with one revoke, the
//! restricted view is consistent, and the root task's own capabilities are untouched.

use core::sync::atomic::{AtomicU64, Ordering};

use libasi::cap::{
    AsiControl, CNode, CNodeAt, Cap, CapData, CapKind, Endpoint, Frame, Notification, ObjectKind,
    Rights, Sensitivity, Slot, SlotRef, Tcb, TcbConfig, Untyped, UserRegisters, VSpace,
};
use libasi::println;
use syscall_abi::invocation::Invocation;

use crate::env::{ROOT, Scratch};
use crate::fuzz::{self, RADIX};
use crate::report::{Failure, Outcome, holds, ok};
use crate::{Case, ensure, fail};

pub const CASES: &[Case] = &[("cap::fuzz::random_calls_leave_the_kernel_whole", random_calls)];

/// How many calls, and from which seed: every run of a seed makes the same calls (only
/// where the timer interrupts the threads differs).
#[derive(Clone, Copy, Debug)]
pub struct Campaign {
    pub seed: u64,
    pub calls: u64,
}

impl Campaign {
    /// What the test suite runs.
    const SUITE: Self = Self { seed: 0x6675_7a7a_6361_7073, calls: 100_000 };

    /// The campaign the boot arguments ask for (`fuzz_seed=` and `fuzz_calls=`, decimal or
    /// `0x` hexadecimal, as `just fuzz` passes them), if they name one.
    pub fn from_args() -> Option<Self> {
        let mut buffer = [0u8; 128];
        let args = libasi::boot::args(&mut buffer).ok()?;
        let value = |key: &str| {
            let word = args.split_whitespace().find_map(|arg| arg.strip_prefix(key))?;
            match word.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => word.parse().ok(),
            }
        };
        let (seed, calls) = (value("fuzz_seed="), value("fuzz_calls="));
        (seed.is_some() || calls.is_some()).then(|| Self {
            seed: seed.unwrap_or(Self::SUITE.seed),
            calls: calls.unwrap_or(Self::SUITE.calls),
        })
    }
}
/// Calls between the root task's revokes of the thread's memory.
const EPOCH_CALLS: u64 = 2_500;
/// Yields of the root task in a row without a call returning in the fuzz thread, which
/// runs at the same priority, before the thread counts as stuck in the kernel.
const STALL_YIELDS: u32 = 10_000;
/// The root task's priority (the kernel starts it at the highest): the fuzz thread's too.
const PRIORITY: u8 = u8::MAX;

const STACK_WORDS: usize = 2048;
#[repr(C, align(16))]
struct Stack([AtomicU64; STACK_WORDS]);
static STACKS: [Stack; 2] = [const { Stack([const { AtomicU64::new(0) }; STACK_WORDS]) }; 2];

const ASI: Cap<AsiControl> = Cap::<AsiControl>::BOOT;

fn random_calls(s: &mut Scratch<'_>) -> Outcome {
    let campaign = Campaign::from_args().unwrap_or(Campaign::SUITE);
    // A pageblock for the thread (so that it may flip its sensitivity too) and one for
    // its own objects, both nonsensitive whatever earlier cases left in the pool.
    let [memory, own] = [s.untyped(21)?, s.untyped(21)?];
    for region in [memory, own] {
        ok(ASI.set_sensitivity(region, Sensitivity::Nonsensitive), "make a region nonsensitive")?;
    }
    let cnode: Cap<CNode> = s.object(own, ObjectKind::CNode, RADIX)?;
    let tcb: Cap<Tcb> = s.object(own, ObjectKind::Tcb, 0)?;
    let vspace: Cap<VSpace> = s.object(own, ObjectKind::VSpace, 0)?;
    let endpoint: Cap<Endpoint> = s.object(own, ObjectKind::Endpoint, 0)?;
    let notification: Cap<Notification> = s.object(own, ObjectKind::Notification, 0)?;
    let frame: Cap<Frame> = s.object(own, ObjectKind::Frame4K, 0)?;
    let root = guarded(s, cnode, RADIX)?;
    let authority: Cap<Tcb> = s.object(own, ObjectKind::Tcb, 0)?;
    ok(
        authority.set_max_controlled_priority(Cap::<Tcb>::ROOT_TCB, PRIORITY),
        "let the authority hand out any priority",
    )?;
    let holdings = [
        memory.cptr(),
        root.cptr(),
        vspace.cptr(),
        endpoint.cptr(),
        notification.cptr(),
        frame.cptr(),
        ASI.cptr(),
        authority.cptr(),
    ];
    let give = |index: u64, held: libasi::cap::CPtr| {
        cnode.copy(Slot::new(index, RADIX), SlotRef::root(held.0), Rights::ALL)
    };
    for (&index, held) in fuzz::HOLDINGS.iter().zip(holdings) {
        ok(give(index, held), "give the fuzz thread a capability")?;
    }
    // The partner: the endpoint and its own CNode, the rest of which receives.
    let partner: Cap<Tcb> = s.object(own, ObjectKind::Tcb, 0)?;
    let partner_cnode: Cap<CNode> = s.object(own, ObjectKind::CNode, fuzz::PARTNER_RADIX)?;
    let partner_root = guarded(s, partner_cnode, fuzz::PARTNER_RADIX)?;
    for (index, held) in
        [(fuzz::PARTNER_ENDPOINT, endpoint.cptr()), (fuzz::PARTNER_CNODE, partner_cnode.cptr())]
    {
        ok(
            partner_cnode.copy(
                Slot::new(index, fuzz::PARTNER_RADIX),
                SlotRef::root(held.0),
                Rights::ALL,
            ),
            "give the partner a capability",
        )?;
    }
    let partner_entry: extern "C" fn(u64, u64) -> ! = fuzz::partner;
    start(
        s,
        partner,
        partner_root,
        fuzz::PARTNER_BUFFER,
        (partner_entry, &STACKS[1]),
        [!campaign.seed, 0],
        own,
    )?;
    let entry: extern "C" fn(u64, u64) -> ! = fuzz::main;
    start(s, tcb, root, fuzz::BUFFER, (entry, &STACKS[0]), [campaign.seed, campaign.calls], own)?;

    // Whenever it runs, the root task puts back what the thread deleted, moved or revoked
    // of what it started with (where the slot is empty and a copy can be made), so that
    // the thread goes on finding work.
    // Every EPOCH_CALLS calls it also takes the memory back, with everything the thread
    // made from it, so that the thread does not run out (and revokes see busy trees).
    let (mut given_back, mut epochs, mut reset) = (0, 0, Ok(()));
    let stalled = watch(|progress| {
        // Never between the thread's look at a slot and its call (see `fuzz::IN_CALL`).
        if fuzz::IN_CALL.load(Ordering::SeqCst) {
            return;
        }
        if progress / EPOCH_CALLS > epochs && reset.is_ok() {
            epochs = progress / EPOCH_CALLS;
            reset = ROOT
                .revoke(Slot::root(memory.cptr().0))
                .and_then(|()| ASI.set_sensitivity(memory, Sensitivity::Nonsensitive));
        }
        for (&index, held) in fuzz::HOLDINGS.iter().zip(holdings) {
            given_back += u64::from(give(index, held).is_ok());
        }
    });
    // Whatever it left running (threads it made, at any priority) goes with the memory.
    ok(ROOT.delete(Slot::root(tcb.cptr().0)), "delete the fuzz thread")?;
    ok(ROOT.delete(Slot::root(partner.cptr().0)), "delete the partner")?;
    if let Some(calls) = stalled {
        let last = fuzz::LAST.each_ref().map(|word| word.load(Ordering::SeqCst));
        fail!(
            "the fuzz thread's call {} never returned: number {}, pointer {:#x}, header {:#x}, \
             words {:#x?}",
            calls + 1,
            last[0],
            last[1],
            last[2],
            &last[3..]
        );
    }
    ok(reset, "take the memory back from the fuzz thread")?;
    report(campaign, given_back, epochs)?;
    whole_again(s, memory)
}

/// A copy of `cnode` (of radix `radix`) with a guard of zeros that makes it resolve slot
/// numbers at depth 64, as the root task's CNode does: a thread's CSpace root.
fn guarded(s: &mut Scratch<'_>, cnode: Cap<CNode>, radix: u8) -> Result<Cap<CNode>, Failure> {
    let slot = s.slot()?;
    let Some(guard) = CapData::guard(0, 64 - radix) else { fail!("guard encoding") };
    ok(
        ROOT.mint(Slot::root(slot), SlotRef::root(cnode.cptr().0), Rights::ALL, guard),
        "mint a guarded CSpace root",
    )?;
    Ok(Cap::from_slot(slot))
}

/// Starts `tcb` in the root task's address space at its priority, with CSpace root
/// `cspace` and an IPC buffer of its own at `buffer` (a frame from `memory`), running
/// `entry(args)` on `stack`.
fn start(
    s: &mut Scratch<'_>,
    tcb: Cap<Tcb>,
    cspace: Cap<CNode>,
    buffer: u64,
    (entry, stack): (extern "C" fn(u64, u64) -> !, &Stack),
    args: [u64; 2],
    memory: Cap<Untyped>,
) -> Outcome {
    let frame: Cap<Frame> = s.object(memory, ObjectKind::Frame4K, 0)?;
    s.map(frame, buffer, memory)?;
    let config =
        TcbConfig::new(cspace, Cap::<VSpace>::ROOT_VSPACE).ipc_buffer(buffer, frame.cptr());
    ok(tcb.configure(&config), "configure a thread")?;
    let top = stack.0.as_ptr() as u64 + (STACK_WORDS * 8) as u64;
    let mut registers = UserRegisters::start(entry as usize as u64, top - 8);
    [registers.rdi, registers.rsi] = args;
    ok(tcb.write_registers(false, &registers), "write a thread's registers")?;
    ok(tcb.set_priority(Cap::<Tcb>::ROOT_TCB, PRIORITY), "set a thread's priority")?;
    ok(tcb.resume(), "start a thread")
}

/// Yields to the fuzz thread until it is done, running `between` with the number of calls
/// made whenever it gets the CPU back: `None`, or the number of calls the thread had made
/// when it stopped returning from one.
fn watch(mut between: impl FnMut(u64)) -> Option<u64> {
    let (mut seen, mut still) = (0, 0);
    while !fuzz::DONE.load(Ordering::SeqCst) {
        libasi::ipc::yield_now();
        let progress = fuzz::PROGRESS.load(Ordering::SeqCst);
        between(progress);
        if progress != seen {
            (seen, still) = (progress, 0);
        } else if still == STALL_YIELDS {
            return Some(progress);
        } else {
            still += 1;
        }
    }
    None
}

/// Prints what the calls got, and fails unless enough of them did real work.
fn report(Campaign { seed, calls }: Campaign, given_back: u64, epochs: u64) -> Outcome {
    let statuses = fuzz::STATUSES.each_ref().map(|count| count.load(Ordering::SeqCst));
    let retypes = fuzz::SUCCESSES[Invocation::UntypedRetype as usize].load(Ordering::SeqCst);
    let invoked = fuzz::SUCCESSES.iter().filter(|count| count.load(Ordering::SeqCst) > 0).count();
    let received = fuzz::RECEIVED.load(Ordering::SeqCst);
    let received_caps = fuzz::RECEIVED_CAPS.load(Ordering::SeqCst);
    println!(
        "captest: fuzz: {calls} calls from seed {seed:#x}: {} succeeded ({retypes} retypes, \
         {invoked} kinds of invocation); by error code: {:?}; {given_back} capabilities given \
         back, the memory taken back {epochs} times; the partner received {received} messages and {received_caps} capabilities",
        statuses[0],
        &statuses[1..]
    );
    ensure!(statuses.iter().sum::<u64>() == calls, "calls counted: {statuses:?}");
    ensure!(
        statuses[0] >= calls / 20 && retypes >= 20 && invoked >= 10,
        "too few calls did anything to test much: {} succeeded, {retypes} retypes, {invoked} \
         kinds of invocation",
        statuses[0]
    );
    ensure!(
        received >= 20 && received_caps >= 1,
        "too few messages reached the partner: {received}, with {received_caps} capabilities"
    );
    Ok(())
}

/// After the thread: one revoke takes the whole pageblock back (a region of its full
/// size can be carved from it again), it can be made nonsensitive again, the restricted
/// view agrees with the pageblocks, and the root task's capabilities are where they were.
fn whole_again(s: &mut Scratch<'_>, memory: Cap<Untyped>) -> Outcome {
    ok(ROOT.revoke(Slot::root(memory.cptr().0)), "revoke the fuzzed memory")?;
    ensure!(!s.has_children(memory)?, "the fuzzed memory still has children after a revoke");
    ok(ASI.set_sensitivity(memory, Sensitivity::Nonsensitive), "make the memory nonsensitive")?;
    let whole = s.slot()?;
    ok(
        memory.retype(ObjectKind::Untyped, 21, CNodeAt::ROOT, whole, 1),
        "carve the whole pageblock again",
    )?;
    ok(ROOT.delete(Slot::root(whole)), "delete the whole region")?;
    ok(ASI.verify(), "AsiControl::verify after the fuzzing")?;
    holds(Cap::<CNode>::ROOT.cptr(), CapKind::CNode, "the root CNode")?;
    holds(Cap::<Tcb>::ROOT_TCB.cptr(), CapKind::Tcb, "the root TCB")?;
    holds(Cap::<VSpace>::ROOT_VSPACE.cptr(), CapKind::VSpace, "the root VSpace")?;
    holds(ASI.cptr(), CapKind::AsiControl, "the ASI control capability")
}
