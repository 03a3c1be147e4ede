//! Faults as messages: when a thread with a fault endpoint faults, the kernel sends a
//! message on that endpoint on the thread's behalf, as if the thread had called it, and
//! the thread waits for the reply.
//!
//! The message's label is a [`FaultKind`]; its words are laid out as [`words`] says; the
//! badge is that of the thread's fault endpoint capability. Replying with label 0 resumes
//! the thread where it faulted (re-executing the faulting instruction, unless the handler
//! first moved it on with `TcbWriteRegisters`); replying with any other label, or not at
//! all, leaves it stopped. A thread without a fault endpoint (capability pointer 0, or one
//! that does not resolve to an endpoint with the write right) is stopped and the kernel
//! logs the fault.

/// What went wrong, as the fault message's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum FaultKind {
    /// A CPU exception in user mode: page fault, general protection, invalid opcode,
    /// divide error, and the rest.
    Exception = 1,
    /// A `syscall` with a number the kernel does not know.
    UnknownSyscall = 2,
}

impl FaultKind {
    pub const fn from_label(label: u64) -> Option<Self> {
        match label {
            1 => Some(Self::Exception),
            2 => Some(Self::UnknownSyscall),
            _ => None,
        }
    }

    pub const fn label(self) -> u64 {
        self as u64
    }
}

/// The words of a fault message.
pub mod words {
    /// The exception vector, or the unknown system call's number.
    pub const CODE: usize = 0;
    /// The exception's error code (0 where it has none).
    pub const ERROR: usize = 1;
    /// The faulting address of a page fault (0 otherwise).
    pub const ADDRESS: usize = 2;
    /// The instruction pointer of the faulting instruction (for an unknown system call,
    /// of the instruction after it).
    pub const RIP: usize = 3;
    /// The stack pointer at the fault.
    pub const RSP: usize = 4;
    /// The flags at the fault.
    pub const RFLAGS: usize = 5;
    /// How many words a fault message has.
    pub const COUNT: usize = 6;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for kind in [FaultKind::Exception, FaultKind::UnknownSyscall] {
            assert_eq!(FaultKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(FaultKind::from_label(0), None);
    }
}
