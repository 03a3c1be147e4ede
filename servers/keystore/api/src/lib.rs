//! The keystore's interface, defined once for the server and its clients.
//!
//! The keystore keeps 32-byte keys in sensitive memory (its heap's frames come from
//! memsrv as sensitive, so the kernel's restricted address space never maps them) and
//! uses them for its clients without ever handing them back:
//!
//! - [`Request::Store`] a key under a name → [`Reply::Stored`];
//! - [`Request::Derive`] a new key from a stored one and a context (HMAC-SHA256 of
//!   [`DERIVE_PREFIX`] and the context, keyed by the parent) → [`Reply::Derived`];
//! - [`Request::Mac`] data with a key → [`Reply::Tag`], its HMAC-SHA256;
//! - [`Request::Verify`] a tag → [`Reply::Verified`] (compared in constant time);
//! - [`Request::Delete`] → [`Reply::Deleted`]; [`Request::Stats`] → [`Reply::Stats`].
//!
//! Names are per client: a client is known by its endpoint capability's badge, and sees
//! only the keys it stored or derived. Any request can instead get [`Reply::Refused`],
//! and then nothing changed. Messages are encoded by `ipc-codec` with label [`LABEL`];
//! the longest fit, checked at compile time.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use hmac::{Hmac, Mac};
use ipc_codec::varint_bytes;
pub use ipc_codec::{CodecError, MAX_BYTES};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The label of every keystore message.
pub const LABEL: u64 = 0x6b65;
/// Bytes of a key.
pub const KEY_BYTES: usize = 32;
/// Bytes of a tag: an HMAC-SHA256 output.
pub const TAG_BYTES: usize = 32;
/// The most bytes one request may MAC or verify.
pub const MAX_DATA: usize = 512;
/// The most bytes of a derivation context.
pub const MAX_CONTEXT: usize = 64;
/// What a derivation MACs before the context, so that a derived key is never the tag of
/// data a client could have asked for.
pub const DERIVE_PREFIX: &[u8] = b"keystore derive\0";

/// The most keys one client may hold, so that no client can fill the keystore's memory
/// for the others.
pub const MAX_KEYS_PER_CLIENT: usize = 64;

/// A key's name, chosen by the client.
pub type Name = u32;

/// The capabilities the keystore is handed, in granted-slot order.
pub mod grants {
    /// Its endpoint, read right.
    pub const ENDPOINT: usize = 0;
    /// memsrv's endpoint, badged for the keystore, for its heap's sensitive frames.
    pub const MEMSRV: usize = 1;
    /// Nonsensitive untyped memory for the page tables that map its heap.
    pub const TABLE_MEMORY: usize = 2;
}

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    Store { name: Name, key: [u8; KEY_BYTES] },
    Derive { parent: Name, name: Name, context: &'a [u8] },
    Mac { name: Name, data: &'a [u8] },
    Verify { name: Name, data: &'a [u8], tag: [u8; TAG_BYTES] },
    Delete { name: Name },
    Stats,
}

/// The keystore's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Keys the caller holds.
    pub keys: u64,
    /// Keys held for every client.
    pub all_keys: u64,
    /// Pages of sensitive memory the keystore's heap has mapped.
    pub heap_pages: u64,
    /// Bytes of the heap in use.
    pub heap_bytes: u64,
}

/// Why a request was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// Not a keystore message: wrong label, bad length, bad encoding.
    Malformed,
    /// The caller's capability has no badge.
    Unidentified,
    /// The caller holds no key of that name.
    NoSuchKey,
    /// The caller holds a key of that name already.
    NameTaken,
    /// Data longer than [`MAX_DATA`] or a context longer than [`MAX_CONTEXT`].
    TooLong,
    /// The keystore's sensitive memory is exhausted.
    OutOfMemory,
    /// The caller holds [`MAX_KEYS_PER_CLIENT`] keys already.
    TooManyKeys,
}

/// What the keystore answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Stored,
    Derived,
    Tag([u8; TAG_BYTES]),
    Verified(bool),
    Deleted,
    Stats(Stats),
    Refused(Error),
}

