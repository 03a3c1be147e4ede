//! User threads' floating-point and SIMD registers.
//!
//! The kernel itself never touches them (it is built soft-float), so a thread's FPU state
//! can stay in the registers across system calls, IPC and interrupts that return to the
//! same thread: it is saved and restored only when the CPU switches to another thread.
//! XSAVE is used where the CPU has it (x87, SSE and AVX state), FXSAVE otherwise.

use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Once;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

/// Bytes reserved for one thread's state: the legacy area and XSAVE header (576) plus AVX
/// (256), rounded up.
pub const FPU_STATE_SIZE: usize = 1024;
/// The MXCSR value at reset: all SIMD exceptions masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1f80;
/// Offset of MXCSR in the legacy save area.
const MXCSR_OFFSET: usize = 24;

/// One thread's saved FPU and SIMD registers, in the layout XSAVE/FXSAVE use.
#[derive(Clone)]
#[repr(C, align(64))]
pub struct FpuState([u8; FPU_STATE_SIZE]);

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuState { .. }")
    }
}

static USE_XSAVE: AtomicBool = AtomicBool::new(false);
static MODE: Once<FpuMode> = Once::new();

/// What `init` turned on, for tests.
#[cfg(feature = "ktest")]
pub fn init_mode() -> FpuMode {
    MODE.get().copied().unwrap_or(FpuMode { xsave: false, avx: false })
}
static INITIAL: Once<FpuState> = Once::new();

/// What [`init`] turned on.
#[derive(Clone, Copy, Debug)]
pub struct FpuMode {
    pub xsave: bool,
    pub avx: bool,
}

/// Enables x87, SSE and (where present, within [`FPU_STATE_SIZE`]) AVX for user code on
/// this CPU, and records the state a new thread starts with.
pub fn init() -> FpuMode {
    let leaf1 = __cpuid(1);
    let has_xsave = leaf1.ecx & (1 << 26) != 0;
    let has_avx = leaf1.ecx & (1 << 28) != 0;
    // SAFETY: MP with EM clear makes x87/SSE instructions execute natively (and TS is left
    // clear: no lazy switching); OSFXSR/OSXMMEXCPT declare that the kernel saves SSE state
    // with FXSAVE/XSAVE and handles SIMD exceptions (as user faults). The kernel's own code
    // uses no FPU instructions.
    unsafe {
        Cr0::update(|flags| {
            flags.insert(Cr0Flags::MONITOR_COPROCESSOR);
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|flags| flags.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
    let mut avx = false;
    if has_xsave {
        // SAFETY: XSAVE is advertised by CPUID, so OSXSAVE may be set.
        unsafe { Cr4::update(|flags| flags.insert(Cr4Flags::OSXSAVE)) };
        let mut components = XCr0Flags::X87 | XCr0Flags::SSE;
        avx = has_avx
            && __cpuid_count(0xd, 2).eax + __cpuid_count(0xd, 2).ebx <= FPU_STATE_SIZE as u32;
        if avx {
            components |= XCr0Flags::AVX;
        }
        // SAFETY: only components the CPU advertises are enabled (x87 and SSE always with
        // XSAVE, AVX when CPUID says so), and their area fits in `FpuState` (checked).
        unsafe { XCr0::write(components) };
        USE_XSAVE.store(true, Ordering::Relaxed);
    }
    INITIAL.call_once(initial_state);
    *MODE.call_once(|| FpuMode { xsave: has_xsave, avx })
}

fn initial_state() -> FpuState {
    let mut state = FpuState([0; FPU_STATE_SIZE]);
    state.0[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    // The x87 control word at reset (all exceptions masked, 64-bit precision) is 0x037f;
    // in the save area it is the first word.
    state.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    state
}

impl FpuState {
    /// The state a new thread starts with: registers zero, exceptions masked.
    pub fn initial() -> Self {
        INITIAL.get().cloned().unwrap_or_else(initial_state)
    }

    /// Stores this CPU's FPU registers here.
    pub fn save(&mut self) {
        let area = self.0.as_mut_ptr();
        if USE_XSAVE.load(Ordering::Relaxed) {
            // SAFETY: `area` is 64-byte aligned and large enough for every component XCR0
            // enables (checked in `init`); the mask asks for all of them.
            unsafe {
                core::arch::asm!("xsave64 [{}]", in(reg) area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
            };
        } else {
            // SAFETY: `area` is 16-byte aligned (64 in fact) and at least 512 bytes.
            unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) area, options(nostack)) };
        }
    }

    /// Loads this CPU's FPU registers from here.
    pub fn restore(&self) {
        let area = self.0.as_ptr();
        if USE_XSAVE.load(Ordering::Relaxed) {
            // SAFETY: the area holds either a state saved by `save` or the initial state,
            // whose XSAVE header (bytes 512..576) is zero: XRSTOR then puts every enabled
            // component in its initial configuration and loads MXCSR from the area (the
            // reset value above). Either way every reserved bit is zero, so it cannot fault.
            unsafe {
                core::arch::asm!("xrstor64 [{}]", in(reg) area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
            };
        } else {
            // SAFETY: a state saved by FXSAVE or the initial state; MXCSR's reserved bits
            // are zero in both, so FXRSTOR cannot fault.
            unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) area, options(nostack)) };
        }
    }
}
