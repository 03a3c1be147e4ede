//! A user thread's saved registers, and the way back to user mode.
//!
//! Every entry from user mode — `syscall`, exception, interrupt — leaves the same
//! [`TrapFrame`] on the kernel stack, so the kernel keeps one format of saved state per
//! thread and can resume a thread however it entered.

use super::boot_constant::BootConstant;
use super::percpu::{USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use core::arch::global_asm;
use core::cell::Cell;

/// The pseudo-vector number an entry through `syscall` records, above every real vector.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The pseudo-vector of a frame whose registers were written by another thread.
const REGISTERS_WRITTEN: u64 = 0x101;

/// RFLAGS of a new user thread: interrupts enabled, reserved bit 1 set, nothing else.
const INITIAL_USER_RFLAGS: u64 = 0x202;

/// Registers of an interrupted user thread, in the order the entry code pushes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector that entered the kernel, or [`SYSCALL_VECTOR`].
    pub vector: u64,
    /// The exception's error code, or 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Offsets of the frame fields the assembly reads.
pub const FRAME_GPR_BYTES: usize = 15 * 8;
const _: () = {
    assert!(core::mem::offset_of!(TrapFrame, vector) == FRAME_GPR_BYTES);
    assert!(core::mem::offset_of!(TrapFrame, rip) == FRAME_GPR_BYTES + 16);
    assert!(core::mem::offset_of!(TrapFrame, cs) == FRAME_GPR_BYTES + 24);
    assert!(core::mem::offset_of!(TrapFrame, rflags) == FRAME_GPR_BYTES + 32);
    assert!(core::mem::offset_of!(TrapFrame, rsp) == FRAME_GPR_BYTES + 40);
    assert!(size_of::<TrapFrame>() == FRAME_GPR_BYTES + 56);
    assert!(size_of::<TrapFrame>() == 22 * 8);
};

impl TrapFrame {
    /// The state of a thread about to run its first instruction at `entry` with stack
    /// pointer `stack`; every general register is zero.
    pub fn new_user(entry: u64, stack: u64) -> Self {
        Self {
            rip: entry,
            rsp: stack,
            cs: u64::from(USER_CODE_SELECTOR),
            ss: u64::from(USER_DATA_SELECTOR),
            rflags: INITIAL_USER_RFLAGS,
            ..Self::default()
        }
    }

    /// Whether the CPU was in user mode when this frame was saved.
    pub fn came_from_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Sets RFLAGS from a user's request, keeping what user code must never control:
    /// interrupts stay enabled, no I/O privilege, no single-step or nested task, and the
    /// always-one bit set. Arithmetic flags, direction and alignment check pass through.
    pub fn set_user_flags(&mut self, requested: u64) {
        const USER_SETTABLE: u64 = 0b1100_1101_0101 | (1 << 18) | (1 << 21);
        self.rflags = (requested & USER_SETTABLE) | INITIAL_USER_RFLAGS;
    }

    /// Marks registers written from outside the thread: the thread resumes through
    /// `iretq`, which restores every register (`sysret` would clobber rcx and r11).
    pub fn mark_written(&mut self) {
        self.vector = REGISTERS_WRITTEN;
    }

    /// The registers as words, in field order (for keeping them in a TCB).
    pub fn to_words(self) -> [u64; 22] {
        [
            self.r15,
            self.r14,
            self.r13,
            self.r12,
            self.r11,
            self.r10,
            self.r9,
            self.r8,
            self.rbp,
            self.rdi,
            self.rsi,
            self.rdx,
            self.rcx,
            self.rbx,
            self.rax,
            self.vector,
            self.error_code,
            self.rip,
            self.cs,
            self.rflags,
            self.rsp,
            self.ss,
        ]
    }

    /// The inverse of [`to_words`](Self::to_words).
    pub fn from_words(words: [u64; 22]) -> Self {
        let [
            r15,
            r14,
            r13,
            r12,
            r11,
            r10,
            r9,
            r8,
            rbp,
            rdi,
            rsi,
            rdx,
            rcx,
            rbx,
            rax,
            vector,
            error_code,
            rip,
            cs,
            rflags,
            rsp,
            ss,
        ] = words;
        Self {
            r15,
            r14,
            r13,
            r12,
            r11,
            r10,
            r9,
            r8,
            rbp,
            rdi,
            rsi,
            rdx,
            rcx,
            rbx,
            rax,
            vector,
            error_code,
            rip,
            cs,
            rflags,
            rsp,
            ss,
        }
    }
}

/// Whether `addr` is canonical (bits 63..47 all equal).
fn is_canonical(addr: u64) -> bool {
    let top = (addr as i64) >> 47;
    top == 0 || top == -1
}

/// Assembly that pushes the general registers so that, with the vector, error code and
/// hardware frame above them, the stack holds a [`TrapFrame`] (r15 at the lowest address).
macro_rules! push_general_registers {
    () => {
        "pushq %rax; pushq %rbx; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi; pushq %rbp; pushq %r8; pushq %r9; pushq %r10; pushq %r11; pushq %r12; pushq %r13; pushq %r14; pushq %r15"
    };
}

/// The inverse of [`push_general_registers`].
macro_rules! pop_general_registers {
    () => {
        "popq %r15; popq %r14; popq %r13; popq %r12; popq %r11; popq %r10; popq %r9; popq %r8; popq %rbp; popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rbx; popq %rax"
    };
}

pub(super) use {pop_general_registers, push_general_registers};

unsafe extern "C" {
    fn exit_to_user_iret(frame: u64) -> !;
    fn exit_to_user_sysret(frame: u64) -> !;
    fn exit_to_user_iret_flushing(frame: u64) -> !;
    fn exit_to_user_sysret_flushing(frame: u64) -> !;
}

/// An exit path: restores the registers of the frame at the given window address and
/// returns to user mode.
type Exit = unsafe extern "C" fn(u64) -> !;

/// The exits in use: the plain ones, or under `mitigations=blanket` the ones that flush
/// first. Chosen once at boot, so that choosing costs nothing on the way out (a call
/// through memory is one instruction, as a direct call is).
static SYSRET_EXIT: BootConstant<Exit> = BootConstant::new(exit_to_user_sysret);
static IRET_EXIT: BootConstant<Exit> = BootConstant::new(exit_to_user_iret);

/// Makes every exit to user mode flush L1D and CPU buffers first (`flush::exit_flushes`).
pub(super) fn use_flushing_exits() {
    // SAFETY: called once by the bootstrap CPU while it sets the kernel up
    // (`flush::init`), before any exit to user mode.
    unsafe {
        SYSRET_EXIT.set(exit_to_user_sysret_flushing);
        IRET_EXIT.set(exit_to_user_iret_flushing);
    }
}

/// A thread's saved registers as they lie in object memory (its TCB), one cell per
/// [`TrapFrame`] word.
type SavedRegisters = [Cell<u64>; size_of::<TrapFrame>() / 8];

/// A thread's kernel object (its TCB) as words: [`THREAD_OBJECT_WORDS`] of them, the saved
/// registers from word [`THREAD_REGISTERS_AT`] on. The generic kernel lays the rest out;
/// the arch layer needs only where the registers are, to find the object again from the
/// address the entry code saved them at.
pub type ThreadObject = [Cell<u64>; THREAD_OBJECT_WORDS];
/// Words in a [`ThreadObject`] (a 2 KiB TCB).
pub const THREAD_OBJECT_WORDS: usize = 256;
/// Where a [`ThreadObject`]'s saved registers start, in words.
pub const THREAD_REGISTERS_AT: usize = 16;
const _: () = assert!(THREAD_REGISTERS_AT + size_of::<TrapFrame>() / 8 <= THREAD_OBJECT_WORDS);

/// The saved registers inside `thread`.
#[inline(always)]
fn saved_registers(thread: &'static ThreadObject) -> &'static SavedRegisters {
    let words: &'static [Cell<u64>] =
        &thread[THREAD_REGISTERS_AT..THREAD_REGISTERS_AT + size_of::<TrapFrame>() / 8];
    words.try_into().expect("the register area is a whole frame")
}

/// The thread whose registers the `syscall` entry code just saved at `frame` (a window
/// address): the thread [`enter_user`] last entered on this CPU.
#[inline(always)]
pub(super) fn thread_of_frame(frame: u64) -> &'static ThreadObject {
    let object = frame - (THREAD_REGISTERS_AT * 8) as u64;
    // (1) The entry code saves registers just below TSS `rsp0`, which only `enter_user`
    // sets, to the end of the registers of a `&'static ThreadObject` it was given (no
    // `syscall` can come before the first `enter_user`: user code runs only after it).
    // SAFETY: `object` is the address of that same live `ThreadObject` (1): aligned,
    // mapped for the kernel's lifetime, and reached only through `Cell`s.
    unsafe { &*(object as *const ThreadObject) }
}

/// Word indices of frame fields, for reading a saved frame in object memory.
pub mod word {
    pub const VECTOR: usize = 15;
    pub const ERROR_CODE: usize = 16;
    pub const RIP: usize = 17;
    pub const CS: usize = 18;
    pub const RSP: usize = 20;
}
const _: () = assert!(core::mem::offset_of!(TrapFrame, vector) == word::VECTOR * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, rip) == word::RIP * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, cs) == word::CS * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, rsp) == word::RSP * 8);

