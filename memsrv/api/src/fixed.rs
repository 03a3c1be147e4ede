//! The frame calls in a fixed layout of message words, under their own label
//! [`FIXED_LABEL`]: [`Request::AllocFrame`], [`Request::Reuse`] and [`Request::Free`], and
//! the replies they get.
//!
//! These are the calls a client churning 4 KiB frames makes on every allocation
//! (`libasi::memsrv::FramePool`), and with kept frames nothing else happens in them: two
//! register-only round trips on the kernel's fastpath. postcard's byte-wise varints would
//! cost more than the kernel does, so these messages are the same [`Request`] and [`Reply`]
//! values laid out one field per bit range, at most [`REGISTER_WORDS`] words each way; every
//! other message (and these, under [`LABEL`](crate::LABEL)) goes through postcard. The
//! decoders are as strict as postcard's: exact lengths, known values, reserved bits zero.
//! The two calls of a kept frame's round trip, a reuse and a free with keep, and their
//! answers also have recognizers ([`hot_request`], [`hot_reply`]) that take a message in
//! exactly the form the encoders make with a few compares and leave everything else to the
//! decoders.
//!
//! Requests: word 0 holds the operation (bits 0–7: 0 allocate, 1 free, 2 reuse), the
//! sensitivity of an allocation or reuse (bits 8–15: [`Sensitivity::index`]), the order of
//! an allocation (bits 16–23) and the keep flag of a free (bit 24); a free's word 1 is the
//! handle.
//!
//! Replies: word 0 holds the kind (bits 0–7: 0 frame, 1 reused, 2 kept, 3 freed, 4
//! refused), the kept counts (bits 8–15 sensitive, 16–23 nonsensitive) and a refusal's
//! error (bits 24–31); then the handle and address of a frame, the handle of a reused one,
//! or the kernel's code of [`Error::Kernel`].

use syscall_abi::ipc::{MessageInfo, REGISTER_WORDS};

use crate::{CodecError, Error, Handle, KeptCounts, Reply, Request, Sensitivity};

/// The label of a message in this layout.
pub const FIXED_LABEL: u64 = crate::LABEL + 1;

/// Words of a message in this layout: at most the message registers.
pub type Words = [u64; REGISTER_WORDS];
/// The header word of a message of `length` words in this layout (at most
/// [`REGISTER_WORDS`], as every message the encoders here make).
pub const fn header(length: usize) -> u64 {
    MessageInfo { label: FIXED_LABEL, length: length as u8, caps: 0, unwrapped: 0 }.to_word()
}

/// The longest request in this layout: a free.
pub const REQUEST_WORDS: usize = 2;

const ALLOC: u64 = 0;
const FREE: u64 = 1;
const REUSE: u64 = 2;
const KEEP: u64 = 1 << 24;
const REQUEST_FIELDS: u64 = KEEP | 0xff_ffff;

const FRAME: u64 = 0;
const REUSED: u64 = 1;
const KEPT: u64 = 2;
const FREED: u64 = 3;
const REFUSED: u64 = 4;
const REPLY_FIELDS: u64 = 0xffff_ffff;
const COUNTS: u64 = 0xffff << 8;

/// `request` in this layout and its length in words; `None` if it has none.
#[inline]
pub fn encode_request(request: &Request) -> Option<(Words, usize)> {
    match *request {
        Request::AllocFrame { sensitivity, order } => {
            let word = ALLOC | (sensitivity.index() as u64) << 8 | u64::from(order) << 16;
            Some(([word, 0, 0, 0], 1))
        }
        Request::Reuse { sensitivity } => {
            Some(([REUSE | (sensitivity.index() as u64) << 8, 0, 0, 0], 1))
        }
        Request::Free { handle, keep } => {
            Some(([FREE | if keep { KEEP } else { 0 }, handle.0, 0, 0], 2))
        }
        _ => None,
    }
}

