//! memsrv's client: frames of a chosen sensitivity and kernel objects, as capabilities;
//! [`FramePool`], for a client that allocates and frees 4 KiB frames often; and
//! [`FrameSupply`], memsrv as a [`Heap`](crate::mem::Heap)'s frame source. The interface
//! itself is `memsrv_api`.
//!
//! ```ignore
//! use crate::cap::{Cap, Endpoint, Sensitivity};
//! use crate::memsrv::Client;
//!
//! // `endpoint`: memsrv's endpoint, badged by init, with the write and grant-reply
//! // rights; `slot`: an empty slot of the caller's root CNode.
//! let client = Client::new(endpoint, buffer, Cap::ROOT);
//! let frame = client.alloc_frame(0, Sensitivity::Sensitive, slot)?;
//! assert_eq!(frame.cap.sensitivity()?, Sensitivity::Sensitive);
//! client.free(frame.handle)?; // every copy of the frame is gone
//!
//! // Sixteen nonsensitive pages: a region in `region`, the frames in `first..first + 16`.
//! let frames = client.alloc_frames(0, Sensitivity::Nonsensitive, 16, region, first)?;
//! let endpoint = client.alloc_object::<Endpoint>(slot)?;
//! ```
//!
//! (Not a doctest: it needs the kernel and memsrv; `tests/guest/memtest` runs it.)

use crate::boot::SlotRange;
use crate::cap::SlotAllocator;
use crate::cap::{
    CNode, CNodeAt, Cap, CapType, Endpoint, FULL_DEPTH, Frame, Notification, ObjectKind,
    Sensitivity, Slot, Tcb, Untyped, VSpace,
};
use crate::ipc::IpcBuffer;
use crate::mem::FrameSource;
use crate::syscall::IpcReturn;
use kernel_core::cap::retype::MAX_RETYPE_COUNT;
use memsrv_api::fixed::{self, FIXED_LABEL, FrameReply};
use memsrv_api::kept::{KEPT_PER_SENSITIVITY, Mirror};
use memsrv_api::{
    Handle, KeptCounts, LABEL, MESSAGE_WORDS, ORDER_2M, ORDER_4K, Object, REQUEST_WORDS, Reply,
    Request, Stats, Usage,
};
use syscall_abi::ipc::MessageInfo;

/// Why a request to memsrv failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The IPC itself failed, or the kernel refused to retype a frame region.
    Ipc(crate::Error),
    /// memsrv refused, and changed nothing.
    Refused(memsrv_api::Error),
    /// memsrv's answer was not what the request calls for (or not a memsrv message).
    BadReply,
    /// A [`FramePool`] has no empty slot left for a new frame.
    NoSlots,
}

/// Something memsrv handed out: the capability and the handle that frees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocated<T: CapType> {
    pub cap: Cap<T>,
    pub handle: Handle,
}

/// A frame and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocatedFrame {
    pub cap: Cap<Frame>,
    pub handle: Handle,
    /// Its physical address.
    pub address: u64,
    pub sensitivity: Sensitivity,
}

/// Frames of one sensitivity from one request: retyped from a region memsrv handed out,
/// which freeing takes back with every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frames {
    /// The region the frames came from.
    pub region: Allocated<Untyped>,
    /// The region's physical address: the first frame's.
    pub address: u64,
    /// The root slot of the first frame; the others follow it.
    pub first: u64,
    pub count: u16,
}

impl Frames {
    /// The `index`th frame.
    pub fn frame(&self, index: u16) -> Option<Cap<Frame>> {
        (index < self.count).then(|| Cap::from_slot(self.first + u64::from(index)))
    }
}

/// A kernel object of a fixed size that memsrv makes: `alloc_object::<T>()`.
pub trait FixedObject: CapType {
    const OBJECT: Object;
}

impl FixedObject for Tcb {
    const OBJECT: Object = Object::Tcb;
}

impl FixedObject for Endpoint {
    const OBJECT: Object = Object::Endpoint;
}

impl FixedObject for Notification {
    const OBJECT: Object = Object::Notification;
}

impl FixedObject for VSpace {
    const OBJECT: Object = Object::VSpace;
}

/// memsrv, reached through one badged endpoint capability from one thread.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    endpoint: Cap<Endpoint>,
    buffer: IpcBuffer,
    cnode: Cap<CNode>,
}

