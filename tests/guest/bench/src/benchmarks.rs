//! The benchmarks, in the order they run and print.
//!
//! Adding one: write a function that prepares whatever it needs (from the [`Env`]), then
//! hands the operation to time to [`Bench::time`] (the operation returns `Err` for an
//! outcome that means the figure would be meaningless), and add it to [`ALL`]. The host
//! requires the names in `tests/src/bench.rs`'s `EXPECTED`; add the new name there too,
//! with a note on the kernel events one iteration causes.
//!
//! Operations that are kernel invocations build their message once, outside the timed
//! region, and issue the raw system call stub inside it: the figures are the kernel's
//! work plus the stub, not libasi's message building.

use core::fmt;

use libasi::cap::{
    CNodeAt, Cap, Endpoint, Frame, FrameAttributes, Invocation, Notification, ObjectKind, Rights,
    Slot, Untyped, invocation,
};
use libasi::message::Message;
use libasi::syscall::{self, IpcReturn, RawReturn, syscall0, syscall2};
use syscall_abi::Syscall;
use syscall_abi::ipc::{REGISTER_WORDS, ipc_buffer};

use crate::env::{Env, MAP_ADDRESS, ROOT, ROOT_VSPACE, SetupError, SpawnFailure};
use crate::measure::{Bench, Summary};
use crate::tsc;

/// A named benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Benchmark {
    /// The name in its `BENCH` line: no spaces.
    pub name: &'static str,
    /// Runs it and summarises the samples.
    pub run: fn(&mut Bench<'_>, &mut Env) -> Result<Summary, Unexpected>,
}

/// Every benchmark. The first two describe the measurement itself.
pub const ALL: &[Benchmark] = &[
    Benchmark { name: "rdtsc_overhead", run: rdtsc_overhead },
    Benchmark { name: "calibration_loop", run: calibration_loop },
    Benchmark { name: "null_syscall", run: null_syscall },
    Benchmark { name: "debug_write_0", run: debug_write_0 },
    Benchmark { name: "ipc_call_reply_0_same_as", run: ipc_call_reply_0 },
    Benchmark { name: "ipc_call_reply_16_same_as", run: ipc_call_reply_16 },
    Benchmark { name: "ipc_call_reply_0_cross_as", run: ipc_call_reply_0_cross_as },
    Benchmark { name: "ipc_call_reply_16_cross_as", run: ipc_call_reply_16_cross_as },
    Benchmark { name: "notification_signal_wait", run: notification_signal_wait },
    Benchmark { name: "retype_endpoint", run: retype_endpoint },
    Benchmark { name: "map_unmap_frame", run: map_unmap_frame },
];

/// Something other than what the benchmark is meant to measure happened.
#[derive(Clone, Copy, Debug)]
pub enum Unexpected {
    /// A timed call returned the wrong status.
    Status { want: &'static str, got: RawReturn },
    /// Preparing (or tidying up after) the benchmark failed.
    Setup(SetupError),
    /// The peer process of a cross-address-space benchmark could not be started.
    Spawn(SpawnFailure),
}

impl From<SetupError> for Unexpected {
    fn from(error: SetupError) -> Self {
        Self::Setup(error)
    }
}

impl From<SpawnFailure> for Unexpected {
    fn from(failure: SpawnFailure) -> Self {
        Self::Spawn(failure)
    }
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { want, got } => {
                write!(f, "expected {want}, got status {} value {}", got.status, got.value)
            }
            Self::Setup(SetupError { step, error }) => write!(f, "cannot {step}: {error}"),
            Self::Spawn(failure) => write!(f, "{failure}"),
        }
    }
}

/// Checks that a call returned `status`.
fn expect(got: RawReturn, status: u64, want: &'static str) -> Result<(), Unexpected> {
    if got.status == status { Ok(()) } else { Err(Unexpected::Status { want, got }) }
}

/// Checks that a call succeeded.
fn success(got: RawReturn) -> Result<(), Unexpected> {
    expect(got, syscall_abi::SUCCESS, "success")
}

/// Two back-to-back counter reads: what every other figure includes besides its operation.
fn rdtsc_overhead(bench: &mut Bench<'_>, _: &mut Env) -> Result<Summary, Unexpected> {
    bench.time(|| (), Ok::<(), Unexpected>)
}

/// A loop of exactly [`tsc::SPIN_INSTRUCTIONS`] instructions; its median minus
/// `rdtsc_overhead`'s, divided by that count, is ticks per instruction (1 under icount).
fn calibration_loop(bench: &mut Bench<'_>, _: &mut Env) -> Result<Summary, Unexpected> {
    let summary = bench.time(tsc::spin, Ok::<(), Unexpected>)?;
    Ok(summary.with_instructions(tsc::SPIN_INSTRUCTIONS))
}

/// The cheapest round trip into the kernel, the `Null` call: the full entry and exit path
/// (`syscall`, register save into the TCB, the dispatcher, register restore, `sysret`)
/// with no work in between.
fn null_syscall(bench: &mut Bench<'_>, _: &mut Env) -> Result<Summary, Unexpected> {
    bench.time(
        || {
            // SAFETY: the Null call reads and writes no memory.
            unsafe { syscall0(Syscall::Null.number()) }
        },
        success,
    )
}

