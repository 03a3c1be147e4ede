//! Thread control blocks: a thread's saved registers, FPU state, scheduling and IPC state,
//! and the capability slots it runs with, in a 2 KiB kernel object.
//!
//! Layout, in 64-bit words:
//!
//! | words | contents |
//! | --- | --- |
//! | 0 | state (bits 0–7), priority (8–15), maximum controlled priority (16–23), CPU affinity (24–31) |
//! | 1, 2 | next and previous TCB in this CPU's run queue |
//! | 3 | the IPC buffer's user address |
//! | 4 | the fault endpoint's capability pointer (0: none) |
//! | 5–9 | IPC state: endpoint waited on, queue links, badge sent with, call and grant flags |
//! | 10–13 | a name, for logs (32 bytes) |
//! | 14 | the slot holding the reply capability to this thread, while it awaits a reply |
//! | 15 | the notification bound to this thread (0: none) |
//! | 40–46 | a fault message's words and header, while the thread sends it |
//! | 40–45 | the words of a fault message the thread sends or awaits the reply to |
//! | 16–37 | the user registers, as the entry code saves them |
//! | 64–103 | five capability slots: CSpace root, VSpace root, IPC buffer frame, caller (reply), one spare |
//! | 128–255 | FPU/SIMD state (1 KiB, 64-byte aligned) |

use super::slots::Slots;
use crate::arch::{self, AddressSpace, PhysAddr, UserContext};
use core::cell::Cell;
use core::fmt;
use kernel_core::cap::encoding::SLOT_WORDS;
use kernel_core::cap::object::TCB_SIZE_BITS;
use kernel_core::cap::peek::{CNodeFields, CapabilityWords};
use kernel_core::cap::{Capability, SlotStore, peek};
use syscall_abi::ipc::MessageInfo;

/// Words of the saved register frame (the order the entry code pushes them in).
pub mod frame {
    pub const R15: usize = 0;
    pub const R10: usize = 5;
    pub const R9: usize = 6;
    pub const R8: usize = 7;
    pub const RDI: usize = 9;
    pub const RSI: usize = 10;
    pub const RDX: usize = 11;
    pub const RAX: usize = 14;
    pub const RIP: usize = 17;
    pub const RFLAGS: usize = 19;
    pub const RSP: usize = 20;
    /// The registers that carry a message's first words, in message-word order.
    pub const MESSAGE: [usize; syscall_abi::ipc::REGISTER_WORDS] = [R10, R8, R9, R15];
}

const WORDS: usize = arch::THREAD_OBJECT_WORDS;
const STATE: usize = 0;
const SCHED_NEXT: usize = 1;
const SCHED_PREV: usize = 2;
const IPC_BUFFER_ADDRESS: usize = 3;
const FAULT_ENDPOINT: usize = 4;
const IPC_ENDPOINT: usize = 5;
const IPC_NEXT: usize = 6;
const IPC_PREVIOUS: usize = 7;
const IPC_BADGE: usize = 8;
const IPC_FLAGS: usize = 9;
const REPLY_SLOT: usize = 14;
const BOUND_NOTIFICATION: usize = 15;
const IS_CALL: u64 = 1;
const CAN_GRANT: u64 = 2;
const CAN_GRANT_REPLY: u64 = 4;
const IS_FAULT: u64 = 8;
const FAULT_WORDS: usize = 40;
const FAULT_WORD_COUNT: usize = syscall_abi::fault::words::COUNT;
/// The header of the fault message, after its words.
const FAULT_INFO: usize = FAULT_WORDS + FAULT_WORD_COUNT;
const NAME: usize = 10;
const NAME_WORDS: usize = 4;
const REGISTERS: usize = arch::THREAD_REGISTERS_AT;
const SLOTS: usize = 64;
const FPU: usize = 128;
const REGISTER_WORDS: usize = size_of::<UserContext>() / 8;
const _: () = assert!(WORDS * 8 == 1 << TCB_SIZE_BITS);
const _: () = assert!(
    REGISTER_WORDS == 22
        && REGISTERS + REGISTER_WORDS <= FAULT_WORDS
        && FAULT_INFO < SLOTS
        && SLOTS + 5 * SLOT_WORDS <= FPU
);
const _: () = assert!((WORDS - FPU) * 8 >= arch::FPU_STATE_SIZE);

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Not runnable: never started, suspended, or stopped after a fault.
    Inactive = 0,
    /// Running or ready to run.
    Runnable = 1,
    /// Waiting in an endpoint's queue to send (or call).
    BlockedOnSend = 2,
    /// Waiting in an endpoint's queue to receive.
    BlockedOnReceive = 3,
    /// Waiting for the reply to a call.
    BlockedOnReply = 4,
    /// Waiting in a notification's queue for a signal.
    BlockedOnNotification = 5,
}

