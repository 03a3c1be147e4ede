//! memsrv, the memory server: hands out frames of a requested sensitivity over IPC
//! ([`memsrv_api`]), choosing blocks with the allocator core ([`memsrv::Allocator`]) and
//! flipping whole free pageblocks through the ASI control capability when it says so.
//!
//! # Memory and capabilities
//!
//! memsrv is granted untyped regions of exactly one 2 MiB pageblock each (it checks:
//! a 2 MiB frame must fit and nothing after it; the frame tells the address and
//! sensitivity). A block the allocator chooses must become a frame at exactly that
//! address, but the kernel places objects after an untyped region's watermark. So memsrv
//! mirrors the buddy tree in untyped capabilities: node 1 is the pageblock's untyped,
//! nodes `2i` and `2i + 1` are the two halves of node `i`, made (both at once, from a node
//! without children, so at offsets 0 and half) only when a block below needs them. A frame
//! of node `i` is retyped from node `i`'s untyped, which then has no other children, so
//! it lands at the node's base. Invariant: a node has children exactly while some block
//! inside it is allocated. On free memsrv revokes and deletes its frame capability (every
//! copy a client holds goes with it) and deletes halves whose buddy is unused too, up the
//! tree: a wholly free pageblock's untyped has no children again, so it can be flipped
//! and retyped from its base. Each record costs a slot of memsrv's 256-slot CNode and one of 96 records; a
//! request that might not find enough is refused with [`Error::ServerFull`].
//!
//! # Clients
//!
//! A client is its badge ([`memsrv_api::badge`]): a number and a quota in pages. memsrv
//! records the owner of every frame; a free names the frame by the capability it carries,
//! whose address memsrv looks up, and is refused unless that caller was given it. Every
//! request that is not well formed gets [`Error::Malformed`]; nothing a client sends
//! makes memsrv panic.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use libasi::cap::{
    AsiControl, CNode, CNodeAt, Cap, Endpoint, FULL_DEPTH, Frame, ObjectKind,
    Sensitivity as KernelSensitivity, Slot, SlotAllocator, Untyped,
};
use libasi::message::Message;
use libasi::process::{self, layout};
use memsrv::{Allocator, Block, PAGEBLOCK_ORDER, PageblockAddr, Sensitivity};
use memsrv_api::{Error, LABEL, ORDER_2M, ORDER_4K, Reply, Request, Stats, badge, grants};
use syscall_abi::boot_info::SlotRange;
use syscall_abi::ipc::MAX_WORDS;

libasi::entry!(main);

/// Pageblocks memsrv can manage: every granted slot after the endpoint and ASI control.
const MAX_PAGEBLOCKS: usize = layout::MAX_GRANTED - grants::FIRST_MEMORY;
/// Records of untyped halves and frames (each holds one slot), kept few enough that the
/// server's state fits its 64 KiB stack with room to spare.
const MAX_RECORDS: usize = 96;
/// Slots one allocation may take: a pair of halves per order below the pageblock, and
/// the frame.
const SLOTS_PER_ALLOCATION: usize = 2 * PAGEBLOCK_ORDER as usize + 1;
/// Clients memsrv keeps usage for.
const MAX_CLIENTS: usize = 32;

fn main() -> u64 {
    process::serve("memsrv", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(grants::ENDPOINT));
    let mut server = Server::start()?;
    buffer.set_receive_slot(own_cnode(), server.receive, FULL_DEPTH)?;
    let (mut badge, mut request) = endpoint.receive(buffer)?;
    loop {
        let (reply, frame) = server.handle(badge, &request);
        let mut words = [0; MAX_WORDS];
        let mut message = match memsrv_api::encode(&reply, &mut words) {
            Ok(count) => Message::with_words(LABEL, &words[..count]).unwrap_or(Message::new(LABEL)),
            Err(_) => Message::new(LABEL),
        };
        if let Some(frame) = frame {
            message = message.push_cap(frame);
        }
        (badge, request) = endpoint.reply_receive(buffer, &message)?;
    }
}

