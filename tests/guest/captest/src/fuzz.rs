//! The fuzz thread of `cap::fuzz::*`: system calls with random numbers, capability
//! pointers, headers and words, from a seed, against the capabilities of a CSpace of its
//! own. What it did goes into statics the root task reads (it shares the address space),
//! so it needs no capability to report and may delete or revoke every one it holds.
//!
//! A partner thread ([`partner`]) waits on the thread's endpoint in a CSpace of its own,
//! so that sends the fuzz thread makes there deliver messages and capabilities into
//! receive slots the partner picks at random (and clears now and then).
//!
//! The fuzz thread never asks to block: before a call that could wait (a `Call`, `Send`, `Receive` or
//! `ReplyReceive`) it identifies the capability, and an endpoint or notification gets the
//! non-blocking `Send` or `Receive` instead. Nothing it does writes the root task's memory:
//! its IPC buffer (at [`BUFFER`]; the words of long messages, capabilities to send and the
//! receive slot, all random) is its own, and a boot-information call gets either its own
//! sink or an address the kernel must refuse.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use case_report::Rng;

use libasi::cap::{CPtr, CapKind};
use libasi::syscall::{ipc, syscall0, syscall2, write_word};
use syscall_abi::Syscall;
use syscall_abi::invocation::{Invocation, ObjectKind};
use syscall_abi::ipc::{MAX_CAPS, MessageInfo, REGISTER_WORDS, ipc_buffer};

/// Where the fuzz thread's IPC buffer is mapped: a part of the user half nothing else
/// uses.
pub const BUFFER: u64 = 0x0000_4000_0020_0000;
/// The partner's IPC buffer, in the page after the fuzz thread's.
pub const PARTNER_BUFFER: u64 = BUFFER + 0x1000;
/// The partner's CSpace: the endpoint, and an unguarded capability to the CSpace itself,
/// a CNode of radix [`PARTNER_RADIX`]; the slots after them receive capabilities.
pub const PARTNER_ENDPOINT: u64 = 1;
pub const PARTNER_CNODE: u64 = 2;
pub const PARTNER_RADIX: u8 = 6;
const PARTNER_FIRST_FREE: u64 = 3;
/// Messages the partner received, and capabilities that came with them.
pub static RECEIVED: AtomicU64 = AtomicU64::new(0);
pub static RECEIVED_CAPS: AtomicU64 = AtomicU64::new(0);

/// Where the thread's capabilities are when it starts: its memory, its CSpace root, a
/// spare address space, an endpoint, a notification, a frame, the ASI control capability
/// and a thread that never runs but may hand out any priority (so that threads the fuzz
/// thread makes can run beside it). Everything it makes goes where it says, mostly into
/// the slots after these.
pub const HOLDINGS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const MEMORY: u64 = HOLDINGS[0];
const ROOT: u64 = HOLDINGS[1];
const VSPACE: u64 = HOLDINGS[2];
const NOTIFICATION: u64 = HOLDINGS[4];
const FRAME: u64 = HOLDINGS[5];
const ASI: u64 = HOLDINGS[6];
const AUTHORITY: u64 = HOLDINGS[7];

/// Slots of the fuzz thread's CSpace root, a CNode of radix [`RADIX`].
pub const SLOTS: u64 = 1 << RADIX;
pub const RADIX: u8 = 6;

/// Calls made so far.
pub static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// Set once the last call returned.
pub static DONE: AtomicBool = AtomicBool::new(false);
/// Set from before the thread looks at a capability to decide whether a call could wait
/// until that call returns: the root task must not put an endpoint or notification back
/// into a slot the thread just saw empty.
pub static IN_CALL: AtomicBool = AtomicBool::new(false);
/// The call in progress, for a report if it never returns: number, pointer, header and
/// the four register words.
pub static LAST: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
/// Calls by the status the kernel returned: 0 for success, an error code, or
/// [`OTHER_STATUS`] for anything larger.
pub static STATUSES: [AtomicU64; OTHER_STATUS + 1] =
    [const { AtomicU64::new(0) }; OTHER_STATUS + 1];
