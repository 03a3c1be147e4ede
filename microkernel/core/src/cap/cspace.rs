//! Capability addresses: finding the slot a capability pointer names in a CSpace.
//!
//! A CSpace is a tree of CNodes, addressed like a guarded page table (seL4's
//! `resolveAddressBits`). A lookup takes a capability pointer `cptr` and a `depth`, and
//! reads the low `depth` bits of `cptr` from the most significant one down (higher bits
//! are ignored). At each CNode it first matches the guard — the next `guard_bits` bits
//! must equal `guard` — then takes the next `radix_bits` bits as the slot index. If that
//! used the last of the `depth` bits, the slot is the answer; otherwise the slot must hold
//! another CNode capability, and the lookup continues there with the remaining bits.
//!
//! Example: a root CNode with 2 bits of guard `0b10` and radix 4, whose slot 3 holds a
//! CNode with no guard and radix 8. Then `cptr = 0b10_0011_00000101` with depth 14 reads
//! guard `10`, index `0011` = 3, and then index `00000101` = 5 in the second CNode: slot 5
//! of the second CNode. The same `cptr >> 8` with depth 6 names slot 3 of the root itself
//! (the slot holding the second CNode's capability, as CNode operations need).
//!
//! One difference from seL4: when the bits left are fewer than a guard, seL4 reports a
//! guard mismatch; here that is a [`LookupError::DepthMismatch`], like running out inside
//! a radix, since the guard was never compared.

use super::capability::Capability;
use super::mdb::SlotStore;

/// Why a lookup failed (seL4's lookup faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The depth is 0 or more than 64.
    BadDepth,
    /// The root is not a CNode capability that resolves at least one bit.
    InvalidRoot,
    /// A slot reached with `bits_left` bits still to resolve holds no CNode capability (or
    /// one that resolves no bits).
    MissingCapability { bits_left: u8 },
    /// A CNode needs `bits_found` bits (guard and radix) but only `bits_left` are left.
    DepthMismatch { bits_found: u8, bits_left: u8 },
    /// The bits before the index do not match the guard: the CNode's guard is
    /// `guard_found`, of `guard_bits` bits, met with `bits_left` bits left.
    GuardMismatch { bits_left: u8, guard_found: u64, guard_bits: u8 },
}

/// The slot that `depth` bits of `cptr` name, starting at the CNode capability `root`.
///
/// Small enough to inline into every lookup: the common case, a root that resolves all
/// `depth` bits alone, is answered here (no depth check needed: a matching guard and
/// radix take between 1 and 64 bits), and everything else goes to the general walk.
#[inline]
pub fn resolve<S: SlotStore>(
    store: &S,
    root: &Capability,
    cptr: u64,
    depth: u8,
) -> Result<S::Slot, LookupError> {
    if let Some(index) = cnode_params(root).and_then(|node| single_level_index(node, cptr, depth)) {
        return Ok(store.cnode_slot(root, index));
    }
    walk(store, root, cptr, depth)
}

/// [`resolve`] level by level, with every check and error.
#[inline(never)]
fn walk<S: SlotStore>(
    store: &S,
    root: &Capability,
    cptr: u64,
    depth: u8,
) -> Result<S::Slot, LookupError> {
    if depth == 0 || depth > 64 {
        return Err(LookupError::BadDepth);
    }
    let mut node = cnode_params(root).ok_or(LookupError::InvalidRoot)?;
    let mut cnode = *root;
    let mut bits_left = depth;
    loop {
        let (radix_bits, guard, guard_bits) = node;
        let level_bits = radix_bits + guard_bits;
        if guard_bits > bits_left {
            return Err(LookupError::DepthMismatch { bits_found: level_bits, bits_left });
        }
        if take_bits(cptr, bits_left, guard_bits) != guard {
            return Err(LookupError::GuardMismatch { bits_left, guard_found: guard, guard_bits });
        }
        if level_bits > bits_left {
            return Err(LookupError::DepthMismatch { bits_found: level_bits, bits_left });
        }
        let index = take_bits(cptr, bits_left - guard_bits, radix_bits);
        let slot = store.cnode_slot(&cnode, index);
        bits_left -= level_bits;
        if bits_left == 0 {
            return Ok(slot);
        }
        cnode = store.cap(slot);
        node = cnode_params(&cnode).ok_or(LookupError::MissingCapability { bits_left })?;
    }
}

/// The capability in the slot that [`resolve`] finds.
pub fn resolve_cap<S: SlotStore>(
    store: &S,
    root: &Capability,
    cptr: u64,
    depth: u8,
) -> Result<Capability, LookupError> {
    resolve(store, root, cptr, depth).map(|slot| store.cap(slot))
}

/// Radix, guard and guard size of a CNode capability that resolves at least one bit and
/// no more than 64: the lookup must make progress at every level, and every guard it
/// compares must be representable.
#[inline]
fn cnode_params(cap: &Capability) -> Option<(u8, u64, u8)> {
    match *cap {
        Capability::CNode { radix_bits, guard, guard_bits, .. }
            if radix_bits > 0 && u32::from(radix_bits) + u32::from(guard_bits) <= 64 =>
        {
            Some((radix_bits, guard, guard_bits))
        }
        _ => None,
    }
}

