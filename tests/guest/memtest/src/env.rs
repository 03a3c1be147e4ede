//! The test environment: memsrv started with four pageblocks, three clients, and helpers
//! that allocate, check and free.

use case_report::{Failure, Outcome, ensure, fail, ok};
use libasi::boot::{self, ModuleDescriptor};
use libasi::cap::{
    AsiControl, CNodeAt, CPtr, Cap, CapData, CapKind, CapType, Endpoint, ObjectKind, Rights,
    Sensitivity, Slot, SlotAllocator, SlotRef, Untyped,
};
use libasi::ipc::IpcBuffer;
use libasi::memsrv::{AllocatedFrame, Client, Error};
use libasi::process::{SpawnOptions, Spawner};
use memsrv_api::{Error as Refusal, Stats, Usage, badge};

const MODULE: &str = "memsrv-server";
/// The client that dies holding memory.
const MEMHOG: &str = "memhog";
pub const PAGEBLOCK_BITS: u8 = 21;
pub const PAGEBLOCK: u64 = 1 << PAGEBLOCK_BITS;
pub const PAGEBLOCKS: u64 = 4;
/// The first and third clients may hold more than every pageblock (so that running out
/// of memory comes before the quota); the second one page.
const QUOTA_ALL: u32 = 4 * 512 + 1;
const QUOTA_ONE: u32 = 1;
/// The third client's number, which the manager reclaims.
pub const THIRD_ID: u16 = 3;
/// memhog's client number.
pub const MEMHOG_ID: u16 = 4;
/// The client whose capability lacks the grant-reply right.
pub const NO_GRANT_ID: u16 = 5;

pub struct Env {
    pub slots: SlotAllocator,
    pub buffer: IpcBuffer,
    /// The manager.
    pub first: Client,
    pub second: Client,
    pub third: Client,
    /// A client whose endpoint capability has no grant-reply right: what memsrv hands out
    /// never arrives.
    pub no_grant: Client,
    /// memsrv's endpoint with the first client's badge: for raw requests.
    pub raw: Cap<Endpoint>,
    /// The same with the second client's.
    pub second_raw: Cap<Endpoint>,
    pub unbadged: Cap<Endpoint>,
    /// Badged with a client number memsrv does not serve (`badge::CLIENTS`).
    pub unserved: Cap<Endpoint>,
    /// What memhog is spawned from and with.
    pub pool: Cap<Untyped>,
    pub memhog: ModuleDescriptor,
    pub memhog_memsrv: Cap<Endpoint>,
    /// Where memhog reports.
    pub report: Cap<Endpoint>,
}

pub const ASI: Cap<AsiControl> = Cap::<AsiControl>::BOOT;

pub fn setup() -> Result<Env, Failure> {
    let info = ok(boot::info(), "boot information")?;
    let buffer = ok(IpcBuffer::root(), "the IPC buffer")?;
    let mut slots = SlotAllocator::new(info.empty);
    let Some((pool, _)) = boot::largest_ram(&info) else { fail!("no untyped RAM") };
    let find = |name: &str| info.modules().iter().find(|module| module.name() == name).copied();
    let Some(module) = find(MODULE) else { fail!("no boot module {MODULE}") };
    let Some(memhog) = find(MEMHOG) else { fail!("no boot module {MEMHOG}") };
    ok(ASI.set_sensitivity(pool, Sensitivity::Nonsensitive), "make the pool nonsensitive")?;
    // Two regions of two pageblocks: the first sensitive, the second not.
    let Some(first) = slots.alloc_range(3) else { fail!("no slots") };
    let root = CNodeAt::ROOT;
    ok(pool.retype(ObjectKind::Untyped, PAGEBLOCK_BITS + 1, root, first, 2), "carve regions")?;
    ok(ASI.set_sensitivity(Cap::from_slot(first), Sensitivity::Sensitive), "make sensitive")?;
    let endpoint_slot = first + 2;
    let Some(report_slot) = slots.alloc() else { fail!("no slots") };
    ok(pool.retype(ObjectKind::Endpoint, 0, root, endpoint_slot, 1), "retype the endpoint")?;
    ok(pool.retype(ObjectKind::Endpoint, 0, root, report_slot, 1), "retype the report endpoint")?;
    let endpoint = Cap::<Endpoint>::from_slot(endpoint_slot);
    let options = SpawnOptions::new(200)
        .cnode_radix(memsrv_api::CNODE_RADIX)
        .grant(endpoint.cptr(), Rights::READ)
        .grant(ASI.cptr(), Rights::ALL)
        .grant_moved(CPtr(first))
        .grant_moved(CPtr(first + 1));
    let mut mint_with = |badge: u64, rights: Rights| -> Result<Cap<Endpoint>, Failure> {
        let Some(slot) = slots.alloc() else { fail!("no slots") };
        let src = SlotRef::root(endpoint_slot);
        ok(Cap::ROOT.mint(Slot::root(slot), src, rights, CapData::badge(badge)), "mint")?;
        Ok(Cap::from_slot(slot))
    };
    let mut mint = |badge: u64| mint_with(badge, Rights::WRITE | Rights::GRANT_REPLY);
    let raw = mint(badge::manager(1, QUOTA_ALL))?;
    let second = mint(badge::client(2, QUOTA_ONE))?;
    let third = mint(badge::client(THIRD_ID, QUOTA_ALL))?;
    let unbadged = mint(0)?;
    let unserved = mint(badge::client(badge::CLIENTS, QUOTA_ALL))?;
    let memhog_memsrv = mint(badge::client(MEMHOG_ID, QUOTA_ALL))?;
    let no_grant = mint_with(badge::client(NO_GRANT_ID, QUOTA_ALL), Rights::WRITE)?;
    if let Err(error) = Spawner::new(pool, &mut slots).spawn(&module, &options) {
        fail!("cannot start memsrv: {error}");
    }
    Ok(Env {
        slots,
        buffer,
        first: Client::new(raw, buffer, Cap::ROOT),
        second: Client::new(second, buffer, Cap::ROOT),
        third: Client::new(third, buffer, Cap::ROOT),
        no_grant: Client::new(no_grant, buffer, Cap::ROOT),
        raw,
        second_raw: second,
        unbadged,
        unserved,
        pool,
        memhog,
        memhog_memsrv,
        report: Cap::from_slot(report_slot),
    })
}