pub const OTHER_STATUS: usize = 31;
/// Successful invocations by label, for the labels below [`LABELS`].
pub static SUCCESSES: [AtomicU64; LABELS] = [const { AtomicU64::new(0) }; LABELS];
pub const LABELS: usize = 64;

/// Where boot-information calls may write: the thread's own, never read.
static SINK: Sink = Sink([const { AtomicU64::new(0) }; SINK_WORDS]);
const SINK_WORDS: usize = 1024;
#[repr(C, align(4096))]
struct Sink([AtomicU64; SINK_WORDS]);

/// What an argument word of an invocation is, for [`Choices::argument`].
#[derive(Clone, Copy)]
enum Arg {
    /// A capability pointer, resolved in the thread's CSpace.
    Ptr,
    /// A pointer that mostly names the capability of that slot (a CNode, an address
    /// space, a notification, untyped memory).
    Usually(u64),
    /// A slot index in a CNode of the thread's.
    Index,
    /// A depth to resolve an index at.
    Depth,
    /// An object kind.
    Kind,
    /// Size bits.
    Bits,
    /// A count, a CPU, a priority, a flag: a small number.
    Small,
    /// A user address, page- or table-aligned, in the part of the user half the thread
    /// maps its frames and tables into (in its spare address space).
    Address,
    /// Rights or cap data.
    Bits64,
    /// A reserved word, or an optional one: 0.
    Zero,
    /// A priority: mostly the fuzz thread's own, the highest, so that a thread given it
    /// runs beside it.
    Priority,
}

/// The words each invocation reads, in order, so that most invocations get words of the
/// right sort (and then of random value within it).
fn arguments(label: u64) -> &'static [Arg] {
    use Arg::*;
    use Invocation as I;
    match Invocation::from_label(label) {
        Some(I::UntypedRetype) => &[Kind, Bits, Usually(ROOT), Depth, Index, Small],
        Some(I::CNodeCopy) => &[Index, Depth, Usually(ROOT), Index, Depth, Bits64],
        Some(I::CNodeMint | I::CNodeMutate) => {
            &[Index, Depth, Usually(ROOT), Index, Depth, Bits64, Bits64]
        }
        Some(I::CNodeMove) => &[Index, Depth, Usually(ROOT), Index, Depth],
        Some(I::CNodeDelete | I::CNodeRevoke) => &[Index, Depth],
        Some(I::TcbConfigure) => &[Ptr, Usually(ROOT), Zero, Usually(VSPACE), Zero, Zero, Zero],
        Some(I::TcbWriteRegisters) => &[Small, Small, Address, Address, Bits64, Bits64, Bits64],
        Some(I::TcbSetPriority | I::TcbSetMaxControlledPriority) => &[Usually(AUTHORITY), Priority],
        Some(I::TcbBindNotification) => &[Usually(NOTIFICATION)],
        Some(I::FrameMap) => &[Usually(VSPACE), Address, Bits64, Small],
        Some(I::PageTableMap) => &[Usually(VSPACE), Address],
        Some(I::AsiControlSetSensitivity) => &[Usually(MEMORY), Small],
        Some(I::AsiControlRestrictedEntry) => &[Address],
        _ => &[Small, Small],
    }
}

/// The capability the thread started with that `label` applies to (untyped memory for a
/// retype, its CSpace root for a CNode operation, ...), if it has one.
fn holder(label: u64) -> Option<u64> {
    use Invocation as I;
    match Invocation::from_label(label)? {
        I::UntypedRetype | I::UntypedDescribe => Some(MEMORY),
        I::CNodeCopy
        | I::CNodeMint
        | I::CNodeMove
        | I::CNodeMutate
        | I::CNodeDelete
        | I::CNodeRevoke => Some(ROOT),
        I::FrameMap | I::FrameUnmap | I::FrameGetAddress | I::FrameGetSensitivity => Some(FRAME),
        I::AsiControlCounters
        | I::AsiControlSetSensitivity
        | I::AsiControlVerify
        | I::AsiControlRestrictedEntry => Some(ASI),
        _ => None,
    }
}

/// The fuzz thread's choices, from [`Rng`].
struct Choices(Rng);

impl Choices {
    fn word(&mut self) -> u64 {
        self.0.word()
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0.below(bound)
    }

