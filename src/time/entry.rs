//! One timer: the state shared between its owner (a `Sleep`) and the shard that fires it.
//!
//! # Who touches what
//!
//! 1. The owner ([`TimerEntry`], inside a `Sleep`) is the only one that registers,
//!    cancels and moves the deadline earlier; it does so under the lock of the shard it
//!    registered in (remembered in `TimerEntry::home`), from whatever thread polls or
//!    drops it. The wheel holds a pointer to the owner's state and the waker
//!    (`filed.rs`, which also says why the pointer stays valid).
//! 2. Moving the deadline *later* while the entry is pending (the idle-timeout pattern)
//!    takes no lock: the owner raises `TimerShared::state` with a CAS, and the wheel
//!    node keeps its earlier deadline. When the shard finds the node due, it reads
//!    `state` and re-files the node at the new deadline under the same key instead of
//!    firing it.
//! 3. The shard, under its lock, fires a due entry by a CAS of `state` from the
//!    deadline it has just checked to `FIRED` (so it never overwrites an extension it
//!    has not seen), removes it with its waker, and wakes that after unlocking.
//! 4. The owner reads `state` without a lock: `FIRED` means the wheel no longer holds
//!    the entry (set under the lock in the hold that removes it, read with `Acquire`).
//! 5. The waker is the wheel's, under the shard lock. The owner remembers which waker
//!    it filed (`WakerId`) while the wheel holds it, so a re-poll by the same task
//!    takes no lock; another waker is swapped in under the lock.
//! 6. A wheel `Key` may be stale (the entry fired and the node was reused by another
//!    timer): every removal checks that the node still points at *this* state
//!    (pointer identity; the owner's state is alive, so no other timer's can be at
//!    that address), so a stale key can never cancel somebody else's timer.
//!
//! The one `unsafe` block here files the state in a wheel: its contract (free the
//! state only once it has left the wheel) is kept by `TimerEntry`'s drop.
#![deny(unsafe_code)]

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::clock::HORIZON_NS;
use super::context::ShardRef;
use super::driver::TimeDriver;
use super::filed::StateBox;
use super::shard::Inserted;
use super::wheel::Key;
use crate::loom::atomic::{AtomicU64, Ordering};

/// `TimerShared::state` of an entry that is not in a wheel (fired, flushed by
/// shutdown, or never inserted). Deadlines are capped one below it.
const FIRED: u64 = u64::MAX;
const _: () = assert!(HORIZON_NS < FIRED);

/// The part of a timer the firing shard sees.
#[derive(Debug)]
pub(crate) struct TimerShared {
    /// The entry's true deadline (ns since the clock's origin) while it is in a wheel,
    /// else `FIRED`. Set at insertion under the shard lock; raised by the owner without
    /// the lock (CAS); set to `FIRED` under the lock by the shard (CAS) or at shutdown.
    state: AtomicU64,
    /// Under loom only: set where the owner would free this state (the loom build
    /// leaks it instead), so that a wheel's later read is caught (`filed.rs`).
    #[cfg(all(test, hioload_loom))]
    pub(crate) freed: crate::loom::atomic::AtomicBool,
}