/// What a record of memsrv's CNode holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The untyped half that is buddy-tree node `node` of its pageblock.
    Half,
    /// A frame retyped from node `node`, handed to the client with badge `owner`.
    Frame { owner: u64, order: u8 },
}

#[derive(Clone, Copy, Debug)]
struct Record {
    pageblock: PageblockAddr,
    node: usize,
    kind: Kind,
    slot: u64,
}

struct Server {
    asi: Cap<AsiControl>,
    allocator: Allocator<MAX_PAGEBLOCKS>,
    /// The granted untyped capability of each pageblock.
    pageblocks: [Option<(PageblockAddr, Cap<Untyped>)>; MAX_PAGEBLOCKS],
    records: [Option<Record>; MAX_RECORDS],
    /// Pages held per client badge.
    usage: [Option<(u64, u64)>; MAX_CLIENTS],
    slots: SlotAllocator,
    /// Where a capability sent with a request arrives.
    receive: u64,
}

impl Server {
    /// Finds the granted pageblocks and builds the allocator over them.
    fn start() -> Result<Self, libasi::Error> {
        let first_free = layout::first_free_slot(layout::MAX_GRANTED);
        let mut slots =
            SlotAllocator::new(SlotRange { start: first_free, end: layout::slot::COUNT });
        let receive = slots.alloc().ok_or(libasi::Error::NotEnoughMemory)?;
        let probe = slots.alloc().ok_or(libasi::Error::NotEnoughMemory)?;
        let mut pageblocks = [None; MAX_PAGEBLOCKS];
        let mut found = [(PageblockAddr::containing(0), Sensitivity::Sensitive); MAX_PAGEBLOCKS];
        let mut count = 0;
        for index in 0..MAX_PAGEBLOCKS {
            let untyped = Cap::<Untyped>::new(process::granted(grants::FIRST_MEMORY + index));
            let Some((pageblock, sensitivity)) = probe_pageblock(untyped, probe)? else { break };
            pageblocks[index] = Some((pageblock, untyped));
            found[index] = (pageblock, sensitivity);
            count += 1;
        }
        slots.free(probe);
        let allocator = Allocator::new(found.into_iter().take(count))
            .map_err(|_| libasi::Error::InvalidArgument { word: 0 })?;
        Ok(Self {
            asi: Cap::new(process::granted(grants::ASI_CONTROL)),
            allocator,
            pageblocks,
            records: [None; MAX_RECORDS],
            usage: [None; MAX_CLIENTS],
            slots,
            receive,
        })
    }

    /// The reply to `request` from the client with `badge`, and the frame to send with it.
    fn handle(&mut self, badge: u64, request: &Message) -> (Reply, Option<Cap<Frame>>) {
        let decoded = memsrv_api::decode::<Request>(request.label(), request.words());
        let arrived = request.cap_count() == 1 && request.unwrapped() == 0;
        let result = match decoded {
            Err(_) => Err(Error::Malformed),
            Ok(_) if badge == 0 => Err(Error::Unidentified),
            Ok(Request::AllocFrame { sensitivity, order }) => self
                .alloc(badge, sensitivity, order)
                .map(|(address, frame)| (Reply::Frame { address }, Some(frame))),
            Ok(Request::Free) if arrived => self.free(badge).map(|()| (Reply::Freed, None)),
            Ok(Request::Free) => Err(Error::NoFrame),
            Ok(Request::Stats) => Ok((Reply::Stats(self.stats(badge)), None)),
        };
        // A capability that came with any request is not kept (a freed frame is already
        // revoked, which took this copy too; deleting an empty slot is harmless).
        if arrived {
            let _ = own_cnode().delete(Slot::root(self.receive));
        }
        result.unwrap_or_else(|error| (Reply::Refused(error), None))
    }

