//! memsrv, the memory server: owns the system's general-purpose memory and hands out
//! frames of a requested sensitivity and kernel objects over IPC ([`memsrv_api`]),
//! choosing blocks with the allocator core ([`memsrv::Allocator`]) and flipping whole free
//! pageblocks through the ASI control capability when it says so.
//!
//! # Memory and capabilities
//!
//! memsrv is granted untyped regions of whole pageblocks and splits them into one untyped
//! capability per 2 MiB pageblock ([`regions`]). A block the allocator chooses becomes a
//! capability at exactly that address through the buddy tree mirrored in untyped halves
//! ([`memsrv::tree`]): a leaf is made from the untyped of its own node, which must then
//! have no children. On a free memsrv revokes and deletes the leaf (every copy a client
//! made goes with it, and for a frame region every frame retyped from it) but keeps the
//! halves above it: the next allocation nearby reuses them instead of splitting again.
//! Cached halves are deleted when their node is handed out whole, when their pageblock
//! flips (the kernel flips only an untyped without children), and when slots run low.
//! Each record costs a slot of memsrv's CNode of 2^[`memsrv_api::CNODE_RADIX`] slots; a
//! request that still might not find enough is refused with [`Error::ServerFull`].
//!
//! # Clients
//!
//! A client is its badge ([`memsrv_api::badge`]): a number, a quota in pages and whether it
//! is the manager. Every leaf records its holder; a free names the leaf by its handle and
//! is refused unless that caller holds it. A 4 KiB frame freed with *keep* stays the
//! client's, unrevoked, for its next `Reuse` of that sensitivity ([`memsrv_api::kept`]); memsrv takes kept frames back, oldest first, when the client's
//! quota or memsrv's memory runs short. Every request that is not well formed gets
//! [`Error::Malformed`]; nothing a client sends makes memsrv panic.
//!
//! memsrv's state (the allocator, a record per slot) is larger than its stack, so it lives
//! in a `static`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod regions;

