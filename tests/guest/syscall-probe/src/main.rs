//! A guest test program: calls the kernel with bad arguments, or takes a user fault on
//! purpose, as its boot arguments say.
//!
//! - `syscalls`: one `TEST PASS <name>` or `TEST FAIL <name> <message>` line per check,
//!   then `TEST DONE <passed> <failed>`; exit code 0.
//! - `fault=page|gp|ud|div`: announces and raises the fault; the kernel must end the
//!   thread, so `probe: still running after fault` (exit code 1) means it did not.
//! - anything else: exit code 2.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod checks;
mod fault;
mod registers;
mod report;

use libasi::println;

use fault::Fault;

libasi::entry!(main);

fn main() -> u64 {
    let mut buf = [0; 64];
    let args = match libasi::boot::args(&mut buf) {
        Ok(args) => args,
        Err(error) => {
            println!("probe: {error}");
            return 2;
        }
    };
    if args == checks::ARGS {
        checks::run();
        return 0;
    }
    match args.strip_prefix("fault=").and_then(Fault::parse) {
        Some(fault) => {
            println!("probe: about to fault ({})", fault.name());
            fault.raise();
            println!("probe: still running after fault");
            1
        }
        None => {
            println!("probe: unknown args '{args}'");
            2
        }
    }
}