    fn one_in(&mut self, count: u64) -> bool {
        self.0.one_in(count)
    }

    /// A capability pointer: mostly one of the first slots of the thread's CNode (where
    /// its capabilities start, and where it puts most of what it makes), sometimes any of
    /// its slots, any slot number a CNode could have, or any word (which the guard
    /// refuses).
    fn cptr(&mut self) -> u64 {
        match self.below(10) {
            0..=5 => self.below(16),
            6 | 7 => self.below(SLOTS),
            8 => self.below(1 << 12),
            _ => self.word(),
        }
    }

    /// The capability to invoke with `label`: half the time its [`holder`], otherwise any
    /// [`cptr`](Self::cptr).
    fn target(&mut self, label: u64) -> u64 {
        match holder(label) {
            Some(slot) if self.one_in(2) => slot,
            _ => self.cptr(),
        }
    }

    /// An argument of sort `arg`; one in ten is any word instead.
    fn argument(&mut self, arg: Arg) -> u64 {
        if self.one_in(10) {
            return self.word();
        }
        match arg {
            Arg::Ptr => self.cptr(),
            Arg::Usually(slot) => {
                if self.one_in(2) {
                    slot
                } else {
                    self.cptr()
                }
            }
            Arg::Index => {
                let bound = if self.one_in(4) { SLOTS } else { 16 };
                self.below(bound)
            }
            Arg::Depth => [64, 64, 64, 64, 64, u64::from(RADIX), 0, 65][self.below(8) as usize],
            Arg::Kind => self.below(12),
            Arg::Bits => self.below(24),
            Arg::Small => {
                let bound = if self.one_in(4) { 256 } else { 4 };
                self.below(bound)
            }
            Arg::Address => {
                let shift = 12 + 9 * self.below(2);
                0x10_0000_0000 + (self.below(1 << 10) << shift)
            }
            Arg::Zero => 0,
            Arg::Priority => {
                if self.one_in(2) {
                    u64::from(u8::MAX)
                } else {
                    self.below(256)
                }
            }
            Arg::Bits64 => match self.below(3) {
                0 => 0,
                1 => self.below(1 << 8),
                _ => self.word(),
            },
        }
    }

    /// An object kind and a size that suits it: a fixed-size object, an untyped region
    /// of 16 bytes to 64 KiB, or a CNode of 2 to 16 slots.
    fn object(&mut self) -> (u64, u64) {
        match self.below(4) {
            0 => (ObjectKind::Untyped as u64, 4 + self.below(13)),
            1 => (ObjectKind::CNode as u64, 1 + self.below(4)),
            _ => (1 + self.below(10), 0),
        }
    }

    /// A header and the words it promises: mostly an invocation's label with words of
    /// the sorts it reads; sometimes any label, a length that is off, capabilities to
    /// send, or a header that is any word.
    fn message(&mut self) -> (u64, [u64; MESSAGE_WORDS]) {
        let label = match self.below(10) {
            0 => self.below(1 << 16),
            // Retypes a fifth of the time, so that there are objects to work on.
            1 | 2 => Invocation::UntypedRetype as u64,
            _ => Invocation::ALL[self.below(Invocation::ALL.len() as u64) as usize] as u64,
        };
        let sorts = arguments(label);
        let mut words = [0; MESSAGE_WORDS];
        for (word, &sort) in words.iter_mut().zip(sorts) {
            *word = self.argument(sort);
        }
        if label == Invocation::UntypedRetype as u64 && !self.one_in(5) {
            // Mostly an object of a size its kind allows, one at a time.
            (words[0], words[1]) = self.object();
            words[5] = 1;
        }
        let length =
            if self.one_in(8) { self.below(MESSAGE_WORDS as u64 + 1) } else { sorts.len() as u64 };
        let caps = if self.one_in(10) { self.below(MAX_CAPS as u64 + 1) } else { 0 };
        let header = MessageInfo { label, length: length as u8, caps: caps as u8, unwrapped: 0 };
        let info = if self.one_in(20) { self.word() } else { header.to_word() };
        (info, words)
    }
}

/// The label a header carries (whatever its other bits).
fn label_of(info: u64) -> u64 {
    MessageInfo::from_word(info).map_or(u64::MAX, |header| header.label)
}

