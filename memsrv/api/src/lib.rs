//! The memsrv interface, defined once for the server and its clients.
//!
//! A client `Call`s memsrv's endpoint with a [`Request`] and gets a [`Reply`]:
//!
//! - [`Request::AllocFrame`] → [`Reply::Frame`], the frame capability in the reply (the
//!   client names its receive slot first, and its endpoint capability needs the
//!   grant-reply right).
//! - [`Request::Free`], the frame capability in the request (the endpoint capability needs
//!   the grant right) → [`Reply::Freed`]. memsrv revokes the frame: every copy of it is
//!   gone afterwards.
//! - [`Request::Stats`] → [`Reply::Stats`].
//!
//! Any request can instead get [`Reply::Refused`] with an [`Error`], and then nothing
//! changed. A client is known by the badge of its endpoint capability, which init mints
//! with [`badge::client`]: a client number and the client's quota, so neither can be
//! forged.
//!
//! Each message is postcard-encoded into at most [`MAX_BYTES`] bytes and carried as
//! message words with label [`LABEL`]: the byte count, then the bytes packed eight to a
//! word, little-endian (as `case-protocol` does; sizes are checked at compile time).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use syscall_abi::ipc::MAX_WORDS;

/// The label of every memsrv message.
pub const LABEL: u64 = 0x3e35;

/// The orders a frame may have: 4 KiB and 2 MiB (a whole pageblock).
pub const ORDER_4K: u8 = 0;
/// A 2 MiB frame.
pub const ORDER_2M: u8 = 9;

/// The capabilities memsrv is handed, in granted-slot order (`libasi::process::granted`).
pub mod grants {
    /// memsrv's endpoint, read right.
    pub const ENDPOINT: usize = 0;
    /// The ASI control capability, to flip pageblocks.
    pub const ASI_CONTROL: usize = 1;
    /// The first of the untyped regions memsrv manages, each exactly one 2 MiB pageblock
    /// (moved to memsrv, so that nobody else can carve from them); they fill the granted
    /// slots from here on.
    pub const FIRST_MEMORY: usize = 2;
}

/// Badges of the endpoint capabilities clients get: who the client is and how much it
/// may hold.
pub mod badge {
    /// Bits of the client number.
    const ID_BITS: u32 = 16;

    /// The badge of client `id` (nonzero: badge 0 means no badge) allowed to hold
    /// `quota_pages` 4 KiB pages at a time.
    pub const fn client(id: u16, quota_pages: u32) -> u64 {
        ((quota_pages as u64) << ID_BITS) | id as u64
    }

    /// The client number of `badge`.
    pub const fn id(badge: u64) -> u16 {
        badge as u16
    }

    /// The quota, in 4 KiB pages, that `badge` carries.
    pub const fn quota_pages(badge: u64) -> u64 {
        (badge >> ID_BITS) & u32::MAX as u64
    }
}

/// Whether memory may hold secrets (as `libasi::cap::Sensitivity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sensitivity {
    Sensitive,
    Nonsensitive,
}

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A frame of 2^`order` pages ([`ORDER_4K`] or [`ORDER_2M`]) of `sensitivity`.
    AllocFrame { sensitivity: Sensitivity, order: u8 },
    /// Take back the frame capability carried in the message.
    Free,
    /// The client's usage and memsrv's counters.
    Stats,
}

/// memsrv's counters and the caller's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// 4 KiB pages the caller holds.
    pub used_pages: u64,
    /// The caller's quota in pages.
    pub quota_pages: u64,
    /// Free bytes, sensitive then nonsensitive.
    pub free_bytes: [u64; 2],
    /// Pageblocks managed, sensitive then nonsensitive.
    pub pageblocks: [u64; 2],
    /// Sensitivity flips since memsrv started.
    pub flips: u64,
}

/// Why a request was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// Not a memsrv message: wrong label, bad length, bad encoding.
    Malformed,
    /// The caller's capability has no badge, so memsrv does not know who it is.
    Unidentified,
    /// An order other than [`ORDER_4K`] and [`ORDER_2M`].
    BadOrder,
    /// No block of that size can be had in that sensitivity, flips included.
    OutOfMemory,
    /// The allocation would take the caller past its quota.
    QuotaExceeded,
    /// memsrv's own bookkeeping (slots, records) is full.
    ServerFull,
    /// A free without exactly one capability in the receive slot, or with one that is not
    /// a frame.
    NoFrame,
    /// The frame is not one memsrv handed to this caller (or it was freed already).
    NotYours,
    /// The kernel refused an operation memsrv expected to succeed; the code is the
    /// kernel's error code.
    Kernel(u64),
}

/// What memsrv answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The frame is in the reply's capability; `address` is its physical address.
    Frame {
        address: u64,
    },
    Freed,
    Stats(Stats),
    Refused(Error),
}

/// The most bytes one message carries: every word but the byte count.
pub const MAX_BYTES: usize = (MAX_WORDS - 1) * 8;

/// The longest encoded request: two tags and a one-byte order.
const MAX_REQUEST: usize = 3;
/// The longest encoded reply: a tag and seven `u64` varints of up to ten bytes.
const MAX_REPLY: usize = 1 + 7 * 10;
const _: () = assert!(MAX_REQUEST <= MAX_BYTES && MAX_REPLY <= MAX_BYTES);

