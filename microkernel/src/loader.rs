//! The root task's image: its ELF file comes from the first boot module and gets a fresh
//! address space, a stack and an IPC buffer; `object::root` then gives it a TCB and
//! capabilities.

use crate::arch::{self, AddressSpace, FrameSource, MapError, PhysAddr, UserAccess, VirtAddr};
use kernel_core::boot_info::BootModule;
use kernel_core::cmdline::split_module_line;
use kernel_core::elf::{ElfError, Executable, LoadSegment};
use kernel_core::memory::PAGE_SIZE;

/// The top of every initial user stack; the page above stays unmapped.
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Pages of initial user stack; the page below them stays unmapped as a guard.
pub const USER_STACK_PAGES: u64 = 16;
/// Where the root task's IPC buffer is mapped: the page below the stack's guard page
/// has its own guard below it.
pub const IPC_BUFFER_ADDRESS: u64 = USER_STACK_TOP - (USER_STACK_PAGES + 2) * PAGE_SIZE;

/// The longest root-task name kept (a TCB's name field).
pub const MAX_NAME: usize = 32;
/// The longest boot-argument string kept.
pub const MAX_BOOT_ARGS: usize = 128;

/// The root task, loaded and ready for a TCB.
#[derive(Debug)]
pub struct RootImage {
    pub name: heapless::String<MAX_NAME>,
    pub boot_args: heapless::String<MAX_BOOT_ARGS>,
    pub entry: u64,
    pub stack_top: u64,
    pub address_space: AddressSpace,
    /// The frame mapped at [`IPC_BUFFER_ADDRESS`].
    pub ipc_buffer: PhysAddr,
}

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

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ModuleUnreadable => f.write_str("the module lies outside the physical window"),
            Self::BadImage(error) => write!(f, "not a loadable executable: {error:?}"),
            Self::Map(error) => write!(f, "cannot map it: {error:?}"),
            Self::OutOfMemory => f.write_str("out of memory"),
            Self::NameTooLong => {
                write!(f, "its name is longer than {MAX_NAME} bytes")
            }
            Self::ArgsTooLong => {
                write!(f, "its arguments are longer than {MAX_BOOT_ARGS} bytes")
            }
        }
    }
}

impl From<MapError> for LoadError {
    fn from(error: MapError) -> Self {
        Self::Map(error)
    }
}

/// Loads `module`: maps its segments with their permissions (W^X already enforced by the
/// ELF check), a stack and an IPC buffer into a new address space.
pub fn load(module: &BootModule, frames: &mut dyn FrameSource) -> Result<RootImage, LoadError> {
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
    let ipc_buffer = frames.allocate_zeroed().ok_or(LoadError::OutOfMemory)?;
    address_space.map_user_page(
        VirtAddr::new(IPC_BUFFER_ADDRESS),
        ipc_buffer,
        stack_access,
        frames,
    )?;
    Ok(RootImage {
        name,
        boot_args,
        entry: executable.entry,
        stack_top: USER_STACK_TOP,
        address_space,
        ipc_buffer,
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

#[cfg(feature = "ktest")]
pub mod tests {
    use super::*;
    use crate::ktest::{KernelTest, TestResult, ensure};
    use kernel_core::boot_info::{BootInfo, BootString};

    pub const TESTS: &[KernelTest] = &[
        KernelTest {
            name: "kernel::loader::root_task_maps_with_wx_separation",
            run: root_task_maps_with_wx_separation,
        },
        KernelTest {
            name: "kernel::loader::non_elf_module_is_refused",
            run: non_elf_module_is_refused,
        },
    ];

    fn root_task_maps_with_wx_separation(boot_info: &BootInfo) -> TestResult {
        let module = boot_info.modules().next();
        ensure!(module.is_some(), "the test boot has no module");
        let Some(module) = module else { return Ok(()) };
        let thread = load(module, &mut crate::mem::frames());
        ensure!(thread.is_ok(), "loading failed: {:?}", thread.err());
        let Ok(thread) = thread else { return Ok(()) };
        let image = arch::boot_module_bytes(module.range).unwrap_or_default();
        let executable = Executable::parse(image);
        let Ok(executable) = executable else {
            return Ok(());
        };
        let space = &thread.address_space;
        for segment in executable.segments() {
            let wanted =
                UserAccess { write: segment.access.write, execute: segment.access.execute };
            for page in (segment.first_page()..segment.end_page()).step_by(PAGE_SIZE as usize) {
                let access = space.user_access(VirtAddr::new(page));
                ensure!(
                    access == Some(wanted),
                    "page {page:#x}: {access:?}, segment wants {wanted:?}"
                );
            }
        }
        let entry = space.user_access(VirtAddr::new(executable.entry));
        ensure!(
            entry == Some(UserAccess { write: false, execute: true }),
            "entry page is {entry:?}"
        );
        let stack = UserAccess { write: true, execute: false };
        for index in 1..=USER_STACK_PAGES {
            let page = USER_STACK_TOP - index * PAGE_SIZE;
            ensure!(
                space.user_access(VirtAddr::new(page)) == Some(stack),
                "stack page {page:#x} not RW/NX"
            );
        }
        let guard = USER_STACK_TOP - (USER_STACK_PAGES + 1) * PAGE_SIZE;
        ensure!(space.user_access(VirtAddr::new(guard)).is_none(), "stack guard page is mapped");
        ensure!(
            space.user_access(VirtAddr::new(USER_STACK_TOP)).is_none(),
            "page above the stack is mapped"
        );
        ensure!(
            thread.entry == executable.entry && thread.stack_top == USER_STACK_TOP,
            "entry {:#x}, stack {:#x}",
            thread.entry,
            thread.stack_top
        );
        let buffer = space.user_access(VirtAddr::new(IPC_BUFFER_ADDRESS));
        ensure!(buffer == Some(stack), "IPC buffer maps as {buffer:?}");
        Ok(())
    }

    fn non_elf_module_is_refused(_: &BootInfo) -> TestResult {
        let kernel_start = crate::mem::kernel_image();
        let fake = BootModule {
            range: kernel_core::memory::PhysRange::from_start_len(kernel_start.start, PAGE_SIZE),
            line: BootString::new("not-an-elf").unwrap_or(BootString::empty()),
        };
        let outcome = load(&fake, &mut crate::mem::frames());
        ensure!(
            matches!(outcome, Err(LoadError::BadImage(ElfError::NotX86_64Executable))),
            "a Multiboot header loaded as {:?}",
            outcome.map(|thread| thread.name)
        );
        Ok(())
    }
}
