//! Messages: a label and up to [`MAX_WORDS`] words, sent with the `Call` system call.

use syscall_abi::ipc::{MAX_WORDS, MessageInfo, REGISTER_WORDS};

use crate::Error;
use crate::cap::CPtr;

/// A message to send: its label and words, built up with [`push`](Self::push).
///
/// ```ignore
/// use libasi::message::Message;
///
/// let message = Message::new(14).push(7).push(64);
/// assert_eq!(message.label(), 14);
/// assert_eq!(message.words(), &[7, 64]);
/// assert_eq!(message.info().length, 2);
/// ```
///
/// (Not a doctest: on the host libasi's panic handler clashes with std's; the unit
/// tests check the same.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    label: u64,
    words: [u64; MAX_WORDS],
    len: usize,
}

/// A message would exceed [`MAX_WORDS`] words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageFull;

impl Message {
    /// An empty message with `label` (at most [`syscall_abi::ipc::MAX_LABEL`]; higher bits
    /// are dropped by the header encoding).
    pub const fn new(label: u64) -> Self {
        Self { label, words: [0; MAX_WORDS], len: 0 }
    }

    /// A message with `words`; refused if there are more than [`MAX_WORDS`].
    pub fn with_words(label: u64, words: &[u64]) -> Result<Self, MessageFull> {
        let mut message = Self::new(label);
        for &word in words {
            message.try_push(word)?;
        }
        Ok(message)
    }

    /// Appends `word`; refused once the message holds [`MAX_WORDS`].
    pub fn try_push(&mut self, word: u64) -> Result<(), MessageFull> {
        *self.words.get_mut(self.len).ok_or(MessageFull)? = word;
        self.len += 1;
        Ok(())
    }

    /// Appends `word`, for building messages of known length.
    ///
    /// # Panics
    ///
    /// If the message already holds [`MAX_WORDS`] words.
    #[must_use]
    pub fn push(mut self, word: u64) -> Self {
        self.try_push(word).expect("a message holds at most 120 words");
        self
    }

    pub const fn label(&self) -> u64 {
        self.label
    }

    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }

    /// The header sent with the message: its label and length, no capabilities.
    pub const fn info(&self) -> MessageInfo {
        MessageInfo {
            label: self.label & syscall_abi::ipc::MAX_LABEL,
            length: self.len as u8,
            caps: 0,
            unwrapped: 0,
        }
    }

    /// Invokes the capability at `cptr` with this message: the kernel's `rdx` on success.
    ///
    /// A message of more than four words goes partly through the IPC buffer; if its address
    /// is not yet known, this asks for the boot information first (which records it), and
    /// fails with [`Error::NoIpcBuffer`] if that is refused.
    pub fn call(&self, cptr: CPtr) -> Result<u64, Error> {
        self.call_with_info(cptr, self.info().to_word())
    }

    /// As [`call`](Self::call), but with `info` as the header word whatever the message
    /// holds: for tests that send a header that disagrees with the words.
    pub fn call_with_info(&self, cptr: CPtr, info: u64) -> Result<u64, Error> {
        if self.len > REGISTER_WORDS && crate::syscall::ipc_buffer_address().is_none() {
            crate::boot::info().map_err(|_| Error::NoIpcBuffer)?;
            if crate::syscall::ipc_buffer_address().is_none() {
                return Err(Error::NoIpcBuffer);
            }
        }
        // SAFETY: the IPC buffer's address came from the kernel's boot information, which
        // says it is mapped writable for this thread; nothing in libasi holds a reference
        // into it, and a thread has only one call in flight.
        let raw = unsafe { crate::syscall::call(cptr.0, info, self.words()) };
        raw.result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_kept_in_order_up_to_the_limit() {
        let words: Vec<u64> = (0..MAX_WORDS as u64).collect();
        let message = Message::with_words(3, &words).unwrap();
        assert_eq!(message.words(), &words[..]);
        assert_eq!(message.info(), MessageInfo::new(3, MAX_WORDS, 0).unwrap());
        let mut full = message;
        assert_eq!(full.try_push(0), Err(MessageFull));
        assert_eq!(Message::with_words(0, &[0; MAX_WORDS + 1]), Err(MessageFull));
    }

    #[test]
    fn the_header_encodes_label_and_length() {
        let message = Message::new(11).push(1).push(2).push(3);
        let info = MessageInfo::from_word(message.info().to_word()).unwrap();
        assert_eq!((info.label, info.length, info.caps), (11, 3, 0));
    }
}
