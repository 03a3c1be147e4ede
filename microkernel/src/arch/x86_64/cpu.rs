//! What this CPU offers (from CPUID), and turning on the protections the kernel relies on.

use core::arch::x86_64::{__cpuid_count, CpuidResult};
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// The CPU features the kernel asks about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// No-execute page protection (EFER.NXE).
    pub nx: bool,
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
    /// User-mode instruction prevention (`sgdt`, `sidt`, ... fault in ring 3).
    pub umip: bool,
    /// Process-context identifiers.
    pub pcid: bool,
}

fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    __cpuid_count(leaf, subleaf)
}

impl CpuFeatures {
    /// Reads the features from CPUID.
    pub fn detect() -> Self {
        let max_leaf = cpuid(0, 0).eax;
        let max_extended_leaf = cpuid(0x8000_0000, 0).eax;
        let leaf1 = cpuid(1, 0);
        let leaf7 = if max_leaf >= 7 {
            cpuid(7, 0)
        } else {
            CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 }
        };
        let extended1 = if max_extended_leaf >= 0x8000_0001 {
            cpuid(0x8000_0001, 0)
        } else {
            CpuidResult { eax: 0, ebx: 0, ecx: 0, edx: 0 }
        };
        Self {
            nx: extended1.edx & (1 << 20) != 0,
            smep: leaf7.ebx & (1 << 7) != 0,
            smap: leaf7.ebx & (1 << 20) != 0,
            umip: leaf7.ecx & (1 << 2) != 0,
            pcid: leaf1.ecx & (1 << 17) != 0,
        }
    }
}

/// Turns on every protection `features` offers: NX, SMEP, SMAP and UMIP. Page tables
/// built after this may use the no-execute bit.
pub fn enable_protections(features: &CpuFeatures) {
    if features.nx {
        // SAFETY: setting NXE only makes bit 63 of page-table entries meaningful; no
        // entry sets it yet, so no mapping changes.
        unsafe { Efer::update(|flags| flags.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    }
    let mut wanted = Cr4Flags::empty();
    wanted.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, features.smep);
    wanted.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, features.smap);
    wanted.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, features.umip);
    // No user mapping exists yet, and the kernel reaches user memory only through
    // `usercopy`, which brackets the access with `stac`/`clac`.
    // SAFETY: these bits only restrict what the kernel may do with user pages (execute,
    // access without `stac`) and what user code may execute.
    unsafe { Cr4::update(|flags| flags.insert(wanted)) };
}

/// Whether SMAP is on, so that user accesses must be bracketed by `stac`/`clac`.
pub fn smap_enabled() -> bool {
    Cr4::read().contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION)
}
