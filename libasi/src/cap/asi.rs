//! The ASI control capability: the sensitivity of untyped memory, and the kernel's per-CPU
//! event counters.
//!
//! Memory is sensitive (not mapped where the kernel runs restricted: for data that must
//! not leak, such as keys) or nonsensitive, per 2 MiB pageblock. At boot every pageblock
//! the kernel handed out whole is sensitive, and kernel objects can be made only from
//! nonsensitive memory, so a root task makes a region nonsensitive before it retypes
//! objects from it:
//!
//! ```ignore
//! let (pool, _) = boot::largest_ram(&info).ok_or(Error::NotEnoughMemory)?;
//! Cap::<AsiControl>::BOOT.set_sensitivity(pool, Sensitivity::Nonsensitive)?;
//! ```

use super::invocation;
use super::{AsiControl, Cap, Frame, Untyped};
use crate::Error;
use crate::ipc::IpcBuffer;
use crate::message::Message;
use syscall_abi::counters::{COUNT, Counter};
use syscall_abi::invocation::{Invocation, sensitivity};

/// Whether memory may hold secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// Not mapped where the kernel runs restricted.
    Sensitive,
    /// Mapped there: kernel objects come from nonsensitive memory only.
    Nonsensitive,
}

impl Sensitivity {
    const fn word(self) -> u64 {
        match self {
            Self::Sensitive => sensitivity::SENSITIVE,
            Self::Nonsensitive => sensitivity::NONSENSITIVE,
        }
    }
}

/// One CPU's event counters as the kernel reported them, each the count since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters([u64; COUNT]);

impl Counters {
    /// The count of one kind of event.
    pub const fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    /// Kernel entries of every kind: system calls, interrupts and exceptions.
    pub const fn entries(&self) -> u64 {
        self.get(Counter::SyscallEntries)
            + self.get(Counter::InterruptEntries)
            + self.get(Counter::ExceptionEntries)
    }

    /// Each counter's increase from `earlier` to `self` (counters only grow).
    pub fn since(&self, earlier: &Self) -> Self {
        Self(core::array::from_fn(|index| self.0[index].wrapping_sub(earlier.0[index])))
    }

    /// Every counter with its kind, in [`Counter`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.into_iter().map(|counter| (counter, self.get(counter)))
    }
}

impl Cap<AsiControl> {
    /// Gives the pageblocks of `untyped` `sensitivity` (memory becoming nonsensitive is
    /// zeroed by the kernel). Refused with [`Error::DeviceMemory`], [`Error::RevokeFirst`]
    /// (something is carved from it) or [`Error::NotPageblocks`] (it does not start and
    /// end on 2 MiB boundaries).
    pub fn set_sensitivity(
        self,
        untyped: Cap<Untyped>,
        sensitivity: Sensitivity,
    ) -> Result<(), Error> {
        Message::new(Invocation::AsiControlSetSensitivity.label())
            .push(untyped.cptr().0)
            .push(sensitivity.word())
            .call(self.cptr())
            .map(drop)
    }

    /// Checks that the kernel's restricted view of memory maps exactly the nonsensitive
    /// pageblocks (the seed's `bad_page()` check, made a walk of every entry);
    /// [`Error::AsiInconsistent`] names the first pageblock where it does not.
    pub fn verify(self) -> Result<(), Error> {
        invocation::bare(Invocation::AsiControlVerify).call(self.cptr()).map(drop)
    }

    /// The raw entry of the restricted view of memory for the pageblock holding physical
    /// address `address` (0: not mapped, and no frame number kept); [`Error::RangeError`]
    /// for memory the kernel's window does not map. For tests and debugging.
    pub fn restricted_entry(self, address: u64) -> Result<u64, Error> {
        invocation::one_word(Invocation::AsiControlRestrictedEntry, address).call(self.cptr())
    }

    /// CPU `cpu`'s event counters; [`Error::RangeError`] for a CPU that is not up. Ten
    /// words: six arrive in the caller's IPC `buffer`.
    ///
    /// ```ignore
    /// let before = Cap::<AsiControl>::BOOT.counters(buffer, 0)?;
    /// // ... the work to measure ...
    /// let spent = Cap::<AsiControl>::BOOT.counters(buffer, 0)?.since(&before);
    /// println!("{} system calls", spent.get(Counter::SyscallEntries));
    /// ```
    pub fn counters(self, buffer: IpcBuffer, cpu: u64) -> Result<Counters, Error> {
        let message = invocation::one_word(Invocation::AsiControlCounters, cpu);
        let (_, reply) = crate::ipc::invoke(buffer, self.cptr(), &message)?;
        let words = reply.words();
        if words.len() < COUNT {
            return Err(Error::TruncatedMessage { needed: COUNT as u64 });
        }
        Ok(Counters(core::array::from_fn(|index| words[index])))
    }
}

impl Cap<Frame> {
    /// The sensitivity of the memory the frame is: that of its pageblock, which cannot
    /// change while the frame exists.
    pub fn sensitivity(self) -> Result<Sensitivity, Error> {
        let value = invocation::bare(Invocation::FrameGetSensitivity).call(self.cptr())?;
        Ok(if value == sensitivity::SENSITIVE {
            Sensitivity::Sensitive
        } else {
            Sensitivity::Nonsensitive
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_every_kind_of_kernel_entry() {
        let mut words = [0; COUNT];
        words[Counter::SyscallEntries as usize] = 5;
        words[Counter::InterruptEntries as usize] = 3;
        words[Counter::ExceptionEntries as usize] = 2;
        words[Counter::AsiExits as usize] = 7;
        let later = Counters(words);
        assert_eq!(later.entries(), 10);
        assert_eq!(later.since(&Counters::default()).entries(), 10);
        assert_eq!(later.since(&later).entries(), 0);
    }
}
