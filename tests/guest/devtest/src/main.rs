//! A case program of the test runner: exercises I/O port and IRQ capabilities through
//! `libasi`, with the PIT (ports 0x40–0x43, ISA IRQ 0) as the device, cases named
//! `dev::<group>::<case>`.
//!
//! The runner spawns it once per case, in a fresh process granted the I/O port and IRQ
//! control capabilities ([`case_process::serve`] says which case and reports the
//! verdict). Each case takes its slots and objects through a [`Scratch`], which deletes
//! them when the case ends (and its cleanup must succeed for the case to pass): every IRQ
//! handler a case gets goes with it, which masks the line again. Waiting for an
//! interrupt is bounded by PIT periods (the cases read the PIT's counter while they poll),
//! or for a blocking wait by a guard thread at priority 1 that signals the notification
//! after a while, so a case whose interrupt never comes fails instead of hanging. The PIT
//! is stopped by the last case, which also checks that no handler is left: with nothing to
//! run and no IRQ routed the kernel shuts down.
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
use case_report::{Outcome, ensure, fail};
use env::{Env, Scratch};

/// One case: its name (`dev::<group>::<case>`) and the check.
pub type Case = (&'static str, fn(&mut Scratch<'_>) -> Outcome);

libasi::entry!(main);

/// Run last, in a process of its own like every case: nothing the earlier cases' processes
/// had is left once they are destroyed, and the PIT stops, so the kernel can shut down.
const TEARDOWN: &[Case] =
    &[("dev::teardown::pit_stopped_and_no_irq_left", |s: &mut Scratch<'_>| s.env.teardown())];

fn main() -> u64 {
    case_process::serve(&[io_cases::CASES, irq_cases::CASES, TEARDOWN], |case| {
        let mut env = Env::new()?;
        let mut scratch = Scratch::new(&mut env);
        let outcome = case(&mut scratch);
        outcome.and(scratch.cleanup())
    })
}