    fn alloc(
        &mut self,
        badge: u64,
        sensitivity: memsrv_api::Sensitivity,
        order: u8,
    ) -> Result<(u64, Cap<Frame>), Error> {
        if order != ORDER_4K && order != ORDER_2M {
            return Err(Error::BadOrder);
        }
        let pages = 1u64 << order;
        let used = self.used(badge);
        if used + pages > badge::quota_pages(badge) {
            return Err(Error::QuotaExceeded);
        }
        let free_records = self.records.iter().filter(|record| record.is_none()).count();
        if self.slots.available() < SLOTS_PER_ALLOCATION
            || free_records < SLOTS_PER_ALLOCATION
            || (used == 0 && !self.usage.iter().any(Option::is_none))
        {
            return Err(Error::ServerFull);
        }
        let sensitivity = match sensitivity {
            memsrv_api::Sensitivity::Sensitive => Sensitivity::Sensitive,
            memsrv_api::Sensitivity::Nonsensitive => Sensitivity::Nonsensitive,
        };
        let (asi, pageblocks) = (self.asi, &self.pageblocks);
        let allocation = self
            .allocator
            .allocate(order, sensitivity, |pageblock, to| {
                let untyped = untyped_of(pageblocks, pageblock).ok_or(libasi::Error::EmptySlot)?;
                asi.set_sensitivity(untyped, kernel_sensitivity(to))
            })
            .map_err(|error| match error {
                memsrv::AllocError::InvalidOrder { .. } => Error::BadOrder,
                memsrv::AllocError::OutOfMemory => Error::OutOfMemory,
                memsrv::AllocError::FlipRefused { error, .. } => kernel_error(error),
            })?;
        let block = allocation.block;
        match self.make_frame(block, badge) {
            Ok(frame) => {
                self.charge(badge, pages);
                Ok((block.addr, frame))
            }
            Err(error) => {
                let pageblock = PageblockAddr::containing(block.addr);
                self.prune(pageblock, node_of(block));
                let _ = self.allocator.free(block);
                Err(error)
            }
        }
    }

    /// Retypes the frame of `block` from its buddy-tree node, making the halves above it.
    fn make_frame(&mut self, block: Block, owner: u64) -> Result<Cap<Frame>, Error> {
        let pageblock = PageblockAddr::containing(block.addr);
        let node = node_of(block);
        let untyped = self.node_untyped(pageblock, node)?;
        let slot = self.slots.alloc().ok_or(Error::ServerFull)?;
        let kind = if block.order == 0 { ObjectKind::Frame4K } else { ObjectKind::Frame2M };
        let frame = Cap::<Frame>::from_slot(slot);
        let placed = untyped
            .retype(kind, 0, CNodeAt::full(own_cnode()), slot, 1)
            .and_then(|()| frame.address());
        match placed {
            Ok(address) if address == block.addr => {
                let kind = Kind::Frame { owner, order: block.order };
                self.insert(Record { pageblock, node, kind, slot });
                Ok(frame)
            }
            other => {
                let _ = own_cnode().delete(Slot::root(slot));
                self.slots.free(slot);
                Err(other.map_or_else(kernel_error, |_| Error::Kernel(0)))
            }
        }
    }

    /// The untyped capability of `node` in `pageblock`, splitting the nodes above it.
    fn node_untyped(
        &mut self,
        pageblock: PageblockAddr,
        node: usize,
    ) -> Result<Cap<Untyped>, Error> {
        if node == 1 {
            return untyped_of(&self.pageblocks, pageblock).ok_or(Error::Kernel(0));
        }
        if let Some(record) = self.find(pageblock, node, |kind| kind == Kind::Half) {
            return Ok(Cap::from_slot(record.slot));
        }
        let parent = self.node_untyped(pageblock, node / 2)?;
        let first = self.slots.alloc_range(2).ok_or(Error::ServerFull)?;
        let size_bits = node_size_bits(node);
        if let Err(error) =
            parent.retype(ObjectKind::Untyped, size_bits, CNodeAt::full(own_cnode()), first, 2)
        {
            self.slots.free_range(first, 2);
            return Err(kernel_error(error));
        }
        let left = node & !1;
        self.insert(Record { pageblock, node: left, kind: Kind::Half, slot: first });
        self.insert(Record { pageblock, node: left + 1, kind: Kind::Half, slot: first + 1 });
        Ok(Cap::from_slot(if node == left { first } else { first + 1 }))
    }

