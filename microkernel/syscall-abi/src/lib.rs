//! The system-call contract shared by the kernel and `libasi`.
//!
//! A system call is the `syscall` instruction with the call number in `rax` and up to six
//! arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`. The kernel answers in `rax` (a
//! [`SyscallError`] code, `0` for success) and `rdx` (a call-specific value). `rcx` and
//! `r11` are clobbered by the instruction itself; every other register is preserved.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod boot_info;
pub mod counters;
pub mod fault;
pub mod invocation;
pub mod ipc;

/// The status code the kernel returns in `rax` when a call succeeded.
pub const SUCCESS: u64 = 0;

/// The first address above the user half of every address space (exclusive).
///
/// User pointers must lie wholly below it; the kernel owns everything at and above
/// the canonical upper half.
pub const USER_SPACE_END: u64 = 0x0000_8000_0000_0000;

/// The end of what user space can map: every page of the user half but its last.
///
/// A `syscall` instruction in the last bytes of that page would leave a return address
/// of [`USER_SPACE_END`], which is not canonical, and `sysret` to a non-canonical address
/// faults in kernel mode on Intel CPUs, with the user's stack pointer already loaded.
pub const USER_MAPPABLE_END: u64 = USER_SPACE_END - 4096;

/// The longest byte string one `DebugWrite` call accepts.
pub const DEBUG_WRITE_MAX: u64 = 4096;

/// System-call numbers, passed in `rax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Syscall {
    /// Write `rsi` bytes at user address `rdi` to the kernel's debug console.
    DebugWrite = 1,
    /// End the calling thread; `rdi` is its exit code. Does not return.
    ThreadExit = 2,
    /// Copy the boot arguments of the calling task (its boot module's command line) into
    /// the buffer at `rdi` of `rsi` bytes; `rdx` on return holds the full length.
    BootArgs = 3,
    /// Copy the root task's [`boot_info::BootInfo`], encoded, into the buffer at `rdi` of
    /// `rsi` bytes; `rdx` on return holds the encoded length.
    BootInfo = 4,
    /// Invoke the capability at pointer `rdi` with the message in `rsi` and the message
    /// registers ([`ipc`]); see [`invocation`].
    Call = 5,
    /// Say what kind of capability pointer `rdi` names (at full depth): `rdx` on return
    /// holds an [`invocation::CapKind`] code. For tests and debugging.
    DebugCapIdentify = 6,
    /// Send the message (header in `rsi`, words as in [`ipc`]) on the endpoint capability
    /// at `rdi`; waits until a receiver takes it.
    Send = 7,
    /// As [`Send`](Self::Send), but fails with [`SyscallError::WouldBlock`] instead of
    /// waiting.
    NonBlockingSend = 8,
    /// Wait for a message on the endpoint capability at `rdi`; on return `rdi` holds the
    /// sender's badge, `rsi` the header, and the words are in place.
    Receive = 9,
    /// As [`Receive`](Self::Receive), but fails with [`SyscallError::WouldBlock`] instead
    /// of waiting.
    NonBlockingReceive = 10,
    /// Answer the thread whose call this thread received last (nothing happens if there
    /// is none).
    Reply = 11,
    /// [`Reply`](Self::Reply), then [`Receive`](Self::Receive) on `rdi`.
    ReplyReceive = 12,
    /// Give the CPU to the next thread of the same priority.
    Yield = 13,
    /// Do nothing and succeed: what it costs to enter and leave the kernel, the figure
    /// the null-syscall benchmark times (as seL4's benchmark null syscall).
    Null = 14,
}

impl Syscall {
    /// Decodes a call number; `None` for numbers the kernel does not know.
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            1 => Some(Self::DebugWrite),
            2 => Some(Self::ThreadExit),
            3 => Some(Self::BootArgs),
            4 => Some(Self::BootInfo),
            5 => Some(Self::Call),
            6 => Some(Self::DebugCapIdentify),
            7 => Some(Self::Send),
            8 => Some(Self::NonBlockingSend),
            9 => Some(Self::Receive),
            10 => Some(Self::NonBlockingReceive),
            11 => Some(Self::Reply),
            12 => Some(Self::ReplyReceive),
            13 => Some(Self::Yield),
            14 => Some(Self::Null),
            _ => None,
        }
    }

    /// The number placed in `rax` for this call.
    pub const fn number(self) -> u64 {
        self as u64
    }
}

