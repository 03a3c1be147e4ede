//! Threads: starting, stopping, registers, priorities and scheduling, deletion.

use libasi::Error;
use libasi::cap::{CPtr, TcbConfig, UserRegisters};
use libasi::message::Message;

use crate::Case;
use crate::children::{self, COUNT, FLAG, LOG, LOG_POS, SPIN, VALUE};
use crate::env::{OWN_TCB, OWN_VSPACE, ROOT, Scratch, Spawn, set_shared, shared};
use crate::report::{Outcome, ok, refused};
use crate::{ensure, fail};

pub const CASES: &[Case] = &[
    ("ipc::thread::child_runs_and_exits", child_runs_and_exits),
    ("ipc::thread::blocked_child_waits_for_a_message", blocked_child_waits),
    ("ipc::thread::suspend_stops_and_resume_continues", suspend_and_resume),
    ("ipc::thread::registers_round_trip", registers_round_trip),
    ("ipc::thread::rflags_are_sanitised", rflags_sanitised),
    ("ipc::thread::rip_and_rsp_outside_user_half_refused", pointers_outside_user_half),
    ("ipc::thread::higher_priority_child_runs_first", higher_priority_runs_first),
    ("ipc::thread::lower_priority_child_waits_for_the_root", lower_priority_waits),
    ("ipc::thread::equal_priority_yield_interleaves", yield_interleaves),
    ("ipc::thread::timer_preempts_equal_priority_spinners", preemption),
    ("ipc::thread::priority_above_authority_mcp_refused", priority_above_mcp),
    ("ipc::thread::resume_unconfigured_refused", resume_unconfigured),
    ("ipc::thread::deleting_a_blocked_thread_removes_it", delete_blocked),
    ("ipc::thread::deleting_a_running_thread_removes_it", delete_running),
    ("ipc::thread::affinity_range_checked", affinity),
    ("ipc::thread::misaligned_ipc_buffer_refused", misaligned_buffer),
];

fn child_runs_and_exits(s: &mut Scratch<'_>) -> Outcome {
    s.spawn(children::exit_writer, 0x1234_5678, Spawn::LOW.priority(255))?;
    // Yielding lets the equal-priority child run; a timer tick may send it behind the root
    // task again before it finishes, so yield until it has (round-robin bounds the wait).
    for _ in 0..1000 {
        libasi::ipc::yield_now();
        if shared(FLAG) == 1 {
            break;
        }
    }
    ensure!(shared(FLAG) == 1, "the child did not run while the root task yielded");
    ensure!(shared(VALUE) == 0x1234_5678, "the child wrote {:#x}", shared(VALUE));
    Ok(())
}

fn blocked_child_waits(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    ensure!(shared(FLAG) == 1, "the child never ran");
    ensure!(shared(COUNT) == 0, "the child received something without a sender");
    ok(endpoint.try_send(s.buffer(), &Message::new(3).push(9)), "send to the waiting child")?;
    s.wait_done(child.done_badge(), "the child's receive")?;
    ensure!(shared(COUNT) == 1, "the child received {} messages", shared(COUNT));
    Ok(())
}

fn suspend_and_resume(s: &mut Scratch<'_>) -> Outcome {
    let child = s.spawn(children::spinner, VALUE as u64, Spawn::LOW)?;
    s.wait_done(child.done_badge(), "the spinner's first signal")?;
    ok(child.tcb.suspend(), "suspend")?;
    let stopped_at = shared(VALUE);
    s.wait_idle()?;
    ensure!(
        shared(VALUE) == stopped_at,
        "the suspended child counted on from {stopped_at} to {}",
        shared(VALUE)
    );
    ok(child.tcb.resume(), "resume")?;
    s.wait_done(child.done_badge(), "the resumed spinner's signal")?;
    ensure!(shared(VALUE) > stopped_at, "the resumed child did not count on");
    ok(child.tcb.suspend(), "suspend again")
}

fn stopped_child(s: &mut Scratch<'_>) -> Result<crate::env::Child, crate::report::Failure> {
    s.spawn(children::idle, 0, Spawn::LOW.stopped())
}

