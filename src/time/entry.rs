//! One timer: the state shared between its owner (a `Sleep`) and the shard that fires it.
//!
//! # Who touches what
//!
//! 1. The owner ([`TimerEntry`], inside a `Sleep`) is the only one that registers,
//!    cancels and moves the deadline earlier; it does so under the lock of the shard it
//!    registered in (remembered in `TimerEntry::shard`), from whatever thread polls or
//!    drops it.
//! 2. Moving the deadline *later* while the entry is pending (the idle-timeout pattern)
//!    takes no lock: the owner raises `TimerShared::state` with a CAS, and the wheel
//!    node keeps its earlier deadline. When the shard finds the node due, it reads
//!    `state` and re-files the node at the new deadline under the same key instead of
//!    firing it.
//! 3. The shard, under its lock, fires a due entry by a CAS of `state` from the
//!    deadline it has just checked to `FIRED` (so it never overwrites an extension it
//!    has not seen), removes it, takes the waker, and wakes it after unlocking.
//! 4. The owner reads `state` without a lock: `FIRED` means the wheel no longer holds
//!    the entry (set under the lock, read with `Acquire`).
//! 5. A wheel `Key` may be stale (the entry fired and the node was reused by another
//!    timer): every removal checks that the node still holds *this* `Arc` (pointer
//!    identity), so a stale key can never cancel somebody else's timer.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_util::task::AtomicWaker;

use super::context::ShardRef;
use super::driver::TimeDriver;
use super::shard::Inserted;
use super::wheel::Key;
use crate::loom::atomic::{AtomicU64, Ordering};

/// `TimerShared::state` of an entry that is not in a wheel (fired, flushed by
/// shutdown, or never inserted). Deadlines are capped one below it.
const FIRED: u64 = u64::MAX;

/// The part of a timer the firing shard sees.
#[derive(Debug)]
pub(crate) struct TimerShared {
    /// The entry's true deadline (ns since the clock's origin) while it is in a wheel,
    /// else `FIRED`. Set at insertion under the shard lock; raised by the owner without
    /// the lock (CAS); set to `FIRED` under the lock by the shard (CAS) or at shutdown.
    state: AtomicU64,
    /// The task to wake when it fires; registered by the owner before inserting.
    waker: AtomicWaker,
}

impl Default for TimerShared {
    fn default() -> Self {
        TimerShared { state: AtomicU64::new(FIRED), waker: AtomicWaker::new() }
    }
}

impl TimerShared {
    /// Records `deadline` before the entry is inserted; the caller holds the shard lock.
    pub(crate) fn arm(&self, deadline: u64) {
        self.state.store(deadline, Ordering::Release);
    }

    /// For a node the wheel found due at `now` (shard lock held): `Some(later)` if the
    /// owner extended the deadline past `now` (re-file it there), else marks the entry
    /// `FIRED` and returns `None` (remove it and wake it).
    pub(crate) fn postpone_or_fire(&self, now: u64) -> Option<u64> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur != FIRED && cur > now {
                return Some(cur);
            }
            match self.state.compare_exchange_weak(cur, FIRED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return None,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Marks an entry that did not make it into the wheel as not pending (lock held).
    pub(crate) fn disarm(&self) {
        self.state.store(FIRED, Ordering::Release);
    }

    /// Marks the entry fired unconditionally (shutdown) and takes its waker.
    pub(crate) fn fire(&self) -> Option<Waker> {
        self.state.store(FIRED, Ordering::Release);
        self.waker.take()
    }

    /// Takes the waker of an entry already marked `FIRED`.
    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.waker.take()
    }

    /// True once the entry has left its wheel (fired or flushed by shutdown).
    pub(crate) fn has_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) == FIRED
    }

    /// Moves a pending entry's deadline later without the lock; false if it has fired
    /// or `deadline` is earlier than the current one (then the caller takes the lock).
    fn try_extend(&self, deadline: u64) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur == FIRED || deadline < cur {
                return false;
            }
            match self.state.compare_exchange_weak(
                cur,
                deadline,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
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
    /// The driver the timer belongs to and the shard it registers in (the
    /// creating thread's); fixed.
    home: Arc<ShardRef>,
    /// Allocated at the first registration and reused by every later one.
    shared: Option<Arc<TimerShared>>,
    /// Where the entry sits in the shard's wheel, while it may still be there.
    key: Option<Key>,
}

