//! The ASI control capability: the kernel's per-CPU event counters.

use super::invocation;
use super::{AsiControl, Cap};
use crate::Error;
use crate::ipc::IpcBuffer;
use syscall_abi::counters::{COUNT, Counter};
use syscall_abi::invocation::Invocation;

/// One CPU's event counters as the kernel reported them, each the count since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters([u64; COUNT]);

impl Counters {
    /// The count of one kind of event.
    pub const fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
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
    /// CPU `cpu`'s event counters; [`Error::RangeError`] for a CPU that is not up. Seven
    /// words: three arrive in the caller's IPC `buffer`.
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
