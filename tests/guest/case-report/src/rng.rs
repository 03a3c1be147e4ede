//! The random numbers of the randomized cases (system calls in captest, messages to memsrv
//! in memtest): xorshift64*, so that a seed repeats its sequence exactly.

#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is made odd, since xorshift stays at 0).
    pub const fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Any word.
    pub fn word(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (not 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.word() % bound
    }

    /// True one time in `count`, on average.
    pub fn one_in(&mut self, count: u64) -> bool {
        self.below(count) == 0
    }
}