impl TimerEntry {
    /// An unregistered timer, to be registered in `home`'s shard.
    pub(crate) fn new(home: Arc<ShardRef>) -> TimerEntry {
        TimerEntry { home, shared: None, key: None }
    }

    /// The driver this timer belongs to.
    pub(crate) fn driver(&self) -> &TimeDriver {
        self.home.driver()
    }

    /// True once the registered deadline has fired.
    pub(crate) fn has_fired(&self) -> bool {
        self.key.is_some() && self.shared.as_ref().is_some_and(|s| s.has_fired())
    }

    /// Polls for `deadline`: `Ready` once it has passed, registering on first need.
    /// `ahead`: the caller knows the deadline has not passed (skip the clock read).
    ///
    /// # Panics
    ///
    /// If the driver has been shut down (the runtime is gone: the timer can never fire).
    #[track_caller]
    pub(crate) fn poll_elapsed(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Instant,
        ahead: bool,
    ) -> Poll<()> {
        if self.driver().is_shutdown() {
            panic!("{}", super::driver::SHUTDOWN_MESSAGE);
        }
        if self.key.is_some() {
            return self.poll_registered(cx);
        }
        if !ahead && deadline <= self.driver().clock().now() {
            return Poll::Ready(());
        }
        let shared = self.shared.get_or_insert_with(Default::default);
        shared.waker.register(cx.waker());
        match self.insert(deadline) {
            Inserted::Pending { .. } => Poll::Pending,
            Inserted::AlreadyDue => Poll::Ready(()),
            Inserted::Shutdown => panic!("{}", super::driver::SHUTDOWN_MESSAGE),
        }
    }

    /// Moves the timer to `deadline`: a registered timer is extended in place when the
    /// deadline moves later (no lock), else re-registered at once (the old waker
    /// stays); an unregistered one registers on its next poll.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        if self.key.is_none() {
            return;
        }
        let deadline_ns = self.deadline_ns(deadline);
        if self.shared.as_ref().is_some_and(|shared| shared.try_extend(deadline_ns)) {
            return; // later, still pending: no lock (module docs, point 2)
        }
        self.cancel();
        let registered = !self.driver().is_shutdown()
            && deadline > self.driver().clock().now()
            && matches!(self.insert(deadline), Inserted::Pending { .. });
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
            self.driver().shard(self.home.index()).remove(key, shared);
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
        let deadline_ns = self.deadline_ns(deadline);
        let inserted = self.driver().shard(self.home.index()).insert(deadline_ns, shared);
        if let Inserted::Pending { key, earlier_wake } = inserted {
            self.key = Some(key);
            if let Some(wake) = earlier_wake {
                self.driver().on_insert(wake);
            }
        }
        inserted
    }
}

impl TimerEntry {
    /// `deadline` in nanoseconds since the clock's origin, below `FIRED`.
    fn deadline_ns(&self, deadline: Instant) -> u64 {
        self.driver().clock().to_nanos(deadline).min(FIRED - 1)
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// loom model of points 2 and 3 of the module docs (`.ci/loom`): the owner's
/// lock-free extension against the shard's fire.
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    #[test]
    fn extension_racing_the_fire_is_seen_or_refused() {
        // Armed for 10, found due at 15 while the owner moves it to 20: either
        // the shard sees 20 and re-files the entry, or the entry fires and the
        // owner is told the extension failed (it then re-registers). Never
        // both "extended" and "fired": that timer would fire early.
        loom::model(|| {
            let shared = Arc::new(TimerShared::default());
            shared.arm(10);
            let owner = shared.clone();
            let extend = thread::spawn(move || owner.try_extend(20));
            let refiled = shared.postpone_or_fire(15);
            let extended = extend.join().unwrap();

            assert_eq!(extended, refiled == Some(20), "extended {extended}, shard {refiled:?}");
            assert_eq!(shared.has_fired(), refiled.is_none());
        });
    }
}
