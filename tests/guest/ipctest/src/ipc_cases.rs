//! Endpoints: messages in registers and IPC buffers, badges, call and reply, non-blocking
//! forms, rights, capability transfer, destruction.

use case_process::own;
use libasi::Error;
use libasi::cap::{
    CNodeAt, CPtr, Cap, CapKind, Counters, Endpoint, Frame, Notification, ObjectKind, Rights,
    Sensitivity,
};
use libasi::message::Message;
use syscall_abi::Syscall;
use syscall_abi::counters::Counter;

use crate::Case;
use crate::children::{
    self, BADGE, CAPS, COUNT, ERROR, FLAG, LABEL, LAST, LEN, RECEIVE_SLOT, UNWRAPPED,
    UNWRAPPED_BADGE, VALUE, WORDS,
};
use crate::env::{CHILD_BUFFER_BASE, Scratch, Spawn, map_with_tables, set_shared, shared};
use crate::report::{Failure, Outcome, holds, identify, ok, refused};
use crate::{ensure, raw};

pub const CASES: &[Case] = &[
    ("ipc::endpoint::register_messages_of_0_to_4_words", register_words),
    ("ipc::endpoint::long_messages_through_ipc_buffers", long_messages),
    ("ipc::endpoint::long_message_cut_to_4_without_buffer", cut_to_four),
    ("ipc::endpoint::badge_reaches_the_receiver", badges),
    ("ipc::endpoint::reply_receive_serves_a_loop", reply_receive_loop),
    ("ipc::endpoint::send_then_receive", send_receive),
    ("ipc::endpoint::register_only_thread_calls", register_only_call),
    ("ipc::endpoint::fpu_registers_stay_with_their_thread", fpu_registers),
    ("ipc::endpoint::nonblocking_without_partner_would_block", would_block),
    ("ipc::endpoint::rights_enforced", rights),
    ("ipc::endpoint::grant_transfers_a_capability", grant),
    ("ipc::endpoint::without_grant_no_capability_arrives", no_grant),
    ("ipc::endpoint::badged_cap_to_same_endpoint_unwraps", unwrap),
    ("ipc::endpoint::destroy_wakes_receiver_with_ipc_cancelled", destroy_wakes),
    ("ipc::endpoint::long_message_into_a_sensitive_buffer_exits_once", sensitive_buffer),
];

fn stop_echo(s: &mut Scratch<'_>, endpoint: Cap<Endpoint>) -> Outcome {
    ok(endpoint.call(s.buffer(), &Message::new(0xdead)), "stop the echo server").map(drop)
}

fn register_words(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    s.spawn(children::echo, endpoint.cptr().0, Spawn::LOW)?;
    for length in 0..=4u64 {
        let words: [u64; 4] = core::array::from_fn(|i| 0x100 * length + i as u64);
        let request =
            Message::with_words(20 + length, &words[..length as usize]).unwrap_or(Message::new(0));
        let reply = ok(endpoint.call(s.buffer(), &request), "call the echo server")?;
        ensure!(shared(LEN) == length, "{length} words sent, the server saw {}", shared(LEN));
        ensure!(
            shared(LABEL) == 20 + length,
            "label {} arrived for {}",
            shared(LABEL),
            20 + length
        );
        for (i, &word) in words.iter().take(length as usize).enumerate() {
            ensure!(shared(WORDS + i) == word, "word {i} arrived as {:#x}", shared(WORDS + i));
        }
        ensure!(reply.label() == 21 + length, "reply label {}", reply.label());
        ensure!(reply.words() == &words[..length as usize], "reply words {:?}", reply.words());
    }
    stop_echo(s, endpoint)
}

