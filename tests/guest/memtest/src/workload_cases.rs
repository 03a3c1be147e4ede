//! Workloads: many frames checked against the kernel's restricted view, flips forced
//! both ways, and a client's memory reclaimed.

use case_report::{Failure, Outcome, ensure, fail, ok};
use libasi::cap::{Cap, Counters, Endpoint, Frame, Rights, Sensitivity, Slot, SlotRef};
use libasi::memsrv::{AllocatedFrame, Client};
use libasi::process::{SpawnOptions, Spawner};
use memsrv_api::Handle;
use syscall_abi::counters::Counter;

use crate::env::{ASI, Env, MEMHOG_ID, PAGEBLOCK, PAGEBLOCKS, THIRD_ID, gone, same_stats};

/// memhog's report: pages and objects it holds (`tests/guest/memhog`).
const MEMHOG_HELD: u64 = 0x4d48;

/// 4 KiB frames in a pageblock: the smoke test fills one of each sensitivity.
const FRAMES: usize = 512;
/// The frame-number bits of a 2 MiB entry of the restricted view.
const FRAME_BITS: u64 = 0x000f_ffff_ffe0_0000;

/// The seed's smoke test made real: a pageblock's worth of nonsensitive frames, each
/// mapped in the kernel's restricted view at its own pageblock; then as many sensitive
/// ones, each absent from it with no frame number left; all freed, and every count back.
pub fn smoke(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    for sensitivity in [Sensitivity::Nonsensitive, Sensitivity::Sensitive] {
        let mut frames = [None::<AllocatedFrame>; FRAMES];
        for frame in &mut frames {
            let allocated = env
                .alloc(env.first, 0, sensitivity)
                .map_err(|error| Failure::new(format_args!("{sensitivity:?} frame: {error:?}")))?;
            let got = ok(allocated.cap.sensitivity(), "a frame's sensitivity")?;
            ensure!(got == sensitivity, "asked for {sensitivity:?}, got {got:?}");
            let entry = ok(ASI.restricted_entry(allocated.address), "a restricted entry")?;
            let base = allocated.address & !(PAGEBLOCK - 1);
            match sensitivity {
                Sensitivity::Nonsensitive => ensure!(
                    entry & 1 == 1 && entry & FRAME_BITS == base,
                    "nonsensitive frame {:#x}: restricted entry {entry:#x}",
                    allocated.address
                ),
                Sensitivity::Sensitive => ensure!(
                    entry == 0,
                    "sensitive frame {:#x}: restricted entry {entry:#x}",
                    allocated.address
                ),
            }
            *frame = Some(allocated);
        }
        ok(ASI.verify(), "AsiControl::verify with every frame out")?;
        let usage = env.usage(env.first)?;
        ensure!(usage.pages == FRAMES as u64, "{FRAMES} frames out: {usage:?}");
        for frame in frames.into_iter().flatten() {
            env.free(env.first, frame)?;
        }
    }
    same_stats(&before, &env.stats()?)?;
    ok(ASI.verify(), "AsiControl::verify after the frees")
}

/// Both pageblocks of a sensitivity filled with 4 KiB frames and emptied again, one
/// sensitivity after the other: memsrv keeps the buddy tree's untyped halves it made (about two slots per
/// frame), more than its CNode holds for all four pageblocks, so it must give cached
/// halves up when slots run low, and nothing may be refused.
pub fn cached_halves_give_way(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    for sensitivity in [Sensitivity::Sensitive, Sensitivity::Nonsensitive] {
        // Handles only: 1024 whole allocations would not fit on the stack.
        let mut handles = [Handle(0); 2 * FRAMES];
        let first_slot = env.slots(handles.len())?;
        for (offset, handle) in handles.iter_mut().enumerate() {
            let slot = first_slot + offset as u64;
            let frame = env.first.alloc_frame(0, sensitivity, slot).map_err(|error| {
                Failure::new(format_args!("{sensitivity:?} frame {offset}: {error:?}"))
            })?;
            *handle = frame.handle;
        }
        for handle in handles {
            if let Err(error) = env.first.free(handle) {
                fail!("free {handle:?}: {error:?}");
            }
        }
        for offset in 0..handles.len() {
            gone(Cap::<Frame>::from_slot(first_slot + offset as u64), "a freed frame")?;
        }
        env.slots.free_range(first_slot, handles.len());
    }
    // Each phase fills the two pageblocks of its sensitivity: no flip either.
    same_stats(&before, &env.stats()?)?;
    ok(ASI.verify(), "AsiControl::verify after the phases")
}

/// Pageblocks of each sensitivity, in phases: each phase takes every pageblock as whole
/// frames, then frees them. A phase forces as many flips as the sensitive count must
/// change by; memsrv must flip exactly that often, and the verifier must pass after each.
pub fn mixed_flips(env: &mut Env) -> Outcome {
    const PHASES: [usize; 4] = [4, 0, 2, 3];
    let before = env.stats()?;
    let kernel_before = counters(env)?;
    let mut forced = 0;
    let mut sensitive_now = before.pageblocks[0] as usize;
    for wanted in PHASES {
        forced += wanted.abs_diff(sensitive_now);
        sensitive_now = wanted;
        let mut frames = [None::<AllocatedFrame>; PAGEBLOCKS as usize];
        for (index, frame) in frames.iter_mut().enumerate() {
            let sensitivity =
                if index < wanted { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive };
            *frame = Some(env.alloc_checked(9, sensitivity)?);
        }
        for frame in frames.into_iter().flatten() {
            env.free(env.first, frame)?;
        }
        let stats = env.stats()?;
        ensure!(
            stats.pageblocks == [wanted as u64, PAGEBLOCKS - wanted as u64],
            "after a phase of {wanted} sensitive pageblocks: {stats:?}"
        );
    }
    let flips = env.stats()?.flips - before.flips;
    let kernel = counters(env)?.since(&kernel_before).get(Counter::Flips);
    ensure!(flips == forced as u64, "memsrv flipped {flips} times; the phases force {forced}");
    ensure!(
        kernel == forced as u64,
        "the kernel counted {kernel} flips; the phases force {forced}"
    );
    Ok(())
}