impl Client {
    /// A client calling `endpoint` with the calling thread's IPC `buffer`; what memsrv
    /// hands out goes into slots of the CNode at `cnode` (the caller's root CNode).
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
    ) -> Result<AllocatedFrame, Error> {
        let request = Request::AllocFrame { sensitivity: api_sensitivity(sensitivity), order };
        match self.call_into(&request, slot)? {
            Reply::Frame { address, handle, .. } => {
                Ok(AllocatedFrame { cap: Cap::from_slot(slot), handle, address, sensitivity })
            }
            _ => Err(Error::BadReply),
        }
    }

    /// `count` frames of 2^`order` pages (0 or 9) of `sensitivity`: memsrv's region goes
    /// into the empty root slot `region`, the frames into the `count` empty root slots
    /// from `first` on. If retyping the frames fails the region is given back.
    pub fn alloc_frames(
        &self,
        order: u8,
        sensitivity: Sensitivity,
        count: u16,
        region: u64,
        first: u64,
    ) -> Result<Frames, Error> {
        let request =
            Request::AllocFrames { sensitivity: api_sensitivity(sensitivity), order, count };
        let Reply::Frames { address, handle } = self.call_into(&request, region)? else {
            return Err(Error::BadReply);
        };
        let untyped = Cap::<Untyped>::from_slot(region);
        let kind = if order == ORDER_2M { ObjectKind::Frame2M } else { ObjectKind::Frame4K };
        let dest = CNodeAt::full(self.cnode);
        // One retype makes at most MAX_RETYPE_COUNT objects; a pageblock holds 512 frames.
        let (mut made, count_all) = (0, u64::from(count));
        while made < count_all {
            let chunk = (count_all - made).min(MAX_RETYPE_COUNT as u64);
            if let Err(error) = untyped.retype(kind, 0, dest, first + made, chunk) {
                self.free(handle)?;
                return Err(Error::Ipc(error));
            }
            made += chunk;
        }
        Ok(Frames { region: Allocated { cap: untyped, handle }, address, first, count })
    }

    /// A kernel object of type `T`, from nonsensitive memory, into the empty root slot
    /// `slot`.
    pub fn alloc_object<T: FixedObject>(&self, slot: u64) -> Result<Allocated<T>, Error> {
        self.alloc(T::OBJECT, slot)
    }

    /// Any kernel object memsrv makes (a CNode of a radix, untyped memory of a size, or
    /// one of the [`FixedObject`]s) into the empty root slot `slot`; `T` must be its type.
    /// memsrv makes no page tables ([`Object`]).
    pub fn alloc<T: CapType>(&self, object: Object, slot: u64) -> Result<Allocated<T>, Error> {
        match self.call_into(&Request::AllocObject(object), slot)? {
            Reply::Object { handle } => Ok(Allocated { cap: Cap::from_slot(slot), handle }),
            _ => Err(Error::BadReply),
        }
    }

    /// Gives back what `handle` names; memsrv revokes it, so every copy of it (and for
    /// frames from [`alloc_frames`](Self::alloc_frames), every frame) is gone.
    pub fn free(&self, handle: Handle) -> Result<(), Error> {
        match self.call(&Request::Free { handle, keep: false })? {
            (Reply::Freed { .. }, _) => Ok(()),
            _ => Err(Error::BadReply),
        }
    }

    /// What the caller holds.
    pub fn usage(&self) -> Result<Usage, Error> {
        match self.call(&Request::Usage)? {
            (Reply::Usage(usage), _) => Ok(usage),
            _ => Err(Error::BadReply),
        }
    }

    /// memsrv's free lists, pageblocks and flips.
    pub fn stats(&self) -> Result<Stats, Error> {
        match self.call(&Request::Stats)? {
            (Reply::Stats(stats), _) => Ok(stats),
            _ => Err(Error::BadReply),
        }
    }

    /// Takes back everything client `client` holds (the caller must be the manager);
    /// what it held.
    pub fn reclaim(&self, client: u16) -> Result<Usage, Error> {
        match self.call(&Request::Reclaim { client })? {
            (Reply::Reclaimed(usage), _) => Ok(usage),
            _ => Err(Error::BadReply),
        }
    }

    /// Sends `request` with the reply's capability going into root slot `slot`; the
    /// reply, which must carry exactly one capability.
    fn call_into(&self, request: &Request, slot: u64) -> Result<Reply, Error> {
        self.buffer.set_receive_slot(self.cnode, slot, FULL_DEPTH).map_err(Error::Ipc)?;
        let reply = self.call(request);
        self.buffer.clear_receive_slot().map_err(Error::Ipc)?;
        match reply? {
            (reply, 1) => Ok(reply),
            (reply, 0) => {
                // memsrv allocated, but the capability did not arrive (no grant-reply
                // right, or `slot` was not empty): give the allocation back, and leave
                // the slot alone, since nothing of memsrv's is in it.
                if let Reply::Frame { handle, .. }
                | Reply::Frames { handle, .. }
                | Reply::Object { handle } = reply
                {
                    let _ = self.free(handle);
                }
                Err(Error::BadReply)
            }
            (_, _) => {
                let _ = self.cnode.delete(Slot::root(slot));
                Err(Error::BadReply)
            }
        }
    }

    /// Sends `request` and decodes the reply: the reply and how many capabilities came
    /// with it. A refusal is [`Error::Refused`]. Frame calls go in their fixed layout
    /// ([`Client::frame_call`]), everything else through postcard.
    fn call(&self, request: &Request) -> Result<(Reply, u8), Error> {
        if let Some(frame_call) = fixed::encode_request(request) {
            return self.frame_call(frame_call).map(|(reply, caps)| (reply.into(), caps));
        }
        let mut words = [0; REQUEST_WORDS];
        let count = memsrv_api::encode(request, &mut words).map_err(|_| Error::BadReply)?;
        let mut reply = [0; MESSAGE_WORDS];
        let received = self
            .endpoint
            .call_words(self.buffer, LABEL, &words[..count], &mut reply)
            .map_err(Error::Ipc)?;
        let decoded = received.words(&reply).map(|words| memsrv_api::decode(received.label, words));
        match decoded {
            Some(Ok(Reply::Refused(error))) => Err(Error::Refused(error)),
            Some(Ok(answer)) => Ok((answer, received.caps)),
            _ => Err(Error::BadReply),
        }
    }

    /// A frame call, its request already in the fixed layout (`words`, `length` of them),
    /// register-only both ways: the reply and how many capabilities came with it. A
    /// refusal is [`Error::Refused`].
    fn frame_call(
        &self,
        (words, length): (fixed::Words, usize),
    ) -> Result<(FrameReply, u8), Error> {
        frame_answer(self.endpoint.call_registers(fixed::header(length), words))
    }
}

