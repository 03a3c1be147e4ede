//! The protocols of the servers `init` starts, in one place for both sides of each.
//!
//! Every request is a `Call` on a badged endpoint capability: the badge says who is
//! asking ([`badge`]), the label what ([`console`], [`echo`]), and the reply's label
//! whether it worked ([`OK`], [`REFUSED`]). Text travels as [`Text`] words: the length
//! in bytes, then the bytes packed eight to a word, little-endian.
//!
//! Each server finds the capabilities `init` handed it in its granted slots
//! (`libasi::process::granted(i)`), in the order the `grants` modules below list.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

/// The most words one message carries.
pub use syscall_abi::ipc::MAX_WORDS;

/// A reply's label: the request was carried out.
pub const OK: u64 = 0;
/// A reply's label: the request was malformed or unknown.
pub const REFUSED: u64 = 1;

/// Who is asking: the badges `init` mints on the capabilities it hands out.
pub mod badge {
    pub const INIT: u64 = 1;
    pub const ECHO: u64 = 2;
    pub const CLIENT: u64 = 3;
    /// The console's own badge: only on its fault endpoint (no one calls as the console).
    pub const CONSOLE: u64 = 4;
    /// memsrv's badge: only on its fault endpoint (its clients carry memsrv's own badges).
    pub const MEMSRV: u64 = 5;
    /// Set on the badge of a process's fault endpoint capability (with the process's own
    /// badge in the low bits), so that `init` tells its faults from its reports.
    pub const FAULT: u64 = 1 << 8;

    /// The name a badge stands for, as the console prints it.
    pub const fn name(badge: u64) -> Option<&'static str> {
        match badge {
            INIT => Some("init"),
            ECHO => Some("echo"),
            CLIENT => Some("client"),
            CONSOLE => Some("console"),
            MEMSRV => Some("memsrv"),
            _ => None,
        }
    }
}

/// The console: prints each line it is sent as one line, `[<sender>] <text>`.
pub mod console {
    /// Words: a [`Text`](super::Text). Reply: [`OK`](super::OK) once printed, or
    /// [`REFUSED`](super::REFUSED) for a malformed text.
    pub const WRITE: u64 = 1;

    /// The console's granted capabilities.
    pub mod grants {
        /// The console endpoint, receive right only.
        pub const ENDPOINT: usize = 0;
    }
}

/// The echo server: answers each request with its words transformed.
pub mod echo {
    /// Words: a [`Text`](super::Text). Reply: [`OK`](super::OK) with the text reversed
    /// (byte by byte).
    pub const REVERSE: u64 = 1;
    /// Words: numbers. Reply: [`OK`](super::OK) with each number plus one (wrapping).
    pub const INCREMENT: u64 = 2;

    /// The echo server's granted capabilities.
    pub mod grants {
        /// The echo endpoint, receive right only.
        pub const ENDPOINT: usize = 0;
        /// The console, badged [`ECHO`](crate::badge::ECHO).
        pub const CONSOLE: usize = 1;
    }
}

/// The client: asks echo, checks the answers, says how it went.
pub mod client {
    /// Sent (not called) by the client to `init` when it has finished. Words: checks
    /// passed, checks failed.
    pub const DONE: u64 = 0x100;

    /// The client's granted capabilities.
    pub mod grants {
        /// The console, badged [`CLIENT`](crate::badge::CLIENT).
        pub const CONSOLE: usize = 0;
        /// The echo endpoint, badged [`CLIENT`](crate::badge::CLIENT), send right only.
        pub const ECHO: usize = 1;
        /// `init`'s report endpoint, badged [`CLIENT`](crate::badge::CLIENT).
        pub const REPORT: usize = 2;
    }
}

/// The longest text one message carries: every word but the length word.
pub const MAX_TEXT: usize = (MAX_WORDS - 1) * 8;

/// Up to [`MAX_TEXT`] bytes of text, built with `write!` (what does not fit is dropped)
/// and carried as message words.
#[derive(Clone, PartialEq, Eq)]
pub struct Text {
    bytes: [u8; MAX_TEXT],
    len: usize,
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Default for Text {
    fn default() -> Self {
        Self::new()
    }
}

impl Text {
    pub const fn new() -> Self {
        Self { bytes: [0; MAX_TEXT], len: 0 }
    }

