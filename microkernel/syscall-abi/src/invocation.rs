//! Invoking a capability: the `Call` system call on a kernel object's capability, with an
//! [`Invocation`] as the message label and its arguments as message words.
//!
//! Capabilities named in arguments are capability pointers resolved in the caller's CSpace
//! (depth 64 unless the argument gives a depth). A refused invocation returns an error
//! code in `rax` and changes nothing.

/// What to do with the invoked capability, as the message label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Invocation {
    /// On an untyped capability. Words: object type ([`ObjectKind`]), size bits (for
    /// untyped and CNode objects), destination CNode pointer, its depth, first
    /// destination slot index, number of objects.
    UntypedRetype = 1,
    /// On an untyped capability. No words. Answers the region's physical base address in
    /// `rdx` and two message words: its size in bits and the [`sensitivity`] of its
    /// memory ([`sensitivity::MIXED`] if its pageblocks disagree; device memory reads as
    /// nonsensitive, as its frames do). For a server handed memory without the boot
    /// information that describes it (memsrv).
    UntypedDescribe = 2,
    /// On a CNode capability: the CNode in which the destination index is resolved.
    /// Words: destination index, destination depth, source CNode pointer, source index,
    /// source depth, rights ([`rights`] bits) kept from the source.
    CNodeCopy = 10,
    /// As [`CNodeCopy`](Self::CNodeCopy), plus cap data (a badge, or a CNode guard, see
    /// [`cap_data`]).
    CNodeMint = 11,
    /// Words: destination index, destination depth, source CNode pointer, source index,
    /// source depth.
    CNodeMove = 12,
    /// As [`CNodeMove`](Self::CNodeMove), plus rights and cap data (a guard only).
    CNodeMutate = 13,
    /// Words: index, depth.
    CNodeDelete = 14,
    /// Words: index, depth. Deletes every capability derived from the one there.
    CNodeRevoke = 15,
    /// On a TCB capability. Words: fault endpoint pointer (0: none), CSpace root
    /// pointer, CSpace root guard data (0: keep the capability's guard), VSpace root
    /// pointer, reserved (0), IPC buffer address (1 KiB aligned; 0: none), IPC buffer frame
    /// pointer (0: none). The thread runs with copies of the capabilities named.
    TcbConfigure = 20,
    /// Words: resume (0 or 1), count, then `count` registers in [`user_registers`] order.
    TcbWriteRegisters = 21,
    /// Words: suspend the thread first (0 or 1), count. The reply carries `count`
    /// registers in [`user_registers`] order.
    TcbReadRegisters = 22,
    /// No words. The thread becomes runnable (it must have an address space).
    TcbResume = 23,
    /// No words. The thread stops until resumed.
    TcbSuspend = 24,
    /// Words: authority TCB pointer, priority (at most the authority's maximum
    /// controlled priority).
    TcbSetPriority = 25,
    /// Words: authority TCB pointer, maximum controlled priority (likewise bounded).
    TcbSetMaxControlledPriority = 26,
    /// Words: CPU index. Recorded; threads run on the bootstrap CPU until SMP.
    TcbSetAffinity = 27,
    /// Words: notification pointer. Signals to it also end the thread's endpoint waits.
    TcbBindNotification = 28,
    /// No words.
    TcbUnbindNotification = 29,
    /// On a frame capability. Words: VSpace pointer, address (aligned to the frame's
    /// size), rights ([`rights`] READ/WRITE, limited by the capability's), attributes
    /// ([`frame_attributes`]). Writable and executable together is refused (W^X).
    FrameMap = 30,
    /// No words. Unmaps the frame where this capability mapped it.
    FrameUnmap = 31,
    /// No words. Answers the frame's physical address in `rdx`.
    FrameGetAddress = 32,
    /// No words. Answers the frame's [`sensitivity`] in `rdx`: that of the pageblock it
    /// lies in, fixed while the frame exists.
    FrameGetSensitivity = 35,
    /// On a page-table capability (PDPT, PD or PT). Words: VSpace pointer, an address
    /// the table is to cover.
    PageTableMap = 33,
    /// No words.
    PageTableUnmap = 34,
    /// On the I/O port control capability. Words: first port, last port, destination CNode
    /// pointer, index, depth. Makes a capability to the ports `first..=last`; ports the
    /// kernel drives itself (the interrupt controllers, its serial console, the
    /// emulator's exit port) are refused.
    IoPortControlIssue = 40,
    /// On an I/O port capability. Words: port. Answers the value read in `rdx`.
    IoPortIn8 = 41,
    IoPortIn16 = 42,
    IoPortIn32 = 43,
    /// Words: port, value.
    IoPortOut8 = 44,
    IoPortOut16 = 45,
    IoPortOut32 = 46,
    /// On the IRQ control capability. Words: IRQ (0–15: ISA interrupt lines, as the
    /// firmware routes them; 16–23: I/O APIC inputs), destination CNode pointer, index,
    /// depth. Makes the one handler capability for that IRQ.
    IrqControlGet = 50,
    /// On an IRQ handler capability. No words. Unmasks the IRQ after a delivery.
    IrqHandlerAck = 51,
    /// Words: notification pointer. Each interrupt signals it with that capability's
    /// badge; the IRQ stays masked until acknowledged.
    IrqHandlerSetNotification = 52,
    /// No words. Stops delivery to the notification.
    IrqHandlerClear = 53,
    /// On the ASI control capability. Words: CPU index. The reply carries that CPU's
    /// event counters, [`counters::COUNT`](crate::counters::COUNT) words in
    /// [`Counter`](crate::counters::Counter) order (words 4 and up in the IPC buffer).
    AsiControlCounters = 60,
    /// On the ASI control capability. Words: untyped pointer, [`sensitivity`]. Gives the
    /// pageblocks of a RAM untyped region with nothing carved from it that sensitivity;
    /// memory becoming nonsensitive is zeroed first. Refused with `DeviceMemory`,
    /// `RevokeFirst` (children), `NotPageblocks` (not whole pageblocks).
    AsiControlSetSensitivity = 61,
    /// On the ASI control capability. No words. Checks that the restricted view of the
    /// physical window maps exactly the nonsensitive pageblocks of RAM and keeps no frame
    /// number where it maps none; `AsiInconsistent` (a kernel bug) with the first wrong
    /// pageblock's address otherwise.
    AsiControlVerify = 62,
    /// On the ASI control capability. Words: a physical address. Answers in `rdx` the raw
    /// restricted-window entry of its pageblock (0: not mapped, no frame number kept);
    /// `RangeError` for an address the window does not map.
    AsiControlRestrictedEntry = 63,
}

