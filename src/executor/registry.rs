//! The registry of live tasks: what lets shutdown drop every pending future.
//!
//! A task that waits on something outside the runtime (a channel whose sender a
//! user thread holds, `std::future::pending()`) is in no queue; without a list of
//! live tasks, shutdown could not reach it. Each live task has one entry here
//! holding a waker for it.
//!
//! # Protocol
//!
//! 1. A task's first `Pending` registers it in the polling worker's shard (it
//!    may now wait outside every queue); tasks that complete in their first
//!    poll are never registered.
//! 2. When the task's future is dropped (it completed, was aborted, or the runtime
//!    dropped it), its [`Registration`] is released.
//! 3. `close` marks every shard closed and takes all wakers out under the locks,
//!    then wakes them after unlocking: each task is scheduled once more, and the
//!    schedule function of a shut-down runtime drops the `Runnable`, which drops
//!    the future. A closed shard refuses new tasks.
//!
//! Shards keep the lock uncontended: a worker registers in its own shard, and a
//! task usually completes on the worker that spawned it.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// One shard's state, behind its lock.
#[derive(Debug, Default)]
struct Synced {
    /// Slots; `None` is free.
    slots: Vec<Option<Waker>>,
    /// Indices of free slots.
    free: Vec<usize>,
    /// Set by `close`: no new registrations.
    closed: bool,
}

/// A lock-sharded set of the wakers of all live tasks.
#[derive(Debug)]
pub(crate) struct Registry {
    /// The shards; a key names its shard.
    shards: Box<[Mutex<Synced>]>,
    /// Live tasks (registered and not yet released).
    live: AtomicUsize,
}

/// A task's entry in the registry; give it back with [`Registry::release`]
/// (the task's future does, when it is dropped).
#[derive(Debug)]
#[must_use = "a registration must be released with Registry::release"]
pub(crate) struct Registration {
    /// Shard index.
    shard: u32,
    /// Slot index within the shard.
    slot: u32,
}

impl Registry {
    /// Creates a registry with `shards` shards (at least one).
    pub(crate) fn new(shards: usize) -> Arc<Self> {
        let shards = (0..shards.max(1)).map(|_| Mutex::default()).collect();
        Arc::new(Registry { shards, live: AtomicUsize::new(0) })
    }

    /// Registers a task waiting with `waker`, in shard `hint % shards`;
    /// `None` once the registry is closed.
    pub(crate) fn register(&self, hint: usize, waker: &Waker) -> Option<Registration> {
        let shard = hint % self.shards.len();
        let mut guard = lock(&self.shards[shard]);
        if guard.closed {
            return None;
        }
        let waker = Some(waker.clone());
        let slot = match guard.free.pop() {
            Some(slot) => {
                guard.slots[slot] = waker;
                slot
            }
            None => {
                guard.slots.push(waker);
                guard.slots.len() - 1
            }
        };
        self.live.fetch_add(1, Ordering::Relaxed);
        Some(Registration { shard: shard as u32, slot: slot as u32 })
    }

    /// Number of registered tasks.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Closes every shard and wakes every registered task (see the protocol).
    pub(crate) fn close(&self) {
        let mut wakers = Vec::new();
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            guard.closed = true;
            wakers.extend(guard.slots.iter_mut().filter_map(Option::take));
        }
        // Woken outside the locks: a woken task's future is dropped right away,
        // and its registration takes the shard lock again.
        for waker in wakers {
            waker.wake();
        }
    }

    /// Removes a task's entry, if still present.
    pub(crate) fn release(&self, registration: Registration) {
        let (shard, slot) = (registration.shard as usize, registration.slot as usize);
        let mut guard = lock(&self.shards[shard]);
        // After `close` the slot was already emptied; nothing to free then.
        if guard.slots.get_mut(slot).and_then(Option::take).is_some() {
            guard.free.push(slot);
        }
        drop(guard);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Locks a shard; a poisoned lock (a panic elsewhere while holding it) is still
/// consistent, since every critical section here is panic-free.
fn lock(shard: &Mutex<Synced>) -> MutexGuard<'_, Synced> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn flag_waker(flag: Arc<AtomicBool>) -> Waker {
        waker_fn::waker_fn(move || flag.store(true, Ordering::SeqCst))
    }

    #[test]
    fn release_frees_the_slot_for_reuse() {
        let registry = Registry::new(2);
        let registration = registry.register(0, &flag_waker(Arc::default())).unwrap();
        assert_eq!(registry.live(), 1);
        registry.release(registration);
        assert_eq!(registry.live(), 0);
        let registration = registry.register(0, &flag_waker(Arc::default())).unwrap();
        assert_eq!(registration.slot, 0);
        registry.release(registration);
    }

    #[test]
    fn close_wakes_every_task_and_refuses_new_ones() {
        let registry = Registry::new(4);
        let flags: Vec<Arc<AtomicBool>> = (0..10).map(|_| Arc::default()).collect();
        let mut registrations = Vec::new();
        for (i, flag) in flags.iter().enumerate() {
            registrations.push(registry.register(i, &flag_waker(flag.clone())).unwrap());
        }
        registry.close();
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
        assert!(registry.register(0, &flag_waker(Arc::default())).is_none());
        for registration in registrations {
            registry.release(registration);
        }
        assert_eq!(registry.live(), 0);
    }

    #[test]
    fn concurrent_register_and_release() {
        let registry = Registry::new(2);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    // Under miri (`.ci/miri`) fewer rounds: it runs ~1000x slower.
                    for i in 0..if cfg!(miri) { 200 } else { 10_000 } {
                        held.push(registry.register(t + i, &flag_waker(Arc::default())).unwrap());
                        if i % 3 == 0 {
                            held.drain(..).for_each(|r| registry.release(r));
                        }
                    }
                    held.into_iter().for_each(|r| registry.release(r));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(registry.live(), 0);
    }
}