/// A live client holding frames, a batch and an endpoint, one of them copied: the manager
/// reclaims everything it has, and all of it is gone and free again.
pub fn reclaim(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let third = env.third;
    let mut held = [0u64; 4];
    for slot in &mut held[..3] {
        let frame = alloc(env, third, Sensitivity::Sensitive)?;
        *slot = frame.cap.cptr().0;
    }
    let region = env.slot()?;
    let first = env.slots(8)?;
    let batch = third
        .alloc_frames(0, Sensitivity::Nonsensitive, 8, region, first)
        .map_err(|error| Failure::new(format_args!("a batch: {error:?}")))?;
    let endpoint_slot = env.slot()?;
    let endpoint = third
        .alloc_object::<Endpoint>(endpoint_slot)
        .map_err(|error| Failure::new(format_args!("an endpoint: {error:?}")))?;
    held[3] = env.slot()?;
    let copy_of = SlotRef::root(held[0]);
    ok(Cap::ROOT.copy(Slot::root(held[3]), copy_of, Rights::READ), "copy a frame")?;
    let usage = env.usage(third)?;
    ensure!(
        usage.pages == 3 + 8 + 1 && usage.frame_allocations == 4 && usage.objects == 1,
        "the third client holds {usage:?}"
    );

    let reclaimed = env
        .first
        .reclaim(THIRD_ID)
        .map_err(|error| Failure::new(format_args!("reclaim: {error:?}")))?;
    ensure!(
        reclaimed.pages == usage.pages && reclaimed.objects == 1,
        "reclaimed {reclaimed:?}, the client held {usage:?}"
    );
    for slot in held {
        gone(Cap::<Frame>::from_slot(slot), "a reclaimed frame or its copy")?;
        env.slots.free(slot);
    }
    gone(batch.region.cap, "a reclaimed region")?;
    for index in 0..batch.count {
        if let Some(frame) = batch.frame(index) {
            gone(frame, "a frame of a reclaimed batch")?;
        }
    }
    gone(endpoint.cap, "a reclaimed endpoint")?;
    env.slots.free(region);
    env.slots.free_range(first, 8);
    env.slots.free(endpoint_slot);
    let after = env.usage(third)?;
    ensure!(after.pages == 0 && after.objects == 0, "after the reclaim: {after:?}");
    same_stats(&before, &env.stats()?)?;
    ok(ASI.verify(), "AsiControl::verify after the reclaim")
}

fn alloc(
    env: &mut Env,
    client: Client,
    sensitivity: Sensitivity,
) -> Result<AllocatedFrame, Failure> {
    env.alloc(client, 0, sensitivity)
        .map_err(|error| Failure::new(format_args!("{sensitivity:?} frame: {error:?}")))
}

fn counters(env: &Env) -> Result<Counters, Failure> {
    match ASI.counters(env.buffer, 0) {
        Ok(counters) => Ok(counters),
        Err(error) => fail!("read the kernel's counters: {error}"),
    }
}

/// A client process (`memhog`) takes memory and exits without freeing it; destroying it
/// takes its capabilities, and memsrv, told by the manager, takes back its memory.
pub fn reclaim_dead(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let options = SpawnOptions::new(150)
        .grant(env.memhog_memsrv.cptr(), Rights::WRITE | Rights::GRANT_REPLY)
        .grant(env.report.cptr(), Rights::WRITE);
    let memhog = env.memhog;
    let process = match Spawner::new(env.pool, &mut env.slots).spawn(&memhog, &options) {
        Ok(process) => process,
        Err(error) => fail!("cannot start memhog: {error}"),
    };
    let (_, held) = ok(env.report.receive(env.buffer), "wait for memhog's report")?;
    ensure!(held.label() == MEMHOG_HELD, "memhog said {:#x}", held.label());
    let (pages, objects) = (held.word(0), held.word(1));
    // Three frames, eight in a batch, and the page the endpoint takes.
    ensure!(pages == 3 + 8 + 1 && objects == 1, "memhog holds {pages} pages, {objects} objects");
    let during = env.stats()?;
    ensure!(during.clients == before.clients + 1, "memhog is a client: {during:?}");
    ok(process.destroy(&mut env.slots), "destroy memhog")?;
    let reclaimed = env
        .first
        .reclaim(MEMHOG_ID)
        .map_err(|error| Failure::new(format_args!("reclaim: {error:?}")))?;
    ensure!(
        reclaimed.pages == pages && reclaimed.objects == objects,
        "reclaimed {reclaimed:?}, memhog held {pages} pages and {objects} objects"
    );
    same_stats(&before, &env.stats()?)?;
    ok(ASI.verify(), "AsiControl::verify after the reclaim")
}