fn long_messages(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    s.spawn(children::echo, endpoint.cptr().0, Spawn::LOW.with_buffer())?;
    for length in [5usize, 64, 120] {
        let words: [u64; 120] = core::array::from_fn(|i| 3 * i as u64 + length as u64);
        let request = Message::with_words(1, &words[..length]).unwrap_or(Message::new(0));
        let reply = ok(endpoint.call(s.buffer(), &request), "call with a long message")?;
        ensure!(shared(LEN) == length as u64, "{length} words sent, {} arrived", shared(LEN));
        ensure!(shared(LAST) == words[length - 1], "last word arrived as {:#x}", shared(LAST));
        ensure!(shared(WORDS + 4) == words[4], "word 4 arrived as {:#x}", shared(WORDS + 4));
        ensure!(reply.len() == length, "the reply has {} words, expected {length}", reply.len());
        ensure!(reply.words() == &words[..length], "the reply's words differ");
    }
    stop_echo(s, endpoint)
}

fn cut_to_four(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    s.spawn(children::echo, endpoint.cptr().0, Spawn::LOW)?;
    let words: [u64; 10] = core::array::from_fn(|i| i as u64 + 1);
    let request = Message::with_words(2, &words).unwrap_or(Message::new(0));
    let reply = ok(endpoint.call(s.buffer(), &request), "call with 10 words")?;
    ensure!(shared(LEN) == 4, "a receiver without buffer saw length {}, expected 4", shared(LEN));
    ensure!(reply.words() == &words[..4], "reply words {:?}", reply.words());
    stop_echo(s, endpoint)
}

fn badges(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let badged = s.mint(endpoint, Rights::ALL, 0x77)?;
    s.spawn(children::echo, endpoint.cptr().0, Spawn::LOW)?;
    ok(badged.call(s.buffer(), &Message::new(1)), "call through the badged copy")?;
    ensure!(shared(BADGE) == 0x77, "the receiver saw badge {:#x}, expected 0x77", shared(BADGE));
    ok(endpoint.call(s.buffer(), &Message::new(1)), "call through the original")?;
    ensure!(shared(BADGE) == 0, "unbadged call arrived with badge {:#x}", shared(BADGE));
    stop_echo(s, endpoint)
}

fn reply_receive_loop(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    s.spawn(children::echo, endpoint.cptr().0, Spawn::LOW)?;
    for round in 0..5u64 {
        let reply = ok(endpoint.call(s.buffer(), &Message::new(40 + round).push(round)), "call")?;
        ensure!(
            reply.label() == 41 + round && reply.word(0) == round,
            "round {round}: reply label {} word {}",
            reply.label(),
            reply.word(0)
        );
    }
    ensure!(shared(COUNT) == 5, "the server saw {} requests", shared(COUNT));
    stop_echo(s, endpoint)
}

fn send_receive(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    set_shared(LEN, 3);
    let child = s.spawn(children::sender, endpoint.cptr().0, Spawn::LOW)?;
    let (badge, message) = ok(endpoint.receive(s.buffer()), "receive")?;
    ensure!(badge == 0, "badge {badge:#x}");
    ensure!(
        message.label() == 7 && message.words() == [100, 101, 102],
        "received label {} words {:?}",
        message.label(),
        message.words()
    );
    s.wait_done(child.done_badge(), "the sender")?;
    ensure!(shared(ERROR) == 0, "the sender's send answered error {}", shared(ERROR));
    Ok(())
}

fn register_only_call(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::caller, endpoint.cptr().0, Spawn::LOW)?;
    let (_, request) = ok(endpoint.receive(s.buffer()), "receive the call")?;
    ensure!(
        request.label() == 5 && request.words() == [11, 22],
        "call arrived as label {} words {:?}",
        request.label(),
        request.words()
    );
    ok(libasi::ipc::reply(s.buffer(), &Message::new(9).push(33)), "reply")?;
    s.wait_done(child.done_badge(), "the caller")?;
    ensure!(
        shared(ERROR) == 0 && shared(LABEL) == 9 && shared(WORDS) == 33,
        "the caller got error {} label {} word {}",
        shared(ERROR),
        shared(LABEL),
        shared(WORDS)
    );
    Ok(())
}

