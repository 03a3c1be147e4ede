//! A case program of the test runner: exercises threads, IPC, notifications, faults,
//! VSpaces and `libasi::mem` (mappings and the heap, this program's global allocator)
//! through `libasi`, cases named `ipc::<group>::<case>`.
//!
//! The runner spawns it once per case, in a fresh process ([`case_process::serve`] says
//! which case and reports the verdict). The case starts the child threads it needs from
//! a fresh untyped region and revokes it when it ends, which deletes the children's TCBs
//! (and its cleanup must succeed for the case to pass). A watchdog thread at priority 1
//! signals the process's bound `DONE` notification when every other thread is blocked,
//! so a case waiting for something that never comes fails instead of hanging.
//!
//! The runner grants it the ASI control capability (`asi-control=ipctest`): a case may make a
//! pageblock of its memory sensitive (`Scratch::sensitive_pageblock`, nonsensitive again
//! at cleanup) and read the kernel's event counters.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

mod children;
mod destroy_cases;
mod env;
mod fault_cases;
mod ipc_cases;
mod mem_cases;
mod notification_cases;
mod raw;
mod thread_cases;
mod vspace_cases;

extern crate alloc;

use case_report as report;
use case_report::{Outcome, ensure, fail};
use env::{Env, Scratch};

/// One case: its name (`ipc::<group>::<case>`) and the check.
pub type Case = (&'static str, fn(&mut Scratch<'_>) -> Outcome);

libasi::entry!(main);

fn main() -> u64 {
    let groups: [&[Case]; 7] = [
        thread_cases::CASES,
        ipc_cases::CASES,
        notification_cases::CASES,
        fault_cases::CASES,
        vspace_cases::CASES,
        destroy_cases::CASES,
        mem_cases::CASES,
    ];
    case_process::serve(&groups, |case| {
        let mut env = Env::new()?;
        let mut scratch = Scratch::new(&mut env);
        let outcome = case(&mut scratch);
        outcome.and(scratch.cleanup())
    })
}
