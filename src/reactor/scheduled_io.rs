//! `ScheduledIo`: the shared state of one registration (readiness word + waiters).
//!
//! # Protocol
//!
//! 1. The driver ORs an event's bits into `readiness` and bumps its tick
//!    ([`ScheduledIo::set_readiness`]), then, under `synced`, takes the wakers of every
//!    direction the event ends and (oneshot mode) re-arms the directions still waited on.
//! 2. A task reads `readiness` without a lock. If its direction is not ready it locks
//!    `synced`, re-reads `readiness` (so an event set in step 1 before the lock is seen),
//!    stores its waker and (oneshot mode) arms its direction with the poller.
//! 3. After `WouldBlock`, the task clears its direction's bit only if the tick is still the
//!    one it observed ([`ScheduledIo::clear_readiness`]): a newer event is never lost.
//! 4. Deregistration (under `synced`) deletes the handle from the poller exactly once and
//!    sets `registered = false`; nothing touches the handle afterwards.

use std::io;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use polling::{Event, PollMode, Poller};

use super::ready::{pack, tick_of, Direction, Ready, ReadyEvent};
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::{Mutex, MutexGuard};
use crate::sys::{borrow_source, RawSource};

/// One registered OS handle.
///
/// # Invariants
///
/// `raw` is open and registered with the reactor's poller while `synced.registered` is
/// true: the owner of the handle deregisters (which takes `synced` and clears the flag)
/// before closing it. Every use of `raw` happens under `synced` after checking the flag.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    /// Packed readiness bits + dispatch tick (see `ready.rs`); set by the driver, cleared
    /// by tasks after `WouldBlock`, `SHUTDOWN` set by reactor shutdown.
    readiness: AtomicUsize,
    /// The key this handle is registered under: slot index + generation (immutable).
    key: usize,
    /// The OS handle (immutable; see `# Invariants`).
    raw: RawSource,
    /// Waiters and arming state; locked by tasks that must wait and by the driver when
    /// it dispatches an event for this handle.
    synced: Mutex<Synced>,
}

/// The part of a registration behind its lock.
#[derive(Debug)]
struct Synced {
    /// Whether `raw` is still registered with the poller (and so still open).
    registered: bool,
    /// Oneshot mode: the interest currently armed with the poller (an event disarms all).
    armed: Ready,
    /// Tasks waiting to read.
    readers: Waiters,
    /// Tasks waiting to write.
    writers: Waiters,
}

/// The tasks waiting in one direction.
///
/// The `poll_*` methods of `AsyncRead`/`AsyncWrite` have no future to hold a waiter
/// id, so they share one `poll_slot` (the last poller wins, as in tokio); futures
/// (`readable().await`) each own an entry of `list`, so any number of tasks can wait.
///
/// A future that an event woke completes at its next poll with that event, even
/// if another task took the readiness in between (as in tokio): a task that
/// only watches for readiness, beside one that reads, is not put back to sleep.
#[derive(Debug, Default)]
struct Waiters {
    /// The waker of the latest `poll_*` caller in this direction.
    poll_slot: Option<Waker>,
    /// `(waiter id, waker)` of every pending readiness future.
    list: Vec<(u64, Waker)>,
    /// `(waiter id, event)` of the readiness futures an event woke, until they
    /// poll again or are dropped.
    notified: Vec<(u64, ReadyEvent)>,
}

impl Waiters {
    /// Whether anyone waits (a woken future waits no more).
    fn is_empty(&self) -> bool {
        self.poll_slot.is_none() && self.list.is_empty()
    }

    /// Moves every waker into `out`; the futures among them complete with
    /// `event` at their next poll, if there is one.
    fn drain_into(&mut self, out: &mut Vec<Waker>, event: Option<ReadyEvent>) {
        out.extend(self.poll_slot.take());
        for (id, waker) in self.list.drain(..) {
            if let Some(event) = event {
                self.notified.push((id, event));
            }
            out.push(waker);
        }
    }

    /// The event that woke future `id`, if one did since its last poll (forgotten here).
    fn take_notified(&mut self, id: u64) -> Option<ReadyEvent> {
        let pos = self.notified.iter().position(|(i, _)| *i == id)?;
        Some(self.notified.swap_remove(pos).1)
    }

    /// Stores `waker` for waiter `id`, replacing its older waker.
    fn store(&mut self, id: Option<u64>, waker: &Waker) {
        let Some(id) = id else {
            match &mut self.poll_slot {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
            return;
        };
        match self.list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, old)) if old.will_wake(waker) => {}
            Some((_, old)) => *old = waker.clone(),
            None => self.list.push((id, waker.clone())),
        }
    }

    /// Forgets waiter `id`.
    fn remove(&mut self, id: u64) {
        self.list.retain(|(i, _)| *i != id);
        self.notified.retain(|(i, _)| *i != id);
    }
}

/// Who waits: the shared `poll_*` slot, or readiness future number `id`.
pub(crate) type WaiterId = Option<u64>;

