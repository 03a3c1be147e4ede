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
//! work plus the stub, not libasi's message building. The memsrv benchmarks time what a
//! client pays: `libasi::memsrv`'s calls, message encoding and decoding included.
//!
//! After the benchmarks come the counts ([`COUNTS`]): workloads that are not timed but
//! counted, each printing one `BENCHCOUNT <name> <key>=<n>...` line.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use libasi::cap::{
    AsiControl, CNodeAt, Cap, Endpoint, Frame, FrameAttributes, Invocation, Notification,
    ObjectKind, Rights, Sensitivity, Slot, Untyped, invocation,
};
use libasi::ipc::IpcBuffer;
use libasi::memsrv::FramePool;
use libasi::message::Message;
use libasi::syscall::{self, IpcReturn, RawReturn, syscall0, syscall2};
use memsrv_api::{Handle, ORDER_4K};
use syscall_abi::Syscall;
use syscall_abi::counters::Counter;
use syscall_abi::invocation::sensitivity;
use syscall_abi::ipc::{REGISTER_WORDS, ipc_buffer};

use crate::env::{
    ASI_BUFFER_ADDRESS, Env, MAP_ADDRESS, PAGEBLOCK_BITS, ROOT, ROOT_VSPACE, SetupError,
    SpawnFailure, setup,
};
use crate::measure::{Bench, Summary};
use crate::tsc;
use crate::workload::{self, Op, Packer, Workload};

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
    Benchmark { name: "asi_counters_read_nonsensitive_buffer", run: counters_nonsensitive_buffer },
    Benchmark { name: "asi_exit_reentry", run: asi_exit_reentry },
    Benchmark { name: "flip_pageblock_to_sensitive", run: flip_pageblock_to_sensitive },
    Benchmark { name: "flip_pageblock_to_nonsensitive", run: flip_pageblock_to_nonsensitive },
    Benchmark { name: "memsrv_alloc_free_4k_nonsensitive", run: memsrv_alloc_free_nonsensitive },
    Benchmark { name: "memsrv_alloc_free_4k_sensitive", run: memsrv_alloc_free_sensitive },
    Benchmark { name: "memsrv_kept_alloc_free_4k_nonsensitive", run: kept_alloc_free_nonsensitive },
    Benchmark { name: "memsrv_kept_alloc_free_4k_sensitive", run: kept_alloc_free_sensitive },
];

/// A named count: a workload whose outcome is counted, not timed.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// The name in its `BENCHCOUNT` line: no spaces.
    pub name: &'static str,
    /// Runs it and says what it counted.
    pub run: fn(&mut Env) -> Result<Tally, Unexpected>,
}

/// Every count, in the order they run and print (after every benchmark).
pub const COUNTS: &[Count] = &[Count { name: "memsrv_mixed_flips", run: memsrv_mixed_flips }];

/// What a count found: named numbers, printed as ` <name>=<n>` each.
#[derive(Clone, Copy, Debug)]
pub struct Tally(pub [(&'static str, u64); 5]);

/// The fields of a `BENCHCOUNT <name> ...` line, after the name.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, value)) in self.0.iter().enumerate() {
            let gap = if index == 0 { "" } else { " " };
            write!(f, "{gap}{name}={value}")?;
        }
        Ok(())
    }
}