/// The sensitivity words of [`Invocation::AsiControlSetSensitivity`] and
/// [`Invocation::FrameGetSensitivity`].
pub mod sensitivity {
    /// Mapped where the kernel runs restricted: may hold kernel objects.
    pub const NONSENSITIVE: u64 = 0;
    /// Not mapped there: for data that must not leak.
    pub const SENSITIVE: u64 = 1;
    /// Only answered by [`UntypedDescribe`](super::Invocation::UntypedDescribe): a region
    /// whose pageblocks are not all of one sensitivity.
    pub const MIXED: u64 = 2;
}

/// Attribute bits of [`Invocation::FrameMap`].
pub mod frame_attributes {
    /// The page may be executed (then it may not be writable).
    pub const EXECUTABLE: u64 = 1;
}

impl Invocation {
    /// Every invocation, in label order.
    pub const ALL: [Self; 39] = [
        Self::UntypedRetype,
        Self::UntypedDescribe,
        Self::CNodeCopy,
        Self::CNodeMint,
        Self::CNodeMove,
        Self::CNodeMutate,
        Self::CNodeDelete,
        Self::CNodeRevoke,
        Self::TcbConfigure,
        Self::TcbWriteRegisters,
        Self::TcbReadRegisters,
        Self::TcbResume,
        Self::TcbSuspend,
        Self::TcbSetPriority,
        Self::TcbSetMaxControlledPriority,
        Self::TcbSetAffinity,
        Self::TcbBindNotification,
        Self::TcbUnbindNotification,
        Self::FrameMap,
        Self::FrameUnmap,
        Self::FrameGetAddress,
        Self::PageTableMap,
        Self::PageTableUnmap,
        Self::FrameGetSensitivity,
        Self::IoPortControlIssue,
        Self::IoPortIn8,
        Self::IoPortIn16,
        Self::IoPortIn32,
        Self::IoPortOut8,
        Self::IoPortOut16,
        Self::IoPortOut32,
        Self::IrqControlGet,
        Self::IrqHandlerAck,
        Self::IrqHandlerSetNotification,
        Self::IrqHandlerClear,
        Self::AsiControlCounters,
        Self::AsiControlSetSensitivity,
        Self::AsiControlVerify,
        Self::AsiControlRestrictedEntry,
    ];

