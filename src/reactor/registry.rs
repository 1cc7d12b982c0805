//! The registration table: a slab of `Arc<ScheduledIo>` keyed by slot index + generation.
//!
//! # Invariants
//!
//! - A poller key is `index | generation << INDEX_BITS`; the top bit is never set, so a
//!   key never equals `polling`'s reserved `usize::MAX`.
//! - A slot's generation changes only when the slot is released, so an event carrying an
//!   old key never resolves to the slot's next occupant.
//! - Slots of deregistered handles are released lazily by [`Registry::release_pending`],
//!   which only the turning thread calls, before it waits: an event batch being
//!   dispatched never refers to a released slot.
//!
//! The lock is taken at register, at deregister, and at most twice per turn (to release
//! queued slots, if any, and to resolve the whole batch of keys, if any): never per event,
//! never while waking, and not at all on an idle turn.
#![forbid(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::ready::Ready;
use super::scheduled_io::ScheduledIo;
use crate::sys::RawSource;

/// Bits of a key that hold the slot index.
const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
/// Mask of the index bits.
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Mask of the generation, after shifting (one bit short of the rest: see invariants).
const GENERATION_MASK: usize = (1 << (usize::BITS - INDEX_BITS - 1)) - 1;

/// The table of live registrations.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Slots, free list and pending releases; see the module invariants.
    synced: Mutex<Synced>,
    /// Set (under the lock) when a release is queued; cleared by `release_pending`, so an
    /// idle turn does not take the lock.
    has_pending: AtomicBool,
    /// Occupied slots, mirrored outside the lock (written under it) so a busy
    /// worker can skip polling a reactor that has nothing registered.
    occupied: AtomicUsize,
}

/// The part of the registry behind its lock.
#[derive(Debug, Default)]
struct Synced {
    /// Slot `i` holds the registration with index `i`, if any.
    slots: Vec<Slot>,
    /// Indices of empty slots.
    free: Vec<usize>,
    /// Keys deregistered since the last turn, to release before the next wait.
    pending_release: Vec<usize>,
    /// Set once by shutdown: later registrations fail.
    shut_down: bool,
}

/// One slot of the table.
#[derive(Debug, Default)]
struct Slot {
    /// Bumped every time the slot is released.
    generation: usize,
    /// The registration occupying the slot.
    io: Option<Arc<ScheduledIo>>,
}

