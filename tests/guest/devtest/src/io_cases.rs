//! I/O ports: issuing capabilities to port ranges, reading and writing through them, and
//! every refusal of the range checks.

use libasi::Error;
use libasi::cap::{CPtr, CapKind, IoPort, IrqControl, IrqHandler, Slot, SlotRef};
use libasi::cap::{Cap, Invocation};
use libasi::message::Message;

use crate::Case;
use crate::env::{IO_PORT_CONTROL, IRQ_CONTROL, ROOT, Scratch};
use crate::pit::Pit;
use crate::report::{Outcome, holds, ok, refused};
use crate::{ensure, fail};

pub const CASES: &[Case] = &[
    ("dev::io::control_capabilities_in_their_boot_slots", boot_slots),
    ("dev::io::issue_makes_an_io_port_capability", issue_identifies),
    ("dev::io::pit_counter_counts_down", pit_counts_down),
    ("dev::io::kernel_ports_refused", kernel_ports),
    ("dev::io::first_after_last_refused", first_after_last),
    ("dev::io::ports_beyond_16_bits_refused", beyond_16_bits),
    ("dev::io::access_outside_the_range_refused", outside_the_range),
    ("dev::io::wide_access_must_fit_in_the_range", wide_access),
    ("dev::io::out_value_beyond_32_bits_refused", wide_value),
    ("dev::io::issue_into_an_occupied_slot_refused", occupied_slot),
    ("dev::io::wrong_invocations_refused", wrong_invocations),
    ("dev::io::overlapping_issues_refused", overlapping_issues),
];

fn boot_slots(_: &mut Scratch<'_>) -> Outcome {
    // The runner granted copies of the root task's boot slots 7 and 2: what they hold.
    holds(IO_PORT_CONTROL, CapKind::IoPortControl, "copy of boot slot 7")?;
    holds(IRQ_CONTROL, CapKind::IrqControl, "copy of boot slot 2")
}

fn issue_identifies(s: &mut Scratch<'_>) -> Outcome {
    let ports = s.ports(0x80, 0x83)?;
    holds(ports, CapKind::IoPort, "an issued capability")?;
    let single = s.ports(0x84, 0x84)?;
    holds(single, CapKind::IoPort, "a one-port capability")?;
    // A copy works like the original (the environment's PIT capability, whose ports no
    // case may issue again).
    let pit = s.pit().0;
    let copy = s.mint(pit, libasi::cap::Rights::ALL, 0)?;
    holds(copy, CapKind::IoPort, "a copy")?;
    ok(Pit(copy).count(), "read the PIT through the copy").map(drop)
}

fn pit_counts_down(s: &mut Scratch<'_>) -> Outcome {
    const DIVISOR: u16 = 50_000; // about 42 ms a period
    let pit = s.pit();
    ok(pit.start(DIVISOR), "program channel 0")?;
    let mut counts = [0u16; 3];
    for count in &mut counts {
        *count = ok(pit.count(), "latch and read the count")?;
    }
    for &count in &counts {
        ensure!(
            (1..=DIVISOR).contains(&count),
            "count {count} is outside 1..={DIVISOR} (read {counts:?})"
        );
    }
    // One reload may fall between two reads, not both.
    ensure!(
        counts[1] < counts[0] || counts[2] < counts[1],
        "the count does not go down: read {counts:?}"
    );
    Ok(())
}

