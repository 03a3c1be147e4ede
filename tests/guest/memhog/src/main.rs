//! A client of memsrv that dies holding memory, for `memtest`'s reclaim case: it takes
//! three sensitive frames, a batch of eight nonsensitive ones and an endpoint, tells the
//! parent how many pages memsrv counts for it ([`HELD`], words: pages, objects), and
//! exits without freeing anything. Its parent then destroys it and has memsrv reclaim
//! what it held.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use libasi::cap::{Cap, Endpoint, Sensitivity};
use libasi::memsrv::Client;
use libasi::message::Message;
use libasi::process::{self, layout};

libasi::entry!(main);

/// Its granted capabilities: memsrv's endpoint (badged for it, write and grant-reply) and
/// the parent's endpoint for the report.
const MEMSRV: usize = 0;
const REPORT: usize = 1;
/// The label of its one report.
pub const HELD: u64 = 0x4d48;

fn main() -> u64 {
    match run() {
        Ok(()) => 0,
        Err(error) => {
            libasi::println!("memhog: {error:?}");
            1
        }
    }
}

fn run() -> Result<(), libasi::memsrv::Error> {
    let buffer = process::ipc_buffer().map_err(libasi::memsrv::Error::Ipc)?;
    let client = Client::new(Cap::new(process::granted(MEMSRV)), buffer, Cap::ROOT);
    let mut slot = layout::first_free_slot(REPORT + 1);
    for _ in 0..3 {
        client.alloc_frame(0, Sensitivity::Sensitive, slot)?;
        slot += 1;
    }
    client.alloc_frames(0, Sensitivity::Nonsensitive, 8, slot, slot + 1)?;
    slot += 9;
    client.alloc_object::<Endpoint>(slot)?;
    let usage = client.usage()?;
    let report = Cap::<Endpoint>::new(process::granted(REPORT));
    let message = Message::new(HELD).push(usage.pages).push(usage.objects);
    report.send(buffer, &message).map_err(libasi::memsrv::Error::Ipc)
}
