//! Invocations on a TCB capability: configure, registers, resume and suspend, priority,
//! affinity.

use super::cspace;
use super::destroy::delete_slot;
use super::invoke::Reply;
use super::ipc;
use super::slots::Slots;
use super::tcb::{Tcb, TcbSlot, ThreadState};
use crate::arch::UserContext;
use crate::sched;
use crate::syscall::{Message, Refusal};
use kernel_core::cap::ops::mint;
use kernel_core::cap::{CapData, Capability, Rights, SlotStore};
use syscall_abi::invocation::{Invocation, cap_data, user_registers};
use syscall_abi::ipc::ipc_buffer;
use syscall_abi::{SyscallError, USER_SPACE_END};

/// Performs a TCB invocation on `tcb` for a caller whose CSpace root is `root`.
pub fn invoke(
    root: &Capability,
    tcb: Tcb,
    invocation: Invocation,
    message: &Message,
) -> Result<Reply, Refusal> {
    let word = |index: usize| message.word(index);
    match invocation {
        Invocation::TcbConfigure => {
            let mut words = [0u64; 7];
            for (index, value) in words.iter_mut().enumerate() {
                *value = word(index)?;
            }
            configure(root, tcb, &words)
        }
        Invocation::TcbWriteRegisters => write_registers(tcb, message),
        Invocation::TcbReadRegisters => {
            read_registers(tcb, word(0)?, word(1)?, message.reply_capacity())
        }
        Invocation::TcbResume => resume(tcb),
        Invocation::TcbSuspend => {
            ipc::stop(tcb);
            Ok(Reply::empty())
        }
        Invocation::TcbSetPriority | Invocation::TcbSetMaxControlledPriority => {
            let (_, authority) = cspace::capability(root, word(0)?)?;
            let authority =
                Tcb::of(&authority).ok_or(Refusal::new(SyscallError::InvalidCapability, 0))?;
            let priority = u8::try_from(word(1)?)
                .ok()
                .filter(|&priority| priority <= authority.max_controlled_priority())
                .ok_or(Refusal::new(SyscallError::RangeError, 1))?;
            if invocation == Invocation::TcbSetPriority {
                sched::set_priority(tcb, priority);
            } else {
                tcb.set_max_controlled_priority(priority);
            }
            Ok(Reply::empty())
        }
        Invocation::TcbSetAffinity => {
            let cpu = u8::try_from(word(0)?)
                .ok()
                .filter(|&cpu| usize::from(cpu) < crate::arch::MAX_CPUS)
                .ok_or(Refusal::new(SyscallError::RangeError, 0))?;
            tcb.set_affinity(cpu);
            Ok(Reply::empty())
        }
        Invocation::TcbBindNotification => {
            let (_, notification) = cspace::capability(root, word(0)?)?;
            super::notification::bind(tcb, &notification)?;
            Ok(Reply::empty())
        }
        Invocation::TcbUnbindNotification => {
            super::notification::unbind(tcb);
            Ok(Reply::empty())
        }
        _ => Err(SyscallError::IllegalOperation.into()),
    }
}

/// Checks a capability argument: present and of the wanted kind.
fn argument(
    root: &Capability,
    cptr: u64,
    word: u64,
    wanted: impl Fn(&Capability) -> bool,
) -> Result<u64, Refusal> {
    let (slot, cap) = cspace::capability(root, cptr)?;
    if wanted(&cap) { Ok(slot) } else { Err(Refusal::new(SyscallError::InvalidCapability, word)) }
}

/// Replaces the capability in one of `tcb`'s slots with a copy of `source` (and `data`).
fn install(tcb: Tcb, slot: TcbSlot, source: Option<u64>, data: CapData) {
    delete_slot(tcb.slot(slot));
    if let Some(source) = source {
        mint(&mut Slots, source, tcb.slot(slot), Rights::ALL, data)
            .expect("checked before any change");
    }
}

