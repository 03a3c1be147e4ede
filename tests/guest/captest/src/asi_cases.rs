//! `cap::asi::*`: the ASI control capability's event counters.
//!
//! The program's boot arguments say which mitigation mode the kernel was booted in:
//! `mitigations=blanket` (the `cap tests under mitigations=blanket` scenario), `asi=off`
//! or nothing (`mitigations=off`, `asi=on`, the defaults).

use libasi::Error;
use libasi::cap::{AsiControl, Cap, Counters};
use libasi::ipc::IpcBuffer;

use syscall_abi::counters::Counter;

use crate::env::Scratch;
use crate::report::{Failure, Outcome, ok, refused};
use crate::{Case, ensure};

pub const CASES: &[Case] = &[
    ("cap::asi::counters_count_system_calls", counters_count_system_calls),
    ("cap::asi::counters_of_a_cpu_that_is_not_up_are_refused", missing_cpu_refused),
    ("cap::asi::flushes_follow_the_mitigation_mode", flushes_follow_the_mode),
    ("cap::asi::register_only_calls_never_exit", register_only_calls_never_exit),
];

/// System calls each case makes between its two counter reads.
const CALLS: u64 = 10;

fn buffer() -> Result<IpcBuffer, Failure> {
    ok(libasi::process::ipc_buffer(), "find the IPC buffer")
}

fn read(buffer: IpcBuffer) -> Result<Counters, Failure> {
    ok(Cap::<AsiControl>::BOOT.counters(buffer, 0), "read CPU 0's counters")
}

/// The counters' increase over `CALLS` Null calls (plus the second read itself).
fn over_null_calls(buffer: IpcBuffer) -> Result<Counters, Failure> {
    let before = read(buffer)?;
    for _ in 0..CALLS {
        libasi::ipc::null_syscall();
    }
    Ok(read(buffer)?.since(&before))
}

fn counters_count_system_calls(_: &mut Scratch<'_>) -> Outcome {
    let spent = over_null_calls(buffer()?)?;
    let calls = spent.get(Counter::SyscallEntries);
    // The calls, the second read, and nothing else can have entered by `syscall`; a timer
    // interrupt may have come in between, but no exception.
    ensure!(calls == CALLS + 1, "{calls} syscall entries counted for {} calls", CALLS + 1);
    ensure!(
        spent.get(Counter::ExceptionEntries) == 0,
        "{} exception entries without a fault",
        spent.get(Counter::ExceptionEntries)
    );
    ensure!(
        spent.get(Counter::Cr3Writes) == 0,
        "{} CR3 writes without an address-space switch",
        spent.get(Counter::Cr3Writes)
    );
    Ok(())
}

fn missing_cpu_refused(_: &mut Scratch<'_>) -> Outcome {
    let buffer = buffer()?;
    // Only the bootstrap CPU is up until SMP comes; 64 is past the last CPU there can be.
    for cpu in [1, 63, 64, u64::MAX] {
        refused(
            Cap::<AsiControl>::BOOT.counters(buffer, cpu),
            Error::RangeError { word: 0 },
            "CPU",
        )?;
    }
    Ok(())
}

fn flushes_follow_the_mode(_: &mut Scratch<'_>) -> Outcome {
    let mut args = [0u8; 128];
    let Ok(args) = libasi::boot::args(&mut args) else {
        return Err(Failure::new(format_args!("the boot arguments do not fit 128 bytes")));
    };
    let blanket = args.split_whitespace().any(|arg| arg == "mitigations=blanket");
    let spent = over_null_calls(buffer()?)?;
    let exits = spent.get(Counter::SyscallEntries);
    let l1d = spent.get(Counter::L1dFlushes);
    if blanket {
        // Every exit flushes L1D (by MSR or in software); IBPB and VERW only where the CPU
        // has them (TCG has neither), so they are either counted per entry or not at all.
        ensure!(l1d >= exits, "{l1d} L1D flushes for {exits} exits under blanket");
        for counter in [Counter::Ibpb, Counter::Verws] {
            let seen = spent.get(counter);
            ensure!(seen == 0 || seen >= exits, "{seen} {} for {exits} entries", counter.name());
        }
    } else {
        for counter in [Counter::Ibpb, Counter::L1dFlushes, Counter::Verws] {
            let seen = spent.get(counter);
            ensure!(seen == 0, "{seen} {} with mitigations off", counter.name());
        }
    }
    Ok(())
}

fn register_only_calls_never_exit(_: &mut Scratch<'_>) -> Outcome {
    let buffer = buffer()?;
    let before = read(buffer)?;
    for _ in 0..CALLS {
        libasi::ipc::null_syscall();
        // A register-only reply: the verifier's verdict.
        ok(Cap::<AsiControl>::BOOT.verify(), "verify the restricted view")?;
    }
    let spent = read(buffer)?.since(&before);
    for counter in [Counter::AsiExits, Counter::AsiEntries] {
        let seen = spent.get(counter);
        ensure!(seen == 0, "{seen} {} over register-only calls", counter.name());
    }
    Ok(())
}
