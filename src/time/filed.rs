//! How a wheel refers to a timer without a reference count: the owner's state
//! allocation ([`StateBox`]) and the wheel's pointer to it ([`Filed`]).
//!
//! Creating, polling and dropping a timer used to cost two reference-count updates
//! for the wheel's `Arc` clone (insert, remove) and an `AtomicWaker` that the shard
//! lock already protects; on the VM that was 15% of a create+poll+drop. A wheel now
//! holds a plain pointer to the owner's state and the waker itself.
//!
//! # Why the pointer stays valid
//!
//! The state is freed only by the owner, in `TimerEntry`'s drop, and only once the
//! wheel no longer holds a `Filed` for it. The owner knows that in two ways:
//!
//! 1. It removed its `Filed` itself, under the shard lock (`Shard::remove`).
//! 2. It read `FIRED` from the state. Every store of `FIRED` to a filed state
//!    (a sweep's fire, the shutdown flush) happens under the shard lock, in the same
//!    lock hold that takes the `Filed` out of the wheel, and after that store the
//!    `Filed` is never dereferenced again (its methods that store `FIRED` either
//!    consume it or say so).
//!
//! A `Filed` therefore dereferences its pointer only under the shard lock while it is
//! in the wheel and the state is not `FIRED`: the owner cannot be past both checks.
//! A leaked owner (`mem::forget`) leaks its state too, so the pointer stays valid.
//!
//! The owner reads the state without the lock; that is what `StateBox` is for: a
//! `Box` would claim unique access to the state each time the owner moves, while the
//! wheel's pointer aliases it.

use std::fmt;
use std::ptr::NonNull;
use std::task::Waker;

use super::entry::TimerShared;

/// The owner's heap allocation of its timer state: a `Box` that never claims unique
/// access (the wheel's [`Filed`] points into it), freed on drop.
pub(crate) struct StateBox(NonNull<TimerShared>);

// SAFETY: a `StateBox` owns a `TimerShared`, which is `Send + Sync` (atomics only), and
// hands out only shared references to it.
unsafe impl Send for StateBox {}
// SAFETY: as above: only `&TimerShared` is reachable through `&StateBox`.
unsafe impl Sync for StateBox {}

impl StateBox {
    /// A new state, not in any wheel (`FIRED`).
    pub(crate) fn new() -> StateBox {
        StateBox(NonNull::from(Box::leak(Box::default())))
    }

    /// The state.
    pub(crate) fn get(&self) -> &TimerShared {
        // SAFETY: the allocation lives until `drop`, and only shared references to it
        // are ever made (here and in `Filed`).
        unsafe { self.0.as_ref() }
    }

    /// Files this state in a wheel, to wake `waker` when it fires.
    ///
    /// # Safety
    ///
    /// The caller (the timer's owner) keeps this `StateBox` alive while the `Filed`
    /// is in a wheel, per the module docs: it drops it only after removing the `Filed`
    /// under the shard lock or after reading `FIRED` from the state, and the `Filed`
    /// is only ever put in a wheel, behind that shard's lock.
    pub(crate) unsafe fn file(&self, waker: Option<Waker>) -> Filed {
        Filed { state: self.0, waker }
    }
}

impl Drop for StateBox {
    #[cfg(not(all(test, hioload_loom)))]
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only here;
        // no `Filed` for it is left in a wheel (the contract of `file`).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }

    /// Under loom the state is marked freed and leaked, so that the model below
    /// catches a `Filed` that reads it afterwards.
    #[cfg(all(test, hioload_loom))]
    fn drop(&mut self) {
        self.get().freed.store(true, crate::loom::atomic::Ordering::SeqCst);
    }
}

impl fmt::Debug for StateBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StateBox").field(self.get()).finish()
    }
}

/// A wheel's entry for one timer: a pointer to its owner's state, and the task to
/// wake. Lives only in a shard's wheel, so every use of it holds the shard lock.
pub(crate) struct Filed {
    /// The owner's `StateBox` (module docs: valid while filed and not `FIRED`).
    state: NonNull<TimerShared>,
    /// The task to wake when the timer fires; `None` until the owner polls again
    /// (a timer re-filed after firing, by `reset`).
    waker: Option<Waker>,
}

// SAFETY: the pointee is `Sync` (atomics only) and is only read through `&`; the
// waker is `Send`. Moving a `Filed` to another thread moves the wheel that holds it,
// behind its lock.
unsafe impl Send for Filed {}

