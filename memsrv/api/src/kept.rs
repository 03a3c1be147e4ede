//! Frames a client gave back but asked memsrv to keep for it: the memory server's
//! counterpart of Linux's per-CPU page lists and of `MADV_FREE`.
//!
//! A 4 KiB frame freed with *keep* stays the client's: memsrv neither revokes it (the
//! client's capability stays where it was) nor zeroes it, and the client's next allocation
//! of that sensitivity gets it back, newest first, with no capability to move and nothing
//! for the kernel to do. memsrv takes kept frames back, oldest first, when it needs them:
//! for the client's own quota, for memory it is out of, or when the client is reclaimed.
//! Only then are they revoked, and only a later retype (which zeroes) gives their memory to
//! anyone else, so a kept frame never carries one client's data to another.
//!
//! A client mirrors its lists ([`Kept::counts`] comes with every answer): since memsrv
//! keeps and reuses at the newest end and takes back at the oldest, memsrv's list is
//! always the newest `count` entries of the client's, and the client drops the rest.

use heapless::Deque;

use crate::Sensitivity;

/// The most frames memsrv keeps for one client, per sensitivity.
pub const KEPT_PER_SENSITIVITY: usize = 16;

/// One client's kept frames, by sensitivity: the slots of their records, oldest first.
#[derive(Clone, Debug)]
pub struct Kept {
    lists: [Deque<u16, KEPT_PER_SENSITIVITY>; 2],
    /// The lists' lengths, as every answer carries them: kept apart, since a `Deque`
    /// works its length out from its ends each time.
    counts: [u8; 2],
}

impl Kept {
    pub const EMPTY: Self = Self { lists: [Deque::new(), Deque::new()], counts: [0; 2] };

    /// Keeps the frame in `slot`; `false` (and nothing kept) if the list is full.
    pub fn keep(&mut self, sensitivity: Sensitivity, slot: u16) -> bool {
        let list = sensitivity.index();
        let kept = self.lists[list].push_back(slot).is_ok();
        self.counts[list] += u8::from(kept);
        kept
    }

    /// The newest frame kept of `sensitivity`, no longer kept.
    pub fn reuse(&mut self, sensitivity: Sensitivity) -> Option<u16> {
        let list = sensitivity.index();
        let slot = self.lists[list].pop_back()?;
        self.counts[list] -= 1;
        Some(slot)
    }

    /// The oldest frame kept of either sensitivity, no longer kept: the next to take back.
    pub fn take_oldest(&mut self) -> Option<u16> {
        let list = if self.counts[0] >= self.counts[1] { 0 } else { 1 };
        let slot = self.lists[list].pop_front()?;
        self.counts[list] -= 1;
        Some(slot)
    }

    /// Frames kept, sensitive then nonsensitive.
    pub fn counts(&self) -> [u8; 2] {
        self.counts
    }

    /// Frames kept of both sensitivities.
    pub fn len(&self) -> usize {
        usize::from(self.counts[0]) + usize::from(self.counts[1])
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
    list: Deque<T, N>,
}

impl<T: Copy + PartialEq, const N: usize> Mirror<T, N> {
    pub const EMPTY: Self = Self { list: Deque::new() };

    /// Whether another frame fits: a client asks memsrv to keep a frame only then.
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

    /// memsrv kept `entry`.
    pub fn kept(&mut self, entry: T) -> Result<(), T> {
        self.list.push_back(entry)
    }

    /// memsrv gave back the newest entry, which `matches` must accept; `None` if it is
    /// not the newest (memsrv and the mirror disagree).
    pub fn reused(&mut self, matches: impl Fn(&T) -> bool) -> Option<T> {
        self.list.back().filter(|entry| matches(entry))?;
        self.list.pop_back()
    }

    /// memsrv says it keeps `count` of them: the older ones, which memsrv took back, go
    /// to `taken` (their capabilities are gone).
    pub fn reconcile(&mut self, count: u8, mut taken: impl FnMut(T)) {
        while self.list.len() > usize::from(count) {
            if let Some(entry) = self.list.pop_front() {
                taken(entry);
            }
        }
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
            let mut mirror: Mirror<u16, KEPT_PER_SENSITIVITY> = Mirror::EMPTY;
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
                let server_list: Vec<_> = server.lists[1].iter().copied().collect();
                let mirror_list: Vec<_> = mirror.list.iter().copied().collect();
                assert_eq!(server_list, mirror_list);
            }
            assert_eq!(taken_back, server_taken);
        }
    }

    #[test]
    fn a_reuse_memsrv_and_the_mirror_disagree_on_changes_nothing() {
        let mut mirror: Mirror<u16, 4> = Mirror::EMPTY;
        mirror.kept(1).unwrap();
        mirror.kept(2).unwrap();
        assert_eq!(mirror.reused(|&entry| entry == 1), None);
        assert_eq!(mirror.len(), 2);
        assert_eq!(mirror.reused(|&entry| entry == 2), Some(2));
    }
}
