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
//! 2. Wait in the reactor's poller until an event, a notify, or the deadline.
//!    On a paused clock with the whole runtime idle, jump the clock to the
//!    deadline instead of waiting, after a zero-timeout poll of the reactor
//!    (as tokio does): a socket event that is ready already means the runtime
//!    is not idle, and cancels the jump. A turn that made that poll never
//!    blocks (the poll may have taken an unpark's notification).
//! 3. `finish_park`, then fire the due timers. Woken tasks are scheduled on the
//!    calling worker (its local queue), which then leaves the park; a caretaker
//!    is no worker, so there they go to their group's injector and wake a sleeper.
//!    On a paused clock the sweep is counted ([`Clock::begin_firing`]) from the
//!    moment the poller hands events over until the caller has queued the
//!    tasks where the idle checks see them ([`Turned::finish`]).
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
    /// (auto-advance, made only if nothing became busy since), else `None`.
    /// `woke` runs once, as soon as the wait is over and before any task is
    /// woken (the parker leaves its parked state there: see `park.rs`).
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
        let mut end = WaitEnd { woke: Some(woke), clock: time.clock(), firing: None };
        // Before a jump, the ready I/O (step 2). Only a poll that succeeded and
        // found nothing lets the jump go ahead; it counts no sweep then (that
        // would refuse our own jump), and the parker stays parked until the
        // turn ends.
        let io_first = advance_to.is_some() && !reactor.is_idle();
        let collected = io_first
            && !matches!(
                reactor.try_turn_then(Some(Duration::ZERO), |events| {
                    if events > 0 {
                        end.woke(true);
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
        // No second poll after that one: a refused jump means something became
        // busy, and the parker decides again. A zero wait with no I/O source
        // registered has nothing to collect either: skip the poller's five
        // syscalls (timers due every few µs would otherwise pay them for each
        // firing). Only the holder turns, so the reactor is never busy here; an
        // error (the poller failing) leaves nothing to dispatch.
        let skip = io_first || (wait == Some(Duration::ZERO) && reactor.is_idle());
        if !skip {
            let _ = reactor.try_turn_then(wait, |_| end.woke(true));
        }
        end.woke(false);
        time.finish_park();
        end.count_sweep();
        dispatching_timers(|| time.process());
        Turned { firing: end.firing == Some(true), moved }
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

/// The end of a turn's wait: the parker's `woke`, run once, and the sweep
/// count of a paused clock, begun once.
struct WaitEnd<'c, W: FnOnce()> {
    /// The parker's callback, until it has run.
    woke: Option<W>,
    /// The runtime's clock.
    clock: &'c Clock,
    /// What [`Clock::begin_firing`] returned, once called.
    firing: Option<bool>,
}

impl<W: FnOnce()> WaitEnd<'_, W> {
    /// The wait is over: counts the sweep first if events were handed over
    /// (`sweep`), then runs `woke` unless it already ran.
    fn woke(&mut self, sweep: bool) {
        if sweep {
            self.count_sweep();
        }
        if let Some(woke) = self.woke.take() {
            woke();
        }
    }

    /// Begins the sweep's count, unless it already began.
    fn count_sweep(&mut self) {
        if self.firing.is_none() {
            self.firing = Some(self.clock.begin_firing());
        }
    }
}

impl Drop for DriverTurn<'_> {
    fn drop(&mut self) {
        self.driver.held.store(false, Ordering::Release);
    }
}