/// HMAC-SHA256 of the concatenation of `parts`, keyed by `key`: what [`Request::Mac`]
/// answers (one part) and how [`Request::Derive`] makes a key ([`derive`]). Defined here so
/// that a client holding a key can check the keystore's answers.
pub fn hmac_sha256(key: &[u8; KEY_BYTES], parts: &[&[u8]]) -> [u8; TAG_BYTES] {
    // HMAC takes keys of any length, so `new_from_slice` cannot refuse one of 32 bytes;
    // the fallback keeps even that impossible case from panicking.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The key [`Request::Derive`] makes from `parent` and `context`.
pub fn derive(parent: &[u8; KEY_BYTES], context: &[u8]) -> [u8; KEY_BYTES] {
    hmac_sha256(parent, &[DERIVE_PREFIX, context])
}

/// Whether `tag` is `key`'s HMAC-SHA256 of `data`, compared in constant time.
pub fn verify(key: &[u8; KEY_BYTES], data: &[u8], tag: &[u8; TAG_BYTES]) -> bool {
    let expected = hmac_sha256(key, &[data]);
    expected.iter().zip(tag).fold(0, |difference, (a, b)| difference | (a ^ b)) == 0
}

/// The longest request: [`Request::Verify`] with the most data (tags, name, length, data
/// and the tag's bytes, each byte of an array encoded as one).
const MAX_REQUEST: usize =
    1 + varint_bytes(u32::MAX as u64) + varint_bytes(MAX_DATA as u64) + MAX_DATA + TAG_BYTES;
/// The longest reply: [`Reply::Stats`], a tag and four `u64` varints.
const MAX_REPLY: usize = 1 + 4 * varint_bytes(u64::MAX);
const _: () = assert!(MAX_REQUEST <= MAX_BYTES && MAX_REPLY <= MAX_BYTES);
/// The longest keystore message, either way: the size of [`decode`]'s byte buffer.
pub const MAX_MESSAGE: usize = if MAX_REQUEST > MAX_REPLY { MAX_REQUEST } else { MAX_REPLY };
/// Words that hold any keystore message: what [`encode`] needs.
pub const MESSAGE_WORDS: usize = ipc_codec::words_for(MAX_MESSAGE);

/// Encodes `value` into `words`; returns how many words.
pub fn encode<T: Serialize>(
    value: &T,
    words: &mut [u64; MESSAGE_WORDS],
) -> Result<usize, CodecError> {
    ipc_codec::encode(value, words)
}

/// Decodes a keystore message of `label` and `words`, borrowing its bytes from `bytes`.
pub fn decode<'a, T: Deserialize<'a>>(
    label: u64,
    words: &[u64],
    bytes: &'a mut [u8; MAX_MESSAGE],
) -> Result<T, CodecError> {
    ipc_codec::decode(label, LABEL, words, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_request(request: Request<'_>) {
        let mut words = [0; MESSAGE_WORDS];
        let count = encode(&request, &mut words).unwrap();
        let mut bytes = [0; MAX_MESSAGE];
        assert_eq!(decode::<Request<'_>>(LABEL, &words[..count], &mut bytes).unwrap(), request);
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let data = [0xa5; MAX_DATA];
        round_trip_request(Request::Store { name: u32::MAX, key: [0xff; KEY_BYTES] });
        let context = [1; MAX_CONTEXT];
        round_trip_request(Request::Derive { parent: 0, name: u32::MAX, context: &context });
        round_trip_request(Request::Mac { name: 7, data: &data });
        round_trip_request(Request::Mac { name: 7, data: &[] });
        round_trip_request(Request::Verify { name: u32::MAX, data: &data, tag: [9; TAG_BYTES] });
        round_trip_request(Request::Delete { name: 3 });
        round_trip_request(Request::Stats);
        let replies = [
            Reply::Stored,
            Reply::Derived,
            Reply::Tag([0xff; TAG_BYTES]),
            Reply::Verified(true),
            Reply::Deleted,
            Reply::Stats(Stats {
                keys: u64::MAX,
                all_keys: u64::MAX,
                heap_pages: u64::MAX,
                heap_bytes: u64::MAX,
            }),
            Reply::Refused(Error::OutOfMemory),
        ];
        for reply in replies {
            let mut words = [0; MESSAGE_WORDS];
            let count = encode(&reply, &mut words).unwrap();
            let mut bytes = [0; MAX_MESSAGE];
            assert_eq!(decode::<Reply>(LABEL, &words[..count], &mut bytes).unwrap(), reply);
        }
    }

    #[test]
    fn the_longest_messages_fit_the_bounds() {
        let data = [0xff; MAX_DATA];
        let mut words = [0; MESSAGE_WORDS];
        let request = Request::Verify { name: u32::MAX, data: &data, tag: [0xff; TAG_BYTES] };
        encode(&request, &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REQUEST);
        let stats = Stats {
            keys: u64::MAX,
            all_keys: u64::MAX,
            heap_pages: u64::MAX,
            heap_bytes: u64::MAX,
        };
        encode(&Reply::Stats(stats), &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REPLY);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2 has a 4-byte key; HMAC pads every key to the block size,
        // so the same key zero-padded to 32 bytes gives the same tag.
        let mut key = [0; KEY_BYTES];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        let expected = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
            0x64, 0xec, 0x38, 0x43,
        ];
        assert_eq!(tag, expected);
        assert!(verify(&key, b"what do ya want for nothing?", &expected));
        let mut wrong = expected;
        wrong[31] ^= 1;
        assert!(!verify(&key, b"what do ya want for nothing?", &wrong));
        assert_ne!(derive(&key, b"a"), derive(&key, b"b"));
        assert_ne!(derive(&key, b"a"), hmac_sha256(&key, &[b"a"]));
    }

    #[test]
    fn hostile_messages_are_errors() {
        let mut bytes = [0; MAX_MESSAGE];
        // An unknown request tag; a Mac whose data length promises more than is there.
        assert_eq!(decode::<Request<'_>>(LABEL, &[1, 6], &mut bytes), Err(CodecError::Encoding));
        assert_eq!(
            decode::<Request<'_>>(LABEL, &[3, 0x40_07_02], &mut bytes),
            Err(CodecError::Encoding)
        );
        for tag in 0..=u8::MAX {
            for len in 0..=8u64 {
                let word = u64::from(tag) * 0x0101_0101_0101_0101;
                let _ = decode::<Request<'_>>(LABEL, &[len, word], &mut bytes);
            }
        }
    }
}
