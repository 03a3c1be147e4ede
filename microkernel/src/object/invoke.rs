//! Invocations: `Call` on a kernel object's capability, decoded and checked in full
//! before anything changes.

use super::cspace;
use super::destroy::{after_delete, delete_slot};
use super::slots::Slots;
use super::tcb::Tcb;
use super::tcb_invoke;
use crate::arch;
use crate::syscall::{Message, Refusal};
use kernel_core::cap::object::SLOT_SIZE_BITS;
use kernel_core::cap::ops::{DeleteOutcome, mint, move_cap, mutate, revoke};
use kernel_core::cap::retype::{MAX_RETYPE_COUNT, RetypeError, RetypePlan, plan_retype};
use kernel_core::cap::{
    CapData, CapError, Capability, ObjectType, Rights, SlotStore, has_children,
};
use kernel_core::memory::{PAGEBLOCK_SIZE, PhysRange};
use kernel_core::sensitivity::Sensitivity;
use syscall_abi::SyscallError;
use syscall_abi::invocation::{Invocation, ObjectKind, cap_data, sensitivity, user_registers};

/// The message word that held a malformed argument, for the error's detail.
type WordIndex = u64;

/// What an invocation answers: the value for `rdx`, and message words for the reply.
#[derive(Debug)]
pub struct Reply {
    pub value: u64,
    pub words: heapless::Vec<u64, { user_registers::COUNT }>,
}

impl Reply {
    pub fn empty() -> Self {
        Self { value: 0, words: heapless::Vec::new() }
    }

    pub fn with_words(words: &[u64]) -> Self {
        Self { value: 0, words: heapless::Vec::from_slice(words).unwrap_or_default() }
    }
}

/// Performs the invocation `message` asks of `cap`, which the caller found in `slot` of
/// its CSpace under `root`.
pub fn invoke(
    root: &Capability,
    slot: u64,
    cap: Capability,
    message: &Message,
) -> Result<Reply, Refusal> {
    let invocation =
        Invocation::from_label(message.info.label).ok_or(SyscallError::IllegalOperation)?;
    let needed = invocation.words();
    if usize::from(message.info.length) < needed {
        return Err(Refusal::new(SyscallError::TruncatedMessage, needed as u64));
    }
    if let Some(tcb) = Tcb::of(&cap) {
        return tcb_invoke::invoke(root, tcb, invocation, message);
    }
    match cap {
        Capability::Frame { .. } | Capability::PageTable { .. } => {
            return super::vspace::invoke(root, slot, &cap, invocation, message);
        }
        Capability::IrqControl => return super::irq::control(root, slot, invocation, message),
        Capability::IrqHandler { irq } => {
            return super::irq::handler(root, irq, invocation, message);
        }
        Capability::IoPortControl => {
            return super::io_port::control(root, slot, invocation, message);
        }
        Capability::IoPort { first, last } => {
            return super::io_port::access(first, last, invocation, message);
        }
        Capability::AsiControl => return asi_control(root, invocation, message),
        Capability::Untyped { base, size_bits, device, .. }
            if invocation == Invocation::UntypedDescribe =>
        {
            return Ok(describe_untyped(base, size_bits, device));
        }
        _ => {}
    }
    let mut words = [0u64; 7];
    for (index, word) in words.iter_mut().enumerate().take(needed) {
        *word = message.word(index)?;
    }
    match (invocation, &cap) {
        (Invocation::UntypedRetype, Capability::Untyped { .. }) => retype(root, slot, &cap, &words),
        (
            Invocation::CNodeCopy
            | Invocation::CNodeMint
            | Invocation::CNodeMove
            | Invocation::CNodeMutate
            | Invocation::CNodeDelete
            | Invocation::CNodeRevoke,
            Capability::CNode { .. },
        ) => cnode_operation(root, &cap, invocation, &words),
        _ => Err(SyscallError::IllegalOperation.into()),
    }
    .map(|()| Reply::empty())
}

/// The ASI control capability: a CPU's event counters, and the sensitivity of untyped
/// memory.
fn asi_control(
    root: &Capability,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    match invocation {
        Invocation::AsiControlCounters => {
            let cpu = message.word(0)?;
            let counters = usize::try_from(cpu)
                .ok()
                .and_then(arch::event_counters)
                .ok_or(Refusal::new(SyscallError::RangeError, 0))?;
            Ok(Reply::with_words(&counters))
        }
        Invocation::AsiControlSetSensitivity => {
            let sensitivity = match message.word(1)? {
                sensitivity::NONSENSITIVE => Sensitivity::Nonsensitive,
                sensitivity::SENSITIVE => Sensitivity::Sensitive,
                _ => return Err(Refusal::new(SyscallError::InvalidArgument, 1)),
            };
            let (slot, untyped) = cspace::capability(root, message.word(0)?)?;
            super::sensitivity::set(slot, &untyped, sensitivity).map(|()| Reply::empty())
        }
        Invocation::AsiControlVerify => super::sensitivity::verify()
            .map(|()| Reply::empty())
            .map_err(|mismatch| Refusal::new(SyscallError::AsiInconsistent, mismatch.block())),
        Invocation::AsiControlRestrictedEntry => {
            let address = message.word(0)?;
            let block = address - address % PAGEBLOCK_SIZE;
            let value = arch::restricted_window_entry(block)
                .ok_or(Refusal::new(SyscallError::RangeError, 0))?;
            Ok(Reply { value, words: heapless::Vec::new() })
        }
        _ => Err(SyscallError::IllegalOperation.into()),
    }
}