fn would_block(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    refused(endpoint.try_send(s.buffer(), &Message::new(1)), Error::WouldBlock, "try_send")?;
    refused(endpoint.try_receive(s.buffer()).map(drop), Error::WouldBlock, "try_receive")
}

fn rights(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let write_only = s.mint(endpoint, Rights::WRITE, 0)?;
    let read_only = s.mint(endpoint, Rights::READ, 0)?;
    refused(
        write_only.receive(s.buffer()).map(drop),
        Error::InsufficientRights,
        "receive, write-only",
    )?;
    refused(
        write_only.try_receive(s.buffer()).map(drop),
        Error::InsufficientRights,
        "try_receive, write-only",
    )?;
    refused(
        read_only.send(s.buffer(), &Message::new(1)),
        Error::InsufficientRights,
        "send, read-only",
    )?;
    refused(
        read_only.try_send(s.buffer(), &Message::new(1)),
        Error::InsufficientRights,
        "try_send, read-only",
    )?;
    refused(
        read_only.call(s.buffer(), &Message::new(1)).map(drop),
        Error::InsufficientRights,
        "call, read-only",
    )
}

/// A sink child with a buffer and a receive slot; the message is sent through `via`.
fn transfer(
    s: &mut Scratch<'_>,
    rights: Rights,
    cap: impl FnOnce(&mut Scratch<'_>, Cap<Endpoint>) -> Result<CPtr, Failure>,
) -> Result<u64, Failure> {
    let endpoint = s.endpoint()?;
    let via = s.mint(endpoint, rights, 0)?;
    let receive_slot = s.slot()?;
    set_shared(RECEIVE_SLOT, receive_slot);
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW.with_buffer())?;
    let sent = cap(s, endpoint)?;
    s.wait_idle()?;
    ensure!(shared(FLAG) == 1, "the receiver never got to its receive");
    ok(via.send(s.buffer(), &Message::new(4).push(44).push_cap(sent)), "send with a capability")?;
    s.wait_done(child.done_badge(), "the receiver")?;
    ensure!(shared(COUNT) == 1 && shared(WORDS) == 44, "the message did not arrive whole");
    Ok(receive_slot)
}

fn grant(s: &mut Scratch<'_>) -> Outcome {
    let slot = transfer(s, Rights::ALL, |s, _| Ok(s.notification()?.cptr()))?;
    ensure!(shared(CAPS) == 1, "{} capabilities arrived, expected 1", shared(CAPS));
    ensure!(shared(UNWRAPPED) == 0, "unwrapped mask {:#b}", shared(UNWRAPPED));
    holds(CPtr(slot), CapKind::Notification, "the receive slot")
}

fn no_grant(s: &mut Scratch<'_>) -> Outcome {
    let slot = transfer(s, Rights::READ | Rights::WRITE, |s, _| Ok(s.notification()?.cptr()))?;
    ensure!(shared(CAPS) == 0, "{} capabilities arrived without grant", shared(CAPS));
    let kind = identify(CPtr(slot))?;
    ensure!(kind == CapKind::Null, "the receive slot holds {kind:?}");
    Ok(())
}

fn unwrap(s: &mut Scratch<'_>) -> Outcome {
    let slot =
        transfer(s, Rights::ALL, |s, endpoint| Ok(s.mint(endpoint, Rights::ALL, 0x99)?.cptr()))?;
    ensure!(
        shared(CAPS) == 1 && shared(UNWRAPPED) == 1 && shared(UNWRAPPED_BADGE) == 0x99,
        "caps {} unwrapped {:#b} badge {:#x}; expected 1, 0b1, 0x99",
        shared(CAPS),
        shared(UNWRAPPED),
        shared(UNWRAPPED_BADGE)
    );
    let kind = identify(CPtr(slot))?;
    ensure!(kind == CapKind::Null, "an unwrapped capability filled the receive slot: {kind:?}");
    Ok(())
}

fn destroy_wakes(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    s.delete(endpoint)?;
    s.wait_done(child.done_badge(), "the woken receiver")?;
    ensure!(
        shared(ERROR) == libasi::SyscallError::IpcCancelled.code(),
        "the receiver's receive answered {} (expected IPC cancelled)",
        shared(ERROR)
    );
    Ok(())
}

