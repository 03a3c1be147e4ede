//! A guest test program and root task: starts memsrv (`memsrv-server`, its one module)
//! with four pageblocks, two sensitive and two not, and the ASI control capability, then
//! checks it as two clients with badged endpoints: frames of each sensitivity (the frame
//! and the kernel's `AsiControl::verify` agree), a flip forced by running out of one
//! sensitivity, frees that revoke and give the counts back, and refusals of bad requests.
//!
//! Prints `TEST PASS memsrv::<case>` or `TEST FAIL memsrv::<case> <message>` per case,
//! then `TEST DONE <passed> <failed>`. Cases run in order and each frees what it took.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

use case_report::{Failure, Outcome, Tally, ensure, fail, ok};
use libasi::boot;
use libasi::cap::{
    AsiControl, CNodeAt, Cap, CapData, CapKind, Endpoint, Frame, ObjectKind, Rights, Sensitivity,
    Slot, SlotAllocator, SlotRef, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::process::{SpawnOptions, Spawner};
use memsrv_api::{Error as Refusal, LABEL, Reply, Request, badge};
use memsrv_client::{Client, Error};
use syscall_abi::ipc::MAX_WORDS;

libasi::entry!(main);

const MODULE: &str = "memsrv-server";
const PAGEBLOCK_BITS: u8 = 21;
const PAGEBLOCK: u64 = 1 << PAGEBLOCK_BITS;
const PAGEBLOCKS: u64 = 4;
/// The first client may hold more than every pageblock (so that running out of memory
/// comes before its quota); the second one page.
const QUOTA_ALL: u32 = 4 * 512 + 1;
const QUOTA_ONE: u32 = 1;

struct Env {
    slots: SlotAllocator,
    buffer: IpcBuffer,
    first: Client,
    second: Client,
    /// memsrv's endpoint with the first client's badge: for raw requests.
    raw: Cap<Endpoint>,
    unbadged: Cap<Endpoint>,
}

type Case = (&'static str, fn(&mut Env) -> Outcome);

const CASES: &[Case] = &[
    ("memsrv::alloc::nonsensitive_4k", nonsensitive_4k),
    ("memsrv::alloc::sensitive_4k", sensitive_4k),
    ("memsrv::alloc::flip_when_one_sensitivity_runs_out", flip_when_one_sensitivity_runs_out),
    ("memsrv::free::revokes_and_counts_return", revokes_and_counts_return),
    ("memsrv::refuse::bad_order", bad_order),
    ("memsrv::refuse::out_of_memory", out_of_memory),
    ("memsrv::refuse::quota_exceeded", quota_exceeded),
    ("memsrv::refuse::not_yours", not_yours),
    ("memsrv::refuse::free_without_a_frame", free_without_a_frame),
    ("memsrv::refuse::malformed_and_unbadged", malformed_and_unbadged),
];

fn main() -> u64 {
    let mut tally = Tally::default();
    match setup() {
        Ok(mut env) => {
            for (name, case) in CASES {
                tally.record(name, case(&mut env));
            }
        }
        Err(failure) => tally.record("memsrv::setup", Err(failure)),
    }
    tally.finish();
    0
}

fn setup() -> Result<Env, Failure> {
    let info = ok(boot::info(), "boot information")?;
    let buffer = ok(IpcBuffer::root(), "the IPC buffer")?;
    let mut slots = SlotAllocator::new(info.empty);
    let Some((pool, _)) = boot::largest_ram(&info) else { fail!("no untyped RAM") };
    let module = info.modules().iter().find(|module| module.name() == MODULE);
    let Some(module) = module else { fail!("no boot module {MODULE}") };
    let asi = Cap::<AsiControl>::BOOT;
    ok(asi.set_sensitivity(pool, Sensitivity::Nonsensitive), "make the pool nonsensitive")?;
    let Some(first) = slots.alloc_range(PAGEBLOCKS as usize + 1) else { fail!("no slots") };
    let root = CNodeAt::ROOT;
    ok(
        pool.retype(ObjectKind::Untyped, PAGEBLOCK_BITS, root, first, PAGEBLOCKS),
        "carve pageblocks",
    )?;
    for slot in first..first + 2 {
        ok(asi.set_sensitivity(Cap::from_slot(slot), Sensitivity::Sensitive), "make sensitive")?;
    }
    let endpoint_slot = first + PAGEBLOCKS;
    ok(pool.retype(ObjectKind::Endpoint, 0, root, endpoint_slot, 1), "retype the endpoint")?;
    let endpoint = Cap::<Endpoint>::from_slot(endpoint_slot);
    let mut options =
        SpawnOptions::new(200).grant(endpoint.cptr(), Rights::READ).grant(asi.cptr(), Rights::ALL);
    for slot in first..first + PAGEBLOCKS {
        options = options.grant_moved(Cap::<Untyped>::from_slot(slot).cptr());
    }
    let rights = Rights::WRITE | Rights::GRANT | Rights::GRANT_REPLY;
    let mut mint = |badge: u64| -> Result<Cap<Endpoint>, Failure> {
        let Some(slot) = slots.alloc() else { fail!("no slots") };
        let src = SlotRef::root(endpoint_slot);
        ok(Cap::ROOT.mint(Slot::root(slot), src, rights, CapData::badge(badge)), "mint")?;
        Ok(Cap::from_slot(slot))
    };
    let raw = mint(badge::client(1, QUOTA_ALL))?;
    let second = mint(badge::client(2, QUOTA_ONE))?;
    let unbadged = mint(0)?;
    {
        let mut spawner = Spawner::new(pool, &mut slots);
        if let Err(error) = spawner.spawn(module, &options) {
            fail!("cannot start memsrv: {error}");
        }
    }
    Ok(Env {
        slots,
        buffer,
        first: Client::new(raw, buffer, Cap::ROOT),
        second: Client::new(second, buffer, Cap::ROOT),
        raw,
        unbadged,
    })
}

impl Env {
    fn slot(&mut self) -> Result<u64, Failure> {
        self.slots.alloc().ok_or_else(|| Failure::new(format_args!("no slots left")))
    }

    fn alloc(
        &mut self,
        client: Client,
        order: u8,
        sensitivity: Sensitivity,
    ) -> Result<Cap<Frame>, Error> {
        let slot = self.slot().map_err(|_| Error::BadReply)?;
        let frame = client.alloc_frame(order, sensitivity, slot);
        if frame.is_err() {
            self.slots.free(slot);
        }
        frame
    }

    /// Allocates and checks the frame's sensitivity and the kernel's view.
    fn alloc_checked(
        &mut self,
        order: u8,
        sensitivity: Sensitivity,
    ) -> Result<Cap<Frame>, Failure> {
        let client = self.first;
        let frame = self.alloc(client, order, sensitivity).map_err(|error| {
            Failure::new(format_args!("alloc order {order} {sensitivity:?}: {error:?}"))
        })?;
        let got = ok(frame.sensitivity(), "the frame's sensitivity")?;
        ensure!(got == sensitivity, "asked for {sensitivity:?} memory, got a {got:?} frame");
        ok(Cap::<AsiControl>::BOOT.verify(), "AsiControl::verify after the allocation")?;
        Ok(frame)
    }

    fn free(&mut self, client: Client, frame: Cap<Frame>) -> Outcome {
        if let Err(error) = client.free(frame) {
            fail!("free {frame:?}: {error:?}");
        }
        let kind = ok(frame.identify(), "identify the freed slot")?;
        ensure!(kind == CapKind::Null, "after the free the client still holds a {kind:?}");
        self.slots.free(frame.cptr().0);
        Ok(())
    }

    fn stats(&self) -> Result<memsrv_api::Stats, Failure> {
        self.first.stats().map_err(|error| Failure::new(format_args!("stats: {error:?}")))
    }
}

fn refused<T>(result: Result<T, Error>, want: Refusal, what: &str) -> Outcome {
    match result {
        Err(Error::Refused(error)) if error == want => Ok(()),
        Err(error) => fail!("{what}: expected refusal {want:?}, got {error:?}"),
        Ok(_) => fail!("{what}: expected refusal {want:?}, but it succeeded"),
    }
}

fn nonsensitive_4k(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Nonsensitive)?;
    env.free(env.first, frame)
}

fn sensitive_4k(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Sensitive)?;
    env.free(env.first, frame)
}

