//! The memsrv interface, defined once for the server and its clients.
//!
//! A client `Call`s memsrv's endpoint with a [`Request`] and gets a [`Reply`]. Whatever
//! memsrv hands out comes as one capability in the reply (the client names its receive
//! slot first, and its endpoint capability needs the grant-reply right) together with a
//! [`Handle`] that names the allocation from then on:
//!
//! - [`Request::AllocFrame`] → [`Reply::Frame`]: one frame of a sensitivity.
//! - [`Request::AllocFrames`] → [`Reply::Frames`]: `count` frames of a sensitivity, as
//!   one untyped region of exactly their size (rounded up to a power of two) that the
//!   client retypes into frames (a message carries one capability; the frames inherit
//!   the region's sensitivity).
//! - [`Request::AllocObject`] → [`Reply::Object`]: a kernel object ([`Object`]), always
//!   from nonsensitive memory (the kernel refuses objects from sensitive memory).
//! - [`Request::Free`] → [`Reply::Freed`]: memsrv revokes what the handle names, so every
//!   copy the client made (and everything retyped from a region) is gone. Or, for a 4 KiB
//!   frame freed with `keep`, [`Reply::Kept`]: memsrv keeps it for the client.
//! - [`Request::Reuse`] → [`Reply::Reused`]: the newest frame memsrv keeps for the client
//!   is the client's again, with no capability to move ([`kept`] says how, and when memsrv
//!   takes kept frames back); refused with [`Error::NothingKept`] if it keeps none.
//! - [`Request::ReleaseKept`] → [`Reply::Freed`]: memsrv takes back every frame it keeps
//!   for the caller.
//! - [`Request::Usage`] → [`Reply::Usage`], [`Request::Stats`] → [`Reply::Stats`].
//! - [`Request::Reclaim`] → [`Reply::Reclaimed`]: only for the manager (init), which calls
//!   it for a client that died: memsrv takes back everything that client held.
//!
//! Any request can instead get [`Reply::Refused`] with an [`Error`], and then nothing
//! changed. A client is known by the badge of its endpoint capability, which init mints
//! with [`badge::client`] (or [`badge::manager`]): a client number, the client's quota
//! and whether it manages memsrv, so none of them can be forged.
//!
//! Each message is postcard-encoded into at most [`MAX_BYTES`] bytes and carried as
//! message words with label [`LABEL`] by `ipc-codec` (sizes are checked at compile time).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod fixed;
pub mod kept;

pub use ipc_codec::{CodecError, MAX_BYTES};
use serde::{Deserialize, Serialize};
use syscall_abi::invocation::ObjectKind;
use syscall_abi::ipc::REGISTER_WORDS;

/// The label of every memsrv message.
pub const LABEL: u64 = 0x3e35;

/// The orders a frame may have: 4 KiB and 2 MiB (a whole pageblock).
pub const ORDER_4K: u8 = 0;
/// A 2 MiB frame.
pub const ORDER_2M: u8 = 9;
/// The largest block memsrv hands out: one pageblock, 2^9 pages.
pub const MAX_ORDER: u8 = 9;

/// memsrv's CNode has 2^`CNODE_RADIX` slots (init spawns it so): one per frame, object or
/// buddy-tree half it keeps.
pub const CNODE_RADIX: u8 = 12;

/// The capabilities memsrv is handed, in granted-slot order (`libasi::process::granted`).
pub mod grants {
    /// memsrv's endpoint, read right.
    pub const ENDPOINT: usize = 0;
    /// The ASI control capability, to flip pageblocks.
    pub const ASI_CONTROL: usize = 1;
    /// The first of the untyped regions memsrv manages: each a power of two of at least
    /// one 2 MiB pageblock, naturally aligned (as the kernel's boot regions are), moved to
    /// memsrv so that nobody else can carve from them. They fill the granted slots from
    /// here on; memsrv splits them into pageblocks.
    pub const FIRST_MEMORY: usize = 2;
}

/// Badges of the endpoint capabilities clients get: who the client is, how much it may
/// hold and whether it may reclaim other clients' memory.
pub mod badge {
    /// Bits of the client number.
    const ID_BITS: u32 = 16;
    /// Bits of the quota, above the client number.
    const QUOTA_BITS: u32 = 32;
    /// The manager bit, above the quota.
    const MANAGER: u64 = 1 << (ID_BITS + QUOTA_BITS);

