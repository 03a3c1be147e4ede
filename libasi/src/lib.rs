//! What user-space programs are written against: system calls, the entry point, console
//! output, the panic handler, and typed capabilities ([`cap`]).
//!
//! A complete server, built for `x86_64-unknown-none`:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![forbid(unsafe_code)]
//!
//! libasi::entry!(main);
//!
//! fn main() -> u64 {
//!     libasi::println!("hi");
//!     0
//! }
//! ```
//!
//! (Not compiled as a doctest: doctests build for the host, whose C runtime defines its
//! own `_start`. `servers/init` is this example, built for real.)
//!
//! [`entry!`] defines `_start`, which runs `main` and ends the thread with the exit code
//! it returns. A panic prints `panic: <message>` and ends the thread with
//! [`thread::PANIC_EXIT_CODE`]. The safe modules issue their system calls through the raw
//! stubs in [`syscall`], which test programs may also use directly; those stubs and
//! [`mem::Mapping`]'s accessors of mapped memory hold all of this crate's `unsafe` code
//! (besides the `unsafe impl GlobalAlloc` of [`mem::Heap`], which needs no `unsafe`
//! block).
//!
//! The root task learns its initial capabilities from [`boot::info`] and invokes them
//! through [`cap`]: [`cap::Cap<Untyped>`](cap::Cap)`::retype`, the CNode operations, and a
//! [`cap::SlotAllocator`] for free slots. See [`cap`] for an example.
//!
//! Threads are started and controlled through [`cap::Cap<Tcb>`](cap::Cap) (configure,
//! registers, resume, priorities), talk through endpoints and notifications ([`ipc`], with
//! an example server and client), learn of each other's faults as messages ([`fault`]), and
//! map memory with [`cap::Cap<Frame>`](cap::Cap)`::map`. [`mem`] maps frames into the
//! caller's own address space as values that unmap on drop, and is a heap that servers
//! put in memory of a chosen sensitivity; [`memsrv`] asks the memory server for frames of
//! a sensitivity and for kernel objects, and supplies such a heap.
#![cfg_attr(not(test), no_std)]

pub mod boot;
pub mod cap;
pub mod debug;
mod error;
pub mod fault;
pub mod ipc;
pub mod mem;
pub mod memsrv;
pub mod message;
#[cfg(not(test))]
mod panic;
pub mod process;
#[doc(hidden)]
pub mod rt;
pub mod syscall;
pub mod thread;

pub use error::{Error, INVOKED_CAPABILITY};
pub use syscall_abi::SyscallError;
