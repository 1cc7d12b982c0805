//! The wheel against a `BTreeMap` oracle, on seeded random operation sequences.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};

use super::timer_wheel::TICK_SHIFT;
use super::{Key, Wheel};

/// splitmix64: a seeded, dependency-free PRNG for reproducible sequences.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A delay on a random scale: same tick, level 0, level 1, ..., years.
    fn delay(&mut self) -> u64 {
        let scale = self.below(9) as u32;
        let max = 1u64 << (TICK_SHIFT + 4 * scale).min(62);
        1 + self.below(max)
    }
}

/// Runs `ops` random operations with `seed`, checking every poll against the oracle.
fn run_against_oracle(seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    let mut wheel = Wheel::new();
    // (deadline, id) -> (), plus id -> key for removal.
    let mut oracle: BTreeMap<(u64, u64), ()> = BTreeMap::new();
    let mut keys: HashMap<u64, (Key, u64)> = HashMap::new();
    let mut extended: HashMap<u64, u64> = HashMap::new();
    let mut now = 0u64;
    for id in 0..ops as u64 {
        match rng.below(11) {
            0..=4 => {
                let deadline = now.saturating_add(rng.delay());
                match wheel.insert(deadline, id) {
                    Ok(key) => {
                        oracle.insert((deadline, id), ());
                        keys.insert(id, (key, deadline));
                    }
                    Err(v) => assert_eq!(v, id),
                }
            }
            7 if !keys.is_empty() => {
                // Lazy extension: the owner moves the deadline later without touching
                // the wheel; `poll_with` re-files the entry under the same key.
                let victim = *keys.keys().nth(rng.below(keys.len() as u64) as usize).unwrap();
                let (key, deadline) = keys[&victim];
                let later = deadline.saturating_add(rng.delay());
                extended.insert(victim, later);
                oracle.remove(&(deadline, victim)).unwrap();
                oracle.insert((later, victim), ());
                keys.insert(victim, (key, later));
            }
            5..=6 if !keys.is_empty() => {
                let victim = *keys.keys().nth(rng.below(keys.len() as u64) as usize).unwrap();
                let (key, deadline) = keys.remove(&victim).unwrap();
                assert_eq!(wheel.remove(key), Some(victim));
                assert!(oracle.remove(&(deadline, victim)).is_some());
                extended.remove(&victim);
            }
            _ => {
                now = now.saturating_add(rng.delay() >> rng.below(20));
                let mut fired = Vec::new();
                while let Some(id) =
                    wheel.poll_with(now, |id| extended.get(id).copied().filter(|&d| d > now))
                {
                    fired.push(id);
                }
                let mut expected: Vec<u64> = Vec::new();
                while let Some(entry) = oracle.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    expected.push(entry.key().1);
                    entry.remove();
                }
                fired.sort_unstable();
                expected.sort_unstable();
                assert_eq!(fired, expected, "seed {seed}, now {now}");
                for id in &fired {
                    keys.remove(id);
                    extended.remove(id);
                }
            }
        }
        assert_eq!(wheel.len(), oracle.len());
        // The wheel's next deadline is a lower bound, exact within level 0 (and for
        // sparse slots above it).
        let true_next = oracle.keys().next().map(|k| k.0);
        let next = wheel.next_deadline();
        assert_eq!(next.is_some(), true_next.is_some());
        if let (Some(next), Some(true_next)) = (next, true_next) {
            assert!(next <= true_next, "seed {seed}: next {next} > true {true_next}");
            let sparse_or_fine =
                (true_next >> TICK_SHIFT) >> 6 == (now >> TICK_SHIFT) >> 6 || oracle.len() <= 64;
            if sparse_or_fine && extended.is_empty() {
                assert_eq!(next, true_next, "seed {seed}: level-0 deadline must be exact");
            }
        }
    }
}

#[test]
fn matches_btreemap_oracle_on_random_sequences() {
    // Under miri (`.ci/miri`), a few short sequences: it runs ~1000x slower.
    let (seeds, ops) = if cfg!(miri) { (2, 250) } else { (20, 5_000) };
    for seed in 0..seeds {
        run_against_oracle(seed, ops);
    }
}

#[test]
fn never_fires_early_within_a_tick() {
    let mut wheel = Wheel::new();
    let tick = 1u64 << TICK_SHIFT;
    let a = wheel.insert(tick * 10 + 100, 'a').unwrap();
    wheel.insert(tick * 10 + 200, 'b').unwrap();
    assert_eq!(wheel.poll(tick * 10 + 99), None);
    assert_eq!(wheel.next_deadline(), Some(tick * 10 + 100));
    assert_eq!(wheel.poll(tick * 10 + 100), Some('a'));
    assert_eq!(wheel.poll(tick * 10 + 100), None);
    assert_eq!(wheel.remove(a), None, "a fired entry's key is dead");
    assert_eq!(wheel.poll(tick * 10 + 199), None);
    assert_eq!(wheel.poll(tick * 10 + 200), Some('b'));
    assert_eq!(wheel.len(), 0);
}

