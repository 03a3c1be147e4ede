//! The keystore: keeps its clients' keys in sensitive memory and uses them on their
//! behalf ([`keystore_api`]): store, derive, MAC, verify, delete.
//!
//! Its heap is a [`Heap`] whose frames memsrv hands out as **sensitive**: the kernel's
//! restricted address space never maps them, so while the kernel runs restricted (on
//! every system call and interrupt, including the ones that carry these requests) no
//! speculative access it makes can reach a key. The keys live in a `Vec` on that heap,
//! sorted by (client badge, name); a client sees only its own. Growing the vector is
//! fallible (`try_reserve`), so running out of memory is an error reply, never an abort.
//! A deleted key is overwritten before its memory is given back to the heap.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use keystore_api::{
    Error, KEY_BYTES, LABEL, MAX_CONTEXT, MAX_DATA, MAX_KEYS_PER_CLIENT, Name, Reply, Request,
    Stats, grants,
};
use libasi::boot::SlotRange;
use libasi::cap::{Cap, Endpoint, Sensitivity, Untyped};
use libasi::ipc::IpcBuffer;
use libasi::mem::{Heap, UntypedSource};
use libasi::memsrv::{Client, FrameSupply};
use libasi::message::Message;
use libasi::process::{self, layout};

libasi::entry!(main);

/// Pages the heap may grow to: 512 KiB of keys and bookkeeping.
const HEAP_PAGES: usize = 128;
/// Slots for the heap's frames, one each, and for the page tables that map them.
const FRAME_SLOTS: u64 = HEAP_PAGES as u64;
const TABLE_SLOTS: u64 = 8;

#[global_allocator]
static HEAP: Heap<FrameSupply, HEAP_PAGES> = Heap::new();

fn main() -> u64 {
    process::serve("keystore", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(grants::ENDPOINT));
    init_heap(buffer)?;
    let mut keys = Keys::default();
    let (mut badge, mut request) = endpoint.receive(buffer)?;
    // Replies are built, and requests received, in place: no message is copied per request.
    let mut reply = Message::new(LABEL);
    loop {
        let answer = keys.handle(badge, &request);
        let mut words = [0; keystore_api::MESSAGE_WORDS];
        // A reply that cannot be encoded goes out empty, which no client takes for one.
        reply.clear(LABEL);
        let count = keystore_api::encode(&answer, &mut words).unwrap_or(0);
        for &word in &words[..count] {
            let _ = reply.try_push(word);
        }
        badge = endpoint.reply_receive_into(buffer, &reply, &mut request)?;
    }
}

/// The heap: sensitive frames from memsrv, page tables from the granted untyped memory.
fn init_heap(buffer: IpcBuffer) -> Result<(), libasi::Error> {
    let first = layout::first_free_slot(grants::TABLE_MEMORY + 1);
    let frames = SlotRange { start: first, end: first + FRAME_SLOTS };
    let table_slots = SlotRange { start: frames.end, end: frames.end + TABLE_SLOTS };
    if table_slots.end > layout::slot::COUNT {
        return Err(libasi::Error::NotEnoughMemory);
    }
    let memsrv = Cap::<Endpoint>::new(process::granted(grants::MEMSRV));
    let supply = FrameSupply::new(Client::new(memsrv, buffer, Cap::ROOT), frames);
    let memory = Cap::<Untyped>::new(process::granted(grants::TABLE_MEMORY));
    let mut tables = UntypedSource::new(memory, table_slots);
    HEAP.init(supply, &mut tables, Sensitivity::Sensitive)
        .map_err(|_| libasi::Error::NotEnoughMemory)
}

/// Overwrites the memory past the entries' end, where keys moved or removed left copies.
fn wipe_spare(entries: &mut Vec<(u64, Name, Key)>) {
    let spare = entries.spare_capacity_mut();
    spare.fill_with(MaybeUninit::zeroed);
    // Keeps the overwrite: the memory is freed or left unread, so it could be dropped.
    core::hint::black_box(spare);
}

/// A key, overwritten when dropped.
struct Key([u8; KEY_BYTES]);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the overwrite: without a read afterwards the compiler may drop it.
        core::hint::black_box(&self.0);
    }
}

