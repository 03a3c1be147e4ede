//! `cap::sensitivity::*`: memory is sensitive or nonsensitive per 2 MiB pageblock; boot
//! leaves what it hands out whole sensitive, kernel objects come only from nonsensitive
//! memory, and the ASI control capability changes it, zeroing what becomes nonsensitive.
//!
//! The environment made the pool nonsensitive; cases carve pageblocks from it and make
//! them sensitive when they need sensitive memory.

use libasi::Error;
use libasi::cap::{
    AsiControl, CNode, CNodeAt, Cap, CapKind, Counters, Endpoint, Frame, Invocation, ObjectKind,
    Sensitivity, Slot, Tcb, TcbConfig, Untyped, UntypedInfo, VSpace, invocation,
};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use syscall_abi::counters::Counter;

use crate::env::{KERNEL_OBJECTS, ROOT, Scratch};
use crate::report::{Failure, Outcome, identify, ok, refused};
use crate::{Case, ensure, fail};

pub const CASES: &[Case] = &[
    ("cap::sensitivity::boot_leaves_handed_out_pageblocks_sensitive", boot_leaves_sensitive),
    ("cap::sensitivity::kernel_objects_need_nonsensitive_memory", kernel_objects_need_it),
    ("cap::sensitivity::refused_changes_change_nothing", refused_changes),
    ("cap::sensitivity::memory_becoming_nonsensitive_is_zeroed", zeroed_when_nonsensitive),
    ("cap::sensitivity::flips_count_only_what_changes", flips_count),
    ("cap::sensitivity::verifier_passes_after_boot", verifier_after_boot),
    ("cap::sensitivity::verifier_passes_after_many_flips", verifier_after_flips),
    ("cap::sensitivity::restricted_view_lacks_sensitive_blocks", restricted_view),
    ("cap::sensitivity::reply_into_a_sensitive_ipc_buffer_exits_once", sensitive_buffer_exits),
    ("cap::sensitivity::untyped_describes_its_memory", untyped_describes_itself),
];

const ASI: Cap<AsiControl> = Cap::<AsiControl>::BOOT;
/// One pageblock, in bits.
const PAGEBLOCK_BITS: u8 = 21;
/// Where the zeroing case maps its frame: a part of the user half nothing else uses.
const TEST_ADDRESS: u64 = 0x0000_4000_0000_0000;
/// The words the zeroing case writes, at these byte offsets in the frame.
const SECRET: u64 = 0x5ec2_e7c0_ffee_0001;
const SECRET_OFFSETS: [u64; 4] = [0, 8, 2048, 4088];

/// Gives `region` `sensitivity`, then checks the restricted view against the map, as
/// every change in these cases does.
fn set(region: Cap<Untyped>, sensitivity: Sensitivity) -> Outcome {
    ok(ASI.set_sensitivity(region, sensitivity), "set the sensitivity")?;
    ok(ASI.verify(), "verify the restricted view after the change")
}

/// A pageblock carved from the pool, given `sensitivity`.
fn pageblock(s: &mut Scratch<'_>, sensitivity: Sensitivity) -> Result<Cap<Untyped>, Failure> {
    let block = s.untyped(PAGEBLOCK_BITS)?;
    set(block, sensitivity)?;
    Ok(block)
}

fn sensitivity_of(frame: Cap<Frame>) -> Result<Sensitivity, Failure> {
    ok(frame.sensitivity(), "ask the frame's sensitivity")
}

fn counters() -> Result<Counters, Failure> {
    let buffer = ok(libasi::process::ipc_buffer(), "find the IPC buffer")?;
    ok(ASI.counters(buffer, 0), "read the counters")
}

/// Revokes everything carved from `block`, so that its sensitivity may change again.
fn empty(block: Cap<Untyped>) -> Outcome {
    ok(ROOT.revoke(Slot::root(block.cptr().0)), "revoke the pageblock")
}

fn boot_leaves_sensitive(s: &mut Scratch<'_>) -> Outcome {
    let pool = s.env.pool;
    let info = s.info();
    let Some(index) = info.untyped().iter().enumerate().position(|(index, untyped)| {
        let slot = info.untyped_slots.start + index as u64;
        !untyped.device && untyped.size_bits >= PAGEBLOCK_BITS && slot != pool.cptr().0
    }) else {
        fail!("no other untyped region of whole pageblocks");
    };
    let region = Cap::<Untyped>::from_slot(info.untyped_slots.start + index as u64);
    let frame: Cap<Frame> = s.object(region, ObjectKind::Frame4K, 0)?;
    ensure!(
        sensitivity_of(frame)? == Sensitivity::Sensitive,
        "a frame from untyped region {} (handed out whole at boot) is nonsensitive",
        region.cptr()
    );
    let slot = s.slot()?;
    refused(
        region.retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, slot, 1),
        Error::SensitiveMemory,
        "an endpoint from memory boot left sensitive",
    )
}