    pub const fn from_label(label: u64) -> Option<Self> {
        Some(match label {
            1 => Self::UntypedRetype,
            2 => Self::UntypedDescribe,
            10 => Self::CNodeCopy,
            11 => Self::CNodeMint,
            12 => Self::CNodeMove,
            13 => Self::CNodeMutate,
            14 => Self::CNodeDelete,
            15 => Self::CNodeRevoke,
            20 => Self::TcbConfigure,
            21 => Self::TcbWriteRegisters,
            22 => Self::TcbReadRegisters,
            23 => Self::TcbResume,
            24 => Self::TcbSuspend,
            25 => Self::TcbSetPriority,
            26 => Self::TcbSetMaxControlledPriority,
            27 => Self::TcbSetAffinity,
            28 => Self::TcbBindNotification,
            29 => Self::TcbUnbindNotification,
            30 => Self::FrameMap,
            31 => Self::FrameUnmap,
            32 => Self::FrameGetAddress,
            33 => Self::PageTableMap,
            34 => Self::PageTableUnmap,
            35 => Self::FrameGetSensitivity,
            40 => Self::IoPortControlIssue,
            41 => Self::IoPortIn8,
            42 => Self::IoPortIn16,
            43 => Self::IoPortIn32,
            44 => Self::IoPortOut8,
            45 => Self::IoPortOut16,
            46 => Self::IoPortOut32,
            50 => Self::IrqControlGet,
            51 => Self::IrqHandlerAck,
            52 => Self::IrqHandlerSetNotification,
            53 => Self::IrqHandlerClear,
            60 => Self::AsiControlCounters,
            61 => Self::AsiControlSetSensitivity,
            62 => Self::AsiControlVerify,
            63 => Self::AsiControlRestrictedEntry,
            _ => return None,
        })
    }

    pub const fn label(self) -> u64 {
        self as u64
    }

    /// How many message words the invocation needs at least (register writes need their
    /// `count` more).
    pub const fn words(self) -> usize {
        match self {
            Self::UntypedRetype | Self::CNodeCopy => 6,
            Self::CNodeMint | Self::CNodeMutate | Self::TcbConfigure => 7,
            Self::CNodeMove => 5,
            Self::CNodeDelete
            | Self::CNodeRevoke
            | Self::TcbWriteRegisters
            | Self::TcbReadRegisters
            | Self::TcbSetPriority
            | Self::TcbSetMaxControlledPriority => 2,
            Self::TcbSetAffinity | Self::TcbBindNotification => 1,
            Self::FrameMap | Self::IrqControlGet => 4,
            Self::IoPortControlIssue => 5,
            Self::IoPortIn8
            | Self::IoPortIn16
            | Self::IoPortIn32
            | Self::IrqHandlerSetNotification
            | Self::AsiControlCounters
            | Self::AsiControlRestrictedEntry => 1,
            Self::IoPortOut8 | Self::IoPortOut16 | Self::IoPortOut32 => 2,
            Self::PageTableMap | Self::AsiControlSetSensitivity => 2,
            Self::TcbResume
            | Self::TcbSuspend
            | Self::TcbUnbindNotification
            | Self::FrameUnmap
            | Self::FrameGetAddress
            | Self::FrameGetSensitivity
            | Self::PageTableUnmap
            | Self::IrqHandlerAck
            | Self::IrqHandlerClear
            | Self::AsiControlVerify
            | Self::UntypedDescribe => 0,
        }
    }
}

/// The user registers TCB register reads and writes carry, in this order.
pub mod user_registers {
    pub const RIP: usize = 0;
    pub const RSP: usize = 1;
    pub const RFLAGS: usize = 2;
    pub const RAX: usize = 3;
    pub const RBX: usize = 4;
    pub const RCX: usize = 5;
    pub const RDX: usize = 6;
    pub const RSI: usize = 7;
    pub const RDI: usize = 8;
    pub const RBP: usize = 9;
    pub const R8: usize = 10;
    pub const R9: usize = 11;
    pub const R10: usize = 12;
    pub const R11: usize = 13;
    pub const R12: usize = 14;
    pub const R13: usize = 15;
    pub const R14: usize = 16;
    pub const R15: usize = 17;
    /// How many registers there are.
    pub const COUNT: usize = 18;
}

/// Object types for [`Invocation::UntypedRetype`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ObjectKind {
    Untyped = 0,
    Tcb = 1,
    Endpoint = 2,
    Notification = 3,
    CNode = 4,
    Frame4K = 5,
    Frame2M = 6,
    PageDirectoryPointerTable = 7,
    PageDirectory = 8,
    PageTable = 9,
    VSpace = 10,
}