/// The answer to a frame call as the kernel left it in `ret`, decoded: the reply and how
/// many capabilities came with it. A refusal is [`Error::Refused`].
fn frame_answer(ret: IpcReturn) -> Result<(FrameReply, u8), Error> {
    ret.raw().result().map_err(Error::Ipc)?;
    let info = MessageInfo::from_word(ret.info).map_err(|_| Error::BadReply)?;
    let words = ret.words.get(..usize::from(info.length)).filter(|_| info.label == FIXED_LABEL);
    match words.map(fixed::decode_frame_reply) {
        Some(Ok(FrameReply::Refused(error))) => Err(Error::Refused(error)),
        Some(Ok(reply)) => Ok((reply, info.caps)),
        _ => Err(Error::BadReply),
    }
}

/// The answer in `ret` if it is a reuse's or a keep's in the form memsrv gives them; the
/// callers take anything else through [`frame_answer`].
#[inline(always)]
fn hot_answer(ret: &IpcReturn) -> Option<FrameReply> {
    ret.raw().result().ok().and_then(|_| fixed::hot_reply(ret.info, &ret.words))
}

/// 4 KiB frames from memsrv for a client that frees and allocates them often: a frame it
/// frees is kept for it, unrevoked, and its next allocation of that sensitivity gets it
/// back with no capability moved and no kernel work but the two calls
/// ([`memsrv_api::kept`]). A reused frame holds what the client left in it; memsrv zeroes
/// memory only on its way to another client. The frames go into slots of a range the pool
/// owns, one of which it keeps empty for a new frame: `n` slots hold `n - 1` frames,
/// kept ones included.
///
/// Free a frame here only once nothing maps it: a kept frame stays as it was, mappings
/// included, until memsrv takes it back. memsrv keeps one list per client, so a client
/// has one pool: frames it frees with keep by other means, or through a second pool, would
/// come back where this pool does not expect them (it then answers
/// [`Error::BadReply`]).
///
/// ```ignore
/// let mut pool = FramePool::new(client, frame_slots);
/// let frame = pool.alloc(Sensitivity::Sensitive)?;
/// pool.free(frame)?; // kept for this client
/// assert_eq!(pool.alloc(Sensitivity::Sensitive)?, frame); // the same frame, same slot
/// ```
///
/// (Not a doctest: it needs the kernel and memsrv; `tests/guest/memtest` runs it.)
#[derive(Debug)]
pub struct FramePool {
    client: Client,
    slots: SlotAllocator,
    /// A slot taken for the next new frame, and not yet filled.
    spare: Option<u64>,
    /// The frames memsrv keeps for this pool, by sensitivity, oldest first.
    kept: [Mirror<AllocatedFrame, KEPT_PER_SENSITIVITY>; 2],
}

