//! User address ranges: what a system call's pointer and length claim, checked for
//! arithmetic sanity before the kernel looks at any page table.

use crate::memory::{PAGE_SIZE, align_down};
use syscall_abi::{SyscallError, USER_SPACE_END};

/// A byte range that lies wholly in the user half and does not wrap around.
///
/// This says nothing yet about whether the pages are mapped: the arch layer checks that
/// against the caller's page tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRange {
    start: u64,
    len: u64,
}

impl UserRange {
    /// Checks the range `[addr, addr + len)`. An empty range is valid anywhere in the
    /// user half.
    pub const fn new(addr: u64, len: u64) -> Result<Self, SyscallError> {
        let Some(end) = addr.checked_add(len) else {
            return Err(SyscallError::InvalidAddress);
        };
        if addr >= USER_SPACE_END || end > USER_SPACE_END {
            return Err(SyscallError::InvalidAddress);
        }
        Ok(Self { start: addr, len })
    }

    pub const fn start(&self) -> u64 {
        self.start
    }

    pub const fn len(&self) -> u64 {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The base address of every page the range touches, in ascending order.
    pub fn pages(&self) -> impl Iterator<Item = u64> {
        let first = align_down(self.start, PAGE_SIZE);
        let end = self.start + self.len;
        (first..end).step_by(PAGE_SIZE as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_the_user_half_are_accepted() {
        let range = UserRange::new(0x1000, 0x2000).unwrap();
        assert_eq!((range.start(), range.len()), (0x1000, 0x2000));
        assert!(UserRange::new(USER_SPACE_END - 1, 1).is_ok());
        assert!(UserRange::new(0, 0).unwrap().is_empty());
    }

    #[test]
    fn ranges_reaching_the_kernel_half_or_wrapping_are_refused() {
        let refused = Err(SyscallError::InvalidAddress);
        assert_eq!(UserRange::new(USER_SPACE_END, 0), refused);
        assert_eq!(UserRange::new(USER_SPACE_END - 1, 2), refused);
        assert_eq!(UserRange::new(0xffff_8000_0000_0000, 16), refused);
        assert_eq!(UserRange::new(u64::MAX - 3, 16), refused);
        assert_eq!(UserRange::new(16, u64::MAX), refused);
    }

    #[test]
    fn pages_cover_every_touched_page_once() {
        let pages: Vec<_> = UserRange::new(0x1ff0, 0x20).unwrap().pages().collect();
        assert_eq!(pages, [0x1000, 0x2000]);
        assert_eq!(UserRange::new(0x3000, 0x1000).unwrap().pages().count(), 1);
        assert_eq!(UserRange::new(0x3000, 0).unwrap().pages().count(), 0);
    }
}
