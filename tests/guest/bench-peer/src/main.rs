//! The server of the `bench` program's cross-address-space benchmarks
//! (`ipc_call_reply_*_cross_as`): a process of its own, spawned by `bench` from this boot
//! module with one capability, the endpoint to serve ([`ENDPOINT`], read right only).
//!
//! It waits on the endpoint and answers every call with the message it carried, in one
//! ReplyRecv, for ever: the same header and register words go straight back, and words 4
//! and up, which the kernel copied into its IPC buffer, are copied out again as they are.
//! This is what the same-address-space server thread in `bench` does, with the same
//! system calls and nothing else in between, so that the two figures differ only by what
//! the kernel does differently. The register-level calls
//! ([`reply_receive_registers`](libasi::cap::Cap::reply_receive_registers)) build no
//! [`Message`](libasi::message::Message), whose copying would be counted too.
//!
//! It never returns while the endpoint works: when the benchmarks are done it stays
//! blocked on the endpoint, and once the root task has exited no thread is runnable and
//! the kernel shuts down with the success code. If a call fails it says why and exits
//! with the call's status.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use libasi::cap::{Cap, Endpoint};
use libasi::println;
use libasi::process;

libasi::entry!(main);

/// The granted capability it serves: the endpoint `bench` calls.
const ENDPOINT: usize = 0;

fn main() -> u64 {
    // Messages of more than four words need the IPC buffer the spawner gave it; the
    // kernel copies those words there and back, the program itself never touches them.
    if let Err(error) = process::ipc_buffer() {
        println!("bench-peer: {error}");
        return 1;
    }
    let endpoint = Cap::<Endpoint>::new(process::granted(ENDPOINT));
    let mut got = endpoint.receive_registers();
    while got.status == syscall_abi::SUCCESS {
        got = endpoint.reply_receive_registers(got.info, got.words);
    }
    if let Err(error) = got.raw().result() {
        println!("bench-peer: serving the endpoint failed: {error}");
    }
    got.status
}
