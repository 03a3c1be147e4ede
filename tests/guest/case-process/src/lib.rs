//! What a case program runs as: a process the test runner spawned for one case. It asks
//! the runner which case to run, names it, runs it and sends the verdict
//! ([`case_protocol`] says how), then waits to be destroyed. [`own`] names the
//! capabilities the process was started with.
//!
//! ```ignore
//! libasi::entry!(main);
//!
//! fn main() -> u64 {
//!     case_process::serve(&[io_cases::CASES, irq_cases::CASES], |case| {
//!         let mut env = Env::new()?;
//!         ...
//!     })
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

pub mod own;

use case_protocol::{CodecError, MAX_BYTES, Order, Request, Verdict};
use case_report::Outcome;
use libasi::cap::{Cap, Endpoint};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::{Error, println};
use syscall_abi::ipc::MAX_WORDS;

/// A case program's groups of cases: each case a name and what `run` needs to run it.
pub type Groups<'g, C> = &'g [&'g [(&'static str, C)]];

/// Runs the one case the runner orders, from `groups` (numbered in order across them),
/// with `run`, and reports its verdict. Returns (an exit code for `main`) only when the
/// runner cannot be reached or breaks the protocol, after saying why; otherwise the
/// runner destroys the process while it waits for an answer to its verdict.
pub fn serve<C: Copy>(groups: Groups<'_, C>, run: impl FnOnce(C) -> Outcome) -> u64 {
    match serve_case(groups, run) {
        Ok(()) => 0,
        Err(problem) => {
            println!("case process: {problem}");
            1
        }
    }
}

/// Why the conversation with the runner failed.
enum Problem {
    Kernel(Error),
    Protocol(CodecError),
    Unexpected(Order),
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Kernel(error) => write!(f, "calling the runner: {error}"),
            Self::Protocol(error) => write!(f, "the runner's answer: {error}"),
            Self::Unexpected(order) => write!(f, "the runner ordered {order:?} out of turn"),
        }
    }
}

fn serve_case<C: Copy>(
    groups: Groups<'_, C>,
    run: impl FnOnce(C) -> Outcome,
) -> Result<(), Problem> {
    let runner = Runner { endpoint: own::RUNNER, buffer: own::buffer().map_err(Problem::Kernel)? };
    let index = match runner.call(&Request::Ready)? {
        Order::Run { index } => usize::from(index),
        order => return Err(Problem::Unexpected(order)),
    };
    let Some(&(name, case)) = groups.iter().flat_map(|group| group.iter()).nth(index) else {
        runner.call(&Request::NoSuchCase)?;
        return Ok(());
    };
    match runner.call(&Request::starting(name))? {
        Order::Go => {}
        order => return Err(Problem::Unexpected(order)),
    }
    let outcome = run(case);
    let verdict = match &outcome {
        Ok(()) => Request::Verdict(Verdict::Pass),
        Err(failure) => Request::failed(failure.as_str()),
    };
    runner.call(&verdict).map(drop)
}

/// The runner, as a case process reaches it.
struct Runner {
    endpoint: Cap<Endpoint>,
    buffer: IpcBuffer,
}

impl Runner {
    /// Sends `request` and decodes the runner's order.
    fn call(&self, request: &Request<'_>) -> Result<Order, Problem> {
        let mut words = [0; MAX_WORDS];
        let count = case_protocol::encode(request, &mut words).map_err(Problem::Protocol)?;
        let message = Message::with_words(case_protocol::LABEL, &words[..count])
            .map_err(|_| Problem::Protocol(CodecError::Length))?;
        let reply = self.endpoint.call(self.buffer, &message).map_err(Problem::Kernel)?;
        let mut bytes = [0; MAX_BYTES];
        case_protocol::decode(reply.label(), reply.words(), &mut bytes).map_err(Problem::Protocol)
    }
}
