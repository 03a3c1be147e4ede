//! Messages: a label, up to [`MAX_WORDS`] words and up to [`MAX_CAPS`] capabilities, sent
//! with the `Call` system call to invoke a kernel object or through an endpoint
//! ([`crate::ipc`]).

use syscall_abi::ipc::{MAX_CAPS, MAX_WORDS, MessageInfo, REGISTER_WORDS};

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
///
/// A message holds up to `N` words, [`MAX_WORDS`] unless said otherwise: the kernel's
/// invocations are built in `Message<INVOCATION_WORDS>`s
/// ([`invocation`](crate::cap::invocation)), which take a fiftieth of the zeroing a
/// 120-word message takes every time one is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<const N: usize = MAX_WORDS> {
    label: u64,
    words: [u64; N],
    len: usize,
    /// To send: capability pointers. Received: the badge of each capability that arrived
    /// unwrapped (bit `i` of `unwrapped`), 0 for one that arrived in the receive slot.
    caps: [u64; MAX_CAPS],
    caps_len: usize,
    unwrapped: u8,
}

/// A message would exceed [`MAX_WORDS`] words (or [`MAX_CAPS`] capabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageFull;

impl Message {
    /// An empty message with `label` (at most [`syscall_abi::ipc::MAX_LABEL`]; higher bits
    /// are dropped by the header encoding).
    pub const fn new(label: u64) -> Self {
        Self::empty(label)
    }

    /// A message with `words`; refused if there are more than [`MAX_WORDS`].
    pub fn with_words(label: u64, words: &[u64]) -> Result<Self, MessageFull> {
        let mut message = Self::new(label);
        for &word in words {
            message.try_push(word)?;
        }
        Ok(message)
    }
}

impl<const N: usize> Message<N> {
    /// An empty message with `label` that holds up to `N` words (at most [`MAX_WORDS`]).
    pub const fn empty(label: u64) -> Self {
        const { assert!(N <= MAX_WORDS) };
        Self { label, words: [0; N], len: 0, caps: [0; MAX_CAPS], caps_len: 0, unwrapped: 0 }
    }

    /// Empties the message and gives it `label`, clearing only what was in use: for a
    /// server that builds every reply in the same message.
    pub fn clear(&mut self, label: u64) {
        self.words[..self.len].fill(0);
        self.label = label;
        self.len = 0;
        self.caps = [0; MAX_CAPS];
        self.caps_len = 0;
        self.unwrapped = 0;
    }

    /// Makes this the message received: what the header `info` says arrived, its words
    /// supplied by `word` in order until it has `info`'s length or answers `None`; of
    /// `unwrapped_badges` (indexed like the capabilities) only those `info` marks
    /// unwrapped are kept. Written in place, so that a server can receive into one
    /// message again and again (a message is 1 KiB, and every copy of it is paid per IPC);
    /// what an earlier, longer message left is cleared.
    pub(crate) fn receive_in_place(
        &mut self,
        info: MessageInfo,
        unwrapped_badges: [u64; MAX_CAPS],
        mut word: impl FnMut(usize) -> Option<u64>,
    ) {
        let earlier = self.len;
        self.label = info.label;
        let mut len = 0;
        for (index, slot) in self.words.iter_mut().enumerate().take(usize::from(info.length)) {
            let Some(value) = word(index) else { break };
            *slot = value;
            len += 1;
        }
        if earlier > len {
            self.words[len..earlier].fill(0);
        }
        self.len = len;
        self.caps = [0; MAX_CAPS];
        self.caps_len = usize::from(info.caps).min(MAX_CAPS);
        self.unwrapped = info.unwrapped;
        for (index, badge) in unwrapped_badges.into_iter().enumerate().take(self.caps_len) {
            if info.unwrapped & (1 << index) != 0 {
                self.caps[index] = badge;
            }
        }
    }

    /// Adds a capability to transfer (the message must go through an endpoint capability
    /// with the grant right for it to arrive); refused once the message has [`MAX_CAPS`].
    pub fn try_push_cap(&mut self, cptr: CPtr) -> Result<(), MessageFull> {
        *self.caps.get_mut(self.caps_len).ok_or(MessageFull)? = cptr.0;
        self.caps_len += 1;
        Ok(())
    }