/// The answer to [`Invocation::UntypedDescribe`]: base, size and sensitivity.
fn describe_untyped(base: u64, size_bits: u8, device: bool) -> Reply {
    let range = PhysRange::from_start_len(base, 1 << size_bits);
    let code = if device || super::sensitivity::is_all(range, Sensitivity::Nonsensitive) {
        sensitivity::NONSENSITIVE
    } else if super::sensitivity::is_all(range, Sensitivity::Sensitive) {
        sensitivity::SENSITIVE
    } else {
        sensitivity::MIXED
    };
    Reply {
        value: base,
        words: heapless::Vec::from_slice(&[u64::from(size_bits), code]).unwrap_or_default(),
    }
}

fn retype_refusal(error: RetypeError) -> Refusal {
    match error {
        RetypeError::NotUntyped => Refusal::new(SyscallError::InvalidCapability, u64::MAX),
        RetypeError::InvalidCount => Refusal::new(SyscallError::RangeError, 5),
        RetypeError::InvalidSize => Refusal::new(SyscallError::RangeError, 1),
        RetypeError::DeviceMemoryNotFrames => SyscallError::DeviceMemory.into(),
        RetypeError::DeleteFirst { index } => Refusal::new(SyscallError::DeleteFirst, index as u64),
        RetypeError::NotEnoughMemory => SyscallError::NotEnoughMemory.into(),
        RetypeError::UntypedChanged => SyscallError::RevokeFirst.into(),
    }
}

/// Words: object kind, size bits, destination CNode, its depth, first slot, count.
fn retype(
    root: &Capability,
    untyped_slot: u64,
    untyped: &Capability,
    words: &[u64; 7],
) -> Result<(), Refusal> {
    let kind =
        ObjectKind::from_code(words[0]).ok_or(Refusal::new(SyscallError::InvalidArgument, 0))?;
    let size_bits =
        u8::try_from(words[1]).map_err(|_| Refusal::new(SyscallError::RangeError, 1))?;
    let destination = destination_cnode(root, words[2], words[3])?;
    let (first, count) = (words[4], words[5]);
    if count == 0 || count > MAX_RETYPE_COUNT as u64 {
        return Err(Refusal::new(SyscallError::RangeError, 5));
    }
    if first.checked_add(count).is_none_or(|end| end > destination.slots) {
        return Err(Refusal::new(SyscallError::RangeError, 4));
    }
    let slot = |index: usize| destination.base + ((first + index as u64) << SLOT_SIZE_BITS);
    if ObjectType::of_kind(kind) == ObjectType::VSpace && super::asid::free() < count as usize {
        return Err(SyscallError::NotEnoughMemory.into());
    }
    let plan = plan_retype(
        untyped,
        has_children(&Slots, untyped_slot, untyped),
        ObjectType::of_kind(kind),
        size_bits,
        count as usize,
        |index| Slots.is_empty(slot(index)),
    )
    .map_err(retype_refusal)?;
    let kernel_object = !matches!(plan.object_type(), ObjectType::Frame(_) | ObjectType::Untyped);
    if kernel_object && !super::sensitivity::is_all(plan.memory(), Sensitivity::Nonsensitive) {
        return Err(SyscallError::SensitiveMemory.into());
    }
    initialise(&plan);
    plan.apply(&mut Slots, untyped_slot, slot).map_err(retype_refusal)?;
    if plan.object_type() == ObjectType::VSpace {
        for index in 0..plan.count() {
            let object = plan.object(index).base;
            let asid = super::asid::assign(object).expect("identifiers counted before the retype");
            Slots.set_cap(slot(index), Capability::VSpace { object, asid: Some(asid) });
        }
    }
    Ok(())
}

/// A CNode named by an argument: base address and slot count.
struct DestinationCNode {
    base: u64,
    slots: u64,
}

fn destination_cnode(
    root: &Capability,
    cptr: u64,
    depth: u64,
) -> Result<DestinationCNode, Refusal> {
    let slot = cspace::slot(root, cptr, depth, 3)?;
    match Slots.cap(slot) {
        Capability::CNode { object, radix_bits, .. } => {
            Ok(DestinationCNode { base: object, slots: 1 << radix_bits })
        }
        Capability::Null => Err(SyscallError::EmptySlot.into()),
        _ => Err(Refusal::new(SyscallError::InvalidCapability, 2)),
    }
}