impl Default for TimerShared {
    fn default() -> Self {
        TimerShared {
            state: AtomicU64::new(FIRED),
            #[cfg(all(test, hioload_loom))]
            freed: crate::loom::atomic::AtomicBool::new(false),
        }
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

    /// Marks an entry that leaves the wheel without firing as not pending (lock held).
    pub(crate) fn disarm(&self) {
        self.state.store(FIRED, Ordering::Release);
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

/// Which task a waker wakes: the data and vtable pointers that
/// [`Waker::will_wake`] compares, kept as integers (compared, never dereferenced, so
/// the id moves between threads with its `Sleep`).
///
/// Only compared while the wheel still holds the waker it was taken from, which
/// keeps that task alive: no other waker can have the same data pointer then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WakerId(usize, usize);

impl WakerId {
    fn of(waker: &Waker) -> WakerId {
        WakerId(waker.data() as usize, std::ptr::from_ref(waker.vtable()) as usize)
    }
}

/// The owner's handle on one timer: lazily registered, re-armable without allocating.
///
/// # Invariants
///
/// - `key.is_some()` implies `state.is_some()` and that the entry was inserted in
///   shard `home` under `key` (it may have fired since; see the module docs, point 4).
/// - `filed_waker` is `Some` only while the wheel may hold the waker it names (it is
///   cleared with `key`).
/// - While the wheel holds a `Filed` for `state`, `key` is `Some` and names it: it
///   is set as soon as the insert returns and cleared only once a remove has
///   returned, or once the entry has fired.
/// - `state` is set once and never replaced; `drop` frees it after removing the
///   entry under `key` (or seeing it `FIRED`), so never while it is filed
///   (`filed.rs`).
#[derive(Debug)]
pub(crate) struct TimerEntry {
    /// The driver the timer belongs to and the shard it registers in (the
    /// creating thread's); fixed.
    home: Arc<ShardRef>,
    /// Allocated at the first registration and reused by every later one.
    state: Option<StateBox>,
    /// Where the entry sits in the shard's wheel, while it may still be there.
    key: Option<Key>,
    /// The waker the wheel holds for this entry, if it holds one (point 5).
    filed_waker: Option<WakerId>,
}

impl TimerEntry {
    /// An unregistered timer, to be registered in `home`'s shard.
    pub(crate) fn new(home: Arc<ShardRef>) -> TimerEntry {
        TimerEntry { home, state: None, key: None, filed_waker: None }
    }

    /// The driver this timer belongs to.
    pub(crate) fn driver(&self) -> &TimeDriver {
        self.home.driver()
    }

    /// True once the registered deadline has fired. A shutdown also takes every
    /// entry out of its wheel as `FIRED`, so that is checked after the state:
    /// the driver's flag is stored before the flush, and the state's `FIRED` is
    /// read with `Acquire`, so a flushed entry always sees the flag.
    pub(crate) fn has_fired(&self) -> bool {
        self.key.is_some()
            && self.state.as_ref().is_some_and(|s| s.get().has_fired())
            && !self.driver().is_shutdown()
    }

    /// What a poll that found its entry out of the wheel returns: `Ready` if it
    /// fired, the shutdown panic if a shutdown flushed it (that can happen
    /// between `poll_elapsed`'s first check and the read of `FIRED`).
    #[track_caller]
    fn fired(&self) -> Poll<()> {
        if self.driver().is_shutdown() {
            panic!("{}", super::driver::SHUTDOWN_MESSAGE);
        }
        Poll::Ready(())
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
        // `ahead` came from the clock read at creation; a paused clock may have
        // been advanced past the deadline since (`testing::advance`).
        let ahead = ahead && !self.driver().clock().ever_paused();
        if !ahead && deadline <= self.driver().clock().now() {
            return Poll::Ready(());
        }
        match self.insert(deadline, Some(cx.waker().clone())) {
            Inserted::Pending { .. } => Poll::Pending,
            Inserted::AlreadyDue(_) => Poll::Ready(()),
            Inserted::Shutdown(_) => panic!("{}", super::driver::SHUTDOWN_MESSAGE),
        }
    }

    /// Moves the timer to `deadline`: a registered timer is extended in place when the
    /// deadline moves later (no lock), else re-registered at once (the filed waker
    /// stays); an unregistered one registers on its next poll.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        if self.key.is_none() {
            return;
        }
        let deadline_ns = self.deadline_ns(deadline);
        if self.state.as_ref().is_some_and(|state| state.get().try_extend(deadline_ns)) {
            return; // later, still pending: no lock (module docs, point 2)
        }
        let waker = self.cancel();
        let unfiled = if self.driver().is_shutdown() || deadline <= self.driver().clock().now() {
            waker
        } else {
            match self.insert(deadline, waker) {
                Inserted::Pending { .. } => None,
                Inserted::AlreadyDue(waker) | Inserted::Shutdown(waker) => waker,
            }
        };
        // Already due (or the runtime is gone): let the owner's task see it now.
        if let Some(waker) = unfiled {
            waker.wake();
        }
    }

    /// Removes the timer from its wheel if it is there (no lock taken if it fired) and
    /// returns the waker the wheel held for it.
    pub(crate) fn cancel(&mut self) -> Option<Waker> {
        self.filed_waker = None;
        let (Some(key), Some(state)) = (self.key, self.state.as_ref()) else {
            return None;
        };
        let waker = Self::remove(&self.home, key, state);
        // Only now: should `remove` unwind, the key still names the filed entry, and
        // `drop` removes it before freeing the state.
        self.key = None;
        waker
    }

    /// Takes `state`'s entry out of `home`'s wheel unless it has fired.
    fn remove(home: &ShardRef, key: Key, state: &StateBox) -> Option<Waker> {
        if state.get().has_fired() {
            return None;
        }
        home.driver().shard(home.index()).remove(key, state.get())
    }

    /// Waits for a registered timer to fire.
    fn poll_registered(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (Some(key), Some(state)) = (self.key, self.state.as_ref()) else {
            unreachable!("registered timer without a key and state");
        };
        if state.get().has_fired() {
            return self.fired();
        }
        if self.filed_waker == Some(WakerId::of(cx.waker())) {
            // The wheel holds this task's waker: a fire after the check above wakes it.
            return Poll::Pending;
        }
        // Another waker: swap it in under the lock, unless the entry fired meanwhile.
        // Cloned before locking (a clone is the waker owner's code), and the id is the
        // clone's: the one the wheel will hold (a clone need not share the original's
        // data pointer).
        let waker = cx.waker().clone();
        let id = WakerId::of(&waker);
        let shard = self.home.driver().shard(self.home.index());
        match shard.set_waker(key, state.get(), waker) {
            Ok(replaced) => {
                self.filed_waker = Some(id);
                drop(replaced); // returned by `set_waker` to be dropped unlocked
                Poll::Pending
            }
            Err(_unfiled) => self.fired(),
        }
    }

    /// Inserts the timer in its shard at `deadline`, to wake `waker`.
    #[allow(unsafe_code)]
    fn insert(&mut self, deadline: Instant, waker: Option<Waker>) -> Inserted {
        let deadline_ns = self.deadline_ns(deadline);
        let id = waker.as_ref().map(WakerId::of);
        let state = self.state.get_or_insert_with(StateBox::new);
        // SAFETY: `state` is freed only in `TimerEntry::drop`, which first removes
        // the `Filed` under the shard lock by `key` or reads `FIRED` (the field is
        // set once and never replaced; `key` names the entry while it is filed: see
        // the invariants); the `Filed` goes straight into the shard's wheel.
        let filed = unsafe { state.file(waker) };
        let inserted = self.home.driver().shard(self.home.index()).insert(deadline_ns, filed);
        if let Inserted::Pending { key, earlier_wake } = inserted {
            self.key = Some(key);
            self.filed_waker = id;
            if let Some(wake) = earlier_wake {
                self.driver().on_insert(wake);
            }
        }
        inserted
    }
}

impl TimerEntry {
    /// `deadline` in nanoseconds since the clock's origin, below `FIRED`: at
    /// most the horizon, where a deadline is never due (`clock.rs`).
    fn deadline_ns(&self, deadline: Instant) -> u64 {
        self.driver().clock().to_nanos(deadline).min(HORIZON_NS)
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        // Leaked, not freed, should `cancel` unwind: a wheel's pointer to the state
        // must never dangle (`filed.rs`).
        let Some(state) = self.state.take().map(ManuallyDrop::new) else { return };
        if let Some(key) = self.key {
            drop(Self::remove(&self.home, key, &state));
        }
        drop(ManuallyDrop::into_inner(state));
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