    fn free(&mut self, badge: u64) -> Result<(), Error> {
        let received = Cap::<Frame>::from_slot(self.receive);
        // Checked before it is invoked: invoking an endpoint capability would be an IPC
        // call, and one to memsrv's own endpoint would never return.
        if received.holds_claimed_kind() != Ok(true) {
            return Err(Error::NoFrame);
        }
        let address = received.address().map_err(|_| Error::NoFrame)?;
        let pageblock = PageblockAddr::containing(address);
        let index = self
            .records
            .iter()
            .position(|record| {
                record.is_some_and(|record| {
                    record.pageblock == pageblock
                        && matches!(record.kind, Kind::Frame { owner, order }
                            if owner == badge && block_address(pageblock, record.node, order) == address)
                })
            })
            .ok_or(Error::NotYours)?;
        let Some(record) = self.records[index] else { return Err(Error::NotYours) };
        let Kind::Frame { order, .. } = record.kind else { return Err(Error::NotYours) };
        own_cnode().revoke(Slot::root(record.slot)).map_err(kernel_error)?;
        own_cnode().delete(Slot::root(record.slot)).map_err(kernel_error)?;
        self.records[index] = None;
        self.slots.free(record.slot);
        self.allocator.free(Block { addr: address, order }).map_err(|_| Error::Kernel(0))?;
        self.prune(pageblock, record.node);
        self.charge(badge, 0u64.wrapping_sub(1 << order));
        Ok(())
    }

    /// Deletes the halves from `node` up that no allocated block needs any more.
    fn prune(&mut self, pageblock: PageblockAddr, mut node: usize) {
        while node > 1 {
            let buddy = node ^ 1;
            let in_use = |server: &Self, node: usize| {
                server.find(pageblock, node, |kind| kind != Kind::Half).is_some()
                    || server.find(pageblock, 2 * node, |kind| kind == Kind::Half).is_some()
            };
            if in_use(self, node) || in_use(self, buddy) {
                return;
            }
            for half in [node, buddy] {
                if let Some(index) = self.records.iter().position(|record| {
                    record.is_some_and(|r| {
                        r.pageblock == pageblock && r.node == half && r.kind == Kind::Half
                    })
                }) && let Some(record) = self.records[index].take()
                {
                    let _ = own_cnode().delete(Slot::root(record.slot));
                    self.slots.free(record.slot);
                }
            }
            node /= 2;
        }
    }

    fn find(
        &self,
        pageblock: PageblockAddr,
        node: usize,
        kind: impl Fn(Kind) -> bool,
    ) -> Option<Record> {
        self.records
            .iter()
            .flatten()
            .find(|record| {
                record.pageblock == pageblock && record.node == node && kind(record.kind)
            })
            .copied()
    }

    fn insert(&mut self, record: Record) {
        if let Some(free) = self.records.iter_mut().find(|record| record.is_none()) {
            *free = Some(record);
        }
    }

    fn used(&self, badge: u64) -> u64 {
        self.usage
            .iter()
            .flatten()
            .find(|(owner, _)| *owner == badge)
            .map_or(0, |&(_, pages)| pages)
    }