impl Env {
    pub fn slot(&mut self) -> Result<u64, Failure> {
        self.slots.alloc().ok_or_else(|| Failure::new(format_args!("no slots left")))
    }

    pub fn slots(&mut self, count: usize) -> Result<u64, Failure> {
        self.slots.alloc_range(count).ok_or_else(|| Failure::new(format_args!("no slots left")))
    }

    /// A frame from `client` into a fresh slot (given back if memsrv refuses).
    pub fn alloc(
        &mut self,
        client: Client,
        order: u8,
        sensitivity: Sensitivity,
    ) -> Result<AllocatedFrame, Error> {
        let slot = self.slot().map_err(|_| Error::BadReply)?;
        let frame = client.alloc_frame(order, sensitivity, slot);
        if frame.is_err() {
            self.slots.free(slot);
        }
        frame
    }

    /// Allocates as the first client and checks the frame's sensitivity and the kernel's
    /// view.
    pub fn alloc_checked(
        &mut self,
        order: u8,
        sensitivity: Sensitivity,
    ) -> Result<AllocatedFrame, Failure> {
        let client = self.first;
        let frame = self.alloc(client, order, sensitivity).map_err(|error| {
            Failure::new(format_args!("alloc order {order} {sensitivity:?}: {error:?}"))
        })?;
        let got = ok(frame.cap.sensitivity(), "the frame's sensitivity")?;
        ensure!(got == sensitivity, "asked for {sensitivity:?} memory, got a {got:?} frame");
        let address = ok(frame.cap.address(), "the frame's address")?;
        ensure!(
            address == frame.address,
            "memsrv said {:#x}, the frame is at {address:#x}",
            frame.address
        );
        ok(ASI.verify(), "AsiControl::verify after the allocation")?;
        Ok(frame)
    }

    /// Frees `frame` as `client` and checks that its slot is empty.
    pub fn free(&mut self, client: Client, frame: AllocatedFrame) -> Outcome {
        if let Err(error) = client.free(frame.handle) {
            fail!("free {frame:?}: {error:?}");
        }
        gone(frame.cap, "the freed frame")?;
        self.slots.free(frame.cap.cptr().0);
        Ok(())
    }

    pub fn usage(&self, client: Client) -> Result<Usage, Failure> {
        client.usage().map_err(|error| Failure::new(format_args!("usage: {error:?}")))
    }

    pub fn stats(&self) -> Result<Stats, Failure> {
        self.first.stats().map_err(|error| Failure::new(format_args!("stats: {error:?}")))
    }
}

/// Fails unless `cap`'s slot is empty.
pub fn gone<T: CapType>(cap: Cap<T>, what: &str) -> Outcome {
    let kind = ok(cap.identify(), "identify a slot")?;
    ensure!(kind == CapKind::Null, "{what}: the slot still holds a {kind:?}");
    Ok(())
}

/// Fails unless `result` is memsrv's refusal `want`.
pub fn refused<T>(result: Result<T, Error>, want: Refusal, what: &str) -> Outcome {
    match result {
        Err(Error::Refused(error)) if error == want => Ok(()),
        Err(error) => fail!("{what}: expected refusal {want:?}, got {error:?}"),
        Ok(_) => fail!("{what}: expected refusal {want:?}, but it succeeded"),
    }
}

/// Fails unless `stats` equals `before`: every list, pageblock and flip count back.
pub fn same_stats(before: &Stats, after: &Stats) -> Outcome {
    ensure!(after == before, "memsrv's counts did not return: {before:?} -> {after:?}");
    ensure!(
        after.free_bytes[0] + after.free_bytes[1] == PAGEBLOCKS * PAGEBLOCK,
        "not all memory is free: {after:?}"
    );
    Ok(())
}
