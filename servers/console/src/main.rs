//! The console server: owns the serial port for the servers. It receives lines on its
//! endpoint ([`protocol::console::WRITE`]) and prints each as one line, `[<sender>]
//! <text>`, the sender named by the badge of the capability it called through, then
//! replies. One server printing whole lines means lines of different clients never
//! interleave.
//!
//! It prints with the `DebugWrite` system call: the kernel writes its own log to COM1 too
//! and hands user output to it unchanged.
//!
//! When `init` hands it COM1's IRQ and receive registers ([`input`]), it also reads what
//! is typed there: it echoes it, assembles lines ([`console_line`]) and keeps them for the
//! one client whose badge may read them ([`protocol::console::READ_LINE`]). COM1's
//! interrupt signals a notification bound to the console's thread, so one thread both
//! serves requests and takes input: the interrupt ends its wait on the endpoint.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod input;

use libasi::cap::{Cap, Endpoint};
use libasi::message::Message;
use libasi::process;
use libasi::{debug, println};
use protocol::{OK, REFUSED, Text, badge, console};

use input::Input;

libasi::entry!(main);

fn main() -> u64 {
    process::serve("console", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(console::grants::ENDPOINT));
    let mut input = Input::granted()?;
    let (mut sender, mut request) = endpoint.receive(buffer)?;
    loop {
        let answer = if sender & console::SERIAL_SIGNAL != 0 {
            // COM1 interrupted: no one called, so no one is to be answered.
            if let Some(input) = input.as_mut() {
                input.take()?;
            }
            None
        } else {
            Some(answer(sender, &request, input.as_mut())?)
        };
        (sender, request) = match answer {
            Some(answer) => endpoint.reply_receive(buffer, &answer)?,
            None => endpoint.receive(buffer)?,
        };
    }
}

/// The reply to `request` from the capability badged `sender`.
fn answer(
    sender: u64,
    request: &Message,
    input: Option<&mut Input>,
) -> Result<Message, libasi::Error> {
    match request.label() {
        console::WRITE => {
            let Some(text) = Text::from_words(request.words()) else {
                return Ok(Message::new(REFUSED));
            };
            let pending = input.as_ref().map_or(&[][..], |input| input.pending());
            // A line being typed is interrupted by the output and shown again below it,
            // so the output starts a line of its own.
            if !pending.is_empty() {
                debug::write(b"\n")?;
            }
            match badge::name(sender & !badge::INPUT) {
                Some(name) => println!("[{name}] {}", text.as_str()),
                None => println!("[badge {sender:#x}] {}", text.as_str()),
            }
            debug::write(pending)?;
            Ok(Message::new(OK))
        }
        console::READ_LINE if sender & badge::INPUT != 0 && request.is_empty() => match input {
            Some(input) => input.read_line(),
            // Given no input, the console has nothing to read: input has ended.
            None => Ok(Message::new(console::END)),
        },
        _ => Ok(Message::new(REFUSED)),
    }
}
