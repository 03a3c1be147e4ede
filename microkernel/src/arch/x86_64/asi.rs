//! Address space isolation: the kernel runs on restricted tables, whose physical window
//! lacks the sensitive pageblocks, and leaves them only when it touches sensitive memory.
//!
//! Entries and exits write no CR3: the restricted table of the running address space (or
//! the kernel's own) is what CR3 holds. A kernel page fault on a window address that the
//! restricted view lacks is an *ASI exit* ([`exit_on_fault`]): a branch-predictor barrier,
//! the SMT sibling stunned, CR3 switched to the unrestricted twin (`paging`), and the
//! faulting instruction retried. Before the CPU returns to user mode, [`end_exit`] switches
//! back and flushes what the unrestricted run may have left in L1D and the CPU's buffers.
//! Whether an exit is open is one word of the CPU's block: deciding takes no lock (the
//! fault can come while the sensitivity map's lock is held, zeroing memory).
//!
//! Where the CPU has PCID the two tables of a pair have PCIDs of their own and a switch
//! between them keeps the TLB (`pcid`); without (QEMU TCG) each switch is a full CR3
//! write that flushes it, which is correct.

use super::boot_constant::BootConstant;
use super::pcid::{read_cr3, twin_value, write_cr3};
use super::percpu::{self, count};
use super::phys::{PHYS_WINDOW_BASE, WINDOW_MAX};
use super::{flush, paging};
use kernel_core::mitigation::Asi;
use syscall_abi::counters::Counter;

static ON: BootConstant<bool> = BootConstant::new(false);

/// A page fault's error-code bit: the page was present (a protection fault).
const PAGE_PRESENT: u64 = 1;

/// Sets the mode for this boot and moves the CPU onto the kernel's restricted table.
/// Called once, by the bootstrap CPU, after `init_kernel_space` and `init_bootstrap_cpu`
/// and before any address space is made.
pub fn init(mode: Asi) {
    // SAFETY: the bootstrap CPU, setting the kernel up before other CPUs run and before
    // any page fault could read the value (nothing is unmapped from the restricted view
    // until the root task is made).
    unsafe { ON.set(mode == Asi::On) };
    paging::use_restricted_kernel_tables(mode == Asi::On);
}

/// A kernel-mode page fault at `address` with `error_code`: if it is an ASI exit (ASI on,
/// a non-present window address, this CPU restricted), leaves the restricted table and
/// returns true, for the faulting instruction to retry. Takes no lock.
pub(super) fn exit_on_fault(address: u64, error_code: u64) -> bool {
    let in_window = address.wrapping_sub(PHYS_WINDOW_BASE) < WINDOW_MAX;
    if !ON.get() || !in_window || error_code & PAGE_PRESENT != 0 || percpu::is_unrestricted() {
        return false;
    }
    count::<{ Counter::AsiExits as usize }>();
    flush::entry_barrier();
    set_sibling_stunned(true);
    switch_to_twin(paging::unrestricted_twin);
    percpu::set_unrestricted(true);
    true
}

/// Ends this CPU's ASI exit, if one is open: back on the restricted table, L1D flushed
/// and CPU buffers cleared (where the CPU offers it), the sibling released. The general
/// path calls it before every return to user mode; the IPC fastpath touches nothing
/// sensitive, so no exit can be open there.
#[inline(always)]
pub fn end_exit() {
    if percpu::is_unrestricted() {
        reenter();
    }
}

/// Out of line: most returns to user mode have no exit to end, and the scheduler they
/// take keeps its registers for itself.
#[inline(never)]
fn reenter() {
    switch_to_twin(paging::restricted_twin);
    flush::exit_flushes();
    count::<{ Counter::AsiEntries as usize }>();
    percpu::set_unrestricted(false);
    set_sibling_stunned(false);
}

/// Whether this CPU runs on a restricted table (no ASI exit open).
pub fn is_restricted() -> bool {
    !percpu::is_unrestricted()
}

/// Where the SMT sibling will be stunned on an exit (kept out of the kernel until this
/// CPU is restricted again, so that it cannot sample what the unrestricted run loads) and
/// released on the way back. Empty: with one CPU there is no sibling. SMP makes it real
/// (an IPI that parks the sibling in the kernel and a flag it waits on).
fn set_sibling_stunned(_stunned: bool) {}

/// Loads the other table of the active pair, which `twin` finds from the active one.
///
/// (1) The twin has the same user half and the same kernel half but for the window's
/// sensitive pageblocks, which only the unrestricted table maps and which the kernel is
/// done with when it switches back.
fn switch_to_twin(twin: fn(u64) -> u64) {
    let value = twin_value(read_cr3(), twin);
    // SAFETY: everything in use stays mapped at the same address (1); the value comes
    // from `pcid`.
    unsafe { write_cr3(value) };
}
