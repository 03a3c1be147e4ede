//! Runs of bits in a bitmap of `u64` words: the bookkeeping under the map window's pages
//! and the heap's granules. Bit `i` is bit `i % 64` of word `i / 64`; a set bit is taken.

/// The first run of `count` clear bits below `bits` that starts at a multiple of `align`
/// (a power of two), searching from bit 0: first fit, so that low bits are reused first.
/// `None` if there is none, or `count` is 0.
pub fn find_clear_run(words: &[u64], bits: usize, count: usize, align: usize) -> Option<usize> {
    let bits = bits.min(words.len() * 64);
    if count == 0 || !align.is_power_of_two() {
        return None;
    }
    let mut from = 0;
    loop {
        // Skip taken bits a word at a time, then check the aligned run from there.
        let clear = first_clear(words, from, bits)?;
        let candidate = clear.checked_next_multiple_of(align)?;
        if candidate.checked_add(count)? > bits {
            return None;
        }
        match first_set(words, candidate, candidate + count) {
            None => return Some(candidate),
            // No run that covers `set` can be clear: go on past it.
            Some(set) => from = set + 1,
        }
    }
}

/// The first clear bit in `from..to`, if any.
pub fn first_clear(words: &[u64], from: usize, to: usize) -> Option<usize> {
    first_equal(words, from, to, false)
}

/// The first set bit in `from..to`, if any.
pub fn first_set(words: &[u64], from: usize, to: usize) -> Option<usize> {
    first_equal(words, from, to, true)
}

/// The first bit in `from..to` that is `set`, a word at a time.
fn first_equal(words: &[u64], from: usize, to: usize, set: bool) -> Option<usize> {
    let mut bit = from;
    while bit < to {
        let word = if set { words[bit / 64] } else { !words[bit / 64] } >> (bit % 64);
        let span = (64 - bit % 64).min(to - bit);
        let mask = if span == 64 { u64::MAX } else { (1 << span) - 1 };
        let hits = word & mask;
        if hits != 0 {
            return Some(bit + hits.trailing_zeros() as usize);
        }
        bit += span;
    }
    None
}

/// Sets (`taken`) or clears the `count` bits from `first`.
pub fn set_run(words: &mut [u64], first: usize, count: usize, taken: bool) {
    let mut bit = first;
    let end = first + count;
    while bit < end {
        let span = (64 - bit % 64).min(end - bit);
        let mask = if span == 64 { u64::MAX } else { ((1 << span) - 1) << (bit % 64) };
        if taken {
            words[bit / 64] |= mask;
        } else {
            words[bit / 64] &= !mask;
        }
        bit += span;
    }
}

/// Whether all `count` bits from `first` are set.
pub fn all_set(words: &[u64], first: usize, count: usize) -> bool {
    let mut bit = first;
    let end = first + count;
    while bit < end {
        let span = (64 - bit % 64).min(end - bit);
        let mask = if span == 64 { u64::MAX } else { ((1 << span) - 1) << (bit % 64) };
        if words[bit / 64] & mask != mask {
            return false;
        }
        bit += span;
    }
    true
}

/// How many bits are set.
pub fn count_set(words: &[u64]) -> usize {
    words.iter().map(|word| word.count_ones() as usize).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_first_fit_and_aligned() {
        let mut words = [0u64; 4];
        assert_eq!(find_clear_run(&words, 256, 10, 1), Some(0));
        set_run(&mut words, 0, 10, true);
        assert_eq!(find_clear_run(&words, 256, 10, 1), Some(10));
        assert_eq!(find_clear_run(&words, 256, 10, 16), Some(16));
        set_run(&mut words, 16, 100, true);
        assert_eq!(find_clear_run(&words, 256, 6, 1), Some(10));
        assert_eq!(find_clear_run(&words, 256, 7, 1), Some(116));
        assert_eq!(find_clear_run(&words, 256, 140, 1), Some(116));
        assert_eq!(find_clear_run(&words, 256, 141, 1), None);
        assert_eq!(find_clear_run(&words, 200, 100, 1), None, "the run must end below `bits`");
    }

    #[test]
    fn zero_counts_and_bad_alignments_find_nothing() {
        let words = [0u64; 1];
        assert_eq!(find_clear_run(&words, 64, 0, 1), None);
        assert_eq!(find_clear_run(&words, 64, 1, 3), None);
        assert_eq!(find_clear_run(&words, 64, usize::MAX, 1), None);
        assert_eq!(find_clear_run(&words, 1000, 65, 1), None, "bits beyond the words");
    }

    #[test]
    fn runs_cross_words_and_come_back() {
        let mut words = [0u64; 3];
        set_run(&mut words, 60, 70, true);
        assert_eq!(words, [0xf << 60, u64::MAX, 0b11]);
        assert!(all_set(&words, 60, 70));
        assert!(!all_set(&words, 59, 2));
        assert_eq!(count_set(&words), 70);
        assert_eq!(first_set(&words, 0, 192), Some(60));
        assert_eq!(first_set(&words, 130, 192), None);
        assert_eq!(first_clear(&words, 60, 192), Some(130));
        assert_eq!(first_clear(&words, 60, 130), None);
        set_run(&mut words, 64, 64, false);
        assert_eq!(words, [0xf << 60, 0, 0b11]);
        assert_eq!(find_clear_run(&words, 192, 64, 64), Some(64));
        set_run(&mut words, 0, 192, false);
        assert_eq!(count_set(&words), 0);
    }
}
