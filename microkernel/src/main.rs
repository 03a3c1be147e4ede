//! An seL4-style microkernel for x86_64 with address space isolation.
//!
//! Generic kernel code lives in the modules here and reaches the hardware only through
//! [`arch`]; logic that needs no hardware lives in the `kernel-core` crate, where it is
//! tested on the host.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

#[macro_use]
mod console;
mod arch;
mod boot;
mod cpu;
mod fault;
#[cfg(feature = "ktest")]
mod ktest;
mod loader;
mod mem;
mod object;
mod panic;
mod sched;
mod syscall;
mod usercopy;