fn registers_round_trip(s: &mut Scratch<'_>) -> Outcome {
    let child = stopped_child(s)?;
    let mut words: [u64; 18] = core::array::from_fn(|index| 0x1111_0000 + index as u64);
    words[0] = children::idle as *const () as u64;
    words[1] = 0x10_0000_0ff0;
    words[2] = 0x202;
    let written = UserRegisters::from_words(words);
    ok(child.tcb.write_registers(false, &written), "write registers")?;
    let read = ok(child.tcb.read_registers(s.buffer(), false), "read registers")?;
    let got = read.to_words();
    for (index, (&want, &have)) in words.iter().zip(&got).enumerate() {
        if index != 2 {
            ensure!(want == have, "register {index}: wrote {want:#x}, read {have:#x}");
        }
    }
    ensure!(got[2] & 0x200 != 0, "rflags {:#x} lost IF", got[2]);
    Ok(())
}

fn rflags_sanitised(s: &mut Scratch<'_>) -> Outcome {
    let child = stopped_child(s)?;
    // IOPL 3, TF and NT set, IF clear, CF set.
    let requested = 0x3000 | 0x100 | 0x4000 | 0x1;
    let mut registers = UserRegisters::start(children::idle as *const () as u64, 0x10_0000_0ff0);
    registers.rflags = requested;
    ok(child.tcb.write_registers(false, &registers), "write registers")?;
    let rflags = ok(child.tcb.read_registers(s.buffer(), false), "read registers")?.rflags;
    ensure!(rflags & 0x200 != 0, "IF cleared: rflags {rflags:#x}");
    ensure!(rflags & 0x3000 == 0, "IOPL kept: rflags {rflags:#x}");
    ensure!(rflags & 0x4100 == 0, "TF or NT kept: rflags {rflags:#x}");
    ensure!(rflags & 1 == 1, "CF (user-settable) dropped: rflags {rflags:#x}");
    Ok(())
}

fn pointers_outside_user_half(s: &mut Scratch<'_>) -> Outcome {
    let child = stopped_child(s)?;
    let kernel = 0xffff_8000_0000_0000;
    refused(
        child.tcb.write_registers_prefix(false, &[kernel]),
        Error::InvalidArgument { word: 2 },
        "rip in the kernel half",
    )?;
    refused(
        child.tcb.write_registers_prefix(false, &[0x20_0000, kernel]),
        Error::InvalidArgument { word: 3 },
        "rsp in the kernel half",
    )?;
    let read = ok(child.tcb.read_registers(s.buffer(), false), "read registers")?;
    ensure!(read.rip < kernel, "a refused write changed rip to {:#x}", read.rip);
    Ok(())
}

fn higher_priority_runs_first(s: &mut Scratch<'_>) -> Outcome {
    ok(OWN_TCB.set_priority(OWN_TCB, 200), "lower the root task to 200")?;
    let spawned = s.spawn(children::exit_writer, 77, Spawn::LOW.priority(201));
    let seen = (shared(FLAG), shared(VALUE));
    ok(OWN_TCB.set_priority(OWN_TCB, 255), "raise the root task back to 255")?;
    spawned?;
    ensure!(seen == (1, 77), "right after resume the child had not run: flag/value {seen:?}");
    Ok(())
}

fn lower_priority_waits(s: &mut Scratch<'_>) -> Outcome {
    s.spawn(children::exit_writer, 78, Spawn::LOW)?;
    ensure!(shared(FLAG) == 0, "the priority-100 child ran before the root task blocked");
    s.wait_idle()?;
    ensure!(shared(VALUE) == 78, "the child did not run once the root blocked");
    Ok(())
}

fn yield_interleaves(s: &mut Scratch<'_>) -> Outcome {
    // A timer tick between a yielder's log entry and its yield sends it behind the other
    // and breaks the strict alternation; that lands in about one run in a hundred, so the
    // order is measured up to twice and one clean run is required.
    let mut log = [0u64; 6];
    for _ in 0..2 {
        set_shared(LOG_POS, 0);
        let a = s.spawn(children::yielder, 1, Spawn::LOW.priority(255))?;
        let b = s.spawn(children::yielder, 2, Spawn::LOW.priority(255))?;
        s.wait_done(a.done_badge() | b.done_badge(), "both yielders")?;
        ensure!(shared(LOG_POS) == 6, "{} log entries", shared(LOG_POS));
        log = core::array::from_fn(|index| shared(LOG + index));
        if log == [1, 2, 1, 2, 1, 2] {
            return Ok(());
        }
    }
    fail!("yield order {log:?} twice, expected [1, 2, 1, 2, 1, 2]")
}

