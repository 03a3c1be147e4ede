//! The code child threads run. Each is entered with `arg` in rdi and its index in rsi,
//! reports through [`SHARED`](crate::env::SHARED) words and ends with
//! [`child_done`] (signal `DONE`, exit) unless the case says otherwise.

use core::sync::atomic::Ordering;

use libasi::Error;
use libasi::cap::{Cap, Endpoint, Notification};
use libasi::ipc::{self, IpcBuffer};
use libasi::message::Message;

use crate::env::{SHARED, child_buffer, child_done, child_signal, set_shared, shared};
use crate::raw;
use syscall_abi::Syscall;

/// Set when the child got to its report.
pub const FLAG: usize = 0;
pub const VALUE: usize = 1;
pub const BADGE: usize = 2;
pub const LABEL: usize = 3;
pub const LEN: usize = 4;
pub const CAPS: usize = 5;
pub const UNWRAPPED: usize = 6;
/// The kernel's error code of the child's last call (0: success).
pub const ERROR: usize = 7;
pub const COUNT: usize = 8;
/// The slot a receiving child names for capabilities.
pub const RECEIVE_SLOT: usize = 9;
/// Message words 0–7 as received.
pub const WORDS: usize = 10;
/// The last word of a received message.
pub const LAST: usize = 18;
pub const UNWRAPPED_BADGE: usize = 19;
/// The log of [`yielder`]: the next position, then entries.
pub const LOG_POS: usize = 20;
pub const LOG: usize = 21;
pub const LOG_LEN: usize = 8;
/// Counters of the two spinners.
pub const SPIN: usize = 29;

pub fn code(result: Result<(), Error>) -> u64 {
    match result {
        Ok(()) => 0,
        Err(error) => error.kernel_error().map_or(999, |error| error.code()),
    }
}

fn record(badge: u64, message: &Message) {
    set_shared(BADGE, badge);
    set_shared(LABEL, message.label());
    set_shared(LEN, message.len() as u64);
    set_shared(CAPS, message.cap_count() as u64);
    set_shared(UNWRAPPED, u64::from(message.unwrapped()));
    set_shared(UNWRAPPED_BADGE, message.unwrapped_badge(0).unwrap_or(0));
    for index in 0..8 {
        set_shared(WORDS + index, message.word(index));
    }
    set_shared(LAST, message.words().last().copied().unwrap_or(0));
    SHARED[COUNT].fetch_add(1, Ordering::SeqCst);
}

/// Writes `arg` to VALUE and exits without signalling.
pub extern "C" fn exit_writer(arg: u64, _: u64) -> ! {
    set_shared(VALUE, arg);
    set_shared(FLAG, 1);
    libasi::thread::exit(0)
}

/// Sets FLAG, then does nothing for ever (exit as a child that never finishes).
pub extern "C" fn idle(_: u64, index: u64) -> ! {
    set_shared(FLAG, 1);
    loop {
        ipc::yield_now();
        let _ = index;
    }
}

/// Counts in `SHARED[arg]`, signalling DONE every 4096 counts.
pub extern "C" fn spinner(arg: u64, index: u64) -> ! {
    let counter = &SHARED[arg as usize];
    loop {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if count.is_multiple_of(4096) {
            child_signal(index);
        }
    }
}