/// The slot index in the root when its guard and radix take exactly `depth` bits and the
/// guard matches: the one-CNode CSpace every thread has, resolved without the walk's
/// bookkeeping. `None` leaves every other lookup, and every failure, to the walk.
#[inline]
fn single_level_index(
    (radix_bits, guard, guard_bits): (u8, u64, u8),
    cptr: u64,
    depth: u8,
) -> Option<u64> {
    if radix_bits + guard_bits != depth {
        return None;
    }
    let found_guard = cptr.checked_shr(u32::from(radix_bits)).unwrap_or(0) & low_bits(guard_bits);
    (found_guard == guard).then_some(cptr & low_bits(radix_bits))
}

/// A mask of the low `count` bits, for `count` up to 64.
fn low_bits(count: u8) -> u64 {
    u64::MAX.checked_shr(u32::from(u64::BITS as u8 - count)).unwrap_or(0)
}

/// The `count` bits of `cptr` just below bit `top` (exclusive), as a number.
fn take_bits(cptr: u64, top: u8, count: u8) -> u64 {
    let shifted = cptr.checked_shr(u32::from(top - count)).unwrap_or(0);
    let mask = 1u64.checked_shl(u32::from(count)).map_or(u64::MAX, |bit| bit - 1);
    shifted & mask
}

#[cfg(test)]
#[allow(
    clippy::unusual_byte_groupings,
    reason = "capability pointers are grouped by guard and radix fields"
)]
mod tests {
    use super::*;
    use crate::cap::mdb::SlotStore;
    use crate::cap::test_store::TestStore;

    const ROOT_OBJECT: u64 = 0x10_0000;
    const INNER_OBJECT: u64 = 0x20_0000;
    const TCB: Capability = Capability::Tcb { object: 0x30_0000 };

    fn cnode(object: u64, radix_bits: u8, guard: u64, guard_bits: u8) -> Capability {
        Capability::CNode { object, radix_bits, guard, guard_bits }
    }

    /// The module documentation's example: a root with guard `10` and radix 4, whose slot 3
    /// holds a CNode of radix 8 with a TCB capability in slot 5.
    fn two_levels() -> (TestStore, Capability, Capability) {
        let mut store = TestStore::new();
        let root = cnode(ROOT_OBJECT, 4, 0b10, 2);
        let inner = cnode(INNER_OBJECT, 8, 0, 0);
        store.set_cap(store.cnode_slot(&root, 3), inner);
        store.set_cap(store.cnode_slot(&inner, 5), TCB);
        (store, root, inner)
    }

    #[test]
    fn the_documented_example_resolves() {
        let (store, root, inner) = two_levels();
        let cptr = 0b10_0011_0000_0101;
        assert_eq!(resolve(&store, &root, cptr, 14), Ok(INNER_OBJECT + 5 * 64));
        assert_eq!(resolve_cap(&store, &root, cptr, 14), Ok(TCB));
        assert_eq!(resolve(&store, &root, cptr >> 8, 6), Ok(ROOT_OBJECT + 3 * 64));
        assert_eq!(resolve_cap(&store, &root, cptr >> 8, 6), Ok(inner));
    }

    #[test]
    fn bits_above_the_depth_are_ignored() {
        let (store, root, _) = two_levels();
        let cptr = 0b10_0011_0000_0101 | (0xdead << 14);
        assert_eq!(resolve_cap(&store, &root, cptr, 14), Ok(TCB));
    }

    #[test]
    fn depth_must_be_between_1_and_64() {
        let (store, root, _) = two_levels();
        assert_eq!(resolve(&store, &root, 0, 0), Err(LookupError::BadDepth));
        assert_eq!(resolve(&store, &root, 0, 65), Err(LookupError::BadDepth));
    }

    #[test]
    fn the_root_must_be_a_cnode_that_resolves_bits() {
        let store = TestStore::new();
        for root in
            [Capability::Null, TCB, cnode(ROOT_OBJECT, 0, 0, 3), cnode(ROOT_OBJECT, 8, 0, 57)]
        {
            assert_eq!(resolve(&store, &root, 0, 8), Err(LookupError::InvalidRoot), "{root:?}");
        }
    }

    #[test]
    fn a_single_level_without_guard() {
        let store = TestStore::new();
        let root = cnode(ROOT_OBJECT, 8, 0, 0);
        assert_eq!(resolve(&store, &root, 0xff, 8), Ok(ROOT_OBJECT + 255 * 64));
        assert_eq!(resolve(&store, &root, 0, 8), Ok(ROOT_OBJECT));
    }