fn kernel_ports(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    let ranges: [(u16, u16); 14] = [
        (0x20, 0x21),
        (0xa0, 0xa1),
        (0xf4, 0xf7),
        (0x3fa, 0x3fc),
        (0x21, 0x21),
        (0x1f, 0x20),
        (0x9f, 0xa0),
        (0xa1, 0xa4),
        (0xf0, 0xf4),
        (0xf7, 0xf8),
        (0x3f8, 0x3ff),
        (0x3f9, 0x3fa),
        (0x3fc, 0x3fd),
        (0, u16::MAX),
    ];
    for (first, last) in ranges {
        refused(
            IO_PORT_CONTROL.issue(first, last, slot),
            Error::RangeError { word: 0 },
            "a range touching the kernel's ports",
        )
        .map_err(|failure| {
            crate::report::Failure::new(format_args!("{first:#x}..={last:#x}: {failure}"))
        })?;
        holds(CPtr(slot), CapKind::Null, "the destination after a refusal")?;
    }
    // Right next to them is fine (around the environment's PIT ports, 0x40..=0x43, which
    // are issued already), and so are COM1's data and status registers, which a console
    // server reads input through.
    let beside = [(0x22, 0x3f), (0x44, 0x9f), (0xa2, 0xf3), (0xf8, 0x3f9), (0x3fd, u16::MAX)];
    for (first, last) in beside {
        ok(IO_PORT_CONTROL.issue(first, last, slot), "a range beside the kernel's ports")?;
        s.delete(CPtr(slot))?;
    }
    Ok(())
}

fn first_after_last(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    refused(IO_PORT_CONTROL.issue(0x43, 0x40, slot), Error::RangeError { word: 1 }, "0x43..=0x40")?;
    refused(IO_PORT_CONTROL.issue(1, 0, slot), Error::RangeError { word: 1 }, "1..=0")?;
    holds(CPtr(slot), CapKind::Null, "the destination after a refusal")
}

/// `IoPortControlIssue` with raw words.
fn issue_raw(first: u64, last: u64, slot: u64) -> Result<u64, Error> {
    Message::new(Invocation::IoPortControlIssue.label())
        .push(first)
        .push(last)
        .push(ROOT.cptr().0)
        .push(slot)
        .push(64)
        .call(IO_PORT_CONTROL.cptr())
}

fn beyond_16_bits(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    refused(issue_raw(0x1_0040, 0x1_0043, slot), Error::RangeError { word: 0 }, "first 0x10040")?;
    refused(issue_raw(0x40, 0x1_0000, slot), Error::RangeError { word: 1 }, "last 0x10000")?;
    let port = s.ports(0x80, 0x83)?;
    let raw_in = Message::new(Invocation::IoPortIn8.label()).push(0x1_0080).call(port.cptr());
    refused(raw_in, Error::RangeError { word: 0 }, "in8 at 0x10080 (0x80 + 2^16)")
}

fn outside_the_range(s: &mut Scratch<'_>) -> Outcome {
    let narrow = s.ports(0x80, 0x81)?;
    ok(narrow.in8(0x80), "in8 at the first port")?;
    ok(narrow.in8(0x81), "in8 at the last port")?;
    let outside = Error::RangeError { word: 0 };
    refused(narrow.in8(0x82), outside, "in8 past the last port")?;
    refused(narrow.in8(0x7f), outside, "in8 before the first port")?;
    refused(narrow.out8(0x83, 0), outside, "out8 past the last port")?;
    refused(narrow.in8(0x3fb), outside, "in8 at the serial console's line control")?;
    refused(narrow.in16(0x7f), outside, "in16 starting before the range")?;
    Ok(())
}

fn wide_access(s: &mut Scratch<'_>) -> Outcome {
    // Port 0x80 (the POST code port) is harmless to read and write at any width.
    let four = s.ports(0x80, 0x83)?;
    let outside = Error::RangeError { word: 0 };
    ok(four.in32(0x80), "in32 covering all four ports")?;
    ok(four.out32(0x80, 0), "out32 covering all four ports")?;
    refused(four.in32(0x81), outside, "in32 crossing the last port")?;
    refused(four.out32(0x83, 0), outside, "out32 at the last port")?;
    ok(four.in16(0x82), "in16 ending at the last port")?;
    refused(four.in16(0x83), outside, "in16 crossing the last port")?;
    refused(four.out16(0x83, 0), outside, "out16 crossing the last port")?;
    ok(four.in8(0x83), "in8 at the last port")?;
    // At the top of the port space the check must not wrap around.
    let top = s.ports(0xfffe, u16::MAX)?;
    ok(top.in16(0xfffe), "in16 at 0xfffe")?;
    refused(top.in16(u16::MAX), outside, "in16 at 0xffff")?;
    refused(top.in32(0xfffe), outside, "in32 at 0xfffe")?;
    refused(top.in32(u16::MAX), outside, "in32 at 0xffff")
}