    /// Client numbers memsrv serves are below this: memsrv keeps a record per number.
    pub const CLIENTS: u16 = 64;

    /// The badge of client `id` (below [`CLIENTS`]; with a quota of 0 not 0, since badge
    /// 0 means no badge) allowed to hold `quota_pages` 4 KiB pages at a time.
    pub const fn client(id: u16, quota_pages: u32) -> u64 {
        ((quota_pages as u64) << ID_BITS) | id as u64
    }

    /// The badge of a client that may also reclaim what other clients hold
    /// ([`Request::Reclaim`](super::Request::Reclaim)): init's.
    pub const fn manager(id: u16, quota_pages: u32) -> u64 {
        client(id, quota_pages) | MANAGER
    }

    /// Whether `badge` names a client memsrv serves: a badge, with a client number below
    /// [`CLIENTS`].
    pub const fn is_client(badge: u64) -> bool {
        badge != 0 && id(badge) < CLIENTS
    }

    /// The client number of `badge`.
    pub const fn id(badge: u64) -> u16 {
        badge as u16
    }

    /// The quota, in 4 KiB pages, that `badge` carries.
    pub const fn quota_pages(badge: u64) -> u64 {
        (badge >> ID_BITS) & u32::MAX as u64
    }

    /// Whether `badge` is a manager's.
    pub const fn is_manager(badge: u64) -> bool {
        badge & MANAGER != 0
    }
}

/// Whether memory may hold secrets (as `libasi::cap::Sensitivity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sensitivity {
    Sensitive,
    Nonsensitive,
}

impl Sensitivity {
    /// A dense index, 0 for sensitive and 1 for nonsensitive, for per-sensitivity arrays
    /// such as [`KeptCounts`].
    pub const fn index(self) -> usize {
        match self {
            Self::Sensitive => 0,
            Self::Nonsensitive => 1,
        }
    }
}

/// How many 4 KiB frames memsrv keeps for the client after this answer, sensitive then
/// nonsensitive: the client drops its oldest kept frames beyond these ([`kept`]).
pub type KeptCounts = [u8; 2];

/// A kernel object memsrv can make. Page tables are not among them: like seL4, the
/// kernel lets no copy of an unmapped page table be made, and a client gets only copies;
/// a client retypes its tables from [`Object::Untyped`] memory instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    Tcb,
    Endpoint,
    Notification,
    /// A CNode of 2^`radix` slots.
    CNode {
        radix: u8,
    },
    VSpace,
    /// Nonsensitive untyped memory of 2^`size_bits` bytes (4 KiB to 2 MiB), for a client
    /// that builds objects itself, such as a process spawner.
    Untyped {
        size_bits: u8,
    },
}

impl Object {
    /// The retype request that makes it: the kind and the size argument.
    pub const fn retype(self) -> (ObjectKind, u8) {
        match self {
            Self::Tcb => (ObjectKind::Tcb, 0),
            Self::Endpoint => (ObjectKind::Endpoint, 0),
            Self::Notification => (ObjectKind::Notification, 0),
            Self::CNode { radix } => (ObjectKind::CNode, radix),
            Self::VSpace => (ObjectKind::VSpace, 0),
            Self::Untyped { size_bits } => (ObjectKind::Untyped, size_bits),
        }
    }
}

/// Names one allocation for [`Request::Free`]: given in the reply that handed it out,
/// valid until it is freed (a stale handle is refused, never mistaken for a newer one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Handle(pub u64);

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A frame of 2^`order` pages ([`ORDER_4K`] or [`ORDER_2M`]) of `sensitivity`.
    AllocFrame { sensitivity: Sensitivity, order: u8 },
    /// `count` frames of 2^`order` pages each, of `sensitivity`, as one untyped region of
    /// 2^`order` × `count` pages rounded up to a power of two (at most a pageblock).
    AllocFrames { sensitivity: Sensitivity, order: u8, count: u16 },
    /// A kernel object, from nonsensitive memory.
    AllocObject(Object),
    /// Take back the allocation `handle` names; with `keep`, a 4 KiB frame may stay the
    /// caller's, kept for its next [`Request::Reuse`] ([`kept`]).
    Free { handle: Handle, keep: bool },
    /// Take back every frame kept for the caller (answered with [`Reply::Freed`]).
    ReleaseKept,
    /// The caller's usage.
    Usage,
    /// memsrv's free lists, pageblocks and flips.
    Stats,
    /// Manager only: take back everything client `client` holds.
    Reclaim { client: u16 },
    /// The newest 4 KiB frame of `sensitivity` memsrv keeps for the caller ([`kept`]), in
    /// use again; never a new one.
    Reuse { sensitivity: Sensitivity },
}