fn kernel_objects_need_it(s: &mut Scratch<'_>) -> Outcome {
    let block = pageblock(s, Sensitivity::Sensitive)?;
    for (kind, bits) in KERNEL_OBJECTS {
        let slot = s.slot()?;
        refused(
            block.retype(kind, bits, CNodeAt::ROOT, slot, 1),
            Error::SensitiveMemory,
            "a kernel object from sensitive memory",
        )?;
        ensure!(!s.has_children(block)?, "a refused {kind:?} retype left a child");
    }
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    ensure!(sensitivity_of(frame)? == Sensitivity::Sensitive, "a frame of sensitive memory");
    let _: Cap<Untyped> = s.object(block, ObjectKind::Untyped, 12)?;
    empty(block)?;
    set(block, Sensitivity::Nonsensitive)?;
    let endpoint: Cap<Endpoint> = s.object(block, ObjectKind::Endpoint, 0)?;
    ensure!(endpoint.cptr().0 != 0, "no endpoint slot");
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    ensure!(sensitivity_of(frame)? == Sensitivity::Nonsensitive, "a frame of nonsensitive memory");
    Ok(())
}

fn refused_changes(s: &mut Scratch<'_>) -> Outcome {
    if let Some((device, _)) = s.env.device_untyped(PAGEBLOCK_BITS) {
        refused(
            ASI.set_sensitivity(device, Sensitivity::Nonsensitive),
            Error::DeviceMemory,
            "device memory",
        )?;
    }
    let block = pageblock(s, Sensitivity::Sensitive)?;
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    refused(
        ASI.set_sensitivity(block, Sensitivity::Nonsensitive),
        Error::RevokeFirst,
        "a pageblock with a frame carved from it",
    )?;
    ensure!(sensitivity_of(frame)? == Sensitivity::Sensitive, "the refused change took effect");
    let half = s.untyped(PAGEBLOCK_BITS - 1)?;
    refused(
        ASI.set_sensitivity(half, Sensitivity::Sensitive),
        Error::NotPageblocks,
        "half a pageblock",
    )?;
    let endpoint: Cap<Endpoint> = s.object(s.env.pool, ObjectKind::Endpoint, 0)?;
    refused(
        ASI.set_sensitivity(Cap::from_slot(endpoint.cptr().0), Sensitivity::Sensitive),
        Error::InvalidCapability { word: 0 },
        "an endpoint as the region",
    )?;
    empty(block)?;
    let unknown = Message::new(Invocation::AsiControlSetSensitivity.label())
        .push(block.cptr().0)
        .push(7)
        .call(ASI.cptr());
    refused(unknown, Error::InvalidArgument { word: 1 }, "sensitivity 7")?;
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    ensure!(sensitivity_of(frame)? == Sensitivity::Sensitive, "a refused change took effect");
    Ok(())
}

fn zeroed_when_nonsensitive(s: &mut Scratch<'_>) -> Outcome {
    let block = pageblock(s, Sensitivity::Sensitive)?;
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    let address = ok(frame.address(), "the frame's address")?;
    let pool = s.env.pool;
    s.map(frame, TEST_ADDRESS, pool)?;
    for offset in SECRET_OFFSETS {
        // SAFETY: the frame is mapped read-write at TEST_ADDRESS (just above), and no
        // Rust reference points into it.
        unsafe { libasi::syscall::write_word(TEST_ADDRESS + offset, SECRET) };
    }
    ok(frame.unmap(), "unmap the frame")?;
    empty(block)?;
    let before = counters()?;
    ok(ASI.set_sensitivity(block, Sensitivity::Nonsensitive), "make the pageblock nonsensitive")?;
    let spent = counters()?.since(&before);
    ensure!(
        spent.get(Counter::Flips) == 1,
        "{} flips for one pageblock",
        spent.get(Counter::Flips)
    );
    ensure!(
        spent.get(Counter::PagesZeroed) == 512,
        "{} pages zeroed for one pageblock",
        spent.get(Counter::PagesZeroed)
    );
    let again: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    ensure!(ok(again.address(), "the new frame's address")? == address, "a frame elsewhere");
    let pool = s.env.pool;
    s.map(again, TEST_ADDRESS, pool)?;
    for offset in SECRET_OFFSETS {
        // SAFETY: as above, for the new frame.
        let word = unsafe { libasi::syscall::read_word(TEST_ADDRESS + offset) };
        ensure!(word == 0, "word at offset {offset} reads {word:#x} after the change");
    }
    ok(again.unmap(), "unmap the new frame")
}