fn wide_value(s: &mut Scratch<'_>) -> Outcome {
    let port = s.ports(0x80, 0x83)?;
    let raw = Message::new(Invocation::IoPortOut32.label()).push(0x80).push(1 << 32);
    refused(raw.call(port.cptr()), Error::RangeError { word: 1 }, "out32 of 2^32")
}

fn occupied_slot(s: &mut Scratch<'_>) -> Outcome {
    let ports = s.ports(0x80, 0x80)?;
    match IO_PORT_CONTROL.issue(0x81, 0x84, ports.cptr().0) {
        Err(Error::DeleteFirst { .. }) => {}
        Err(error) => fail!("issue into an occupied slot: expected DeleteFirst, got {error}"),
        Ok(_) => fail!("issue into an occupied slot succeeded"),
    }
    // What was there is untouched: still the one-port capability.
    refused(ports.in8(0x81), Error::RangeError { word: 0 }, "the old capability's range")
}

fn wrong_invocations(s: &mut Scratch<'_>) -> Outcome {
    let ports = s.ports(0x80, 0x83)?;
    let slot = s.slot()?;
    refused(ports.cast::<IrqHandler>().ack(), Error::IllegalOperation, "IRQ ack on I/O ports")?;
    refused(
        IO_PORT_CONTROL.cast::<IoPort>().in8(0x80),
        Error::IllegalOperation,
        "in8 on I/O port control",
    )?;
    refused(
        IO_PORT_CONTROL.cast::<IrqControl>().get(0, slot),
        Error::IllegalOperation,
        "IRQ get on I/O port control",
    )?;
    refused(
        IRQ_CONTROL.cast::<libasi::cap::IoPortControl>().issue(0x80, 0x83, slot),
        Error::IllegalOperation,
        "port issue on IRQ control",
    )?;
    refused(
        IO_PORT_CONTROL.issue_at(
            0x80,
            0x83,
            SlotRef { cnode: Cap::from_slot(2), slot: Slot::root(slot) },
        ),
        Error::InvalidCapability { word: 2 },
        "issue into a 'CNode' that is IRQ control",
    )?;
    holds(CPtr(slot), CapKind::Null, "the destination after the refusals")
}

/// Two capabilities issued separately for the same ports are independent: revoking one
/// (it has no children) must not delete the other. The kernel links each new issue right
/// after I/O port control as a revocable original, and `same_region_as` holds for equal
/// ranges, so the older issue looks like a child of the newer one and goes with its
/// revoke. (seL4 refuses to issue ports that are already issued instead.)
/// Issued ranges never overlap, so revoking one capability can never take another's
/// ports: a second issue of taken ports is refused until the last capability to them goes.
fn overlapping_issues(s: &mut Scratch<'_>) -> Outcome {
    let first = s.ports(0x80, 0x83)?;
    for (low, high) in [(0x80, 0x83), (0x83, 0x84), (0x70, 0x80), (0x81, 0x81)] {
        let slot = s.slot()?;
        refused(
            IO_PORT_CONTROL.issue(low, high, slot),
            Error::RevokeFirst,
            "an overlapping range",
        )?;
    }
    ok(ROOT.revoke(Slot::root(first.cptr().0)), "revoke the first capability")?;
    holds(first, CapKind::IoPort, "the revoked capability itself")?;
    s.delete(first)?;
    let again = s.ports(0x80, 0x83)?;
    holds(again, CapKind::IoPort, "the range issued again once its capability is gone")
}