impl Filed {
    /// The state, while filed and not `FIRED`.
    fn state(&self) -> &TimerShared {
        // SAFETY: a `Filed` is used only under its shard's lock: in the wheel, where
        // its state is not `FIRED` (every `FIRED` store takes it out in the same
        // lock hold), or in the lock hold of its insert (`arm` before linking,
        // `disarm` of a refused insert, while the inserting owner waits for it) or
        // of the shutdown drain that took it out (`disarm`, before anything has
        // stored `FIRED`). In each case the owner has not freed the state (module
        // docs). After `postpone_or_fire` returned `None` only `into_waker` follows.
        let state = unsafe { self.state.as_ref() };
        #[cfg(all(test, hioload_loom))]
        assert!(
            !state.freed.load(crate::loom::atomic::Ordering::SeqCst),
            "a wheel read a timer state its owner had freed"
        );
        state
    }

    /// Whether this entry is `state`'s (pointer identity; no dereference).
    pub(crate) fn is(&self, state: &TimerShared) -> bool {
        std::ptr::eq(self.state.as_ptr(), state)
    }

    /// Records `deadline` as the state's, just before the entry is linked.
    pub(crate) fn arm(&self, deadline: u64) {
        self.state().arm(deadline);
    }

    /// See [`TimerShared::postpone_or_fire`]. After `None` (fired) the caller must
    /// remove this entry from the wheel in the same lock hold and not call any
    /// method but [`Filed::into_waker`] on it.
    pub(crate) fn postpone_or_fire(&self, now: u64) -> Option<u64> {
        self.state().postpone_or_fire(now)
    }

    /// Marks the state `FIRED` as this entry leaves the wheel without firing (it did
    /// not make it in, or the shutdown flush) and gives the waker back.
    pub(crate) fn disarm(self) -> Option<Waker> {
        self.state().disarm();
        self.waker
    }

    /// The waker, for an entry that left the wheel (no dereference).
    pub(crate) fn into_waker(self) -> Option<Waker> {
        self.waker
    }

    /// Replaces the waker; returns the one replaced, for the caller to drop once it
    /// has released the lock.
    #[must_use = "drop the replaced waker after releasing the shard lock"]
    pub(crate) fn set_waker(&mut self, waker: Waker) -> Option<Waker> {
        self.waker.replace(waker)
    }
}

/// States for tests that file entries in a shard without an owner (the shard's and
/// the driver's tests). Keep it alive longer than the wheel: declare it first.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct TestStates(Vec<StateBox>);

#[cfg(test)]
impl TestStates {
    /// Files a new state, kept until `self` is dropped.
    pub(crate) fn file(&mut self, waker: Option<Waker>) -> Filed {
        let state = StateBox::new();
        // SAFETY: `self` keeps the state; the tests drop it after their wheels.
        let filed = unsafe { state.file(waker) };
        self.0.push(state);
        filed
    }
}

impl fmt::Debug for Filed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state is not read: a fired entry's may be gone.
        f.debug_struct("Filed")
            .field("state", &self.state)
            .field("waker", &self.waker.is_some())
            .finish()
    }
}

/// loom model of the module docs' claim (`.ci/loom`): an owner that drops its
/// timer while a sweep fires it frees the state only once no `Filed` will read
/// it again. (Under loom, `StateBox::drop` marks the state freed and `Filed`
/// asserts it is not. The owner runs on a spawned thread: with it on the
/// model's main thread loom explored too few schedules to catch a read
/// planted after the fire; spawned, it catches it.)
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::thread;

    use super::*;
    use crate::time::shard::{Inserted, Shard};
    use crate::time::wake_list::WakeList;

    /// Files a state due at 10 in a shard, then races its owner's drop (as
    /// `TimerEntry::drop`: remove unless fired, then free) against `other` on the
    /// shard; the shard ends empty.
    fn race_owner_drop_with(other: impl FnOnce(&Shard) + Send + 'static) {
        let shard = Arc::new(Shard::new(0));
        let state = StateBox::new();
        // SAFETY: the state is freed only as `TimerEntry::drop` frees it (after a
        // remove, or after reading `FIRED`), which is what the models check.
        let Inserted::Pending { key, .. } = shard.insert(10, unsafe { state.file(None) }) else {
            panic!("a deadline ahead of the wheel is filed");
        };
        let other = {
            let shard = shard.clone();
            thread::spawn(move || other(&shard))
        };
        let owner = {
            let shard = shard.clone();
            thread::spawn(move || {
                if !state.get().has_fired() {
                    drop(shard.remove(key, state.get()));
                }
                drop(state);
            })
        };
        owner.join().unwrap();
        other.join().unwrap();
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn an_owner_dropping_its_timer_during_the_fire_frees_nothing_the_sweep_reads() {
        loom::model(|| race_owner_drop_with(|shard| shard.process(10, &mut WakeList::new())));
    }

    #[test]
    fn an_owner_dropping_its_timer_during_shutdown_frees_nothing_the_flush_reads() {
        loom::model(|| race_owner_drop_with(Shard::shutdown));
    }
}