use libasi::cap::{
    AsiControl, CNode, CNodeAt, CPtr, Cap, Endpoint, Frame, ObjectKind,
    Sensitivity as KernelSensitivity, Slot, SlotAllocator, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::process::{self, layout};
use memsrv::tree::{self, Leaf, LeafKind, Node, Records};
use memsrv::{Allocator, Block, FreeList, PAGEBLOCK_ORDER, PageblockAddr, Sensitivity};
use memsrv_api::fixed::{self, FIXED_LABEL, FrameReply};
use memsrv_api::kept::Kept;
use memsrv_api::{
    CodecError, Error, Handle, KeptCounts, LABEL, MAX_ORDER, MESSAGE_WORDS, ORDER_2M, ORDER_4K,
    Object, Reply, Request, Stats, Usage, badge, grants,
};
use spin::Mutex;
use syscall_abi::boot_info::SlotRange;
use syscall_abi::ipc::MessageInfo;

libasi::entry!(main);

/// Pageblocks memsrv can manage: 256 MiB.
const MAX_PAGEBLOCKS: usize = 128;
/// Slots one allocation may take: a pair of halves per order below the pageblock, and
/// the leaf.
const SLOTS_PER_ALLOCATION: usize = 2 * PAGEBLOCK_ORDER as usize + 1;
/// Clients memsrv serves: one record each, at the client number.
const CLIENTS: usize = badge::CLIENTS as usize;
/// The smallest untyped region memsrv hands out: one page.
const MIN_UNTYPED_BITS: u8 = 12;
const _: () = assert!(tree::SLOTS == 1 << memsrv_api::CNODE_RADIX);

static SERVER: Mutex<Server> = Mutex::new(Server::EMPTY);

fn main() -> u64 {
    process::serve("memsrv", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(grants::ENDPOINT));
    let mut server = SERVER.lock();
    server.start(buffer)?;
    // Every request fits the message registers, so each arrives in registers and nothing
    // reads the IPC buffer; a frame call's reply goes back in registers too (the fastpath
    // both ways), and only a longer reply (statistics) is staged in the buffer. Every
    // instruction here is paid per request. The first reply, empty, goes to no one.
    let mut reply = [0; MESSAGE_WORDS];
    let (mut info, mut registers) = buffer.stage(LABEL, &[], None)?;
    loop {
        let ret = endpoint.reply_receive_registers(info, registers);
        ret.raw().result()?;
        // A kept frame's round trip first: recognized and answered with a few compares.
        let hot = fixed::hot_request(ret.info, &ret.words)
            .and_then(|request| server.kept_frame_call(ret.badge, request));
        if let Some(answer) = hot {
            let (words, length) = fixed::encode_frame_reply(answer);
            (info, registers) = (fixed::header(length), words);
            continue;
        }
        let header = MessageInfo::from_word(ret.info).ok();
        let fixed = header.is_some_and(|header| header.label == FIXED_LABEL);
        let words = header.and_then(|header| ret.words.get(..usize::from(header.length)));
        let decoded = match (words, header) {
            (Some(words), _) if fixed => fixed::decode_request(words),
            (Some(words), Some(header)) => memsrv_api::decode(header.label, words),
            _ => Err(CodecError::Length),
        };
        let (answer, cap) = server.handle(ret.badge, decoded);
        let (label, length) = encode(fixed, &answer, &mut reply);
        (info, registers) = buffer.stage(label, &reply[..length], cap)?;
    }
}

/// `answer` in `reply`, in the fixed layout if the request came in it
/// ([`memsrv_api::fixed`]): its label and length. A reply that cannot be encoded goes out
/// empty, which no client takes for an answer.
fn encode(fixed: bool, answer: &Reply, reply: &mut [u64; MESSAGE_WORDS]) -> (u64, usize) {
    if fixed && let Some((words, length)) = fixed::encode_reply(answer) {
        reply[..words.len()].copy_from_slice(&words);
        return (FIXED_LABEL, length);
    }
    (LABEL, memsrv_api::encode(answer, reply).unwrap_or(0))
}

/// A managed pageblock: where it is and its untyped capability.
#[derive(Clone, Copy, Debug)]
struct Pageblock {
    base: PageblockAddr,
    untyped: Cap<Untyped>,
}

/// A client: what it holds, and the frames kept for it.
struct ClientRecord {
    usage: Usage,
    kept: Kept,
}

impl ClientRecord {
    const EMPTY: Self = Self {
        usage: Usage { pages: 0, quota_pages: 0, frame_allocations: 0, objects: 0, kept_frames: 0 },
        kept: Kept::EMPTY,
    };
}

struct Server {
    asi: Cap<AsiControl>,
    allocator: Allocator<MAX_PAGEBLOCKS>,
    /// Sorted by address; a [`Node`]'s `pageblock` is an index into it.
    pageblocks: heapless::Vec<Pageblock, MAX_PAGEBLOCKS>,
    records: Records,
    /// By client number: a client that holds nothing has a record of zeros.
    clients: [ClientRecord; CLIENTS],
    slots: SlotAllocator,
}

impl Server {
    const EMPTY: Self = Self {
        asi: Cap::new(process::granted(grants::ASI_CONTROL)),
        allocator: Allocator::EMPTY,
        pageblocks: heapless::Vec::new(),
        records: Records::EMPTY,
        clients: [ClientRecord::EMPTY; CLIENTS],
        slots: SlotAllocator::new(SlotRange { start: 0, end: 0 }),
    };

    /// Splits the granted regions into pageblocks and builds the allocator over them.
    fn start(&mut self, buffer: IpcBuffer) -> Result<(), libasi::Error> {
        let first_free = layout::first_free_slot(layout::MAX_GRANTED);
        self.slots = SlotAllocator::new(SlotRange { start: first_free, end: tree::SLOTS as u64 });
        let mut found = heapless::Vec::<_, MAX_PAGEBLOCKS>::new();
        let unmanaged =
            regions::split_granted(buffer, &mut self.pageblocks, &mut found, &mut self.slots)?;
        if unmanaged > 0 {
            libasi::println!(
                "memsrv: manages {MAX_PAGEBLOCKS} pageblocks; {unmanaged} more left alone"
            );
        }
        self.pageblocks.sort_unstable_by_key(|pageblock| pageblock.base);
        self.allocator.reset(found).map_err(|_| libasi::Error::InvalidArgument { word: 0 })
    }

    /// The reply to the request (as decoded) from the client with `badge`, and the
    /// capability to send with it.
    fn handle(
        &mut self,
        badge: u64,
        decoded: Result<Request, CodecError>,
    ) -> (Reply, Option<CPtr>) {
        let result = match decoded {
            Err(_) => Err(Error::Malformed),
            Ok(_) if !badge::is_client(badge) => Err(Error::Unidentified),
            Ok(Request::AllocFrame { sensitivity, order }) => {
                self.alloc_frame(badge, sensitivity, order)
            }
            Ok(Request::Reuse { sensitivity }) => self
                .reuse(badge::id(badge), sensitivity)
                .map(|answer| (Reply::from(answer), None))
                .ok_or(Error::NothingKept),
            Ok(Request::AllocFrames { sensitivity, order, count }) => {
                self.alloc_frames(badge, sensitivity, order, count)
            }
            Ok(Request::AllocObject(object)) => self.alloc_object(badge, object),
            Ok(Request::Free { handle, keep }) => self.free(badge, handle, keep),
            Ok(Request::ReleaseKept) => self.release_kept(badge::id(badge)),
            Ok(Request::Usage) => Ok((Reply::Usage(self.usage(badge)), None)),
            Ok(Request::Stats) => Ok((Reply::Stats(self.stats()), None)),
            Ok(Request::Reclaim { .. }) if !badge::is_manager(badge) => Err(Error::NotManager),
            Ok(Request::Reclaim { client }) => {
                self.reclaim(client).map(|usage| (Reply::Reclaimed(usage), None))
            }
        };
        result.unwrap_or_else(|error| (Reply::Refused(error), None))
    }

    fn alloc_frame(
        &mut self,
        badge: u64,
        sensitivity: memsrv_api::Sensitivity,
        order: u8,
    ) -> Result<(Reply, Option<CPtr>), Error> {
        let id = badge::id(badge);
        let kind = match order {
            ORDER_4K => ObjectKind::Frame4K,
            ORDER_2M => ObjectKind::Frame2M,
            _ => return Err(Error::BadOrder),
        };
        let made = self.allocate(badge, sensitivity, order, LeafKind::Frame, (kind, 0))?;
        let kept = self.kept_counts(id);
        Ok((Reply::Frame { address: made.address, handle: made.handle, kept }, Some(made.cap)))
    }

    fn alloc_frames(
        &mut self,
        badge: u64,
        sensitivity: memsrv_api::Sensitivity,
        order: u8,
        count: u16,
    ) -> Result<(Reply, Option<CPtr>), Error> {
        if order != ORDER_4K && order != ORDER_2M {
            return Err(Error::BadOrder);
        }
        if count == 0 {
            return Err(Error::BadCount);
        }
        let total = u32::from(order) + u32::from(count).next_power_of_two().trailing_zeros();
        let total =
            u8::try_from(total).ok().filter(|&total| total <= MAX_ORDER).ok_or(Error::BadOrder)?;
        let size_bits = memsrv::FRAME_SHIFT as u8 + total;
        let made = self.allocate(
            badge,
            sensitivity,
            total,
            LeafKind::Frames,
            (ObjectKind::Untyped, size_bits),
        )?;
        Ok((Reply::Frames { address: made.address, handle: made.handle }, Some(made.cap)))
    }

    fn alloc_object(&mut self, badge: u64, object: Object) -> Result<(Reply, Option<CPtr>), Error> {
        let (kind, argument) = object.retype();
        let size_bits = kernel_core::cap::object::ObjectType::of_kind(kind)
            .size_bits(argument)
            .filter(|&bits| kind != ObjectKind::Untyped || bits >= MIN_UNTYPED_BITS)
            .ok_or(Error::BadObject)?;
        let order = size_bits.saturating_sub(memsrv::FRAME_SHIFT as u8);
        if order > MAX_ORDER {
            return Err(Error::BadObject);
        }
        let nonsensitive = memsrv_api::Sensitivity::Nonsensitive;
        let made = self.allocate(badge, nonsensitive, order, LeafKind::Object, (kind, argument))?;
        Ok((Reply::Object { handle: made.handle }, Some(made.cap)))
    }

    /// Allocates a block of `order` and `sensitivity` for `badge` and makes `what` (a
    /// retype: kind and size argument) from it.
    fn allocate(
        &mut self,
        badge: u64,
        sensitivity: memsrv_api::Sensitivity,
        order: u8,
        kind: LeafKind,
        what: (ObjectKind, u8),
    ) -> Result<Made, Error> {
        let id = badge::id(badge);
        let pages = 1u64 << order;
        while self.held(id).pages + pages > badge::quota_pages(badge) {
            if !self.take_back_oldest(id)? {
                return Err(Error::QuotaExceeded);
            }
        }
        if self.slots.available() < SLOTS_PER_ALLOCATION {
            self.collect_halves();
        }
        if self.slots.available() < SLOTS_PER_ALLOCATION {
            return Err(Error::ServerFull);
        }
        let sensitivity = core_sensitivity(sensitivity);
        let block = match self.allocate_block(order, sensitivity) {
            // Kept frames are the first memory to go when memsrv runs out.
            Err(Error::OutOfMemory) if self.take_back_all_kept()? => {
                self.allocate_block(order, sensitivity)?
            }
            block => block?,
        };
        // The allocator manages exactly memsrv's pageblocks.
        let Some(pageblock) = find(&self.pageblocks, PageblockAddr::containing(block.addr)) else {
            let _ = self.allocator.free(block);
            return Err(Error::Kernel(0));
        };
        let node = Node::of(pageblock as u16, block);
        match self.make_leaf(node, block, kind, what) {
            Ok(slot) => {
                let leaf = Leaf { owner: id, kind, order, sensitivity, kept: false };
                let handle = Handle(self.records.insert_leaf(slot, node, leaf).0);
                self.charge(id, leaf, true);
                Ok(Made { address: block.addr, handle, cap: CPtr(slot) })
            }
            Err(error) => {
                let _ = self.allocator.free(block);
                Err(error)
            }
        }
    }

    /// A free block of `order` and `sensitivity` from the allocator, flipping a pageblock
    /// (its cached halves deleted first) if it says so.
    fn allocate_block(&mut self, order: u8, sensitivity: Sensitivity) -> Result<Block, Error> {
        let (asi, pageblocks) = (self.asi, &self.pageblocks);
        let (records, slots) = (&mut self.records, &mut self.slots);
        self.allocator
            .allocate(order, sensitivity, |base, to| {
                let pageblock = find(pageblocks, base).ok_or(libasi::Error::EmptySlot)?;
                // The kernel flips only an untyped without children.
                let root = Node { pageblock: pageblock as u16, node: 1 };
                records.clear_below(root, &mut delete_slot(slots));
                asi.set_sensitivity(pageblocks[pageblock].untyped, kernel_sensitivity(to))
            })
            .map_err(|error| match error {
                memsrv::AllocError::InvalidOrder { .. } => Error::BadOrder,
                memsrv::AllocError::OutOfMemory => Error::OutOfMemory,
                memsrv::AllocError::FlipRefused { error, .. } => kernel_error(error),
            })
            .map(|allocation| allocation.block)
    }

    /// Retypes `what` from `node`'s untyped (splitting the nodes above it, deleting the
    /// halves cached below it) into a new slot; a frame must land at `block`'s address.
    fn make_leaf(
        &mut self,
        node: Node,
        block: Block,
        kind: LeafKind,
        (object, argument): (ObjectKind, u8),
    ) -> Result<u64, Error> {
        self.records.clear_below(node, &mut delete_slot(&mut self.slots));
        let untyped = self.node_untyped(node)?;
        let slot = self.slots.alloc().ok_or(Error::ServerFull)?;
        let made = untyped.retype(object, argument, CNodeAt::full(own_cnode()), slot, 1);
        let placed = match (made, kind) {
            (Ok(()), LeafKind::Frame) => {
                Cap::<Frame>::from_slot(slot).address().map_err(kernel_error).and_then(|address| {
                    if address == block.addr { Ok(()) } else { Err(Error::Kernel(0)) }
                })
            }
            (made, _) => made.map_err(kernel_error),
        };
        if let Err(error) = placed {
            let _ = own_cnode().delete(Slot::root(slot));
            self.slots.free(slot);
            return Err(error);
        }
        Ok(slot)
    }

    /// The untyped capability of `node`, splitting the nodes above it.
    fn node_untyped(&mut self, node: Node) -> Result<Cap<Untyped>, Error> {
        if node.is_root() {
            let pageblock = self.pageblocks.get(usize::from(node.pageblock));
            return pageblock.map(|pageblock| pageblock.untyped).ok_or(Error::Kernel(0));
        }
        if let Some(slot) = self.records.half(node) {
            return Ok(Cap::from_slot(slot));
        }
        let parent = self.node_untyped(node.parent())?;
        // Two retypes of one half each, so that the halves need no two adjacent slots: the
        // first lands at the parent's base, the second after it.
        let Some(first) = self.slots.alloc() else { return Err(Error::ServerFull) };
        let Some(second) = self.slots.alloc() else {
            self.slots.free(first);
            return Err(Error::ServerFull);
        };
        let cnode = CNodeAt::full(own_cnode());
        let bits = node.size_bits();
        let made = parent.retype(ObjectKind::Untyped, bits, cnode, first, 1).and_then(|()| {
            parent.retype(ObjectKind::Untyped, bits, cnode, second, 1).inspect_err(|_| {
                let _ = own_cnode().delete(Slot::root(first));
            })
        });
        if let Err(error) = made {
            self.slots.free(first);
            self.slots.free(second);
            return Err(kernel_error(error));
        }
        let left = node.left();
        self.records.insert_half(first, left);
        self.records.insert_half(second, left.buddy());
        Ok(Cap::from_slot(if node == left { first } else { second }))
    }

    fn free(
        &mut self,
        badge: u64,
        handle: Handle,
        keep: bool,
    ) -> Result<(Reply, Option<CPtr>), Error> {
        let id = badge::id(badge);
        if keep && let Some(answer) = self.keep(id, handle) {
            return Ok((Reply::from(answer), None));
        }
        let (slot, node, leaf) = self
            .records
            .leaf(tree::Handle(handle.0))
            .filter(|(_, _, leaf)| leaf.owner == id && !leaf.kept)
            .ok_or(Error::NotYours)?;
        self.release(slot, node, leaf)?;
        Ok((Reply::Freed { kept: self.kept_counts(id) }, None))
    }

    /// The answer to a reuse or a free with keep from the client with `badge` if memsrv
    /// reuses or keeps the frame; `None`, with nothing changed, for every other request
    /// and outcome, which [`handle`](Self::handle) answers.
    #[inline(always)]
    fn kept_frame_call(&mut self, badge: u64, request: Request) -> Option<FrameReply> {
        if !badge::is_client(badge) {
            return None;
        }
        match request {
            Request::Reuse { sensitivity } => self.reuse(badge::id(badge), sensitivity),
            Request::Free { handle, keep: true } => self.keep(badge::id(badge), handle),
            _ => None,
        }
    }

    /// Keeps the frame `handle` names for its holder `client` if it is a 4 KiB frame in
    /// use and the list of its sensitivity has room; `None`, with nothing changed,
    /// otherwise.
    #[inline(always)]
    fn keep(&mut self, client: u16, handle: Handle) -> Option<FrameReply> {
        let record = self.clients.get_mut(usize::from(client))?;
        let (slot, leaf) = self.records.leaf_mut(tree::Handle(handle.0))?;
        let keepable = leaf.kind == LeafKind::Frame && leaf.order == ORDER_4K;
        if leaf.owner != client || leaf.kept || !keepable {
            return None;
        }
        if !record.kept.keep(api_sensitivity(leaf.sensitivity), slot as u16) {
            return None;
        }
        leaf.kept = true;
        record.usage.kept_frames += 1;
        Some(FrameReply::Kept { kept: record.kept.counts() })
    }

    /// The newest frame of `sensitivity` kept for `client`, in use again; `None`, with
    /// nothing changed, if none is kept.
    #[inline(always)]
    fn reuse(&mut self, client: u16, sensitivity: memsrv_api::Sensitivity) -> Option<FrameReply> {
        let record = self.clients.get_mut(usize::from(client))?;
        let slot = record.kept.newest(sensitivity)?;
        let (handle, leaf) = self.records.leaf_at_mut(u64::from(slot))?;
        // The list names only frames kept for this client; checked all the same, so that
        // a broken list never hands out another client's frame.
        if !leaf.kept || leaf.owner != client {
            return None;
        }
        record.kept.reuse(sensitivity);
        leaf.kept = false;
        record.usage.kept_frames -= 1;
        Some(FrameReply::Reused { handle: Handle(handle.0), kept: record.kept.counts() })
    }

    /// Revokes the oldest frame kept for `client` and gives its block back; `false` if
    /// none is kept.
    fn take_back_oldest(&mut self, client: u16) -> Result<bool, Error> {
        let record = self.clients.get_mut(usize::from(client));
        let Some(slot) = record.and_then(|record| record.kept.take_oldest()) else {
            return Ok(false);
        };
        let (node, leaf) = self.records.leaf_at(u64::from(slot)).ok_or(Error::Kernel(0))?;
        self.release(u64::from(slot), node, leaf)?;
        Ok(true)
    }

    /// Takes back every frame kept for `client`.
    fn release_kept(&mut self, client: u16) -> Result<(Reply, Option<CPtr>), Error> {
        while self.take_back_oldest(client)? {}
        Ok((Reply::Freed { kept: self.kept_counts(client) }, None))
    }

    /// Takes back every kept frame of every client; whether there was one.
    fn take_back_all_kept(&mut self) -> Result<bool, Error> {
        let mut any = false;
        for client in 0..CLIENTS as u16 {
            while self.take_back_oldest(client)? {
                any = true;
            }
        }
        Ok(any)
    }

    /// How many frames memsrv keeps for `client`, for every answer to it.
    fn kept_counts(&self, client: u16) -> KeptCounts {
        self.clients.get(usize::from(client)).map_or([0; 2], |record| record.kept.counts())
    }

    /// Revokes and deletes the leaf in `slot` and gives its block back.
    fn release(&mut self, slot: u64, node: Node, leaf: Leaf) -> Result<(), Error> {
        let base = self.pageblocks.get(usize::from(node.pageblock)).ok_or(Error::Kernel(0))?.base;
        own_cnode().revoke(Slot::root(slot)).map_err(kernel_error)?;
        own_cnode().delete(Slot::root(slot)).map_err(kernel_error)?;
        self.records.remove(slot);
        self.slots.free(slot);
        self.allocator.free(node.block(base.get())).map_err(|_| Error::Kernel(0))?;
        self.charge(leaf.owner, leaf, false);
        Ok(())
    }

    /// Takes back everything client `client` holds; what it held.
    fn reclaim(&mut self, client: u16) -> Result<Usage, Error> {
        let held = self.held(client);
        // Kept frames first, through their lists, so that no list names a slot released.
        while self.take_back_oldest(client)? {}
        for slot in 0..tree::SLOTS as u64 {
            if let Some((node, leaf)) = self.records.leaf_at(slot)
                && leaf.owner == client
            {
                self.release(slot, node, leaf)?;
            }
        }
        Ok(held)
    }

    /// Deletes every cached half that no allocation needs, to free slots.
    fn collect_halves(&mut self) {
        for pageblock in 0..self.pageblocks.len() {
            let root = Node { pageblock: pageblock as u16, node: 1 };
            self.records.prune_unused(root, &mut delete_slot(&mut self.slots));
        }
    }

    fn held(&self, client: u16) -> Usage {
        self.clients.get(usize::from(client)).map(|record| record.usage).unwrap_or_default()
    }

    /// Counts `leaf` as taken by (or given back from) its owner.
    fn charge(&mut self, client: u16, leaf: Leaf, taken: bool) {
        let mut usage = self.held(client);
        let pages = 1u64 << leaf.order;
        let count = match leaf.kind {
            LeafKind::Frame | LeafKind::Frames => &mut usage.frame_allocations,
            LeafKind::Object => &mut usage.objects,
        };
        if taken {
            *count += 1;
            usage.pages += pages;
        } else {
            *count -= 1;
            usage.pages -= pages;
            usage.kept_frames -= u64::from(leaf.kept);
        }
        // Every caller that gets this far is a client (`badge::is_client`).
        if let Some(record) = self.clients.get_mut(usize::from(client)) {
            record.usage = usage;
        }
    }

    fn usage(&self, badge: u64) -> Usage {
        Usage { quota_pages: badge::quota_pages(badge), ..self.held(badge::id(badge)) }
    }

    fn stats(&self) -> Stats {
        let stats = self.allocator.stats();
        let free_blocks = Sensitivity::ALL.map(|sensitivity| {
            core::array::from_fn(|order| {
                FreeList::new(sensitivity, order as u8).map_or(0, |list| stats.free_blocks(list))
            })
        });
        Stats {
            free_blocks,
            free_bytes: Sensitivity::ALL.map(|s| stats.free_bytes_total(s)),
            pageblocks: Sensitivity::ALL.map(|s| stats.pageblocks(s)),
            flips: stats.flips(),
            clients: self.clients.iter().filter(|record| record.usage.pages > 0).count() as u64,
            kept_frames: self.clients.iter().map(|record| record.kept.len() as u64).sum(),
        }
    }
}

/// What a half's deletion does to memsrv's CNode and slots, for [`Records::clear_below`]
/// and [`Records::prune_unused`].
fn delete_slot(slots: &mut SlotAllocator) -> impl FnMut(u64) + '_ {
    |slot| {
        let _ = own_cnode().delete(Slot::root(slot));
        slots.free(slot);
    }
}

