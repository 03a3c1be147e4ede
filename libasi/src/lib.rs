//! What user-space programs are written against: system calls, the entry point, console
//! output and the panic handler.
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
//! stubs in [`syscall`], which test programs may also use directly.
#![cfg_attr(not(test), no_std)]

pub mod boot;
pub mod debug;
mod error;
#[cfg(not(test))]
mod panic;
#[doc(hidden)]
pub mod rt;
pub mod syscall;
pub mod thread;

pub use error::Error;
pub use syscall_abi::SyscallError;
