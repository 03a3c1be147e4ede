//! The mixed workload of the `memsrv_mixed_flips` count, and the flips it forces.
//!
//! A deterministic sequence of exactly [`ALLOCATIONS`] 4 KiB allocations of both
//! sensitivities with frees interleaved, in rounds. Each round has a *burst* sensitivity,
//! sensitive and nonsensitive in turn, and the other one:
//!
//! 1. a steady set of [`STEADY`] frames of the other sensitivity is allocated (it lives
//!    through the round and is freed, at random, during the next round's build-up);
//! 2. build-up: frames of the burst sensitivity are allocated until [`BURST_PEAK`] of them
//!    are live, with random burst frames (one step in four) and the previous round's
//!    steady frames (one step in eight) freed in between;
//! 3. drain: every burst frame left, and any of the previous steady set, freed in random
//!    order.
//!
//! A burst peaks above two pageblocks (1,024 pages), so with the four pageblocks the
//! bench program gives memsrv (two of each sensitivity at first) each round forces flips
//! towards its burst sensitivity: one in the first round, two in every later one (the
//! previous round took two pageblocks the other way). Live pages stay within
//! `BURST_PEAK + 2 * STEADY`, within memsrv's records (a CNode of 4,096 slots, about
//! three per live 4 KiB frame when packed) and the client's quota. When the
//! [`ALLOCATIONS`]th allocation is made, whatever is live is freed in random order.
//!
//! The pseudo-random choices come from a seeded xorshift generator: the same sequence on
//! every run and in every mode. Nothing here talks to memsrv: [`Workload`] says what to
//! do, the caller does it, and [`Packer`] counts the flips the sequence forces.

use libasi::cap::Sensitivity;

/// Allocations in the whole workload.
pub const ALLOCATIONS: u32 = 10_000;
/// Frames in a steady set.
pub const STEADY: usize = 64;
/// Live burst frames at a burst's peak: above two pageblocks, so that it needs a third.
pub const BURST_PEAK: usize = 1100;
/// 4 KiB pages in a 2 MiB pageblock.
pub const PAGES_PER_PAGEBLOCK: u64 = 512;

/// The sets frames live in: a burst and two steady sets (this round's, the previous one's).
pub const POOLS: usize = 3;
/// The burst's set.
pub const BURST: usize = 0;
/// How many frames each set can hold at once.
pub const CAPACITY: [usize; POOLS] = [BURST_PEAK, STEADY, STEADY];

/// The seed: any nonzero value gives a valid sequence; this one is fixed so every run
/// does the same.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// One step of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate a 4 KiB frame of `sensitivity` and add it at the end of set `pool`.
    Alloc { pool: usize, sensitivity: Sensitivity },
    /// Free the frame at `index` of set `pool` (of `sensitivity`); the set's last frame
    /// takes its place.
    Free { pool: usize, index: usize, sensitivity: Sensitivity },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Steady,
    Build,
    Drain,
    /// Every allocation is made: free what is live.
    End,
}

/// The workload's generator: yields [`Op`]s until every allocation has been made and every
/// frame freed again.
#[derive(Clone, Debug)]
pub struct Workload {
    state: u64,
    lens: [usize; POOLS],
    sensitivity: [Sensitivity; POOLS],
    round: u32,
    phase: Phase,
    allocations: u32,
}

impl Workload {
    pub const fn new() -> Self {
        Self {
            state: SEED,
            lens: [0; POOLS],
            sensitivity: [Sensitivity::Sensitive; POOLS],
            round: 0,
            phase: Phase::Steady,
            allocations: 0,
        }
    }

    /// xorshift64 (Marsaglia): the next pseudo-random word.
    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// The burst sensitivity of this round: sensitive first, then alternating.
    fn burst_sensitivity(&self) -> Sensitivity {
        if self.round.is_multiple_of(2) {
            Sensitivity::Sensitive
        } else {
            Sensitivity::Nonsensitive
        }
    }

    /// This round's steady set, and the previous round's.
    fn steady_sets(&self) -> (usize, usize) {
        let new = 1 + (self.round % 2) as usize;
        (new, 3 - new)
    }

    fn alloc(&mut self, pool: usize, sensitivity: Sensitivity) -> Op {
        self.lens[pool] += 1;
        self.sensitivity[pool] = sensitivity;
        self.allocations += 1;
        Op::Alloc { pool, sensitivity }
    }

