//! The console server: owns output for the servers. It receives lines on its endpoint
//! ([`protocol::console::WRITE`]) and prints each as one line, `[<sender>] <text>`, the
//! sender named by the badge of the capability it called through, then replies. One
//! server printing whole lines means lines of different clients never interleave.
//!
//! It prints with the `DebugWrite` system call: the kernel keeps COM1 for its own log and
//! hands user output to it unchanged.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use libasi::cap::{Cap, Endpoint};
use libasi::message::Message;
use libasi::println;
use libasi::process;
use protocol::{OK, REFUSED, Text, badge, console};

libasi::entry!(main);

fn main() -> u64 {
    process::serve("console", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(console::grants::ENDPOINT));
    let (mut sender, mut request) = endpoint.receive(buffer)?;
    loop {
        let answer = match (request.label(), Text::from_words(request.words())) {
            (console::WRITE, Some(text)) => {
                match badge::name(sender) {
                    Some(name) => println!("[{name}] {}", text.as_str()),
                    None => println!("[badge {sender:#x}] {}", text.as_str()),
                }
                OK
            }
            _ => REFUSED,
        };
        (sender, request) = endpoint.reply_receive(buffer, &Message::new(answer))?;
    }
}