fn flip_when_one_sensitivity_runs_out(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    ensure!(before.pageblocks == [2, 2], "memsrv should start with 2 + 2 pageblocks: {before:?}");
    let frames = [
        env.alloc_checked(9, Sensitivity::Sensitive)?,
        env.alloc_checked(9, Sensitivity::Sensitive)?,
        env.alloc_checked(9, Sensitivity::Sensitive)?,
    ];
    let after = env.stats()?;
    ensure!(
        after.flips == before.flips + 1,
        "three sensitive pageblocks of two take one flip: {before:?} -> {after:?}"
    );
    ensure!(after.pageblocks == [3, 1], "one pageblock flipped to sensitive: {after:?}");
    ensure!(after.used_pages == 3 * 512, "the client holds 3 pageblocks: {after:?}");
    for frame in frames {
        env.free(env.first, frame)?;
    }
    Ok(())
}

fn revokes_and_counts_return(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    // Three of the four pageblocks are sensitive now: room for both without a flip.
    let small = env.alloc_checked(0, Sensitivity::Sensitive)?;
    let large = env.alloc_checked(9, Sensitivity::Sensitive)?;
    let during = env.stats()?;
    ensure!(during.used_pages == before.used_pages + 513, "usage {before:?} -> {during:?}");
    env.free(env.first, small)?;
    env.free(env.first, large)?;
    let after = env.stats()?;
    ensure!(after == before, "counts did not return: {before:?} -> {after:?}");
    ensure!(
        after.free_bytes[0] + after.free_bytes[1] == PAGEBLOCKS * PAGEBLOCK,
        "free bytes: {after:?}"
    );
    ok(Cap::<AsiControl>::BOOT.verify(), "AsiControl::verify after the frees")
}

