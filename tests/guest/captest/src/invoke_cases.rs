//! `cap::invoke::*`: what every invocation checks before looking at its arguments — the
//! system call, the message header, the invoked capability, the label.

use libasi::Error;
use libasi::cap::{CNode, CNodeAt, CPtr, Cap, Notification, ObjectKind, Slot};
use libasi::message::Message;
use syscall_abi::Syscall;
use syscall_abi::invocation::Invocation;
use syscall_abi::ipc::{MAX_WORDS, MessageInfo};

use crate::env::{ROOT, Scratch};
use crate::report::{Outcome, ok, refused};
use crate::{Case, ensure};

pub const CASES: &[Case] = &[
    ("cap::invoke::unknown_syscall", unknown_syscall),
    ("cap::invoke::unknown_label", unknown_label),
    ("cap::invoke::label_for_another_object", label_for_another_object),
    ("cap::invoke::empty_slot", empty_slot),
    ("cap::invoke::null_pointer", null_pointer),
    ("cap::invoke::pointer_beyond_the_root_guard", pointer_beyond_guard),
    ("cap::invoke::identify_beyond_the_root_guard", identify_beyond_guard),
    ("cap::invoke::message_longer_than_the_limit", message_too_long),
    ("cap::invoke::longest_message_is_accepted", longest_message),
];

fn unknown_syscall(_: &mut Scratch<'_>) -> Outcome {
    ensure!(
        Syscall::from_number(crate::raw::UNASSIGNED).is_none(),
        "call number 99 is assigned now"
    );
    refused(crate::raw::unknown_syscall(), Error::UnknownSyscall, "call number 99")
}

fn unknown_label(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    for label in [0, 3, 9, 16, 99, syscall_abi::ipc::MAX_LABEL] {
        ensure!(Invocation::from_label(label).is_none(), "label {label} is assigned now");
        let message = Message::with_words(label, &[0; 7])
            .map_err(|_| crate::report::Failure::new(format_args!("message")))?;
        refused(message.call(region.cptr()), Error::IllegalOperation, "unknown label on untyped")?;
        refused(message.call(ROOT.cptr()), Error::IllegalOperation, "unknown label on a CNode")?;
    }
    Ok(())
}

fn label_for_another_object(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(13)?;
    // (Not an endpoint: `Call` on an endpoint is IPC, and would wait for a receiver.)
    let notification: Cap<Notification> = s.object(region, ObjectKind::Notification, 0)?;
    let frame = s.object::<libasi::cap::Frame>(region, ObjectKind::Frame4K, 0)?;
    let slot = s.slot()?;
    let targets = [
        (region.cptr(), "CNode delete on untyped"),
        (notification.cptr(), "CNode delete on a notification"),
        (frame.cptr(), "CNode delete on a frame"),
        (CPtr(2), "CNode delete on IRQ control"),
        (CPtr(3), "CNode delete on ASI control"),
        (CPtr(4), "CNode delete on the root task's TCB"),
        (CPtr(5), "CNode delete on the root task's VSpace"),
    ];
    for (cptr, what) in targets {
        refused(Cap::<CNode>::new(cptr).delete(Slot::root(slot)), Error::IllegalOperation, what)?;
    }
    let retype = notification.cast().retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, slot, 1);
    refused(retype, Error::IllegalOperation, "retype on a notification")
}

fn empty_slot(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    let empty = Cap::<CNode>::from_slot(slot);
    refused(empty.delete(Slot::root(slot)), Error::EmptySlot, "delete through an empty slot")?;
    let retype = empty.cast().retype(ObjectKind::Endpoint, 0, CNodeAt::ROOT, slot, 1);
    refused(retype, Error::EmptySlot, "retype through an empty slot")
}

fn null_pointer(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    let null = Cap::<CNode>::new(CPtr::NULL);
    refused(null.delete(Slot::root(slot)), Error::EmptySlot, "invoke slot 0")
}

fn pointer_beyond_guard(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    for cptr in [1 << 12 | 1, 1 << 63 | 1, u64::MAX] {
        let far = Cap::<CNode>::new(CPtr(cptr));
        refused(
            far.delete(Slot::root(slot)),
            Error::LookupFailed { bits_left: 64 },
            "invoke a pointer with guard bits set",
        )?;
    }
    Ok(())
}

fn identify_beyond_guard(_: &mut Scratch<'_>) -> Outcome {
    refused(
        libasi::debug::cap_identify(CPtr(1 << 12)),
        Error::LookupFailed { bits_left: 64 },
        "identify 0x1000",
    )
}

fn message_too_long(s: &mut Scratch<'_>) -> Outcome {
    let slot = s.slot()?;
    let delete = libasi::cap::invocation::cnode_delete(Slot::root(slot));
    // The header's length field has 7 bits: 121..=127 name more words than a message holds.
    for length in [MAX_WORDS as u8 + 1, 127] {
        let header =
            MessageInfo { label: Invocation::CNodeDelete.label(), length, caps: 0, unwrapped: 0 };
        let info = header.to_word();
        refused(
            delete.call_with_info(ROOT.cptr(), info),
            Error::InvalidLength,
            "header of more than 120 words",
        )?;
    }
    Ok(())
}

fn longest_message(s: &mut Scratch<'_>) -> Outcome {
    // A delete with 118 words of padding behind its two: extra words are ignored.
    let slot = s.slot()?;
    let mut words = [0u64; MAX_WORDS];
    words[0] = slot;
    words[1] = 64;
    let message = Message::with_words(Invocation::CNodeDelete.label(), &words)
        .map_err(|_| crate::report::Failure::new(format_args!("message")))?;
    ok(message.call(ROOT.cptr()), "delete with 120 words").map(drop)
}