    /// Adds `pages` (wrapping: a negative amount frees) to what `badge` holds.
    fn charge(&mut self, badge: u64, pages: u64) {
        let index =
            self.usage.iter().position(|entry| entry.is_some_and(|(owner, _)| owner == badge));
        let index = index.or_else(|| self.usage.iter().position(Option::is_none));
        if let Some(entry) = index.map(|index| &mut self.usage[index]) {
            let held = entry.map_or(0, |(_, held)| held).wrapping_add(pages);
            *entry = (held != 0).then_some((badge, held));
        }
    }

    fn stats(&self, badge: u64) -> Stats {
        let stats = self.allocator.stats();
        Stats {
            used_pages: self.used(badge),
            quota_pages: badge::quota_pages(badge),
            free_bytes: Sensitivity::ALL.map(|s| stats.free_bytes_total(s)),
            pageblocks: Sensitivity::ALL.map(|s| stats.pageblocks(s)),
            flips: stats.flips(),
        }
    }
}

/// memsrv's own CNode.
fn own_cnode() -> Cap<CNode> {
    Cap::from_slot(layout::slot::CNODE)
}

/// Whether `untyped` is a granted region of exactly one pageblock: its address and
/// sensitivity, found through a 2 MiB frame retyped into `probe` and deleted again.
/// `None` when the slot holds no untyped capability (the grants have ended).
fn probe_pageblock(
    untyped: Cap<Untyped>,
    probe: u64,
) -> Result<Option<(PageblockAddr, Sensitivity)>, libasi::Error> {
    let frame = Cap::<Frame>::from_slot(probe);
    let cnode = CNodeAt::full(own_cnode());
    match untyped.retype(ObjectKind::Frame2M, 0, cnode, probe, 1) {
        Err(libasi::Error::InvalidCapability { .. } | libasi::Error::EmptySlot) => return Ok(None),
        result => result?,
    }
    let address = frame.address();
    let sensitivity = frame.sensitivity();
    // Nothing may follow the frame: the region is exactly the pageblock.
    let exact = untyped.retype(ObjectKind::Frame4K, 0, cnode, probe + 1, 1);
    own_cnode().delete(Slot::root(probe))?;
    if exact.is_ok() {
        own_cnode().delete(Slot::root(probe + 1))?;
        return Err(libasi::Error::NotPageblocks);
    }
    let pageblock = PageblockAddr::new(address?).ok_or(libasi::Error::NotPageblocks)?;
    let sensitivity = match sensitivity? {
        KernelSensitivity::Sensitive => Sensitivity::Sensitive,
        KernelSensitivity::Nonsensitive => Sensitivity::Nonsensitive,
    };
    Ok(Some((pageblock, sensitivity)))
}

fn untyped_of(
    pageblocks: &[Option<(PageblockAddr, Cap<Untyped>)>],
    pageblock: PageblockAddr,
) -> Option<Cap<Untyped>> {
    pageblocks.iter().flatten().find(|(base, _)| *base == pageblock).map(|&(_, untyped)| untyped)
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

/// The buddy-tree node of `block` in its pageblock: 1 is the pageblock, `2i` and `2i + 1`
/// the halves of `i`.
fn node_of(block: Block) -> usize {
    let level = usize::from(PAGEBLOCK_ORDER - block.order);
    let offset = block.addr % memsrv::PAGEBLOCK_SIZE;
    (1 << level) + (offset >> (memsrv::FRAME_SHIFT + u32::from(block.order))) as usize
}

/// The address of `node` of `pageblock`, whose blocks are of `order`.
fn block_address(pageblock: PageblockAddr, node: usize, order: u8) -> u64 {
    let level = PAGEBLOCK_ORDER - order;
    let offset = (node as u64 - (1 << level)) << (memsrv::FRAME_SHIFT + u32::from(order));
    pageblock.get() + offset
}

/// log2 of the size of `node`.
fn node_size_bits(node: usize) -> u8 {
    let level = (usize::BITS - 1 - node.leading_zeros()) as u8;
    memsrv::FRAME_SHIFT as u8 + PAGEBLOCK_ORDER - level
}