impl FramePool {
    /// Frames through `client`, into the empty root slots `slots`.
    pub const fn new(client: Client, slots: SlotRange) -> Self {
        const NO_FRAME: AllocatedFrame = AllocatedFrame {
            cap: Cap::from_slot(0),
            handle: Handle(0),
            address: 0,
            sensitivity: Sensitivity::Sensitive,
        };
        Self {
            client,
            slots: SlotAllocator::new(slots),
            spare: None,
            kept: [Mirror::new(NO_FRAME), Mirror::new(NO_FRAME)],
        }
    }

    /// A 4 KiB frame of `sensitivity`: the newest this pool freed if memsrv still keeps
    /// it, otherwise a new one (zeroed).
    #[inline]
    pub fn alloc(&mut self, sensitivity: Sensitivity) -> Result<AllocatedFrame, Error> {
        match self.kept[api_sensitivity(sensitivity).index()].newest() {
            Some(frame) => self.reuse(frame),
            None => self.new_frame(sensitivity),
        }
    }

    /// `frame`, the newest kept of its sensitivity, back from memsrv. No capability moves,
    /// so no receive slot is named; the answer is taken in its hot form first.
    #[inline(always)]
    fn reuse(&mut self, frame: AllocatedFrame) -> Result<AllocatedFrame, Error> {
        let sensitivity = api_sensitivity(frame.sensitivity);
        let (words, length) =
            fixed::encode_request(&Request::Reuse { sensitivity }).ok_or(Error::BadReply)?;
        let ret = self.client.endpoint.call_registers(fixed::header(length), words);
        match hot_answer(&ret) {
            Some(FrameReply::Reused { handle, kept }) if handle == frame.handle => {
                self.kept[sensitivity.index()].reused(|_| true);
                self.reconcile(kept);
                Ok(frame)
            }
            _ => self.reuse_answer(ret, frame),
        }
    }

    /// Any other answer to a reuse of `frame`: memsrv took every kept frame of its
    /// sensitivity back (a new frame then), a refusal, or a reply that is not one.
    #[cold]
    fn reuse_answer(
        &mut self,
        ret: IpcReturn,
        frame: AllocatedFrame,
    ) -> Result<AllocatedFrame, Error> {
        let list = api_sensitivity(frame.sensitivity).index();
        match frame_answer(ret) {
            Err(Error::Refused(memsrv_api::Error::NothingKept)) => {
                let (spare, slots) = (&mut self.spare, &mut self.slots);
                self.kept[list].reconcile(0, |taken| give_back(spare, slots, taken.cap.cptr().0));
                self.new_frame(frame.sensitivity)
            }
            Ok((FrameReply::Reused { handle, kept }, 0)) => {
                let reused = self.kept[list].reused(|newest| newest.handle == handle);
                self.reconcile(kept);
                reused.ok_or(Error::BadReply)
            }
            Ok(_) => Err(Error::BadReply),
            Err(error) => Err(error),
        }
    }

    /// A new frame of `sensitivity`, into the spare slot.
    fn new_frame(&mut self, sensitivity: Sensitivity) -> Result<AllocatedFrame, Error> {
        let slot = match self.spare {
            Some(slot) => slot,
            None => self.slots.alloc().ok_or(Error::NoSlots)?,
        };
        self.spare = Some(slot);
        let request =
            Request::AllocFrame { sensitivity: api_sensitivity(sensitivity), order: ORDER_4K };
        let words = fixed::encode_request(&request).ok_or(Error::BadReply)?;
        let buffer = self.client.buffer;
        buffer.set_receive_slot(self.client.cnode, slot, FULL_DEPTH).map_err(Error::Ipc)?;
        let answer = self.client.frame_call(words);
        buffer.clear_receive_slot().map_err(Error::Ipc)?;
        match answer? {
            (FrameReply::Frame { address, handle, kept }, 1) => {
                self.spare = None;
                self.reconcile(kept);
                Ok(AllocatedFrame { cap: Cap::from_slot(slot), handle, address, sensitivity })
            }
            (FrameReply::Frame { handle, .. }, 0) => {
                // The capability did not arrive (`slot` was not empty): give it back.
                let _ = self.client.free(handle);
                Err(Error::BadReply)
            }
            _ => Err(Error::BadReply),
        }
    }