#[test]
fn inserting_at_or_before_now_is_refused() {
    let mut wheel = Wheel::new();
    assert_eq!(wheel.poll(1_000), None);
    assert_eq!(wheel.insert(1_000, 1), Err(1));
    assert_eq!(wheel.insert(999, 2), Err(2));
    assert!(wheel.insert(1_001, 3).is_ok());
}

#[test]
fn far_future_deadlines_fit() {
    let mut wheel = Wheel::new();
    wheel.insert(u64::MAX, 1).unwrap();
    wheel.insert(u64::MAX / 2, 2).unwrap();
    assert_eq!(wheel.poll(u64::MAX / 2 - 1), None);
    assert_eq!(wheel.poll(u64::MAX / 2), Some(2));
    assert_eq!(wheel.poll(u64::MAX - 1), None);
    assert_eq!(wheel.poll(u64::MAX), Some(1));
}

#[test]
fn drain_empties_and_keeps_working() {
    let mut wheel = Wheel::new();
    for i in 0..100u64 {
        wheel.insert(1 + i * 1_000_000, i).unwrap();
    }
    let mut all = wheel.drain();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_eq!(wheel.next_deadline(), None);
    wheel.insert(5, 7).unwrap();
    assert_eq!(wheel.poll(5), Some(7));
}

#[test]
fn memory_of_a_burst_is_given_back_when_empty() {
    let mut wheel = Wheel::new();
    let keys: Vec<Key> = (0..10_000u64).map(|i| wheel.insert(1 + i, i).unwrap()).collect();
    for key in &keys[..9_999] {
        wheel.remove(*key).unwrap();
    }
    assert_eq!(wheel.poll(20_000), Some(9_999));
    assert_eq!(wheel.len(), 0);
    assert!(wheel.slab_capacity() <= 4_096);
    assert_eq!(wheel.remove(keys[0]), None, "stale keys miss after the slab is cleared");
    let k = wheel.insert(30_000, 1).unwrap();
    assert_eq!(wheel.get(k), Some(&1));
}

#[test]
fn next_wake_waits_for_company_within_the_slack_only() {
    let tick = 1u64 << TICK_SHIFT;
    let slack = 3 * tick;
    let mut wheel = Wheel::new();
    assert_eq!(wheel.next_wake(slack), None);
    // Alone: on time.
    wheel.insert(tick * 10, 'a').unwrap();
    assert_eq!(wheel.next_wake(slack), Some(tick * 10));
    // Company beyond the slack: still on time.
    wheel.insert(tick * 10 + slack + 1, 'b').unwrap();
    assert_eq!(wheel.next_wake(slack), Some(tick * 10));
    // Company within the slack, a few ticks on: one wake-up at the slack's end.
    wheel.insert(tick * 12, 'c').unwrap();
    assert_eq!(wheel.next_wake(slack), Some(tick * 10 + slack));
    // No slack: always the earliest deadline.
    assert_eq!(wheel.next_wake(0), Some(tick * 10));
}

#[test]
fn next_wake_counts_a_twin_deadline_as_company() {
    let tick = 1u64 << TICK_SHIFT;
    let mut wheel = Wheel::new();
    // A node beyond the slack listed first in the same slot, then two twins.
    wheel.insert(tick * 5 + 5, 'x').unwrap();
    wheel.insert(tick * 5 + 1, 'a').unwrap();
    assert_eq!(wheel.next_wake(2), Some(tick * 5 + 1), "x is beyond the slack");
    wheel.insert(tick * 5 + 1, 'b').unwrap();
    assert_eq!(wheel.next_wake(2), Some(tick * 5 + 3));
}

#[test]
fn next_wake_never_exceeds_the_earliest_deadline_plus_slack() {
    // Random wheels: the wake-up is within [d, d + slack] of the earliest
    // deadline d, and equal to d exactly when nothing else is due by d + slack.
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..200 {
        let mut wheel = Wheel::new();
        let now = rng.below(1 << 30);
        wheel.poll(now);
        let mut deadlines = Vec::new();
        for _ in 0..1 + rng.below(40) {
            let d = now + 1 + rng.below(1 << 22);
            wheel.insert(d, ()).unwrap();
            deadlines.push(d);
        }
        let slack = rng.below(1 << 20);
        let d = *deadlines.iter().min().unwrap();
        let wake = wheel.next_wake(slack).unwrap();
        assert!(wake >= d && wake <= d + slack, "wake {wake} for d {d} slack {slack}");
        let company = deadlines.iter().filter(|&&x| x <= d + slack).count() > 1;
        if !company {
            assert_eq!(wake, d, "a lone timer wakes on time");
        }
    }
}
