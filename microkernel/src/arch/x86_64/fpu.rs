//! User threads' floating-point and SIMD registers.
//!
//! The kernel itself never touches them (it is built soft-float), so a thread's FPU state
//! stays in the registers until another thread actually uses the FPU: switching threads
//! only sets CR0.TS when the incoming thread is not the state's owner (and only if it was
//! clear), and the first FPU instruction of a non-owner traps (#NM) to move the state.
//! Threads that never use the FPU — most servers — never cost an FPU save, a restore or
//! a CR0 write. XSAVE is used where the CPU has it (x87, SSE and AVX state), FXSAVE
//! otherwise.

use super::phys::{window_address, window_covers};
use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel_core::fpu_word;
use kernel_core::memory::PhysRange;
use spin::Once;
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::xcontrol::{XCr0, XCr0Flags};

/// Bytes reserved for one thread's state: the legacy area and XSAVE header (576) plus AVX
/// (256), rounded up.
pub const FPU_STATE_SIZE: usize = 1024;
/// The MXCSR value at reset: all SIMD exceptions masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1f80;
/// Offset of MXCSR in the legacy save area.
const MXCSR_OFFSET: usize = 24;

static USE_XSAVE: AtomicBool = AtomicBool::new(false);
static MODE: Once<FpuMode> = Once::new();

/// What `init` turned on, for tests.
#[cfg(feature = "ktest")]
pub fn init_mode() -> FpuMode {
    MODE.get().copied().unwrap_or(FpuMode { xsave: false, avx: false })
}

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
    // MP with EM clear makes x87/SSE instructions execute natively (TS stays clear: no lazy
    // switching); the kernel's own code uses no FPU instructions.
    // SAFETY: OSFXSR/OSXMMEXCPT declare what is true: the kernel saves SSE state with
    // FXSAVE/XSAVE and handles SIMD exceptions (as user faults).
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
        // XSAVE, AVX when CPUID says so), and their area fits in FPU_STATE_SIZE (checked).
        unsafe { XCr0::write(components) };
        USE_XSAVE.store(true, Ordering::Relaxed);
    }
    *MODE.call_once(|| FpuMode { xsave: has_xsave, avx })
}

/// The image a thread's FPU area starts as: every register zero, all exceptions masked
/// (x87 control word 0x037f, MXCSR 0x1f80), an empty XSAVE header.
fn initial_image() -> [u8; FPU_STATE_SIZE] {
    let mut image = [0u8; FPU_STATE_SIZE];
    image[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    image[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    image
}

/// The window address of a thread's FPU area, checked: mapped, 64-byte aligned, whole.
fn area(phys: PhysAddr) -> *mut u8 {
    let range = PhysRange::from_start_len(phys.as_u64(), FPU_STATE_SIZE as u64);
    assert!(phys.is_aligned(64u64) && window_covers(range), "bad FPU area {range:x?}");
    window_address(phys).as_mut_ptr::<u8>()
}

/// The thread whose FPU/SIMD registers this CPU holds, as the token [`set_owner`] was
/// given (0: none). The per-CPU word is `kernel_core::fpu_word`'s.
pub fn owner() -> u64 {
    fpu_word::owner(super::percpu::fpu_word())
}

/// Records `token` (a TCB address, 0 for none) as the thread whose FPU/SIMD registers this
/// CPU holds.
pub fn set_owner(token: u64) {
    debug_assert!(fpu_word::owner(token) == token, "FPU owner token {token:#x} is not aligned");
    let word = super::percpu::fpu_word();
    super::percpu::set_fpu_word(fpu_word::word(token, fpu_word::traps(word)));
}

/// Whether running the thread with `token` needs no change of the trap setting: it traps
/// now exactly when that thread does not own the FPU registers. One read, for the IPC
/// fastpath, which never writes CR0.
#[inline(always)]
pub fn trap_setting_fits(token: u64) -> bool {
    fpu_word::trap_setting_fits(super::percpu::fpu_word(), token)
}

/// Makes the next FPU instruction trap (#NM) or not: set when the running thread does not
/// own the state in the FPU registers. Writes CR0 only when the setting changes.
pub fn trap_on_use(trap: bool) {
    let word = super::percpu::fpu_word();
    if fpu_word::traps(word) == trap {
        return;
    }
    super::percpu::set_fpu_word(fpu_word::word(fpu_word::owner(word), trap));
    // SAFETY: TS only makes FPU/SIMD instructions trap with #NM, which the kernel handles
    // by moving the FPU state to the thread that trapped; the kernel uses no such
    // instructions except `save`/`restore`, which run with TS clear.
    unsafe {
        Cr0::update(|flags| flags.set(Cr0Flags::TASK_SWITCHED, trap));
    }
}

/// Makes the FPU area at `phys` (inside a TCB being created) hold the initial state.
pub fn reset(phys: PhysAddr) {
    let image = initial_image();
    // SAFETY: `area` checked the memory is mapped and whole; it is the FPU area of a TCB
    // being created, which nothing else refers to.
    unsafe { core::ptr::copy_nonoverlapping(image.as_ptr(), area(phys), FPU_STATE_SIZE) };
}

/// Stores this CPU's FPU registers into the area at `phys` (a TCB's).
pub fn save(phys: PhysAddr) {
    let target = area(phys);
    if USE_XSAVE.load(Ordering::Relaxed) {
        // The area belongs to the TCB whose registers these are; no word view of it is in
        // use meanwhile (one CPU in the kernel).
        // SAFETY: the area is 64-byte aligned and large enough for every component XCR0
        // enables (checked in `init`).
        unsafe {
            core::arch::asm!("xsave64 [{}]", in(reg) target, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: as above; FXSAVE needs 512 bytes at 16-byte alignment.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) target, options(nostack)) };
    }
}

/// Loads this CPU's FPU registers from the area at `phys`.
pub fn restore(phys: PhysAddr) {
    let source = area(phys);
    if USE_XSAVE.load(Ordering::Relaxed) {
        // SAFETY: the area holds a state `save` wrote or the initial image (XSAVE header
        // zero: every component goes to its initial configuration, MXCSR is loaded from
        // the image); reserved bits are zero in both, so XRSTOR cannot fault.
        unsafe {
            core::arch::asm!("xrstor64 [{}]", in(reg) source, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack))
        };
    } else {
        // SAFETY: a state FXSAVE wrote or the initial image; MXCSR's reserved bits are
        // zero in both, so FXRSTOR cannot fault.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) source, options(nostack)) };
    }
}
