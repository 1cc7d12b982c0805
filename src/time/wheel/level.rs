//! One level of the hierarchical wheel: 64 slot list heads and an occupancy bitmap.
#![forbid(unsafe_code)]

use super::timer_wheel::NIL;

/// Number of bits of the tick consumed by one level.
pub(crate) const LEVEL_BITS: u32 = 6;
/// Slots per level (`1 << LEVEL_BITS`).
pub(crate) const SLOTS: usize = 1 << LEVEL_BITS;
/// Mask selecting a slot index out of a shifted tick.
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// The slot lists of one level.
///
/// # Invariants
///
/// Bit `s` of `occupied` is set exactly when `heads[s] != NIL`. Every entry of level
/// `l > 0` has a level-`l` digit strictly greater than the wheel's `elapsed` digit of
/// that level (so the search in [`Level::next_occupied`] never has to wrap); entries of
/// level 0 have a digit greater than or equal to it.
#[derive(Debug)]
pub(crate) struct Level {
    /// This level's index: slot `s` covers ticks whose digit `index` equals `s`.
    index: u32,
    /// Bit `s` set when slot `s` holds at least one entry.
    occupied: u64,
    /// Head node (slab index) of each slot's doubly linked list, or `NIL`.
    heads: [u32; SLOTS],
}

/// The earliest occupied slot found by [`Level::next_occupied`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiration {
    /// Level of the slot.
    pub(crate) level: u32,
    /// Slot index within the level.
    pub(crate) slot: usize,
    /// First tick covered by the slot.
    pub(crate) tick: u64,
}

impl Level {
    /// Creates an empty level number `index`.
    pub(crate) fn new(index: u32) -> Level {
        Level { index, occupied: 0, heads: [NIL; SLOTS] }
    }

    /// The slot of this level that `tick` falls into.
    pub(crate) fn slot_for(&self, tick: u64) -> usize {
        ((tick >> (self.index * LEVEL_BITS)) & SLOT_MASK) as usize
    }

    /// Head of slot `slot`'s list (`NIL` when empty).
    pub(crate) fn head(&self, slot: usize) -> u32 {
        self.heads[slot]
    }

    /// Replaces the head of slot `slot`, keeping the occupancy bit in step.
    pub(crate) fn set_head(&mut self, slot: usize, head: u32) {
        self.heads[slot] = head;
        if head == NIL {
            self.occupied &= !(1 << slot);
        } else {
            self.occupied |= 1 << slot;
        }
    }

    /// The first occupied slot at or after the slot `elapsed` falls into.
    pub(crate) fn next_occupied(&self, elapsed: u64) -> Option<Expiration> {
        if self.occupied == 0 {
            return None;
        }
        let shift = self.index * LEVEL_BITS;
        let now_slot = self.slot_for(elapsed);
        // Rotate so that bit 0 is the current slot; the first set bit is then the
        // distance to the next occupied slot.
        let distance = self.occupied.rotate_right(now_slot as u32).trailing_zeros() as usize;
        let slot = (now_slot + distance) % SLOTS;
        debug_assert!(slot >= now_slot, "level {} wrapped: slot {slot} < {now_slot}", self.index);
        // Ticks covered by one full turn of this level; shift + 6 <= 54 (see NUM_LEVELS).
        let level_range = 1u64 << (shift + LEVEL_BITS);
        let level_start = elapsed & !(level_range - 1);
        Some(Expiration { level: self.index, slot, tick: level_start + ((slot as u64) << shift) })
    }
}

/// The level an entry due at `tick` belongs to, seen from `elapsed` (`tick >= elapsed`):
/// the level of the most significant digit in which the two differ.
pub(crate) fn level_for(elapsed: u64, tick: u64) -> u32 {
    let masked = (elapsed ^ tick) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    significant / LEVEL_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_for_picks_the_highest_differing_digit() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(10, 70), 1);
        assert_eq!(level_for(64, 127), 0);
        assert_eq!(level_for(0, 1 << 12), 2);
    }

    #[test]
    fn next_occupied_finds_the_first_slot_from_elapsed() {
        let mut level = Level::new(1);
        level.set_head(5, 7);
        level.set_head(9, 8);
        let exp = level.next_occupied(3 * 64 + 10).unwrap();
        assert_eq!(exp, Expiration { level: 1, slot: 5, tick: 5 * 64 });
        level.set_head(5, NIL);
        assert_eq!(level.next_occupied(3 * 64).unwrap().tick, 9 * 64);
        level.set_head(9, NIL);
        assert_eq!(level.next_occupied(0), None);
    }
}