/// Something other than what the benchmark is meant to measure happened.
#[derive(Clone, Copy, Debug)]
pub enum Unexpected {
    /// A timed call returned the wrong status.
    Status { want: &'static str, got: RawReturn },
    /// Preparing (or tidying up after) the benchmark failed.
    Setup(SetupError),
    /// The peer process of a cross-address-space benchmark (or memsrv) could not be
    /// started.
    Spawn(SpawnFailure),
    /// memsrv refused a request, or the call to it failed.
    Memsrv(libasi::memsrv::Error),
    /// A count's workload cannot run as built; what is wrong.
    Workload(&'static str),
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
            Self::Memsrv(error) => write!(f, "memsrv: {error:?}"),
            Self::Workload(problem) => write!(f, "{problem}"),
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
    setup(frame.unmap(), "unmap the frame")?;
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

/// The ASI control capability, for the sensitivity benchmarks.
const ASI: Cap<AsiControl> = Cap::<AsiControl>::BOOT;

/// Times `AsiControlCounters` for CPU 0 through the raw stub: a register-only request
/// whose reply has one word per counter (12), 4 in registers and 8 written by the kernel
/// into the root task's IPC buffer, at the buffer frame's address in the physical window.
fn read_counters_raw(bench: &mut Bench<'_>) -> Result<Summary, Unexpected> {
    let message = invocation::one_word(Invocation::AsiControlCounters, 0);
    let info = message.info().to_word();
    bench.time(
        || {
            // SAFETY: the request fits in registers, so the stub writes no memory; the
            // reply's words go into the root task's registered IPC buffer, which no Rust
            // reference points into.
            unsafe { syscall::call(ASI.cptr().0, info, message.words()) }
        },
        success,
    )
}

/// The counters' read into the root task's own IPC buffer (nonsensitive, from the boot):
/// what `asi_exit_reentry` costs without the exit.
fn counters_nonsensitive_buffer(bench: &mut Bench<'_>, _: &mut Env) -> Result<Summary, Unexpected> {
    read_counters_raw(bench)
}

/// Gives the root task's own thread the IPC buffer at `address` in `frame`, keeping its
/// CSpace and VSpace; the request's words past the registers go through `current`, the
/// buffer the thread has now.
fn set_root_buffer(address: u64, frame: Cap<Frame>, current: IpcBuffer) -> Result<(), SetupError> {
    let config = libasi::cap::TcbConfig::new(ROOT, ROOT_VSPACE).ipc_buffer(address, frame.cptr());
    let request = invocation::tcb_configure(&config);
    let thread = crate::env::ROOT_TCB.cast::<Endpoint>();
    setup(thread.call(current, &request), "configure the root task's IPC buffer").map(drop)
}

/// As `asi_counters_read_nonsensitive_buffer`, with the root task's IPC buffer moved to a
/// frame of a sensitive pageblock (carved from the pool and made sensitive): the kernel
/// writes the reply's 8 words past the registers through the physical window, which with
/// `asi=on` lacks that pageblock, so each call exits ASI once (a page fault, CR3 to the
/// unrestricted tables) and re-enters it once on the way back to user mode (CR3 back, L1D
/// flush). The event counters are read through that buffer too while it is in use; after
/// the benchmark the boot buffer is restored, and the pageblock emptied and made
/// nonsensitive again.
fn asi_exit_reentry(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    let boot_buffer = env.buffer;
    let boot_address = boot_buffer.address().unwrap_or(0);
    let block: Cap<Untyped> = env.retype(None, ObjectKind::Untyped, PAGEBLOCK_BITS)?;
    setup(ASI.set_sensitivity(block, Sensitivity::Sensitive), "make a pageblock sensitive")?;
    let frame: Cap<Frame> = env.retype(Some(block), ObjectKind::Frame4K, 0)?;
    env.map_with_tables(frame, ASI_BUFFER_ADDRESS)?;
    // SAFETY: the frame is mapped read-write at ASI_BUFFER_ADDRESS (just above), no Rust
    // reference points into it, and it is the root task's buffer while this handle is used.
    let buffer = unsafe { IpcBuffer::new(ASI_BUFFER_ADDRESS) }.ok_or(SetupError {
        step: "use the sensitive frame as an IPC buffer",
        error: libasi::Error::InvalidArgument { word: 0 },
    })?;
    set_root_buffer(ASI_BUFFER_ADDRESS, frame, boot_buffer)?;
    bench.use_buffer(buffer);
    let summary = read_counters_raw(bench);
    bench.use_buffer(boot_buffer);
    set_root_buffer(boot_address, Cap::<Frame>::ROOT_IPC_BUFFER, buffer)?;
    setup(frame.unmap(), "unmap the sensitive frame")?;
    env.free(frame)?;
    setup(
        ASI.set_sensitivity(block, Sensitivity::Nonsensitive),
        "make the pageblock nonsensitive",
    )?;
    env.free(block)?;
    summary
}

/// Times one `AsiControlSetSensitivity` of a 2 MiB untyped region (one pageblock, carved
/// from the pool, nothing carved from it) to `to`; the change back to `from` follows each
/// iteration, neither timed nor counted. The pageblock is left nonsensitive, as the pool.
fn flip_pageblock(
    bench: &mut Bench<'_>,
    env: &mut Env,
    from: Sensitivity,
    to: Sensitivity,
) -> Result<Summary, Unexpected> {
    let block: Cap<Untyped> = env.retype(None, ObjectKind::Untyped, PAGEBLOCK_BITS)?;
    setup(ASI.set_sensitivity(block, from), "give the pageblock its first sensitivity")?;
    let flip = |sensitivity: Sensitivity| {
        Message::new(Invocation::AsiControlSetSensitivity.label()).push(block.cptr().0).push(
            match sensitivity {
                Sensitivity::Sensitive => sensitivity::SENSITIVE,
                Sensitivity::Nonsensitive => sensitivity::NONSENSITIVE,
            },
        )
    };
    let (forth, back) = (flip(to), flip(from));
    let (forth_info, back_info) = (forth.info().to_word(), back.info().to_word());
    let asi = ASI.cptr().0;
    let summary = bench.time_then_uncounted(
        || {
            // SAFETY: the request fits in registers: the stub writes no memory, and a
            // change of sensitivity reads no user memory.
            success(unsafe { syscall::call(asi, forth_info, forth.words()) })
        },
        || {
            // SAFETY: as above.
            success(unsafe { syscall::call(asi, back_info, back.words()) })
        },
    );
    if from == Sensitivity::Sensitive {
        setup(ASI.set_sensitivity(block, Sensitivity::Nonsensitive), "leave it nonsensitive")?;
    }
    env.free(block)?;
    summary
}

/// A pageblock becoming sensitive: its restricted-view entry cleared and flushed (one TLB
/// shootdown). Undone, untimed and uncounted, after each iteration.
fn flip_pageblock_to_sensitive(
    bench: &mut Bench<'_>,
    env: &mut Env,
) -> Result<Summary, Unexpected> {
    flip_pageblock(bench, env, Sensitivity::Nonsensitive, Sensitivity::Sensitive)
}

/// A pageblock becoming nonsensitive: its 512 pages zeroed through the physical window
/// (with `asi=on` an ASI exit, the block still being sensitive), then its restricted-view
/// entry written. Undone, untimed and uncounted, after each iteration.
fn flip_pageblock_to_nonsensitive(
    bench: &mut Bench<'_>,
    env: &mut Env,
) -> Result<Summary, Unexpected> {
    flip_pageblock(bench, env, Sensitivity::Sensitive, Sensitivity::Nonsensitive)
}

/// One 4 KiB frame of `sensitivity` from memsrv and back, through `libasi::memsrv`: an
/// `alloc_frame` (a Call carrying the request, memsrv retyping the frame from its buddy
/// tree into its CNode and replying with the capability into the root task's slot) and a
/// `free` (a Call; memsrv revokes the frame, so the root task's copy goes too, and prunes
/// the tree). memsrv is started on first use, with two pageblocks of each sensitivity: no
/// flip. The receive slot is the same in every iteration (the free empties it); choosing
/// it is setup, outside the timed region.
fn memsrv_alloc_free(
    bench: &mut Bench<'_>,
    env: &mut Env,
    sensitivity: Sensitivity,
) -> Result<Summary, Unexpected> {
    let client = env.memsrv()?;
    let slot = env.slot()?;
    let summary = bench.time(
        || {
            client
                .alloc_frame(ORDER_4K, sensitivity, slot)
                .and_then(|frame| client.free(frame.handle))
        },
        |outcome| outcome.map_err(Unexpected::Memsrv),
    );
    env.release_slot(slot);
    summary
}

/// A nonsensitive 4 KiB frame from memsrv and back.
fn memsrv_alloc_free_nonsensitive(
    bench: &mut Bench<'_>,
    env: &mut Env,
) -> Result<Summary, Unexpected> {
    memsrv_alloc_free(bench, env, Sensitivity::Nonsensitive)
}

/// A sensitive 4 KiB frame from memsrv and back: the kernel zeroes the new frame, which
/// with `asi=on` it cannot reach from its restricted view.
fn memsrv_alloc_free_sensitive(
    bench: &mut Bench<'_>,
    env: &mut Env,
) -> Result<Summary, Unexpected> {
    memsrv_alloc_free(bench, env, Sensitivity::Sensitive)
}

/// One 4 KiB frame of `sensitivity` from memsrv and back through a `libasi::memsrv::FramePool`:
/// an `alloc` (a Call; memsrv gives back the frame the last iteration's free left kept, so
/// no capability moves) and a `free` (a Call; memsrv keeps the frame for the next one). Two
/// register-only round trips on the kernel's fastpath and nothing else in the kernel. The
/// first (warm-up) iteration makes the frame; after the run memsrv takes it back, untimed.
fn kept_alloc_free(
    bench: &mut Bench<'_>,
    env: &mut Env,
    sensitivity: Sensitivity,
) -> Result<Summary, Unexpected> {
    let client = env.memsrv()?;
    // One slot for the frame, one the pool keeps empty for a new one.
    let slots = env.slot_range(2)?;
    let mut pool = FramePool::new(client, slots);
    let summary = bench.time(
        || pool.alloc(sensitivity).and_then(|frame| pool.free(frame)),
        |outcome| outcome.map_err(Unexpected::Memsrv),
    );
    pool.release_kept().map_err(Unexpected::Memsrv)?;
    (slots.start..slots.end).for_each(|slot| env.release_slot(slot));
    summary
}

/// A nonsensitive 4 KiB frame kept for its client, reused and kept again.
fn kept_alloc_free_nonsensitive(
    bench: &mut Bench<'_>,
    env: &mut Env,
) -> Result<Summary, Unexpected> {
    kept_alloc_free(bench, env, Sensitivity::Nonsensitive)
}

/// A sensitive 4 KiB frame kept for its client, reused and kept again: no zeroing, so no
/// ASI exit, since its memory goes to no other client.
fn kept_alloc_free_sensitive(bench: &mut Bench<'_>, env: &mut Env) -> Result<Summary, Unexpected> {
    kept_alloc_free(bench, env, Sensitivity::Sensitive)
}

/// Every frame the mixed workload holds at once, by set: the handles memsrv gave and the
/// root slots the frames are in. Statics, as the helpers' stacks are: the samples already
/// take most of the 64 KiB stack.
const LIVE: usize = workload::CAPACITY[0] + workload::CAPACITY[1] + workload::CAPACITY[2];
static HANDLES: [AtomicU64; LIVE] = [const { AtomicU64::new(0) }; LIVE];
static SLOTS: [AtomicU64; LIVE] = [const { AtomicU64::new(0) }; LIVE];

/// Where set `pool`'s entries start in [`HANDLES`] and [`SLOTS`].
const fn offset(pool: usize) -> usize {
    let mut at = 0;
    let mut before = 0;
    while before < pool {
        at += workload::CAPACITY[before];
        before += 1;
    }
    at
}

/// Flips on a mixed workload (see [`workload`]): exactly [`workload::ALLOCATIONS`] 4 KiB
/// allocations of both sensitivities through memsrv, with frees interleaved, against the
/// flips a perfect packer would be forced to make by the same sequence from memsrv's
/// pageblocks as they are when it starts ([`Packer`]). memsrv's flips are counted twice:
/// its own `Stats.flips` and the kernel's flip counter (CPU 0; nothing else flips while the
/// workload runs), each as the difference over the workload.
fn memsrv_mixed_flips(env: &mut Env) -> Result<Tally, Unexpected> {
    let client = env.memsrv()?;
    let before = client.stats().map_err(Unexpected::Memsrv)?;
    let pageblocks = before.pageblocks[0] + before.pageblocks[1];
    if before.free_bytes[0] + before.free_bytes[1] != pageblocks << PAGEBLOCK_BITS {
        return Err(Unexpected::Workload("memsrv holds memory before the workload"));
    }
    let counters = |env: &Env| {
        setup(ASI.counters(env.buffer, 0), "read the event counters").map_err(Unexpected::Setup)
    };
    let kernel_before = counters(env)?;
    let mut packer = Packer::new(before.pageblocks);
    let mut lens = [0; workload::POOLS];
    let (mut allocations, mut sensitive) = (0, 0);
    for op in Workload::new() {
        packer
            .step(op)
            .map_err(|_| Unexpected::Workload("the workload needs more pages than memsrv has"))?;
        match op {
            Op::Alloc { pool, sensitivity } => {
                if lens[pool] == workload::CAPACITY[pool] {
                    return Err(Unexpected::Workload("a set of the workload overflows"));
                }
                let slot = env.slot()?;
                let frame =
                    client.alloc_frame(ORDER_4K, sensitivity, slot).map_err(Unexpected::Memsrv)?;
                let at = offset(pool) + lens[pool];
                HANDLES[at].store(frame.handle.0, Ordering::Relaxed);
                SLOTS[at].store(slot, Ordering::Relaxed);
                lens[pool] += 1;
                allocations += 1;
                sensitive += u64::from(sensitivity == Sensitivity::Sensitive);
            }
            Op::Free { pool, index, .. } => {
                if index >= lens[pool] {
                    return Err(Unexpected::Workload("the workload frees a frame it lacks"));
                }
                let (at, last) = (offset(pool) + index, offset(pool) + lens[pool] - 1);
                let handle = HANDLES[at].load(Ordering::Relaxed);
                let slot = SLOTS[at].load(Ordering::Relaxed);
                HANDLES[at].store(HANDLES[last].load(Ordering::Relaxed), Ordering::Relaxed);
                SLOTS[at].store(SLOTS[last].load(Ordering::Relaxed), Ordering::Relaxed);
                lens[pool] -= 1;
                client.free(Handle(handle)).map_err(Unexpected::Memsrv)?;
                env.release_slot(slot);
            }
        }
    }
    let kernel = counters(env)?.since(&kernel_before);
    let after = client.stats().map_err(Unexpected::Memsrv)?;
    Ok(Tally([
        ("allocations", allocations),
        ("sensitive", sensitive),
        ("flips", after.flips - before.flips),
        ("kernel_flips", kernel.get(Counter::Flips)),
        ("forced", packer.forced),
    ]))
}
