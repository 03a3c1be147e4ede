//! Invocations of thread control blocks: configuration, registers, running and stopping,
//! priorities, affinity and notification binding.

use syscall_abi::invocation::{Invocation, user_registers};

use super::{CNode, CPtr, Cap, CapData, Notification, Tcb, VSpace, invocation};
use crate::Error;
use crate::ipc::IpcBuffer;

/// What [`Cap<Tcb>::configure`] gives a thread: its fault endpoint (a pointer resolved in
/// the thread's own CSpace when it faults; [`CPtr::NULL`] for none), CSpace and VSpace
/// roots, and IPC buffer (address, 1 KiB aligned, and the frame holding it; 0 and
/// [`CPtr::NULL`] for none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbConfig {
    pub fault_endpoint: CPtr,
    pub cspace_root: Cap<CNode>,
    /// Guard data for the thread's copy of the CSpace root ([`CapData::NONE`]: keep the
    /// capability's guard).
    pub cspace_root_data: CapData,
    pub vspace_root: Cap<VSpace>,
    pub ipc_buffer: u64,
    pub ipc_buffer_frame: CPtr,
}

impl TcbConfig {
    /// A thread with these roots, no fault endpoint and no IPC buffer.
    pub const fn new(cspace_root: Cap<CNode>, vspace_root: Cap<VSpace>) -> Self {
        Self {
            fault_endpoint: CPtr::NULL,
            cspace_root,
            cspace_root_data: CapData::NONE,
            vspace_root,
            ipc_buffer: 0,
            ipc_buffer_frame: CPtr::NULL,
        }
    }

    /// With fault endpoint `endpoint`.
    #[must_use]
    pub const fn fault_endpoint(mut self, endpoint: CPtr) -> Self {
        self.fault_endpoint = endpoint;
        self
    }

    /// With the IPC buffer at `address` in the frame `frame`.
    #[must_use]
    pub const fn ipc_buffer(mut self, address: u64, frame: CPtr) -> Self {
        self.ipc_buffer = address;
        self.ipc_buffer_frame = frame;
        self
    }
}

/// A thread's user registers, as TCB register reads and writes carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegisters {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

impl UserRegisters {
    /// A thread about to run at `rip` with stack pointer `rsp`, every other register 0.
    pub const fn start(rip: u64, rsp: u64) -> Self {
        Self {
            rip,
            rsp,
            rflags: 0,
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            rbp: 0,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
        }
    }

    /// The registers in [`user_registers`] order.
    pub const fn to_words(&self) -> [u64; user_registers::COUNT] {
        [
            self.rip,
            self.rsp,
            self.rflags,
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
        ]
    }

    /// The inverse of [`to_words`](Self::to_words).
    pub const fn from_words(words: [u64; user_registers::COUNT]) -> Self {
        let [
            rip,
            rsp,
            rflags,
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
        ] = words;
        Self {
            rip,
            rsp,
            rflags,
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
        }
    }
}

impl Cap<Tcb> {
    /// Gives the thread its fault endpoint, CSpace, VSpace and IPC buffer (as copies of the
    /// capabilities named). Refusals name the word: [`Error::InvalidCapability`] (1 CSpace,
    /// 3 VSpace, 6 frame), [`Error::AlignmentError`] for a buffer address not 1 KiB
    /// aligned or outside the user half.
    pub fn configure(self, config: &TcbConfig) -> Result<(), Error> {
        invocation::tcb_configure(config).call(self.cptr()).map(drop)
    }

    /// Writes all registers; `resume` then makes the thread runnable. Flags are sanitised
    /// (interrupts stay on); an `rip` or `rsp` outside the user half is refused with
    /// [`Error::InvalidArgument`] naming its word (2 for rip, 3 for rsp).
    pub fn write_registers(self, resume: bool, registers: &UserRegisters) -> Result<(), Error> {
        self.write_registers_prefix(resume, &registers.to_words())
    }

    /// Writes the first `words.len()` registers in [`user_registers`] order (at most 18);
    /// the others keep their values.
    pub fn write_registers_prefix(self, resume: bool, words: &[u64]) -> Result<(), Error> {
        invocation::tcb_write_registers(resume, words).call(self.cptr()).map(drop)
    }

