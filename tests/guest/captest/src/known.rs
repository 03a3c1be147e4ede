//! `cap::known::*`: kernel problems found by this suite and not fixed yet. They run only
//! with the boot argument `known-bugs`, and fail until the kernel is fixed.

use libasi::Error;
use libasi::cap::{CNodeAt, ObjectKind, Rights, Slot, SlotRef};

use crate::Case;
use crate::env::{ROOT, Scratch};
use crate::report::{Outcome, refused};

pub const CASES: &[Case] = &[("cap::known::bad_depth_names_its_word", bad_depth_names_its_word)];

/// The ABI says a range error's `rdx` is the index of the message word out of range; for a
/// depth of 0 or above 64 the kernel returns 0 (the object kind's or index's word).
fn bad_depth_names_its_word(s: &mut Scratch<'_>) -> Outcome {
    let region = s.untyped(12)?;
    let slot = s.slot()?;
    refused(ROOT.delete(Slot::new(slot, 0)), Error::RangeError { word: 1 }, "delete at depth 0")?;
    refused(ROOT.delete(Slot::new(slot, 65)), Error::RangeError { word: 1 }, "delete at depth 65")?;
    refused(
        ROOT.copy(Slot::root(slot), SlotRef::new(ROOT, 1, 0), Rights::ALL),
        Error::RangeError { word: 4 },
        "copy from source depth 0",
    )?;
    let dest = CNodeAt { cnode: ROOT, depth: 0 };
    refused(
        region.retype(ObjectKind::Endpoint, 0, dest, slot, 1),
        Error::RangeError { word: 3 },
        "retype into destination depth 0",
    )
}
