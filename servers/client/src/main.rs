//! A client of the echo server: sends it a few requests, checks each answer, prints what
//! happened through the console, tells `init` how many checks passed
//! ([`protocol::client::DONE`]) and exits.
//!
//! When `init` makes it the console's input client (it then has an input notification,
//! [`protocol::client::grants::INPUT`]), it first answers every line typed on the
//! console, `you typed "..."`, until input ends (Ctrl-D on an empty line).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::Write;

use libasi::cap::{Cap, Endpoint, Notification};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::println;
use libasi::process;
use protocol::{MAX_WORDS, OK, REFUSED, Text, client, console, echo};

libasi::entry!(main);

/// What the client talks to.
#[derive(Clone, Copy)]
struct Peers {
    buffer: IpcBuffer,
    console: Cap<Endpoint>,
    echo: Cap<Endpoint>,
}

fn main() -> u64 {
    match run() {
        Ok(()) => 0,
        Err(error) => {
            println!("client: {error}");
            1
        }
    }
}

fn run() -> Result<(), libasi::Error> {
    let peers = Peers {
        buffer: process::ipc_buffer()?,
        console: Cap::new(process::granted(client::grants::CONSOLE)),
        echo: Cap::new(process::granted(client::grants::ECHO)),
    };
    let input = Cap::<Notification>::new(process::granted(client::grants::INPUT));
    let reads_input = input.holds_claimed_kind()?;
    let checks =
        [reverse(peers)?, increment(peers)?, unknown(peers)?, input_refused(peers, reads_input)?];
    let passed = checks.iter().filter(|&&passed| passed).count() as u64;
    let failed = checks.len() as u64 - passed;
    let report = Cap::<Endpoint>::new(process::granted(client::grants::REPORT));
    report.send(peers.buffer, &Message::new(client::DONE).push(passed).push(failed))?;
    if reads_input { converse(peers, input) } else { Ok(()) }
}

/// Asks the console for input in a way it must refuse: without the input badge, any
/// `READ_LINE`; with it, a malformed one (`READ_LINE` takes no words), which must not
/// take a line either.
fn input_refused(peers: Peers, reads_input: bool) -> Result<bool, libasi::Error> {
    let (request, what) = if reads_input {
        (Message::new(console::READ_LINE).push(0), "READ_LINE with a word")
    } else {
        (Message::new(console::READ_LINE), "READ_LINE without the input badge")
    };
    let reply = peers.console.call(peers.buffer, &request)?;
    let passed = reply.label() == REFUSED;
    say(peers, format_args!("console refused {what}: {}", verdict(passed)))?;
    Ok(passed)
}

/// Answers each line typed on the console until input ends.
fn converse(peers: Peers, input: Cap<Notification>) -> Result<(), libasi::Error> {
    say(peers, format_args!("type a line and press Enter; Ctrl-D on an empty line ends"))?;
    loop {
        let reply = peers.console.call(peers.buffer, &Message::new(console::READ_LINE))?;
        let line = Text::from_words(reply.words()).unwrap_or_default();
        match reply.label() {
            OK => say(peers, format_args!("you typed {line:?}"))?,
            console::CUT => say(
                peers,
                format_args!(
                    "you typed {line:?} (cut: only the first {} bytes)",
                    console::MAX_LINE
                ),
            )?,
            // The console signals the notification when a line is ready or input ends.
            console::NO_LINE => drop(input.wait()?),
            console::END => return say(peers, format_args!("input ended")),
            _ => return Err(libasi::Error::InvalidArgument { word: 0 }),
        }
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed { "ok" } else { "WRONG" }
}

/// Asks echo to reverse a text.
fn reverse(peers: Peers) -> Result<bool, libasi::Error> {
    let question = Text::from_bytes(b"hello, world");
    let reply = peers.echo.call(peers.buffer, &text_message(echo::REVERSE, &question))?;
    let answer = Text::from_words(reply.words()).unwrap_or_default();
    let passed = reply.label() == OK && answer.as_str() == "dlrow ,olleh";
    say(peers, format_args!("reverse {question:?} -> {answer:?}: {}", verdict(passed)))?;
    Ok(passed)
}

/// Asks echo to increment numbers.
fn increment(peers: Peers) -> Result<bool, libasi::Error> {
    let numbers = [1, 41, 99, u64::MAX];
    let question = Message::with_words(echo::INCREMENT, &numbers).unwrap_or(Message::new(0));
    let reply = peers.echo.call(peers.buffer, &question)?;
    let passed = reply.label() == OK && reply.words() == [2, 42, 100, 0];
    say(peers, format_args!("increment {numbers:?} -> {:?}: {}", reply.words(), verdict(passed)))?;
    Ok(passed)
}

/// Sends echo a request it does not know, which it must refuse.
fn unknown(peers: Peers) -> Result<bool, libasi::Error> {
    let reply = peers.echo.call(peers.buffer, &Message::new(0x77).push(1))?;
    let passed = reply.label() == REFUSED;
    say(peers, format_args!("unknown request 0x77 refused: {}", verdict(passed)))?;
    Ok(passed)
}

fn text_message(label: u64, text: &Text) -> Message {
    let mut words = [0; MAX_WORDS];
    let count = text.to_words(&mut words);
    Message::with_words(label, &words[..count]).unwrap_or(Message::new(REFUSED))
}

/// Prints a line through the console.
fn say(peers: Peers, line: core::fmt::Arguments<'_>) -> Result<(), libasi::Error> {
    let mut text = Text::new();
    let _ = text.write_fmt(line);
    let reply = peers.console.call(peers.buffer, &text_message(console::WRITE, &text))?;
    if reply.label() == OK { Ok(()) } else { Err(libasi::Error::InvalidArgument { word: 0 }) }
}
