//! Memory in the caller's own address space: frames mapped as owning values that unmap
//! themselves ([`Mapping`]), and a heap for servers whose frames are of a chosen
//! sensitivity ([`Heap`]).
//!
//! Both live in the map window ([`MAP_WINDOW`](crate::process::layout::MAP_WINDOW), 1 GiB
//! that nothing else in the address space uses) of the program's own address space, whose
//! pages and page tables `mem` keeps track of (one window per program). Page tables come
//! from a [`TableSource`] and a heap's frames from a [`FrameSource`]: memsrv's client is
//! one, and [`UntypedSource`] retypes both from untyped memory the caller holds.
//!
//! ```ignore
//! use libasi::cap::Rights;
//! use libasi::mem::{Mapping, UntypedSource};
//!
//! // `memory`: nonsensitive untyped memory; `slots`: a range of empty root slots.
//! let mut tables = UntypedSource::new(memory, slots);
//! let mut page = Mapping::new(frame, Rights::READ | Rights::WRITE, &mut tables)?;
//! page.bytes_mut()?.fill(0xa5);
//! let frames = page.unmap()?; // or let it drop
//! ```
//!
//! (Not a doctest: it needs the kernel. `tests/guest/ipctest` runs these in QEMU.)
//!
//! [`Mapping::bytes`] and [`Mapping::bytes_mut`] are where `libasi` makes Rust slices of
//! mapped memory; with the system call stubs they are its only `unsafe` code. The heap
//! hands out addresses but never reads or writes its blocks.

mod bitmap;
mod error;
mod frames;
mod heap;
mod mapping;
mod source;
mod space;
mod tables;

pub use error::MemError;
pub use frames::FrameRun;
pub use heap::{DEFAULT_PAGES, Heap, HeapStats};
pub use mapping::Mapping;
pub use source::{FrameSource, UntypedSource};
pub use space::free_window_pages;
pub(crate) use space::record_own_vspace;
pub use tables::{TableLevel, TableSource};
