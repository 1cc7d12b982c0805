//! A worker group's driver: its reactor and timers, turned by one idle worker.
//!
//! At most one thread holds the driver at a time ([`Driver::try_lock`]): a worker
//! of the group or, while `resize` has left the group without running workers,
//! the group's caretaker thread (`caretaker.rs`), which does nothing but turn it.
//!
//! # A turn
//!
//! 1. `prepare_park` on the group's timers records "a worker sleeps until the
//!    next deadline" (a registration of an earlier deadline then calls
//!    `Reactor::notify`, so the poller's timeout is re-armed only when the earliest
//!    deadline moves earlier).
//! 2. Wait in the reactor's poller until an event, a notify, or the deadline
//!    (on a paused clock with the whole runtime idle: jump the clock to the
//!    deadline instead and do not wait).
//! 3. `finish_park`, then fire the due timers. Woken tasks are scheduled on the
//!    calling worker (its local queue), which then leaves the park; a caretaker
//!    is no worker, so there they go to their group's injector and wake a sleeper.
//!
//! Busy workers take the driver with a zero timeout every `event_interval`
//! ticks ([`DriverTurn::poll`]) so I/O and timers are served under CPU load.
//! [`Driver::unpark`] wakes the holder (`Poller::notify`).
#![forbid(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::timer_batch::dispatching_timers;
use crate::reactor::Reactor;
use crate::time::{AutoAdvance, Clock, ParkTimeout, TimeDriver};

/// The per-group I/O and timer driver.
#[derive(Debug)]
pub(crate) struct Driver {
    /// Set while a worker holds the driver.
    held: AtomicBool,
    /// The group's reactor.
    reactor: Arc<Reactor>,
    /// The group's timers (sharded by worker inside).
    time: Arc<TimeDriver>,
}

/// How a group's timers are set up.
#[derive(Debug)]
pub(crate) struct TimeConfig {
    /// The runtime's clock.
    pub(crate) clock: Clock,
    /// One shard per worker slot of the group.
    pub(crate) shards: usize,
    /// `Builder::timer_slack`.
    pub(crate) slack: Duration,
}

/// Proof of holding the driver; releases it when dropped.
#[derive(Debug)]
pub(crate) struct DriverTurn<'a> {
    /// The held driver.
    driver: &'a Driver,
}

impl Driver {
    /// Creates a driver for group 0 (see [`Driver::for_group`]), with no timer slack.
    #[cfg(test)]
    pub(crate) fn new(event_capacity: usize, clock: Clock, shards: usize) -> io::Result<Driver> {
        Driver::for_group(0, event_capacity, TimeConfig { clock, shards, slack: Duration::ZERO })
    }

    /// Creates group `group`'s driver: a reactor with room for `event_capacity`
    /// events per wait, and timers as `time` says.
    pub(crate) fn for_group(
        group: usize,
        event_capacity: usize,
        time: TimeConfig,
    ) -> io::Result<Driver> {
        let reactor = Arc::new(Reactor::for_group(event_capacity, group)?);
        let notify = reactor.clone();
        let time = TimeDriver::with_slack(
            time.clock,
            time.shards.max(1),
            time.slack,
            Arc::new(move || {
                // A failed notify means the poller is gone (shutdown): nothing to wake.
                let _ = notify.notify();
            }),
        );
        Ok(Driver { held: AtomicBool::new(false), reactor, time })
    }

    /// The group's reactor.
    pub(crate) fn reactor(&self) -> &Arc<Reactor> {
        &self.reactor
    }

    /// The group's timers.
    pub(crate) fn time(&self) -> &Arc<TimeDriver> {
        &self.time
    }

    /// Takes the driver unless another worker holds it.
    pub(crate) fn try_lock(&self) -> Option<DriverTurn<'_>> {
        if self.held.load(Ordering::Relaxed) || self.held.swap(true, Ordering::Acquire) {
            None
        } else {
            Some(DriverTurn { driver: self })
        }
    }

    /// Wakes the worker waiting in the driver, if any.
    pub(crate) fn unpark(&self) {
        let _ = self.reactor.notify();
    }

    /// Stops the reactor and the timers: waiters fail or panic with a message
    /// saying the runtime shut down.
    pub(crate) fn shutdown(&self) {
        self.reactor.shutdown();
        self.time.shutdown();
    }
}

/// What a driver turn leaves its caller to finish, on a paused clock only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Turned {
    /// The sweep was counted ([`Clock::begin_firing`]): call
    /// [`Clock::end_firing`] once the tasks it woke are queued where the idle
    /// checks see them, and wake every driver if it says so.
    pub(crate) firing: bool,
    /// The turn jumped paused time forward: wake every driver (other groups'
    /// timers may be due now).
    pub(crate) moved: bool,
}

