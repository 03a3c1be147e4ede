//! CR3 and PCIDs: CR4.PCIDE set at boot where the CPU has PCID, and the CR3 values that
//! give each table its PCID of the CPU's pairs (`kernel_core::pcid`), so that switches
//! between address spaces and ASI exits and re-entries keep the TLB.
//!
//! Without PCID (QEMU TCG) CR4.PCIDE stays clear, no CR3 value carries a PCID or the
//! no-flush bit (TCG accepts PCIDE without CPUID support, then hangs on the first CR3
//! write with bit 63), and every switch is a full CR3 write, which flushes the TLB: there
//! is nothing stale to track, so the bookkeeping is skipped. Which of the two runs is a
//! boot constant; the IPC fastpath pays one test of it, on an address-space switch.

use super::boot_constant::BootConstant;
use super::cpu::CpuFeatures;
use super::percpu::{self, count};
use kernel_core::pcid::{Half, pcid_of, table_of};
use syscall_abi::counters::Counter;
use x86_64::registers::control::{Cr4, Cr4Flags};

static ON: BootConstant<bool> = BootConstant::new(false);

/// Sets CR4.PCIDE if the CPU has PCID. Called once, by the bootstrap CPU, when it has
/// just loaded `kernel_root` (the kernel's restricted table) into CR3 with no flag bits,
/// before any address space is made.
pub(super) fn init(kernel_root: u64) {
    if !CpuFeatures::detect().pcid {
        return;
    }
    debug_assert_eq!(read_cr3(), kernel_root, "CR3 must hold PCID 0 when PCIDE is set");
    // SAFETY: the CPU advertises PCID (CPUID) and runs in long mode, and CR3 bits 0..12
    // are clear (the caller's promise), as setting PCIDE requires. The current table
    // becomes PCID 0, pair 0's restricted PCID: nothing else changes.
    unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::PCID)) };
    percpu::pcids().pin_kernel(kernel_root);
    // SAFETY: the bootstrap CPU, setting the kernel up before other CPUs run and before
    // any address space exists; CR3 values may carry PCIDs from here on, as PCIDE is set.
    unsafe { ON.set(true) };
}

/// Whether CR4.PCIDE is set and tables are loaded with PCIDs.
#[inline(always)]
pub(super) fn on() -> bool {
    ON.get()
}

pub(super) fn read_cr3() -> u64 {
    let cr3: u64;
    // SAFETY: reading CR3 has no effect beyond its value.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags));
    }
    cr3
}

/// Loads `value` into CR3, counted.
///
/// # Safety
/// `value` is CR3's current value, or a value from this module or `kernel_core::pcid`
/// for a top-level table whose kernel half is the kernel's, so that everything in use
/// stays mapped at the same address; PCID and no-flush bits only with PCIDs [`on`].
pub(super) unsafe fn write_cr3(value: u64) {
    // SAFETY: the caller's promise.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags));
    }
    count::<{ Counter::Cr3Writes as usize }>();
}

/// With PCIDs on: makes the address space whose restricted table is at `root` this CPU's,
/// on that table, unless CR3 (`active`) already holds it. Out of line: the IPC fastpath
/// under TCG carries only the call.
///
/// # Safety
/// `root` is an address space's restricted table (a VSpace object).
#[inline(never)]
pub(super) unsafe fn activate(root: u64, active: u64) {
    if table_of(active) != root {
        let value = percpu::pcids().load(root, Half::Restricted).cr3(root);
        // SAFETY: an address space's table, whose kernel half is the kernel's (the
        // caller's promise), with its pair's PCID.
        unsafe { write_cr3(value) };
    }
}

/// The CR3 value that loads `table`, the `half` table of the pair whose restricted table
/// is `root` (the kernel's, or an address space's).
pub(super) fn value(root: u64, table: u64, half: Half) -> u64 {
    if on() { percpu::pcids().load(root, half).cr3(table) } else { table }
}

/// The CR3 value that loads the other table of the pair CR3's value `active` holds one of
/// (an ASI exit or re-entry), which `twin` finds from the active table's address.
#[inline(always)]
pub(super) fn twin_value(active: u64, twin: impl FnOnce(u64) -> u64) -> u64 {
    if on() {
        percpu::pcids().twin(pcid_of(active)).cr3(twin(table_of(active)))
    } else {
        // Without PCIDs the kernel sets no flag bits: CR3 is the table's address.
        twin(active)
    }
}

/// A user mapping of the address space at `root` is gone, and the caller has flushed it
/// from the TLB if the address space is active here: every other PCID of it goes stale.
pub(super) fn user_mapping_removed(root: u64) {
    if on() {
        percpu::pcids().user_mapping_removed(root, pcid_of(read_cr3()));
    }
}

/// A pageblock left the restricted window, and the caller has flushed it from the
/// current PCID: every other restricted PCID goes stale.
pub(super) fn window_entry_removed() {
    if on() {
        percpu::pcids().window_entry_removed(pcid_of(read_cr3()));
    }
}

/// The address space at `root` is destroyed and CR3 holds neither of its tables: its
/// pair is free, and flushed before it is used again.
pub(super) fn forget(root: u64) {
    if on() {
        percpu::pcids().forget(root);
    }
}
