//! A guest benchmark program: times kernel operations with the time-stamp counter and
//! prints one line per benchmark for the host's `bench` binary (`just bench`).
//!
//! Boot arguments, space-separated, all optional:
//!
//! - `iterations=<n>`: timed iterations per benchmark (default 1000, at most
//!   [`MAX_ITERATIONS`]); reported figures use at least 1000, the harness scenario 10.
//! - `warmup=<n>`: untimed iterations before them (default 100).
//! - `only=<name>`: run just the benchmark (or count) of that name (`scripts/profile-bench`
//!   uses it to trace one benchmark's instructions).
//!
//! Output, after a `bench:` log line naming the settings:
//!
//! ```text
//! BENCH <name> median=<ticks> min=<ticks> max=<ticks> p90=<ticks> iterations=<n> <counter>=<n>... [instructions=<n>]
//! BENCHCOUNT <name> <key>=<n>...
//! BENCH DONE
//! ```
//!
//! `BENCHCOUNT` lines come after every `BENCH` line, one per count
//! ([`benchmarks::COUNTS`]): a workload that is counted, not timed, and does the same
//! whatever `iterations=` says. `memsrv_mixed_flips` prints `allocations=`, `sensitive=`
//! (how many of them were sensitive), `flips=` (memsrv's own count), `kernel_flips=` (the
//! kernel's) and `forced=` (the least any allocator could flip on that workload).
//!
//! Ticks are raw differences of two time-stamp counter reads around one iteration; under
//! QEMU's `-icount shift=0` one tick is one guest instruction. Nothing is subtracted:
//! `rdtsc_overhead` is reported as a benchmark of its own, and `calibration_loop` carries
//! `instructions=<n>`, the exact count its loop adds over `rdtsc_overhead`. Every line
//! carries one `<counter>=<n>` field per kernel event counter, named by
//! `syscall_abi::counters::Counter::name` (`syscall_entries=`, `cr3_writes=`,
//! `l1d_flushes=`, ...): the total CPU 0 counted over all the timed iterations together,
//! not per iteration, and without the counter reads' own kernel entries and exits. The
//! reads come before and after the timed iterations, outside the timed region, so the
//! totals include what runs untimed between the iterations: the outcome checks (user
//! code) and the tidying of benchmarks that have some (`retype_endpoint`'s delete). Exit code 0
//! after `BENCH DONE`; 1 if a benchmark's operation returned something unexpected or its
//! setup failed (after a `bench: ...` line, and without `BENCH DONE`); 2 for bad arguments.
//!
//! The program is the root task. It lowers itself to priority 254 before the benchmarks;
//! the helper threads some benchmarks start in its address space (the call/reply server,
//! the notification waiter) run at 255, so they run as soon as they are made runnable and
//! nothing else competes for the CPU during a round trip.
//!
//! The cross-address-space call/reply benchmarks spawn their server, at 255 as well, from
//! the `bench-peer` boot module (`tests/guest/bench-peer`), which the host passes after this
//! program: a process with an address space and CSpace of its own. The memsrv benchmarks
//! and counts start memsrv, at 255 too, from the `memsrv-server` boot module, passed after
//! that. Without its module a benchmark fails (`bench: <name>: no boot module ...`, exit
//! code 1). The peers and memsrv stay blocked on their endpoints when the program exits;
//! with every thread blocked or gone and no IRQ routed, the kernel shuts down with the
//! success code.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod benchmarks;
mod env;
mod measure;
mod tsc;
mod workload;

use libasi::println;

use env::{Env, SetupError};
use measure::Bench;

/// The most timed iterations one run can hold: the samples live on the 64 KiB user stack,
/// four bytes each (see [`run_all`]).
pub const MAX_ITERATIONS: usize = 10_000;

const DEFAULT_ITERATIONS: usize = 1000;
const DEFAULT_WARMUP: usize = 100;

libasi::entry!(main);

fn main() -> u64 {
    let mut buf = [0; 128];
    let args = match libasi::boot::args(&mut buf) {
        Ok(args) => args,
        Err(error) => {
            println!("bench: {error}");
            return 2;
        }
    };
    let settings = match Settings::parse(args) {
        Ok(settings) => settings,
        Err(problem) => {
            println!("bench: {problem}");
            return 2;
        }
    };
    println!("bench: iterations={} warmup={}", settings.iterations, settings.warmup);
    let mut env = match Env::new() {
        Ok(env) => env,
        Err(SetupError { step, error }) => {
            println!("bench: cannot {step}: {error}");
            return 1;
        }
    };
    run_all(&mut env, &settings)
}

/// Runs every benchmark, then every count; the exit code. Not inlined, so that the samples (up to 40 KiB)
/// and [`Env::new`]'s boot information (several KiB) are never on the stack together.
#[inline(never)]
fn run_all(env: &mut Env, settings: &Settings<'_>) -> u64 {
    let mut samples = [0_u32; MAX_ITERATIONS];
    let mut bench = Bench::new(&mut samples[..settings.iterations], settings.warmup, env.buffer);
    let chosen = benchmarks::ALL
        .iter()
        .filter(|benchmark| settings.only.is_none_or(|name| name == benchmark.name));
    for benchmark in chosen {
        match (benchmark.run)(&mut bench, env) {
            Ok(summary) => println!("BENCH {} {summary}", benchmark.name),
            Err(unexpected) => {
                println!("bench: {}: {unexpected}", benchmark.name);
                return 1;
            }
        }
    }
    let counts = benchmarks::COUNTS
        .iter()
        .filter(|count| settings.only.is_none_or(|name| name == count.name));
    for count in counts {
        match (count.run)(env) {
            Ok(tally) => println!("BENCHCOUNT {} {tally}", count.name),
            Err(unexpected) => {
                println!("bench: {}: {unexpected}", count.name);
                return 1;
            }
        }
    }
    println!("BENCH DONE");
    0
}

/// What the boot arguments ask for.
struct Settings<'a> {
    iterations: usize,
    warmup: usize,
    only: Option<&'a str>,
}

impl<'a> Settings<'a> {
    /// Reads `iterations=<n>`, `warmup=<n>` and `only=<name>`; anything else is refused.
    fn parse(args: &'a str) -> Result<Self, &'static str> {
        let mut settings =
            Self { iterations: DEFAULT_ITERATIONS, warmup: DEFAULT_WARMUP, only: None };
        for arg in args.split_whitespace() {
            let (key, value) = arg.split_once('=').ok_or("arguments are key=value")?;
            if key == "only" {
                let benchmark = benchmarks::ALL.iter().any(|benchmark| benchmark.name == value);
                let count = benchmarks::COUNTS.iter().any(|count| count.name == value);
                if !benchmark && !count {
                    return Err("only= names no benchmark or count");
                }
                settings.only = Some(value);
                continue;
            }
            let value = value.parse::<usize>().map_err(|_| "argument values are numbers")?;
            match key {
                "iterations" if (1..=MAX_ITERATIONS).contains(&value) => {
                    settings.iterations = value;
                }
                "iterations" => return Err("iterations must be between 1 and 10000"),
                "warmup" => settings.warmup = value,
                _ => return Err("unknown argument; there are iterations=, warmup= and only="),
            }
        }
        Ok(settings)
    }
}