/// A leaf just made: the block's address, its handle, and the capability to send.
struct Made {
    address: u64,
    handle: Handle,
    cap: CPtr,
}

/// memsrv's own CNode.
fn own_cnode() -> Cap<CNode> {
    Cap::from_slot(layout::slot::CNODE)
}

/// The index of the pageblock at `base`.
fn find(pageblocks: &[Pageblock], base: PageblockAddr) -> Option<usize> {
    pageblocks.binary_search_by_key(&base, |pageblock| pageblock.base).ok()
}

/// The allocator core's sensitivity for the interface's.
const fn core_sensitivity(sensitivity: memsrv_api::Sensitivity) -> Sensitivity {
    match sensitivity {
        memsrv_api::Sensitivity::Sensitive => Sensitivity::Sensitive,
        memsrv_api::Sensitivity::Nonsensitive => Sensitivity::Nonsensitive,
    }
}

/// The interface's sensitivity for the allocator core's.
const fn api_sensitivity(sensitivity: Sensitivity) -> memsrv_api::Sensitivity {
    match sensitivity {
        Sensitivity::Sensitive => memsrv_api::Sensitivity::Sensitive,
        Sensitivity::Nonsensitive => memsrv_api::Sensitivity::Nonsensitive,
    }
}

const fn kernel_sensitivity(sensitivity: Sensitivity) -> KernelSensitivity {
    match sensitivity {
        Sensitivity::Sensitive => KernelSensitivity::Sensitive,
        Sensitivity::Nonsensitive => KernelSensitivity::Nonsensitive,
    }
}

fn kernel_error(error: libasi::Error) -> Error {
    Error::Kernel(error.kernel_error().map_or(u64::MAX, syscall_abi::SyscallError::code))
}
