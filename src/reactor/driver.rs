//! `Reactor`: the `polling::Poller`, the registration table, and the turn.
//!
//! # A turn ([`Reactor::try_turn`])
//!
//! 1. Take the turn lock with `try_lock`; if another thread holds it, return `None` at once.
//! 2. Release the slots deregistered since the last turn (no batch is in flight now).
//! 3. Wait on the poller up to the timeout, into the reusable `Events` buffer.
//! 4. Resolve the batch's keys to registrations under one registry lock (stale keys drop).
//! 5. For each event: set readiness (atomic), then take the released wakers under that
//!    registration's lock (and re-arm it in oneshot mode).
//! 6. Release the turn lock, then wake every collected waker: no lock is held while
//!    foreign code (wakers) runs.
//!
//! # Edge or oneshot
//!
//! Where `Poller::supports_edge()` (epoll, kqueue), handles are registered once,
//! edge-triggered, with interest in both directions: a wait costs no syscall beyond
//! `epoll_wait`, and readiness bits + tick (see `ready.rs`) make edges safe to consume
//! (a task clears a bit only after `WouldBlock`, and only if no newer edge arrived).
//! Elsewhere (IOCP has no edge mode), handles are oneshot: every event disarms the
//! handle, and a task that finds its direction not ready re-arms it with `modify` before
//! sleeping. That is one extra `epoll_ctl`/AFD-poll syscall per wait that follows a
//! `WouldBlock`. Measured (strace -c, echo_client 10 connections x 2,000 round trips on
//! loopback, 2026-11-27): edge mode made 1,911 `epoll_ctl` calls (20 add/delete, the rest
//! `polling`'s own timerfd/eventfd re-arms, two per wait), oneshot mode 3,518, i.e. +1,607 for 2,154
//! `WouldBlock`s. Hence edge where it exists; correctness never depends on edge semantics,
//! and the unit tests run every scenario in both modes on Linux.
//!
//! # Cost of a turn
//!
//! With `polling` 3.11 on Linux one wait is five syscalls whatever the timeout:
//! `timerfd_settime`, `epoll_ctl` (timerfd), `epoll_pwait`, `read` (eventfd) and `epoll_ctl`
//! (eventfd). So `try_turn(Some(Duration::ZERO))` is not free: busy workers should call it
//! every N ticks (tokio uses 61), not on every task.

use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

use super::ready::{Direction, Ready, ReadyEvent};
use super::registry::Registry;
use super::scheduled_io::{Mode, ScheduledIo, WaiterId};
use crate::sys::RawSource;
use crate::util::wake::wake_all_contained;

/// The event batch size the runtime uses unless configured otherwise: one wait returns at
/// most this many events (more stay queued in the OS for the next turn).
pub(crate) const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// The I/O driver of one worker group: see the module docs for the turn protocol.
pub(crate) struct Reactor {
    /// The OS poller (epoll / IOCP).
    poller: Poller,
    /// Edge or oneshot registrations (fixed at creation).
    mode: Mode,
    /// The turn state; whoever holds this lock is the one thread waiting on the poller.
    turn: Mutex<Turn>,
    /// Live registrations.
    registry: Registry,
    /// Set once by `shutdown`; read by `try_turn` and `register`.
    shut_down: AtomicBool,
    /// The worker group whose workers turn this reactor (fixed at creation; 0 for a
    /// reactor outside a multi-group runtime).
    group: usize,
}

/// Buffers reused from turn to turn, owned by the turning thread.
struct Turn {
    /// The poller's event batch (capacity = the reactor's batch size).
    events: Events,
    /// The batch resolved to registrations (emptied at the end of every turn).
    resolved: Vec<(Arc<ScheduledIo>, Ready)>,
}

impl Reactor {
    /// A reactor whose waits return at most `event_capacity` events; edge-triggered
    /// where the OS supports it.
    ///
    /// # Errors
    ///
    /// `event_capacity` is 0 (the error names it), or the poller cannot be created.
    pub(crate) fn new(event_capacity: usize) -> io::Result<Reactor> {
        Reactor::with_mode(event_capacity, true)
    }

    /// Like [`Reactor::new`], for the reactor of worker group `group` (what
    /// [`Reactor::group`] reports; it changes nothing else).
    ///
    /// # Errors
    ///
    /// As for [`Reactor::new`].
    pub(crate) fn for_group(event_capacity: usize, group: usize) -> io::Result<Reactor> {
        Ok(Reactor { group, ..Reactor::new(event_capacity)? })
    }

