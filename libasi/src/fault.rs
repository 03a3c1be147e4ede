//! Fault messages: what a thread's fault endpoint receives when the thread faults
//! ([`syscall_abi::fault`]), decoded.
//!
//! A handler receives on the fault endpoint like on any other; the badge is that of the
//! faulting thread's fault endpoint capability. It may fix the cause (map the page, move
//! `rip` on with [`Cap<Tcb>::write_registers`](crate::cap::Cap)) and answer with
//! [`FaultMessage::resume`] to let the thread go on, or not answer to leave it stopped.

pub use syscall_abi::fault::FaultKind;
use syscall_abi::fault::words;

use crate::message::Message;

/// Exception vectors a fault message may carry.
pub mod vector {
    pub const DIVIDE_ERROR: u64 = 0;
    pub const INVALID_OPCODE: u64 = 6;
    pub const GENERAL_PROTECTION: u64 = 13;
    pub const PAGE_FAULT: u64 = 14;
}

/// A decoded fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMessage {
    pub kind: FaultKind,
    /// The exception vector, or the unknown system call's number.
    pub code: u64,
    /// The exception's error code (0 where there is none).
    pub error: u64,
    /// The faulting address of a page fault (0 otherwise).
    pub address: u64,
    /// The faulting instruction (after an unknown system call: the next one).
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
}

/// A message is not a fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFault {
    /// The label names no [`FaultKind`].
    Label(u64),
    /// It has fewer than [`words::COUNT`] words (the receiver has no IPC buffer: only the
    /// first four arrived).
    Length(usize),
}

impl FaultMessage {
    /// Decodes `message` as a fault message.
    pub fn decode(message: &Message) -> Result<Self, NotAFault> {
        let kind =
            FaultKind::from_label(message.label()).ok_or(NotAFault::Label(message.label()))?;
        if message.len() < words::COUNT {
            return Err(NotAFault::Length(message.len()));
        }
        let word = |index| message.word(index);
        Ok(Self {
            kind,
            code: word(words::CODE),
            error: word(words::ERROR),
            address: word(words::ADDRESS),
            rip: word(words::RIP),
            rsp: word(words::RSP),
            rflags: word(words::RFLAGS),
        })
    }

    /// A CPU exception with vector `vector`?
    pub fn is_exception(&self, vector: u64) -> bool {
        self.kind == FaultKind::Exception && self.code == vector
    }

    /// The reply that resumes the faulted thread (label 0, no words).
    pub const fn resume() -> Message {
        Message::new(0)
    }

    /// A reply that leaves the faulted thread stopped (any label but 0).
    pub const fn stop() -> Message {
        Message::new(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_faults_decode_word_by_word() {
        let message = Message::with_words(
            FaultKind::Exception.label(),
            &[14, 6, 0xdead_0000, 0x20_1234, 0x7000, 0x202],
        )
        .unwrap();
        let fault = FaultMessage::decode(&message).unwrap();
        assert_eq!(
            fault,
            FaultMessage {
                kind: FaultKind::Exception,
                code: 14,
                error: 6,
                address: 0xdead_0000,
                rip: 0x20_1234,
                rsp: 0x7000,
                rflags: 0x202,
            }
        );
        assert!(fault.is_exception(vector::PAGE_FAULT));
        assert!(!fault.is_exception(vector::INVALID_OPCODE));
    }

    #[test]
    fn unknown_syscalls_carry_the_number() {
        let message = Message::with_words(
            FaultKind::UnknownSyscall.label(),
            &[99, 0, 0, 0x20_0002, 0x7000, 0x202],
        )
        .unwrap();
        let fault = FaultMessage::decode(&message).unwrap();
        assert_eq!((fault.kind, fault.code), (FaultKind::UnknownSyscall, 99));
        assert!(!fault.is_exception(99));
    }

    #[test]
    fn other_messages_are_not_faults() {
        let message = Message::with_words(7, &[0; 6]).unwrap();
        assert_eq!(FaultMessage::decode(&message), Err(NotAFault::Label(7)));
        let short = Message::with_words(1, &[14, 0, 0, 0]).unwrap();
        assert_eq!(FaultMessage::decode(&short), Err(NotAFault::Length(4)));
        assert_eq!(FaultMessage::resume().label(), 0);
        assert_ne!(FaultMessage::stop().label(), 0);
    }
}
