//! Copying between the kernel and the current address space's user half.
//!
//! Callers check first that every page of the user range is mapped with the access the
//! copy needs (see `crate::usercopy`); with SMAP on, the copy itself is bracketed by
//! `stac`/`clac`, so no other kernel code can touch user memory by accident.

use super::cpu::smap_enabled;
use core::sync::atomic::{AtomicBool, Ordering};

static SMAP: AtomicBool = AtomicBool::new(false);

/// Records whether SMAP is on; called once the CPU's protections are set.
pub fn init() {
    SMAP.store(smap_enabled(), Ordering::Relaxed);
}

fn with_user_access<R>(copy: impl FnOnce() -> R) -> R {
    let smap = SMAP.load(Ordering::Relaxed);
    if smap {
        // SAFETY: `stac` only lets supervisor code reach user pages; it is undone below
        // before any other code runs (interrupts are off in the kernel).
        unsafe { core::arch::asm!("stac", options(nomem, nostack)) };
    }
    let result = copy();
    if smap {
        // SAFETY: `clac` restores SMAP protection.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
    result
}

/// Copies `dst.len()` bytes from user address `src`.
///
/// The caller has checked that every page of `src .. src + dst.len()` is mapped readable
/// for user mode in the current address space, and that it lies in the user half.
pub fn copy_from_user(dst: &mut [u8], src: u64) {
    with_user_access(|| {
        // SAFETY: the source range is mapped user memory (the caller's check), in the
        // address space that is active and cannot change while the kernel runs with
        // interrupts off; it cannot overlap `dst`, which is kernel memory.
        unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) }
    });
}

/// Copies `src` to user address `dst`.
///
/// The caller has checked that every page of `dst .. dst + src.len()` is mapped writable
/// for user mode in the current address space, and that it lies in the user half.
pub fn copy_to_user(dst: u64, src: &[u8]) {
    with_user_access(|| {
        // SAFETY: as for `copy_from_user`, with the destination checked writable.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) }
    });
}