fn preemption(s: &mut Scratch<'_>) -> Outcome {
    let a = s.spawn(children::busy, 0, Spawn::LOW.priority(255))?;
    let b = s.spawn(children::busy, 1, Spawn::LOW.priority(255))?;
    let mut rounds = 0u64;
    while (shared(SPIN) < 1000 || shared(SPIN + 1) < 1000) && rounds < 400_000_000 {
        rounds += 1;
        core::hint::spin_loop();
    }
    ok(a.tcb.suspend(), "suspend spinner a")?;
    ok(b.tcb.suspend(), "suspend spinner b")?;
    let (first, second) = (shared(SPIN), shared(SPIN + 1));
    ensure!(
        first >= 1000 && second >= 1000,
        "the spinners counted {first} and {second} while the root spun {rounds} rounds"
    );
    Ok(())
}

fn priority_above_mcp(s: &mut Scratch<'_>) -> Outcome {
    let authority = stopped_child(s)?.tcb;
    let target = stopped_child(s)?.tcb;
    ok(authority.set_max_controlled_priority(OWN_TCB, 100), "give the authority MCP 100")?;
    refused(
        target.set_priority(authority, 150),
        Error::RangeError { word: 1 },
        "priority 150 under MCP 100",
    )?;
    refused(
        target.set_max_controlled_priority(authority, 101),
        Error::RangeError { word: 1 },
        "MCP 101 under MCP 100",
    )?;
    ok(target.set_priority(authority, 100), "priority 100 under MCP 100")
}

fn resume_unconfigured(s: &mut Scratch<'_>) -> Outcome {
    let tcb = s.tcb()?;
    refused(tcb.resume(), Error::InvalidCapability { word: 3 }, "resume without a VSpace")
}

fn delete_blocked(s: &mut Scratch<'_>) -> Outcome {
    let endpoint = s.endpoint()?;
    let child = s.spawn(children::sink, endpoint.cptr().0, Spawn::LOW)?;
    s.wait_idle()?;
    ensure!(shared(FLAG) == 1, "the child never reached its receive");
    s.delete(child.tcb)?;
    refused(
        endpoint.try_send(s.buffer(), &Message::new(1)),
        Error::WouldBlock,
        "send after the receiver's TCB was deleted",
    )?;
    s.wait_idle()?;
    ensure!(shared(COUNT) == 0, "the deleted thread received a message");
    Ok(())
}

fn delete_running(s: &mut Scratch<'_>) -> Outcome {
    let child = s.spawn(children::spinner, VALUE as u64, Spawn::LOW)?;
    s.wait_done(child.done_badge(), "the spinner's first signal")?;
    s.delete(child.tcb)?;
    let stopped_at = shared(VALUE);
    let seen = s.wait_idle()?;
    ensure!(
        shared(VALUE) == stopped_at && seen & child.done_badge() == 0,
        "the deleted thread ran on: {stopped_at} -> {}, DONE bits {seen:#x}",
        shared(VALUE)
    );
    Ok(())
}

fn affinity(s: &mut Scratch<'_>) -> Outcome {
    let child = stopped_child(s)?;
    ok(child.tcb.set_affinity(0), "affinity 0")?;
    refused(child.tcb.set_affinity(1000), Error::RangeError { word: 0 }, "affinity 1000")
}

fn misaligned_buffer(s: &mut Scratch<'_>) -> Outcome {
    let tcb = s.tcb()?;
    let frame = s.object::<libasi::cap::Frame>(libasi::cap::ObjectKind::Frame4K)?;
    let config = TcbConfig::new(ROOT, OWN_VSPACE).ipc_buffer(0x10_0000_0200, frame.cptr());
    refused(tcb.configure(&config), Error::AlignmentError, "buffer at 0x...200")?;
    let config = TcbConfig::new(ROOT, OWN_VSPACE).ipc_buffer(0, CPtr(ROOT.cptr().0));
    match tcb.configure(&config) {
        Err(Error::InvalidCapability { word: 6 }) => Ok(()),
        other => fail!(
            "a CNode as the buffer frame: expected invalid capability (word 6), got {other:?}"
        ),
    }
}