/// How the reactor registers handles; fixed at reactor creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Edge-triggered, always interested in both directions: no syscall per wait.
    Edge,
    /// Oneshot: each event disarms the handle; a waiting task re-arms with `modify`.
    Oneshot,
}

impl ScheduledIo {
    /// State for `raw` registered under `key`; handles start "assumed ready" so the
    /// first operation is attempted at once (a `WouldBlock` clears the assumption).
    pub(crate) fn new(key: usize, raw: RawSource) -> ScheduledIo {
        let synced = Synced {
            registered: true,
            armed: Ready::EMPTY,
            readers: Waiters::default(),
            writers: Waiters::default(),
        };
        ScheduledIo {
            readiness: AtomicUsize::new(pack(Ready::READABLE | Ready::WRITABLE, 0)),
            key,
            raw,
            synced: Mutex::new(synced),
        }
    }

    /// Replaces the readiness assumed until the first event (`new` assumes both
    /// directions). Only before the handle is added to the poller: no event can
    /// have been dispatched for it yet.
    pub(crate) fn assume_ready(&self, ready: Ready) {
        self.readiness.store(pack(ready, 0), Ordering::Release);
    }

    /// The poller key of this registration.
    pub(crate) fn key(&self) -> usize {
        self.key
    }

    /// Locks `synced`, ignoring poisoning (no code panics while holding it).
    fn lock(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The readiness of `dir`, if any bit ending a wait in `dir` is set.
    fn ready_in(&self, dir: Direction) -> Option<ReadyEvent> {
        let word = self.readiness.load(Ordering::Acquire);
        let ready = Ready::from_word(word).and(dir.wake_mask());
        (!ready.is_empty()).then(|| ReadyEvent { ready, tick: tick_of(word) })
    }

    /// The readiness word now, whatever it says (for a non-blocking attempt).
    pub(crate) fn snapshot(&self) -> ReadyEvent {
        let word = self.readiness.load(Ordering::Acquire);
        ReadyEvent { ready: Ready::from_word(word), tick: tick_of(word) }
    }

    /// Step 1 of the protocol (driver): records `ready` and bumps the tick.
    pub(crate) fn set_readiness(&self, ready: Ready) {
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let bits = Ready::from_word(word) | ready;
            Some(pack(bits, tick_of(word).wrapping_add(1)))
        });
    }

    /// Step 3 of the protocol (task): clears `dir`'s bits if no event came since `seen`.
    pub(crate) fn clear_readiness(&self, seen: ReadyEvent, dir: Direction) {
        self.clear_bits(seen, dir.clear_mask());
    }

    /// Clears `bits` if no event came since `seen`.
    pub(crate) fn clear_bits(&self, seen: ReadyEvent, bits: Ready) {
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            (tick_of(word) == seen.tick)
                .then(|| pack(Ready::from_word(word).without(bits), seen.tick))
        });
    }

    /// Step 1 continued (driver): takes the wakers `ready` releases into `wakers` and,
    /// in oneshot mode, re-arms the directions still waited on.
    pub(crate) fn dispatch(
        &self,
        ready: Ready,
        poller: &Poller,
        mode: Mode,
        wakers: &mut Vec<Waker>,
    ) {
        let mut synced = self.lock();
        let tick = tick_of(self.readiness.load(Ordering::Acquire));
        for dir in [Direction::Read, Direction::Write] {
            let woken = ready.and(dir.wake_mask());
            if !woken.is_empty() {
                let event = ReadyEvent { ready: woken, tick };
                synced.waiters(dir).drain_into(wakers, Some(event));
            }
        }
        if mode == Mode::Oneshot {
            // The event disarmed the handle; keep waiting for what is still waited on.
            synced.armed = Ready::EMPTY;
            // A failed re-arm cannot be reported from here; the waiter is woken so that it
            // polls again and its own arm attempt surfaces the error.
            if self.arm(&mut synced, poller).is_err() {
                synced.readers.drain_into(wakers, None);
                synced.writers.drain_into(wakers, None);
            }
        }
    }

    /// Step 2 of the protocol (task): ready now, or the waker is stored and (oneshot)
    /// `dir` armed.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: WaiterId,
        poller: &Poller,
        mode: Mode,
    ) -> Poll<io::Result<ReadyEvent>> {
        if let Some(ev) = self.ready_in(dir) {
            return Poll::Ready(self.check_shutdown(ev));
        }
        let mut synced = self.lock();
        // A future an event woke completes with it, whatever the readiness says now.
        if let Some(ev) = waiter.and_then(|id| synced.waiters(dir).take_notified(id)) {
            return Poll::Ready(self.check_shutdown(ev));
        }
        // Re-check under the lock: the driver sets readiness before taking this lock.
        if let Some(ev) = self.ready_in(dir) {
            if let Some(id) = waiter {
                synced.waiters(dir).remove(id);
            }
            return Poll::Ready(self.check_shutdown(ev));
        }
        synced.waiters(dir).store(waiter, cx.waker());
        if mode == Mode::Oneshot {
            if let Err(err) = self.arm(&mut synced, poller) {
                if let Some(id) = waiter {
                    synced.waiters(dir).remove(id);
                }
                return Poll::Ready(Err(err));
            }
        }
        Poll::Pending
    }

    /// Forgets readiness future `id` (it was dropped or completed).
    pub(crate) fn remove_waiter(&self, dir: Direction, id: u64) {
        self.lock().waiters(dir).remove(id);
    }

    /// Oneshot mode: makes the poller's interest cover every direction waited on.
    fn arm(&self, synced: &mut Synced, poller: &Poller) -> io::Result<()> {
        let mut want = Ready::EMPTY;
        if !synced.readers.is_empty() {
            want |= Direction::Read.interest();
        }
        if !synced.writers.is_empty() {
            want |= Direction::Write.interest();
        }
        if synced.armed.contains(want) || !synced.registered {
            return Ok(());
        }
        let interest = synced.armed | want;
        let event = Event::new(
            self.key,
            interest.contains(Ready::READABLE),
            interest.contains(Ready::WRITABLE),
        );
        // SAFETY: `registered` is true and we hold `synced`, so by the type's invariant
        // `raw` is open (its owner deregisters under this lock before closing it).
        let source = unsafe { borrow_source(self.raw) };
        poller.modify_with_mode(source, event, PollMode::Oneshot)?;
        synced.armed = interest;
        Ok(())
    }

    /// `ev`, or the shutdown error if the reactor shut down.
    fn check_shutdown(&self, ev: ReadyEvent) -> io::Result<ReadyEvent> {
        if ev.ready.contains(Ready::SHUTDOWN) {
            Err(super::shutdown_error())
        } else {
            Ok(ev)
        }
    }

    /// Step 4 of the protocol: deletes the handle from the poller (once) and moves
    /// every waker into `wakers`.
    pub(crate) fn deregister(&self, poller: &Poller, wakers: &mut Vec<Waker>) -> io::Result<()> {
        let mut synced = self.lock();
        synced.readers.drain_into(wakers, None);
        synced.writers.drain_into(wakers, None);
        if !std::mem::replace(&mut synced.registered, false) {
            return Ok(());
        }
        // SAFETY: `registered` was true under `synced`, so `raw` is still open (type
        // invariant); clearing the flag first means no one uses it after this call.
        let source = unsafe { borrow_source(self.raw) };
        poller.delete(source)
    }

    /// Reactor shutdown: every current and later wait completes with an error.
    pub(crate) fn shutdown(&self, wakers: &mut Vec<Waker>) {
        self.set_readiness(Ready::SHUTDOWN);
        let mut synced = self.lock();
        synced.readers.drain_into(wakers, None);
        synced.writers.drain_into(wakers, None);
    }
}

