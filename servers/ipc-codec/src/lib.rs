//! Messages as postcard bytes in IPC message words, for interfaces defined once in an
//! `*-api` crate (memsrv's, the keystore's, the test runner's).
//!
//! A message is its label and its words: the byte count, then the bytes packed eight to a
//! word, little-endian. At most [`MAX_BYTES`] bytes fit: every word but the count. An
//! interface checks at compile time that its longest message fits.
//!
//! ```
//! use ipc_codec::{MAX_BYTES, decode, encode};
//! use syscall_abi::ipc::MAX_WORDS;
//!
//! const LABEL: u64 = 0x77;
//! let mut words = [0; MAX_WORDS];
//! let count = encode(&(7u32, "seven"), &mut words).unwrap();
//! let mut bytes = [0; MAX_BYTES];
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
pub fn encode<T: Serialize>(value: &T, words: &mut [u64; MAX_WORDS]) -> Result<usize, CodecError> {
    let mut bytes = [0u8; MAX_BYTES];
    let len = postcard::to_slice(value, &mut bytes).map_err(|_| CodecError::Encoding)?.len();
    words[0] = len as u64;
    for (word, chunk) in words[1..].iter_mut().zip(bytes[..len].chunks(8)) {
        let mut packed = [0u8; 8];
        packed[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(packed);
    }
    Ok(1 + len.div_ceil(8))
}

/// Decodes a message of `label` (which must be `expected`) and `words`, unpacking into
/// `bytes`, from which the value may borrow. The words must be exactly the count and the
/// bytes, and the bytes exactly one value.
pub fn decode<'a, T: Deserialize<'a>>(
    label: u64,
    expected: u64,
    words: &[u64],
    bytes: &'a mut [u8; MAX_BYTES],
) -> Result<T, CodecError> {
    if label != expected {
        return Err(CodecError::Label(label));
    }
    let (&len, packed) = words.split_first().ok_or(CodecError::Length)?;
    let len =
        usize::try_from(len).ok().filter(|&len| len <= MAX_BYTES).ok_or(CodecError::Length)?;
    if packed.len() != len.div_ceil(8) {
        return Err(CodecError::Length);
    }
    for (chunk, word) in bytes.chunks_mut(8).zip(packed) {
        chunk.copy_from_slice(&word.to_le_bytes());
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