#[allow(dead_code, reason = "keeps the kinds in one place")]
type Kinds = (Endpoint, Notification);

/// Two threads that both keep a value in xmm0 across register-only calls and replies (the
/// IPC fastpath's kind): each must find its own value after every switch.
fn fpu_registers(s: &mut Scratch<'_>) -> Outcome {
    const MINE: u64 = 0x0007_1e00_0000_0002;
    const CALLS: u64 = 20;
    let endpoint = s.endpoint()?;
    set_shared(COUNT, 0);
    set_shared(VALUE, 0);
    set_shared(ERROR, 0);
    s.spawn(children::fpu_echo, endpoint.cptr().0, Spawn::LOW)?;
    for label in 1..=CALLS {
        let seen = raw::ipc_holding_xmm0(Syscall::Call, endpoint.cptr().0, label, MINE);
        ensure!(seen.status == 0, "call {label} returned status {}", seen.status);
        ensure!(seen.label == label + 1, "call {label} was answered with label {}", seen.label);
        ensure!(seen.xmm0 == MINE, "after call {label} xmm0 holds {:#x}", seen.xmm0);
    }
    ok(endpoint.call(s.buffer(), &Message::new(0xdead)), "stop the server")?;
    ensure!(shared(VALUE) == 0, "the server found {:#x} in its xmm0", shared(VALUE));
    ensure!(shared(COUNT) == CALLS, "the server answered {} calls of {CALLS}", shared(COUNT));
    ensure!(shared(ERROR) == 0, "the server's IPC failed with status {}", shared(ERROR));
    Ok(())
}

/// Where the sensitive-buffer case maps its buffer: 2 MiB above the children's own, so
/// that it needs a page table of its own.
const SENSITIVE_BUFFER: u64 = CHILD_BUFFER_BASE + 0x20_0000;
/// How many long calls each receiver of that case gets.
const LONG_CALLS: u64 = 3;
/// Their length: words 4 to 15 travel through the IPC buffers.
const LONG_WORDS: usize = 16;

/// The kernel's event counters (CPU 0's, where everything runs), read through the
/// process's own IPC buffer, which is nonsensitive: the read itself never exits.
fn counters(s: &Scratch<'_>) -> Result<Counters, Failure> {
    ok(own::ASI_CONTROL.counters(s.buffer(), 0), "read the event counters")
}

/// [`LONG_CALLS`] calls with [`LONG_WORDS`] words to the [`children::short_echo`] at
/// `endpoint`, blocked in its receive; checks that every word arrived and the reply was
/// register-only. The counters' increase over the calls.
fn long_calls(s: &Scratch<'_>, endpoint: Cap<Endpoint>) -> Result<Counters, Failure> {
    let words = |call: u64| -> [u64; LONG_WORDS] {
        core::array::from_fn(|i| 0x5e00 + 0x100 * call + i as u64)
    };
    // Per call: the checksum the receiver saw, the reply's label and length.
    let mut seen = [(0, 0, 0); LONG_CALLS as usize];
    let before = counters(s)?;
    for (call, seen) in (0..LONG_CALLS).zip(&mut seen) {
        let request = Message::with_words(60 + call, &words(call)).unwrap_or(Message::new(0));
        let reply = ok(endpoint.call(s.buffer(), &request), "call with a long message")?;
        *seen = (shared(VALUE), reply.label(), reply.len());
    }
    let spent = counters(s)?.since(&before);
    for (call, (checksum, label, len)) in (0..LONG_CALLS).zip(seen) {
        ensure!(
            checksum == children::checksum(&words(call)),
            "call {call}: the receiver's words differ from the {LONG_WORDS} sent"
        );
        ensure!(
            label == 61 + call && len == 0,
            "call {call}: reply label {label} with {len} words, expected {} with none",
            61 + call
        );
    }
    ensure!(shared(LEN) == LONG_WORDS as u64, "{} words arrived of {LONG_WORDS}", shared(LEN));
    Ok(spent)
}