    /// `bytes`, cut to [`MAX_TEXT`].
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut text = Self::new();
        text.push_bytes(bytes);
        text
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(MAX_TEXT - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text, up to its first byte that is not UTF-8.
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => text,
            Err(error) => {
                core::str::from_utf8(&self.bytes[..error.valid_up_to()]).unwrap_or_default()
            }
        }
    }

    /// The text with its bytes in reverse order.
    #[must_use]
    pub fn reversed(&self) -> Self {
        let mut text = self.clone();
        text.bytes[..text.len].reverse();
        text
    }

    /// Writes the message words into `words`; returns how many.
    pub fn to_words(&self, words: &mut [u64; MAX_WORDS]) -> usize {
        words[0] = self.len as u64;
        let packed = self.len.div_ceil(8);
        for (word, chunk) in words[1..].iter_mut().zip(self.as_bytes().chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        1 + packed
    }

    /// Reads a text from message words; `None` if the length word disagrees with the
    /// words that follow it.
    pub fn from_words(words: &[u64]) -> Option<Self> {
        let (&len, packed) = words.split_first()?;
        let len = usize::try_from(len).ok().filter(|&len| len <= MAX_TEXT)?;
        let packed = packed.get(..len.div_ceil(8))?;
        let mut text = Self::new();
        for word in packed {
            text.push_bytes(&word.to_le_bytes());
        }
        text.len = len;
        Some(text)
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::fmt::Write;

    use super::*;

    fn round_trip(text: &Text) -> Option<Text> {
        let mut words = [0; MAX_WORDS];
        let count = text.to_words(&mut words);
        Text::from_words(&words[..count])
    }

    #[test]
    fn texts_round_trip_through_words() {
        for sample in ["", "a", "12345678", "123456789", "hello, world"] {
            let text = Text::from_bytes(sample.as_bytes());
            assert_eq!(round_trip(&text).unwrap().as_str(), sample);
        }
        let mut words = [0; MAX_WORDS];
        assert_eq!(Text::from_bytes(b"123456789").to_words(&mut words), 3);
        assert_eq!(words[..3], [9, u64::from_le_bytes(*b"12345678"), u64::from(b'9')]);
        let full = Text::from_bytes(&[b'x'; MAX_TEXT + 10]);
        assert_eq!(full.as_bytes().len(), MAX_TEXT);
        assert_eq!(full.to_words(&mut words), MAX_WORDS);
        assert_eq!(round_trip(&full), Some(full));
    }

    #[test]
    fn malformed_texts_are_refused() {
        assert_eq!(Text::from_words(&[]), None);
        assert_eq!(Text::from_words(&[9, 0]), None, "9 bytes need two words");
        assert_eq!(Text::from_words(&[MAX_TEXT as u64 + 1]), None);
        assert_eq!(
            Text::from_words(&[2, u64::from_le_bytes(*b"ok\0\0\0\0\0\0")]).unwrap().as_str(),
            "ok"
        );
    }

    #[test]
    fn texts_format_reverse_and_stop_at_bad_utf8() {
        let mut text = Text::new();
        write!(text, "ab-{}", 12).unwrap();
        assert_eq!(text.as_str(), "ab-12");
        assert_eq!(text.reversed().as_str(), "21-ba");
        assert_eq!(Text::from_bytes(b"ok\xffno").as_str(), "ok");
    }

    #[test]
    fn badges_name_the_processes_and_labels_differ() {
        assert_eq!(badge::name(badge::CLIENT), Some("client"));
        assert_eq!(badge::name(badge::MEMSRV), Some("memsrv"));
        assert_eq!(badge::name(badge::FAULT | badge::ECHO), None);
        assert_ne!(echo::REVERSE, echo::INCREMENT);
        // The report label is no fault label (1, 2), so init can tell them apart by label too.
        const { assert!(client::DONE > 2) };
    }
}