    /// Gives `frame` back: memsrv keeps it for this pool while there is room, and revokes
    /// it otherwise.
    #[inline]
    pub fn free(&mut self, frame: AllocatedFrame) -> Result<(), Error> {
        let list = api_sensitivity(frame.sensitivity).index();
        let keep = self.kept[list].has_room();
        let (words, length) = fixed::encode_request(&Request::Free { handle: frame.handle, keep })
            .ok_or(Error::BadReply)?;
        let ret = self.client.endpoint.call_registers(fixed::header(length), words);
        match hot_answer(&ret) {
            Some(FrameReply::Kept { kept }) if keep => {
                // Cannot fail: there was room.
                let _ = self.kept[list].kept(frame);
                self.reconcile(kept);
                Ok(())
            }
            _ => self.free_answer(ret, frame),
        }
    }

    /// Any other answer to a free of `frame`: revoked, a refusal, or a reply that is not
    /// one.
    #[cold]
    fn free_answer(&mut self, ret: IpcReturn, frame: AllocatedFrame) -> Result<(), Error> {
        match frame_answer(ret)?.0 {
            FrameReply::Kept { kept } => {
                let list = api_sensitivity(frame.sensitivity).index();
                self.kept[list].kept(frame).map_err(|_| Error::BadReply)?;
                self.reconcile(kept);
                Ok(())
            }
            FrameReply::Freed { kept } => {
                give_back(&mut self.spare, &mut self.slots, frame.cap.cptr().0);
                self.reconcile(kept);
                Ok(())
            }
            _ => Err(Error::BadReply),
        }
    }

    /// Has memsrv take back every frame it keeps for this pool.
    pub fn release_kept(&mut self) -> Result<(), Error> {
        match self.client.call(&Request::ReleaseKept)? {
            (Reply::Freed { kept }, _) => {
                self.reconcile(kept);
                Ok(())
            }
            _ => Err(Error::BadReply),
        }
    }

    /// Frames memsrv keeps for this pool, sensitive then nonsensitive.
    pub fn kept(&self) -> [usize; 2] {
        self.kept.each_ref().map(Mirror::len)
    }

    /// Drops the kept frames memsrv has taken back since: their slots are empty.
    #[inline(always)]
    fn reconcile(&mut self, counts: KeptCounts) {
        // Almost always memsrv took nothing back: two compares, and no call.
        let [sensitive, nonsensitive] = counts.map(usize::from);
        if self.kept[0].len() > sensitive || self.kept[1].len() > nonsensitive {
            self.drop_taken_back(counts);
        }
    }

    #[cold]
    fn drop_taken_back(&mut self, counts: KeptCounts) {
        let (spare, slots) = (&mut self.spare, &mut self.slots);
        for (list, count) in self.kept.iter_mut().zip(counts) {
            list.reconcile(count, |frame| give_back(spare, slots, frame.cap.cptr().0));
        }
    }
}

/// Makes `slot`, empty again, the pool's spare, or gives it back to its allocator; a slot
/// outside the pool's range (a frame freed here that came from elsewhere) stays the
/// caller's.
fn give_back(spare: &mut Option<u64>, slots: &mut SlotAllocator, slot: u64) {
    match spare {
        _ if !slots.is_allocated(slot) => {}
        None => *spare = Some(slot),
        Some(_) => slots.free(slot),
    }
}

const fn api_sensitivity(sensitivity: Sensitivity) -> memsrv_api::Sensitivity {
    match sensitivity {
        Sensitivity::Sensitive => memsrv_api::Sensitivity::Sensitive,
        Sensitivity::Nonsensitive => memsrv_api::Sensitivity::Nonsensitive,
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
/// (Not a doctest: see [`Heap`](crate::mem::Heap).)
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
        Ok(frame.cap)
    }
}
