//! Frames a client gave back but asked memsrv to keep for it: the memory server's
//! counterpart of Linux's per-CPU page lists and of `MADV_FREE`.
//!
//! A 4 KiB frame freed with *keep* stays the client's: memsrv neither revokes it (the
//! client's capability stays where it was) nor zeroes it, and the client's next
//! [`Request::Reuse`](crate::Request::Reuse) of that sensitivity gets it back, newest
//! first, with no capability to move and nothing for the kernel to do. memsrv takes kept frames back, oldest first, when it needs them:
//! for the client's own quota, for memory it is out of, or when the client is reclaimed.
//! Only then are they revoked, and only a later retype (which zeroes) gives their memory to
//! anyone else, so a kept frame never carries one client's data to another.
//!
//! A client mirrors its lists ([`Kept::counts`] comes with every answer): since memsrv
//! keeps and reuses at the newest end and takes back at the oldest, memsrv's list is
//! always the newest `count` entries of the client's, and the client drops the rest. A
//! reuse refused with [`Error::NothingKept`](crate::Error::NothingKept) says the count of
//! that sensitivity is 0.

use crate::Sensitivity;

/// The most frames memsrv keeps for one client, per sensitivity.
pub const KEPT_PER_SENSITIVITY: usize = 16;

/// One client's kept frames, by sensitivity: the slots of their records, oldest first.
#[derive(Clone, Debug)]
pub struct Kept {
    lists: [Ring<u16, KEPT_PER_SENSITIVITY>; 2],
}

impl Kept {
    pub const EMPTY: Self = Self { lists: [Ring::new(0), Ring::new(0)] };

    /// Keeps the frame in `slot`; `false` (and nothing kept) if the list is full.
    #[inline]
    pub fn keep(&mut self, sensitivity: Sensitivity, slot: u16) -> bool {
        self.lists[sensitivity.index()].push_newest(slot).is_ok()
    }

    /// The newest frame kept of `sensitivity`: the next to reuse.
    #[inline]
    pub fn newest(&self, sensitivity: Sensitivity) -> Option<u16> {
        self.lists[sensitivity.index()].newest()
    }

    /// The newest frame kept of `sensitivity`, no longer kept.
    #[inline]
    pub fn reuse(&mut self, sensitivity: Sensitivity) -> Option<u16> {
        self.lists[sensitivity.index()].pop_newest()
    }

    /// The oldest frame kept of either sensitivity, no longer kept: the next to take back.
    pub fn take_oldest(&mut self) -> Option<u16> {
        let [sensitive, nonsensitive] = &mut self.lists;
        let list = if sensitive.len() >= nonsensitive.len() { sensitive } else { nonsensitive };
        list.pop_oldest()
    }

    /// Frames kept, sensitive then nonsensitive.
    #[inline]
    pub fn counts(&self) -> [u8; 2] {
        self.lists.each_ref().map(|list| list.len() as u8)
    }

