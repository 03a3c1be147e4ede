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
    /// The keystore's badge: only on its fault endpoint (it is called, never calls init).
    pub const KEYSTORE: u64 = 6;
    /// The signer's, on its keystore and report capabilities.
    pub const SIGNER: u64 = 7;
    /// A second keystore capability of the signer's, as another client: it must not see
    /// the signer's keys.
    pub const SIGNER_OTHER: u64 = 8;
    /// Set on the badge of a process's fault endpoint capability (with the process's own
    /// badge in the low bits), so that `init` tells its faults from its reports.
    pub const FAULT: u64 = 1 << 8;
    /// Set on the badge of the one console capability that may read input lines
    /// ([`console::READ_LINE`](crate::console::READ_LINE)), beside its holder's own badge:
    /// `init` mints it for the input client it designates, and no other.
    pub const INPUT: u64 = 1 << 9;

    /// The name a badge stands for, as the console prints it.
    pub const fn name(badge: u64) -> Option<&'static str> {
        match badge {
            INIT => Some("init"),
            ECHO => Some("echo"),
            CLIENT => Some("client"),
            CONSOLE => Some("console"),
            MEMSRV => Some("memsrv"),
            KEYSTORE => Some("keystore"),
            SIGNER => Some("signer"),
            _ => None,
        }
    }
}

/// The console: prints each line it is sent as one line, `[<sender>] <text>`, and, when
/// `init` gives it COM1's input, hands the lines typed there to the input client.
///
/// Input is read without the console ever blocking on its client: a line typed is kept
/// (up to [`QUEUED_LINES`]) until the client asks for it with [`READ_LINE`]; when there is
/// none yet the client waits on its input notification, which the console signals
/// whenever a line is ready or input ends, and asks again. (This kernel has no way to keep
/// a reply capability for later, so a request cannot wait inside the console.)
pub mod console {
    pub use console_line::MAX_LINE;

    /// Words: a [`Text`](super::Text). Reply: [`OK`](super::OK) once printed, or
    /// [`REFUSED`](super::REFUSED) for a malformed text.
    pub const WRITE: u64 = 1;
    /// No words; only through a capability whose badge has
    /// [`INPUT`](crate::badge::INPUT), else [`REFUSED`](super::REFUSED). Reply:
    /// [`OK`](super::OK) with a [`Text`](super::Text), the next line typed (without its
    /// line end); [`CUT`] with the first [`MAX_LINE`] bytes of a longer line; [`NO_LINE`];
    /// or [`END`].
    pub const READ_LINE: u64 = 2;

    /// A reply to [`READ_LINE`]: the line was longer than [`MAX_LINE`] bytes and was cut;
    /// the words are its first [`MAX_LINE`] bytes.
    pub const CUT: u64 = 2;
    /// A reply to [`READ_LINE`]: no line is ready; wait on the input notification
    /// ([`client::grants::INPUT`](crate::client::grants::INPUT)) and ask again.
    pub const NO_LINE: u64 = 3;
    /// A reply to [`READ_LINE`]: input has ended (Ctrl-D on an empty line, or the console
    /// was given no input) and every line typed has been read; no more will come.
    pub const END: u64 = 4;

    /// How many finished lines the console keeps for the client. With that many waiting,
    /// it reads no more from the UART until the client takes one: the UART's FIFO, then
    /// the sender, wait (nothing typed is lost to a slow client).
    pub const QUEUED_LINES: usize = 4;

    /// The badge the console's own notification is signalled with when COM1 interrupts.
    /// No endpoint capability to the console has this bit, so a wake-up through the
    /// notification bound to its thread is never taken for a request.
    pub const SERIAL_SIGNAL: u64 = 1 << 32;
    /// The badge the client's input notification is signalled with.
    pub const LINE_READY: u64 = 1;

    /// COM1, the serial port the console reads input from (the kernel writes its log
    /// there and keeps the registers that configure it).
    pub mod com1 {
        /// Its ISA interrupt line.
        pub const IRQ: u8 = 4;
        /// The receive buffer (read) and interrupt enable (write) registers.
        pub const DATA_PORTS: (u16, u16) = (0x3f8, 0x3f9);
        /// The line status register.
        pub const STATUS_PORT: u16 = 0x3fd;
    }