/// The capability slots inside a TCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcbSlot {
    CSpaceRoot = 0,
    VSpaceRoot = 1,
    IpcBuffer = 2,
    /// The reply capability to the thread that called this one.
    Caller = 3,
}

/// How a sender waiting in an endpoint queue sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSend {
    pub badge: u64,
    pub is_call: bool,
    pub can_grant: bool,
    pub can_grant_reply: bool,
    /// The message is a fault message (its words are the TCB's fault words), and the
    /// reply decides whether the thread resumes.
    pub is_fault: bool,
}

/// A TCB: a handle to a thread control block in object memory.
///
/// The handle keeps the TCB's words as the physical window shows them, checked once when
/// it is made, so that reading or writing a field — the IPC fastpath does dozens — is a
/// plain memory access.
#[derive(Clone, Copy)]
pub struct Tcb {
    base: u64,
    words: &'static [Cell<u64>; WORDS],
}

impl PartialEq for Tcb {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base
    }
}

impl Eq for Tcb {}

impl fmt::Debug for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tcb({:#x})", self.base)
    }
}

impl Tcb {
    /// The TCB at `base`, which the caller knows holds one (a TCB capability, a run queue
    /// link or the current thread).
    #[inline(always)]
    pub fn at(base: u64) -> Self {
        Self { base, words: arch::object_words(base) }
    }

    /// The TCB whose words the kernel holds as `words`.
    #[inline(always)]
    pub fn of_object(words: &'static [Cell<u64>; WORDS]) -> Self {
        Self { base: arch::object_address(words), words }
    }

    /// The TCB a capability names.
    pub fn of(cap: &Capability) -> Option<Self> {
        match *cap {
            Capability::Tcb { object } => Some(Self::at(object)),
            _ => None,
        }
    }

    pub const fn address(self) -> u64 {
        self.base
    }