/// Why a message could not be carried or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Another label.
    Label(u64),
    /// The byte count disagrees with the words, or exceeds [`MAX_BYTES`].
    Length,
    /// postcard could not encode or decode it.
    Encoding,
}

/// Encodes `value` into `words` (the byte count, then the bytes); returns how many words.
pub fn encode<T: Serialize>(
    value: &T,
    words: &mut [u64; MAX_WORDS],
) -> Result<usize, ProtocolError> {
    let mut bytes = [0u8; MAX_BYTES];
    let len = postcard::to_slice(value, &mut bytes).map_err(|_| ProtocolError::Encoding)?.len();
    words[0] = len as u64;
    for (word, chunk) in words[1..].iter_mut().zip(bytes[..len].chunks(8)) {
        let mut packed = [0u8; 8];
        packed[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(packed);
    }
    Ok(1 + len.div_ceil(8))
}

/// Decodes a message of `label` and `words`; trailing bytes are refused.
pub fn decode<T: for<'de> Deserialize<'de>>(label: u64, words: &[u64]) -> Result<T, ProtocolError> {
    if label != LABEL {
        return Err(ProtocolError::Label(label));
    }
    let (&len, packed) = words.split_first().ok_or(ProtocolError::Length)?;
    let len =
        usize::try_from(len).ok().filter(|&len| len <= MAX_BYTES).ok_or(ProtocolError::Length)?;
    let packed = packed
        .get(..len.div_ceil(8))
        .filter(|_| packed.len() == len.div_ceil(8))
        .ok_or(ProtocolError::Length)?;
    let mut bytes = [0u8; MAX_BYTES];
    for (chunk, word) in bytes.chunks_mut(8).zip(packed) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    match postcard::take_from_bytes(&bytes[..len]) {
        Ok((value, [])) => Ok(value),
        _ => Err(ProtocolError::Encoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug>(
        value: T,
    ) {
        let mut words = [0; MAX_WORDS];
        let count = encode(&value, &mut words).unwrap();
        assert_eq!(decode::<T>(LABEL, &words[..count]).unwrap(), value);
    }

    #[test]
    fn requests_and_replies_round_trip() {
        for sensitivity in [Sensitivity::Sensitive, Sensitivity::Nonsensitive] {
            for order in [ORDER_4K, ORDER_2M, u8::MAX] {
                round_trip(Request::AllocFrame { sensitivity, order });
            }
        }
        round_trip(Request::Free);
        round_trip(Request::Stats);
        round_trip(Reply::Frame { address: u64::MAX });
        round_trip(Reply::Freed);
        round_trip(Reply::Stats(Stats {
            used_pages: u64::MAX,
            quota_pages: u64::MAX,
            free_bytes: [u64::MAX; 2],
            pageblocks: [u64::MAX; 2],
            flips: u64::MAX,
        }));
        for error in [Error::Malformed, Error::NotYours, Error::Kernel(u64::MAX)] {
            round_trip(Reply::Refused(error));
        }
    }

    #[test]
    fn the_longest_messages_fit_the_bounds() {
        let mut words = [0; MAX_WORDS];
        let stats = Reply::Stats(Stats {
            used_pages: u64::MAX,
            quota_pages: u64::MAX,
            free_bytes: [u64::MAX; 2],
            pageblocks: [u64::MAX; 2],
            flips: u64::MAX,
        });
        encode(&stats, &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REPLY);
        let request = Request::AllocFrame { sensitivity: Sensitivity::Sensitive, order: 9 };
        encode(&request, &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REQUEST);
    }

    #[test]
    fn hostile_messages_are_errors() {
        let mut words = [0; MAX_WORDS];
        let count = encode(&Request::Stats, &mut words).unwrap();
        assert_eq!(
            decode::<Request>(LABEL + 1, &words[..count]),
            Err(ProtocolError::Label(LABEL + 1))
        );
        assert_eq!(decode::<Request>(LABEL, &[]), Err(ProtocolError::Length));
        assert_eq!(decode::<Request>(LABEL, &[u64::MAX]), Err(ProtocolError::Length));
        assert_eq!(decode::<Request>(LABEL, &[MAX_BYTES as u64 + 1]), Err(ProtocolError::Length));
        // A count promising more words than the message has, or fewer.
        assert_eq!(decode::<Request>(LABEL, &[9, 0]), Err(ProtocolError::Length));
        assert_eq!(decode::<Request>(LABEL, &[1, 2, 0]), Err(ProtocolError::Length));
        // An unknown variant tag, a truncated variant, trailing bytes.
        assert_eq!(decode::<Request>(LABEL, &[1, 7]), Err(ProtocolError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[1, 0]), Err(ProtocolError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[2, 0x0202]), Err(ProtocolError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[0]), Err(ProtocolError::Encoding));
        // Every short message decodes to something or an error, never a panic.
        for tag in 0..=u8::MAX {
            for len in 0..=3u64 {
                let _ = decode::<Request>(LABEL, &[len, u64::from(tag) * 0x0101_0101]);
            }
        }
    }

    #[test]
    fn badges_carry_id_and_quota() {
        let badge = badge::client(7, 1024);
        assert_eq!((badge::id(badge), badge::quota_pages(badge)), (7, 1024));
        let max = badge::client(u16::MAX, u32::MAX);
        assert_eq!((badge::id(max), badge::quota_pages(max)), (u16::MAX, u64::from(u32::MAX)));
    }
}
