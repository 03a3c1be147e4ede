//! A guest test program and root task: exercises threads, IPC, notifications, faults and
//! VSpaces through `libasi`.
//!
//! Prints `TEST PASS ipc::<group>::<case>` or `TEST FAIL ipc::<group>::<case> <message>`
//! per case, then `TEST DONE <passed> <failed>`, and exits with code 0. Each case starts
//! the child threads it needs from a fresh untyped region and revokes it when it ends,
//! which deletes the children's TCBs, so a failing case does not disturb the next. A
//! watchdog thread at priority 1 signals the root task's bound `DONE` notification when
//! every other thread is blocked, so a case waiting for something that never comes fails
//! instead of hanging.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

mod children;
mod env;
mod fault_cases;
mod ipc_cases;
mod notification_cases;
mod raw;
mod thread_cases;
mod vspace_cases;

use case_report as report;
use case_report::{Outcome, Tally, ensure, fail};
use env::{Env, Scratch};

/// One case: its name (`ipc::<group>::<case>`) and the check.
pub type Case = (&'static str, fn(&mut Scratch<'_>) -> Outcome);

libasi::entry!(main);

fn main() -> u64 {
    let mut tally = Tally::default();
    let info = match libasi::boot::info() {
        Ok(info) => info,
        Err(error) => {
            tally.record(
                "ipc::setup::boot_info",
                Err(report::Failure::new(format_args!("BootInfo refused: {error}"))),
            );
            tally.finish();
            return 0;
        }
    };
    let mut env = match Env::new(info) {
        Ok(env) => env,
        Err(failure) => {
            tally.record("ipc::setup::environment", Err(failure));
            tally.finish();
            return 0;
        }
    };
    let groups: [&[Case]; 5] = [
        thread_cases::CASES,
        ipc_cases::CASES,
        notification_cases::CASES,
        fault_cases::CASES,
        vspace_cases::CASES,
    ];
    for group in groups {
        for &(name, case) in group {
            let mut scratch = Scratch::new(&mut env);
            let outcome = case(&mut scratch);
            let cleaned = scratch.cleanup();
            tally.record(name, outcome.and(cleaned));
        }
    }
    // The watchdog would run for ever: stop it so the kernel can shut down.
    let _ = env.watchdog.suspend();
    tally.finish();
    0
}
