//! PCID pairs: which process-context identifier a CPU gives each table it loads into CR3,
//! and whether the load may keep what the TLB holds for that identifier.
//!
//! Every address space has two top-level tables, restricted and unrestricted, which share
//! the user half; so does the kernel. Where the CPU has PCIDs each CPU keeps [`PAIRS`]
//! pairs of identifiers: pair `p` is PCIDs `2p` (the restricted table) and `2p + 1` (the
//! unrestricted one). Pair 0 belongs to the kernel's own tables for good (PCID 0 is what
//! CR3 holds when CR4.PCIDE is set, which the CPU demands); the others go to address
//! spaces as they are loaded, the least recently assigned one reused when all are taken.
//! A pair is keyed by the restricted table's address, which stays an address space's for
//! its whole life, so no identifier has to reach the context-switch path; the address is
//! forgotten when the address space is destroyed ([`PcidCache::forget`]), before its
//! memory can become another one. A per-CPU set of a few pairs (as Linux keeps six) is
//! all the TLB can use anyway, and it takes no fold or overflow rule: 4096 address spaces
//! cannot run out of 4096 identifiers.
//!
//! Each identifier of a pair is *fresh* while the TLB can hold, under it, only current
//! translations of its table: then a load keeps them (CR3 bit 63, [`CR3_NO_FLUSH`]).
//! Otherwise the load flushes that identifier, and it is fresh again. An identifier stops
//! being fresh when its pair is given to another address space, when a user mapping of
//! its address space goes (`invlpg` reaches only the current PCID: the caller flushes
//! that one, every other one of the address space goes stale), and for a restricted table
//! when a pageblock leaves the restricted window (the same, for every pair). Stale
//! identifiers are not flushed at once: none of them can be used before it is loaded
//! again, and that load flushes it. This needs nothing beyond PCID from the CPU (no
//! INVPCID) and costs what a flush of every identifier would: each one refills once.
//!
//! The cache is per CPU and only its own CPU changes it, with interrupts off; atomics
//! (relaxed: plain moves) let it live in a shared static without `unsafe`.

use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// CR3 bit 63 on a load with CR4.PCIDE set: keep the TLB entries of the new PCID.
pub const CR3_NO_FLUSH: u64 = 1 << 63;
/// CR3 bits 0..12 with CR4.PCIDE set: the PCID.
const CR3_PCID: u64 = 0xfff;
/// CR3 bits 12..52: the top-level table's physical address.
const CR3_TABLE: u64 = 0x000f_ffff_ffff_f000;

/// How many pairs of PCIDs a CPU uses: one for the kernel's tables, the rest for
/// address spaces.
pub const PAIRS: usize = 8;
/// The pair that the kernel's own tables keep.
const KERNEL_PAIR: usize = 0;

/// Which table of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Restricted = 0,
    Unrestricted = 1,
}

impl Half {
    /// The half's bit in a pair's fresh bits.
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// How to load a table into CR3: under which PCID, and whether its TLB entries stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub pcid: u16,
    pub keep: bool,
}

impl Load {
    /// The CR3 value that loads the table at `table` (4 KiB aligned) this way.
    pub const fn cr3(self, table: u64) -> u64 {
        table | self.pcid as u64 | if self.keep { CR3_NO_FLUSH } else { 0 }
    }
}

/// The table address in a CR3 value.
pub const fn table_of(cr3: u64) -> u64 {
    cr3 & CR3_TABLE
}

/// The PCID in a CR3 value (0 when CR4.PCIDE is clear and the kernel sets no flag bits).
pub const fn pcid_of(cr3: u64) -> u16 {
    (cr3 & CR3_PCID) as u16
}

/// The PCID of `half` of pair `pair`.
const fn pcid(pair: usize, half: Half) -> u16 {
    (2 * pair) as u16 + half as u16
}

/// One CPU's pairs: whose restricted table each holds, and which of its two PCIDs are
/// fresh.
#[derive(Debug)]
pub struct PcidCache {
    /// The restricted table each pair belongs to; 0 for none (frame 0 is never a table).
    roots: [AtomicU64; PAIRS],
    /// Per pair, the [`Half::bit`]s of its fresh PCIDs.
    fresh: [AtomicU8; PAIRS],
    /// The address-space pair assigned least recently, the next to be reused.
    next: AtomicUsize,
}

impl Default for PcidCache {
    fn default() -> Self {
        Self::new()
    }
}

impl PcidCache {
    pub const fn new() -> Self {
        Self {
            roots: [const { AtomicU64::new(0) }; PAIRS],
            fresh: [const { AtomicU8::new(0) }; PAIRS],
            next: AtomicUsize::new(KERNEL_PAIR + 1),
        }
    }

    /// Gives pair 0 to the kernel's tables (`kernel_root` is its restricted one), neither
    /// PCID fresh: what the TLB held when PCIDs came on is not vouched for.
    pub fn pin_kernel(&self, kernel_root: u64) {
        self.roots[KERNEL_PAIR].store(kernel_root, Relaxed);
        self.fresh[KERNEL_PAIR].store(0, Relaxed);
    }