/// Why the kernel refused a call, returned in `rax`. Every refusal leaves all state as it
/// was before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SyscallError {
    /// `rax` held a number that names no system call.
    UnknownSyscall = 1,
    /// A pointer argument does not name memory the caller may access that way: it reaches
    /// outside the user half, wraps around, or covers a page that is unmapped or lacks
    /// the needed permission.
    InvalidAddress = 2,
    /// A length argument exceeds the call's limit.
    InvalidLength = 3,
    /// The caller's buffer is too small; `rdx` holds the length that is needed.
    BufferTooSmall = 4,
    /// A capability pointer did not resolve to a slot: a guard did not match or the depth
    /// did not fit the CNodes on the way. `rdx` holds the bits left unresolved.
    LookupFailed = 5,
    /// The slot named holds no capability.
    EmptySlot = 6,
    /// The capability is of the wrong type for the call or argument. `rdx` holds the
    /// argument's message-word index, or `u64::MAX` for the invoked capability.
    InvalidCapability = 7,
    /// The invoked capability has no such invocation (the message label).
    IllegalOperation = 8,
    /// The capability lacks a right the operation needs.
    InsufficientRights = 9,
    /// An argument is malformed (a bad badge, guard or rights mask). `rdx` holds its
    /// message-word index.
    InvalidArgument = 10,
    /// An argument is outside its range (a size, a count, a slot index). `rdx` holds its
    /// message-word index.
    RangeError = 11,
    /// An address or size is not aligned as it must be.
    AlignmentError = 12,
    /// A destination slot holds a capability; delete it first. `rdx` holds the offset of
    /// the occupied slot within the destination range.
    DeleteFirst = 13,
    /// The capability has derived capabilities (children) that must be revoked first.
    RevokeFirst = 14,
    /// The untyped memory has no room left for the objects asked for.
    NotEnoughMemory = 15,
    /// The message carries fewer words than the invocation needs; `rdx` holds the number
    /// it needs.
    TruncatedMessage = 16,
    /// Kernel objects cannot be made from device memory.
    DeviceMemory = 17,
    /// The capability cannot be copied this way (a reply capability, an unmapped page
    /// table); move it instead.
    NotDerivable = 18,
    /// A non-blocking send or receive found no partner waiting.
    WouldBlock = 19,
    /// The endpoint was destroyed while the thread waited on it.
    IpcCancelled = 20,
    /// A page table the mapping needs is not installed; `rdx` holds its level (1: PDPT,
    /// 2: page directory, 3: page table).
    MissingPageTable = 21,
    /// Something is already mapped or installed there, or the capability is already
    /// mapped elsewhere.
    AlreadyMapped = 22,
    /// The untyped memory does not start and end on pageblock (2 MiB) boundaries, so its
    /// sensitivity cannot change.
    NotPageblocks = 23,
    /// Kernel objects cannot be made from sensitive memory.
    SensitiveMemory = 24,
    /// The restricted view of memory disagrees with the sensitivity map (a kernel bug);
    /// `rdx` holds the address of the first pageblock where it does.
    AsiInconsistent = 25,
}

