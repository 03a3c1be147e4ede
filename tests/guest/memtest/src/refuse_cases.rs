//! Requests memsrv refuses, changing nothing.

use case_report::{Failure, Outcome, ensure, fail, ok};
use libasi::boot::SlotRange;
use libasi::cap::{Cap, CapKind, Endpoint, Rights, Sensitivity, Slot, SlotRef};
use libasi::memsrv::{AllocatedFrame, Error, FramePool};
use libasi::message::Message;
use memsrv_api::fixed::{self, FIXED_LABEL};
use memsrv_api::{Error as Refusal, Handle, LABEL, Object, Reply, Request};

use crate::env::{ASI, Env, PAGEBLOCKS, refused, same_stats};

pub fn bad_order_and_count(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    for order in [1, 8, 10, u8::MAX] {
        refused(env.alloc(env.first, order, Sensitivity::Sensitive), Refusal::BadOrder, "order")?;
    }
    let first = env.first;
    let (region, frames) = (env.slot()?, env.slot()?);
    let batches = [
        (0, 0, Refusal::BadCount),
        (0, 513, Refusal::BadOrder),
        (9, 2, Refusal::BadOrder),
        (3, 1, Refusal::BadOrder),
        (0, u16::MAX, Refusal::BadOrder),
    ];
    for (order, count, want) in batches {
        let result = first.alloc_frames(order, Sensitivity::Nonsensitive, count, region, frames);
        refused(result, want, "a batch")?;
    }
    env.slots.free(region);
    env.slots.free(frames);
    same_stats(&before, &env.stats()?)
}

pub fn bad_object(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let slot = env.slot()?;
    let objects = [
        Object::CNode { radix: 0 },
        // 2^16 slots of 64 bytes: larger than a pageblock.
        Object::CNode { radix: 16 },
        Object::CNode { radix: u8::MAX },
        Object::Untyped { size_bits: 11 },
        Object::Untyped { size_bits: 22 },
        Object::Untyped { size_bits: u8::MAX },
    ];
    for object in objects {
        refused(env.first.alloc::<Endpoint>(object, slot), Refusal::BadObject, "an object")?;
    }
    env.slots.free(slot);
    same_stats(&before, &env.stats()?)
}

pub fn out_of_memory(env: &mut Env) -> Outcome {
    let mut frames = [None; PAGEBLOCKS as usize];
    for (index, frame) in frames.iter_mut().enumerate() {
        let sensitivity =
            if index % 2 == 0 { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive };
        *frame = Some(env.alloc_checked(9, sensitivity)?);
    }
    let first = env.first;
    refused(env.alloc(first, 0, Sensitivity::Nonsensitive), Refusal::OutOfMemory, "5th")?;
    let slot = env.slot()?;
    refused(first.alloc_object::<Endpoint>(slot), Refusal::OutOfMemory, "an object")?;
    env.slots.free(slot);
    for frame in frames.into_iter().flatten() {
        env.free(env.first, frame)?;
    }
    ok(ASI.verify(), "AsiControl::verify after the frees")
}

pub fn quota_exceeded(env: &mut Env) -> Outcome {
    let second = env.second;
    let frame = env
        .alloc(second, 0, Sensitivity::Sensitive)
        .map_err(|e| Failure::new(format_args!("first page: {e:?}")))?;
    refused(env.alloc(second, 0, Sensitivity::Sensitive), Refusal::QuotaExceeded, "second page")?;
    refused(env.alloc(second, 9, Sensitivity::Sensitive), Refusal::QuotaExceeded, "a pageblock")?;
    let slot = env.slot()?;
    refused(second.alloc_object::<Endpoint>(slot), Refusal::QuotaExceeded, "an object")?;
    env.slots.free(slot);
    env.free(second, frame)?;
    let usage = env.usage(second)?;
    ensure!(usage.pages == 0 && usage.quota_pages == 1, "second client: {usage:?}");
    Ok(())
}

