//! What the test runner and the case processes it spawns say to each other, in one place
//! for both sides.
//!
//! A case process is one boot module (a case program) started for one case. It `Call`s
//! the runner on its granted endpoint ([`grants::RUNNER`], badged [`badge::CASE`]) with a
//! [`Request`], and the runner answers with an [`Order`]:
//!
//! 1. [`Request::Ready`] → [`Order::Run`]`{ index }`: which case to run.
//! 2. [`Request::Starting`]`{ name }` → [`Order::Go`]; or [`Request::NoSuchCase`] when the
//!    program has no case `index` (the runner has then run them all), never answered.
//! 3. [`Request::Verdict`], never answered: the runner prints the case's `TEST` line and
//!    destroys the process.
//!
//! A fault of the process's thread reaches the runner on the same endpoint with
//! [`badge::FAULT`] and ends the case as failed.
//!
//! The runner is the root task; its boot arguments `devices=<program>,...` name the case
//! programs that get the I/O port and IRQ control capabilities ([`gets_devices`]),
//! `asi-control=<program>,...` those that get the ASI control capability ([`gets_asi`]), and
//! `respawn=<count>` has it spawn and destroy each program that many times before its
//! cases, checking each time that nothing is left behind ([`respawn_count`]).
//!
//! Each message is postcard-encoded into at most [`MAX_BYTES`] bytes and carried as
//! message words with label [`LABEL`]: the byte count, then the bytes packed eight to a
//! word, little-endian. Names and failure texts are cut to [`MAX_NAME`] and
//! [`MAX_MESSAGE`] bytes, so that every message fits (checked at compile time).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use ipc_codec::varint_bytes;
pub use ipc_codec::{CodecError, MAX_BYTES, encode};
use serde::{Deserialize, Serialize};

/// The label of every protocol message.
pub const LABEL: u64 = 0x7e57;

/// Who is speaking to the runner: the badges on the endpoint capabilities it hands out.
pub mod badge {
    /// The case process's own calls.
    pub const CASE: u64 = 1;
    /// Its thread's faults (the badge of its fault endpoint capability).
    pub const FAULT: u64 = 2;
}

/// The capabilities a case process is handed, in granted-slot order
/// (`libasi::process::granted(i)`).
pub mod grants {
    /// The runner's endpoint, badged [`CASE`](crate::badge::CASE), send right only.
    pub const RUNNER: usize = 0;
    /// An untyped region of 2^[`MEMORY_BITS`](crate::MEMORY_BITS) bytes, carved from the
    /// process's own memory, for the case's objects.
    pub const MEMORY: usize = 1;
    /// A copy of the root task's I/O port control capability, granted only to programs
    /// the runner is told need devices. What the process issues from it lives in its
    /// CNode and is released when the process is destroyed.
    pub const IO_PORT_CONTROL: usize = 2;
    /// The IRQ control capability; as [`IO_PORT_CONTROL`].
    pub const IRQ_CONTROL: usize = 3;
    /// A copy of the root task's ASI control capability, granted only to programs the
    /// runner is told need it (slots 2 and 3 stay empty if they get no devices). With it
    /// a case can change the sensitivity of its own memory and read the kernel's event
    /// counters; the runner makes its pool nonsensitive again after every case.
    pub const ASI_CONTROL: usize = 4;
    /// The slot after the last grant is the first the process may fill.
    pub const COUNT: usize = 5;
}

/// The size of the granted region: 8 MiB, what the largest case needs (a 2 MiB frame
/// aligned to its size, after the environment's objects, and tables after it).
pub const MEMORY_BITS: u8 = 23;

/// The longest case name carried.
pub const MAX_NAME: usize = 100;
/// The longest failure text carried (what `case-report`'s `Failure` holds).
pub const MAX_MESSAGE: usize = 200;