/// The request `words` lay out.
pub fn decode_request(words: &[u64]) -> Result<Request, CodecError> {
    let (&first, rest) = words.split_first().ok_or(CodecError::Length)?;
    if first & !REQUEST_FIELDS != 0 {
        return Err(CodecError::Encoding);
    }
    let keep = first & KEEP != 0;
    match (first & 0xff, rest) {
        (ALLOC, []) if !keep => Ok(Request::AllocFrame {
            sensitivity: sensitivity(first >> 8)?,
            order: (first >> 16) as u8,
        }),
        (REUSE, []) if first & (KEEP | 0xff_0000) == 0 => {
            Ok(Request::Reuse { sensitivity: sensitivity(first >> 8)? })
        }
        (FREE, &[handle]) if first & 0xff_ff00 == 0 => {
            Ok(Request::Free { handle: Handle(handle), keep })
        }
        (ALLOC | FREE | REUSE, rest) if rest.len() != usize::from(first & 0xff == FREE) => {
            Err(CodecError::Length)
        }
        _ => Err(CodecError::Encoding),
    }
}

/// The request a message of header `info` and `words` carries if it is a reuse or a free
/// with keep, the two calls of a kept frame's round trip, in exactly the form
/// [`encode_request`] gives them (and so [`decode_request`] agrees); `None` for anything
/// else, which the caller decodes.
#[inline(always)]
pub fn hot_request(info: u64, words: &Words) -> Option<Request> {
    const REUSE_SENSITIVE: u64 = REUSE;
    const REUSE_NONSENSITIVE: u64 = REUSE | 1 << 8;
    const FREE_KEEP: u64 = FREE | KEEP;
    match words[0] {
        REUSE_SENSITIVE if info == header(1) => {
            Some(Request::Reuse { sensitivity: Sensitivity::Sensitive })
        }
        REUSE_NONSENSITIVE if info == header(1) => {
            Some(Request::Reuse { sensitivity: Sensitivity::Nonsensitive })
        }
        FREE_KEEP if info == header(2) => {
            Some(Request::Free { handle: Handle(words[1]), keep: true })
        }
        _ => None,
    }
}

/// The replies a frame call gets: the [`Reply`] variants this layout carries, as a type
/// of their own, so that a client or server handling them builds nothing as large as a
/// [`Reply`] (whose statistics variant is 224 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameReply {
    Frame { address: u64, handle: Handle, kept: KeptCounts },
    Reused { handle: Handle, kept: KeptCounts },
    Kept { kept: KeptCounts },
    Freed { kept: KeptCounts },
    Refused(Error),
}

impl From<FrameReply> for Reply {
    fn from(reply: FrameReply) -> Self {
        match reply {
            FrameReply::Frame { address, handle, kept } => Self::Frame { address, handle, kept },
            FrameReply::Reused { handle, kept } => Self::Reused { handle, kept },
            FrameReply::Kept { kept } => Self::Kept { kept },
            FrameReply::Freed { kept } => Self::Freed { kept },
            FrameReply::Refused(error) => Self::Refused(error),
        }
    }
}

impl FrameReply {
    /// `reply` as one of these, if it is one.
    pub fn of(reply: &Reply) -> Option<Self> {
        Some(match *reply {
            Reply::Frame { address, handle, kept } => Self::Frame { address, handle, kept },
            Reply::Reused { handle, kept } => Self::Reused { handle, kept },
            Reply::Kept { kept } => Self::Kept { kept },
            Reply::Freed { kept } => Self::Freed { kept },
            Reply::Refused(error) => Self::Refused(error),
            _ => return None,
        })
    }
}

/// `reply` in this layout and its length in words; `None` if it has none.
pub fn encode_reply(reply: &Reply) -> Option<(Words, usize)> {
    FrameReply::of(reply).map(encode_frame_reply)
}

