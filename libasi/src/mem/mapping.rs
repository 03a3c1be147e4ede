//! [`Mapping`]: frames mapped into the caller's own address space as an owning value that
//! unmaps them when dropped (Theseus' `MappedPages`), and the one place `libasi` turns
//! mapped memory into Rust slices.

use core::fmt;
use core::mem::ManuallyDrop;

use super::space::{WINDOW, own_vspace};
use super::tables::{TableSource, map_frames};
use super::{FrameRun, MemError};
use crate::cap::Rights;
use crate::process::layout::{MAP_WINDOW, PAGE_SIZE};

/// The 512 GiB whose tables the map window installs itself: no [`Mapping::at`] there.
const WINDOW_RESERVED: core::ops::Range<u64> = MAP_WINDOW..MAP_WINDOW + (1 << 39);

/// A run of frames mapped at consecutive pages of the caller's own address space,
/// readable (and writable if mapped with [`Rights::WRITE`]) as one byte slice, unmapped
/// again when the value is dropped.
///
/// [`Mapping::new`] picks free pages of the map window and gives them back on drop;
/// [`Mapping::at`] maps at an address the caller picks outside the window. Either way the
/// kernel maps every page or the constructor fails and has unmapped what it had mapped;
/// page tables it needs come from a [`TableSource`] and stay installed.
///
/// ```ignore
/// use libasi::cap::Rights;
/// use libasi::mem::{Mapping, UntypedSource};
///
/// // `frame`: a 4 KiB frame; `tables`: an UntypedSource over nonsensitive memory.
/// let mut page = Mapping::new(frame, Rights::READ | Rights::WRITE, &mut tables)?;
/// page.bytes_mut()?[..5].copy_from_slice(b"hello");
/// assert_eq!(&page.bytes()[..5], b"hello");
/// drop(page); // unmapped; its pages of the window are free again
/// ```
///
/// (Not a doctest: mapping needs the kernel. `tests/guest/ipctest`'s `ipc::mem::*` cases
/// run this in QEMU.)
///
/// The address space is always the program's own, the one [`entry!`](crate::entry)'s
/// start-up recorded (a spawned process's [`slot::VSPACE`](crate::process::layout::slot),
/// the root task's [`Cap::ROOT_VSPACE`](crate::cap::Cap)): never one named by an argument,
/// which could be another program's while the slices read this one's memory. The frames
/// are 4 KiB frames: the kernel refuses a 2 MiB frame at a 4 KiB page.
///
/// # What the type cannot see
///
/// The slices rely on the pages staying mapped to this mapping's frames while they are
/// borrowed. Nothing in this program's Rust code can change that except dropping the
/// mapping, but the kernel acts on capabilities, which are plain slot numbers: unmapping
/// or deleting one of the frames' capabilities through another [`Cap`](crate::cap::Cap)
/// to the same slot (or revoking what it was derived from), mapping a frame of it writable
/// somewhere else, or putting another VSpace capability in the program's own VSpace slot
/// acts behind the type's back, like writing through `/proc/self/mem` on Linux. A mapping
/// owns its frames' capabilities; keep no other handles to them while it lives.
pub struct Mapping {
    frames: FrameRun,
    address: u64,
    writable: bool,
    /// Whether the pages are the map window's, to give back.
    in_window: bool,
}

impl Mapping {
    /// Maps `frames` at the first free run of pages of the map window with `rights`
    /// (never executable), installing the page tables it lacks from `tables`. The pages
    /// are free again when the mapping is dropped.
    pub fn new(
        frames: impl Into<FrameRun>,
        rights: Rights,
        tables: &mut impl TableSource,
    ) -> Result<Self, MemError> {
        let frames = frames.into();
        let vspace = own_vspace();
        let address = WINDOW.reserve(vspace, frames.len(), 1, tables)?;
        match map_frames(vspace, address, frames, rights, tables) {
            Ok(()) => Ok(Self::mapped(frames, address, rights, true)),
            Err(error) => {
                WINDOW.give_back(address, frames.len());
                Err(error)
            }
        }
    }

