//! The microkernel's logic that needs no hardware: memory-map arithmetic, the boot frame
//! allocator, ELF image checks, user address ranges, boot command lines and PCID
//! bookkeeping.
//!
//! Everything here is plain `no_std` code so that it runs under `cargo test` on the host;
//! the kernel's arch layer feeds it numbers read from the machine.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod boot_info;
pub mod cap;
pub mod cmdline;
pub mod elf;
pub mod fpu_word;
pub mod frame_alloc;
pub mod memory;
pub mod mitigation;
pub mod pcid;
pub mod range_set;
pub mod sensitivity;
pub mod untyped_split;
pub mod user_range;