/// Leaves the kernel and resumes `thread`, whose registers are saved in it, in the address space that is active now. The same area is
/// where this CPU saves the thread's registers when it next enters the kernel, so nothing
/// is copied on the way in or out.
///
/// A frame saved by `syscall` returns by `sysret` (which clobbers `rcx` and `r11`, as the
/// ABI allows); any other by `iretq`, which restores every register.
///
/// The return address is canonical by construction: `syscall` saves the address after
/// the instruction, and no user page is mapped where that could be `USER_SPACE_END`;
/// an exception saves where user code ran; register writes keep it in the user half.
/// The stack pointer is whatever user code left in it — neither `sysret` nor `iretq`
/// checks it, and a bad one faults in user mode at its first use.
#[inline(always)]
pub fn enter_user(thread: &'static ThreadObject) -> ! {
    let registers = saved_registers(thread);
    let start = registers.as_ptr() as u64;
    super::percpu::set_user_frame_top(start + size_of::<TrapFrame>() as u64);
    let (rip, cs) = (&registers[word::RIP], &registers[word::CS]);
    if registers[word::VECTOR].get() == SYSCALL_VECTOR {
        // The entry code saved this frame and nothing has written `rip` or `cs` since
        // (register writes mark the frame, see `mark_written`): the checks of the other
        // path hold by construction, so only debug builds repeat them here, off the
        // IPC fastpath's way out.
        debug_assert!(cs.get() & 3 == 3 && is_canonical(rip.get()), "bad syscall frame");
        // (1) A `syscall` frame holds the return address `syscall` saved, canonical since
        // no user page is mapped where the next instruction could be `USER_SPACE_END`.
        // SAFETY: `sysret` cannot fault in ring 0 (1); the assembly takes the registers
        // from the frame and never returns, so nothing on the kernel stack is used again.
        unsafe { SYSRET_EXIT.get()(start) }
    }
    let (rip, cs) = (rip.get(), cs.get());
    assert!(
        cs & 3 == 3 && is_canonical(rip),
        "refusing to enter user mode at rip {rip:#x} cs {cs:#x}"
    );
    // SAFETY: the frame is a user-mode frame with canonical rip (checked above), so
    // `iretq` cannot fault in ring 0; the assembly takes the registers from the frame and
    // never returns, so nothing on the kernel stack is used again.
    unsafe { IRET_EXIT.get()(start) }
}