/// DebugWrite of zero bytes: a real call, with its argument checks, that prints nothing.
fn debug_write_0(bench: &mut Bench<'_>, _: &mut Env) -> Result<Summary, Unexpected> {
    static NOTHING: [u8; 1] = [0];
    bench.time(
        || {
            // SAFETY: DebugWrite reads at most `len` = 0 bytes at a live static.
            unsafe { syscall2(Syscall::DebugWrite.number(), NOTHING.as_ptr() as u64, 0) }
        },
        success,
    )
}

/// An IPC system call through the raw stub.
fn ipc(number: Syscall, cptr: u64, info: u64, words: [u64; REGISTER_WORDS]) -> IpcReturn {
    // SAFETY: the only memory the kernel writes for an IPC call is the caller's registered
    // IPC buffer, which this program reads and writes with volatile accesses only: no Rust
    // reference points into it.
    unsafe { syscall::ipc(number.number(), cptr, info, words) }
}

/// The server of the call/reply benchmarks, a helper thread: receives on endpoint `arg`,
/// then answers every call with the message it carried (same header, same words: the
/// register words go straight back, words 4 and up were copied into its IPC buffer and
/// are copied out again) and waits for the next, in one ReplyRecv. Exits with the status
/// of a call that fails.
extern "C" fn echo_server(endpoint: u64, _buffer: u64) -> ! {
    let mut got = ipc(Syscall::Receive, endpoint, 0, [0; REGISTER_WORDS]);
    while got.status == syscall_abi::SUCCESS {
        got = ipc(Syscall::ReplyReceive, endpoint, got.info, got.words);
    }
    libasi::thread::exit(got.status)
}

/// The root task Calls a server thread (same address space, highest priority, with its
/// own IPC buffer) that echoes the message in one ReplyRecv. Timed: the root's Call, from
/// before the `syscall` to after it returns with the reply.
fn ipc_call_reply(
    bench: &mut Bench<'_>,
    env: &mut Env,
    length: usize,
) -> Result<Summary, Unexpected> {
    let endpoint: Cap<Endpoint> = env.retype(None, ObjectKind::Endpoint, 0)?;
    let server = env.start_helper(echo_server, endpoint.cptr().0, length > REGISTER_WORDS)?;
    let summary = call_reply_round_trips(bench, env, endpoint, length);
    env.stop_helper(server)?;
    env.free(endpoint)?;
    summary
}

/// As [`ipc_call_reply`], but the server is a process of its own (`bench-peer`, in its own
/// address space and CSpace, at the helper threads' priority), which answers with the same
/// system calls as [`echo_server`]: each round trip switches address spaces twice. The
/// peer keeps waiting on the endpoint after the benchmark (its copy of the endpoint keeps
/// it alive), blocked for the rest of the run.
fn ipc_call_reply_cross_as(
    bench: &mut Bench<'_>,
    env: &mut Env,
    length: usize,
) -> Result<Summary, Unexpected> {
    let endpoint: Cap<Endpoint> = env.retype(None, ObjectKind::Endpoint, 0)?;
    env.spawn_peer(endpoint)?;
    let summary = call_reply_round_trips(bench, env, endpoint, length);
    env.free(endpoint)?;
    summary
}

/// Times Calls of a `length`-word message on `endpoint`, whose server echoes it: the
/// message is built and its words 4 and up written to the root task's IPC buffer once,
/// before the timing; each iteration checks that the header and register words came back.
/// The event counters' read before the timed iterations leaves its reply's words past the
/// four in registers (one word per counter) in that buffer, so those calls carry them
/// instead: the kernel copies the same twelve words whatever they hold, and the server
/// echoes them unseen.
fn call_reply_round_trips(
    bench: &mut Bench<'_>,
    env: &Env,
    endpoint: Cap<Endpoint>,
    length: usize,
) -> Result<Summary, Unexpected> {
    let mut message = Message::new(0);
    for index in 0..length {
        message = message.push(0x100 + index as u64);
    }
    let buffer = env.buffer.address().unwrap_or(0);
    for (index, &word) in message.words().iter().enumerate().skip(REGISTER_WORDS) {
        // SAFETY: the root task's IPC buffer is mapped writable (the boot information
        // says so) and no Rust reference points into it.
        unsafe { syscall::write_word(buffer + 8 * (ipc_buffer::MESSAGE + index) as u64, word) };
    }
    let info = message.info().to_word();
    let registers: [u64; REGISTER_WORDS] = core::array::from_fn(|index| message.word(index));
    let cptr = endpoint.cptr().0;
    bench.time(
        || ipc(Syscall::Call, cptr, info, registers),
        |got| {
            success(got.raw())?;
            let echoed = got.info == info && got.words == registers;
            if echoed {
                Ok(())
            } else {
                Err(Unexpected::Status { want: "the message echoed", got: got.raw() })
            }
        },
    )
}