impl ObjectKind {
    pub const ALL: [Self; 11] = [
        Self::Untyped,
        Self::Tcb,
        Self::Endpoint,
        Self::Notification,
        Self::CNode,
        Self::Frame4K,
        Self::Frame2M,
        Self::PageDirectoryPointerTable,
        Self::PageDirectory,
        Self::PageTable,
        Self::VSpace,
    ];

    pub const fn from_code(code: u64) -> Option<Self> {
        if code < Self::ALL.len() as u64 { Some(Self::ALL[code as usize]) } else { None }
    }

    pub const fn code(self) -> u64 {
        self as u64
    }
}

/// What kind of capability a slot holds, as `DebugCapIdentify` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum CapKind {
    Null = 0,
    Untyped = 1,
    Endpoint = 2,
    Notification = 3,
    Reply = 4,
    CNode = 5,
    Tcb = 6,
    Frame = 7,
    PageTable = 8,
    VSpace = 9,
    IrqControl = 10,
    IrqHandler = 11,
    AsiControl = 12,
    IoPortControl = 13,
    IoPort = 14,
}

impl CapKind {
    pub const ALL: [Self; 15] = [
        Self::Null,
        Self::Untyped,
        Self::Endpoint,
        Self::Notification,
        Self::Reply,
        Self::CNode,
        Self::Tcb,
        Self::Frame,
        Self::PageTable,
        Self::VSpace,
        Self::IrqControl,
        Self::IrqHandler,
        Self::AsiControl,
        Self::IoPortControl,
        Self::IoPort,
    ];

    pub const fn from_code(code: u64) -> Option<Self> {
        if code < Self::ALL.len() as u64 { Some(Self::ALL[code as usize]) } else { None }
    }

    pub const fn code(self) -> u64 {
        self as u64
    }
}

/// Rights bits, for invocations that reduce a capability's rights.
pub mod rights {
    /// Receive on an endpoint or wait on a notification; read a frame.
    pub const READ: u8 = 1;
    /// Send on an endpoint or signal a notification; write a frame.
    pub const WRITE: u8 = 1 << 1;
    /// Transfer capabilities through an endpoint.
    pub const GRANT: u8 = 1 << 2;
    /// Let the receiver of a Call reply with capabilities.
    pub const GRANT_REPLY: u8 = 1 << 3;
    pub const ALL: u8 = READ | WRITE | GRANT | GRANT_REPLY;
}

/// The cap-data word of mint and mutate.
///
/// For an endpoint or notification capability it is the badge (0: none). For a CNode
/// capability it is a guard: bits 0–5 hold the guard's bit count, bits 6–63 the guard
/// (so a guard has at most 58 bits).
pub mod cap_data {
    /// The guard word for `guard` of `guard_bits` bits; `None` if it does not fit.
    pub const fn guard(guard: u64, guard_bits: u8) -> Option<u64> {
        if guard_bits > 58 || (guard_bits < 64 && guard >> guard_bits != 0) {
            return None;
        }
        Some((guard << 6) | guard_bits as u64)
    }

    /// The guard and its bit count in a guard word.
    pub const fn split_guard(word: u64) -> (u64, u8) {
        (word >> 6, (word & 0x3f) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for invocation in Invocation::ALL {
            assert_eq!(Invocation::from_label(invocation.label()), Some(invocation));
            assert!(invocation.words() <= crate::ipc::MAX_WORDS);
        }
        assert_eq!(Invocation::from_label(0), None);
        assert_eq!(Invocation::from_label(u64::MAX), None);
        // ALL lists every label there is, in order.
        let labels = (0..=u8::MAX).filter(|&label| Invocation::from_label(label.into()).is_some());
        assert!(labels.map(u64::from).eq(Invocation::ALL.map(Invocation::label)));
    }

    #[test]
    fn object_kinds_round_trip() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(ObjectKind::from_code(ObjectKind::ALL.len() as u64), None);
    }

    #[test]
    fn cap_kinds_round_trip() {
        for kind in CapKind::ALL {
            assert_eq!(CapKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(CapKind::from_code(CapKind::ALL.len() as u64), None);
    }

    #[test]
    fn guards_round_trip_and_must_fit() {
        assert_eq!(cap_data::split_guard(cap_data::guard(0b101, 3).unwrap()), (0b101, 3));
        assert_eq!(cap_data::split_guard(cap_data::guard(0, 52).unwrap()), (0, 52));
        assert_eq!(cap_data::guard(0b1000, 3), None);
        assert_eq!(cap_data::guard(0, 59), None);
    }
}
