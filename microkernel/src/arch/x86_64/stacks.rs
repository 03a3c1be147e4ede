//! The kernel's statically allocated stacks, each with an unmapped guard page below it so
//! that an overflow faults instead of silently overwriting its neighbour.

use core::cell::UnsafeCell;
use kernel_core::memory::PAGE_SIZE;
use x86_64::VirtAddr;

/// Bytes of a CPU's kernel stack (the boot stack becomes the bootstrap CPU's kernel stack).
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
/// Bytes of each interrupt stack (double fault, NMI, machine check).
pub const IST_STACK_SIZE: usize = 16 * 1024;

/// A stack preceded by its guard page. Page-aligned so the guard is a whole page.
#[repr(C, align(4096))]
pub struct GuardedStack<const SIZE: usize> {
    guard: UnsafeCell<[u8; PAGE_SIZE as usize]>,
    stack: UnsafeCell<[u8; SIZE]>,
}

// SAFETY: the kernel never forms a reference to a stack's bytes: they are only reached
// through the stack pointer of the one CPU that owns the stack.
unsafe impl<const SIZE: usize> Sync for GuardedStack<SIZE> {}

impl<const SIZE: usize> GuardedStack<SIZE> {
    pub const fn new() -> Self {
        Self { guard: UnsafeCell::new([0; PAGE_SIZE as usize]), stack: UnsafeCell::new([0; SIZE]) }
    }

    /// The initial stack pointer: one past the highest byte.
    pub fn top(&self) -> VirtAddr {
        VirtAddr::from_ptr(self.stack.get()) + SIZE as u64
    }

    /// The page left unmapped so that running off the bottom faults.
    pub fn guard_page(&self) -> VirtAddr {
        VirtAddr::from_ptr(self.guard.get())
    }
}

/// The stack the boot code switches to, kept as the bootstrap CPU's kernel stack: every
/// kernel entry on that CPU starts again at its top.
pub static BOOT_STACK: GuardedStack<KERNEL_STACK_SIZE> = GuardedStack::new();

/// Byte offset of [`BOOT_STACK`]'s top from its start, for the boot assembly.
pub const BOOT_STACK_TOP_OFFSET: usize = PAGE_SIZE as usize + KERNEL_STACK_SIZE;

/// Interrupt stacks of the bootstrap CPU, indexed by [`super::idt::IstSlot`].
pub static BOOT_IST_STACKS: [GuardedStack<IST_STACK_SIZE>; 3] =
    [GuardedStack::new(), GuardedStack::new(), GuardedStack::new()];

/// Every guard page, for the page-table builder to leave unmapped.
pub fn guard_pages() -> impl Iterator<Item = VirtAddr> + Clone {
    core::iter::once(BOOT_STACK.guard_page())
        .chain(BOOT_IST_STACKS.iter().map(GuardedStack::guard_page))
}
