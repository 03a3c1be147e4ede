//! Kernel objects in untyped memory, reached through capabilities.
//!
//! The capability logic itself (lookup, derivation tree, retype bookkeeping) is
//! `kernel_core::cap`, tested on the host; this module gives it its storage — CNode slots
//! in physical memory — and does what only the kernel can: create objects in memory,
//! destroy them when their last capability goes, and decode invocations.

pub mod asid;
pub mod cspace;
pub mod destroy;
pub mod fastpath;
pub mod invoke;
pub mod io_port;
pub mod ipc;
pub mod irq;
pub mod notification;
pub mod root;
pub mod sensitivity;
pub mod slots;
pub mod tcb;
pub mod tcb_invoke;
pub mod vspace;
