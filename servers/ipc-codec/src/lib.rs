//! Messages as postcard bytes in IPC message words, for interfaces defined once in an
//! `*-api` crate (memsrv's, the keystore's, the test runner's).
//!
//! A message is its label and its words: the byte count, then the bytes packed eight to a
//! word, little-endian. At most [`MAX_BYTES`] bytes fit: every word but the count. An
//! interface checks at compile time that its longest message fits.
//!
//! ```
//! use ipc_codec::{decode, encode};
//! use syscall_abi::ipc::MAX_WORDS;
//!
//! const LABEL: u64 = 0x77;
//! let mut words = [0; MAX_WORDS];
//! let count = encode(&(7u32, "seven"), &mut words).unwrap();
//! let mut bytes = [0; 16];
//! let (number, name): (u32, &str) = decode(LABEL, LABEL, &words[..count], &mut bytes).unwrap();
//! assert_eq!((number, name), (7, "seven"));
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use syscall_abi::ipc::MAX_WORDS;

/// The most bytes one message carries.
pub const MAX_BYTES: usize = (MAX_WORDS - 1) * 8;

/// Why a message could not be carried or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// Not this interface's message: another label.
    Label(u64),
    /// The byte count disagrees with the words that follow it, or exceeds [`MAX_BYTES`].
    Length,
    /// postcard could not encode it, or the bytes are not exactly one value.
    Encoding,
}

impl core::fmt::Display for CodecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Label(label) => write!(f, "label {label:#x} is not this interface's"),
            Self::Length => f.write_str("byte count disagrees with the message's words"),
            Self::Encoding => f.write_str("not a valid postcard encoding"),
        }
    }
}

/// The bytes a postcard varint of `value` takes: for compile-time size checks.
pub const fn varint_bytes(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    if bits == 0 { 1 } else { bits.div_ceil(7) }
}

/// Encodes `value` into `words` (the byte count, then the bytes); returns how many words.
/// The bytes go straight into the words, with no byte buffer between: `words` may be as
/// short as the interface's longest message needs ([`words_for`]).
pub fn encode<T: Serialize>(value: &T, words: &mut [u64]) -> Result<usize, CodecError> {
    let (count, packed) = words.split_first_mut().ok_or(CodecError::Encoding)?;
    let len = postcard::serialize_with_flavor(value, WordWriter { words: packed, len: 0 })
        .map_err(|_| CodecError::Encoding)?;
    *count = len as u64;
    Ok(1 + len.div_ceil(8))
}

/// Words a message of up to `bytes` bytes takes: for an interface's word buffers.
pub const fn words_for(bytes: usize) -> usize {
    1 + bytes.div_ceil(8)
}

/// A postcard output that packs bytes eight to a word, little-endian, at most
/// [`MAX_BYTES`] of them.
struct WordWriter<'a> {
    words: &'a mut [u64],
    len: usize,
}

impl postcard::ser_flavors::Flavor for WordWriter<'_> {
    type Output = usize;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        let (index, shift) = (self.len / 8, (self.len % 8) * 8);
        let word = self.words.get_mut(index).filter(|_| self.len < MAX_BYTES);
        let word = word.ok_or(postcard::Error::SerializeBufferFull)?;
        // A word's first byte clears what an earlier, longer message left in it.
        *word = if shift == 0 { 0 } else { *word } | (u64::from(byte) << shift);
        self.len += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.len)
    }
}

/// Decodes a message of `label` (which must be `expected`) and `words`, unpacking into
/// `bytes` (at least as long as the message's bytes: the interface's longest), from which
/// the value may borrow. The words must be exactly the count and the bytes, and the bytes
/// exactly one value.
pub fn decode<'a, T: Deserialize<'a>>(
    label: u64,
    expected: u64,
    words: &[u64],
    bytes: &'a mut [u8],
) -> Result<T, CodecError> {
    if label != expected {
        return Err(CodecError::Label(label));
    }
    let (&len, packed) = words.split_first().ok_or(CodecError::Length)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= MAX_BYTES && len <= bytes.len())
        .ok_or(CodecError::Length)?;
    if packed.len() != len.div_ceil(8) {
        return Err(CodecError::Length);
    }
    for (chunk, word) in bytes[..len].chunks_mut(8).zip(packed) {
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    match postcard::take_from_bytes(&bytes[..len]) {
        Ok((value, [])) => Ok(value),
        _ => Err(CodecError::Encoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: u64 = 0x1234;

    #[test]
    fn values_round_trip_and_fill_the_largest_message() {
        let mut words = [0; MAX_WORDS];
        let text = "x".repeat(MAX_BYTES - varint_bytes(MAX_BYTES as u64));
        let count = encode(&text.as_str(), &mut words).unwrap();
        assert_eq!(count, MAX_WORDS);
        let mut bytes = [0; MAX_BYTES];
        let back: &str = decode(LABEL, LABEL, &words[..count], &mut bytes).unwrap();
        assert_eq!(back, text);
        let too_long = "x".repeat(MAX_BYTES);
        assert_eq!(encode(&too_long.as_str(), &mut words), Err(CodecError::Encoding));
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        let mut words = [u64::MAX; 3];
        assert_eq!(encode(&7u32, &mut words), Ok(2));
        assert_eq!(words[..2], [1, 7], "stale bits of a word are cleared");
        assert_eq!(encode(&"seventeen bytes!!", &mut words), Err(CodecError::Encoding));
        assert_eq!(encode(&0u8, &mut []), Err(CodecError::Encoding));
        assert_eq!(words_for(17), 4);
        let mut bytes = [0; 4];
        let count = encode(&"abc", &mut words).unwrap();
        let text: &str = decode(LABEL, LABEL, &words[..count], &mut bytes).unwrap();
        assert_eq!(text, "abc");
        let mut short = [0; 3];
        assert_eq!(
            decode::<&str>(LABEL, LABEL, &words[..count], &mut short),
            Err(CodecError::Length)
        );
    }

    #[test]
    fn hostile_words_are_errors() {
        let mut bytes = [0; MAX_BYTES];
        let mut decode_u32 = |label, words: &[u64]| decode::<u32>(label, LABEL, words, &mut bytes);
        assert_eq!(decode_u32(LABEL + 1, &[1, 5]), Err(CodecError::Label(LABEL + 1)));
        assert_eq!(decode_u32(LABEL, &[]), Err(CodecError::Length));
        assert_eq!(decode_u32(LABEL, &[u64::MAX]), Err(CodecError::Length));
        assert_eq!(decode_u32(LABEL, &[MAX_BYTES as u64 + 1]), Err(CodecError::Length));
        // A count promising more words than the message has, or fewer.
        assert_eq!(decode_u32(LABEL, &[9, 0]), Err(CodecError::Length));
        assert_eq!(decode_u32(LABEL, &[1, 2, 0]), Err(CodecError::Length));
        // Trailing bytes, a truncated varint, nothing at all.
        assert_eq!(decode_u32(LABEL, &[2, 0x0505]), Err(CodecError::Encoding));
        assert_eq!(decode_u32(LABEL, &[1, 0x80]), Err(CodecError::Encoding));
        assert_eq!(decode_u32(LABEL, &[0]), Err(CodecError::Encoding));
        assert_eq!(decode_u32(LABEL, &[1, 5]), Ok(5));
    }

    #[test]
    fn varints_take_seven_bits_a_byte() {
        assert_eq!(varint_bytes(0), 1);
        assert_eq!(varint_bytes(127), 1);
        assert_eq!(varint_bytes(128), 2);
        assert_eq!(varint_bytes(u64::MAX), 10);
    }
}