    #[test]
    fn a_wrong_guard_is_a_guard_mismatch() {
        let (store, root, _) = two_levels();
        assert_eq!(
            resolve(&store, &root, 0b11_0011, 6),
            Err(LookupError::GuardMismatch { bits_left: 6, guard_found: 0b10, guard_bits: 2 })
        );
        let guarded_inner = cnode(INNER_OBJECT, 8, 0b1, 1);
        let mut store = store;
        store.set_cap(store.cnode_slot(&root, 3), guarded_inner);
        assert_eq!(
            resolve(&store, &root, 0b10_0011_0_0000_0101, 15),
            Err(LookupError::GuardMismatch { bits_left: 9, guard_found: 1, guard_bits: 1 })
        );
        assert_eq!(resolve_cap(&store, &root, 0b10_0011_1_0000_0101, 15), Ok(TCB));
    }

    #[test]
    fn running_out_of_bits_is_a_depth_mismatch() {
        let (store, root, _) = two_levels();
        // Inside the root's radix.
        assert_eq!(
            resolve(&store, &root, 0b10_001, 5),
            Err(LookupError::DepthMismatch { bits_found: 6, bits_left: 5 })
        );
        // Inside the root's guard.
        assert_eq!(
            resolve(&store, &root, 0b1, 1),
            Err(LookupError::DepthMismatch { bits_found: 6, bits_left: 1 })
        );
        // Inside the second level's radix.
        assert_eq!(
            resolve(&store, &root, 0b10_0011_0000, 10),
            Err(LookupError::DepthMismatch { bits_found: 8, bits_left: 4 })
        );
    }

    #[test]
    fn bits_left_at_a_slot_without_a_cnode_is_a_missing_capability() {
        let (store, root, _) = two_levels();
        // Slot 4 of the root is empty.
        assert_eq!(
            resolve(&store, &root, 0b10_0100_0000_0000, 14),
            Err(LookupError::MissingCapability { bits_left: 8 })
        );
        // Slot 5 of the second level holds a TCB.
        assert_eq!(
            resolve(&store, &root, 0b10_0011_0000_0101_1, 15),
            Err(LookupError::MissingCapability { bits_left: 1 })
        );
        // A CNode capability that resolves no bits cannot be walked through.
        let mut store = store;
        store.set_cap(store.cnode_slot(&root, 4), cnode(INNER_OBJECT, 0, 0, 0));
        assert_eq!(
            resolve(&store, &root, 0b10_0100_0, 7),
            Err(LookupError::MissingCapability { bits_left: 1 })
        );
    }

    #[test]
    fn all_64_bits_through_a_long_guard() {
        let mut store = TestStore::new();
        let guard = 0x00ab_cdef_0123_4567;
        let root = cnode(ROOT_OBJECT, 8, guard, 56);
        store.set_cap(ROOT_OBJECT + 0x42 * 64, TCB);
        assert_eq!(resolve_cap(&store, &root, (guard << 8) | 0x42, 64), Ok(TCB));
        assert!(matches!(
            resolve(&store, &root, 0x42, 64),
            Err(LookupError::GuardMismatch { bits_left: 64, guard_bits: 56, .. })
        ));
    }

    #[test]
    fn one_level_ignores_the_bits_above_the_depth_and_checks_the_guard() {
        let (store, root, inner) = two_levels();
        let junk = 0xdead << 6;
        assert_eq!(resolve_cap(&store, &root, 0b10_0011 | junk, 6), Ok(inner));
        assert_eq!(
            resolve(&store, &root, 0b01_0011 | junk, 6),
            Err(LookupError::GuardMismatch { bits_left: 6, guard_found: 0b10, guard_bits: 2 })
        );
    }

    #[test]
    fn one_level_of_all_but_one_bit_of_radix() {
        let mut store = TestStore::new();
        let root = cnode(ROOT_OBJECT, 63, 1, 1);
        store.set_cap(ROOT_OBJECT + 0x42 * 64, TCB);
        assert_eq!(resolve_cap(&store, &root, (1 << 63) | 0x42, 64), Ok(TCB));
        assert_eq!(
            resolve(&store, &root, 0x42, 64),
            Err(LookupError::GuardMismatch { bits_left: 64, guard_found: 1, guard_bits: 1 })
        );
        assert_eq!(
            resolve(&store, &root, (1 << 62) | 0x42, 63),
            Err(LookupError::DepthMismatch { bits_found: 64, bits_left: 63 })
        );
    }

    #[test]
    fn three_levels_with_guards_at_each() {
        let mut store = TestStore::new();
        let root = cnode(ROOT_OBJECT, 2, 0b1, 1);
        let middle = cnode(INNER_OBJECT, 3, 0b01, 2);
        let leaf = cnode(0x40_0000, 1, 0b111, 3);
        store.set_cap(store.cnode_slot(&root, 2), middle);
        store.set_cap(store.cnode_slot(&middle, 6), leaf);
        store.set_cap(store.cnode_slot(&leaf, 1), TCB);
        // 1 10 | 01 110 | 111 1
        let cptr = 0b1_10_01_110_111_1;
        assert_eq!(resolve_cap(&store, &root, cptr, 12), Ok(TCB));
        assert_eq!(resolve_cap(&store, &root, cptr >> 4, 8), Ok(leaf));
        assert_eq!(resolve_cap(&store, &root, cptr >> 9, 3), Ok(middle));
    }
}
