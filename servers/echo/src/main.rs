//! The echo server: answers [`protocol::echo::REVERSE`] with the text reversed and
//! [`protocol::echo::INCREMENT`] with every number plus one; anything else is refused.
//! It says it is ready through the console.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::Write;

use libasi::cap::{Cap, Endpoint};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::process;
use protocol::{MAX_WORDS, OK, REFUSED, Text, echo};

libasi::entry!(main);

fn main() -> u64 {
    process::serve("echo", serve)
}

fn serve() -> Result<core::convert::Infallible, libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let endpoint = Cap::<Endpoint>::new(process::granted(echo::grants::ENDPOINT));
    let console = Cap::<Endpoint>::new(process::granted(echo::grants::CONSOLE));
    let mut line = Text::new();
    let _ = write!(line, "ready for requests");
    say(console, buffer, &line)?;
    let (_, mut request) = endpoint.receive(buffer)?;
    loop {
        let answer = answer(&request);
        (_, request) = endpoint.reply_receive(buffer, &answer)?;
    }
}

/// The reply to `request`.
fn answer(request: &Message) -> Message {
    match request.label() {
        echo::REVERSE => match Text::from_words(request.words()) {
            Some(text) => text_message(OK, &text.reversed()),
            None => Message::new(REFUSED),
        },
        echo::INCREMENT => {
            let words: [u64; MAX_WORDS] =
                core::array::from_fn(|index| request.word(index).wrapping_add(1));
            Message::with_words(OK, &words[..request.len()]).unwrap_or(Message::new(REFUSED))
        }
        _ => Message::new(REFUSED),
    }
}

fn text_message(label: u64, text: &Text) -> Message {
    let mut words = [0; MAX_WORDS];
    let count = text.to_words(&mut words);
    Message::with_words(label, &words[..count]).unwrap_or(Message::new(REFUSED))
}

/// Prints `line` through the console.
fn say(console: Cap<Endpoint>, buffer: IpcBuffer, line: &Text) -> Result<(), libasi::Error> {
    console.call(buffer, &text_message(protocol::console::WRITE, line)).map(drop)
}
