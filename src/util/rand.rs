//! A tiny, fast, non-cryptographic random number generator for victim selection.
#![forbid(unsafe_code)]

use std::cell::Cell;

/// xorshift64* state; one per thread, never shared.
#[derive(Debug)]
pub(crate) struct FastRand {
    /// Current state; never zero.
    state: Cell<u64>,
}

impl FastRand {
    /// Creates a generator from `seed` (zero is replaced by a fixed odd constant).
    pub(crate) fn new(seed: u64) -> Self {
        let seed = if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed };
        FastRand { state: Cell::new(seed) }
    }

    /// Returns a number in `0..n`; `n` must be non-zero.
    pub(crate) fn below(&self, n: usize) -> usize {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // Lemire's multiply-shift: unbiased enough for victim selection.
        (((r >> 32) * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::FastRand;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let rng = FastRand::new(7);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.below(5);
            assert!(v < 5);
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
