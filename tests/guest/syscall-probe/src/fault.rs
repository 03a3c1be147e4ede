//! The `fault=<kind>` runs: a fault the kernel must answer by ending the thread.

use core::arch::asm;

/// A CPU exception raised in ring 3.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// #PF: a store to an unmapped page.
    Page,
    /// #GP: a privileged instruction.
    GeneralProtection,
    /// #UD: an undefined opcode.
    InvalidOpcode,
    /// #DE: a division by zero.
    Divide,
}

impl Fault {
    /// The fault a `fault=<kind>` argument names.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "page" => Some(Self::Page),
            "gp" => Some(Self::GeneralProtection),
            "ud" => Some(Self::InvalidOpcode),
            "div" => Some(Self::Divide),
            _ => None,
        }
    }

    /// The `<kind>` in `fault=<kind>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::GeneralProtection => "gp",
            Self::InvalidOpcode => "ud",
            Self::Divide => "div",
        }
    }

    /// Raises the fault. Each instruction faults before it has any effect, and the
    /// kernel resumes a fault at the faulting instruction if at all, so returning means
    /// the kernel skipped it.
    pub fn raise(self) {
        match self {
            // SAFETY: the program is linked at 0x200000 and the kernel maps nothing in
            // the page at 0, so the store faults and writes nothing.
            Self::Page => unsafe {
                asm!("mov byte ptr [{address}], 0", address = in(reg) 0_u64, options(nostack));
            },
            // SAFETY: `hlt` at CPL 3 raises #GP instead of halting; it touches no memory
            // or register.
            Self::GeneralProtection => unsafe { asm!("hlt", options(nomem, nostack)) },
            // SAFETY: `ud2` only raises #UD.
            Self::InvalidOpcode => unsafe { asm!("ud2", options(nomem, nostack)) },
            // SAFETY: dividing by a zero register raises #DE before rax and rdx change;
            // both are declared clobbered all the same.
            Self::Divide => unsafe {
                asm!(
                    "div {divisor}",
                    divisor = in(reg) 0_u64,
                    inout("rax") 1_u64 => _,
                    inout("rdx") 0_u64 => _,
                    options(nomem, nostack),
                );
            },
        }
    }
}
