//! Messages: how an IPC or an object invocation travels between user space and the
//! kernel.
//!
//! Registers on `syscall` (x86_64):
//!
//! | register | in | out |
//! | --- | --- | --- |
//! | `rax` | [`Syscall`](crate::Syscall) number | status: 0 or a [`SyscallError`](crate::SyscallError) code |
//! | `rdx` | — | detail of an error (see the error), else 0 |
//! | `rdi` | capability pointer to invoke or receive on | badge of the sender |
//! | `rsi` | [`MessageInfo`] of the message sent | [`MessageInfo`] of the message received |
//! | `r10`, `r8`, `r9`, `r15` | message words 0–3 | message words 0–3 |
//!
//! Words 4 and up, capability pointers to send and where to put received capabilities go
//! through the thread's IPC buffer ([`ipc_buffer`]). A register-only message (at most
//! [`REGISTER_WORDS`] words, no capabilities) never touches memory: that is the fast path.

/// Message words carried in registers.
pub const REGISTER_WORDS: usize = 4;
/// The most words one message carries (the rest of the IPC buffer's words).
pub const MAX_WORDS: usize = 120;
/// The most capabilities one message carries.
pub const MAX_CAPS: usize = 3;

const LENGTH_BITS: u32 = 7;
const CAPS_BITS: u32 = 2;
const UNWRAPPED_BITS: u32 = 3;
const LABEL_SHIFT: u32 = LENGTH_BITS + CAPS_BITS + UNWRAPPED_BITS;
/// The largest label: 52 bits.
pub const MAX_LABEL: u64 = (1 << (64 - LABEL_SHIFT)) - 1;

/// A message's header: what it is (`label`, chosen by the sender), how many words and
/// capabilities it carries, and — on receipt — which capabilities arrived as badges of
/// the receiver's own endpoint instead of as new capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo {
    pub label: u64,
    pub length: u8,
    pub caps: u8,
    pub unwrapped: u8,
}

/// A header field is out of its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidMessageInfo;

impl MessageInfo {
    /// A header for `length` words and `caps` capabilities; checked.
    pub const fn new(label: u64, length: usize, caps: usize) -> Result<Self, InvalidMessageInfo> {
        if label > MAX_LABEL || length > MAX_WORDS || caps > MAX_CAPS {
            return Err(InvalidMessageInfo);
        }
        Ok(Self { label, length: length as u8, caps: caps as u8, unwrapped: 0 })
    }

    /// For the header word of a message being sent: if the message is register-only (at
    /// most [`REGISTER_WORDS`] words, no capabilities), its length and the header word its
    /// receiver gets (the same, with no capabilities unwrapped). The IPC fastpath's first
    /// test, so one mask and one comparison.
    #[inline(always)]
    pub const fn register_only(word: u64) -> Option<(usize, u64)> {
        const LENGTH_AND_CAPS: u64 = (1 << (LENGTH_BITS + CAPS_BITS)) - 1;
        const UNWRAPPED: u64 = ((1 << UNWRAPPED_BITS) - 1) << (LENGTH_BITS + CAPS_BITS);
        let length = word & LENGTH_AND_CAPS;
        if length <= REGISTER_WORDS as u64 {
            Some((length as usize, word & !UNWRAPPED))
        } else {
            None
        }
    }

    /// The register encoding.
    pub const fn to_word(self) -> u64 {
        (self.label << LABEL_SHIFT)
            | ((self.unwrapped as u64) << (LENGTH_BITS + CAPS_BITS))
            | ((self.caps as u64) << LENGTH_BITS)
            | self.length as u64
    }

    /// Decodes a register; a length above [`MAX_WORDS`] is refused rather than clamped, so
    /// a sender learns it asked for too much.
    pub const fn from_word(word: u64) -> Result<Self, InvalidMessageInfo> {
        let length = word & ((1 << LENGTH_BITS) - 1);
        if length as usize > MAX_WORDS {
            return Err(InvalidMessageInfo);
        }
        Ok(Self {
            label: word >> LABEL_SHIFT,
            length: length as u8,
            caps: ((word >> LENGTH_BITS) & ((1 << CAPS_BITS) - 1)) as u8,
            unwrapped: ((word >> (LENGTH_BITS + CAPS_BITS)) & ((1 << UNWRAPPED_BITS) - 1)) as u8,
        })
    }
}