/// What a client holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// 4 KiB pages held, frames and objects together (an object takes whole pages).
    pub pages: u64,
    /// The quota in pages.
    pub quota_pages: u64,
    /// Frame allocations held (one per [`Request::AllocFrame`] or
    /// [`Request::AllocFrames`]).
    pub frame_allocations: u64,
    /// Objects held.
    pub objects: u64,
    /// Of the frame allocations, the 4 KiB frames memsrv keeps for the client ([`kept`]):
    /// still the client's, and counted in `pages`.
    pub kept_frames: u64,
}

/// Orders of the free lists: 4 KiB (0) to 2 MiB (9).
pub const ORDERS: usize = MAX_ORDER as usize + 1;

/// memsrv's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Free blocks per free list: sensitive then nonsensitive, by order.
    pub free_blocks: [[u64; ORDERS]; 2],
    /// Free bytes, sensitive then nonsensitive.
    pub free_bytes: [u64; 2],
    /// Pageblocks managed, sensitive then nonsensitive.
    pub pageblocks: [u64; 2],
    /// Sensitivity flips since memsrv started.
    pub flips: u64,
    /// Clients holding something.
    pub clients: u64,
    /// 4 KiB frames kept for clients ([`kept`]), not free.
    pub kept_frames: u64,
}

/// Why a request was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// Not a memsrv message: wrong label, bad length, bad encoding.
    Malformed,
    /// The caller's capability has no badge, or one with a client number memsrv does not
    /// serve ([`badge::CLIENTS`] and up), so memsrv does not know who it is.
    Unidentified,
    /// An order other than [`ORDER_4K`] and [`ORDER_2M`] for frames, or frames that
    /// together exceed a pageblock.
    BadOrder,
    /// A count of zero frames.
    BadCount,
    /// An object memsrv cannot make: a CNode radix or untyped size out of range.
    BadObject,
    /// No block of that size can be had in that sensitivity, flips included.
    OutOfMemory,
    /// The allocation would take the caller past its quota.
    QuotaExceeded,
    /// memsrv's own bookkeeping (slots, records, clients) is full.
    ServerFull,
    /// The handle names nothing this caller holds: never handed out, freed already, or
    /// another client's.
    NotYours,
    /// Reclaim from a caller that is not the manager.
    NotManager,
    /// A reuse, but memsrv keeps no frame of that sensitivity for the caller (it keeps
    /// none of it now: it took them back, or there were none).
    NothingKept,
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
        handle: Handle,
        kept: KeptCounts,
    },
    /// The newest kept frame of the sensitivity asked for is the caller's again: its
    /// capability is where it was when the caller freed it.
    Reused {
        handle: Handle,
        kept: KeptCounts,
    },
    /// The untyped region holding the frames is in the reply's capability.
    Frames {
        address: u64,
        handle: Handle,
    },
    /// The object is in the reply's capability.
    Object {
        handle: Handle,
    },
    /// The allocation is revoked.
    Freed {
        kept: KeptCounts,
    },
    /// The frame is kept for the caller: its capability stays where it is.
    Kept {
        kept: KeptCounts,
    },
    Usage(Usage),
    Stats(Stats),
    /// What the reclaimed client held, now free.
    Reclaimed(Usage),
    Refused(Error),
}