    /// The console's granted capabilities. All but the endpoint are there only when
    /// `init` gives the console input (`console=interactive`).
    pub mod grants {
        /// The console endpoint, receive right only.
        pub const ENDPOINT: usize = 0;
        /// A notification, write right only, badged [`SERIAL_SIGNAL`](super::SERIAL_SIGNAL):
        /// the console binds it to its thread and points COM1's IRQ at it.
        pub const SIGNAL: usize = 1;
        /// The handler of COM1's IRQ ([`com1::IRQ`](super::com1::IRQ)).
        pub const IRQ: usize = 2;
        /// The I/O ports [`com1::DATA_PORTS`](super::com1::DATA_PORTS).
        pub const DATA: usize = 3;
        /// The I/O port [`com1::STATUS_PORT`](super::com1::STATUS_PORT).
        pub const STATUS: usize = 4;
        /// The input client's notification, write right only, badged
        /// [`LINE_READY`](super::LINE_READY).
        pub const READER: usize = 5;
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
        /// The console, badged [`CLIENT`](crate::badge::CLIENT) (with
        /// [`INPUT`](crate::badge::INPUT) when the client reads input).
        pub const CONSOLE: usize = 0;
        /// The echo endpoint, badged [`CLIENT`](crate::badge::CLIENT), send right only.
        pub const ECHO: usize = 1;
        /// `init`'s report endpoint, badged [`CLIENT`](crate::badge::CLIENT).
        pub const REPORT: usize = 2;
        /// Only when the client reads input: its input notification, read right only,
        /// which the console signals when a line is ready or input ends.
        pub const INPUT: usize = 3;
    }
}

/// The signer: a client of the keystore that drives a mix of requests and checks every
/// answer against its own computation.
pub mod signer {
    /// Sent to `init` just before the mix, so that `init` can read the kernel's counters.
    /// No words.
    pub const START: u64 = 0x200;
    /// Sent to `init` after the mix. Words: [`done`] indices.
    pub const DONE: u64 = 0x201;

    /// The words of [`DONE`].
    pub mod done {
        /// Requests the mix made.
        pub const REQUESTS: usize = 0;
        /// Answers that were what the signer computed.
        pub const PASSED: usize = 1;
        /// Answers that were not.
        pub const FAILED: usize = 2;
        /// Pages of the keystore's heap before the mix and after it.
        pub const HEAP_PAGES_BEFORE: usize = 3;
        pub const HEAP_PAGES_AFTER: usize = 4;
        /// Keys the signer holds at the end.
        pub const KEYS: usize = 5;
        pub const COUNT: usize = 6;
    }

    /// The signer's granted capabilities.
    pub mod grants {
        /// The keystore, badged [`SIGNER`](crate::badge::SIGNER).
        pub const KEYSTORE: usize = 0;
        /// The keystore again, badged [`SIGNER_OTHER`](crate::badge::SIGNER_OTHER).
        pub const KEYSTORE_OTHER: usize = 1;
        /// `init`'s report endpoint, badged [`SIGNER`](crate::badge::SIGNER).
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
        assert_ne!(console::WRITE, console::READ_LINE);
        // READ_LINE's answers are told apart by label, and none is REFUSED.
        let answers = [OK, console::CUT, console::NO_LINE, console::END, REFUSED];
        for (index, label) in answers.iter().enumerate() {
            assert!(!answers[index + 1..].contains(label), "label {label} twice");
        }
        // No endpoint badge init mints has the console's serial signal bit.
        for badge in [badge::INIT, badge::ECHO, badge::CLIENT | badge::INPUT, badge::FAULT] {
            assert_eq!(badge & console::SERIAL_SIGNAL, 0);
        }
        // A longest line fits one text.
        const { assert!(console::MAX_LINE <= MAX_TEXT) };
        // The report label is no fault label (1, 2), so init can tell them apart by label too.
        const { assert!(client::DONE > 2) };
    }
}
