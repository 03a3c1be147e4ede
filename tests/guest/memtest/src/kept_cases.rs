//! Frames kept for their client (`memsrv_api::kept`) through `libasi::memsrv::FramePool`:
//! reused as they were, counted as held, and taken back (revoked) for the client's quota,
//! when memsrv runs out, and on request.

use case_report::{Failure, Outcome, ensure, ok};
use libasi::boot::SlotRange;
use libasi::cap::{CapKind, Sensitivity};
use libasi::memsrv::{Client, FramePool};
use memsrv_api::Error as Refusal;

use crate::env::{ASI, Env, PAGEBLOCKS, THIRD_ID, gone, refused, same_stats};

/// A pool for `client` over `count` fresh slots.
fn pool(env: &mut Env, client: Client, count: usize) -> Result<(FramePool, SlotRange), Failure> {
    let start = env.slots(count)?;
    let slots = SlotRange { start, end: start + count as u64 };
    Ok((FramePool::new(client, slots), slots))
}

/// `result`'s value, or a failure naming `what` and memsrv's error.
fn served<T>(result: Result<T, libasi::memsrv::Error>, what: &str) -> Result<T, Failure> {
    result.map_err(|error| Failure::new(format_args!("{what}: {error:?}")))
}

fn give_back_slots(env: &mut Env, slots: SlotRange) {
    (slots.start..slots.end).for_each(|slot| env.slots.free(slot));
}

pub fn reuse_is_the_same_frame(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let (mut pool, slots) = pool(env, env.first, 4)?;
    let alloc = |pool: &mut FramePool, sensitivity| served(pool.alloc(sensitivity), "alloc");
    let frame = alloc(&mut pool, Sensitivity::Sensitive)?;
    let got = ok(frame.cap.sensitivity(), "the frame's sensitivity")?;
    ensure!(got == Sensitivity::Sensitive, "a sensitive frame is {got:?}");
    served(pool.free(frame), "free")?;
    ensure!(pool.kept() == [1, 0], "kept after the free: {:?}", pool.kept());
    let kind = ok(frame.cap.identify(), "identify the kept frame")?;
    ensure!(kind == CapKind::Frame, "a kept frame's capability is gone: {kind:?}");
    let usage = env.usage(env.first)?;
    ensure!(
        usage.pages == 1 && usage.frame_allocations == 1 && usage.kept_frames == 1,
        "a kept frame is still held: {usage:?}"
    );
    ensure!(env.stats()?.kept_frames == 1, "memsrv's statistics count the kept frame");
    refused(env.first.free(frame.handle), Refusal::NotYours, "freeing a kept frame again")?;
    let nonsensitive = alloc(&mut pool, Sensitivity::Nonsensitive)?;
    ensure!(
        nonsensitive.handle != frame.handle,
        "a sensitive kept frame went to a nonsensitive request"
    );
    let again = alloc(&mut pool, Sensitivity::Sensitive)?;
    ensure!(again == frame, "reused {again:?}, kept {frame:?}");
    ensure!(pool.kept() == [0, 0], "kept after the reuse: {:?}", pool.kept());
    ensure!(env.usage(env.first)?.kept_frames == 0, "a reused frame is no longer kept");
    for frame in [again, nonsensitive] {
        served(pool.free(frame), "free")?;
    }
    served(pool.release_kept(), "release kept")?;
    ensure!(pool.kept() == [0, 0], "kept after the release: {:?}", pool.kept());
    gone(frame.cap, "a released kept frame")?;
    gone(nonsensitive.cap, "a released kept frame")?;
    // Only 4 KiB frames are kept: a pageblock freed through the pool is revoked.
    let pageblock = env.alloc_checked(9, Sensitivity::Sensitive)?;
    served(pool.free(pageblock), "free a pageblock through the pool")?;
    gone(pageblock.cap, "a pageblock freed through the pool")?;
    ensure!(pool.kept() == [0, 0], "a pageblock was listed kept: {:?}", pool.kept());
    env.slots.free(pageblock.cap.cptr().0);
    ok(ASI.verify(), "AsiControl::verify after the release")?;
    give_back_slots(env, slots);
    same_stats(&before, &env.stats()?)
}