    /// Maps `frames` at consecutive pages from `address` (page aligned, in the user half,
    /// outside the 512 GiB the map window's tables cover) with `rights`, never
    /// executable, installing the tables the kernel names missing from `tables`. The
    /// kernel refuses a page where anything is mapped ([`crate::Error::AlreadyMapped`]),
    /// so the mapping is the only thing there.
    pub fn at(
        address: u64,
        frames: impl Into<FrameRun>,
        rights: Rights,
        tables: &mut impl TableSource,
    ) -> Result<Self, MemError> {
        let frames = frames.into();
        let end = address.checked_add(frames.bytes()).ok_or(MemError::BadAddress)?;
        if !address.is_multiple_of(PAGE_SIZE)
            || end > syscall_abi::USER_SPACE_END
            || (address < WINDOW_RESERVED.end && WINDOW_RESERVED.start < end)
        {
            return Err(MemError::BadAddress);
        }
        map_frames(own_vspace(), address, frames, rights, tables)?;
        Ok(Self::mapped(frames, address, rights, false))
    }

    fn mapped(frames: FrameRun, address: u64, rights: Rights, in_window: bool) -> Self {
        Self { frames, address, writable: rights.contains(Rights::WRITE), in_window }
    }

    /// Where the first byte is mapped.
    pub const fn address(&self) -> u64 {
        self.address
    }

    /// How many bytes are mapped: 4 KiB per frame.
    pub const fn len(&self) -> usize {
        self.frames.bytes() as usize
    }

    /// Never: a mapping has at least one frame.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The frames, in the order they are mapped.
    pub const fn frames(&self) -> FrameRun {
        self.frames
    }

    /// Whether [`bytes_mut`](Self::bytes_mut) is allowed.
    pub const fn is_writable(&self) -> bool {
        self.writable
    }

    /// The mapped memory.
    pub fn bytes(&self) -> &[u8] {
        // Why the slice below is sound: `len()` bytes from `address` are mapped readable to
        // this mapping's frames in this program's own address space (the constructor mapped
        // every page there or failed), and stay mapped until `self` is dropped or unmapped.
        // The kernel maps only where nothing is mapped, so no other Rust value lives in
        // those pages (and the window gives each mapping pages of its own).
        // SAFETY: mapped and readable for `len()` bytes while `self` is borrowed (above);
        // writes come only through `bytes_mut`, which needs `&mut self`; a `u8` needs no
        // alignment and every bit pattern is one.
        unsafe { core::slice::from_raw_parts(self.pointer(), self.len()) }
    }

    /// The mapped memory, to write; [`MemError::ReadOnly`] for a mapping made without
    /// [`Rights::WRITE`].
    pub fn bytes_mut(&mut self) -> Result<&mut [u8], MemError> {
        if !self.writable {
            return Err(MemError::ReadOnly);
        }
        // SAFETY: as in `bytes`, and the pages are mapped writable; `&mut self` makes this
        // the only reference into them while it lives.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.pointer(), self.len()) })
    }

    /// The first byte as a pointer with the provenance of memory Rust did not allocate:
    /// the kernel mapped it.
    fn pointer(&self) -> *mut u8 {
        core::ptr::with_exposed_provenance_mut(self.address as usize)
    }

    /// Unmaps the frames and gives the pages back; the frames, to free or map again. If
    /// the kernel refuses to unmap a frame the rest are still unmapped, and the pages stay
    /// taken (something may still be mapped there).
    pub fn unmap(self) -> Result<FrameRun, MemError> {
        let mut this = ManuallyDrop::new(self);
        this.release().map(|()| this.frames)
    }

    fn release(&mut self) -> Result<(), MemError> {
        let mut first_error = None;
        for frame in self.frames.iter() {
            if let Err(error) = frame.unmap() {
                first_error.get_or_insert(MemError::Kernel(error));
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => {
                if self.in_window {
                    WINDOW.give_back(self.address, self.frames.len());
                }
                Ok(())
            }
        }
    }
}

impl Drop for Mapping {
    /// Unmaps as [`Mapping::unmap`] does; a refusal cannot be reported here, and leaves
    /// the pages taken.
    fn drop(&mut self) {
        let _ = self.release();
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("frames", &self.frames)
            .field("address", &format_args!("{:#x}", self.address))
            .field("writable", &self.writable)
            .field("in_window", &self.in_window)
            .finish()
    }
}