pub fn not_yours(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Sensitive)?;
    refused(env.second.free(frame.handle), Refusal::NotYours, "another client's frame")?;
    let kind = ok(frame.cap.identify(), "identify the frame")?;
    ensure!(kind == CapKind::Frame, "a refused free took the owner's frame: {kind:?}");
    // Handles that were never handed out: other slots, other generations.
    for forged in [0, u64::MAX, frame.handle.0 ^ 1, frame.handle.0 + (1 << 12)] {
        refused(env.first.free(Handle(forged)), Refusal::NotYours, "a forged handle")?;
    }
    // The same frees with keep, as a pool makes them (memsrv's hot path for kept frames
    // refuses what its general path does): nothing kept, nothing listed.
    let start = env.slots(2)?;
    let slots = SlotRange { start, end: start + 2 };
    let mut pools = [FramePool::new(env.second, slots), FramePool::new(env.first, slots)];
    refused(pools[0].free(frame), Refusal::NotYours, "another client's frame, to keep")?;
    for forged in [0, frame.handle.0 ^ 1, frame.handle.0 + (1 << 12)] {
        let forged = AllocatedFrame { handle: Handle(forged), ..frame };
        refused(pools[1].free(forged), Refusal::NotYours, "a forged handle, to keep")?;
    }
    ensure!(pools.iter().all(|pool| pool.kept() == [0, 0]), "a refused free was listed kept");
    ensure!(env.usage(env.first)?.kept_frames == 0, "a refused free was kept");
    env.free(env.first, frame)?;
    refused(env.first.free(frame.handle), Refusal::NotYours, "double free")?;
    refused(pools[1].free(frame), Refusal::NotYours, "double free, to keep")?;
    // The slot is reused for the next frame; the old handle still names nothing.
    let again = env.alloc_checked(0, Sensitivity::Sensitive)?;
    refused(env.first.free(frame.handle), Refusal::NotYours, "a stale handle")?;
    refused(pools[1].free(frame), Refusal::NotYours, "a stale handle, to keep")?;
    (slots.start..slots.end).for_each(|slot| env.slots.free(slot));
    env.free(env.first, again)
}

pub fn reclaim_needs_the_manager(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Nonsensitive)?;
    refused(env.second.reclaim(1), Refusal::NotManager, "reclaim by a client")?;
    let kind = ok(frame.cap.identify(), "identify the frame")?;
    ensure!(kind == CapKind::Frame, "a refused reclaim took a frame: {kind:?}");
    env.free(env.first, frame)
}

/// A reply whose capability cannot arrive (the client's endpoint capability has no
/// grant-reply right, or its receive slot is taken): the client gives the allocation back
/// and leaves whatever its slot held alone.
pub fn undelivered_capability(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let client = env.no_grant;
    let slot = env.slot()?;
    let result = client.alloc_frame(0, Sensitivity::Sensitive, slot);
    ensure!(result == Err(Error::BadReply), "a frame without grant-reply: {result:?}");
    let usage = env.usage(client)?;
    ensure!(usage.pages == 0, "the undelivered frame is still held: {usage:?}");
    // A receive slot that is not empty: the first client's endpoint capability sits in it.
    let held = ok(env.raw.identify(), "identify the endpoint")?;
    ensure!(held == CapKind::Endpoint, "the slot to fill holds a {held:?}");
    let src = SlotRef::root(env.raw.cptr().0);
    ok(Cap::ROOT.copy(Slot::root(slot), src, Rights::ALL), "copy into the slot")?;
    let result = env.first.alloc_frame(0, Sensitivity::Sensitive, slot);
    ensure!(result == Err(Error::BadReply), "a frame into a taken slot: {result:?}");
    let kind = ok(Cap::<Endpoint>::from_slot(slot).identify(), "identify the taken slot")?;
    ensure!(kind == CapKind::Endpoint, "the taken slot lost its capability: {kind:?}");
    let usage = env.usage(env.first)?;
    ensure!(usage.pages == 0, "the frame for a taken slot is still held: {usage:?}");
    ok(Cap::ROOT.delete(Slot::root(slot)), "empty the slot")?;
    env.slots.free(slot);
    same_stats(&before, &env.stats()?)
}