/// The longest encoded request: a tag, a `u64` varint of up to ten bytes and a `bool`
/// ([`Request::Free`]).
const MAX_REQUEST: usize = 1 + 10 + 1;
/// The longest encoded reply: [`Reply::Stats`], a tag and 27 `u64` varints.
const MAX_REPLY: usize = 1 + (2 * ORDERS + 7) * 10;
/// The longest message of a frame allocated and freed ([`Request::AllocFrame`],
/// [`Request::Free`] and their replies, refusals included): [`Reply::Frame`], a tag, two
/// `u64` varints and the kept counts. It fits the message registers, so these calls take
/// the kernel's fastpath whenever no capability moves.
const MAX_FRAME_MESSAGE: usize = 1 + 10 + 10 + 2;
const _: () = assert!(ipc_codec::words_for(MAX_FRAME_MESSAGE) <= REGISTER_WORDS);
const _: () = assert!(MAX_REQUEST <= MAX_BYTES && MAX_REPLY <= MAX_BYTES);
/// The longest memsrv message, either way.
const MAX_MESSAGE: usize = if MAX_REQUEST > MAX_REPLY { MAX_REQUEST } else { MAX_REPLY };
/// Words that hold any memsrv request, in either encoding. They fit the message
/// registers, so a server receives every request in registers.
pub const REQUEST_WORDS: usize = ipc_codec::words_for(MAX_REQUEST);
const _: () = assert!(REQUEST_WORDS >= fixed::REQUEST_WORDS && REQUEST_WORDS <= REGISTER_WORDS);
/// Words that hold any memsrv message: what [`encode`] needs.
pub const MESSAGE_WORDS: usize = ipc_codec::words_for(MAX_MESSAGE);

/// Encodes `value` into `words` (the byte count, then the bytes); returns how many words.
pub fn encode<T: Serialize>(value: &T, words: &mut [u64]) -> Result<usize, CodecError> {
    ipc_codec::encode(value, words)
}