fn flips_count(s: &mut Scratch<'_>) -> Outcome {
    let block = s.untyped(PAGEBLOCK_BITS)?;
    let steps = [
        (Sensitivity::Nonsensitive, 0),
        (Sensitivity::Sensitive, 1),
        (Sensitivity::Sensitive, 0),
        (Sensitivity::Nonsensitive, 1),
    ];
    for (sensitivity, flips) in steps {
        let before = counters()?;
        ok(ASI.set_sensitivity(block, sensitivity), "set the sensitivity")?;
        let spent = counters()?.since(&before);
        ok(ASI.verify(), "verify the restricted view after the change")?;
        let zeroed = if sensitivity == Sensitivity::Nonsensitive { flips * 512 } else { 0 };
        ensure!(
            spent.get(Counter::Flips) == flips && spent.get(Counter::PagesZeroed) == zeroed,
            "to {sensitivity:?}: {} flips and {} pages zeroed, expected {flips} and {zeroed}",
            spent.get(Counter::Flips),
            spent.get(Counter::PagesZeroed)
        );
    }
    let kind = identify(block.cptr())?;
    ensure!(kind == CapKind::Untyped, "the pageblock became {kind:?}");
    Ok(())
}

fn verifier_after_boot(_: &mut Scratch<'_>) -> Outcome {
    ok(ASI.verify(), "verify the restricted view")
}

/// Pageblocks the many-flips case changes.
const FLIPPED_BLOCKS: usize = 6;
/// Changes it makes, each followed by the verifier.
const FLIPS: usize = 48;

fn verifier_after_flips(s: &mut Scratch<'_>) -> Outcome {
    let mut blocks = [Cap::<Untyped>::from_slot(0); FLIPPED_BLOCKS];
    for block in &mut blocks {
        *block = s.untyped(PAGEBLOCK_BITS)?;
    }
    // A fixed linear congruential sequence: the same "random" flips every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..FLIPS {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let block = blocks[(state >> 33) as usize % FLIPPED_BLOCKS];
        let sensitivity =
            if state >> 63 == 1 { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive };
        set(block, sensitivity)?;
    }
    Ok(())
}

fn restricted_view(s: &mut Scratch<'_>) -> Outcome {
    /// A 2 MiB page's frame-number bits.
    const FRAME_BITS: u64 = 0x000f_ffff_ffe0_0000;
    let block = pageblock(s, Sensitivity::Sensitive)?;
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    let base = ok(frame.address(), "the pageblock's first frame")?;
    ensure!(
        base.is_multiple_of(1 << PAGEBLOCK_BITS),
        "the first frame is not at the block's start"
    );
    let entry = ok(ASI.restricted_entry(base), "read the restricted entry")?;
    ensure!(entry == 0, "a sensitive pageblock's restricted entry is {entry:#x}, not 0");
    empty(block)?;
    set(block, Sensitivity::Nonsensitive)?;
    let entry = ok(ASI.restricted_entry(base), "read the restricted entry")?;
    ensure!(
        entry & 1 == 1 && entry & FRAME_BITS == base,
        "a nonsensitive pageblock at {base:#x} has restricted entry {entry:#x}"
    );
    refused(
        ASI.restricted_entry(!((1 << PAGEBLOCK_BITS) - 1)),
        Error::RangeError { word: 0 },
        "an address no RAM is at",
    )
}

/// Gives the root task's own thread the IPC buffer at `address` in `frame`, keeping its
/// CSpace and VSpace. The request's words beyond the registers go through `current`, the
/// buffer the thread has now (libasi's own calls would use the boot one).
fn set_own_buffer(address: u64, frame: Cap<Frame>, current: IpcBuffer) -> Outcome {
    let config = TcbConfig::new(Cap::<CNode>::ROOT, Cap::<VSpace>::ROOT_VSPACE)
        .ipc_buffer(address, frame.cptr());
    let request = invocation::tcb_configure(&config);
    let thread = Cap::<Tcb>::ROOT_TCB.cast::<Endpoint>();
    ok(thread.call(current, &request), "configure the root thread's IPC buffer").map(drop)
}

/// The counters' increase between two reads through `buffer`: the first read's reply words
/// beyond the registers go into the buffer, and its way back to user mode follows.
fn between_two_reads(buffer: IpcBuffer) -> Result<Counters, Failure> {
    let before = ok(ASI.counters(buffer, 0), "read the counters a first time")?;
    let after = ok(ASI.counters(buffer, 0), "read the counters a second time")?;
    Ok(after.since(&before))
}