/// The IPC buffer: one per thread, in a frame the thread registers with its TCB, at a
/// 1 KiB-aligned address. Offsets are in 64-bit words.
pub mod ipc_buffer {
    use super::{MAX_CAPS, MAX_WORDS};

    /// The buffer's size in bytes, and its required alignment.
    pub const SIZE: usize = 1024;
    /// The message header, as a [`MessageInfo`](super::MessageInfo) word.
    pub const TAG: usize = 0;
    /// Message word `i` lives at `MESSAGE + i` (words 0–3 also travel in registers).
    pub const MESSAGE: usize = 1;
    /// A word the kernel never touches, for the thread's own use.
    pub const USER_DATA: usize = MESSAGE + MAX_WORDS;
    /// On send: the capability pointers of the capabilities to transfer. On receive: the
    /// badges of capabilities that arrived unwrapped.
    pub const CAPS_OR_BADGES: usize = USER_DATA + 1;
    /// Where received capabilities go: a CNode (pointer, resolved in the receiver's
    /// CSpace), a slot index in it and the depth to resolve it with.
    pub const RECEIVE_CNODE: usize = CAPS_OR_BADGES + MAX_CAPS;
    pub const RECEIVE_INDEX: usize = RECEIVE_CNODE + 1;
    pub const RECEIVE_DEPTH: usize = RECEIVE_INDEX + 1;
    /// Words used; the rest of [`SIZE`] is reserved.
    pub const WORDS: usize = RECEIVE_DEPTH + 1;

    const _: () = assert!(WORDS * 8 <= SIZE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_a_register() {
        let cases = [(0, 0, 0), (7, 4, 0), (MAX_LABEL, MAX_WORDS, MAX_CAPS), (0x1234, 17, 2)];
        for (label, length, caps) in cases {
            let info = MessageInfo::new(label, length, caps).unwrap();
            assert_eq!(MessageInfo::from_word(info.to_word()), Ok(info));
        }
        let unwrapped = MessageInfo { label: 3, length: 1, caps: 3, unwrapped: 0b101 };
        assert_eq!(MessageInfo::from_word(unwrapped.to_word()), Ok(unwrapped));
    }

    #[test]
    fn register_only_agrees_with_the_full_decode() {
        let lengths = [0, 1, 3, 4, 5, 16, MAX_WORDS];
        for label in [0, 1, 0x1234, MAX_LABEL] {
            for length in lengths {
                for caps in 0..=MAX_CAPS {
                    for unwrapped in [0, 0b101, 0b111] {
                        let info = MessageInfo {
                            label,
                            length: length as u8,
                            caps: caps as u8,
                            unwrapped,
                        };
                        let want = (length <= REGISTER_WORDS && caps == 0)
                            .then(|| (length, MessageInfo { unwrapped: 0, ..info }.to_word()));
                        assert_eq!(MessageInfo::register_only(info.to_word()), want, "{info:?}");
                    }
                }
            }
        }
        assert_eq!(MessageInfo::register_only(127), None);
    }

    #[test]
    fn out_of_range_headers_are_refused() {
        assert_eq!(MessageInfo::new(MAX_LABEL + 1, 0, 0), Err(InvalidMessageInfo));
        assert_eq!(MessageInfo::new(0, MAX_WORDS + 1, 0), Err(InvalidMessageInfo));
        assert_eq!(MessageInfo::new(0, 0, MAX_CAPS + 1), Err(InvalidMessageInfo));
        assert_eq!(MessageInfo::from_word(127), Err(InvalidMessageInfo));
    }

    #[test]
    fn buffer_fields_do_not_overlap() {
        use ipc_buffer::*;
        let fields =
            [TAG, MESSAGE, USER_DATA, CAPS_OR_BADGES, RECEIVE_CNODE, RECEIVE_INDEX, RECEIVE_DEPTH];
        assert!(fields.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(USER_DATA - MESSAGE, MAX_WORDS);
        assert_eq!(RECEIVE_CNODE - CAPS_OR_BADGES, MAX_CAPS);
    }
}