/// What a case process asks or tells the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// The process has started and waits for its [`Order::Run`].
    Ready,
    /// The case it was told to run is `name`, and starts on [`Order::Go`].
    Starting { name: &'a str },
    /// The program has no case with the index it was given.
    NoSuchCase,
    /// How the case went.
    Verdict(Verdict<'a>),
}

/// How a case went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict<'a> {
    Pass,
    Fail { message: &'a str },
}

/// What the runner tells a case process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Run the program's case number `index` (counting from 0 over all its groups).
    Run { index: u16 },
    /// Start the case just named.
    Go,
}

/// The value of `key=<value>` in the runner's boot arguments `args`.
pub fn arg<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_whitespace().find_map(|arg| arg.strip_prefix(key)?.strip_prefix('='))
}

/// Whether the runner's boot arguments `args` give the program `program` the device
/// control capabilities: they hold `devices=<program>,<program>...`.
pub fn gets_devices(args: &str, program: &str) -> bool {
    listed(args, "devices", program)
}

/// Whether the runner's boot arguments `args` give the program `program` the ASI control
/// capability: they hold `asi-control=<program>,<program>...`.
pub fn gets_asi(args: &str, program: &str) -> bool {
    listed(args, "asi-control", program)
}

/// Whether `program` is in the comma-separated list of `key=` in `args`.
fn listed(args: &str, key: &str, program: &str) -> bool {
    arg(args, key).is_some_and(|list| list.split(',').any(|name| name == program))
}

/// How many times the runner's boot arguments `args` ask it to spawn and destroy each
/// program before its cases (`respawn=<count>`); 0 if they do not, or not as a number.
pub fn respawn_count(args: &str) -> u32 {
    arg(args, "respawn").and_then(|count| count.parse().ok()).unwrap_or(0)
}

/// The longest encoded request: two variant tags (one byte each for these few variants)
/// and the longest text with its length.
const MAX_REQUEST: usize = 2 + varint_bytes(MAX_MESSAGE as u64) + MAX_MESSAGE;
const _: () = assert!(MAX_REQUEST <= MAX_BYTES);
const _: () = assert!(2 + varint_bytes(MAX_NAME as u64) + MAX_NAME <= MAX_REQUEST);
/// The longest encoded order: a tag and a `u16` varint.
const MAX_ORDER: usize = 1 + varint_bytes(u16::MAX as u64);
const _: () = assert!(MAX_ORDER <= MAX_BYTES);

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl<'a> Request<'a> {
    /// [`Request::Starting`] with the name cut to [`MAX_NAME`].
    pub fn starting(name: &'a str) -> Self {
        Self::Starting { name: cut(name, MAX_NAME) }
    }

    /// [`Request::Verdict`] of a failure, its text cut to [`MAX_MESSAGE`].
    pub fn failed(message: &'a str) -> Self {
        Self::Verdict(Verdict::Fail { message: cut(message, MAX_MESSAGE) })
    }
}