fn sensitive_buffer_exits(s: &mut Scratch<'_>) -> Outcome {
    let mut args = [0u8; 128];
    let Ok(args) = libasi::boot::args(&mut args) else {
        fail!("the boot arguments do not fit 128 bytes");
    };
    let asi = !args.split_whitespace().any(|arg| arg == "asi=off");
    let boot_buffer = ok(libasi::process::ipc_buffer(), "find the IPC buffer")?;
    let Some(boot_address) = boot_buffer.address() else { fail!("no boot IPC buffer") };
    // Page tables from a pageblock of their own: the pool may hold pageblocks that other
    // cases left sensitive.
    let tables = pageblock(s, Sensitivity::Nonsensitive)?;
    let block = pageblock(s, Sensitivity::Sensitive)?;
    let frame: Cap<Frame> = s.object(block, ObjectKind::Frame4K, 0)?;
    s.map(frame, TEST_ADDRESS, tables)?;
    // SAFETY: the frame is mapped read-write at TEST_ADDRESS (just above), no Rust
    // reference points into it, and it is this thread's buffer while the handle is used.
    let Some(buffer) = (unsafe { IpcBuffer::new(TEST_ADDRESS) }) else {
        fail!("{TEST_ADDRESS:#x} is no IPC buffer address");
    };
    set_own_buffer(TEST_ADDRESS, frame, boot_buffer)?;
    let spent = between_two_reads(buffer);
    set_own_buffer(boot_address, Cap::<Frame>::ROOT_IPC_BUFFER, buffer)?;
    let spent = spent?;
    let (exits, entries) = (spent.get(Counter::AsiExits), spent.get(Counter::AsiEntries));
    let expected = u64::from(asi);
    ensure!(
        exits == expected && entries == expected,
        "{exits} ASI exits and {entries} re-entries for one reply into a sensitive buffer, \
         expected {expected} and {expected} (asi {})",
        if asi { "on" } else { "off" }
    );
    if asi {
        // The exit and the re-entry are one CR3 write each, and the re-entry flushes L1D.
        let cr3 = spent.get(Counter::Cr3Writes);
        ensure!(cr3 == 2, "{cr3} CR3 writes for one exit and re-entry");
        let l1d = spent.get(Counter::L1dFlushes);
        ensure!(l1d >= 1, "no L1D flush on the re-entry");
    }
    // Back on the boot buffer, which is nonsensitive: no exit.
    let spent = between_two_reads(boot_buffer)?;
    ensure!(
        spent.get(Counter::AsiExits) == 0,
        "{} ASI exits with a nonsensitive buffer",
        spent.get(Counter::AsiExits)
    );
    ok(frame.unmap(), "unmap the frame")?;
    // Left nonsensitive, as the pool was (zeroing it is one more exit).
    empty(block)?;
    set(block, Sensitivity::Nonsensitive)
}

/// `UntypedDescribe` answers where a region is, its size and its sensitivity, mixed when
/// its pageblocks disagree, and nothing else when invoked on another kind.
fn untyped_describes_itself(s: &mut Scratch<'_>) -> Outcome {
    let buffer = ok(libasi::process::ipc_buffer(), "find the IPC buffer")?;
    let pair = s.untyped(PAGEBLOCK_BITS + 1)?;
    set(pair, Sensitivity::Sensitive)?;
    let halves = s.slots(2)?;
    ok(pair.retype(ObjectKind::Untyped, PAGEBLOCK_BITS, CNodeAt::ROOT, halves, 2), "split")?;
    let (low, high) = (Cap::<Untyped>::from_slot(halves), Cap::<Untyped>::from_slot(halves + 1));
    let frame: Cap<Frame> = s.object(high, ObjectKind::Frame4K, 0)?;
    let high_base = ok(frame.address(), "the upper pageblock's address")?;
    ok(ROOT.delete(Slot::root(frame.cptr().0)), "delete the frame")?;
    let info = ok(high.describe(buffer), "describe a pageblock")?;
    ensure!(
        info == UntypedInfo {
            base: high_base,
            size_bits: PAGEBLOCK_BITS,
            sensitivity: Some(Sensitivity::Sensitive)
        },
        "the upper pageblock at {high_base:#x} is described as {info:?}"
    );
    set(low, Sensitivity::Nonsensitive)?;
    let info = ok(low.describe(buffer), "describe the lower pageblock")?;
    ensure!(
        info.base + (1 << PAGEBLOCK_BITS) == high_base
            && info.sensitivity == Some(Sensitivity::Nonsensitive),
        "the lower pageblock after the flip: {info:?}"
    );
    let info = ok(pair.describe(buffer), "describe both")?;
    ensure!(
        info.size_bits == PAGEBLOCK_BITS + 1 && info.sensitivity.is_none(),
        "two pageblocks of different sensitivity: {info:?}"
    );
    refused(
        Message::new(Invocation::UntypedDescribe as u64).call(ROOT.cptr()),
        Error::IllegalOperation,
        "describe a CNode",
    )
}