    fn pair_of(&self, root: u64) -> Option<usize> {
        self.roots.iter().position(|pair| pair.load(Relaxed) == root)
    }

    /// How to load `half` of the pair whose restricted table is at `root`, assigning it a
    /// pair if it has none on this CPU; the PCID is fresh once loaded.
    pub fn load(&self, root: u64, half: Half) -> Load {
        let pair = self.pair_of(root).unwrap_or_else(|| {
            let pair = self.next.load(Relaxed);
            self.next.store(if pair + 1 == PAIRS { KERNEL_PAIR + 1 } else { pair + 1 }, Relaxed);
            self.roots[pair].store(root, Relaxed);
            self.fresh[pair].store(0, Relaxed);
            pair
        });
        self.take(pair, half)
    }

    /// How to load the other table of the pair that PCID `current` belongs to (an ASI
    /// exit or re-entry). A PCID that no pair has (none is ever loaded) gets its twin
    /// flushed.
    pub fn twin(&self, current: u16) -> Load {
        let pair = usize::from(current / 2);
        if pair >= PAIRS {
            return Load { pcid: current ^ 1, keep: false };
        }
        let half = if current.is_multiple_of(2) { Half::Unrestricted } else { Half::Restricted };
        self.take(pair, half)
    }

    fn take(&self, pair: usize, half: Half) -> Load {
        let fresh = self.fresh[pair].load(Relaxed);
        self.fresh[pair].store(fresh | half.bit(), Relaxed);
        Load { pcid: pcid(pair, half), keep: fresh & half.bit() != 0 }
    }

    /// A user mapping of the address space at `root` is gone: CR3 holds PCID `current`,
    /// whose entry for it the caller flushes; every other PCID of `root` goes stale.
    pub fn user_mapping_removed(&self, root: u64, current: u16) {
        if let Some(pair) = self.pair_of(root) {
            self.fresh[pair].fetch_and(self.current_bits(pair, current), Relaxed);
        }
    }

    /// A pageblock left the restricted window, which every restricted table maps: CR3
    /// holds PCID `current`, whose entry for it the caller flushes; every other
    /// restricted PCID goes stale.
    pub fn window_entry_removed(&self, current: u16) {
        for pair in 0..PAIRS {
            let kept = self.current_bits(pair, current) | Half::Unrestricted.bit();
            self.fresh[pair].fetch_and(kept, Relaxed);
        }
    }

    /// The fresh bit PCID `current` has in `pair`'s bits, if it is one of the pair's.
    fn current_bits(&self, pair: usize, current: u16) -> u8 {
        match current.checked_sub(pcid(pair, Half::Restricted)) {
            Some(0) => Half::Restricted.bit(),
            Some(1) => Half::Unrestricted.bit(),
            _ => 0,
        }
    }