    /// Frees a random frame of `pool`, which holds at least one.
    fn free_random(&mut self, pool: usize) -> Op {
        let index = (self.next_random() % self.lens[pool] as u64) as usize;
        self.lens[pool] -= 1;
        Op::Free { pool, index, sensitivity: self.sensitivity[pool] }
    }
}

impl Iterator for Workload {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        loop {
            if self.allocations == ALLOCATIONS {
                self.phase = Phase::End;
            }
            let burst = self.burst_sensitivity();
            let (new, old) = self.steady_sets();
            match self.phase {
                Phase::Steady if self.lens[new] < STEADY => {
                    return Some(self.alloc(new, other(burst)));
                }
                Phase::Steady => self.phase = Phase::Build,
                Phase::Build if self.lens[BURST] < BURST_PEAK => {
                    let choice = self.next_random() % 8;
                    if choice == 0 && self.lens[old] > 0 {
                        return Some(self.free_random(old));
                    }
                    if choice % 4 == 1 && self.lens[BURST] > 0 {
                        return Some(self.free_random(BURST));
                    }
                    return Some(self.alloc(BURST, burst));
                }
                Phase::Build => self.phase = Phase::Drain,
                Phase::Drain => {
                    if self.lens[old] > 0 {
                        return Some(self.free_random(old));
                    }
                    if self.lens[BURST] > 0 {
                        return Some(self.free_random(BURST));
                    }
                    self.round += 1;
                    self.phase = Phase::Steady;
                }
                Phase::End => {
                    let pool = (0..POOLS).find(|&pool| self.lens[pool] > 0)?;
                    return Some(self.free_random(pool));
                }
            }
        }
    }
}

/// The flips a perfect packer is forced to make over a workload: one that could always
/// move frames, so that at every step it needs only ⌈live pages of a sensitivity / 512⌉
/// pageblocks of that sensitivity, and flips a pageblock only when that bound exceeds the
/// pageblocks it has. Flipping only when forced, to the bound, is the least any allocator
/// can do with the same pageblocks, starting from the same sensitivities.
#[derive(Clone, Copy, Debug)]
pub struct Packer {
    /// Live pages, sensitive then nonsensitive.
    live: [u64; 2],
    /// Pageblocks, sensitive then nonsensitive.
    pageblocks: [u64; 2],
    /// Flips forced so far.
    pub forced: u64,
}

/// The workload needs more pages of both sensitivities than the pageblocks hold.
#[derive(Clone, Copy, Debug)]
pub struct Infeasible;

impl Packer {
    /// Starting from `pageblocks` (sensitive, nonsensitive), all free.
    pub const fn new(pageblocks: [u64; 2]) -> Self {
        Self { live: [0; 2], pageblocks, forced: 0 }
    }

    /// Follows one step.
    pub fn step(&mut self, op: Op) -> Result<(), Infeasible> {
        match op {
            Op::Alloc { sensitivity, .. } => {
                let (this, other) = (index(sensitivity), index(other(sensitivity)));
                self.live[this] += 1;
                if self.live[this].div_ceil(PAGES_PER_PAGEBLOCK) > self.pageblocks[this] {
                    let spare =
                        self.pageblocks[other] > self.live[other].div_ceil(PAGES_PER_PAGEBLOCK);
                    if !spare {
                        return Err(Infeasible);
                    }
                    self.pageblocks[other] -= 1;
                    self.pageblocks[this] += 1;
                    self.forced += 1;
                }
            }
            Op::Free { sensitivity, .. } => self.live[index(sensitivity)] -= 1,
        }
        Ok(())
    }
}

/// The sensitivity that is not `sensitivity`.
const fn other(sensitivity: Sensitivity) -> Sensitivity {
    match sensitivity {
        Sensitivity::Sensitive => Sensitivity::Nonsensitive,
        Sensitivity::Nonsensitive => Sensitivity::Sensitive,
    }
}

/// Sensitive first, as memsrv's [`memsrv_api::Stats`] orders them.
const fn index(sensitivity: Sensitivity) -> usize {
    match sensitivity {
        Sensitivity::Sensitive => 0,
        Sensitivity::Nonsensitive => 1,
    }
}
