//! Values the bootstrap CPU sets once while it sets the kernel up, before any other CPU
//! runs and before anything reads them, and that are only read afterwards.

use core::cell::UnsafeCell;

/// A value set once at boot and read as plain memory afterwards, so that the compiler may
/// keep it in a register across one kernel entry, or call through it directly (an atomic
/// load would be repeated at each use).
pub(super) struct BootConstant<T>(UnsafeCell<T>);

// SAFETY: the one write happens before any other CPU runs and before any read (the
// contract of `set`), and every later access is a read.
unsafe impl<T: Copy + Send> Sync for BootConstant<T> {}

impl<T: Copy> BootConstant<T> {
    pub(super) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(super) fn get(&self) -> T {
        // SAFETY: no write can happen at the same time as a read (see `set`).
        unsafe { *self.0.get() }
    }

    /// Sets the value.
    ///
    /// # Safety
    ///
    /// Only the bootstrap CPU calls this, while it sets the kernel up: before any other
    /// CPU runs and before any code that reads the value can run.
    pub(super) unsafe fn set(&self, value: T) {
        // SAFETY: nothing reads or writes the value at the same time (the caller's
        // promise).
        unsafe { *self.0.get() = value };
    }
}