/// `reply` in this layout and its length in words.
#[inline]
pub fn encode_frame_reply(reply: FrameReply) -> (Words, usize) {
    match reply {
        FrameReply::Frame { address, handle, kept } => {
            ([FRAME | counts(kept), handle.0, address, 0], 3)
        }
        FrameReply::Reused { handle, kept } => ([REUSED | counts(kept), handle.0, 0, 0], 2),
        FrameReply::Kept { kept } => ([KEPT | counts(kept), 0, 0, 0], 1),
        FrameReply::Freed { kept } => ([FREED | counts(kept), 0, 0, 0], 1),
        FrameReply::Refused(error) => {
            let (tag, code) = error_fields(error);
            let word = REFUSED | u64::from(tag) << 24;
            match code {
                Some(code) => ([word, code, 0, 0], 2),
                None => ([word, 0, 0, 0], 1),
            }
        }
    }
}

fn counts(kept: KeptCounts) -> u64 {
    u64::from(kept[0]) << 8 | u64::from(kept[1]) << 16
}

/// The reply `words` lay out.
pub fn decode_reply(words: &[u64]) -> Result<Reply, CodecError> {
    decode_frame_reply(words).map(Reply::from)
}

/// The reply `words` lay out, as the frame reply it is.
#[inline]
pub fn decode_frame_reply(words: &[u64]) -> Result<FrameReply, CodecError> {
    let (&first, rest) = words.split_first().ok_or(CodecError::Length)?;
    if first & !REPLY_FIELDS != 0 {
        return Err(CodecError::Encoding);
    }
    let kept = [(first >> 8) as u8, (first >> 16) as u8];
    let tag = (first >> 24) as u8;
    let no_error = tag == 0;
    match (first & 0xff, rest) {
        (FRAME, &[handle, address]) if no_error => {
            Ok(FrameReply::Frame { address, handle: Handle(handle), kept })
        }
        (REUSED, &[handle]) if no_error => Ok(FrameReply::Reused { handle: Handle(handle), kept }),
        (KEPT, []) if no_error => Ok(FrameReply::Kept { kept }),
        (FREED, []) if no_error => Ok(FrameReply::Freed { kept }),
        (REFUSED, code) if kept == [0; 2] => error(tag, code).map(FrameReply::Refused),
        (FRAME | REUSED | KEPT | FREED, _) if no_error => Err(CodecError::Length),
        _ => Err(CodecError::Encoding),
    }
}

/// The reply a message of header `info` and `words` carries if it is a
/// [`FrameReply::Reused`] or [`FrameReply::Kept`], the answers of a kept frame's round
/// trip, in exactly the form [`encode_frame_reply`] gives them (and so
/// [`decode_frame_reply`] agrees); `None` for anything else, which the caller decodes.
#[inline(always)]
pub fn hot_reply(info: u64, words: &Words) -> Option<FrameReply> {
    let kept = [(words[0] >> 8) as u8, (words[0] >> 16) as u8];
    match words[0] & !COUNTS {
        REUSED if info == header(2) => Some(FrameReply::Reused { handle: Handle(words[1]), kept }),
        KEPT if info == header(1) => Some(FrameReply::Kept { kept }),
        _ => None,
    }
}

fn sensitivity(field: u64) -> Result<Sensitivity, CodecError> {
    match field & 0xff {
        0 => Ok(Sensitivity::Sensitive),
        1 => Ok(Sensitivity::Nonsensitive),
        _ => Err(CodecError::Encoding),
    }
}

/// The errors in the order of their tags.
const ERRORS: [Error; 11] = [
    Error::Malformed,
    Error::Unidentified,
    Error::BadOrder,
    Error::BadCount,
    Error::BadObject,
    Error::OutOfMemory,
    Error::QuotaExceeded,
    Error::ServerFull,
    Error::NotYours,
    Error::NotManager,
    Error::NothingKept,
];
/// The tag of [`Error::Kernel`], whose code follows in a word of its own.
const KERNEL_ERROR: u8 = ERRORS.len() as u8;

