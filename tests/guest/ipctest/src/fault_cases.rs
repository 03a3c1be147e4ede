//! Faults as messages: page faults, #UD, #DE and unknown system calls reach the fault
//! endpoint; the handler resumes, moves on or leaves the thread stopped.

use libasi::cap::{Cap, Endpoint, Frame, ObjectKind, Rights};
use libasi::fault::{FaultKind, FaultMessage, vector};

use crate::Case;
use crate::children::{self, ERROR, FLAG, VALUE};
use crate::env::{Child, Entry, Scratch, Spawn, map_with_tables, shared};
use crate::raw;
use crate::report::{Failure, Outcome, ok};
use crate::{ensure, fail};

pub const CASES: &[Case] = &[
    ("ipc::fault::page_fault_reaches_the_handler_and_resumes", page_fault),
    ("ipc::fault::invalid_opcode_skipped_by_the_handler", invalid_opcode),
    ("ipc::fault::divide_error_skipped_by_the_handler", divide_error),
    ("ipc::fault::unknown_syscall_reaches_the_handler", unknown_syscall),
    ("ipc::fault::nonzero_reply_leaves_the_thread_stopped", stopped_by_reply),
    ("ipc::fault::without_fault_endpoint_the_thread_stops", no_endpoint),
];

const FAULT_BADGE: u64 = 0xf1;
/// The start of the user program's image, and a generous end.
const IMAGE: core::ops::Range<u64> = 0x20_0000..0x100_0000;

/// A child at `entry` with a badged fault endpoint; returns the endpoint and the fault.
pub fn fault_of(
    s: &mut Scratch<'_>,
    entry: Entry,
    arg: u64,
) -> Result<(Cap<Endpoint>, Child, FaultMessage), Failure> {
    let endpoint = s.endpoint()?;
    let badged = s.mint(endpoint, Rights::ALL, FAULT_BADGE)?;
    let child = s.spawn(entry, arg, Spawn::LOW.fault(badged.cptr()))?;
    let (badge, message) = ok(endpoint.receive(s.buffer()), "receive on the fault endpoint")?;
    ensure!(badge == FAULT_BADGE, "fault message badge {badge:#x}, expected {FAULT_BADGE:#x}");
    let fault = match FaultMessage::decode(&message) {
        Ok(fault) => fault,
        Err(error) => fail!("not a fault message: {error:?} (label {})", message.label()),
    };
    Ok((endpoint, child, fault))
}

fn page_fault(s: &mut Scratch<'_>) -> Outcome {
    let page = 0x30_0000_0000;
    let (_, child, fault) = fault_of(s, children::toucher, page + 0x18)?;
    ensure!(
        fault.is_exception(vector::PAGE_FAULT) && fault.address == page + 0x18,
        "fault {:?} code {} address {:#x}; expected page fault at {:#x}",
        fault.kind,
        fault.code,
        fault.address,
        page + 0x18
    );
    ensure!(IMAGE.contains(&fault.rip), "faulting rip {:#x} outside the image", fault.rip);
    ensure!(fault.error & 4 != 0, "error code {:#x} lacks the user bit", fault.error);
    let frame = s.object::<Frame>(ObjectKind::Frame4K)?;
    map_with_tables(frame, page, &mut || {
        let untyped = s.untyped(12)?;
        Ok((untyped, s.slot()?))
    })?;
    raw::write(page + 0x18, 0xabc);
    ok(libasi::ipc::reply(s.buffer(), &FaultMessage::resume()), "reply resume")?;
    s.wait_done(child.done_badge(), "the resumed thread")?;
    ensure!(
        shared(FLAG) == 1 && shared(VALUE) == 0xabc,
        "the resumed thread read {:#x} (flag {})",
        shared(VALUE),
        shared(FLAG)
    );
    Ok(())
}

fn skipped(s: &mut Scratch<'_>, entry: Entry, code: u64, length: u64) -> Outcome {
    let (_, child, fault) = fault_of(s, entry, 0)?;
    ensure!(
        fault.is_exception(code) && IMAGE.contains(&fault.rip),
        "fault {:?} code {} rip {:#x}; expected exception {code}",
        fault.kind,
        fault.code,
        fault.rip
    );
    let mut registers = ok(child.tcb.read_registers(s.buffer(), false), "read registers")?;
    ensure!(
        registers.rip == fault.rip,
        "rip {:#x} is not the fault's {:#x}",
        registers.rip,
        fault.rip
    );
    registers.rip += length;
    ok(child.tcb.write_registers(false, &registers), "move rip past the instruction")?;
    ok(libasi::ipc::reply(s.buffer(), &FaultMessage::resume()), "reply resume")?;
    s.wait_done(child.done_badge(), "the resumed thread")?;
    ensure!(shared(FLAG) == 1, "the resumed thread did not go on");
    Ok(())
}

fn invalid_opcode(s: &mut Scratch<'_>) -> Outcome {
    skipped(s, children::invalid_opcode, vector::INVALID_OPCODE, raw::UD2_LENGTH)
}

fn divide_error(s: &mut Scratch<'_>) -> Outcome {
    skipped(s, children::divide_error, vector::DIVIDE_ERROR, raw::DIV_LENGTH)
}

fn unknown_syscall(s: &mut Scratch<'_>) -> Outcome {
    let (_, child, fault) = fault_of(s, children::bad_syscall, 99)?;
    ensure!(
        fault.kind == FaultKind::UnknownSyscall && fault.code == 99 && IMAGE.contains(&fault.rip),
        "fault {:?} code {} rip {:#x}; expected unknown syscall 99",
        fault.kind,
        fault.code,
        fault.rip
    );
    ok(libasi::ipc::reply(s.buffer(), &FaultMessage::resume()), "reply resume")?;
    s.wait_done(child.done_badge(), "the resumed thread")?;
    ensure!(
        shared(ERROR) == libasi::SyscallError::UnknownSyscall.code(),
        "the resumed call answered {}, expected unknown syscall",
        shared(ERROR)
    );
    Ok(())
}

fn stopped_by_reply(s: &mut Scratch<'_>) -> Outcome {
    let (_, child, fault) = fault_of(s, children::invalid_opcode, 0)?;
    ensure!(fault.is_exception(vector::INVALID_OPCODE), "fault code {}", fault.code);
    ok(libasi::ipc::reply(s.buffer(), &FaultMessage::stop()), "reply stop")?;
    let seen = s.wait_idle()?;
    ensure!(
        shared(FLAG) == 0 && seen & child.done_badge() == 0,
        "the thread went on after a nonzero reply"
    );
    Ok(())
}

fn no_endpoint(s: &mut Scratch<'_>) -> Outcome {
    let child = s.spawn(children::toucher, 0x30_0000_1000, Spawn::LOW)?;
    let seen = s.wait_idle()?;
    ensure!(
        shared(FLAG) == 0 && shared(VALUE) == 0 && seen & child.done_badge() == 0,
        "the faulting thread went on"
    );
    Ok(())
}