/// Words: fault endpoint, CSpace root, its guard data, VSpace root, reserved, IPC buffer
/// address and frame. Everything is checked before the TCB changes.
fn configure(root: &Capability, tcb: Tcb, words: &[u64; 7]) -> Result<Reply, Refusal> {
    let cspace = argument(root, words[1], 1, |cap| matches!(cap, Capability::CNode { .. }))?;
    let cspace_data = if words[2] == 0 {
        CapData::None
    } else {
        let (guard, guard_bits) = cap_data::split_guard(words[2]);
        CapData::Guard { guard, guard_bits }
    };
    Slots
        .cap(cspace)
        .minted(Rights::ALL, cspace_data)
        .map_err(|_| Refusal::new(SyscallError::InvalidArgument, 2))?;
    let vspace = argument(root, words[3], 3, |cap| matches!(cap, Capability::VSpace { .. }))?;
    Slots.cap(vspace).derived().map_err(|_| SyscallError::NotDerivable)?;
    let buffer_address = words[5];
    let buffer = match words[6] {
        0 => None,
        cptr => Some(argument(root, cptr, 6, |cap| {
            matches!(cap, Capability::Frame { device: false, .. })
        })?),
    };
    if !buffer_address.is_multiple_of(ipc_buffer::SIZE as u64) || buffer_address >= USER_SPACE_END {
        return Err(Refusal::new(SyscallError::AlignmentError, 5));
    }
    for (slot, source, data) in [
        (TcbSlot::CSpaceRoot, Some(cspace), cspace_data),
        (TcbSlot::VSpaceRoot, Some(vspace), CapData::None),
        (TcbSlot::IpcBuffer, buffer, CapData::None),
    ] {
        install(tcb, slot, source, data);
    }
    tcb.set_fault_endpoint(words[0]);
    tcb.set_ipc_buffer_address(buffer_address);
    // A thread that configured itself runs on in its new address space.
    if crate::cpu::this_cpu().current_thread() == Some(tcb)
        && let Some(space) = tcb.address_space()
    {
        crate::arch::end_asi_exit();
        space.activate();
    }
    Ok(Reply::empty())
}

fn resume(tcb: Tcb) -> Result<Reply, Refusal> {
    if tcb.address_space().is_none() {
        return Err(Refusal::new(SyscallError::InvalidCapability, 3));
    }
    if tcb.state() == ThreadState::Inactive {
        sched::make_runnable(tcb);
    }
    Ok(Reply::empty())
}

/// Words: resume, count, registers. Flags are sanitised (interrupts on, no I/O privilege,
/// no single-step); the instruction and stack pointers must lie in the user half.
fn write_registers(tcb: Tcb, message: &Message) -> Result<Reply, Refusal> {
    let resume_after = message.word(0)? != 0;
    let count = message.word(1)?;
    if count > user_registers::COUNT as u64 {
        return Err(Refusal::new(SyscallError::RangeError, 1));
    }
    let mut values = [0u64; user_registers::COUNT];
    let current = to_user_order(&tcb.registers());
    for (index, value) in values.iter_mut().enumerate() {
        *value = if (index as u64) < count { message.word(2 + index)? } else { current[index] };
    }
    if values[user_registers::RIP] >= USER_SPACE_END {
        return Err(Refusal::new(SyscallError::InvalidArgument, 2 + user_registers::RIP as u64));
    }
    if values[user_registers::RSP] > USER_SPACE_END {
        return Err(Refusal::new(SyscallError::InvalidArgument, 2 + user_registers::RSP as u64));
    }
    tcb.set_registers(&from_user_order(&tcb.registers(), &values));
    if resume_after {
        return resume(tcb);
    }
    Ok(Reply::empty())
}

fn read_registers(tcb: Tcb, suspend: u64, count: u64, capacity: usize) -> Result<Reply, Refusal> {
    if count > user_registers::COUNT.min(capacity) as u64 {
        return Err(Refusal::new(SyscallError::RangeError, 1));
    }
    if suspend != 0 {
        ipc::stop(tcb);
    }
    Ok(Reply::with_words(&to_user_order(&tcb.registers())[..count as usize]))
}

fn to_user_order(r: &UserContext) -> [u64; user_registers::COUNT] {
    [
        r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10,
        r.r11, r.r12, r.r13, r.r14, r.r15,
    ]
}

/// `base` with the user-visible registers replaced by `values`, flags sanitised, and the
/// frame marked to return by `iretq` so that every register written is restored.
fn from_user_order(base: &UserContext, values: &[u64; user_registers::COUNT]) -> UserContext {
    let [rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15] =
        *values;
    let mut registers = UserContext {
        rip,
        rsp,
        rax,
        rbx,
        rcx,
        rdx,
        rsi,
        rdi,
        rbp,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        ..*base
    };
    registers.set_user_flags(rflags);
    registers.mark_written();
    registers
}
