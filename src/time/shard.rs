//! One shard of the time driver: a wheel behind its own small lock.
//!
//! The driver has one shard per worker, so that timers are never all behind one
//! global mutex (tokio#6504): a worker registers in its own shard, and only a cancel or
//! reset from another thread, or a `process` sweep, touches somebody else's.
#![forbid(unsafe_code)]

use std::sync::{Arc, PoisonError};

use super::entry::TimerShared;
use super::wake_list::WakeList;
use super::wheel::{Key, Wheel};
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::{Mutex, MutexGuard};

/// `Shard::next` when the wheel is empty.
pub(crate) const NO_DEADLINE: u64 = u64::MAX;

/// What [`Shard::insert`] did.
#[derive(Debug)]
pub(crate) enum Inserted {
    /// The entry is in the wheel under this key.
    Pending(Key),
    /// The deadline has already passed at the wheel's time: not inserted.
    AlreadyDue,
    /// The driver is shut down: not inserted.
    Shutdown,
}

/// The state behind a shard's lock.
#[derive(Debug, Default)]
struct Synced {
    /// The shard's timers, keyed by nanoseconds since the clock's origin.
    wheel: Wheel<Arc<TimerShared>>,
    /// Set once by `shutdown`; no insert succeeds afterwards.
    is_shutdown: bool,
}

/// One wheel and its lock, plus a lock-free copy of its earliest deadline.
#[derive(Debug)]
pub(crate) struct Shard {
    /// The wheel; held only for O(1) operations or one batch of firings.
    synced: Mutex<Synced>,
    /// A lower bound of the wheel's earliest deadline (ns), `NO_DEADLINE` if empty.
    /// Written under `synced`'s lock (`SeqCst`, for the park protocol in `driver.rs`);
    /// read without it by `next_deadline` and `process`.
    next: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { synced: Mutex::default(), next: AtomicU64::new(NO_DEADLINE) }
    }
}

impl Shard {
    /// The lock-free lower bound of this shard's earliest deadline.
    pub(crate) fn next_deadline(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Inserts `entry` due at `deadline` (ns), marking it not fired.
    pub(crate) fn insert(&self, deadline: u64, entry: &Arc<TimerShared>) -> Inserted {
        let mut synced = self.lock();
        if synced.is_shutdown {
            return Inserted::Shutdown;
        }
        entry.arm(deadline);
        match synced.wheel.insert(deadline, Arc::clone(entry)) {
            Ok(key) => {
                if deadline < self.next.load(Ordering::Relaxed) {
                    self.next.store(deadline, Ordering::SeqCst);
                }
                Inserted::Pending(key)
            }
            Err(_) => {
                entry.disarm(); // not in the wheel after all
                Inserted::AlreadyDue
            }
        }
    }

    /// Removes `entry` if the wheel still holds it under `key`.
    pub(crate) fn remove(&self, key: Key, entry: &Arc<TimerShared>) {
        let mut synced = self.lock();
        if !synced.wheel.get(key).is_some_and(|held| Arc::ptr_eq(held, entry)) {
            return;
        }
        synced.wheel.remove(key);
        // `next` stays a valid lower bound and is left alone: the next sweep that
        // reaches it refreshes it (one early wake-up of the driver, harmless; a late
        // one would not be). Keeping it also saves the insert that follows (the
        // request-timeout pattern: arm, cancel, arm a later one) its `next` store.
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
            if let Some(waker) = entry.take_waker() {
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
        let fired: Vec<_> = entries.iter().filter_map(|e| e.fire()).collect();
        drop(synced);
        fired.into_iter().for_each(std::task::Waker::wake);
        drop(entries);
    }

    /// Number of timers in the shard.
    pub(crate) fn len(&self) -> usize {
        self.lock().wheel.len()
    }

    /// Recomputes `next` from the wheel (lock held by the caller).
    fn refresh_next(&self, synced: &Synced) {
        self.next.store(synced.wheel.next_deadline().unwrap_or(NO_DEADLINE), Ordering::SeqCst);
    }

    /// Locks the wheel. The wheel is never left half-updated by a panic (no user code
    /// runs under the lock: wakers are woken after it is released), so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