/// Answers the running thread's system call with `status` and `value` and returns to it
/// at once, for a call that changed nothing else: the registers are still where the entry
/// code saved them, with the return address `syscall` saved (canonical, as for
/// [`enter_user`]), and this CPU's frame pointer still names them.
pub fn return_from_syscall(status: u64, value: u64) -> ! {
    let start = super::percpu::user_frame_top().as_u64() - size_of::<TrapFrame>() as u64;
    let frame = start as *mut TrapFrame;
    // (1) `frame` is the running thread's register area in its TCB, in the physical
    // window, just filled by the entry code; (2) it is a user thread's `syscall` frame.
    // SAFETY: nothing else refers to the frame now (1), `sysret` returns to user mode at a
    // canonical address (2), and the assembly never returns to this stack.
    unsafe {
        (*frame).rax = status;
        (*frame).rdx = value;
        SYSRET_EXIT.get()(start)
    }
}

global_asm!(
    r#"
    .text
    .global exit_to_user_iret
exit_to_user_iret:
    movq %rdi, %rsp
"#,
    pop_general_registers!(),
    r#"
    addq $16, %rsp
    swapgs
    iretq

    .global exit_to_user_iret_flushing
exit_to_user_iret_flushing:
    pushq %rdi
    call {exit_flushes}
    popq %rdi
    jmp exit_to_user_iret

    .global exit_to_user_sysret_flushing
exit_to_user_sysret_flushing:
    pushq %rdi
    call {exit_flushes}
    popq %rdi
    jmp exit_to_user_sysret

    .global exit_to_user_sysret
exit_to_user_sysret:
    movq {r15}(%rdi), %r15
    movq {r14}(%rdi), %r14
    movq {r13}(%rdi), %r13
    movq {r12}(%rdi), %r12
    movq {r10}(%rdi), %r10
    movq {r9}(%rdi), %r9
    movq {r8}(%rdi), %r8
    movq {rbp}(%rdi), %rbp
    movq {rsi}(%rdi), %rsi
    movq {rdx}(%rdi), %rdx
    movq {rbx}(%rdi), %rbx
    movq {rax}(%rdi), %rax
    movq {rip}(%rdi), %rcx
    movq {rflags}(%rdi), %r11
    movq {rsp}(%rdi), %rsp
    movq {rdi}(%rdi), %rdi
    swapgs
    sysretq
"#,
    r15 = const core::mem::offset_of!(TrapFrame, r15),
    r14 = const core::mem::offset_of!(TrapFrame, r14),
    r13 = const core::mem::offset_of!(TrapFrame, r13),
    r12 = const core::mem::offset_of!(TrapFrame, r12),
    r10 = const core::mem::offset_of!(TrapFrame, r10),
    r9 = const core::mem::offset_of!(TrapFrame, r9),
    r8 = const core::mem::offset_of!(TrapFrame, r8),
    rbp = const core::mem::offset_of!(TrapFrame, rbp),
    rsi = const core::mem::offset_of!(TrapFrame, rsi),
    rdx = const core::mem::offset_of!(TrapFrame, rdx),
    rbx = const core::mem::offset_of!(TrapFrame, rbx),
    rax = const core::mem::offset_of!(TrapFrame, rax),
    rip = const core::mem::offset_of!(TrapFrame, rip),
    rflags = const core::mem::offset_of!(TrapFrame, rflags),
    rsp = const core::mem::offset_of!(TrapFrame, rsp),
    rdi = const core::mem::offset_of!(TrapFrame, rdi),
    exit_flushes = sym super::flush::exit_flushes,
    options(att_syntax)
);