    /// Like [`Reactor::new`]; `allow_edge = false` forces oneshot mode (tests use it to
    /// run the IOCP code path on Linux).
    pub(crate) fn with_mode(event_capacity: usize, allow_edge: bool) -> io::Result<Reactor> {
        let capacity = NonZeroUsize::new(event_capacity).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("reactor event capacity must be at least 1 (got {event_capacity})"),
            )
        })?;
        let poller = Poller::new()?;
        let mode = if allow_edge && poller.supports_edge() { Mode::Edge } else { Mode::Oneshot };
        let turn = Turn { events: Events::with_capacity(capacity), resolved: Vec::new() };
        Ok(Reactor {
            poller,
            mode,
            turn: Mutex::new(turn),
            registry: Registry::default(),
            shut_down: AtomicBool::new(false),
            group: 0,
        })
    }

    /// The worker group this reactor belongs to.
    pub(crate) fn group(&self) -> usize {
        self.group
    }

    /// Whether registrations are edge-triggered.
    #[cfg(test)]
    pub(crate) fn is_edge(&self) -> bool {
        self.mode == Mode::Edge
    }

    /// Registers `raw`, taking it as ready in the directions of `assumed` until its
    /// first event (`READABLE | WRITABLE` for an open handle: the first operation is
    /// just tried; a connecting socket is not assumed writable, so its connect waits
    /// for the completion event).
    ///
    /// # Safety
    ///
    /// `raw` must stay open until [`Reactor::deregister`] has been called with the
    /// returned registration.
    ///
    /// # Errors
    ///
    /// The reactor shut down, or the poller refused the handle.
    pub(crate) unsafe fn register(
        &self,
        raw: RawSource,
        assumed: Ready,
    ) -> io::Result<Arc<ScheduledIo>> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(shutdown_error());
        }
        let io = self.registry.allocate(raw)?;
        if assumed != Ready::READABLE | Ready::WRITABLE {
            io.assume_ready(assumed);
        }
        let key = io.key();
        let (event, mode) = match self.mode {
            Mode::Edge => (Event::all(key), PollMode::Edge),
            // Armed on demand by the first task that waits (see `ScheduledIo::poll_ready`).
            Mode::Oneshot => (Event::none(key), PollMode::Oneshot),
        };
        // SAFETY: the caller keeps `raw` open until `deregister`, which deletes it from
        // the poller first (this fn's contract), as `Poller::add` requires.
        if let Err(err) = unsafe { self.poller.add_with_mode(raw, event, mode) } {
            // Never added: no event can carry the key, so the slot can go at once.
            self.registry.release_now(key);
            return Err(err);
        }
        Ok(io)
    }

    /// Deletes `io` from the poller, wakes its waiters, and queues its slot for release.
    ///
    /// # Errors
    ///
    /// The poller failed to delete the handle (the slot is released anyway).
    pub(crate) fn deregister(&self, io: &ScheduledIo) -> io::Result<()> {
        let mut wakers = Vec::new();
        let result = io.deregister(&self.poller, &mut wakers);
        self.registry.defer_release(io.key());
        // With no turn in flight no batch can refer to the slot: release it right away.
        if let Ok(_turn) = self.turn.try_lock() {
            self.registry.release_pending();
        }
        wake_all_contained(wakers);
        result
    }

    /// Ready in `dir`, or registers the waker (see `ScheduledIo::poll_ready`).
    pub(crate) fn poll_ready(
        &self,
        io: &ScheduledIo,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: WaiterId,
    ) -> Poll<io::Result<ReadyEvent>> {
        io.poll_ready(cx, dir, waiter, &self.poller, self.mode)
    }

    /// Waits up to `timeout` (`None`: until an event or [`Reactor::notify`]) unless
    /// another thread is turning, dispatches the batch and wakes the tasks it readies.
    ///
    /// Returns `None` at once if another thread holds the poller, otherwise the number
    /// of events received.
    pub(crate) fn try_turn(&self, timeout: Option<Duration>) -> Option<io::Result<usize>> {
        self.try_turn_then(timeout, |_| {})
    }

    /// [`Reactor::try_turn`], calling `woke` with the number of events received
    /// (0 after an error) once the wait has returned and before the batch is
    /// dispatched (the parked worker leaves its parked state there, so that the
    /// wake-ups it dispatches to itself do not notify the poller again and make
    /// its next wait return at once).
    pub(crate) fn try_turn_then(
        &self,
        timeout: Option<Duration>,
        woke: impl FnOnce(usize),
    ) -> Option<io::Result<usize>> {
        // Step 1: only one thread waits on the poller.
        let mut turn = match self.turn.try_lock() {
            Ok(turn) => turn,
            Err(TryLockError::WouldBlock) => return None,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };
        if self.shut_down.load(Ordering::Acquire) {
            return Some(Err(shutdown_error()));
        }
        // Step 2: no batch is in flight, so deregistered slots can go.
        self.registry.release_pending();
        // Step 3: wait.
        turn.events.clear();
        let waited = self.poller.wait(&mut turn.events, timeout);
        woke(if waited.is_ok() { turn.events.len() } else { 0 });
        if let Err(err) = waited {
            return Some(Err(err));
        }
        let count = turn.events.len();
        let wakers = self.dispatch_events(&mut turn);
        // Step 6: wake with no lock held (a user's waker that panics does not
        // unwind through the worker turning the driver).
        drop(turn);
        wake_all_contained(wakers);
        Some(Ok(count))
    }

    /// Steps 4 and 5: resolves the batch and collects the wakers it releases.
    fn dispatch_events(&self, turn: &mut MutexGuard<'_, Turn>) -> Vec<Waker> {
        let Turn { events, resolved } = &mut **turn;
        self.registry.resolve(events.iter(), resolved);
        let mut wakers = Vec::new();
        for (io, ready) in resolved.drain(..) {
            self.make_ready(&io, ready, &mut wakers);
        }
        wakers
    }

    /// Sets `ready` on `io` (moving its tick) and takes the wakers it releases.
    fn make_ready(&self, io: &ScheduledIo, ready: Ready, wakers: &mut Vec<Waker>) {
        io.set_readiness(ready);
        io.dispatch(ready, &self.poller, self.mode, wakers);
    }

    /// Makes `io` ready in `ready` as an event would (the tick moves, so a clear
    /// decided on an older snapshot does not apply), and wakes its waiters for it.
    /// For readiness the poller will not report again (a local read shutdown
    /// whose event a drained read's clear may have undone).
    pub(crate) fn mark_ready(&self, io: &ScheduledIo, ready: Ready) {
        let mut wakers = Vec::new();
        self.make_ready(io, ready, &mut wakers);
        wake_all_contained(wakers);
    }

    /// Wakes the thread blocked in [`Reactor::try_turn`], or makes the next turn
    /// return at once.
    ///
    /// # Errors
    ///
    /// The OS failed to signal the poller.
    pub(crate) fn notify(&self) -> io::Result<()> {
        self.poller.notify()
    }

    /// Shuts the reactor down: every current and later wait on a registration completes
    /// with a "runtime shut down" error, and later registrations fail. Idempotent.
    pub(crate) fn shutdown(&self) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut wakers = Vec::new();
        for io in self.registry.shutdown() {
            io.shutdown(&mut wakers);
        }
        wake_all_contained(wakers);
        // A thread blocked in the poller returns and sees the flag on its next turn.
        let _ = self.poller.notify();
    }

    /// Whether nothing is registered (lock-free): a busy worker's zero-timeout
    /// poll of an empty reactor would only cost syscalls.
    pub(crate) fn is_idle(&self) -> bool {
        self.registry.is_empty()
    }

    /// Whether events wait in the poller that no turn has collected yet (a
    /// thread blocked in this reactor's wait is about to return with them).
    /// Always false where the OS cannot tell (IOCP).
    pub(crate) fn has_uncollected_events(&self) -> bool {
        crate::sys::poller_has_events(&self.poller)
    }

    /// Number of registrations (including ones awaiting lazy release).
    pub(crate) fn registrations(&self) -> usize {
        self.registry.len()
    }
}

/// The error of every operation on a reactor that shut down.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other("runtime shut down: the reactor no longer drives I/O")
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("mode", &self.mode)
            .field("group", &self.group)
            .field("registrations", &self.registry.len())
            .field("shut_down", &self.shut_down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
