//! Memory in the caller's own address space: frames mapped as owning values that unmap
//! themselves ([`Mapping`]), and a heap for servers whose frames are of a chosen
//! sensitivity ([`Heap`]).
//!
//! Both live in the map window ([`MAP_WINDOW`](crate::process::layout::MAP_WINDOW), 1 GiB
//! that nothing else in the address space uses), whose pages and page tables an
//! [`AddressSpace`] keeps track of. Page tables come from a [`TableSource`] and a heap's
//! frames from a [`FrameSource`]: memsrv's client is one, and [`UntypedSource`] retypes
//! both from untyped memory the caller holds.
//!
//! ```ignore
//! use libasi::cap::{Cap, Rights};
//! use libasi::mem::{AddressSpace, UntypedSource};
//!
//! static SPACE: AddressSpace = AddressSpace::new(Cap::ROOT_VSPACE);
//!
//! // `memory`: nonsensitive untyped memory; `slots`: a range of empty root slots.
//! let mut tables = UntypedSource::new(memory, slots);
//! let mut page = SPACE.map(frame, Rights::READ | Rights::WRITE, &mut tables)?;
//! page.bytes_mut()?.fill(0xa5);
//! let frame = page.unmap()?.iter().next(); // or let it drop
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
pub use space::AddressSpace;
pub use tables::{TableLevel, TableSource};