/// Counts in `SHARED[SPIN + arg]` and never blocks or yields.
pub extern "C" fn busy(arg: u64, _: u64) -> ! {
    let counter = &SHARED[SPIN + arg as usize];
    loop {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Appends `arg` to the log three times, yielding after each.
pub extern "C" fn yielder(arg: u64, index: u64) -> ! {
    for _ in 0..3 {
        let position = SHARED[LOG_POS].fetch_add(1, Ordering::SeqCst) as usize;
        if position < LOG_LEN {
            set_shared(LOG + position, arg);
        }
        ipc::yield_now();
    }
    child_done(index)
}

/// Receives once on endpoint `arg` (after naming RECEIVE_SLOT for capabilities, if set),
/// records what came and finishes.
pub extern "C" fn sink(arg: u64, index: u64) -> ! {
    let buffer = child_buffer(index);
    let slot = shared(RECEIVE_SLOT);
    if slot != 0 {
        let _ = buffer.set_receive_slot(crate::env::ROOT, slot, 64);
    }
    set_shared(FLAG, 1);
    match Cap::<Endpoint>::from_slot(arg).receive(buffer) {
        Ok((badge, message)) => record(badge, &message),
        Err(error) => set_shared(ERROR, code(Err(error))),
    }
    child_done(index)
}

/// Serves calls on endpoint `arg`: records each request and replies with its words and
/// label + 1, until a request with label 0xdead.
pub extern "C" fn echo(arg: u64, index: u64) -> ! {
    let buffer = child_buffer(index);
    let endpoint = Cap::<Endpoint>::from_slot(arg);
    let mut request = endpoint.receive(buffer);
    loop {
        match request {
            Ok((badge, message)) => {
                record(badge, &message);
                if message.label() == 0xdead {
                    let _ = ipc::reply(buffer, &Message::new(0));
                    break;
                }
                let mut answer = Message::new(message.label() + 1);
                for &word in message.words() {
                    let _ = answer.try_push(word);
                }
                request = endpoint.reply_receive(buffer, &answer);
            }
            Err(error) => {
                set_shared(ERROR, code(Err(error)));
                break;
            }
        }
    }
    child_done(index)
}

/// The checksum [`short_echo`] keeps in `VALUE` of the words it received.
pub fn checksum(words: &[u64]) -> u64 {
    words.iter().fold(0, |sum, &word| sum.wrapping_mul(31).wrapping_add(word))
}

/// Serves calls on endpoint `arg` as [`echo`] does, but answers register-only (label + 1,
/// no words), so that its replies touch no IPC buffer; puts the [`checksum`] of each
/// request's words in `VALUE`.
pub extern "C" fn short_echo(arg: u64, index: u64) -> ! {
    let buffer = child_buffer(index);
    let endpoint = Cap::<Endpoint>::from_slot(arg);
    let mut request = endpoint.receive(buffer);
    loop {
        match request {
            Ok((badge, message)) => {
                record(badge, &message);
                set_shared(VALUE, checksum(message.words()));
                if message.label() == 0xdead {
                    let _ = ipc::reply(buffer, &Message::new(0));
                    break;
                }
                request = endpoint.reply_receive(buffer, &Message::new(message.label() + 1));
            }
            Err(error) => {
                set_shared(ERROR, code(Err(error)));
                break;
            }
        }
    }
    child_done(index)
}

/// Sends a message of `shared(LEN)` words (word i = 100 + i, label 7) on endpoint `arg`.
pub extern "C" fn sender(arg: u64, index: u64) -> ! {
    let buffer = child_buffer(index);
    let length = shared(LEN) as usize;
    let mut message = Message::new(7);
    for i in 0..length {
        let _ = message.try_push(100 + i as u64);
    }
    set_shared(FLAG, 1);
    set_shared(ERROR, code(Cap::<Endpoint>::from_slot(arg).send(buffer, &message)));
    child_done(index)
}

/// Waits on notification `arg`, records the bits.
pub extern "C" fn waiter(arg: u64, index: u64) -> ! {
    set_shared(FLAG, 1);
    match Cap::<Notification>::from_slot(arg).wait() {
        Ok(bits) => set_shared(BADGE, bits),
        Err(error) => set_shared(ERROR, code(Err(error))),
    }
    child_done(index)
}

/// Reads the word at address `arg`, records it.
pub extern "C" fn toucher(arg: u64, index: u64) -> ! {
    set_shared(VALUE, raw::read(arg));
    set_shared(FLAG, 1);
    child_done(index)
}

/// Executes `ud2`, then records that it went on.
pub extern "C" fn invalid_opcode(_: u64, index: u64) -> ! {
    raw::ud2();
    set_shared(FLAG, 1);
    child_done(index)
}

/// Divides by zero, then records that it went on.
pub extern "C" fn divide_error(_: u64, index: u64) -> ! {
    raw::divide_by_zero();
    set_shared(FLAG, 1);
    child_done(index)
}

/// Issues system call `arg` (unknown to the kernel), records what it returned.
pub extern "C" fn bad_syscall(arg: u64, index: u64) -> ! {
    let result = raw::syscall(arg);
    set_shared(ERROR, code(result.map(drop)));
    set_shared(FLAG, 1);
    child_done(index)
}

/// A register-only thread calls `arg` once with two words and records the reply.
pub extern "C" fn caller(arg: u64, index: u64) -> ! {
    let message = Message::new(5).push(11).push(22);
    match Cap::<Endpoint>::from_slot(arg).call(IpcBuffer::NONE, &message) {
        Ok(reply) => record(0, &reply),
        Err(error) => set_shared(ERROR, code(Err(error))),
    }
    child_done(index)
}

/// The value [`fpu_echo`] keeps in xmm0.
pub const FPU_ECHO_XMM0: u64 = 0x5e77_e700_0000_0001;

/// Serves register-only calls on endpoint `arg`, answering label + 1, with
/// [`FPU_ECHO_XMM0`] in xmm0 across every wait; counts answers in `COUNT` and puts any
/// other xmm0 it finds in `VALUE`. Stops after label 0xdead.
pub extern "C" fn fpu_echo(arg: u64, index: u64) -> ! {
    let mut seen = raw::ipc_holding_xmm0(Syscall::Receive, arg, 0, FPU_ECHO_XMM0);
    while seen.status == 0 && seen.label != 0xdead {
        if seen.xmm0 != FPU_ECHO_XMM0 {
            set_shared(VALUE, seen.xmm0);
        }
        set_shared(COUNT, shared(COUNT) + 1);
        seen = raw::ipc_holding_xmm0(Syscall::ReplyReceive, arg, seen.label + 1, FPU_ECHO_XMM0);
    }
    if seen.status != 0 {
        set_shared(ERROR, seen.status);
    }
    let _ = ipc::reply(child_buffer(index), &Message::new(0));
    child_done(index)
}
