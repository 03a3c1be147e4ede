//! The test runner: a root task that runs the cases of the case programs it is booted
//! with (every boot module after its own), each case in a fresh process.
//!
//! For case `i` of a program it spawns the program with `libasi::process::Spawner`,
//! granting it an endpoint back to the runner, an untyped region of its own and, for the
//! programs its boot arguments name, the I/O port and IRQ control capabilities
//! (`devices=<program>,...`) and the ASI control capability (`asi-control=<program>,...`); the
//! runner is also the process's fault endpoint. The process
//! says which case `i` is and how it went ([`case_protocol`]); a fault fails the case with
//! the fault's details. The runner prints one `TEST PASS <name>` or `TEST FAIL <name>
//! <message>` line per case, destroys the process with `Process::destroy` and checks that
//! every slot and the whole pool came back, and that no pageblock of the pool was left
//! sensitive (a leak fails the case; the pool is made nonsensitive again). A program is done
//! when it has no case `i`. At the end: `TEST DONE <passed> <failed>`, exit code 0.
//!
//! With `respawn=<count>` it first spawns each program stopped and destroys it `count`
//! times, checking each time that nothing is left behind, and reports that as the case
//! `testrunner::<program>::respawn_leaves_nothing_behind`.
//!
//! If the runner itself cannot go on (the kernel refuses its own calls, a spawn fails),
//! it says why and exits with code 1 without `TEST DONE`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]
#![allow(
    clippy::large_enum_variant,
    reason = "a case's name and failure are carried inline (no heap here)"
)]

mod conversation;
mod runner;

use case_report::Tally;
use libasi::boot::{self, ModuleDescriptor};
use libasi::println;

use core::fmt::Write;

use conversation::{Heard, Name};
use runner::{Grants, Runner, RunnerError};

libasi::entry!(main);

fn main() -> u64 {
    let mut args = [0; 256];
    let args = match boot::args(&mut args) {
        Ok(args) => args,
        Err(error) => {
            println!("testrunner: {error}");
            return 1;
        }
    };
    let info = match boot::info() {
        Ok(info) => info,
        Err(error) => {
            println!("testrunner: boot information: {error}");
            return 1;
        }
    };
    let mut tally = Tally::default();
    let result = Runner::new(&info).and_then(|mut runner| {
        // The first module is the runner itself.
        let respawns = case_protocol::respawn_count(args);
        for module in info.modules().iter().skip(1) {
            let grants = Grants {
                devices: case_protocol::gets_devices(args, module.name()),
                asi: case_protocol::gets_asi(args, module.name()),
            };
            if respawns > 0 {
                let mut name = Name::new();
                let _ =
                    write!(name, "testrunner::{}::respawn_leaves_nothing_behind", module.name());
                tally.record(name.as_str(), runner.respawn(module, respawns, grants)?);
            }
            run_program(&mut runner, module, grants, &mut tally)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            tally.finish();
            0
        }
        Err(error) => {
            println!("testrunner: {error}");
            1
        }
    }
}

/// Runs every case of `module`, in order.
fn run_program(
    runner: &mut Runner,
    module: &ModuleDescriptor,
    grants: Grants,
    tally: &mut Tally,
) -> Result<(), RunnerError> {
    for index in 0..=u16::MAX {
        match runner.run(module, index, grants)? {
            Heard::NoSuchCase => return Ok(()),
            Heard::Case(name, outcome) => tally.record(name.as_str(), outcome),
        }
    }
    Ok(())
}
