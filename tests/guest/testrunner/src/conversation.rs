//! The runner's side of one case process's life ([`case_protocol`]): it orders a case,
//! learns its name, waits for the verdict or a fault.

use core::fmt::{self, Write};

use case_protocol::{MAX_BYTES, MAX_NAME, Order, Request, Verdict, badge};
use case_report::{Failure, Outcome};
use libasi::cap::{Cap, Endpoint};
use libasi::fault::FaultMessage;
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use syscall_abi::ipc::MAX_WORDS;

/// A case's name, kept while the case runs.
pub struct Name {
    bytes: [u8; MAX_NAME],
    len: usize,
}

impl Name {
    pub fn new() -> Self {
        Self { bytes: [0; MAX_NAME], len: 0 }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are appended, cut at character boundaries.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("(garbled)")
    }
}

impl Write for Name {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let piece = case_protocol::cut(s, MAX_NAME - self.len);
        self.bytes[self.len..self.len + piece.len()].copy_from_slice(piece.as_bytes());
        self.len += piece.len();
        Ok(())
    }
}

/// How a case process's life ended.
pub enum Heard {
    /// Its program has no case with the index ordered: every case has run.
    NoSuchCase,
    /// Case `name` ended with `outcome`; a fault, or a message out of protocol, fails it.
    Case(Name, Outcome),
}

/// The runner's endpoint, as it listens to one case process at a time.
#[derive(Clone, Copy, Debug)]
pub struct Listener {
    pub endpoint: Cap<Endpoint>,
    pub buffer: IpcBuffer,
}

/// What arrived: from the case process, or its fault.
enum Arrival {
    Request(Message),
    Fault(Message),
}

impl Listener {
    /// Orders the case process just started to run case `index` of `program` and follows
    /// it to its end. Only the kernel refusing the runner's own receive or reply is an
    /// error; whatever the case process does ends in [`Heard`].
    pub fn converse(&self, program: &str, index: u16) -> Result<Heard, libasi::Error> {
        let mut name = Name::new();
        let _ = write!(name, "testrunner::{program}::case_{index}");
        let mut arrival = self.receive(None)?;
        let mut named = false;
        loop {
            let message = match arrival {
                Arrival::Fault(message) => return Ok(Heard::Case(name, Err(fault(&message)))),
                Arrival::Request(message) => message,
            };
            let mut bytes = [0; MAX_BYTES];
            let request =
                case_protocol::decode::<Request<'_>>(message.label(), message.words(), &mut bytes);
            let order = match (request, named) {
                (Ok(Request::Ready), false) => Order::Run { index },
                (Ok(Request::Starting { name: starting }), false) => {
                    name = Name::new();
                    let _ = name.write_str(starting);
                    named = true;
                    Order::Go
                }
                (Ok(Request::NoSuchCase), false) => return Ok(Heard::NoSuchCase),
                (Ok(Request::Verdict(Verdict::Pass)), true) => {
                    return Ok(Heard::Case(name, Ok(())));
                }
                (Ok(Request::Verdict(Verdict::Fail { message })), true) => {
                    let failure = Failure::new(format_args!("{message}"));
                    return Ok(Heard::Case(name, Err(failure)));
                }
                (Ok(request), _) => {
                    let failure = Failure::new(format_args!("out of turn: {request:?}"));
                    return Ok(Heard::Case(name, Err(failure)));
                }
                (Err(error), _) => {
                    let failure = Failure::new(format_args!("unreadable message: {error}"));
                    return Ok(Heard::Case(name, Err(failure)));
                }
            };
            arrival = self.receive(Some(order))?;
        }
    }

    /// Answers the last call with `order`, if any, and waits for the next message.
    fn receive(&self, order: Option<Order>) -> Result<Arrival, libasi::Error> {
        let (sender, message) = match order {
            Some(order) => {
                let mut words = [0; MAX_WORDS];
                // Orders fit a message (checked at compile time in case_protocol).
                let count = case_protocol::encode(&order, &mut words).unwrap_or(0);
                let reply = Message::with_words(case_protocol::LABEL, &words[..count])
                    .unwrap_or(Message::new(case_protocol::LABEL));
                self.endpoint.reply_receive(self.buffer, &reply)?
            }
            None => self.endpoint.receive(self.buffer)?,
        };
        Ok(if sender == badge::FAULT { Arrival::Fault(message) } else { Arrival::Request(message) })
    }
}

/// A fault message as a case failure.
fn fault(message: &Message) -> Failure {
    match FaultMessage::decode(message) {
        Ok(fault) => Failure::new(format_args!(
            "faulted: {:?} {} (error {:#x}) at rip={:#x} address={:#x} rsp={:#x}",
            fault.kind, fault.code, fault.error, fault.rip, fault.address, fault.rsp
        )),
        Err(error) => Failure::new(format_args!("unreadable fault message: {error:?}")),
    }
}
