//! A memsrv client: frames of a chosen sensitivity, as capabilities.
//!
//! ```ignore
//! use libasi::cap::{Cap, Endpoint, Sensitivity};
//! use memsrv_client::Client;
//!
//! // `endpoint`: memsrv's endpoint, badged by init, with the write, grant and
//! // grant-reply rights; `slot`: an empty slot of the caller's CNode.
//! let client = Client::new(endpoint, buffer);
//! let frame = client.alloc_frame(0, Sensitivity::Sensitive, slot)?;
//! assert_eq!(frame.sensitivity()?, Sensitivity::Sensitive);
//! client.free(frame)?; // every copy of the frame is gone
//! ```
//!
//! (Not a doctest: it needs the kernel and memsrv; `tests/guest/memtest` runs it.)
#![no_std]
#![forbid(unsafe_code)]

use libasi::boot::SlotRange;
use libasi::cap::{CNode, Cap, Endpoint, FULL_DEPTH, Frame, Sensitivity};
use libasi::ipc::IpcBuffer;
use libasi::mem::FrameSource;
use libasi::message::Message;
use memsrv_api::{LABEL, Reply, Request, Stats};
use syscall_abi::ipc::MAX_WORDS;

/// Why a request to memsrv failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The IPC itself failed.
    Ipc(libasi::Error),
    /// memsrv refused, and changed nothing.
    Refused(memsrv_api::Error),
    /// memsrv's answer was not what the request calls for (or not a memsrv message).
    BadReply,
}

/// memsrv, reached through one badged endpoint capability from one thread.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    endpoint: Cap<Endpoint>,
    buffer: IpcBuffer,
    cnode: Cap<CNode>,
}

impl Client {
    /// A client calling `endpoint` with the calling thread's IPC `buffer`; received
    /// frames go into slots of the CNode at `cnode` (the caller's root CNode).
    pub const fn new(endpoint: Cap<Endpoint>, buffer: IpcBuffer, cnode: Cap<CNode>) -> Self {
        Self { endpoint, buffer, cnode }
    }

    /// A frame of 2^`order` pages (0: 4 KiB, 9: 2 MiB) of `sensitivity`, put into the
    /// empty root slot `slot`.
    pub fn alloc_frame(
        &self,
        order: u8,
        sensitivity: Sensitivity,
        slot: u64,
    ) -> Result<Cap<Frame>, Error> {
        let sensitivity = match sensitivity {
            Sensitivity::Sensitive => memsrv_api::Sensitivity::Sensitive,
            Sensitivity::Nonsensitive => memsrv_api::Sensitivity::Nonsensitive,
        };
        self.buffer.set_receive_slot(self.cnode, slot, FULL_DEPTH).map_err(Error::Ipc)?;
        let reply = self.call(&Request::AllocFrame { sensitivity, order }, None);
        self.buffer.clear_receive_slot().map_err(Error::Ipc)?;
        match reply? {
            (Reply::Frame { .. }, 1) => Ok(Cap::from_slot(slot)),
            _ => Err(Error::BadReply),
        }
    }

    /// Gives `frame` back; memsrv revokes it, so this and every other copy of it is gone.
    pub fn free(&self, frame: Cap<Frame>) -> Result<(), Error> {
        match self.call(&Request::Free, Some(frame))? {
            (Reply::Freed, _) => Ok(()),
            _ => Err(Error::BadReply),
        }
    }

    /// The caller's usage and memsrv's counters.
    pub fn stats(&self) -> Result<Stats, Error> {
        match self.call(&Request::Stats, None)? {
            (Reply::Stats(stats), _) => Ok(stats),
            _ => Err(Error::BadReply),
        }
    }

    /// Sends `request` (with `frame` if any) and decodes the reply: the reply and how
    /// many capabilities came with it. A refusal is [`Error::Refused`].
    fn call(&self, request: &Request, frame: Option<Cap<Frame>>) -> Result<(Reply, usize), Error> {
        let mut words = [0; MAX_WORDS];
        let count = memsrv_api::encode(request, &mut words).map_err(|_| Error::BadReply)?;
        let mut message =
            Message::with_words(LABEL, &words[..count]).map_err(|_| Error::BadReply)?;
        if let Some(frame) = frame {
            message.try_push_cap(frame.cptr()).map_err(|_| Error::BadReply)?;
        }
        let reply = self.endpoint.call(self.buffer, &message).map_err(Error::Ipc)?;
        match memsrv_api::decode::<Reply>(reply.label(), reply.words()) {
            Ok(Reply::Refused(error)) => Err(Error::Refused(error)),
            Ok(answer) => Ok((answer, reply.cap_count())),
            Err(_) => Err(Error::BadReply),
        }
    }
}

/// memsrv as a heap's [`FrameSource`]: 4 KiB frames of the heap's sensitivity, each into
/// the next slot of a range of empty root slots.
///
/// ```ignore
/// #[global_allocator]
/// static HEAP: Heap<FrameSupply> = Heap::new();
///
/// let frames = FrameSupply::new(client, frame_slots);
/// HEAP.init(frames, &mut tables, Sensitivity::Sensitive)?;
/// ```
///
/// (Not a doctest: see [`libasi::mem::Heap`].)
#[derive(Clone, Copy, Debug)]
pub struct FrameSupply {
    client: Client,
    slots: SlotRange,
    next: u64,
}

/// Why a [`FrameSupply`] had no frame to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupplyError {
    /// Every slot of its range holds a frame already.
    NoSlots,
    /// memsrv's answer.
    Memsrv(Error),
}

impl FrameSupply {
    /// Frames from memsrv through `client`, into the empty root slots `slots`.
    pub const fn new(client: Client, slots: SlotRange) -> Self {
        Self { client, slots, next: slots.start }
    }

    /// The slots filled so far.
    pub const fn used(&self) -> SlotRange {
        SlotRange { start: self.slots.start, end: self.next }
    }
}

impl FrameSource for FrameSupply {
    type Error = SupplyError;

    fn frame(&mut self, sensitivity: Sensitivity) -> Result<Cap<Frame>, SupplyError> {
        if self.next >= self.slots.end {
            return Err(SupplyError::NoSlots);
        }
        let frame =
            self.client.alloc_frame(0, sensitivity, self.next).map_err(SupplyError::Memsrv)?;
        self.next += 1;
        Ok(frame)
    }
}