fn bad_order(env: &mut Env) -> Outcome {
    for order in [1, 8, 10, u8::MAX] {
        refused(env.alloc(env.first, order, Sensitivity::Sensitive), Refusal::BadOrder, "order")?;
    }
    Ok(())
}

fn out_of_memory(env: &mut Env) -> Outcome {
    let mut frames = [None; PAGEBLOCKS as usize];
    for (index, frame) in frames.iter_mut().enumerate() {
        let sensitivity =
            if index % 2 == 0 { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive };
        *frame = Some(env.alloc_checked(9, sensitivity)?);
    }
    let first = env.first;
    refused(env.alloc(first, 0, Sensitivity::Nonsensitive), Refusal::OutOfMemory, "5th")?;
    for frame in frames.into_iter().flatten() {
        env.free(env.first, frame)?;
    }
    ok(Cap::<AsiControl>::BOOT.verify(), "AsiControl::verify after the frees")
}

fn quota_exceeded(env: &mut Env) -> Outcome {
    let second = env.second;
    let frame = env
        .alloc(second, 0, Sensitivity::Sensitive)
        .map_err(|e| Failure::new(format_args!("first page: {e:?}")))?;
    refused(env.alloc(second, 0, Sensitivity::Sensitive), Refusal::QuotaExceeded, "second page")?;
    refused(env.alloc(second, 9, Sensitivity::Sensitive), Refusal::QuotaExceeded, "a pageblock")?;
    env.free(second, frame)?;
    let stats = second.stats().map_err(|e| Failure::new(format_args!("stats: {e:?}")))?;
    ensure!(stats.used_pages == 0 && stats.quota_pages == 1, "second client: {stats:?}");
    Ok(())
}

fn not_yours(env: &mut Env) -> Outcome {
    let frame = env.alloc_checked(0, Sensitivity::Sensitive)?;
    refused(env.second.free(frame), Refusal::NotYours, "another client's frame")?;
    let kind = ok(frame.identify(), "identify the frame")?;
    ensure!(kind == CapKind::Frame, "a refused free took the owner's frame: {kind:?}");
    env.free(env.first, frame)?;
    // Freed already: the slot is empty, so no capability travels.
    refused(env.first.free(frame), Refusal::NoFrame, "double free")
}

/// Sends `words` with `label` to memsrv as `endpoint`, with `cap` if any; returns the reply.
fn raw(
    env: &Env,
    endpoint: Cap<Endpoint>,
    label: u64,
    words: &[u64],
    cap: Option<Cap<Endpoint>>,
) -> Result<Reply, Failure> {
    let Ok(mut message) = Message::with_words(label, words) else { fail!("message too long") };
    if let Some(cap) = cap {
        ok(message.try_push_cap(cap.cptr()).map_err(|_| libasi::Error::InvalidLength), "push cap")?;
    }
    let reply = ok(endpoint.call(env.buffer, &message), "call memsrv")?;
    memsrv_api::decode::<Reply>(reply.label(), reply.words())
        .map_err(|error| Failure::new(format_args!("undecodable reply: {error:?}")))
}

fn free_without_a_frame(env: &mut Env) -> Outcome {
    let mut words = [0; MAX_WORDS];
    let Ok(count) = memsrv_api::encode(&Request::Free, &mut words) else { fail!("encode") };
    let none = raw(env, env.raw, LABEL, &words[..count], None)?;
    ensure!(none == Reply::Refused(Refusal::NoFrame), "free without a capability: {none:?}");
    // An endpoint capability is not a frame.
    let endpoint = raw(env, env.raw, LABEL, &words[..count], Some(env.unbadged))?;
    ensure!(endpoint == Reply::Refused(Refusal::NoFrame), "free of an endpoint: {endpoint:?}");
    Ok(())
}

fn malformed_and_unbadged(env: &mut Env) -> Outcome {
    let hostile: [(u64, &[u64]); 5] = [
        (LABEL + 1, &[1, 2]),
        (LABEL, &[]),
        (LABEL, &[u64::MAX]),
        (LABEL, &[1, 9]),
        (LABEL, &[3, 0xff_ff00]),
    ];
    for (label, words) in hostile {
        let reply = raw(env, env.raw, label, words, None)?;
        ensure!(reply == Reply::Refused(Refusal::Malformed), "{label:#x} {words:?}: {reply:?}");
    }
    let mut words = [0; MAX_WORDS];
    let Ok(count) = memsrv_api::encode(&Request::Stats, &mut words) else { fail!("encode") };
    let reply = raw(env, env.unbadged, LABEL, &words[..count], None)?;
    ensure!(reply == Reply::Refused(Refusal::Unidentified), "unbadged stats: {reply:?}");
    let stats = env.stats()?;
    ensure!(stats.used_pages == 0, "after the refusals the client holds {stats:?}");
    Ok(())
}