impl SyscallError {
    /// Decodes a status code; `None` for [`SUCCESS`] and for unknown codes.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::UnknownSyscall),
            2 => Some(Self::InvalidAddress),
            3 => Some(Self::InvalidLength),
            4 => Some(Self::BufferTooSmall),
            5 => Some(Self::LookupFailed),
            6 => Some(Self::EmptySlot),
            7 => Some(Self::InvalidCapability),
            8 => Some(Self::IllegalOperation),
            9 => Some(Self::InsufficientRights),
            10 => Some(Self::InvalidArgument),
            11 => Some(Self::RangeError),
            12 => Some(Self::AlignmentError),
            13 => Some(Self::DeleteFirst),
            14 => Some(Self::RevokeFirst),
            15 => Some(Self::NotEnoughMemory),
            16 => Some(Self::TruncatedMessage),
            17 => Some(Self::DeviceMemory),
            18 => Some(Self::NotDerivable),
            19 => Some(Self::WouldBlock),
            20 => Some(Self::IpcCancelled),
            21 => Some(Self::MissingPageTable),
            22 => Some(Self::AlreadyMapped),
            23 => Some(Self::NotPageblocks),
            24 => Some(Self::SensitiveMemory),
            25 => Some(Self::AsiInconsistent),
            _ => None,
        }
    }

    /// The code placed in `rax` for this error.
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// A short human-readable name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownSyscall => "unknown syscall",
            Self::InvalidAddress => "invalid address",
            Self::InvalidLength => "invalid length",
            Self::BufferTooSmall => "buffer too small",
            Self::LookupFailed => "lookup failed",
            Self::EmptySlot => "empty slot",
            Self::InvalidCapability => "invalid capability",
            Self::IllegalOperation => "illegal operation",
            Self::InsufficientRights => "insufficient rights",
            Self::InvalidArgument => "invalid argument",
            Self::RangeError => "range error",
            Self::AlignmentError => "alignment error",
            Self::DeleteFirst => "delete first",
            Self::RevokeFirst => "revoke first",
            Self::NotEnoughMemory => "not enough memory",
            Self::TruncatedMessage => "truncated message",
            Self::DeviceMemory => "device memory",
            Self::NotDerivable => "not derivable",
            Self::WouldBlock => "would block",
            Self::IpcCancelled => "IPC cancelled",
            Self::MissingPageTable => "missing page table",
            Self::AlreadyMapped => "already mapped",
            Self::NotPageblocks => "not whole pageblocks",
            Self::SensitiveMemory => "sensitive memory",
            Self::AsiInconsistent => "restricted view inconsistent",
        }
    }
}

/// Decodes the `(rax, rdx)` pair a system call returns.
pub const fn decode_result(rax: u64, rdx: u64) -> Result<u64, Option<SyscallError>> {
    if rax == SUCCESS { Ok(rdx) } else { Err(SyscallError::from_code(rax)) }
}

/// Codes the kernel writes to QEMU's `isa-debug-exit` device (port [`exit_code::PORT`]).
///
/// Not a system call: this is the kernel's contract with whoever booted it. QEMU exits with
/// status `(code << 1) | 1`, so these can never be mistaken for QEMU's own 0 or 1.
pub mod exit_code {
    /// The I/O port of the `isa-debug-exit` device (`iobase=0xf4,iosize=0x04`).
    pub const PORT: u16 = 0xf4;
    /// The kernel shut down cleanly: every user thread ended and, in a test build, every
    /// in-kernel test passed.
    pub const SUCCESS: u32 = 0x10;
    /// The kernel stopped on a panic, an unexpected kernel fault or a failed in-kernel test.
    pub const FAILURE: u32 = 0x11;

    /// The process exit status QEMU reports after the kernel wrote `code`.
    pub const fn qemu_status(code: u32) -> i32 {
        ((code << 1) | 1) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        let all = [
            Syscall::DebugWrite,
            Syscall::ThreadExit,
            Syscall::BootArgs,
            Syscall::BootInfo,
            Syscall::Call,
            Syscall::DebugCapIdentify,
            Syscall::Send,
            Syscall::NonBlockingSend,
            Syscall::Receive,
            Syscall::NonBlockingReceive,
            Syscall::Reply,
            Syscall::ReplyReceive,
            Syscall::Yield,
            Syscall::Null,
        ];
        for call in all {
            assert_eq!(Syscall::from_number(call.number()), Some(call));
        }
        assert_eq!(Syscall::from_number(0), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn error_codes_round_trip_and_never_mean_success() {
        let all: Vec<_> = (1..=25).map(|code| SyscallError::from_code(code).unwrap()).collect();
        assert_eq!(SyscallError::from_code(26), None);
        let mut names: Vec<_> = all.iter().map(|error| error.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "two errors share a name");
        for error in all {
            assert_ne!(error.code(), SUCCESS);
            assert_eq!(SyscallError::from_code(error.code()), Some(error));
            assert_eq!(decode_result(error.code(), 7), Err(Some(error)));
        }
        assert_eq!(decode_result(SUCCESS, 7), Ok(7));
        assert_eq!(decode_result(999, 0), Err(None));
    }

    #[test]
    fn exit_statuses_differ_from_qemus_own() {
        let success = exit_code::qemu_status(exit_code::SUCCESS);
        let failure = exit_code::qemu_status(exit_code::FAILURE);
        assert_eq!((success, failure), (33, 35));
        for status in [success, failure] {
            assert!(status != 0 && status != 1);
        }
    }
}
