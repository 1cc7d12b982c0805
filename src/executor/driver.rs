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

use super::park::WATCH_PAUSES;
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

    /// Watches, before a wait, for up to `spin` (never past the next timer
    /// deadline): true as soon as `stop()` says so or I/O events come in (a
    /// `wait` then collects them at once), false when the watch ran out.
    ///
    /// While nobody sleeps in the poller, a thread that makes a source ready
    /// wakes nobody: an event that comes during the watch costs neither side
    /// a context switch. Each look at the poller is one `poll(2)` of its
    /// descriptor. With no source registered only `stop` is watched. No watch
    /// once the clock was ever paused (paused time moves only when every
    /// worker sleeps, and a resumed clock no longer reads real time), nor
    /// where the poller cannot be probed (IOCP) while sources are registered.
    pub(crate) fn watch(&self, spin: Duration, stop: impl Fn() -> bool) -> bool {
        let reactor = &*self.driver.reactor;
        let probe = !reactor.is_idle();
        let clock = self.clock();
        // A clock that was ever paused may stand still or run ahead of real
        // time: it cannot time the watch. (Paused time is for tests.)
        if (probe && !crate::sys::POLLER_CAN_BE_PROBED) || clock.ever_paused() {
            return false;
        }
        let until = clock.now() + spin;
        loop {
            for _ in 0..WATCH_PAUSES {
                std::hint::spin_loop();
            }
            if stop() || (probe && reactor.has_uncollected_events()) {
                return true;
            }
            // Paused during the watch: the holder must go and decide on
            // auto-advance (a nudge reaches the poller, not this loop).
            if clock.ever_paused() {
                return false;
            }
            // Never paused: the clock reads real time. The deadline is read on
            // every look: a timer registered during the watch may be due first.
            let now = clock.now();
            if now >= until || self.driver.time.next_deadline().is_some_and(|d| d <= now) {
                return false;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::net::UdpSocket;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    use crate::net::Async;

    /// Long enough that a watch ending before it ended for another reason.
    const LONG: Duration = Duration::from_secs(30);

    fn driver(clock: Clock) -> Arc<Driver> {
        Arc::new(Driver::new(16, clock, 1).unwrap())
    }

    /// A UDP socket registered with `driver`'s reactor, its first edges collected.
    fn quiet_socket(driver: &Driver) -> Async<UdpSocket> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let socket = Async::new_in(socket, driver.reactor().clone()).unwrap();
        // Edge mode reports the new registration's writability: collect it.
        while driver.reactor().try_turn(Some(Duration::ZERO)).unwrap().unwrap() > 0 {}
        socket
    }

    #[cfg(unix)]
    #[test]
    fn the_watch_ends_when_an_event_comes_in() {
        let driver = driver(Clock::real());
        let socket = quiet_socket(&driver);
        let to = socket.get_ref().local_addr().unwrap();
        let turn = driver.try_lock().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"x", to).unwrap();
        });
        let start = Instant::now();
        assert!(turn.watch(LONG, || false));
        assert!(start.elapsed() < LONG);
        assert!(driver.reactor().has_uncollected_events(), "the watch collected the event");
        t.join().unwrap();
    }

    #[test]
    fn the_watch_ends_when_told_to_stop() {
        let driver = driver(Clock::real());
        let turn = driver.try_lock().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let t = std::thread::spawn({
            let stop = stop.clone();
            move || {
                std::thread::sleep(Duration::from_millis(5));
                stop.store(true, Ordering::SeqCst);
            }
        });
        assert!(turn.watch(LONG, || stop.load(Ordering::SeqCst)));
        t.join().unwrap();
    }

    #[test]
    fn the_watch_runs_out_and_stops_at_the_next_timer_deadline() {
        let driver = driver(Clock::real());
        let turn = driver.try_lock().unwrap();
        let start = Instant::now();
        assert!(!turn.watch(Duration::from_millis(2), || false));
        assert!(start.elapsed() >= Duration::from_millis(2));
        // A timer due in 5 ms ends a long watch then (not early: the wait
        // that follows fires it), also one registered during the watch.
        let time = driver.time().clone();
        let t = std::thread::spawn(move || {
            let _in_time = crate::time::enter(time, 0);
            let mut sleep = Box::pin(crate::time::sleep(Duration::from_millis(5)));
            let waker = waker_fn::waker_fn(|| {});
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(sleep.as_mut().poll(&mut cx).is_pending());
            sleep // registered until dropped
        });
        let start = Instant::now();
        assert!(!turn.watch(LONG, || false));
        assert!(start.elapsed() < LONG);
        drop(t.join().unwrap());
    }

    #[cfg(windows)]
    #[test]
    fn no_watch_where_the_poller_cannot_be_probed() {
        // An IOCP port cannot be asked for completions without taking them:
        // with a source registered, watching would only delay its events.
        let driver = driver(Clock::real());
        let _socket = quiet_socket(&driver);
        let turn = driver.try_lock().unwrap();
        let start = Instant::now();
        assert!(!turn.watch(LONG, || false));
        assert!(start.elapsed() < LONG);
    }

    #[test]
    fn a_pause_during_the_watch_ends_it() {
        // Found in review: the watch was timed on the runtime clock, which a
        // pause stops, and with no source registered no nudge reached it: the
        // holder spun for good and paused time never auto-advanced.
        let driver = driver(Clock::real());
        let clock = driver.time().clock().clone();
        let turn = driver.try_lock().unwrap();
        let gave_up = Arc::new(AtomicBool::new(false));
        let t = std::thread::spawn({
            let gave_up = gave_up.clone();
            move || {
                std::thread::sleep(Duration::from_millis(1));
                assert!(clock.pause());
                std::thread::sleep(Duration::from_secs(2));
                gave_up.store(true, Ordering::SeqCst);
            }
        });
        let start = Instant::now();
        let stopped = turn.watch(Duration::from_millis(10), || gave_up.load(Ordering::SeqCst));
        let took = start.elapsed();
        t.join().unwrap();
        assert!(
            !stopped && took < Duration::from_secs(1),
            "a 10 ms watch ran {took:?}, until stopped from outside ({stopped})"
        );
    }

    #[test]
    fn no_watch_on_a_paused_clock() {
        // Paused time moves only once every worker sleeps: a watching holder
        // would hold it still for the watch's length.
        let driver = driver(Clock::paused());
        let turn = driver.try_lock().unwrap();
        let start = Instant::now();
        assert!(!turn.watch(LONG, || false));
        assert!(start.elapsed() < LONG);
    }
}
