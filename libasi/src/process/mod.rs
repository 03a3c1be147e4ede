//! Processes: starting a program from a boot module in an address space and CSpace of its
//! own ([`Spawner`]), and what such a program knows about itself ([`layout`]).
//!
//! # Spawning (in the root task)
//!
//! ```ignore
//! use libasi::boot;
//! use libasi::cap::{Cap, Rights, SlotAllocator};
//! use libasi::process::{SpawnOptions, Spawner};
//!
//! let info = boot::info()?;
//! let mut slots = SlotAllocator::new(info.empty);
//! let mut spawner = Spawner::new(pool, &mut slots);
//! let module = info.modules().iter().find(|module| module.name() == "echo").unwrap();
//! let echo = spawner.spawn(module, &SpawnOptions::new(100).grant(endpoint.cptr(), Rights::READ))?;
//! ```
//!
//! `servers/init` does this for real. The new process gets an address space with the
//! executable's segments (W^X), a stack and an IPC buffer, and a CNode whose slots
//! [`layout`] lists: its own CNode, VSpace and TCB, its fault endpoint, then the
//! capabilities handed over, in order ([`granted`]).
//!
//! [`Process::destroy`] ends a process and everything it had, and gives the parent its
//! slots back; once every process made from a pool is destroyed, the pool is whole again
//! (the test runner, `tests/guest/testrunner`, spawns and destroys one per test case).
//!
//! # Inside a process
//!
//! The spawner starts the thread at the ELF entry with its IPC buffer's address in `rdi`;
//! [`entry!`](crate::entry)'s `_start` records it (the root task gets 0 there and learns
//! its buffer from the boot information instead). So [`ipc_buffer`] works at once, and
//! invocations of more than four words ([`Message::call`](crate::message::Message::call))
//! find the buffer too.

pub mod budget;
mod handle;
pub mod layout;
mod options;
pub mod plan;
mod spawn;

pub use handle::Process;
pub use layout::granted;
pub use options::{DEFAULT_MEMORY_BITS, SpawnOptions};
pub use spawn::{
    DEFAULT_SCRATCH, MAX_MODULE_BYTES, MODULE_WINDOW_OFFSET, SpawnError, Spawner, page_rights,
    start_registers, table_kind,
};

use crate::Error;
use crate::ipc::IpcBuffer;

/// The calling thread's IPC buffer: for a spawned process, the one its `_start` recorded
/// ([`layout::IPC_BUFFER`]); for the root task, where its boot information says.
/// [`Error::NoIpcBuffer`] for a thread that has none.
pub fn ipc_buffer() -> Result<IpcBuffer, Error> {
    IpcBuffer::root().map_err(|_| Error::NoIpcBuffer)
}

/// Runs a server's request loop, which returns only when it fails: then prints
/// `<name>: <error>` and gives the exit code 1, for `main` to return.
pub fn serve(name: &str, server: fn() -> Result<core::convert::Infallible, Error>) -> u64 {
    match server() {
        Ok(never) => match never {},
        Err(error) => {
            crate::println!("{name}: {error}");
            1
        }
    }
}