    #[inline(always)]
    fn words(self) -> &'static [Cell<u64>; WORDS] {
        self.words
    }

    /// Makes freshly zeroed TCB memory a TCB: inactive, priority 0, FPU state as at reset,
    /// and registers that enter user mode (at address 0, until written: resuming it
    /// unwritten faults in user mode, never in the kernel).
    pub fn initialise(self) {
        arch::fpu_reset(self.fpu_area());
        self.set_registers(&UserContext::new_user(0, 0));
    }

    pub fn state(self) -> ThreadState {
        match self.words()[STATE].get() & 0xff {
            1 => ThreadState::Runnable,
            2 => ThreadState::BlockedOnSend,
            3 => ThreadState::BlockedOnReceive,
            4 => ThreadState::BlockedOnReply,
            5 => ThreadState::BlockedOnNotification,
            _ => ThreadState::Inactive,
        }
    }

    pub fn set_state(self, state: ThreadState) {
        let word = &self.words()[STATE];
        word.set((word.get() & !0xff) | state as u64);
    }

    fn state_byte(self, shift: u32) -> u8 {
        (self.words()[STATE].get() >> shift) as u8
    }

    fn set_state_byte(self, shift: u32, value: u8) {
        let word = &self.words()[STATE];
        word.set((word.get() & !(0xff << shift)) | (u64::from(value) << shift));
    }

    pub fn priority(self) -> u8 {
        self.state_byte(8)
    }

    pub fn set_priority(self, priority: u8) {
        self.set_state_byte(8, priority);
    }

    /// The highest priority this thread may give itself or other threads.
    pub fn max_controlled_priority(self) -> u8 {
        self.state_byte(16)
    }

    pub fn set_max_controlled_priority(self, priority: u8) {
        self.set_state_byte(16, priority);
    }

    /// Records the CPU the thread should run on (used once SMP brings up more CPUs).
    pub fn set_affinity(self, cpu: u8) {
        self.set_state_byte(24, cpu);
    }

    /// Run-queue links (TCB addresses, 0 for none).
    pub fn queue_links(self) -> (u64, u64) {
        (self.words()[SCHED_NEXT].get(), self.words()[SCHED_PREV].get())
    }

    pub fn set_queue_links(self, next: u64, previous: u64) {
        self.words()[SCHED_NEXT].set(next);
        self.words()[SCHED_PREV].set(previous);
    }

    pub fn ipc_buffer_address(self) -> u64 {
        self.words()[IPC_BUFFER_ADDRESS].get()
    }

    pub fn set_ipc_buffer_address(self, address: u64) {
        self.words()[IPC_BUFFER_ADDRESS].set(address);
    }

    /// The capability pointer of the thread's fault endpoint (0: none).
    pub fn fault_endpoint(self) -> u64 {
        self.words()[FAULT_ENDPOINT].get()
    }

    pub fn set_fault_endpoint(self, cptr: u64) {
        self.words()[FAULT_ENDPOINT].set(cptr);
    }

    /// The words of the fault message the thread sends.
    pub fn fault_words(self) -> [u64; FAULT_WORD_COUNT] {
        core::array::from_fn(|index| self.words()[FAULT_WORDS + index].get())
    }

    /// The header of the fault message the thread sends.
    pub fn fault_info(self) -> MessageInfo {
        MessageInfo::from_word(self.words()[FAULT_INFO].get()).unwrap_or_default()
    }

    /// Records the fault message the thread is to send.
    pub fn set_fault(self, info: MessageInfo, words: &[u64; FAULT_WORD_COUNT]) {
        for (cell, &word) in self.words()[FAULT_WORDS..FAULT_INFO].iter().zip(words) {
            cell.set(word);
        }
        self.words()[FAULT_INFO].set(info.to_word());
    }

    /// The endpoint the thread waits on (0: none) and its neighbours in that queue.
    pub fn ipc_queue(self) -> (u64, u64, u64) {
        let words = self.words();
        (words[IPC_ENDPOINT].get(), words[IPC_NEXT].get(), words[IPC_PREVIOUS].get())
    }

    pub fn set_ipc_queue(self, endpoint: u64, next: u64, previous: u64) {
        let words = self.words();
        words[IPC_ENDPOINT].set(endpoint);
        words[IPC_NEXT].set(next);
        words[IPC_PREVIOUS].set(previous);
    }

    /// What a blocked sender sends with: the badge of the capability it used, and whether
    /// it called and that capability had the grant and grant-reply rights.
    pub fn pending_send(self) -> PendingSend {
        let flags = self.words()[IPC_FLAGS].get();
        PendingSend {
            badge: self.words()[IPC_BADGE].get(),
            is_call: flags & IS_CALL != 0,
            can_grant: flags & CAN_GRANT != 0,
            can_grant_reply: flags & CAN_GRANT_REPLY != 0,
            is_fault: flags & IS_FAULT != 0,
        }
    }

    pub fn set_pending_send(self, send: PendingSend) {
        self.words()[IPC_BADGE].set(send.badge);
        let flags = (u64::from(send.is_call) * IS_CALL)
            | (u64::from(send.can_grant) * CAN_GRANT)
            | (u64::from(send.can_grant_reply) * CAN_GRANT_REPLY)
            | (u64::from(send.is_fault) * IS_FAULT);
        self.words()[IPC_FLAGS].set(flags);
    }

    /// The slot holding the reply capability to this thread while it awaits a reply
    /// (0: none), so that destroying the thread can delete it.
    pub fn reply_slot(self) -> u64 {
        self.words()[REPLY_SLOT].get()
    }

    pub fn set_reply_slot(self, slot: u64) {
        self.words()[REPLY_SLOT].set(slot);
    }

    /// The notification bound to this thread, whose signals also end its endpoint waits.
    pub fn bound_notification(self) -> u64 {
        self.words()[BOUND_NOTIFICATION].get()
    }

    pub fn set_bound_notification(self, notification: u64) {
        self.words()[BOUND_NOTIFICATION].set(notification);
    }

    /// The thread's name for logs, or its address if it has none.
    pub fn name(self) -> heapless::String<32> {
        let mut bytes = [0u8; NAME_WORDS * 8];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(&self.words()[NAME..NAME + NAME_WORDS]) {
            chunk.copy_from_slice(&word.get().to_le_bytes());
        }
        let len = bytes.iter().position(|&byte| byte == 0).unwrap_or(bytes.len());
        let mut name = heapless::String::new();
        match core::str::from_utf8(&bytes[..len]) {
            Ok(text) if !text.is_empty() => {
                let _ = name.push_str(text);
            }
            _ => {
                let _ = fmt::Write::write_fmt(&mut name, format_args!("tcb@{:#x}", self.base));
            }
        }
        name
    }

    /// Sets the name (cut to 32 bytes at a character boundary).
    pub fn set_name(self, name: &str) {
        let mut end = name.len().min(NAME_WORDS * 8);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_WORDS * 8];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        for (chunk, word) in bytes.chunks_exact(8).zip(&self.words()[NAME..NAME + NAME_WORDS]) {
            word.set(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
    }

    /// The saved user registers.
    pub fn registers(self) -> UserContext {
        let words = &self.words()[REGISTERS..REGISTERS + REGISTER_WORDS];
        UserContext::from_words(core::array::from_fn(|index| words[index].get()))
    }

    pub fn set_registers(self, registers: &UserContext) {
        for (cell, word) in
            self.words()[REGISTERS..REGISTERS + REGISTER_WORDS].iter().zip(registers.to_words())
        {
            cell.set(word);
        }
    }

    /// The TCB's words, for `arch::enter_user`.
    pub fn object(self) -> &'static arch::ThreadObject {
        self.words()
    }

    /// One saved register, by its word in the frame ([`frame`]).
    pub fn register(self, word: usize) -> u64 {
        self.words()[REGISTERS + word].get()
    }

    /// Sets one saved register.
    pub fn set_register(self, word: usize, value: u64) {
        self.words()[REGISTERS + word].set(value);
    }

    /// Sets the saved `rax` and `rdx`: what the thread's system call returns.
    pub fn set_syscall_result(self, status: u64, value: u64) {
        self.set_register(frame::RAX, status);
        self.set_register(frame::RDX, value);
    }

    /// The thread's address space, if its VSpace slot holds one.
    #[inline(always)]
    pub fn address_space(self) -> Option<AddressSpace> {
        // Read on every switch to the thread: the tag and the object word are enough. The
        // kernel writes only valid capabilities, whose object addresses fit in 52 bits, so
        // the truncation changes nothing (and spares the IPC fastpath a check).
        peek::vspace_root(&self.slot_words(TcbSlot::VSpaceRoot))
            .map(|root| AddressSpace::of_root(PhysAddr::new_truncate(root)))
    }

    /// The root of the thread's CSpace (a null capability if it has none). Read on every
    /// system call that names a capability: a CNode's fields are read straight from the
    /// words the kernel wrote, as the fastpath does; anything else, which every lookup
    /// refuses as an invalid root, is decoded in full.
    pub fn cspace_root(self) -> Capability {
        match peek::cnode(&self.slot_words(TcbSlot::CSpaceRoot)) {
            Some(CNodeFields { object, radix_bits, guard, guard_bits }) => {
                Capability::CNode { object, radix_bits, guard, guard_bits }
            }
            None => self.slot_cap(TcbSlot::CSpaceRoot),
        }
    }

    /// Where the thread's IPC buffer is in physical memory: in the frame its IPC-buffer
    /// slot holds, at the buffer address's offset within that frame.
    pub fn ipc_buffer_frame(self) -> Option<PhysAddr> {
        let frame = peek::frame(&self.slot_words(TcbSlot::IpcBuffer))?;
        let offset = self.ipc_buffer_address() & ((1 << frame.size_bits) - 1);
        Some(PhysAddr::new(frame.base + offset))
    }

    /// The address of one of the TCB's capability slots.
    pub fn slot(self, slot: TcbSlot) -> u64 {
        self.base + ((SLOTS + slot as usize * SLOT_WORDS) * 8) as u64
    }

    /// The capability words of one of the TCB's slots, for `kernel_core::cap::peek`'s
    /// readers: read through the handle's words, which hold the slot.
    #[inline]
    pub fn slot_words(self, slot: TcbSlot) -> CapabilityWords {
        let cells = self.slot_cells(slot);
        core::array::from_fn(|index| cells[index].get())
    }

    /// One of the TCB's slots as the handle's words hold it.
    #[inline]
    pub fn slot_cells(self, slot: TcbSlot) -> &'static [Cell<u64>; SLOT_WORDS] {
        let first = SLOTS + slot as usize * SLOT_WORDS;
        let cells: &'static [Cell<u64>] = &self.words()[first..first + SLOT_WORDS];
        cells.try_into().expect("a slot is SLOT_WORDS long")
    }

    /// The capability in one of the TCB's slots.
    pub fn slot_cap(self, slot: TcbSlot) -> Capability {
        Slots.cap(self.slot(slot))
    }

    /// Every capability slot of the TCB, for deleting them when it is destroyed.
    pub fn all_slots(self) -> impl Iterator<Item = u64> {
        (0..5).map(move |index| self.base + ((SLOTS + index * SLOT_WORDS) * 8) as u64)
    }

    pub fn fpu_area(self) -> PhysAddr {
        PhysAddr::new(self.base + (FPU * 8) as u64)
    }
}