    /// Reads all registers (after suspending the thread, if `suspend`). Eighteen words:
    /// fourteen arrive in the caller's IPC `buffer`.
    pub fn read_registers(self, buffer: IpcBuffer, suspend: bool) -> Result<UserRegisters, Error> {
        let message = invocation::tcb_read_registers(suspend, user_registers::COUNT as u64);
        let (_, reply) = crate::ipc::invoke(buffer, self.cptr(), &message)?;
        let mut words = [0; user_registers::COUNT];
        if reply.len() < words.len() {
            return Err(Error::TruncatedMessage { needed: words.len() as u64 });
        }
        words.copy_from_slice(&reply.words()[..user_registers::COUNT]);
        Ok(UserRegisters::from_words(words))
    }

    /// Makes an inactive thread runnable; [`Error::InvalidCapability`] (word 3) if it has
    /// no address space (was never configured).
    pub fn resume(self) -> Result<(), Error> {
        invocation::bare(Invocation::TcbResume).call(self.cptr()).map(drop)
    }

    /// Stops the thread (it leaves any wait) until resumed.
    pub fn suspend(self) -> Result<(), Error> {
        invocation::bare(Invocation::TcbSuspend).call(self.cptr()).map(drop)
    }

    /// Sets the priority, with `authority`'s maximum controlled priority as the bound
    /// ([`Error::RangeError`], word 1, above it).
    pub fn set_priority(self, authority: Cap<Tcb>, priority: u8) -> Result<(), Error> {
        invocation::tcb_priority(Invocation::TcbSetPriority, authority.cptr(), priority.into())
            .call(self.cptr())
            .map(drop)
    }

    /// Sets the maximum priority this thread may give as an authority, likewise bounded.
    pub fn set_max_controlled_priority(
        self,
        authority: Cap<Tcb>,
        priority: u8,
    ) -> Result<(), Error> {
        invocation::tcb_priority(
            Invocation::TcbSetMaxControlledPriority,
            authority.cptr(),
            priority.into(),
        )
        .call(self.cptr())
        .map(drop)
    }

    /// Records the CPU the thread should run on ([`Error::RangeError`] past the last).
    pub fn set_affinity(self, cpu: u64) -> Result<(), Error> {
        invocation::one_word(Invocation::TcbSetAffinity, cpu).call(self.cptr()).map(drop)
    }

    /// Binds `notification`: its signals also end the thread's endpoint waits.
    /// [`Error::IllegalOperation`] if either is bound already.
    pub fn bind_notification(self, notification: Cap<Notification>) -> Result<(), Error> {
        invocation::one_word(Invocation::TcbBindNotification, notification.cptr().0)
            .call(self.cptr())
            .map(drop)
    }

    /// Ends the thread's binding, if any.
    pub fn unbind_notification(self) -> Result<(), Error> {
        invocation::bare(Invocation::TcbUnbindNotification).call(self.cptr()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_in_abi_order() {
        let words: [u64; user_registers::COUNT] = core::array::from_fn(|index| index as u64 + 1);
        let registers = UserRegisters::from_words(words);
        assert_eq!(registers.rip, 1 + user_registers::RIP as u64);
        assert_eq!(registers.rsp, 1 + user_registers::RSP as u64);
        assert_eq!(registers.rflags, 1 + user_registers::RFLAGS as u64);
        assert_eq!(registers.rdi, 1 + user_registers::RDI as u64);
        assert_eq!(registers.r10, 1 + user_registers::R10 as u64);
        assert_eq!(registers.r15, 1 + user_registers::R15 as u64);
        assert_eq!(registers.to_words(), words);
        let start = UserRegisters::start(0x20_1000, 0x7000);
        assert_eq!(start.to_words()[..3], [0x20_1000, 0x7000, 0]);
    }

    #[test]
    fn configs_build_up() {
        let config = TcbConfig::new(Cap::ROOT, Cap::from_slot(5))
            .fault_endpoint(CPtr(9))
            .ipc_buffer(0x1000, CPtr(10));
        assert_eq!(config.fault_endpoint, CPtr(9));
        assert_eq!((config.ipc_buffer, config.ipc_buffer_frame), (0x1000, CPtr(10)));
    }
}
