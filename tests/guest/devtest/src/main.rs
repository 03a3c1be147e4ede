//! A guest test program and root task: exercises I/O port and IRQ capabilities through
//! `libasi`, with the PIT (ports 0x40–0x43, ISA IRQ 0) as the device.
//!
//! Prints `TEST PASS dev::<group>::<case>` or `TEST FAIL dev::<group>::<case> <message>`
//! per case, then `TEST DONE <passed> <failed>`, and exits with code 0. Each case takes
//! its slots and objects through a [`Scratch`], which deletes them when the case ends:
//! every IRQ handler a case gets goes with it, which masks the line again. Waiting for an
//! interrupt is bounded by PIT periods (the cases read the PIT's counter while they poll),
//! or for a blocking wait by a guard thread at priority 1 that signals the notification
//! after a while, so a case whose interrupt never comes fails instead of hanging. The PIT
//! is stopped before the program ends, and no handler is left: with nothing to run and no
//! IRQ routed the kernel shuts down.
//!
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

mod env;
mod io_cases;
mod irq_cases;
mod pit;

use case_report as report;
use case_report::{Outcome, Tally, ensure, fail};
use env::{Env, Scratch};

/// One case: its name (`dev::<group>::<case>`) and the check.
pub type Case = (&'static str, fn(&mut Scratch<'_>) -> Outcome);

libasi::entry!(main);

fn main() -> u64 {
    let mut tally = Tally::default();
    let info = match libasi::boot::info() {
        Ok(info) => info,
        Err(error) => {
            tally.record(
                "dev::setup::boot_info",
                Err(report::Failure::new(format_args!("BootInfo refused: {error}"))),
            );
            tally.finish();
            return 0;
        }
    };
    let mut env = match Env::new(info) {
        Ok(env) => env,
        Err(failure) => {
            tally.record("dev::setup::environment", Err(failure));
            tally.finish();
            return 0;
        }
    };
    for group in [io_cases::CASES, irq_cases::CASES] {
        for &(name, case) in group {
            let mut scratch = Scratch::new(&mut env);
            let outcome = case(&mut scratch);
            let cleaned = scratch.cleanup();
            tally.record(name, outcome.and(cleaned));
        }
    }
    // Leave nothing that could keep the kernel up: the PIT stops and the guard goes.
    tally.record("dev::teardown::pit_stopped_and_no_irq_left", env.teardown());
    tally.finish();
    0
}