/// A receiver whose IPC buffer is a frame of a sensitive pageblock: the kernel writes
/// words 4 and up of a long message into it through the physical window, which with
/// `asi=on` is one ASI exit (and one re-entry) per call; with a nonsensitive buffer, or
/// with `asi=off`, none. The mode is read off the frame's retype, whose zeroing of
/// sensitive memory exits once as well when ASI is on.
fn sensitive_buffer(s: &mut Scratch<'_>) -> Outcome {
    let block = s.sensitive_pageblock()?;
    let frame_slot = s.slot()?;
    let before = counters(s)?;
    ok(
        block.retype(ObjectKind::Frame4K, 0, CNodeAt::ROOT, frame_slot, 1),
        "retype a frame of the sensitive pageblock",
    )?;
    let control = counters(s)?.since(&before);
    let frame = Cap::<Frame>::from_slot(frame_slot);
    let sensitivity = ok(frame.sensitivity(), "ask the frame's sensitivity")?;
    ensure!(
        sensitivity == Sensitivity::Sensitive,
        "a frame of a sensitive pageblock is {sensitivity:?}"
    );
    let (exits, entries) = (control.get(Counter::AsiExits), control.get(Counter::AsiEntries));
    ensure!(
        exits <= 1 && entries == exits,
        "retyping one sensitive frame: {exits} ASI exits and {entries} re-entries, expected \
         1 and 1 (asi=on) or 0 and 0 (asi=off)"
    );
    let asi = exits == 1;
    // Page tables from the pool, after the pageblock: nonsensitive.
    let pool = s.env.pool;
    map_with_tables(frame, SENSITIVE_BUFFER, &mut || Ok((pool, s.slot()?)))?;

    let sensitive = s.endpoint()?;
    let plain = s.endpoint()?;
    let child = s.spawn(
        children::short_echo,
        sensitive.cptr().0,
        Spawn::LOW.with_buffer_in(SENSITIVE_BUFFER, frame),
    )?;
    let other = s.spawn(children::short_echo, plain.cptr().0, Spawn::LOW.with_buffer())?;
    // Both wait in their receive before anything is counted.
    s.wait_idle()?;

    let spent = long_calls(s, plain)?;
    let (exits, entries) = (spent.get(Counter::AsiExits), spent.get(Counter::AsiEntries));
    ensure!(
        exits == 0 && entries == 0,
        "{LONG_CALLS} long calls to a receiver with a nonsensitive buffer: {exits} ASI exits \
         and {entries} re-entries, expected none"
    );
    let spent = long_calls(s, sensitive)?;
    let (exits, entries) = (spent.get(Counter::AsiExits), spent.get(Counter::AsiEntries));
    let expected = if asi { LONG_CALLS } else { 0 };
    ensure!(
        exits == expected && entries == expected,
        "{LONG_CALLS} long calls to a receiver with a sensitive buffer: {exits} ASI exits and \
         {entries} re-entries, expected {expected} and {expected} (asi={})",
        if asi { "on" } else { "off" }
    );
    if asi {
        // An exit and a re-entry are a CR3 write each (the threads share one VSpace, so
        // switching between them writes none), and the re-entry flushes L1D.
        let cr3 = spent.get(Counter::Cr3Writes);
        ensure!(cr3 == 2 * exits, "{cr3} CR3 writes for {exits} exits and re-entries");
        let l1d = spent.get(Counter::L1dFlushes);
        ensure!(l1d >= exits, "{l1d} L1D flushes for {exits} re-entries");
    }
    for endpoint in [sensitive, plain] {
        stop_echo(s, endpoint)?;
    }
    s.wait_done(child.done_badge() | other.done_badge(), "the two receivers")?;
    ensure!(shared(ERROR) == 0, "a receiver's IPC failed with error {}", shared(ERROR));
    ok(frame.unmap(), "unmap the sensitive buffer")
}