/// Makes the memory of new objects what a fresh object of their type is: zeroed (a zeroed
/// CNode is all empty slots, a zeroed table maps nothing), an address space with the
/// kernel half installed, a thread with user-mode registers and the FPU's reset state. Device frames are left alone: their memory is a device's.
fn initialise(plan: &RetypePlan) {
    let device = matches!(
        plan.capability(0),
        Capability::Frame { device: true, .. } | Capability::Untyped { device: true, .. }
    );
    if device || plan.object_type() == ObjectType::Untyped {
        return;
    }
    arch::zero_physical(plan.memory());
    for index in 0..plan.count() {
        let base = plan.object(index).base;
        match plan.object_type() {
            ObjectType::VSpace => arch::install_kernel_half(arch::PhysAddr::new(base)),
            ObjectType::Tcb => Tcb::at(base).initialise(),
            _ => {}
        }
    }
}

fn rights(word: u64, index: WordIndex) -> Result<Rights, Refusal> {
    u8::try_from(word)
        .ok()
        .and_then(Rights::from_bits)
        .ok_or(Refusal::new(SyscallError::InvalidArgument, index))
}

/// The error code for a refused capability operation; `data_word` is the message word a
/// badge or guard came in.
pub(super) fn cap_refusal(error: CapError, data_word: WordIndex) -> Refusal {
    match error {
        CapError::SourceEmpty | CapError::NullCapability => SyscallError::EmptySlot.into(),
        CapError::DestinationOccupied => SyscallError::DeleteFirst.into(),
        CapError::NotDerivable => SyscallError::NotDerivable.into(),
        CapError::RevokeFirst => SyscallError::RevokeFirst.into(),
        CapError::NotBadgeable
        | CapError::AlreadyBadged
        | CapError::ZeroBadge
        | CapError::CannotBadgeInPlace
        | CapError::NotACNode
        | CapError::InvalidGuard => Refusal::new(SyscallError::InvalidArgument, data_word),
        CapError::MappedFrameRights | CapError::NotParent => SyscallError::IllegalOperation.into(),
    }
}

/// The cap data word for the capability in `source`: a guard for a CNode, else a badge.
fn cap_data_for(source: &Capability, word: u64) -> CapData {
    match source {
        Capability::CNode { .. } => {
            let (guard, guard_bits) = cap_data::split_guard(word);
            CapData::Guard { guard, guard_bits }
        }
        _ if word == 0 => CapData::None,
        _ => CapData::Badge(word),
    }
}

/// Words: destination index and depth (in the invoked CNode), then for two-slot
/// operations source CNode, index, depth, and rights and cap data where the operation
/// takes them.
fn cnode_operation(
    root: &Capability,
    cnode: &Capability,
    invocation: Invocation,
    words: &[u64; 7],
) -> Result<(), Refusal> {
    let destination = cspace::slot(cnode, words[0], words[1], 1)?;
    match invocation {
        Invocation::CNodeDelete => {
            delete_slot(destination);
            return Ok(());
        }
        Invocation::CNodeRevoke => {
            revoke(&mut Slots, destination, |_, cap, is_final| {
                after_delete(DeleteOutcome::Deleted { cap, is_final });
            });
            return Ok(());
        }
        _ => {}
    }
    let (_, source_root) = cspace::capability(root, words[2])?;
    if !matches!(source_root, Capability::CNode { .. }) {
        return Err(Refusal::new(SyscallError::InvalidCapability, 2));
    }
    let source = cspace::slot(&source_root, words[3], words[4], 4)?;
    let source_cap = Slots.cap(source);
    let outcome = match invocation {
        Invocation::CNodeCopy => {
            mint(&mut Slots, source, destination, rights(words[5], 5)?, CapData::None)
        }
        Invocation::CNodeMint => {
            let data = cap_data_for(&source_cap, words[6]);
            mint(&mut Slots, source, destination, rights(words[5], 5)?, data)
        }
        Invocation::CNodeMove => move_cap(&mut Slots, source, destination),
        Invocation::CNodeMutate => {
            let data = match source_cap {
                Capability::CNode { .. } => cap_data_for(&source_cap, words[6]),
                _ if words[6] == 0 => CapData::None,
                _ => CapData::Badge(words[6]),
            };
            mutate(&mut Slots, source, destination, rights(words[5], 5)?, data)
        }
        _ => return Err(SyscallError::IllegalOperation.into()),
    };
    outcome.map_err(|error| cap_refusal(error, 6))?;
    // A moved reply capability: its caller must know where it is now.
    if let Capability::Reply { tcb, .. } = Slots.cap(destination) {
        Tcb::at(tcb).set_reply_slot(destination);
    }
    Ok(())
}