/// The longest message the thread sends.
const MESSAGE_WORDS: usize = 8;

/// The fuzz thread: `calls` system calls from `seed`, then it ends.
pub extern "C" fn main(seed: u64, calls: u64) -> ! {
    let mut rng = Choices(Rng::new(seed));
    for call in 0..calls {
        one_call(&mut rng);
        PROGRESS.store(call + 1, Ordering::SeqCst);
    }
    DONE.store(true, Ordering::SeqCst);
    libasi::thread::exit(0)
}

fn one_call(rng: &mut Choices) {
    let (info, message) = rng.message();
    let cptr = rng.target(label_of(info));
    let number = match rng.below(100) {
        0..=64 => Syscall::Call,
        65..=72 => Syscall::DebugCapIdentify,
        73..=77 => Syscall::NonBlockingSend,
        78..=82 => Syscall::NonBlockingReceive,
        83..=85 => Syscall::Send,
        86..=88 => Syscall::Receive,
        89..=90 => Syscall::ReplyReceive,
        91..=92 => Syscall::Reply,
        93..=94 => Syscall::Yield,
        95 => Syscall::Null,
        96 | 97 => return boot_information(rng),
        _ => return unknown_number(rng),
    };
    let number = never_blocking(number, cptr);
    fill_buffer(rng, &message);
    let words = [message[0], message[1], message[2], message[3]];
    for (last, value) in
        LAST.iter().zip([number.number(), cptr, info, words[0], words[1], words[2], words[3]])
    {
        last.store(value, Ordering::SeqCst);
    }
    // SAFETY: the kernel writes no memory of this thread's but its IPC buffer, which no
    // reference points into.
    let ret = unsafe { ipc(number.number(), cptr, info, words) };
    IN_CALL.store(false, Ordering::SeqCst);
    count(ret.status, (number == Syscall::Call).then_some(label_of(info)));
}

/// The message's words beyond the registers (all of them, whatever the header says),
/// and now and then the capabilities to send and the receive slot, random.
fn fill_buffer(rng: &mut Choices, message: &[u64; MESSAGE_WORDS]) {
    for (index, &word) in message.iter().enumerate().skip(REGISTER_WORDS) {
        put(ipc_buffer::MESSAGE + index, word);
    }
    if rng.one_in(4) {
        let caps = (0..MAX_CAPS).map(|index| ipc_buffer::CAPS_OR_BADGES + index);
        let receive =
            [ipc_buffer::RECEIVE_CNODE, ipc_buffer::RECEIVE_INDEX, ipc_buffer::RECEIVE_DEPTH];
        for offset in caps.chain(receive) {
            let word = if rng.one_in(2) { rng.cptr() } else { rng.argument(Arg::Index) };
            put(offset, word);
        }
    }
}

fn put(offset: usize, word: u64) {
    put_at(BUFFER, offset, word);
}

/// Writes word `offset` of the IPC buffer at `buffer`: [`BUFFER`] or [`PARTNER_BUFFER`],
/// each its thread's own.
fn put_at(buffer: u64, offset: usize, word: u64) {
    // SAFETY: both IPC buffers are mapped read-write, each written only by its own
    // thread, nothing holds a reference into them, and `offset` is below
    // `ipc_buffer::WORDS`.
    unsafe { write_word(buffer + offset as u64 * 8, word) };
}