    /// Frames kept of both sensitivities.
    pub fn len(&self) -> usize {
        self.lists[0].len() + self.lists[1].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const _: () = assert!(KEPT_PER_SENSITIVITY <= u8::MAX as usize);

/// A client's mirror of one of its lists: what it kept (`T`: a handle, a slot, an
/// address), oldest first.
#[derive(Clone, Debug)]
pub struct Mirror<T, const N: usize> {
    list: Ring<T, N>,
}

impl<T: Copy + PartialEq, const N: usize> Mirror<T, N> {
    /// An empty mirror; `fill` is never read, but the ring's storage needs a value.
    pub const fn new(fill: T) -> Self {
        Self { list: Ring::new(fill) }
    }

    /// Whether another frame fits: a client asks memsrv to keep a frame only then.
    #[inline]
    pub fn has_room(&self) -> bool {
        !self.list.is_full()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The newest entry: what a reuse should give back.
    #[inline]
    pub fn newest(&self) -> Option<T> {
        self.list.newest()
    }

    /// memsrv kept `entry`.
    #[inline]
    pub fn kept(&mut self, entry: T) -> Result<(), T> {
        self.list.push_newest(entry)
    }

    /// memsrv gave back the newest entry, which `matches` must accept; `None` if it is
    /// not the newest (memsrv and the mirror disagree).
    #[inline]
    pub fn reused(&mut self, matches: impl Fn(&T) -> bool) -> Option<T> {
        self.list.newest().filter(|entry| matches(entry))?;
        self.list.pop_newest()
    }

    /// memsrv says it keeps `count` of them: the older ones, which memsrv took back, go
    /// to `taken` (their capabilities are gone).
    pub fn reconcile(&mut self, count: u8, mut taken: impl FnMut(T)) {
        while self.list.len() > usize::from(count) {
            if let Some(entry) = self.list.pop_oldest() {
                taken(entry);
            }
        }
    }
}

/// At most `N` entries (a power of two, at most 128), oldest first, in a ring: added and
/// taken at the newest end, taken at the oldest. Each operation is a few instructions, for
/// memsrv's and its clients' hot paths.
#[derive(Clone, Copy, Debug)]
pub struct Ring<T, const N: usize> {
    entries: [T; N],
    oldest: u8,
    len: u8,
}

impl<T: Copy, const N: usize> Ring<T, N> {
    const MASK: usize = {
        assert!(N.is_power_of_two() && N <= 128);
        N - 1
    };

    /// An empty ring; `fill` is never read.
    pub const fn new(fill: T) -> Self {
        Self { entries: [fill; N], oldest: 0, len: 0 }
    }

    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub const fn is_full(&self) -> bool {
        self.len() == N
    }

    /// Adds `entry` as the newest; `Err(entry)` if the ring is full.
    #[inline]
    pub fn push_newest(&mut self, entry: T) -> Result<(), T> {
        if self.is_full() {
            return Err(entry);
        }
        self.entries[(usize::from(self.oldest) + self.len()) & Self::MASK] = entry;
        self.len += 1;
        Ok(())
    }

    #[inline]
    pub fn newest(&self) -> Option<T> {
        let last = self.len().checked_sub(1)?;
        Some(self.entries[(usize::from(self.oldest) + last) & Self::MASK])
    }

    #[inline]
    pub fn pop_newest(&mut self) -> Option<T> {
        let newest = self.newest()?;
        self.len -= 1;
        Some(newest)
    }

    pub fn pop_oldest(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let oldest = self.entries[usize::from(self.oldest) & Self::MASK];
        self.oldest = ((usize::from(self.oldest) + 1) & Self::MASK) as u8;
        self.len -= 1;
        Some(oldest)
    }

    /// The entries, oldest first.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len()).map(|index| self.entries[(usize::from(self.oldest) + index) & Self::MASK])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// xorshift64, so that the random sequences repeat exactly.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }
    }

    const S: Sensitivity = Sensitivity::Sensitive;
    const N: Sensitivity = Sensitivity::Nonsensitive;

    #[test]
    fn reuse_is_newest_first_per_sensitivity() {
        let mut kept = Kept::EMPTY;
        assert!(kept.keep(S, 1) && kept.keep(N, 2) && kept.keep(S, 3));
        assert_eq!(kept.counts(), [2, 1]);
        assert_eq!(kept.reuse(S), Some(3));
        assert_eq!(kept.reuse(N), Some(2));
        assert_eq!(kept.reuse(N), None);
        assert_eq!(kept.reuse(S), Some(1));
        assert!(kept.is_empty());
    }

    #[test]
    fn a_full_list_keeps_nothing_more() {
        let mut kept = Kept::EMPTY;
        for slot in 0..KEPT_PER_SENSITIVITY as u16 {
            assert!(kept.keep(N, slot));
        }
        assert!(!kept.keep(N, 99));
        assert!(kept.keep(S, 99), "the other sensitivity has its own list");
        assert_eq!(kept.counts(), [1, KEPT_PER_SENSITIVITY as u8]);
    }

    #[test]
    fn taking_back_is_oldest_first_from_the_longer_list() {
        let mut kept = Kept::EMPTY;
        for slot in [10, 11, 12] {
            kept.keep(N, slot);
        }
        kept.keep(S, 20);
        assert_eq!(kept.take_oldest(), Some(10));
        assert_eq!(kept.take_oldest(), Some(11));
        assert_eq!(kept.take_oldest(), Some(20));
        assert_eq!(kept.take_oldest(), Some(12));
        assert_eq!(kept.take_oldest(), None);
    }

    /// memsrv's list and a client's mirror under random keeps, reuses and take-backs:
    /// after every answer the mirror, reconciled, equals memsrv's list, and every entry
    /// memsrv took back reaches the client exactly once.
    #[test]
    fn a_reconciled_mirror_always_equals_memsrvs_list() {
        let mut rng = Rng(0x6b65_7074);
        for _ in 0..200 {
            let mut server = Kept::EMPTY;
            let mut mirror: Mirror<u16, KEPT_PER_SENSITIVITY> = Mirror::new(0);
            let (mut next, mut held, mut taken_back) = (0u16, Vec::new(), Vec::new());
            let mut server_taken = Vec::new();
            for _ in 0..300 {
                match rng.below(4) {
                    // The client frees a frame it holds, asking to keep it if it has room.
                    0 | 1 => {
                        let slot = held.pop().unwrap_or_else(|| {
                            next += 1;
                            next
                        });
                        if mirror.has_room() && server.keep(N, slot) {
                            mirror.kept(slot).unwrap();
                        }
                    }
                    // The client allocates, reusing its newest kept frame if memsrv has one.
                    2 => {
                        if let Some(slot) = server.reuse(N) {
                            assert_eq!(mirror.reused(|&entry| entry == slot), Some(slot));
                            held.push(slot);
                        }
                    }
                    // memsrv takes back its oldest kept frame, telling no one yet.
                    _ => server_taken.extend(server.take_oldest()),
                }
                mirror.reconcile(server.counts()[1], |slot| taken_back.push(slot));
                let server_list: Vec<_> = server.lists[1].iter().collect();
                let mirror_list: Vec<_> = mirror.list.iter().collect();
                assert_eq!(server_list, mirror_list);
            }
            assert_eq!(taken_back, server_taken);
        }
    }

    /// A ring against a `VecDeque` under random pushes and pops at both ends, wrapping
    /// around many times.
    #[test]
    fn a_ring_is_a_bounded_deque() {
        let mut rng = Rng(0x7269_6e67);
        let mut ring: Ring<u32, 8> = Ring::new(0);
        let mut model = std::collections::VecDeque::new();
        for step in 0..20_000u32 {
            match rng.below(3) {
                0 => {
                    let pushed = ring.push_newest(step);
                    assert_eq!(pushed.is_ok(), model.len() < 8);
                    if pushed.is_ok() {
                        model.push_back(step);
                    }
                }
                1 => assert_eq!(ring.pop_newest(), model.pop_back()),
                _ => assert_eq!(ring.pop_oldest(), model.pop_front()),
            }
            assert_eq!(ring.len(), model.len());
            assert_eq!(ring.newest(), model.back().copied());
            assert!(ring.iter().eq(model.iter().copied()));
        }
    }

    #[test]
    fn a_reuse_memsrv_and_the_mirror_disagree_on_changes_nothing() {
        let mut mirror: Mirror<u16, 4> = Mirror::new(0);
        mirror.kept(1).unwrap();
        mirror.kept(2).unwrap();
        assert_eq!(mirror.reused(|&entry| entry == 1), None);
        assert_eq!(mirror.len(), 2);
        assert_eq!(mirror.reused(|&entry| entry == 2), Some(2));
    }
}
