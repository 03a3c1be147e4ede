//! A guest test program and root task: exercises capabilities through `libasi` — the boot
//! information, retyping untyped memory into every kind of object, the CNode operations,
//! nested CNodes, the kernel's refusal of every kind of bad input, and thousands of random
//! system calls from a thread of its own (`cap::fuzz::*`).
//!
//! Prints `TEST PASS cap::<group>::<case>` or `TEST FAIL cap::<group>::<case> <message>`
//! per case, then `TEST DONE <passed> <failed>`, and exits with code 0 (a failing case is
//! the suite's verdict, not a crash). Cases run one after another in the one root CSpace;
//! each takes fresh slots and regions and gives them back (revoked and deleted) when it
//! ends, so a failing case does not disturb the next.
//!
//! Its optional arguments: `mitigations=blanket` says the kernel was booted so
//! (`cap::asi::*` then expects flushes); `fuzz_seed=` and `fuzz_calls=` run only the fuzz
//! case, with that seed and that many calls (`just fuzz`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(
    clippy::result_large_err,
    reason = "a failure carries its message inline (no heap here) and is the rare path"
)]

mod asi_cases;
mod boot_cases;
mod cnode_cases;
mod control_cases;
mod destroy_cases;
mod env;
mod fuzz;
mod fuzz_cases;
mod invoke_cases;
mod nesting_cases;
mod raw;
mod retype_cases;
mod sensitivity_cases;

use libasi::println;

use case_report as report;
use case_report::{Outcome, Tally, ensure, fail};
use env::{Env, Scratch};

/// One case: its name (`cap::<group>::<case>`) and the check.
pub type Case = (&'static str, fn(&mut Scratch<'_>) -> Outcome);

libasi::entry!(main);

fn main() -> u64 {
    let mut tally = Tally::default();
    let info = match libasi::boot::info() {
        Ok(info) => {
            tally.record("cap::boot::info_decodes", boot_cases::decodes(&info));
            info
        }
        Err(error) => {
            tally.record(
                "cap::boot::info_decodes",
                Err(report::Failure::new(format_args!("BootInfo refused: {error}"))),
            );
            tally.finish();
            return 0;
        }
    };
    let mut env = match Env::new(info) {
        Ok(env) => env,
        Err(failure) => {
            tally.record("cap::boot::pool", Err(failure));
            tally.finish();
            return 0;
        }
    };
    println!("captest: pool is slot {} (2^{} bytes)", env.pool.cptr(), env.pool_bits);
    // A fuzzing campaign (`just fuzz`) runs alone.
    if fuzz_cases::Campaign::from_args().is_some() {
        for &(name, case) in fuzz_cases::CASES {
            run(&mut env, &mut tally, name, case);
        }
        tally.finish();
        return 0;
    }
    let groups: [&[Case]; 10] = [
        boot_cases::CASES,
        asi_cases::CASES,
        sensitivity_cases::CASES,
        retype_cases::CASES,
        invoke_cases::CASES,
        cnode_cases::CASES,
        nesting_cases::CASES,
        destroy_cases::CASES,
        control_cases::CASES,
        fuzz_cases::CASES,
    ];
    for group in groups {
        for &(name, case) in group {
            run(&mut env, &mut tally, name, case);
        }
    }
    for &(name, case) in cnode_cases::LAST {
        run(&mut env, &mut tally, name, case);
    }
    tally.finish();
    0
}

fn run(env: &mut Env, tally: &mut Tally, name: &str, case: fn(&mut Scratch<'_>) -> Outcome) {
    let mut scratch = Scratch::new(env);
    let outcome = case(&mut scratch);
    let cleaned = scratch.cleanup();
    tally.record(name, outcome.and(cleaned));
}
