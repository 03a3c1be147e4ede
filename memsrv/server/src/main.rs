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
//! is refused unless that caller holds it. Every request that is not well formed gets
//! [`Error::Malformed`]; nothing a client sends makes memsrv panic.
//!
//! memsrv's state (the allocator, a record per slot) is larger than its stack, so it lives
//! in a `static`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod regions;

use heapless::index_map::FnvIndexMap;
use libasi::cap::{
    AsiControl, CNode, CNodeAt, CPtr, Cap, Endpoint, Frame, ObjectKind,
    Sensitivity as KernelSensitivity, Slot, SlotAllocator, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::process::{self, layout};
use memsrv::tree::{self, Leaf, LeafKind, Node, Records};
use memsrv::{Allocator, Block, FreeList, PAGEBLOCK_ORDER, PageblockAddr, Sensitivity};
use memsrv_api::{
    Error, Handle, LABEL, MAX_ORDER, ORDER_2M, ORDER_4K, Object, Reply, Request, Stats, Usage,
    badge, grants,
};
use spin::Mutex;
use syscall_abi::boot_info::SlotRange;

libasi::entry!(main);

/// Pageblocks memsrv can manage: 256 MiB.
const MAX_PAGEBLOCKS: usize = 128;
/// Slots one allocation may take: a pair of halves per order below the pageblock, and
/// the leaf.
const SLOTS_PER_ALLOCATION: usize = 2 * PAGEBLOCK_ORDER as usize + 1;
/// Clients memsrv keeps usage for.
const MAX_CLIENTS: usize = 64;
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
    let (mut badge, mut request) = endpoint.receive(buffer)?;
    // One message each way for every request, built and received in place: a message is
    // 1 KiB, and each copy of it is paid per request.
    let mut reply = Message::new(LABEL);
    loop {
        let (answer, cap) = server.handle(badge, &request);
        let mut words = [0; memsrv_api::MESSAGE_WORDS];
        // A reply that cannot be encoded goes out empty, which no client takes for an
        // answer.
        reply.clear(LABEL);
        let count = memsrv_api::encode(&answer, &mut words).unwrap_or(0);
        for &word in &words[..count] {
            let _ = reply.try_push(word);
        }
        if let Some(cap) = cap {
            let _ = reply.try_push_cap(cap);
        }
        badge = endpoint.reply_receive_into(buffer, &reply, &mut request)?;
    }
}

/// A managed pageblock: where it is and its untyped capability.
#[derive(Clone, Copy, Debug)]
struct Pageblock {
    base: PageblockAddr,
    untyped: Cap<Untyped>,
}

struct Server {
    asi: Cap<AsiControl>,
    allocator: Allocator<MAX_PAGEBLOCKS>,
    /// Sorted by address; a [`Node`]'s `pageblock` is an index into it.
    pageblocks: heapless::Vec<Pageblock, MAX_PAGEBLOCKS>,
    records: Records,
    clients: FnvIndexMap<u16, Usage, MAX_CLIENTS>,
    slots: SlotAllocator,
}

impl Server {
    const EMPTY: Self = Self {
        asi: Cap::new(process::granted(grants::ASI_CONTROL)),
        allocator: Allocator::EMPTY,
        pageblocks: heapless::Vec::new(),
        records: Records::EMPTY,
        clients: FnvIndexMap::new(),
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

    /// The reply to `request` from the client with `badge`, and the capability to send
    /// with it.
    fn handle(&mut self, badge: u64, request: &Message) -> (Reply, Option<CPtr>) {
        let decoded = memsrv_api::decode::<Request>(request.label(), request.words());
        let result = match decoded {
            Err(_) => Err(Error::Malformed),
            Ok(_) if badge == 0 => Err(Error::Unidentified),
            Ok(Request::AllocFrame { sensitivity, order }) => {
                self.alloc_frame(badge, sensitivity, order)
            }
            Ok(Request::AllocFrames { sensitivity, order, count }) => {
                self.alloc_frames(badge, sensitivity, order, count)
            }
            Ok(Request::AllocObject(object)) => self.alloc_object(badge, object),
            Ok(Request::Free(handle)) => self.free(badge, handle).map(|()| (Reply::Freed, None)),
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
        let kind = match order {
            ORDER_4K => ObjectKind::Frame4K,
            ORDER_2M => ObjectKind::Frame2M,
            _ => return Err(Error::BadOrder),
        };
        let made = self.allocate(badge, sensitivity, order, LeafKind::Frame, (kind, 0))?;
        Ok((Reply::Frame { address: made.address, handle: made.handle }, Some(made.cap)))
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
        if self.held(id).pages + pages > badge::quota_pages(badge) {
            return Err(Error::QuotaExceeded);
        }
        let new_client = !self.clients.contains_key(&id);
        if self.slots.available() < SLOTS_PER_ALLOCATION {
            self.collect_halves();
        }
        if self.slots.available() < SLOTS_PER_ALLOCATION
            || (new_client && self.clients.len() == MAX_CLIENTS)
        {
            return Err(Error::ServerFull);
        }
        let sensitivity = match sensitivity {
            memsrv_api::Sensitivity::Sensitive => Sensitivity::Sensitive,
            memsrv_api::Sensitivity::Nonsensitive => Sensitivity::Nonsensitive,
        };
        let (asi, pageblocks) = (self.asi, &self.pageblocks);
        let (records, slots) = (&mut self.records, &mut self.slots);
        let block = self
            .allocator
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
            })?
            .block;
        // The allocator manages exactly memsrv's pageblocks.
        let Some(pageblock) = find(&self.pageblocks, PageblockAddr::containing(block.addr)) else {
            let _ = self.allocator.free(block);
            return Err(Error::Kernel(0));
        };
        let node = Node::of(pageblock as u16, block);
        match self.make_leaf(node, block, kind, what) {
            Ok(slot) => {
                let leaf = Leaf { owner: id, kind, order };
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

    fn free(&mut self, badge: u64, handle: Handle) -> Result<(), Error> {
        let (slot, node, leaf) = self
            .records
            .leaf(tree::Handle(handle.0))
            .filter(|(_, _, leaf)| leaf.owner == badge::id(badge))
            .ok_or(Error::NotYours)?;
        self.release(slot, node, leaf)
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
        self.clients.get(&client).copied().unwrap_or_default()
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
        }
        if usage.pages == 0 {
            self.clients.swap_remove(&client);
        } else {
            // Room was checked before the allocation.
            let _ = self.clients.insert(client, usage);
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
            clients: self.clients.len() as u64,
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

const fn kernel_sensitivity(sensitivity: Sensitivity) -> KernelSensitivity {
    match sensitivity {
        Sensitivity::Sensitive => KernelSensitivity::Sensitive,
        Sensitivity::Nonsensitive => KernelSensitivity::Nonsensitive,
    }
}

fn kernel_error(error: libasi::Error) -> Error {
    Error::Kernel(error.kernel_error().map_or(u64::MAX, syscall_abi::SyscallError::code))
}
