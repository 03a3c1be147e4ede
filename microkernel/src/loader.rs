//! Starting the root task: its ELF image comes from the first boot module and gets a
//! fresh address space and stack.

use crate::arch::{self, AddressSpace, FrameSource, MapError, PhysAddr, UserAccess, UserContext, VirtAddr};
use crate::thread::{MAX_BOOT_ARGS, MAX_NAME, Thread, ThreadState};
use kernel_core::boot_info::BootModule;
use kernel_core::cmdline::split_module_line;
use kernel_core::elf::{ElfError, Executable, LoadSegment};
use kernel_core::memory::PAGE_SIZE;

/// The top of every initial user stack; the page above stays unmapped.
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Pages of initial user stack; the page below them stays unmapped as a guard.
pub const USER_STACK_PAGES: u64 = 16;

/// Why the root task could not be started.
#[derive(Debug)]
pub enum LoadError {
    ModuleUnreadable,
    BadImage(ElfError),
    Map(MapError),
    OutOfMemory,
    /// The module's name is longer than [`MAX_NAME`] bytes.
    NameTooLong,
    /// The module's arguments are longer than [`MAX_BOOT_ARGS`] bytes.
    ArgsTooLong,
}

impl From<MapError> for LoadError {
    fn from(error: MapError) -> Self {
        Self::Map(error)
    }
}

/// Builds a thread from `module`: maps its segments with their permissions (W^X already
/// enforced by the ELF check) and a stack, ready to run at the entry point.
pub fn load(module: &BootModule, frames: &mut dyn FrameSource) -> Result<Thread, LoadError> {
    let image = arch::boot_module_bytes(module.range).ok_or(LoadError::ModuleUnreadable)?;
    let executable = Executable::parse(image).map_err(LoadError::BadImage)?;
    let (name, args) = split_module_line(module.line.as_str());
    let name = heapless::String::try_from(name).map_err(|_| LoadError::NameTooLong)?;
    let boot_args = heapless::String::try_from(args).map_err(|_| LoadError::ArgsTooLong)?;

    let mut address_space = AddressSpace::new(frames).ok_or(LoadError::OutOfMemory)?;
    for segment in executable.segments() {
        map_segment(&mut address_space, segment, image, frames)?;
    }
    let stack_access = UserAccess { write: true, execute: false };
    for index in 1..=USER_STACK_PAGES {
        let frame = frames.allocate_zeroed().ok_or(LoadError::OutOfMemory)?;
        let page = VirtAddr::new(USER_STACK_TOP - index * PAGE_SIZE);
        address_space.map_user_page(page, frame, stack_access, frames)?;
    }
    Ok(Thread {
        name,
        boot_args,
        state: ThreadState::Runnable,
        context: UserContext::new_user(executable.entry, USER_STACK_TOP),
        address_space,
    })
}

fn map_segment(
    address_space: &mut AddressSpace,
    segment: &LoadSegment,
    image: &[u8],
    frames: &mut dyn FrameSource,
) -> Result<(), LoadError> {
    let access = UserAccess { write: segment.access.write, execute: segment.access.execute };
    for page in (segment.first_page()..segment.end_page()).step_by(PAGE_SIZE as usize) {
        let frame = frames.allocate_zeroed().ok_or(LoadError::OutOfMemory)?;
        let (bytes, offset_in_page) = segment.file_bytes_for_page(page);
        fill_frame(frame, offset_in_page, &image[bytes]);
        address_space.map_user_page(VirtAddr::new(page), frame, access, frames)?;
    }
    Ok(())
}

fn fill_frame(frame: PhysAddr, offset: usize, bytes: &[u8]) {
    let mut page = [0u8; PAGE_SIZE as usize];
    page[offset..offset + bytes.len()].copy_from_slice(bytes);
    arch::write_physical(frame, &page);
}