/// Decodes a memsrv message of `label` and `words`.
pub fn decode<T: for<'de> Deserialize<'de>>(label: u64, words: &[u64]) -> Result<T, CodecError> {
    let mut bytes = [0u8; MAX_MESSAGE];
    ipc_codec::decode(label, LABEL, words, &mut bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug>(
        value: T,
    ) {
        let mut words = [0; MESSAGE_WORDS];
        let count = encode(&value, &mut words).unwrap();
        assert_eq!(decode::<T>(LABEL, &words[..count]).unwrap(), value);
    }

    const OBJECTS: [Object; 6] = [
        Object::Tcb,
        Object::Endpoint,
        Object::Notification,
        Object::CNode { radix: u8::MAX },
        Object::VSpace,
        Object::Untyped { size_bits: 21 },
    ];

    fn largest_stats() -> Stats {
        Stats {
            free_blocks: [[u64::MAX; ORDERS]; 2],
            free_bytes: [u64::MAX; 2],
            pageblocks: [u64::MAX; 2],
            flips: u64::MAX,
            clients: u64::MAX,
            kept_frames: u64::MAX,
        }
    }

    #[test]
    fn requests_and_replies_round_trip() {
        for sensitivity in [Sensitivity::Sensitive, Sensitivity::Nonsensitive] {
            for order in [ORDER_4K, ORDER_2M, u8::MAX] {
                round_trip(Request::AllocFrame { sensitivity, order });
                round_trip(Request::AllocFrames { sensitivity, order, count: u16::MAX });
            }
            round_trip(Request::Reuse { sensitivity });
        }
        for object in OBJECTS {
            round_trip(Request::AllocObject(object));
        }
        round_trip(Request::Free { handle: Handle(u64::MAX), keep: true });
        round_trip(Request::ReleaseKept);
        round_trip(Request::Usage);
        round_trip(Request::Stats);
        round_trip(Request::Reclaim { client: u16::MAX });
        let handle = Handle(u64::MAX);
        let kept = [u8::MAX, 0];
        round_trip(Reply::Frame { address: u64::MAX, handle, kept });
        round_trip(Reply::Reused { handle, kept });
        round_trip(Reply::Kept { kept });
        round_trip(Reply::Frames { address: u64::MAX, handle });
        round_trip(Reply::Object { handle });
        round_trip(Reply::Freed { kept });
        let usage = Usage {
            pages: 1,
            quota_pages: 2,
            frame_allocations: 3,
            objects: u64::MAX,
            kept_frames: 4,
        };
        round_trip(Reply::Usage(usage));
        round_trip(Reply::Reclaimed(usage));
        round_trip(Reply::Stats(largest_stats()));
        let errors = [
            Error::Malformed,
            Error::NotYours,
            Error::NotManager,
            Error::NothingKept,
            Error::Kernel(u64::MAX),
        ];
        for error in errors {
            round_trip(Reply::Refused(error));
        }
    }

    #[test]
    fn the_longest_messages_fit_the_bounds() {
        let mut words = [0; MESSAGE_WORDS];
        encode(&Reply::Stats(largest_stats()), &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REPLY);
        encode(&Request::Free { handle: Handle(u64::MAX), keep: true }, &mut words).unwrap();
        assert_eq!(words[0] as usize, MAX_REQUEST);
        let handle = Handle(u64::MAX);
        let frame = Reply::Frame { address: u64::MAX, handle, kept: [u8::MAX; 2] };
        assert_eq!(encode(&frame, &mut words).unwrap(), REGISTER_WORDS);
        assert_eq!(words[0] as usize, MAX_FRAME_MESSAGE);
    }

    #[test]
    fn objects_name_their_retype() {
        let kinds = OBJECTS.map(|object| object.retype().0);
        for (index, kind) in kinds.iter().enumerate() {
            assert!(!kinds[..index].contains(kind), "{kind:?} twice");
        }
        assert_eq!(Object::CNode { radix: 12 }.retype(), (ObjectKind::CNode, 12));
        assert_eq!(Object::Untyped { size_bits: 20 }.retype(), (ObjectKind::Untyped, 20));
    }

    #[test]
    fn hostile_messages_are_errors() {
        let mut words = [0; MESSAGE_WORDS];
        let count = encode(&Request::Stats, &mut words).unwrap();
        assert_eq!(
            decode::<Request>(LABEL + 1, &words[..count]),
            Err(CodecError::Label(LABEL + 1))
        );
        assert_eq!(decode::<Request>(LABEL, &[]), Err(CodecError::Length));
        assert_eq!(decode::<Request>(LABEL, &[u64::MAX]), Err(CodecError::Length));
        assert_eq!(decode::<Request>(LABEL, &[MAX_BYTES as u64 + 1]), Err(CodecError::Length));
        // A count promising more words than the message has, or fewer.
        assert_eq!(decode::<Request>(LABEL, &[9, 0]), Err(CodecError::Length));
        assert_eq!(decode::<Request>(LABEL, &[1, 2, 0]), Err(CodecError::Length));
        // An unknown variant tag, a truncated variant, trailing bytes.
        assert_eq!(decode::<Request>(LABEL, &[1, 7]), Err(CodecError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[1, 0]), Err(CodecError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[2, 0x0405]), Err(CodecError::Encoding));
        assert_eq!(decode::<Request>(LABEL, &[0]), Err(CodecError::Encoding));
        // An unknown object tag.
        assert_eq!(decode::<Request>(LABEL, &[2, 0x0602]), Err(CodecError::Encoding));
        // Every short message decodes to something or an error, never a panic.
        for tag in 0..=u8::MAX {
            for len in 0..=8u64 {
                let _ = decode::<Request>(LABEL, &[len, u64::from(tag) * 0x0101_0101_0101_0101]);
            }
        }
    }

    #[test]
    fn badges_carry_id_quota_and_the_manager_bit() {
        let badge = badge::client(7, 1024);
        assert_eq!((badge::id(badge), badge::quota_pages(badge)), (7, 1024));
        assert!(!badge::is_manager(badge));
        let max = badge::client(u16::MAX, u32::MAX);
        assert_eq!((badge::id(max), badge::quota_pages(max)), (u16::MAX, u64::from(u32::MAX)));
        assert!(!badge::is_manager(max));
        let manager = badge::manager(1, 8);
        assert_eq!((badge::id(manager), badge::quota_pages(manager)), (1, 8));
        assert!(badge::is_manager(manager));
        assert!(badge::is_client(badge) && badge::is_client(manager));
        assert!(!badge::is_client(0) && !badge::is_client(max), "no badge, a number too high");
        assert!(badge::is_client(badge::client(badge::CLIENTS - 1, 0)));
    }
}