impl Registry {
    /// Locks the table, ignoring poisoning (no code panics while holding it).
    fn lock(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Allocates a slot for `raw`.
    ///
    /// # Errors
    ///
    /// The reactor shut down, or the table is full.
    pub(crate) fn allocate(&self, raw: RawSource) -> io::Result<Arc<ScheduledIo>> {
        let mut synced = self.lock();
        if synced.shut_down {
            return Err(super::shutdown_error());
        }
        let index = match synced.free.pop() {
            Some(index) => index,
            None if synced.slots.len() <= INDEX_MASK => {
                synced.slots.push(Slot::default());
                synced.slots.len() - 1
            }
            None => {
                return Err(io::Error::other(format!(
                    "reactor full: {} registrations",
                    INDEX_MASK + 1
                )))
            }
        };
        let slot = &mut synced.slots[index];
        let io = Arc::new(ScheduledIo::new(index | slot.generation << INDEX_BITS, raw));
        slot.io = Some(io.clone());
        self.occupied.store(synced.slots.len() - synced.free.len(), Ordering::Release);
        Ok(io)
    }

    /// Frees the slot of `key` right away (registration with the poller failed, so no
    /// event can carry it).
    pub(crate) fn release_now(&self, key: usize) {
        let mut synced = self.lock();
        synced.release(key);
        self.occupied.store(synced.slots.len() - synced.free.len(), Ordering::Release);
    }

    /// Queues the slot of `key` for release before the next wait.
    pub(crate) fn defer_release(&self, key: usize) {
        let mut synced = self.lock();
        synced.pending_release.push(key);
        self.has_pending.store(true, Ordering::Release);
    }

    /// Releases every queued slot. Only the turning thread calls this, before waiting.
    pub(crate) fn release_pending(&self) {
        // A release queued after this swap sets the flag again: it waits one more turn.
        if !self.has_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut synced = self.lock();
        let pending = std::mem::take(&mut synced.pending_release);
        for &key in &pending {
            synced.release(key);
        }
        self.occupied.store(synced.slots.len() - synced.free.len(), Ordering::Release);
        // Keep the allocation for the next turn.
        synced.pending_release = pending;
        synced.pending_release.clear();
    }

    /// Appends the live registration and readiness of each event to `out`; events with
    /// stale keys are dropped.
    pub(crate) fn resolve(
        &self,
        events: impl Iterator<Item = polling::Event>,
        out: &mut Vec<(Arc<ScheduledIo>, Ready)>,
    ) {
        let mut events = events.peekable();
        if events.peek().is_none() {
            return; // an idle turn (timeout or notify) takes no lock
        }
        let synced = self.lock();
        for event in events {
            if let Some(io) = synced.get(event.key) {
                out.push((io.clone(), Ready::from_event(&event)));
            }
        }
    }

    /// Marks the table shut down and returns every live registration.
    pub(crate) fn shutdown(&self) -> Vec<Arc<ScheduledIo>> {
        let mut synced = self.lock();
        synced.shut_down = true;
        synced.slots.iter().filter_map(|slot| slot.io.clone()).collect()
    }

    /// Whether any slot is occupied (lock-free; may lag a concurrent change).
    pub(crate) fn is_empty(&self) -> bool {
        self.occupied.load(Ordering::Acquire) == 0
    }

    /// Number of occupied slots (including ones pending release).
    pub(crate) fn len(&self) -> usize {
        let synced = self.lock();
        synced.slots.len() - synced.free.len()
    }
}

impl Synced {
    /// The registration `key` names, if its slot still holds that generation.
    fn get(&self, key: usize) -> Option<&Arc<ScheduledIo>> {
        let slot = self.slots.get(key & INDEX_MASK)?;
        (slot.generation == key >> INDEX_BITS).then_some(slot.io.as_ref()).flatten()
    }

    /// Frees the slot of `key` if it still holds that generation.
    fn release(&mut self, key: usize) {
        let index = key & INDEX_MASK;
        let Some(slot) = self.slots.get_mut(index) else { return };
        if slot.generation != key >> INDEX_BITS || slot.io.is_none() {
            return;
        }
        slot.io = None;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: usize) -> polling::Event {
        polling::Event::readable(key)
    }

    #[test]
    fn stale_key_never_resolves_to_reused_slot() {
        let registry = Registry::default();
        let first = registry.allocate(3).unwrap();
        let old_key = first.key();
        registry.defer_release(old_key);
        // Not yet released: an event of the current batch still resolves.
        let mut out = Vec::new();
        registry.resolve([event(old_key)].into_iter(), &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        registry.release_pending();
        let second = registry.allocate(4).unwrap();
        assert_eq!(second.key() & INDEX_MASK, old_key & INDEX_MASK, "slot reused");
        assert_ne!(second.key(), old_key, "generation bumped");
        registry.resolve([event(old_key)].into_iter(), &mut out);
        assert!(out.is_empty(), "stale event reached the new occupant");
        registry.resolve([event(second.key())].into_iter(), &mut out);
        assert!(Arc::ptr_eq(&out[0].0, &second));
    }

    #[test]
    fn keys_never_collide_with_notify_key_and_generation_wraps() {
        let registry = Registry::default();
        {
            let mut synced = registry.lock();
            synced.slots.push(Slot { generation: GENERATION_MASK, io: None });
            synced.free.push(0);
        }
        let io = registry.allocate(0).unwrap();
        assert_ne!(io.key(), usize::MAX);
        registry.release_now(io.key());
        assert_eq!(registry.allocate(0).unwrap().key(), 0, "generation wrapped to 0");
    }

    #[test]
    fn allocate_after_shutdown_fails() {
        let registry = Registry::default();
        let live = registry.allocate(1).unwrap();
        let all = registry.shutdown();
        assert!(Arc::ptr_eq(&all[0], &live));
        let err = registry.allocate(2).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
    }
}