/// Sends `words` with `label` to memsrv as `endpoint`; returns the reply, in whichever
/// encoding it came.
/// memsrv's answer to a message of `label` and `words` sent on `endpoint`, which must be
/// one its clients decode.
pub fn raw(
    env: &Env,
    endpoint: Cap<Endpoint>,
    label: u64,
    words: &[u64],
) -> Result<Reply, Failure> {
    let Ok(message) = Message::with_words(label, words) else { fail!("message too long") };
    let reply = ok(endpoint.call(env.buffer, &message), "call memsrv")?;
    let decoded = match reply.label() {
        FIXED_LABEL => fixed::decode_reply(reply.words()),
        label => memsrv_api::decode::<Reply>(label, reply.words()),
    };
    decoded.map_err(|error| Failure::new(format_args!("undecodable reply: {error:?}")))
}

pub fn malformed_and_unbadged(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let longer_than_any = [1; memsrv_api::MESSAGE_WORDS + 1];
    let hostile: [(u64, &[u64]); 13] = [
        (FIXED_LABEL + 1, &[1, 2]),
        // The fixed layout: no such operation, a free without its handle, a reserved bit,
        // a reuse of no such sensitivity.
        (FIXED_LABEL, &[7]),
        (FIXED_LABEL, &[1]),
        (FIXED_LABEL, &[1 << 40]),
        (FIXED_LABEL, &[2 | 2 << 8]),
        (FIXED_LABEL, &longer_than_any),
        (LABEL, &[]),
        (LABEL, &[u64::MAX]),
        (LABEL, &[1, 9]),
        (LABEL, &[3, 0xff_ff00]),
        // AllocObject with an unknown object tag.
        (LABEL, &[2, 0x0602]),
        // Free with a truncated handle.
        (LABEL, &[2, 0xff03]),
        // More words than any memsrv message has.
        (LABEL, &longer_than_any),
    ];
    for (label, words) in hostile {
        let reply = raw(env, env.raw, label, words)?;
        ensure!(reply == Reply::Refused(Refusal::Malformed), "{label:#x} {words:?}: {reply:?}");
    }
    let mut words = [0; memsrv_api::MESSAGE_WORDS];
    let sensitivity = memsrv_api::Sensitivity::Sensitive;
    // A reuse with nothing kept, in either encoding: refused, whatever the fast path does.
    let reuse = Request::Reuse { sensitivity };
    let Ok(count) = memsrv_api::encode(&reuse, &mut words) else { fail!("encode") };
    let Some((fixed_words, length)) = fixed::encode_request(&reuse) else { fail!("encode") };
    for (label, words) in [(LABEL, &words[..count]), (FIXED_LABEL, &fixed_words[..length])] {
        let reply = raw(env, env.raw, label, words)?;
        ensure!(reply == Reply::Refused(Refusal::NothingKept), "{label:#x} reuse: {reply:?}");
    }
    // Every request of a kept frame's round trip too: memsrv answers no one it cannot name.
    for request in [
        Request::Stats,
        Request::AllocFrame { sensitivity, order: 0 },
        reuse,
        Request::Free { handle: Handle(1 << 12 | 5), keep: true },
    ] {
        let Ok(count) = memsrv_api::encode(&request, &mut words) else { fail!("encode") };
        for (endpoint, who) in [(env.unbadged, "unbadged"), (env.unserved, "client number 64")] {
            let reply = raw(env, endpoint, LABEL, &words[..count])?;
            ensure!(reply == Reply::Refused(Refusal::Unidentified), "{who} {request:?}: {reply:?}");
        }
        if let Some((fixed_words, length)) = fixed::encode_request(&request) {
            let reply = raw(env, env.unserved, FIXED_LABEL, &fixed_words[..length])?;
            ensure!(reply == Reply::Refused(Refusal::Unidentified), "fixed {request:?}: {reply:?}");
        }
    }
    let usage = env.usage(env.first)?;
    ensure!(usage.pages == 0, "after the refusals the client holds {usage:?}");
    same_stats(&before, &env.stats()?)
}