    /// Adds a capability to transfer, for messages of known shape.
    ///
    /// # Panics
    ///
    /// If the message already carries [`MAX_CAPS`] capabilities.
    #[must_use]
    pub fn push_cap(mut self, cptr: impl Into<CPtr>) -> Self {
        self.try_push_cap(cptr.into()).expect("a message carries at most 3 capabilities");
        self
    }

    /// To send: the capability pointers added. Received: one entry per capability that
    /// arrived, holding the badge of an unwrapped one and 0 for one in the receive slot.
    pub fn caps(&self) -> &[u64] {
        &self.caps[..self.caps_len]
    }

    /// How many capabilities the message carries (received: how many arrived).
    pub const fn cap_count(&self) -> usize {
        self.caps_len
    }

    /// Received: bit `i` is set if capability `i` arrived unwrapped, as its badge.
    pub const fn unwrapped(&self) -> u8 {
        self.unwrapped
    }

    /// Received: the badge of capability `index` if it arrived unwrapped.
    pub fn unwrapped_badge(&self, index: usize) -> Option<u64> {
        (index < self.caps_len && self.unwrapped & (1 << index) != 0).then(|| self.caps[index])
    }

    /// Message word `index`, 0 past the end: handy for fixed-shape protocols.
    pub fn word(&self, index: usize) -> u64 {
        self.words().get(index).copied().unwrap_or(0)
    }

    /// How many words the message has.
    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `word`; refused once the message holds `N` words.
    pub fn try_push(&mut self, word: u64) -> Result<(), MessageFull> {
        *self.words.get_mut(self.len).ok_or(MessageFull)? = word;
        self.len += 1;
        Ok(())
    }

    /// Appends `word`, for building messages of known length.
    ///
    /// # Panics
    ///
    /// If the message already holds `N` words.
    #[must_use]
    pub fn push(mut self, word: u64) -> Self {
        self.try_push(word).expect("no room for another word in the message");
        self
    }

    pub const fn label(&self) -> u64 {
        self.label
    }

    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }

    /// The header of the message: its label, length and capability count (and, received,
    /// which capabilities arrived unwrapped).
    pub const fn info(&self) -> MessageInfo {
        MessageInfo {
            label: self.label & syscall_abi::ipc::MAX_LABEL,
            length: self.len as u8,
            caps: self.caps_len as u8,
            unwrapped: self.unwrapped,
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
    fn caps_count_in_the_header() {
        let message = Message::new(2).push(9).push_cap(CPtr(40)).push_cap(CPtr(41));
        assert_eq!(message.caps(), &[40, 41]);
        assert_eq!(message.info(), MessageInfo::new(2, 1, 2).unwrap());
        let mut full = message.push_cap(CPtr(42));
        assert_eq!(full.try_push_cap(CPtr(43)), Err(MessageFull));
    }

    #[test]
    fn received_messages_keep_only_unwrapped_badges() {
        let info = MessageInfo { label: 5, length: 2, caps: 2, unwrapped: 0b10 };
        let mut fresh = Message::new(0);
        fresh.receive_in_place(info, [11, 22, 33], |index| [7, 8].get(index).copied());
        // Received into a message that held a longer one with a capability: the same.
        let mut message = Message::new(9).push(1).push(2).push(3).push_cap(CPtr(4));
        message.receive_in_place(info, [11, 22, 33], |index| [7, 8].get(index).copied());
        assert_eq!(message, fresh);
        assert_eq!((message.label(), message.words()), (5, &[7, 8][..]));
        assert_eq!(message.caps(), &[0, 22]);
        assert_eq!(message.unwrapped_badge(0), None);
        assert_eq!(message.unwrapped_badge(1), Some(22));
        assert_eq!(message.unwrapped_badge(2), None);
        assert_eq!(message.info(), info);
        assert_eq!((message.word(1), message.word(5), message.len()), (8, 0, 2));
    }

    #[test]
    fn a_cleared_message_is_a_new_one() {
        let mut message = Message::new(3).push(1).push(2).push_cap(CPtr(4));
        message.clear(7);
        assert_eq!(message, Message::new(7));
    }

    #[test]
    fn the_header_encodes_label_and_length() {
        let message = Message::new(11).push(1).push(2).push(3);
        let info = MessageInfo::from_word(message.info().to_word()).unwrap();
        assert_eq!((info.label, info.length, info.caps), (11, 3, 0));
    }
}
