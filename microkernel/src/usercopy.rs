//! User pointers: an address and length from a system call are an allegation until the
//! kernel has checked them against the caller's own page tables.

use crate::arch::{self, AddressSpace, UserAccess, VirtAddr};
use kernel_core::user_range::UserRange;
use syscall_abi::SyscallError;

/// A user range checked readable in an address space.
#[derive(Debug)]
pub struct UserReadable(UserRange);

/// A user range checked writable in an address space.
#[derive(Debug)]
pub struct UserWritable(UserRange);

fn check(
    space: &AddressSpace,
    addr: u64,
    len: u64,
    allowed: impl Fn(UserAccess) -> bool,
) -> Result<UserRange, SyscallError> {
    let range = UserRange::new(addr, len)?;
    let all_pages_allowed = range
        .pages()
        .all(|page| space.user_access(VirtAddr::new(page)).is_some_and(&allowed));
    if all_pages_allowed { Ok(range) } else { Err(SyscallError::InvalidAddress) }
}

impl UserReadable {
    /// Checks that `[addr, addr + len)` lies in the user half and that every page of it
    /// is mapped for user access in `space`.
    pub fn new(space: &AddressSpace, addr: u64, len: u64) -> Result<Self, SyscallError> {
        check(space, addr, len, |_| true).map(Self)
    }

    pub fn len(&self) -> usize {
        self.0.len() as usize
    }

    /// Copies the range, starting `offset` bytes in, into `buffer` (as much as fits).
    /// The checked address space must be the active one.
    pub fn read_into(&self, offset: usize, buffer: &mut [u8]) -> usize {
        let count = buffer.len().min(self.len().saturating_sub(offset));
        arch::copy_from_user(&mut buffer[..count], self.0.start() + offset as u64);
        count
    }
}

impl UserWritable {
    /// Checks that `[addr, addr + len)` lies in the user half and that every page of it
    /// is mapped writable for user access in `space`.
    pub fn new(space: &AddressSpace, addr: u64, len: u64) -> Result<Self, SyscallError> {
        check(space, addr, len, |access| access.write).map(Self)
    }

    pub fn len(&self) -> usize {
        self.0.len() as usize
    }

    /// Copies `bytes` to the start of the range; `bytes` must fit. The checked address
    /// space must be the active one.
    pub fn write(&self, bytes: &[u8]) {
        assert!(bytes.len() <= self.len(), "user write larger than the checked range");
        arch::copy_to_user(self.0.start(), bytes);
    }
}
