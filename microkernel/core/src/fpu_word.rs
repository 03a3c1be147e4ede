//! A CPU's lazy-FPU state in one word: which thread's FPU/SIMD registers the CPU holds
//! (its owner) and whether FPU instructions trap now (CR0.TS on x86_64).
//!
//! The owner is a token, a TCB address, 8-byte aligned (0: no owner); bit 0 is the trap
//! bit. The IPC fastpath switches threads only when the trap setting is already right for
//! the thread it switches to — it traps exactly when that thread does not own the
//! registers — and asks that with [`trap_setting_fits`], a handful of instructions.

/// The trap bit.
pub const TRAPS: u64 = 1;

/// The word for `owner` (a token, 0: none) with the trap bit `traps`.
pub const fn word(owner: u64, traps: bool) -> u64 {
    owner | traps as u64
}

/// The owner's token in `word`.
pub const fn owner(word: u64) -> u64 {
    word & !TRAPS
}

/// Whether the trap bit is set in `word`.
pub const fn traps(word: u64) -> bool {
    word & TRAPS != 0
}

/// Whether running the thread with `token` needs no change of the trap setting `word`
/// holds: it traps now exactly when that thread is not the owner.
///
/// With `x = word ^ token`: the setting fits when `x` is 0 (owner, no trap) or odd and
/// above 1 (another thread's registers, trap); it does not when `x` is 1 (owner, trap) or
/// even and non-zero (another thread's registers, no trap). Rotated right by one, the
/// first two cases are 0 and the values above 2^63, so one subtraction's sign decides.
#[inline(always)]
pub const fn trap_setting_fits(word: u64, token: u64) -> bool {
    ((word ^ token).rotate_right(1).wrapping_sub(1) as i64) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_exactly_when_the_trap_bit_says_whether_the_thread_is_not_the_owner() {
        let tokens = [0, 8, 0x800, 0x1234_5000, 0xf_ffff_ffff_f800];
        for owner_token in tokens {
            for thread in tokens.into_iter().filter(|&thread| thread != 0) {
                for traps_now in [false, true] {
                    let want = traps_now == (owner_token != thread);
                    let word = word(owner_token, traps_now);
                    assert_eq!(
                        trap_setting_fits(word, thread),
                        want,
                        "owner {owner_token:#x}, traps {traps_now}, thread {thread:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_word_keeps_owner_and_trap_bit_apart() {
        for (owner_token, traps_now) in [(0, false), (0, true), (0x800, false), (0x800, true)] {
            let word = word(owner_token, traps_now);
            assert_eq!((owner(word), traps(word)), (owner_token, traps_now));
        }
    }
}