fn error_fields(error: Error) -> (u8, Option<u64>) {
    match error {
        Error::Kernel(code) => (KERNEL_ERROR, Some(code)),
        // Every other error is in ERRORS.
        _ => (ERRORS.iter().position(|&known| known == error).unwrap_or(0) as u8, None),
    }
}

fn error(tag: u8, code: &[u64]) -> Result<Error, CodecError> {
    match (tag, code) {
        (KERNEL_ERROR, &[code]) => Ok(Error::Kernel(code)),
        (KERNEL_ERROR, _) => Err(CodecError::Length),
        (tag, []) => ERRORS.get(usize::from(tag)).copied().ok_or(CodecError::Encoding),
        _ => Err(CodecError::Length),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Stats, Usage};

    fn requests() -> Vec<Request> {
        let mut all = Vec::new();
        for sensitivity in [Sensitivity::Sensitive, Sensitivity::Nonsensitive] {
            for order in [0, 9, u8::MAX] {
                all.push(Request::AllocFrame { sensitivity, order });
            }
            all.push(Request::Reuse { sensitivity });
        }
        for handle in [0, 1 << 12 | 7, u64::MAX] {
            for keep in [false, true] {
                all.push(Request::Free { handle: Handle(handle), keep });
            }
        }
        all
    }

    fn replies() -> Vec<Reply> {
        let mut all = Vec::new();
        for kept in [[0, 0], [16, 3], [u8::MAX; 2]] {
            for handle in [Handle(0), Handle(u64::MAX)] {
                all.push(Reply::Frame { address: 0x40_1000, handle, kept });
                all.push(Reply::Frame { address: u64::MAX, handle, kept });
                all.push(Reply::Reused { handle, kept });
            }
            all.push(Reply::Kept { kept });
            all.push(Reply::Freed { kept });
        }
        all.extend(ERRORS.map(Reply::Refused));
        all.extend([0, 5, u64::MAX].map(|code| Reply::Refused(Error::Kernel(code))));
        all
    }

    #[test]
    fn frame_calls_round_trip_in_registers() {
        for request in requests() {
            let (words, length) = encode_request(&request).unwrap();
            assert_eq!(decode_request(&words[..length]), Ok(request));
        }
        for reply in replies() {
            let (words, length) = encode_reply(&reply).unwrap();
            assert_eq!(decode_reply(&words[..length]), Ok(reply));
        }
    }

    #[test]
    fn headers_are_the_kernels_message_info() {
        for length in 0..=REGISTER_WORDS {
            let info = MessageInfo::new(FIXED_LABEL, length, 0).unwrap();
            assert_eq!(header(length), info.to_word());
        }
    }

    #[test]
    fn every_error_has_its_own_tag() {
        for (tag, &error) in ERRORS.iter().enumerate() {
            assert_eq!(error_fields(error), (tag as u8, None));
        }
        assert!(!ERRORS.contains(&Error::Kernel(0)));
    }

    #[test]
    fn other_messages_have_no_fixed_layout() {
        assert_eq!(encode_request(&Request::Stats), None);
        assert_eq!(encode_request(&Request::ReleaseKept), None);
        assert_eq!(encode_reply(&Reply::Stats(Stats::default())), None);
        assert_eq!(encode_reply(&Reply::Usage(Usage::default())), None);
    }

    #[test]
    fn hostile_words_are_errors() {
        let bad_requests: [&[u64]; 13] = [
            &[],
            &[0, 0],          // an allocation with a handle
            &[1],             // a free without one
            &[1, 2, 3],       // a free with two
            &[2, 0],          // a reuse with a handle
            &[3],             // no such operation
            &[2 << 8],        // no such sensitivity
            &[2 | 2 << 8],    // no such sensitivity to reuse
            &[1 << 25],       // a reserved bit
            &[KEEP],          // an allocation to keep
            &[2 | 1 << 16],   // a reuse with an order
            &[1 | 1 << 8, 5], // a free with a sensitivity
            &[u64::MAX, u64::MAX],
        ];
        for words in bad_requests {
            assert!(decode_request(words).is_err(), "{words:x?}");
        }
        let bad_replies: [&[u64]; 10] = [
            &[],
            &[FRAME, 1],                                // a frame without its address
            &[REUSED],                                  // a reuse without its handle
            &[KEPT, 1],                                 // trailing words
            &[FREED | 1 << 24],                         // an error tag on an answer
            &[REFUSED | 0x20 << 24],                    // no such error
            &[REFUSED | 1 << 8],                        // kept counts on a refusal
            &[REFUSED | u64::from(KERNEL_ERROR) << 24], // a kernel error without its code
            &[REFUSED | 2 << 24, 7],                    // a code for an error that has none
            &[9],                                       // no such kind
        ];
        for words in bad_replies {
            assert!(decode_reply(words).is_err(), "{words:x?}");
        }
        assert!(decode_reply(&[1 << 32]).is_err(), "a reserved bit");
    }

    /// What a recognizer takes, the decoder gives too.
    fn check_hot(info: u64, words: &Words) {
        let length = usize::from((info & 0x7f) as u8).min(REGISTER_WORDS);
        if let Some(request) = hot_request(info, words) {
            assert_eq!(info, header(length), "{words:x?}");
            assert_eq!(decode_request(&words[..length]), Ok(request), "{words:x?}");
        }
        if let Some(reply) = hot_reply(info, words) {
            assert_eq!(info, header(length), "{words:x?}");
            assert_eq!(decode_frame_reply(&words[..length]), Ok(reply), "{words:x?}");
        }
    }

    #[test]
    fn the_hot_calls_are_recognized_as_encoded() {
        let mut hot = 0;
        for request in requests() {
            let (words, length) = encode_request(&request).unwrap();
            let expected = match request {
                Request::Reuse { .. } | Request::Free { keep: true, .. } => Some(request),
                _ => None,
            };
            assert_eq!(hot_request(header(length), &words), expected);
            assert_eq!(hot_request(header(length) | 1 << 7, &words), None, "with a capability");
            hot += usize::from(expected.is_some());
        }
        for reply in replies() {
            let (words, length) = encode_reply(&reply).unwrap();
            let reply = FrameReply::of(&reply).unwrap();
            let expected = match reply {
                FrameReply::Reused { .. } | FrameReply::Kept { .. } => Some(reply),
                _ => None,
            };
            assert_eq!(hot_reply(header(length), &words), expected);
            assert_eq!(hot_reply(header(length + 1), &words), None, "a word too many");
            hot += usize::from(expected.is_some());
        }
        assert!(hot > 10);
    }

    #[test]
    fn the_recognizers_take_nothing_the_decoders_refuse() {
        let firsts = (0..=u16::MAX).flat_map(|low| {
            let low = u64::from(low);
            [low, low | (low & 0x1ff) << 16, low << 16, low | KEEP, u64::MAX]
        });
        for first in firsts {
            for length in 0..=REGISTER_WORDS {
                for info in [header(length), header(length) | 1 << 7, length as u64] {
                    check_hot(info, &[first, 7, 0, 0]);
                }
            }
        }
    }

    #[test]
    fn every_short_message_decodes_or_is_refused_without_panic() {
        for first in (0..=u16::MAX).map(|low| u64::from(low) | u64::from(low & 0x3f) << 16) {
            for rest in [&[][..], &[u64::MAX], &[0, 0], &[1, 2, 3]] {
                let words: Vec<u64> = [first].iter().chain(rest).copied().collect();
                let _ = decode_request(&words);
                let _ = decode_reply(&words);
            }
        }
    }
}
