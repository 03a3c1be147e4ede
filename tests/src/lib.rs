//! The host side of the guest tests: builds the kernel and user programs, boots them in
//! QEMU, and turns what they print on the serial port into test results.
//!
//! Everything that knows how the guest is built or booted lives here, so the `run` binary
//! (behind `just qemu`), the `guest` integration test and the `bench` binary cannot drift
//! apart.
#![forbid(unsafe_code)]

pub mod bench;
pub mod boot;
pub mod expect;
pub mod harness;
pub mod images;
pub mod protocol;
pub mod qemu;
pub mod suite;