impl Turned {
    /// Ends a counted sweep (call it once the tasks the sweep woke are queued
    /// where the idle checks see them); true if every driver must be woken.
    pub(crate) fn finish(self, clock: &Clock) -> bool {
        let refused = self.firing && clock.end_firing();
        self.moved || refused
    }
}

impl DriverTurn<'_> {
    /// The runtime's clock.
    pub(crate) fn clock(&self) -> &Clock {
        self.driver.time.clock()
    }

    /// Steps 1-3 of a turn; waits at most `timeout`. `advance_to` is the
    /// earliest deadline of the whole runtime when it is idle on a paused clock
    /// (auto-advance, made only if nothing became busy since), else `None`. `woke` runs once, as soon as the wait is
    /// over and before any task is woken (the parker leaves its parked state
    /// there: see `park.rs`).
    ///
    /// Returns what the caller must finish on a paused clock (see [`Turned`]).
    #[must_use = "a counted sweep must be ended, and a jump told to the other drivers"]
    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
        advance_to: Option<AutoAdvance>,
        woke: impl FnOnce(),
    ) -> Turned {
        let time = &*self.driver.time;
        let reactor = &*self.driver.reactor;
        let deadline = time.prepare_park();
        // On a paused clock a sweep is counted ([`Clock::begin_firing`]) from the
        // moment the poller hands over events, before they are dispatched, and
        // for the timers fired below: the tasks they wake are in no queue the
        // idle checks see yet (this thread still counts as parked), so no other
        // driver may jump the clock past them meanwhile.
        let clock = time.clock();
        let firing = std::cell::Cell::new(None);
        let count_sweep = || {
            if firing.get().is_none() {
                firing.set(Some(clock.begin_firing()));
            }
        };
        // `woke` must run exactly once: inside the reactor's turn right after its
        // wait, or below when the poller is skipped (or another thread held it).
        let mut woke = Some(woke);
        let mut woke = |sweep: bool| {
            if sweep {
                count_sweep();
            }
            if let Some(woke) = woke.take() {
                woke();
            }
        };
        // Before an auto-advance, collect the I/O that is ready already (as tokio
        // does): a connect that completed or data that arrived wakes a task, so
        // the runtime is not idle, and jumping the clock would fire its timeout
        // first. Only a poll that succeeded and found nothing lets the jump go
        // ahead (uncounted: a count would refuse our own jump; `woke` waits
        // too, the parker stays parked until the turn ends).
        let io_first = advance_to.is_some() && !reactor.is_idle();
        let collected = io_first
            && !matches!(
                reactor.try_turn_then(Some(Duration::ZERO), |events| {
                    if events > 0 {
                        woke(true);
                    }
                }),
                Some(Ok(0))
            );
        let wait = match advance_to {
            Some(_) if collected => ParkTimeout::Wait(Some(Duration::ZERO)),
            Some(adv) => time.park_timeout(Some(adv.target), Some(adv.epoch)),
            None => time.park_timeout(deadline, None),
        };
        let (wait, moved) = match wait {
            ParkTimeout::Advanced { moved } => (Some(Duration::ZERO), moved),
            ParkTimeout::Wait(wait) => (wait, false),
        };
        let wait = match (wait, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // After that poll this turn never blocks, jump or no jump: the poll may
        // have taken a notification (an unpark) that came since the jump was
        // decided, and a refused jump means something became busy; the parker
        // decides again. A zero wait with no I/O source registered has nothing
        // to collect either: skip the poller's five syscalls (timers due every
        // few µs would otherwise pay them for each firing). Only the holder
        // turns, so the reactor is never busy here; an error (the poller
        // failing) leaves nothing to dispatch.
        let skip = io_first || (wait == Some(Duration::ZERO) && reactor.is_idle());
        if !skip {
            let _ = reactor.try_turn_then(wait, |_| woke(true));
        }
        woke(false);
        time.finish_park();
        count_sweep();
        dispatching_timers(|| time.process());
        Turned { firing: firing.get() == Some(true), moved }
    }

    /// A busy worker's non-blocking turn: dispatch ready I/O, fire due timers.
    ///
    /// A zero-timeout wait is five syscalls with `polling` on Linux (it re-arms
    /// its timerfd and notifier), so an empty reactor is not polled at all.
    pub(crate) fn poll(&self) {
        if !self.driver.reactor.is_idle() {
            let _ = self.driver.reactor.try_turn(Some(Duration::ZERO));
        }
        dispatching_timers(|| self.driver.time.process());
    }
}

impl Drop for DriverTurn<'_> {
    fn drop(&mut self) {
        self.driver.held.store(false, Ordering::Release);
    }
}