impl Synced {
    /// The waiters of `dir`.
    fn waiters(&mut self, dir: Direction) -> &mut Waiters {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

/// loom models of steps 1-3 (`.ci/loom`), in edge mode: oneshot only adds the
/// poller calls (`arm`), which run under `synced` and are not modelled.
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// Step 3 against step 1: a task that saw tick `t` and got `WouldBlock`
    /// clears readiness only if no event came since `t`.
    #[test]
    fn clear_never_drops_a_newer_event() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new(0, 0));
            let driver_io = io.clone();
            let driver = thread::spawn(move || driver_io.set_readiness(Ready::READABLE));
            let seen = io.snapshot();
            io.clear_readiness(seen, Direction::Read);
            driver.join().unwrap();

            let after = io.snapshot();
            assert_eq!(after.tick, 1, "one event, one tick");
            // Cleared only if the task had seen the event itself.
            assert!(after.ready.contains(Ready::READABLE) || seen.tick == 1);
        });
    }

    /// Step 2 against step 1: a waiting task either sees the readiness or has
    /// its waker taken by the dispatch.
    #[test]
    fn waiter_sees_readiness_or_is_woken() {
        // Edge mode never calls the poller; one real poller serves every execution.
        let poller = std::sync::Arc::new(Poller::new().unwrap());
        loom::model(move || {
            let io = Arc::new(ScheduledIo::new(0, 0));
            io.clear_readiness(io.snapshot(), Direction::Read);
            let (driver_io, driver_poller) = (io.clone(), poller.clone());
            let driver = thread::spawn(move || {
                driver_io.set_readiness(Ready::READABLE);
                let mut wakers = Vec::new();
                driver_io.dispatch(Ready::READABLE, &driver_poller, Mode::Edge, &mut wakers);
                wakers.into_iter().for_each(Waker::wake);
            });

            let woken = Arc::new(AtomicBool::new(false));
            let flag = woken.clone();
            let waker = waker_fn::waker_fn(move || flag.store(true, Ordering::SeqCst));
            let mut cx = Context::from_waker(&waker);
            let polled = io.poll_ready(&mut cx, Direction::Read, None, &poller, Mode::Edge);
            driver.join().unwrap();

            assert!(polled.is_ready() || woken.load(Ordering::SeqCst), "lost wake-up");
        });
    }
}