/// Every client's keys, sorted by (badge, name).
#[derive(Default)]
struct Keys(Vec<(u64, Name, Key)>);

impl Keys {
    fn handle(&mut self, badge: u64, request: &Message) -> Reply {
        let mut bytes = [0; keystore_api::MAX_MESSAGE];
        let result =
            match keystore_api::decode::<Request<'_>>(request.label(), request.words(), &mut bytes)
            {
                Err(_) => Err(Error::Malformed),
                Ok(_) if badge == 0 => Err(Error::Unidentified),
                Ok(request) => self.answer(badge, request),
            };
        result.unwrap_or_else(Reply::Refused)
    }

    fn answer(&mut self, badge: u64, request: Request<'_>) -> Result<Reply, Error> {
        match request {
            Request::Store { name, key } => self.insert(badge, name, key).map(|()| Reply::Stored),
            Request::Derive { parent, name, context } => {
                if context.len() > MAX_CONTEXT {
                    return Err(Error::TooLong);
                }
                let key = keystore_api::derive(self.key(badge, parent)?, context);
                self.insert(badge, name, key).map(|()| Reply::Derived)
            }
            Request::Mac { name, data } => {
                if data.len() > MAX_DATA {
                    return Err(Error::TooLong);
                }
                Ok(Reply::Tag(keystore_api::hmac_sha256(self.key(badge, name)?, &[data])))
            }
            Request::Verify { name, data, tag } => {
                if data.len() > MAX_DATA {
                    return Err(Error::TooLong);
                }
                Ok(Reply::Verified(keystore_api::verify(self.key(badge, name)?, data, &tag)))
            }
            Request::Delete { name } => {
                let index = self.find(badge, name).map_err(|_| Error::NoSuchKey)?;
                drop(self.0.remove(index));
                // The place the last entry left (the deleted key's, if it was the last)
                // still holds its bytes.
                wipe_spare(&mut self.0);
                Ok(Reply::Deleted)
            }
            Request::Stats => Ok(Reply::Stats(self.stats(badge))),
        }
    }

    /// Where (badge, name) is, or where it would go.
    fn find(&self, badge: u64, name: Name) -> Result<usize, usize> {
        self.0.binary_search_by_key(&(badge, name), |&(owner, name, _)| (owner, name))
    }

    fn key(&self, badge: u64, name: Name) -> Result<&[u8; KEY_BYTES], Error> {
        let index = self.find(badge, name).map_err(|_| Error::NoSuchKey)?;
        Ok(&self.0[index].2.0)
    }

    fn insert(&mut self, badge: u64, name: Name, key: [u8; KEY_BYTES]) -> Result<(), Error> {
        let key = Key(key);
        let index = match self.find(badge, name) {
            Ok(_) => return Err(Error::NameTaken),
            Err(index) => index,
        };
        if self.held_by(badge) >= MAX_KEYS_PER_CLIENT {
            return Err(Error::TooManyKeys);
        }
        self.reserve_one()?;
        self.0.insert(index, (badge, name, key));
        Ok(())
    }

    /// Room for one more key. Growing moves every key to new memory; the old memory is
    /// overwritten before it goes back to the heap (`try_reserve` would hand it back with
    /// the keys in it).
    fn reserve_one(&mut self) -> Result<(), Error> {
        if self.0.len() < self.0.capacity() {
            return Ok(());
        }
        let mut grown = Vec::new();
        grown.try_reserve_exact((2 * self.0.capacity()).max(4)).map_err(|_| Error::OutOfMemory)?;
        grown.append(&mut self.0);
        wipe_spare(&mut self.0);
        self.0 = grown;
        Ok(())
    }

    fn held_by(&self, badge: u64) -> usize {
        self.0.iter().filter(|&&(owner, _, _)| owner == badge).count()
    }

    fn stats(&self, badge: u64) -> Stats {
        let heap = HEAP.stats();
        Stats {
            keys: self.held_by(badge) as u64,
            all_keys: self.0.len() as u64,
            heap_pages: heap.pages_mapped as u64,
            heap_bytes: heap.bytes_used as u64,
        }
    }
}
