//! [`Mapping`]: frames mapped into the caller's own address space as an owning value that
//! unmaps them when dropped (Theseus' `MappedPages`), and the one place `libasi` turns
//! mapped memory into Rust slices.

use core::fmt;
use core::mem::ManuallyDrop;

use super::space::AddressSpace;
use super::tables::{TableSource, map_frames};
use super::{FrameRun, MemError};
use crate::cap::{Cap, Rights, VSpace};
use crate::process::layout::{MAP_WINDOW, PAGE_SIZE};

/// The 512 GiB whose tables the map window installs itself: no [`Mapping::at`] there.
const WINDOW_RESERVED: core::ops::Range<u64> = MAP_WINDOW..MAP_WINDOW + (1 << 39);

/// A run of frames mapped at consecutive pages of the caller's address space, readable
/// (and writable if mapped with [`Rights::WRITE`]) as one byte slice, unmapped again when
/// the value is dropped.
///
/// Made by [`AddressSpace::map`], which picks free pages of the map window and gives them
/// back on drop, or by [`Mapping::at`] at an address the caller picks outside the window.
/// Either way the kernel maps every page or the constructor fails and has unmapped what it
/// had mapped; page tables it needs come from a [`TableSource`] and stay installed.
///
/// ```ignore
/// use libasi::cap::{Cap, Frame, Rights, VSpace};
/// use libasi::mem::{AddressSpace, UntypedSource};
/// use libasi::process::layout::slot;
///
/// static SPACE: AddressSpace = AddressSpace::new(Cap::from_slot(slot::VSPACE));
///
/// // `frame`: a 4 KiB frame; `tables`: an UntypedSource over nonsensitive memory.
/// let mut page = SPACE.map(frame, Rights::READ | Rights::WRITE, &mut tables)?;
/// page.bytes_mut()?[..5].copy_from_slice(b"hello");
/// assert_eq!(&page.bytes()[..5], b"hello");
/// drop(page); // unmapped; its pages of the window are free again
/// ```
///
/// (Not a doctest: mapping needs the kernel. `tests/guest/ipctest`'s `ipc::mem::*` cases
/// run this in QEMU.)
///
/// The frames are 4 KiB frames: the kernel refuses a 2 MiB frame at a 4 KiB page.
///
/// # What the type cannot see
///
/// The slices rely on the pages staying mapped to this mapping's frames while they are
/// borrowed. Nothing in this process's Rust code can change that except dropping the
/// mapping, but the kernel acts on capabilities, which are plain slot numbers: unmapping
/// or deleting one of the frames' capabilities through another [`Cap`] to the same slot
/// (or revoking what it was derived from), or mapping a frame of it writable somewhere
/// else, acts behind the type's back, like writing through `/proc/self/mem` on Linux. A
/// mapping owns its frames' capabilities; keep no other handles to them while it lives.
pub struct Mapping<'s> {
    frames: FrameRun,
    address: u64,
    writable: bool,
    /// The window the pages go back to, for a mapping [`AddressSpace::map`] made.
    window: Option<&'s AddressSpace>,
}

impl Mapping<'static> {
    /// Maps `frames` at consecutive pages from `address` (page aligned, in the user half,
    /// outside the 512 GiB the map window's tables cover) in `vspace` with `rights`,
    /// never executable, installing the tables the kernel names missing from `tables`.
    /// The kernel refuses a page where anything is mapped
    /// ([`crate::Error::AlreadyMapped`]), so the mapping is the only thing there.
    pub fn at(
        vspace: Cap<VSpace>,
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
        map_frames(vspace, address, frames, rights, tables)?;
        Ok(Self::mapped(frames, address, rights, None))
    }
}

impl<'s> Mapping<'s> {
    /// The mapping of `frames`, which [`map_frames`] has just mapped at `address` with
    /// `rights`.
    pub(super) fn mapped(
        frames: FrameRun,
        address: u64,
        rights: Rights,
        window: Option<&'s AddressSpace>,
    ) -> Self {
        Self { frames, address, writable: rights.contains(Rights::WRITE), window }
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
        // SAFETY: `len()` bytes from `address` are mapped readable to this mapping's
        // frames (the constructor mapped every page or failed), and stay mapped until
        // `self` is dropped or unmapped, which the borrow of `self` rules out for the
        // slice's lifetime. The pages were unmapped before (the kernel maps nowhere
        // something is), so no other Rust value lives there; writes come only through
        // `bytes_mut`, which needs `&mut self`. A `u8` needs no alignment and every bit
        // pattern is one.
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
                if let Some(window) = self.window {
                    window.give_back(self.address, self.frames.len());
                }
                Ok(())
            }
        }
    }
}

impl Drop for Mapping<'_> {
    /// Unmaps as [`Mapping::unmap`] does; a refusal cannot be reported here, and leaves
    /// the pages taken.
    fn drop(&mut self) {
        let _ = self.release();
    }
}

impl fmt::Debug for Mapping<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("frames", &self.frames)
            .field("address", &format_args!("{:#x}", self.address))
            .field("writable", &self.writable)
            .field("in_window", &self.window.is_some())
            .finish()
    }
}