/// The partner thread: waits on the endpoint for ever, each time with a receive slot
/// chosen from `seed` (now and then one that does not resolve), and every eighth message
/// deletes one of its receive slots so that capabilities keep arriving.
pub extern "C" fn partner(seed: u64, _: u64) -> ! {
    let mut rng = Choices(Rng::new(seed));
    let receive_slots = (1 << PARTNER_RADIX) - PARTNER_FIRST_FREE;
    loop {
        let (cnode, depth) = if rng.one_in(16) {
            (rng.cptr(), rng.argument(Arg::Depth))
        } else {
            (PARTNER_CNODE, u64::from(PARTNER_RADIX))
        };
        put_at(PARTNER_BUFFER, ipc_buffer::RECEIVE_CNODE, cnode);
        put_at(
            PARTNER_BUFFER,
            ipc_buffer::RECEIVE_INDEX,
            PARTNER_FIRST_FREE + rng.below(receive_slots),
        );
        put_at(PARTNER_BUFFER, ipc_buffer::RECEIVE_DEPTH, depth);
        // SAFETY: the kernel writes no memory of this thread's but its IPC buffer, which
        // no reference points into.
        let ret =
            unsafe { ipc(Syscall::Receive.number(), PARTNER_ENDPOINT, 0, [0; REGISTER_WORDS]) };
        if ret.status != 0 {
            // The endpoint is always there: this is not expected, and the root task's
            // count of messages shows it.
            libasi::ipc::yield_now();
            continue;
        }
        let received = RECEIVED.fetch_add(1, Ordering::SeqCst) + 1;
        let caps = MessageInfo::from_word(ret.info).map_or(0, |header| header.caps);
        RECEIVED_CAPS.fetch_add(u64::from(caps), Ordering::SeqCst);
        if received.is_multiple_of(8) {
            let slot = PARTNER_FIRST_FREE + rng.below(receive_slots);
            let words = [slot, u64::from(PARTNER_RADIX), 0, 0];
            let label = Invocation::CNodeDelete as u64;
            let info = MessageInfo { label, length: 2, caps: 0, unwrapped: 0 }.to_word();
            // SAFETY: as above.
            let _ = unsafe { ipc(Syscall::Call.number(), PARTNER_CNODE, info, words) };
        }
    }
}

/// `number`, or its non-blocking form if `cptr` names an endpoint or a notification,
/// where the call could wait forever.
fn never_blocking(number: Syscall, cptr: u64) -> Syscall {
    let waits =
        matches!(number, Syscall::Call | Syscall::Send | Syscall::Receive | Syscall::ReplyReceive);
    if !waits {
        return number;
    }
    IN_CALL.store(true, Ordering::SeqCst);
    match libasi::debug::cap_identify(CPtr(cptr)) {
        Ok(CapKind::Endpoint | CapKind::Notification) => match number {
            Syscall::Send | Syscall::Call => Syscall::NonBlockingSend,
            _ => Syscall::NonBlockingReceive,
        },
        _ => number,
    }
}

/// `BootArgs` or `BootInfo` into the sink, or to an address the kernel must refuse.
fn boot_information(rng: &mut Choices) {
    let number = if rng.below(2) == 0 { Syscall::BootArgs } else { Syscall::BootInfo };
    let (address, length) = match rng.below(4) {
        0 => (SINK.0.as_ptr() as u64, rng.below(SINK_WORDS as u64 * 8 + 1)),
        1 => (0xffff_8000_0000_0000 + (rng.below(1 << 20) << 12), rng.below(1 << 13)),
        2 => (rng.word() | 1 << 63, rng.word()),
        _ => (rng.below(0x800), rng.below(0x800) + 1),
    };
    LAST[0].store(number.number(), Ordering::SeqCst);
    LAST[1].store(address, Ordering::SeqCst);
    LAST[2].store(length, Ordering::SeqCst);
    // SAFETY: the address is the sink, which nothing reads and which is as long as any
    // length chosen for it, or in the kernel half, non-canonical or in the first page,
    // which is never mapped: the kernel writes nothing of ours.
    let ret = unsafe { syscall2(number.number(), address, length) };
    count(ret.status, None);
}

/// A number no system call has.
fn unknown_number(rng: &mut Choices) {
    let number = [0, 15, 99, 1 << 32, u64::MAX][rng.below(5) as usize];
    LAST[0].store(number, Ordering::SeqCst);
    // SAFETY: no system call has the number, so the kernel touches no memory.
    let ret = unsafe { syscall0(number) };
    count(ret.status, None);
}

fn count(status: u64, label: Option<u64>) {
    let index = usize::try_from(status).map_or(OTHER_STATUS, |status| status.min(OTHER_STATUS));
    STATUSES[index].fetch_add(1, Ordering::Relaxed);
    if status == 0
        && let Some(label) = label.and_then(|label| usize::try_from(label).ok())
        && let Some(successes) = SUCCESSES.get(label)
    {
        successes.fetch_add(1, Ordering::Relaxed);
    }
}