/// Call+ReplyRecv round trip with an empty message (nothing but the header).
fn ipc_call_reply_0(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    ipc_call_reply(bench, env, 0)
}

/// Call+ReplyRecv round trip with 16 words each way: 4 in registers, 12 copied between
/// the IPC buffers.
fn ipc_call_reply_16(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    ipc_call_reply(bench, env, 16)
}

/// Call+ReplyRecv round trip across two address spaces with an empty message: the
/// fastpath case.
fn ipc_call_reply_0_cross_as(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    ipc_call_reply_cross_as(bench, env, 0)
}

/// Call+ReplyRecv round trip across two address spaces with 16 words each way: 4 in
/// registers, 12 copied between the IPC buffers.
fn ipc_call_reply_16_cross_as(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    ipc_call_reply_cross_as(bench, env, 16)
}

/// The waiter of `notification_signal_wait`, a helper thread: waits on the notification
/// in the low 32 bits of `arg`, signals the one in the high 32 bits, and again. Exits with
/// the status of a call that fails.
extern "C" fn notification_echo(arg: u64, _buffer: u64) -> ! {
    let (wake, back) = (arg & 0xffff_ffff, arg >> 32);
    loop {
        let got = ipc(Syscall::Receive, wake, 0, [0; REGISTER_WORDS]);
        if got.status != syscall_abi::SUCCESS {
            libasi::thread::exit(got.status);
        }
        let got = ipc(Syscall::Send, back, 0, [0; REGISTER_WORDS]);
        if got.status != syscall_abi::SUCCESS {
            libasi::thread::exit(got.status);
        }
    }
}

/// Signal→wait round trip across two threads: a waiter at a higher priority than the
/// root task is blocked on notification `wake`; the root signals it (the waiter runs at
/// once), the waiter signals `back` and waits again, and the root, running again, waits
/// on `back`, whose signal is pending. Timed: the root's signal and wait.
fn notification_signal_wait(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    let wake: Cap<Notification> = env.retype(None, ObjectKind::Notification, 0)?;
    let back: Cap<Notification> = env.retype(None, ObjectKind::Notification, 0)?;
    let arg = (back.cptr().0 << 32) | wake.cptr().0;
    let waiter = env.start_helper(notification_echo, arg, false)?;
    let summary = bench.time(
        || {
            let signalled = ipc(Syscall::Send, wake.cptr().0, 0, [0; REGISTER_WORDS]);
            (signalled, ipc(Syscall::Receive, back.cptr().0, 0, [0; REGISTER_WORDS]))
        },
        |(signalled, woken)| {
            success(signalled.raw())?;
            success(woken.raw())
        },
    );
    env.stop_helper(waiter)?;
    env.free(wake)?;
    env.free(back)?;
    summary
}

/// Retypes one endpoint from a 4 KiB untyped region of its own into an empty slot. Each
/// iteration deletes it again, outside the timed region; the endpoint was the region's
/// only child, so the region's watermark goes back to its base and every iteration
/// carves the same 16 bytes.
fn retype_endpoint(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    let region: Cap<Untyped> = env.retype(None, ObjectKind::Untyped, 12)?;
    let slot = env.slot()?;
    let message = invocation::retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, slot, 1);
    let info = message.info().to_word();
    let summary = bench.time_then(
        || {
            // SAFETY: a retype reads no user memory; words 4 and 5 go to the root task's
            // IPC buffer, whose address the boot information gave and which nothing else
            // uses during the call.
            success(unsafe { syscall::call(region.cptr().0, info, message.words()) })
        },
        || {
            ROOT.delete(Slot::root(slot)).map_err(|error| {
                Unexpected::Setup(SetupError { step: "delete the endpoint", error })
            })
        },
    );
    env.free(Cap::<Endpoint>::from_slot(slot))?;
    env.free(region)?;
    summary
}

/// Maps one 4 KiB frame read-write into the root VSpace at a fixed address and unmaps it
/// (two invocations). The page tables above it were installed before, once.
fn map_unmap_frame(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    let frame: Cap<Frame> = env.retype(None, ObjectKind::Frame4K, 0)?;
    env.map_with_tables(frame, MAP_ADDRESS)?;
    crate::env::setup(frame.unmap(), "unmap the frame")?;
    let rights = Rights::READ | Rights::WRITE;
    let map = invocation::frame_map(ROOT_VSPACE.cptr(), MAP_ADDRESS, rights, FrameAttributes::NONE);
    let unmap = invocation::bare(Invocation::FrameUnmap);
    let (map_info, unmap_info) = (map.info().to_word(), unmap.info().to_word());
    let cptr = frame.cptr().0;
    let summary = bench.time(
        || {
            // SAFETY: both messages fit in registers: the stub writes no memory, and
            // mapping and unmapping read no user memory.
            let mapped = unsafe { syscall::call(cptr, map_info, map.words()) };
            // SAFETY: as above.
            (mapped, unsafe { syscall::call(cptr, unmap_info, unmap.words()) })
        },
        |(mapped, unmapped)| {
            success(mapped)?;
            success(unmapped)
        },
    );
    env.free(frame)?;
    summary
}