    /// The address space at `root` is destroyed (and not in CR3): its pair, if it has one
    /// here, is free, and flushed when next given out.
    pub fn forget(&self, root: u64) {
        if let Some(pair) = self.pair_of(root).filter(|&pair| pair != KERNEL_PAIR) {
            self.roots[pair].store(0, Relaxed);
            self.fresh[pair].store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: u64 = 0x10_0000;
    const SPACE: u64 = 0x20_0000;
    const OTHER: u64 = 0x30_2000;

    fn cache() -> PcidCache {
        let cache = PcidCache::new();
        cache.pin_kernel(KERNEL);
        cache
    }

    fn flush(pcid: u16) -> Load {
        Load { pcid, keep: false }
    }

    fn keep(pcid: u16) -> Load {
        Load { pcid, keep: true }
    }

    #[test]
    fn cr3_values_compose_and_split() {
        assert_eq!(keep(3).cr3(0x1234_5000), 0x8000_0000_1234_5003);
        assert_eq!(flush(0xfff).cr3(0x000f_ffff_ffff_f000), 0x000f_ffff_ffff_ffff);
        assert_eq!(table_of(0x8000_0000_1234_5003), 0x1234_5000);
        assert_eq!(pcid_of(0x1234_5ffe), 0xffe);
        assert_eq!((table_of(SPACE), pcid_of(SPACE)), (SPACE, 0));
    }

    #[test]
    fn the_kernel_keeps_pair_zero() {
        let cache = cache();
        assert_eq!(cache.load(KERNEL, Half::Restricted), flush(0));
        assert_eq!(cache.load(KERNEL, Half::Restricted), keep(0));
        assert_eq!(cache.load(KERNEL, Half::Unrestricted), flush(1));
        for space in 1..3 * PAIRS as u64 {
            assert_ne!(cache.load(space << 13, Half::Restricted).pcid, 0);
        }
        assert_eq!(cache.load(KERNEL, Half::Restricted), keep(0));
        cache.forget(KERNEL);
        assert_eq!(cache.load(KERNEL, Half::Unrestricted), keep(1));
    }

    #[test]
    fn switches_keep_the_tlb_once_a_pcid_was_loaded() {
        let cache = cache();
        assert_eq!(cache.load(SPACE, Half::Restricted), flush(2));
        assert_eq!(cache.load(OTHER, Half::Restricted), flush(4));
        assert_eq!(cache.load(SPACE, Half::Restricted), keep(2));
        assert_eq!(cache.load(OTHER, Half::Restricted), keep(4));
    }

    #[test]
    fn asi_exit_and_reentry_switch_within_the_pair() {
        let cache = cache();
        assert_eq!(cache.load(SPACE, Half::Restricted), flush(2));
        assert_eq!(cache.twin(2), flush(3));
        assert_eq!(cache.twin(3), keep(2));
        assert_eq!(cache.twin(2), keep(3));
        assert_eq!(cache.twin(0), flush(1));
        assert_eq!(cache.twin(1), flush(0));
        assert_eq!(cache.twin(1), keep(0));
    }

    #[test]
    fn reusing_a_pair_flushes_both_its_pcids() {
        let cache = cache();
        let first = cache.load(SPACE, Half::Restricted);
        cache.twin(first.pcid);
        for space in 1..PAIRS as u64 - 1 {
            assert!(!cache.load(OTHER + (space << 13), Half::Restricted).keep);
        }
        assert_eq!(cache.load(SPACE + 0x1000_0000, Half::Restricted), flush(first.pcid));
        assert_eq!(cache.twin(first.pcid), flush(first.pcid + 1));
        assert_eq!(cache.load(SPACE, Half::Restricted), flush(4));
    }

    #[test]
    fn removing_a_user_mapping_leaves_only_the_current_pcid_fresh() {
        let cache = cache();
        cache.load(SPACE, Half::Restricted);
        cache.twin(2);
        cache.load(OTHER, Half::Restricted);
        cache.twin(4);
        cache.user_mapping_removed(SPACE, 3);
        assert_eq!(cache.twin(3), flush(2));
        assert_eq!(cache.twin(2), keep(3));
        cache.user_mapping_removed(SPACE, 2);
        assert_eq!(cache.twin(2), flush(3));
        cache.user_mapping_removed(SPACE, 4);
        assert_eq!(cache.load(SPACE, Half::Restricted), flush(2));
        assert_eq!(cache.twin(2), flush(3));
        assert_eq!(cache.load(OTHER, Half::Restricted), keep(4));
        assert_eq!(cache.twin(4), keep(5));
        cache.user_mapping_removed(0x7000_0000, 4);
        assert_eq!(cache.twin(5), keep(4));
    }

    #[test]
    fn leaving_the_window_stales_every_restricted_pcid_but_the_current() {
        let cache = cache();
        for (root, pcid) in [(KERNEL, 0), (SPACE, 2), (OTHER, 4)] {
            cache.load(root, Half::Restricted);
            cache.twin(pcid);
        }
        cache.window_entry_removed(4);
        assert_eq!(cache.load(OTHER, Half::Restricted), keep(4));
        assert_eq!(cache.twin(4), keep(5));
        assert_eq!(cache.load(SPACE, Half::Unrestricted), keep(3));
        assert_eq!(cache.twin(3), flush(2));
        assert_eq!(cache.load(KERNEL, Half::Unrestricted), keep(1));
        assert_eq!(cache.twin(1), flush(0));
        cache.window_entry_removed(1);
        assert_eq!(cache.load(KERNEL, Half::Restricted), flush(0));
        assert_eq!(cache.load(OTHER, Half::Unrestricted), keep(5));
    }

    #[test]
    fn a_destroyed_space_frees_its_pair_and_a_new_one_at_its_address_flushes() {
        let cache = cache();
        cache.load(SPACE, Half::Restricted);
        cache.twin(2);
        cache.load(OTHER, Half::Restricted);
        cache.forget(SPACE);
        cache.forget(0x7000_0000);
        assert_eq!(cache.load(OTHER, Half::Restricted), keep(4));
        let reborn = cache.load(SPACE, Half::Restricted);
        assert!(!reborn.keep);
        assert_eq!(cache.twin(reborn.pcid), flush(reborn.pcid + 1));
    }

    #[test]
    fn an_unknown_pcid_gets_its_twin_flushed() {
        let cache = cache();
        let last = 2 * PAIRS as u16;
        assert_eq!(cache.twin(last), flush(last + 1));
        assert_eq!(cache.twin(0xfff), flush(0xffe));
        assert_eq!(cache.load(KERNEL, Half::Restricted), flush(0));
    }

    #[test]
    fn pcids_stay_within_twelve_bits_and_pairs() {
        let cache = cache();
        for space in 1..100u64 {
            let load = cache.load(space << 13, Half::Restricted);
            assert_eq!(load.pcid % 2, 0);
            assert!(load.pcid >= 2 && usize::from(load.pcid) < 2 * PAIRS);
            assert_eq!(cache.twin(load.pcid).pcid, load.pcid + 1);
        }
    }
}
