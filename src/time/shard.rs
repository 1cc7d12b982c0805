//! One shard of the time driver: a wheel behind its own small lock.
//!
//! The driver has one shard per worker, so that timers are never all behind one
//! global mutex (tokio#6504): a worker registers in its own shard, and only a cancel or
//! reset from another thread, or a `process` sweep, touches somebody else's.
#![forbid(unsafe_code)]

use std::sync::PoisonError;
use std::task::Waker;

use super::entry::TimerShared;
use super::filed::Filed;
use super::wake_list::WakeList;
use super::wheel::{Key, Wheel};
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::{Mutex, MutexGuard};

/// `Shard::next` when the wheel is empty.
pub(crate) const NO_DEADLINE: u64 = u64::MAX;

/// What [`Shard::insert`] did.
#[derive(Debug)]
pub(crate) enum Inserted {
    /// The entry is in the wheel under `key`.
    Pending {
        /// Where the entry sits.
        key: Key,
        /// `Some(wake)` when the insert moved the shard's wake-up time earlier,
        /// to `wake`: the caller must then call `TimeDriver::on_insert(wake)`. A
        /// wake-up that did not move earlier already serves the new timer.
        earlier_wake: Option<u64>,
    },
    /// The deadline has already passed at the wheel's time: not inserted; the
    /// entry's waker comes back.
    AlreadyDue(Option<Waker>),
    /// The driver is shut down: not inserted; the entry's waker comes back.
    Shutdown(Option<Waker>),
}

/// The state behind a shard's lock.
#[derive(Debug, Default)]
struct Synced {
    /// The shard's timers, keyed by nanoseconds since the clock's origin.
    wheel: Wheel<Filed>,
    /// Set once by `shutdown`; no insert succeeds afterwards.
    is_shutdown: bool,
    /// The earliest timer was removed (cancelled) and `next`/`wake` still name
    /// it: the next insert refreshes them rather than batch with a timer that
    /// is gone.
    next_stale: bool,
}

/// One wheel and its lock, plus lock-free copies of its earliest deadline and of
/// when a sleeper should wake for it.
#[derive(Debug)]
pub(crate) struct Shard {
    /// The wheel; held only for O(1) operations or one batch of firings.
    synced: Mutex<Synced>,
    /// A lower bound of the wheel's earliest deadline (ns), `NO_DEADLINE` if empty.
    /// Written under `synced`'s lock (`Release`: the park protocol in `driver.rs`
    /// relies on `wake`, see `note_insert`); read without it by `next_deadline`
    /// and `process`.
    next: AtomicU64,
    /// When a sleeping worker should wake for this shard (ns): at most `slack`
    /// after every pending deadline, and on the earliest one itself when no other
    /// timer is due within `slack` after it (`Wheel::wake_after`). `NO_DEADLINE` if
    /// empty. Written with `next`, under the lock.
    wake: AtomicU64,
    /// How late (ns) a timer may fire so that one wake-up serves several.
    slack: u64,
}

impl Shard {
    /// An empty shard whose timers may fire up to `slack` ns late (see `wake`).
    pub(crate) fn new(slack: u64) -> Shard {
        Shard {
            synced: Mutex::default(),
            next: AtomicU64::new(NO_DEADLINE),
            wake: AtomicU64::new(NO_DEADLINE),
            slack,
        }
    }

