//! Side-channel mitigation settings: the mode the kernel command line chooses, and which
//! flush mechanisms the CPU offers (read from CPUID words, so the choice is host-tested).

use crate::cmdline::kernel_option;

/// `mitigations=` on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mitigations {
    /// No flushes (the default).
    Off,
    /// Everything mapped, a branch-predictor barrier (IBPB) on every kernel entry from
    /// user mode, an L1D flush and a CPU-buffer clear (VERW) on every exit to it: the
    /// baseline that address space isolation must beat.
    Blanket,
}

impl Mitigations {
    /// The mode `line` (the whole kernel command line) asks for: [`Mitigations::Off`]
    /// without the option, `Err` with the value for one that names no mode.
    pub fn from_command_line(line: &str) -> Result<Self, &str> {
        match kernel_option(line, "mitigations") {
            None | Some("off") => Ok(Self::Off),
            Some("blanket") => Ok(Self::Blanket),
            Some(other) => Err(other),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Blanket => "blanket",
        }
    }
}

/// `asi=` on the kernel command line: whether the kernel runs in restricted address spaces
/// (address space isolation), which leave sensitive memory out of the physical window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asi {
    /// Restricted address spaces, left for the unrestricted ones only when the kernel
    /// touches sensitive memory (the default).
    On,
    /// Every address space maps all memory: the restricted tables equal the unrestricted.
    Off,
}

impl Asi {
    /// The setting `line` (the whole kernel command line) asks for: [`Asi::On`] without
    /// the option, `Err` with the value for one that names no setting.
    pub fn from_command_line(line: &str) -> Result<Self, &str> {
        match kernel_option(line, "asi") {
            None | Some("on") => Ok(Self::On),
            Some("off") => Ok(Self::Off),
            Some(other) => Err(other),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// The flush mechanisms a CPU advertises. The kernel never writes an MSR the CPU does not
/// advertise: without the L1D-flush MSR it flushes L1D in software; without IBPB or
/// MD_CLEAR there is no equivalent, and the boot log says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushSupport {
    /// `IA32_PRED_CMD` (MSR 0x49) bit 0: an indirect branch prediction barrier.
    pub ibpb: bool,
    /// `IA32_FLUSH_CMD` (MSR 0x10B) bit 0: write back and invalidate L1D.
    pub l1d_flush: bool,
    /// `VERW` clears CPU buffers (MD_CLEAR).
    pub md_clear: bool,
    /// Process-context identifiers.
    pub pcid: bool,
}

/// CPUID words the mechanisms are read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidWords {
    /// Leaf 1, ECX.
    pub leaf1_ecx: u32,
    /// Leaf 7 subleaf 0, EDX (0 when the CPU has no leaf 7).
    pub leaf7_edx: u32,
    /// Leaf 0x8000_0008, EBX (0 when absent).
    pub extended8_ebx: u32,
}

impl FlushSupport {
    pub const fn from_cpuid(words: CpuidWords) -> Self {
        const LEAF1_PCID: u32 = 1 << 17;
        const LEAF7_MD_CLEAR: u32 = 1 << 10;
        const LEAF7_IBRS_IBPB: u32 = 1 << 26;
        const LEAF7_L1D_FLUSH: u32 = 1 << 28;
        const EXTENDED8_IBPB: u32 = 1 << 12;
        Self {
            ibpb: words.leaf7_edx & LEAF7_IBRS_IBPB != 0
                || words.extended8_ebx & EXTENDED8_IBPB != 0,
            l1d_flush: words.leaf7_edx & LEAF7_L1D_FLUSH != 0,
            md_clear: words.leaf7_edx & LEAF7_MD_CLEAR != 0,
            pcid: words.leaf1_ecx & LEAF1_PCID != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_chooses_the_mode() {
        assert_eq!(Mitigations::from_command_line("/kernel"), Ok(Mitigations::Off));
        assert_eq!(Mitigations::from_command_line("/k mitigations=off"), Ok(Mitigations::Off));
        assert_eq!(
            Mitigations::from_command_line("/k mitigations=blanket"),
            Ok(Mitigations::Blanket)
        );
        assert_eq!(
            Mitigations::from_command_line("/k mitigations=blanket mitigations=off"),
            Ok(Mitigations::Off)
        );
        assert_eq!(Mitigations::from_command_line("/k mitigations=all"), Err("all"));
    }

    #[test]
    fn the_command_line_chooses_asi() {
        assert_eq!(Asi::from_command_line("/kernel"), Ok(Asi::On));
        assert_eq!(Asi::from_command_line("/k mitigations=blanket"), Ok(Asi::On));
        assert_eq!(Asi::from_command_line("/k asi=on"), Ok(Asi::On));
        assert_eq!(Asi::from_command_line("/k asi=off mitigations=off"), Ok(Asi::Off));
        assert_eq!(Asi::from_command_line("/k asi=off asi=on"), Ok(Asi::On));
        assert_eq!(Asi::from_command_line("/k asi=maybe"), Err("maybe"));
        assert_eq!((Asi::On.name(), Asi::Off.name()), ("on", "off"));
    }

    #[test]
    fn cpuid_bits_name_the_mechanisms() {
        assert_eq!(
            FlushSupport::from_cpuid(CpuidWords::default()),
            FlushSupport { ibpb: false, l1d_flush: false, md_clear: false, pcid: false }
        );
        let intel = CpuidWords {
            leaf1_ecx: 1 << 17,
            leaf7_edx: (1 << 10) | (1 << 26) | (1 << 28),
            extended8_ebx: 0,
        };
        assert_eq!(
            FlushSupport::from_cpuid(intel),
            FlushSupport { ibpb: true, l1d_flush: true, md_clear: true, pcid: true }
        );
        let amd = CpuidWords { leaf1_ecx: 0, leaf7_edx: 0, extended8_ebx: 1 << 12 };
        assert!(FlushSupport::from_cpuid(amd).ibpb);
        let neighbours = CpuidWords {
            leaf1_ecx: !(1 << 17),
            leaf7_edx: !((1 << 10) | (1 << 26) | (1 << 28)),
            extended8_ebx: !(1 << 12),
        };
        assert_eq!(
            FlushSupport::from_cpuid(neighbours),
            FlushSupport { ibpb: false, l1d_flush: false, md_clear: false, pcid: false }
        );
    }
}