/// The second client may hold one page: a kept frame is the first to go when it asks for
/// another, and the pool learns so from its next answer.
pub fn taken_back_for_the_quota(env: &mut Env) -> Outcome {
    let second = env.second;
    let (mut pool, slots) = pool(env, second, 2)?;
    let frame = served(pool.alloc(Sensitivity::Sensitive), "alloc")?;
    served(pool.free(frame), "free")?;
    let fresh = env
        .alloc(second, 0, Sensitivity::Nonsensitive)
        .map_err(|e| Failure::new(format_args!("a page within the quota: {e:?}")))?;
    gone(frame.cap, "the kept frame taken back for the quota")?;
    let usage = env.usage(second)?;
    ensure!(usage.pages == 1 && usage.kept_frames == 0, "after the take-back: {usage:?}");
    // The pool asks for its kept frame, learns from the refusal that memsrv keeps none,
    // and asks for a new one, which is over the quota.
    refused(pool.alloc(Sensitivity::Sensitive), Refusal::QuotaExceeded, "a second page")?;
    ensure!(pool.kept() == [0, 0], "the pool still counts a frame taken back: {:?}", pool.kept());
    env.free(second, fresh)?;
    let frame = served(pool.alloc(Sensitivity::Sensitive), "alloc within the quota")?;
    ensure!(pool.kept() == [0, 0], "the pool still counts a frame taken back: {:?}", pool.kept());
    served(pool.free(frame), "free")?;
    served(pool.release_kept(), "release kept")?;
    gone(frame.cap, "a released kept frame")?;
    let usage = env.usage(second)?;
    ensure!(usage.pages == 0, "second client after the release: {usage:?}");
    give_back_slots(env, slots);
    Ok(())
}

/// A kept frame gives way when memsrv has no other memory: the last of the pageblocks
/// taken whole (as many of each sensitivity as there are, nonsensitive first, so that none
/// flips) is the one the kept frame is in.
pub fn taken_back_when_memory_runs_out(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let (mut pool, slots) = pool(env, env.first, 2)?;
    let frame = served(pool.alloc(Sensitivity::Sensitive), "alloc")?;
    served(pool.free(frame), "free")?;
    let mut pageblocks = [None; PAGEBLOCKS as usize];
    for (index, pageblock) in pageblocks.iter_mut().enumerate() {
        let sensitivity = if (index as u64) < before.pageblocks[1] {
            Sensitivity::Nonsensitive
        } else {
            Sensitivity::Sensitive
        };
        *pageblock = Some(env.alloc_checked(9, sensitivity)?);
    }
    gone(frame.cap, "the kept frame taken back for a pageblock")?;
    refused(pool.alloc(Sensitivity::Sensitive), Refusal::OutOfMemory, "a page with none left")?;
    for pageblock in pageblocks.into_iter().flatten() {
        env.free(env.first, pageblock)?;
    }
    let frame = served(pool.alloc(Sensitivity::Sensitive), "alloc with memory free again")?;
    ensure!(pool.kept() == [0, 0], "the pool still counts a frame taken back: {:?}", pool.kept());
    served(pool.free(frame), "free")?;
    served(pool.release_kept(), "release kept")?;
    give_back_slots(env, slots);
    ok(ASI.verify(), "AsiControl::verify after the frees")?;
    same_stats(&before, &env.stats()?)
}

/// Reclaiming a client takes its kept frames too, and leaves nothing of them behind: the
/// client's next frames are new ones, and its counts start from zero.
pub fn reclaimed_with_the_client(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let (mut pool, slots) = pool(env, env.third, 4)?;
    let kept = served(pool.alloc(Sensitivity::Nonsensitive), "alloc")?;
    let held = served(pool.alloc(Sensitivity::Nonsensitive), "alloc")?;
    served(pool.free(kept), "free")?;
    let reclaimed = served(env.first.reclaim(THIRD_ID), "reclaim")?;
    ensure!(
        reclaimed.pages == 2 && reclaimed.kept_frames == 1,
        "reclaimed {reclaimed:?}, expected a held and a kept page"
    );
    gone(kept.cap, "a kept frame after the reclaim")?;
    gone(held.cap, "a held frame after the reclaim")?;
    ensure!(env.stats()?.kept_frames == 0, "kept frames survive the reclaim");
    // The pool still lists the kept frame; memsrv keeps none, so the next frame is new.
    let fresh = served(pool.alloc(Sensitivity::Nonsensitive), "alloc after the reclaim")?;
    ensure!(fresh.handle != kept.handle, "a reclaimed frame came back: {fresh:?}");
    ensure!(pool.kept() == [0, 0], "the pool still lists a reclaimed frame: {:?}", pool.kept());
    let usage = env.usage(env.third)?;
    ensure!(usage.pages == 1 && usage.kept_frames == 0, "after the reclaim: {usage:?}");
    served(pool.free(fresh), "free")?;
    served(pool.release_kept(), "release kept")?;
    give_back_slots(env, slots);
    same_stats(&before, &env.stats()?)
}
