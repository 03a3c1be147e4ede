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
    let all_pages_allowed =
        range.pages().all(|page| space.user_access(VirtAddr::new(page)).is_some_and(&allowed));
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

#[cfg(feature = "ktest")]
pub mod tests {
    use super::*;
    use crate::arch::FrameSource;
    use crate::ktest::{KernelTest, TestResult, ensure};
    use kernel_core::boot_info::BootInfo;

    pub const TESTS: &[KernelTest] = &[
        KernelTest {
            name: "kernel::usercopy::checks_refuse_bad_ranges",
            run: checks_refuse_bad_ranges,
        },
        KernelTest {
            name: "kernel::usercopy::copies_round_trip_under_smap",
            run: copies_round_trip_under_smap,
        },
    ];

    const READ_ONLY: u64 = 0x40_0000;
    const READ_WRITE: u64 = 0x40_1000;
    const UNMAPPED: u64 = 0x40_2000;

    fn test_space() -> AddressSpace {
        let mut frames = crate::mem::frames();
        let mut space = AddressSpace::new(&mut frames).expect("memory for a test address space");
        for (page, write) in [(READ_ONLY, false), (READ_WRITE, true)] {
            let frame = frames.allocate_zeroed().expect("memory for a test page");
            space
                .map_user_page(
                    VirtAddr::new(page),
                    frame,
                    UserAccess { write, execute: false },
                    &mut frames,
                )
                .expect("fresh pages map");
        }
        space
    }

    fn checks_refuse_bad_ranges(_: &BootInfo) -> TestResult {
        let space = test_space();
        let invalid = Err(SyscallError::InvalidAddress);
        ensure!(
            UserReadable::new(&space, READ_ONLY, 0x2000).is_ok(),
            "two mapped pages not readable"
        );
        ensure!(
            UserReadable::new(&space, READ_WRITE + 8, 0x1000).map(|_| ()) == invalid,
            "range into an unmapped page accepted"
        );
        ensure!(
            UserReadable::new(&space, UNMAPPED, 1).map(|_| ()) == invalid,
            "unmapped page accepted"
        );
        ensure!(
            UserWritable::new(&space, READ_ONLY, 8).map(|_| ()) == invalid,
            "read-only page accepted for writing"
        );
        ensure!(UserWritable::new(&space, READ_WRITE, 0x1000).is_ok(), "writable page refused");
        ensure!(
            UserWritable::new(&space, READ_ONLY + 0xff8, 16).map(|_| ()) == invalid,
            "write range half read-only accepted"
        );
        let kernel_text = crate::mem::kernel_image().start + 0xffff_ffff_8000_0000;
        ensure!(
            UserReadable::new(&space, kernel_text, 8).map(|_| ()) == invalid,
            "kernel address accepted"
        );
        ensure!(
            UserReadable::new(&space, u64::MAX - 4, 8).map(|_| ()) == invalid,
            "wrapping range accepted"
        );
        Ok(())
    }

    fn copies_round_trip_under_smap(_: &BootInfo) -> TestResult {
        let space = test_space();
        space.activate();
        let message = *b"through the user half";
        let destination = UserWritable::new(&space, READ_WRITE + 100, message.len() as u64);
        let source = UserReadable::new(&space, READ_WRITE + 100, message.len() as u64);
        let mut read_back = [0u8; 21];
        if let (Ok(destination), Ok(source)) = (destination, source) {
            destination.write(&message);
            source.read_into(0, &mut read_back);
        }
        arch::activate_kernel_tables();
        ensure!(read_back == message, "read back {read_back:?}");
        ensure!(
            arch::smap_active() == arch::CpuFeatures::detect().smap,
            "SMAP state differs from CPUID"
        );
        Ok(())
    }
}
