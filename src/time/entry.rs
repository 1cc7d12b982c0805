//! One timer: the state shared between its owner (a `Sleep`) and the shard that fires it.
//!
//! # Who touches what
//!
//! 1. The owner ([`TimerEntry`], inside a `Sleep`) is the only one that registers,
//!    re-registers and cancels; it does so under the lock of the shard it registered
//!    in (remembered in `TimerEntry::shard`), from whatever thread polls or drops it.
//! 2. The shard, under its lock, removes a due entry from its wheel and only then sets
//!    `fired`, then takes the waker; it wakes it after releasing the lock.
//! 3. The owner reads `fired` without a lock: `true` means the wheel no longer holds the
//!    entry (set after the removal, under the same lock, read with `Acquire`).
//! 4. A wheel `Key` may be stale (the entry fired and the node was reused by another
//!    timer): every removal checks that the node still holds *this* `Arc` (pointer
//!    identity), so a stale key can never cancel somebody else's timer.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;

use super::driver::TimeDriver;
use super::shard::Inserted;
use super::wheel::Key;

/// The part of a timer the firing shard sees.
#[derive(Debug, Default)]
pub(crate) struct TimerShared {
    /// Set (under the shard lock, `Release`) once the entry has left the wheel by firing
    /// or shutdown; cleared (under the lock) when it is inserted again.
    fired: AtomicBool,
    /// The task to wake when it fires; registered by the owner before inserting.
    waker: AtomicWaker,
}

impl TimerShared {
    /// Marks the entry as fired; the caller holds the shard lock and has removed it.
    pub(crate) fn fire(&self) -> Option<std::task::Waker> {
        self.fired.store(true, Ordering::Release);
        self.waker.take()
    }

    /// Marks the entry as pending again; the caller holds the shard lock.
    pub(crate) fn rearm(&self) {
        self.fired.store(false, Ordering::Relaxed);
    }

    /// True once the entry has fired (or was flushed by shutdown).
    pub(crate) fn has_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// The owner's handle on one timer: lazily registered, re-armable without allocating.
///
/// # Invariants
///
/// `key.is_some()` implies `shared.is_some()` and that the entry was inserted in shard
/// `shard` under `key` (it may have fired since; see the module docs, point 4).
#[derive(Debug)]
pub(crate) struct TimerEntry {
    /// The driver the timer belongs to.
    driver: Arc<TimeDriver>,
    /// The shard it registers in (the creating thread's shard); fixed.
    shard: usize,
    /// Allocated at the first registration and reused by every later one.
    shared: Option<Arc<TimerShared>>,
    /// Where the entry sits in the shard's wheel, while it may still be there.
    key: Option<Key>,
}

impl TimerEntry {
    /// An unregistered timer of `driver`, to be registered in shard `shard`.
    pub(crate) fn new(driver: Arc<TimeDriver>, shard: usize) -> TimerEntry {
        let shard = shard % driver.shard_count();
        TimerEntry { driver, shard, shared: None, key: None }
    }

    /// The driver this timer belongs to.
    pub(crate) fn driver(&self) -> &Arc<TimeDriver> {
        &self.driver
    }

    /// True once the registered deadline has fired.
    pub(crate) fn has_fired(&self) -> bool {
        self.key.is_some() && self.shared.as_ref().is_some_and(|s| s.has_fired())
    }

    /// Polls for `deadline`: `Ready` once it has passed, registering on first need.
    ///
    /// # Panics
    ///
    /// If the driver has been shut down (the runtime is gone: the timer can never fire).
    #[track_caller]
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        if self.driver.is_shutdown() {
            panic!("{}", super::driver::SHUTDOWN_MESSAGE);
        }
        if self.key.is_some() {
            return self.poll_registered(cx);
        }
        if deadline <= self.driver.clock().now() {
            return Poll::Ready(());
        }
        let shared = self.shared.get_or_insert_with(Default::default);
        shared.waker.register(cx.waker());
        match self.insert(deadline) {
            Inserted::Pending(_) => Poll::Pending,
            Inserted::AlreadyDue => Poll::Ready(()),
            Inserted::Shutdown => panic!("{}", super::driver::SHUTDOWN_MESSAGE),
        }
    }

    /// Moves the timer to `deadline`: re-registers at once if it was registered (the
    /// old waker stays), otherwise registration waits for the next poll.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        if self.key.is_none() {
            return;
        }
        self.cancel();
        let registered = !self.driver.is_shutdown()
            && deadline > self.driver.clock().now()
            && matches!(self.insert(deadline), Inserted::Pending(_));
        if !registered {
            // Already due (or the runtime is gone): let the owner's task see it now.
            if let Some(shared) = &self.shared {
                shared.waker.wake();
            }
        }
    }

    /// Removes the timer from its wheel if it is there (no lock taken if it fired).
    pub(crate) fn cancel(&mut self) {
        let (Some(key), Some(shared)) = (self.key.take(), self.shared.as_ref()) else { return };
        if !shared.has_fired() {
            self.driver.shard(self.shard).remove(key, shared);
        }
    }

    /// Waits for a registered timer to fire.
    fn poll_registered(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.as_ref().expect("registered timer without shared state");
        if shared.has_fired() {
            return Poll::Ready(());
        }
        shared.waker.register(cx.waker());
        // Re-check after registering: a fire between the check and the registration
        // took the old waker (or none), so this one would never be woken.
        if shared.has_fired() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Inserts the timer in its shard at `deadline` (the waker is already registered).
    fn insert(&mut self, deadline: Instant) -> Inserted {
        let shared = self.shared.as_ref().expect("inserting without shared state");
        let deadline_ns = self.driver.clock().to_nanos(deadline);
        let inserted = self.driver.shard(self.shard).insert(deadline_ns, shared);
        if let Inserted::Pending(key) = inserted {
            self.key = Some(key);
            self.driver.on_insert(deadline_ns);
        }
        inserted
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        self.cancel();
    }
}
