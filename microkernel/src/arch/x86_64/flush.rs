//! Side-channel flushes: a branch-predictor barrier (IBPB) on kernel entry and L1D and
//! CPU-buffer flushes on exit, as `mitigations=` asks, with the mechanisms CPUID offers.
//! Each one is counted (`syscall_abi::counters`).
//!
//! The mode costs nothing when it is off: `mitigations=blanket` points the `syscall`
//! entry and the exits at variants that flush (chosen once, at boot), and only the rarer
//! interrupt and exception entries test the mode.

use super::boot_constant::BootConstant;
use super::percpu::count;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicU8, Ordering};
use kernel_core::mitigation::{CpuidWords, FlushSupport, Mitigations};
use syscall_abi::counters::Counter;
use x86_64::registers::model_specific::Msr;

static SUPPORT: BootConstant<FlushSupport> =
    BootConstant::new(FlushSupport { ibpb: false, l1d_flush: false, md_clear: false, pcid: false });
static MODE: BootConstant<Mitigations> = BootConstant::new(Mitigations::Off);

/// `IA32_PRED_CMD`: bit 0 issues an IBPB.
const IA32_PRED_CMD: u32 = 0x49;
/// `IA32_FLUSH_CMD`: bit 0 writes back and invalidates L1D.
const IA32_FLUSH_CMD: u32 = 0x10B;
/// What the software L1D flush reads: twice a 32 KiB L1D, a line at a time.
const L1D_FILL_BYTES: usize = 64 * 1024;
const CACHE_LINE: usize = 64;
static L1D_FILL: [AtomicU8; L1D_FILL_BYTES] = [const { AtomicU8::new(0) }; L1D_FILL_BYTES];
/// A data segment selector for `VERW` to check (the kernel's; any valid one will do).
static VERW_SELECTOR: u16 = super::percpu::KERNEL_DATA_SELECTOR;

/// What this CPU offers.
fn detect() -> FlushSupport {
    let max_leaf = __cpuid(0).eax;
    let max_extended = __cpuid(0x8000_0000).eax;
    FlushSupport::from_cpuid(CpuidWords {
        leaf1_ecx: __cpuid(1).ecx,
        leaf7_edx: if max_leaf >= 7 { __cpuid_count(7, 0).edx } else { 0 },
        extended8_ebx: if max_extended >= 0x8000_0008 { __cpuid(0x8000_0008).ebx } else { 0 },
    })
}

/// Sets the mode for this boot and points the `syscall` entry and the exits at the
/// variants it needs; returns what the CPU offers, for the boot log. Called once, by the
/// bootstrap CPU, after `init_bootstrap_cpu` and before any user code runs.
pub fn init(mode: Mitigations) -> FlushSupport {
    let support = detect();
    // SAFETY: the bootstrap CPU, setting the kernel up before user code runs (the only
    // readers are kernel entries and exits, which need user code) and before other CPUs.
    unsafe {
        SUPPORT.set(support);
        MODE.set(mode);
    }
    if mode == Mitigations::Blanket {
        super::syscall::use_flushing_entry();
        super::context::use_flushing_exits();
    }
    support
}

/// The mode this boot runs in.
pub fn mode() -> Mitigations {
    MODE.get()
}

/// On a kernel entry from user mode under `blanket`, and on an ASI exit: no branch
/// prediction trained by user code may steer the kernel.
pub(super) fn entry_barrier() {
    if SUPPORT.get().ibpb {
        // SAFETY: the CPU advertises IBPB (CPUID), so `IA32_PRED_CMD` exists; bit 0 only
        // issues the barrier.
        unsafe { Msr::new(IA32_PRED_CMD).write(1) };
        count::<{ Counter::Ibpb as usize }>();
    }
}

/// On every exit to user mode under `blanket`, and when an ASI exit ends: nothing the
/// kernel left in L1D or the CPU's buffers may be sampled by user code. Called by the
/// flushing exit paths' assembly and by `asi::end_exit`.
pub(super) extern "C" fn exit_flushes() {
    let support = SUPPORT.get();
    if support.l1d_flush {
        // SAFETY: the CPU advertises L1D_FLUSH (CPUID), so `IA32_FLUSH_CMD` exists; bit 0
        // only writes back and invalidates L1D.
        unsafe { Msr::new(IA32_FLUSH_CMD).write(1) };
    } else {
        for line in L1D_FILL.iter().step_by(CACHE_LINE) {
            core::hint::black_box(line.load(Ordering::Relaxed));
        }
    }
    count::<{ Counter::L1dFlushes as usize }>();
    if support.md_clear {
        // SAFETY: `VERW` only checks whether the selector's segment is writable (setting
        // ZF) and, with MD_CLEAR, clears CPU buffers; the operand is a valid static.
        unsafe {
            core::arch::asm!(
                "verw word ptr [rip + {selector}]",
                selector = sym VERW_SELECTOR,
                options(nostack, readonly),
            );
        }
        count::<{ Counter::Verws as usize }>();
    }
}
