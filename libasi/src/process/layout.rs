//! Where things are in a spawned process: its address space and its CSpace. Constants
//! and pure arithmetic, tested on the host.
//!
//! # Address space
//!
//! | address | what |
//! | --- | --- |
//! | `0x20_0000 ..` | the ELF's loadable segments, each page with its segment's rights (W^X) |
//! | [`MAP_WINDOW`]` .. +`[`MAP_WINDOW_BYTES`] | frames [`mem`](crate::mem) maps for the program itself ([`Mapping`](crate::mem::Mapping)s, the [`Heap`](crate::mem::Heap)); nothing else maps in the 512 GiB from [`MAP_WINDOW`] |
//! | [`IPC_BUFFER`] | the IPC buffer (one page), an unmapped guard page above it |
//! | [`STACK_BOTTOM`]` .. `[`STACK_TOP`] | the stack, [`STACK_PAGES`] pages; the page above is unmapped |
//!
//! These are the addresses the kernel gives the root task, so every program sees the same
//! layout. The thread starts at the ELF entry with `rsp` = [`STACK_TOP`] (16-byte
//! aligned, as [`entry!`](crate::entry)'s `_start` expects) and `rdi` = [`IPC_BUFFER`],
//! which `_start` records as the thread's IPC buffer.
//!
//! # CSpace
//!
//! One CNode of 2^[`CNODE_RADIX`] slots with a guard of [`CNODE_GUARD_BITS`] zero bits,
//! so that, as in the root task, a capability pointer is simply the slot number:
//!
//! | slot | capability |
//! | --- | --- |
//! | 0 | empty (the null pointer) |
//! | [`slot::CNODE`] (1) | the process's own CNode |
//! | [`slot::VSPACE`] (2) | its address space |
//! | [`slot::TCB`] (3) | its thread |
//! | [`slot::FAULT_ENDPOINT`] (4) | the endpoint its faults go to, if it was given one |
//! | [`slot::FIRST_GRANTED`] (5) and up | the capabilities the parent handed over, in order ([`granted`]) |
//! | the rest | empty, the process's own |

use crate::cap::CPtr;

/// The size of a page.
pub const PAGE_SIZE: u64 = 0x1000;
/// Pages of stack.
pub const STACK_PAGES: u64 = 16;
/// The top of the stack (exclusive): the initial `rsp`. The page above is never mapped.
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// The lowest stack page. The page below it is a guard, never mapped.
pub const STACK_BOTTOM: u64 = STACK_TOP - STACK_PAGES * PAGE_SIZE;
/// The IPC buffer's page: below the stack's guard page, with a guard page of its own below.
pub const IPC_BUFFER: u64 = STACK_BOTTOM - 2 * PAGE_SIZE;

/// Where [`mem`](crate::mem) maps frames into the caller's own address space: the start of
/// the 512 GiB one PDPT covers (PML4 entry 192), far from the image below and the spawner's
/// scratch area (0x5000_0000_0000), and far below the IPC buffer and the stack. `mem`
/// installs that PDPT and the page directory below it itself, so nothing else may map in
/// those 512 GiB.
pub const MAP_WINDOW: u64 = 0x0000_6000_0000_0000;
/// The window is 1 GiB: what one page directory covers, so its page tables are one PDPT,
/// one page directory and up to 512 page tables.
pub const MAP_WINDOW_BYTES: u64 = 1 << 30;

/// A process's CNode has 2^8 slots.
pub const CNODE_RADIX: u8 = 8;
/// Its capability carries a guard of 56 zero bits: radix and guard use all 64 bits of a
/// capability pointer.
pub const CNODE_GUARD_BITS: u8 = 64 - CNODE_RADIX;

/// The fixed slots of a process's CNode.
pub mod slot {
    /// Always empty.
    pub const NULL: u64 = 0;
    /// The process's own CNode.
    pub const CNODE: u64 = 1;
    /// The process's address space.
    pub const VSPACE: u64 = 2;
    /// The process's thread.
    pub const TCB: u64 = 3;
    /// The endpoint the process's faults are sent to (empty if it has none).
    pub const FAULT_ENDPOINT: u64 = 4;
    /// The first capability handed over by the parent.
    pub const FIRST_GRANTED: u64 = 5;
    /// The first slot after the granted ones is free; there are this many slots in all.
    pub const COUNT: u64 = 1 << super::CNODE_RADIX;
}

/// The most capabilities a parent hands over at spawn.
pub const MAX_GRANTED: usize = 16;

/// Inside a spawned process: the pointer to the `index`th capability its parent handed
/// over (counting from 0, in the order the parent listed them).
pub const fn granted(index: usize) -> CPtr {
    CPtr(slot::FIRST_GRANTED + index as u64)
}

/// The first slot a process may use for its own capabilities, after `granted` ones.
pub const fn first_free_slot(granted: usize) -> u64 {
    slot::FIRST_GRANTED + granted as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_and_buffer_have_guard_pages_and_alignment() {
        assert_eq!(STACK_TOP % 16, 0, "_start needs a 16-byte aligned rsp");
        assert_eq!(STACK_TOP - STACK_BOTTOM, 64 * 1024);
        // The page between buffer and stack stays unmapped.
        assert_eq!(STACK_BOTTOM - (IPC_BUFFER + PAGE_SIZE), PAGE_SIZE);
        const { assert!(STACK_TOP + PAGE_SIZE <= syscall_abi::USER_SPACE_END) };
        assert_eq!(IPC_BUFFER % PAGE_SIZE, 0);
        // The root task's buffer is where the kernel's loader puts it: the same layout.
        assert_eq!(IPC_BUFFER, 0x7fff_fffd_e000);
    }

    #[test]
    fn the_map_window_has_a_pdpt_of_its_own() {
        assert_eq!(MAP_WINDOW % (1 << 39), 0, "a PML4 entry to itself");
        assert_eq!(MAP_WINDOW_BYTES, 1 << 30, "one page directory's reach");
        let scratch = crate::process::DEFAULT_SCRATCH;
        assert_ne!(scratch >> 39, MAP_WINDOW >> 39);
        const { assert!(MAP_WINDOW + (1 << 39) <= IPC_BUFFER) };
    }

    #[test]
    fn the_cnode_resolves_slot_numbers_at_full_depth() {
        assert_eq!(u32::from(CNODE_RADIX) + u32::from(CNODE_GUARD_BITS), 64);
        assert!(crate::cap::CapData::guard(0, CNODE_GUARD_BITS).is_some());
        assert_eq!(granted(0), CPtr(slot::FIRST_GRANTED));
        assert_eq!(granted(2), CPtr(7));
        assert_eq!(first_free_slot(MAX_GRANTED), 21);
        const { assert!(first_free_slot(MAX_GRANTED) < slot::COUNT) };
    }
}