/// Decodes a runner message of `label` and `words`, borrowing its text from `bytes`.
pub fn decode<'a, T: Deserialize<'a>>(
    label: u64,
    words: &[u64],
    bytes: &'a mut [u8; MAX_BYTES],
) -> Result<T, CodecError> {
    ipc_codec::decode(label, LABEL, words, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscall_abi::ipc::MAX_WORDS;

    fn round_trip<'a>(request: &Request<'_>, bytes: &'a mut [u8; MAX_BYTES]) -> Request<'a> {
        let mut words = [0; MAX_WORDS];
        let count = encode(request, &mut words).unwrap();
        decode(LABEL, &words[..count], bytes).unwrap()
    }

    #[test]
    fn requests_and_orders_round_trip() {
        let long = "é".repeat(MAX_MESSAGE);
        let requests = [
            Request::Ready,
            Request::starting("ipc::thread::child_runs_and_exits"),
            Request::NoSuchCase,
            Request::Verdict(Verdict::Pass),
            Request::failed("2 != 3"),
            Request::failed(&long),
        ];
        for request in requests {
            let mut bytes = [0; MAX_BYTES];
            assert_eq!(round_trip(&request, &mut bytes), request);
        }
        for order in [Order::Run { index: 0 }, Order::Run { index: u16::MAX }, Order::Go] {
            let mut words = [0; MAX_WORDS];
            let count = encode(&order, &mut words).unwrap();
            let mut bytes = [0; MAX_BYTES];
            assert_eq!(decode::<Order>(LABEL, &words[..count], &mut bytes), Ok(order));
        }
    }

    #[test]
    fn only_programs_listed_get_devices() {
        assert!(gets_devices("devices=devtest", "devtest"));
        assert!(gets_devices("x=1 devices=a,devtest", "devtest"));
        assert!(!gets_devices("devices=devtest", "ipctest"));
        assert!(!gets_devices("devices=devtest2", "devtest"));
        assert!(!gets_devices("", "devtest"));
        assert!(!gets_devices("devtest", "devtest"));
        assert!(!gets_devices("devicesx=devtest", "devtest"));
    }

    #[test]
    fn only_programs_listed_get_asi_control() {
        assert!(gets_asi("asi-control=ipctest", "ipctest"));
        assert!(gets_asi("respawn=200 asi-control=devtest,ipctest", "ipctest"));
        // The kernel's `asi=on|off` is another option: it names no program here.
        assert!(!gets_asi("asi=ipctest", "ipctest"));
        assert!(gets_asi("devices=devtest asi-control=ipctest", "ipctest"));
        assert!(!gets_asi("devices=devtest asi-control=ipctest", "devtest"));
        assert!(!gets_asi("devices=ipctest", "ipctest"));
        assert!(!gets_asi("asi-control=ipctest2", "ipctest"));
        assert!(!gets_asi("", "ipctest"));
        assert!(!gets_asi("ipctest", "ipctest"));
        assert!(!gets_asi("asi-controlx=ipctest", "ipctest"));
        assert!(!gets_devices("asi-control=devtest", "devtest"));
    }

    #[test]
    fn respawn_counts_are_numbers() {
        assert_eq!(respawn_count("devices=a respawn=500"), 500);
        assert_eq!(respawn_count("respawn=lots"), 0);
        assert_eq!(respawn_count("respawns=5"), 0);
        assert_eq!(respawn_count(""), 0);
    }

    #[test]
    fn long_texts_are_cut_at_characters() {
        let long = "é".repeat(MAX_MESSAGE);
        let Request::Verdict(Verdict::Fail { message }) = Request::failed(&long) else {
            panic!("not a failure");
        };
        assert_eq!(message.len(), MAX_MESSAGE);
        assert_eq!(cut("aé", 2), "a");
        let long_name = "x".repeat(500);
        let Request::Starting { name } = Request::starting(&long_name) else {
            panic!("not a start");
        };
        assert_eq!(name.len(), MAX_NAME);
    }

    #[test]
    fn texts_too_long_for_a_message_are_refused_not_cut_short() {
        let huge = "x".repeat(MAX_BYTES);
        let mut words = [0; MAX_WORDS];
        assert_eq!(
            encode(&Request::Starting { name: &huge }, &mut words),
            Err(CodecError::Encoding)
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut bytes = [0; MAX_BYTES];
        assert_eq!(decode::<Order>(1, &[1, 0], &mut bytes), Err(CodecError::Label(1)));
        assert_eq!(decode::<Order>(LABEL, &[], &mut bytes), Err(CodecError::Length));
        assert_eq!(decode::<Order>(LABEL, &[9, 0], &mut bytes), Err(CodecError::Length));
        let too_long = MAX_BYTES as u64 + 1;
        assert_eq!(decode::<Order>(LABEL, &[too_long], &mut bytes), Err(CodecError::Length));
        // Variant 7 of Order does not exist.
        assert_eq!(decode::<Order>(LABEL, &[1, 7], &mut bytes), Err(CodecError::Encoding));
        assert_eq!(decode::<Request<'_>>(LABEL, &[0], &mut bytes), Err(CodecError::Encoding));
    }
}