    /// The lock-free lower bound of this shard's earliest deadline.
    pub(crate) fn next_deadline(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// When a sleeping worker should wake for this shard (lock-free; see `wake`).
    pub(crate) fn next_wake(&self) -> u64 {
        self.wake.load(Ordering::SeqCst)
    }

    /// Inserts `entry` due at `deadline` (ns), marking it not fired.
    pub(crate) fn insert(&self, deadline: u64, entry: Filed) -> Inserted {
        let mut synced = self.lock();
        if synced.is_shutdown {
            return Inserted::Shutdown(entry.into_waker());
        }
        entry.arm(deadline);
        match synced.wheel.insert(deadline, entry) {
            Ok(key) if synced.next_stale => {
                // `next` names a cancelled timer: batching the new one with it
                // would delay a lone timer by up to the slack.
                synced.next_stale = false;
                let before = self.wake.load(Ordering::Relaxed);
                self.refresh_next(&synced);
                let wake = self.wake.load(Ordering::Relaxed);
                Inserted::Pending { key, earlier_wake: (wake < before).then_some(wake) }
            }
            Ok(key) => Inserted::Pending { key, earlier_wake: self.note_insert(deadline) },
            // Not in the wheel after all.
            Err(entry) => Inserted::AlreadyDue(entry.disarm()),
        }
    }

    /// Removes `state`'s entry if the wheel still holds it under `key`, returning its
    /// waker (to drop outside the lock).
    pub(crate) fn remove(&self, key: Key, state: &TimerShared) -> Option<Waker> {
        let mut synced = self.lock();
        if !synced.wheel.get(key).is_some_and(|held| held.is(state)) {
            return None;
        }
        let filed_at = synced.wheel.deadline(key);
        let waker = synced.wheel.remove(key).and_then(Filed::into_waker);
        // `next` stays a valid lower bound and is left alone: the next sweep that
        // reaches it refreshes it (one early wake-up of the driver, harmless; a late
        // one would not be). But an insert must not batch with the removed timer:
        // an empty wheel says so at once (two stores, the request-timeout pattern:
        // arm, cancel, arm a later one); otherwise the insert refreshes first.
        if filed_at.is_some_and(|d| d <= self.next.load(Ordering::Relaxed)) {
            if synced.wheel.len() == 0 {
                self.next.store(NO_DEADLINE, Ordering::Release);
                self.wake.store(NO_DEADLINE, Ordering::Release);
            } else {
                synced.next_stale = true;
            }
        }
        drop(synced);
        waker
    }

    /// Makes `state`'s entry under `key` wake `waker`, returning the waker it
    /// replaces; gives `waker` back if the wheel no longer holds the entry (it
    /// fired). Both come back for the caller to drop outside the lock: dropping a
    /// waker runs its owner's code.
    pub(crate) fn set_waker(
        &self,
        key: Key,
        state: &TimerShared,
        waker: Waker,
    ) -> Result<Option<Waker>, Waker> {
        let mut synced = self.lock();
        match synced.wheel.get_mut(key).filter(|held| held.is(state)) {
            Some(entry) => Ok(entry.set_waker(waker)),
            None => Err(waker),
        }
    }

    /// Refreshes `next` from the wheel under the lock and returns it: the exact
    /// earliest deadline (paused time advances to it, see `TimeDriver::next_deadline`).
    pub(crate) fn exact_next_deadline(&self) -> u64 {
        let synced = self.lock();
        self.refresh_next(&synced);
        self.next.load(Ordering::SeqCst)
    }

    /// Fires every entry due at `now` (ns), waking in batches outside the lock.
    pub(crate) fn process(&self, now: u64, wakers: &mut WakeList) {
        if self.next.load(Ordering::Acquire) > now {
            return; // nothing due; a racing insert of a due entry is handled by its owner
        }
        let mut synced = self.lock();
        // The wheel's time never goes back; `postpone_or_fire` must judge by the same
        // `now` the wheel uses (re-read after each relock: another sweep may be ahead).
        let mut now = now.max(synced.wheel.now());
        // An entry its owner extended is re-filed, not fired (entry.rs, point 2).
        while let Some(entry) = synced.wheel.poll_with(now, |e| e.postpone_or_fire(now)) {
            if let Some(waker) = entry.into_waker() {
                wakers.push(waker);
                if wakers.is_full() {
                    self.refresh_next(&synced);
                    drop(synced);
                    wakers.wake_all();
                    synced = self.lock();
                    now = now.max(synced.wheel.now());
                }
            }
        }
        self.refresh_next(&synced);
        drop(synced);
        wakers.wake_all();
    }

    /// Empties the shard for good, waking every timer (they then see the shutdown).
    pub(crate) fn shutdown(&self) {
        let mut synced = self.lock();
        synced.is_shutdown = true;
        let entries = synced.wheel.drain();
        self.next.store(NO_DEADLINE, Ordering::SeqCst);
        self.wake.store(NO_DEADLINE, Ordering::SeqCst);
        let fired: Vec<_> = entries.into_iter().filter_map(Filed::disarm).collect();
        drop(synced);
        crate::util::wake::wake_all_contained(fired);
    }

    /// Number of timers in the shard.
    pub(crate) fn len(&self) -> usize {
        self.lock().wheel.len()
    }

    /// Updates `next` and `wake` for a timer just inserted at `deadline` (lock
    /// held), in O(1): only the earliest deadline's slack window is considered.
    /// Returns the new `wake` if it moved earlier.
    ///
    /// Only a `wake` that moves earlier takes part in the park protocol
    /// (`driver.rs`): that store is `SeqCst`, and the caller then checks the
    /// sleeper. The other stores (`next`; a `wake` moved later) are `Release`: a
    /// sleeper that misses them wakes earlier than needed, never later.
    fn note_insert(&self, deadline: u64) -> Option<u64> {
        let next = self.next.load(Ordering::Relaxed);
        let horizon = deadline.saturating_add(self.slack);
        if deadline < next {
            // The new earliest: one wake-up `slack` after it also serves the old
            // earliest if that is due by then; alone, it fires on time.
            let wake = if next <= horizon { horizon } else { deadline };
            self.next.store(deadline, Ordering::Release);
            if wake < self.wake.load(Ordering::Relaxed) {
                self.wake.store(wake, Ordering::SeqCst);
                return Some(wake);
            }
            self.wake.store(wake, Ordering::Release);
            return None;
        }
        let window_end = next.saturating_add(self.slack);
        if deadline <= window_end && self.wake.load(Ordering::Relaxed) < window_end {
            // Within the earliest's window: wake once for both, at its end (`next`
            // is at or below every pending deadline, so no timer waits longer
            // than `slack`).
            self.wake.store(window_end, Ordering::Release);
        }
        None
    }

    /// Recomputes `next` and `wake` from the wheel (lock held by the caller).
    /// (`next_stale` is cleared by the insert that needs it; a refresh from a
    /// sweep leaves it set, which costs that insert one more refresh at most.)
    fn refresh_next(&self, synced: &Synced) {
        let next = synced.wheel.next_deadline();
        let wake = next.map_or(NO_DEADLINE, |d| synced.wheel.wake_after(d, self.slack));
        // Release: a refresh moves `wake` earlier only within the slack an
        // earlier `wake` already promised (see `note_insert`).
        self.next.store(next.unwrap_or(NO_DEADLINE), Ordering::Release);
        self.wake.store(wake, Ordering::Release);
    }

    /// Locks the wheel. The wheel is never left half-updated by a panic (no user code
    /// runs under the lock: wakers are woken after it is released), so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(all(test, not(hioload_loom)))]
mod tests {
    use super::*;
    use crate::time::filed::TestStates;

    /// Inserts a timer (its state kept in `states`); returns the shard's wake-up
    /// time after it.
    fn insert(states: &mut TestStates, shard: &Shard, deadline: u64) -> u64 {
        let before = shard.next_wake();
        match shard.insert(deadline, states.file(None)) {
            Inserted::Pending { earlier_wake, .. } => {
                let after = shard.next_wake();
                assert_eq!(earlier_wake, (after < before).then_some(after));
                after
            }
            other => panic!("not inserted: {other:?}"),
        }
    }

    #[test]
    fn wake_follows_inserts_in_constant_time() {
        let mut states = TestStates::default();
        let shard = Shard::new(100);
        // Alone: on time.
        assert_eq!(insert(&mut states, &shard, 1_000), 1_000);
        // Beyond the earliest's window: unchanged.
        assert_eq!(insert(&mut states, &shard, 1_101), 1_000);
        // Within the earliest's window: its end.
        assert_eq!(insert(&mut states, &shard, 1_050), 1_100);
        // A new earliest with the old one within its window: its window's end.
        assert_eq!(insert(&mut states, &shard, 950), 1_050);
        // A new earliest far from everything: on time.
        assert_eq!(insert(&mut states, &shard, 10), 10);
        assert_eq!(shard.next_wake(), 10);
        assert_eq!(shard.next_deadline(), 10);
    }

    #[test]
    fn process_recomputes_wake_from_the_wheel() {
        let mut states = TestStates::default();
        let shard = Shard::new(100);
        insert(&mut states, &shard, 1_000);
        insert(&mut states, &shard, 5_000);
        insert(&mut states, &shard, 5_050);
        shard.process(1_000, &mut WakeList::new());
        assert_eq!(shard.next_deadline(), 5_000);
        assert_eq!(shard.next_wake(), 5_100, "5,000 and 5,050 share a wake-up");
        shard.process(5_100, &mut WakeList::new());
        assert_eq!(shard.next_wake(), NO_DEADLINE);
    }
}
