//! The time driver: one per runtime, sharded, with the park protocol the executor uses.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::clock::{Clock, HORIZON_NS};
use super::shard::{Shard, NO_DEADLINE};
use super::wake_list::WakeList;
use crate::loom::atomic::{AtomicBool, AtomicU64, Ordering};

/// The timer slack (ns) workers ask the kernel for (`sys::set_timer_slack`).
///
/// Linux lets a thread's hrtimer expiries (`timerfd`, `epoll_pwait` timeouts) run late
/// by up to its slack, 50 µs by default, to batch wake-ups. That is three wheel ticks
/// (16.384 µs each), so the default would dominate our lateness. 1 µs keeps expiries
/// well inside a tick while still letting the kernel coalesce timers that are due at
/// practically the same time. It cannot be 0: `PR_SET_TIMERSLACK` with 0 means "back
/// to the default" (prctl(2)). Only worker threads (the ones that sleep in the poller)
/// need it.
pub(crate) const TIMER_SLACK_NS: u64 = 1_000;

/// Lowers the calling thread's timer slack to [`TIMER_SLACK_NS`]; each worker thread
/// calls it once at start.
///
/// # Errors
///
/// `ErrorKind::Unsupported` where the OS has no per-thread slack (Windows, non-Linux
/// unix): the worker should ignore it; the OS error if the call fails.
pub(crate) fn set_worker_timer_slack() -> std::io::Result<()> {
    crate::sys::set_timer_slack(TIMER_SLACK_NS)
}

/// The message of the panic when a timer is used after its runtime shut down.
pub(crate) const SHUTDOWN_MESSAGE: &str =
    "the hioload runtime that owns this timer was shut down; timers cannot be used after \
     their runtime has shut down";

/// `parked_until` when no worker is parked.
const NOT_PARKED: u64 = 0;
/// `parked_until` while a worker parks without a deadline, or is computing it: any
/// registration must unpark it.
const PARKED_FOREVER: u64 = u64::MAX;

/// An auto-advance of paused time the executor found possible: jump to
/// `target` if no thread of the runtime became busy since the clock's activity
/// epoch was `epoch` (read before the runtime was found idle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AutoAdvance {
    /// The earliest pending deadline of the whole runtime.
    pub(crate) target: Instant,
    /// [`Clock::activity`] before the idle checks.
    pub(crate) epoch: u64,
}

/// The outcome of [`TimeDriver::park_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkTimeout {
    /// Wait in the poller at most this long (`None`: until notified).
    Wait(Option<Duration>),
    /// Paused time was moved to the deadline: `finish_park()`, `process()`, then poll
    /// the poller with a zero timeout (to still collect I/O) and run what woke.
    /// `moved`: time actually moved (it was behind the deadline), so other
    /// groups' drivers must look at their timers too.
    Advanced {
        /// Time moved forward.
        moved: bool,
    },
}

/// All timers of one runtime: one wheel per shard (one shard per worker).
///
/// See the module docs of `time` for the protocol the executor follows.
pub(crate) struct TimeDriver {
    /// The runtime's clock (real or paused); every deadline is relative to its origin.
    clock: Clock,
    /// The shards; the count is fixed at construction.
    shards: Box<[CachePadded<Shard>]>,
    /// The deadline (ns since origin, + 1) the parked worker sleeps until: `NOT_PARKED`,
    /// `PARKED_FOREVER`, or `deadline + 1`. Written by the parking worker only
    /// (`prepare_park` / `finish_park`), read by every registration.
    ///
    /// On a cache line of its own: it is written at every park, while every timer
    /// operation of every worker reads the fields beside it (`clock`, `shards`).
    parked_until: CachePadded<AtomicU64>,
    /// Wakes the parked worker (the executor's `Poller::notify`).
    unpark: Arc<dyn Fn() + Send + Sync>,
    /// Set once by `shutdown`; polled by every timer.
    is_shutdown: AtomicBool,
    /// How late (ns) a timer may fire so that one wake-up serves several
    /// (`Builder::timer_slack`).
    slack: u64,
}

impl fmt::Debug for TimeDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeDriver")
            .field("clock", &self.clock)
            .field("shards", &self.shards.len())
            .field("parked_until", &self.parked_until.load(Ordering::Relaxed))
            .field("is_shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl TimeDriver {
    /// Creates a driver with `shards` wheels (at least one) reading `clock`; `unpark`
    /// wakes the worker parked in the poller. Timers fire on time (no slack).
    #[cfg(test)]
    pub(crate) fn new(
        clock: Clock,
        shards: usize,
        unpark: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<TimeDriver> {
        TimeDriver::with_slack(clock, shards, Duration::ZERO, unpark)
    }

    /// [`TimeDriver::new`] whose timers may fire up to `slack` late when that lets
    /// one wake-up serve several (a lone timer still fires on time).
    pub(crate) fn with_slack(
        clock: Clock,
        shards: usize,
        slack: Duration,
        unpark: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<TimeDriver> {
        let slack = u64::try_from(slack.as_nanos()).unwrap_or(u64::MAX);
        let shards = (0..shards.max(1)).map(|_| CachePadded::new(Shard::new(slack))).collect();
        Arc::new(TimeDriver {
            clock,
            shards,
            parked_until: CachePadded::new(AtomicU64::new(NOT_PARKED)),
            unpark,
            is_shutdown: AtomicBool::new(false),
            slack,
        })
    }

    /// The runtime clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Number of shards.
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Shard `i` (`i < shard_count()`).
    pub(crate) fn shard(&self, i: usize) -> &Shard {
        &self.shards[i]
    }

    /// Fires every due timer of every shard; wakers are woken outside the shard locks.
    /// Shards with nothing due are skipped without locking.
    pub(crate) fn process(&self) {
        let now = self.clock.to_nanos(self.clock.now());
        let mut wakers = WakeList::new();
        for shard in self.shards.iter() {
            shard.process(now, &mut wakers);
        }
    }

    /// Fires the due timers of shard `i % shard_count()` only.
    pub(crate) fn process_shard(&self, i: usize) {
        let now = self.clock.to_nanos(self.clock.now());
        self.shards[i % self.shards.len()].process(now, &mut WakeList::new());
    }

    /// The earliest pending deadline over all shards: on a running clock a lower bound
    /// (it may be early, never late) read from per-shard atomics without any lock; on
    /// a paused clock exact (see `next_deadline_ns`).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline_ns().map(|ns| self.clock.nanos_to_instant(ns))
    }

    /// Records that the calling worker is about to sleep in the poller, and returns
    /// the time it must wake at (`None`: no timer, sleep until notified): on a
    /// running clock the earliest shard wake-up (each at most the slack after its
    /// timers' deadlines, see `Shard::next_wake`), on a paused one the exact
    /// earliest deadline.
    ///
    /// Exactly one worker at a time may be between `prepare_park` and `finish_park`.
    /// From the moment this is called, a registration that needs an earlier wake-up
    /// calls `unpark` (so the poller's timeout is re-armed only when the wake-up
    /// moves earlier).
    pub(crate) fn prepare_park(&self) -> Option<Instant> {
        // Race with `on_insert` (registration: store shard.wake, then load
        // parked_until; all four operations SeqCst, so they are totally ordered):
        // 1. we store PARKED_FOREVER before reading any shard;
        // 2. a registration whose `wake` store precedes our read is in `wake`;
        // 3. one whose store follows our read loads parked_until after step 1, so it
        //    sees PARKED_FOREVER (and unparks) or our final value (and unparks if it is
        //    earlier). `Poller::notify` is sticky, so an unpark that lands before the
        //    wait makes the wait return at once. No registration is missed.
        let was = self.parked_until.swap(PARKED_FOREVER, Ordering::SeqCst);
        crate::loom::seq_cst_order();
        debug_assert_eq!(
            was, NOT_PARKED,
            "prepare_park called again before finish_park: only one worker may park in the poller"
        );
        let next =
            if self.clock.is_paused() { self.next_deadline_ns() } else { self.next_wake_ns() };
        let until = next.map_or(PARKED_FOREVER, |ns| ns.saturating_add(1));
        self.parked_until.store(until, Ordering::SeqCst);
        next.map(|ns| self.clock.nanos_to_instant(ns))
    }

    /// What the parking worker does with the `deadline` `prepare_park` returned:
    /// the poller timeout on a running clock; on a paused clock, either an
    /// auto-advance to `deadline` (done here, when `idle_since` says nothing else can
    /// make progress: every worker idle, no blocking job, `block_on` future not runnable),
    /// a zero wait when the deadline has already passed, or a wait without timeout
    /// for a nudge (virtual time does not pass by itself).
    ///
    /// `idle_since`: `Some(epoch)` when the executor found the whole runtime idle
    /// after reading the clock's activity epoch `epoch` ([`Clock::activity`]);
    /// the jump is then made only if nothing became busy since
    /// ([`Clock::advance_to_if_idle`]).
    pub(crate) fn park_timeout(
        &self,
        deadline: Option<Instant>,
        idle_since: Option<u64>,
    ) -> ParkTimeout {
        if !self.clock.is_paused() {
            let now = self.clock.now();
            return ParkTimeout::Wait(deadline.map(|d| d.saturating_duration_since(now)));
        }
        if let (Some(d), Some(epoch)) = (deadline, idle_since) {
            if let Some(moved) = self.clock.advance_to_if_idle(d, epoch) {
                return ParkTimeout::Advanced { moved };
            }
        }
        match deadline {
            // Due already (the clock moved past it some other way): fire it now.
            Some(d) if d <= self.clock.now() => ParkTimeout::Wait(Some(Duration::ZERO)),
            _ => ParkTimeout::Wait(None),
        }
    }

    /// Records that the parked worker is awake again.
    pub(crate) fn finish_park(&self) {
        self.parked_until.store(NOT_PARKED, Ordering::SeqCst);
    }

    /// Wakes every pending timer and refuses new ones; timers polled afterwards panic
    /// with a message saying the runtime was shut down. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.is_shutdown.store(true, Ordering::SeqCst);
        for shard in self.shards.iter() {
            shard.shutdown();
        }
    }

    /// True once `shutdown` has been called.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.is_shutdown.load(Ordering::Acquire)
    }

    /// Called after an insert moved its shard's wake-up time earlier, to `wake`
    /// (ns): unparks the parked worker if it sleeps past it. The shard's `wake`
    /// store (SeqCst) precedes this load.
    pub(crate) fn on_insert(&self, wake: u64) {
        crate::loom::seq_cst_order();
        let until = self.parked_until.load(Ordering::SeqCst);
        if until != NOT_PARKED && wake.saturating_add(1) < until {
            (self.unpark)();
        }
    }

    /// Number of pending timers over all shards (locks each shard in turn).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    /// When the parking worker should wake (lock-free): the earliest shard
    /// `wake`, or, when the earliest deadline `d` has company within the slack in
    /// another shard, `d + slack` (one wake-up for both; no timer is more than
    /// the slack late since `d` is the earliest).
    fn next_wake_ns(&self) -> Option<u64> {
        let (mut next, mut wake) = (NO_DEADLINE, NO_DEADLINE);
        for shard in self.shards.iter() {
            next = next.min(shard.next_deadline());
            wake = wake.min(shard.next_wake());
        }
        if next == NO_DEADLINE {
            return None;
        }
        let horizon = next.saturating_add(self.slack);
        if wake < horizon && self.shards.len() > 1 {
            let close = self.shards.iter().filter(|s| s.next_deadline() <= horizon).count();
            if close > 1 {
                wake = horizon;
            }
        }
        Some(wake)
    }

    /// Earliest `next` over the shards: lock-free lower bounds on a running clock;
    /// exact (each shard locked and refreshed) on a paused one, where auto-advance
    /// must not move time to the deadline of a timer that was cancelled.
    fn next_deadline_ns(&self) -> Option<u64> {
        let min = if self.clock.is_paused() {
            self.shards.iter().map(|s| s.exact_next_deadline()).min()
        } else {
            self.shards.iter().map(|s| s.next_deadline()).min()
        };
        // A deadline at the horizon is never due (`clock.rs`); `NO_DEADLINE` is past it.
        min.filter(|&min| min < HORIZON_NS)
    }
}

/// loom model of the park protocol (`prepare_park` against a registration's
/// `wake` store + `on_insert`, `.ci/loom`): a timer registered while a worker
/// prepares to sleep is never slept through.
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use super::*;
    use crate::time::filed::TestStates;
    use crate::time::shard::Inserted;
    use loom::sync::atomic::AtomicBool as LoomBool;
    use loom::thread;

    #[test]
    fn a_registration_racing_prepare_park_is_never_missed() {
        // A model thread with room for a driver (the model's own stack is small).
        loom::model(|| {
            let main = thread::Builder::new().stack_size(1 << 20).spawn(race_park_and_register);
            main.expect("spawn the model's main thread").join().unwrap();
        });
    }

    fn race_park_and_register() {
        {
            // Declared first: outlives the driver's wheel.
            let mut states = TestStates::default();
            let unparked = Arc::new(LoomBool::new(false));
            let flag = unparked.clone();
            let unpark: Arc<dyn Fn() + Send + Sync> =
                Arc::new(move || flag.store(true, Ordering::SeqCst));
            let driver = TimeDriver::new(Clock::real(), 1, unpark);
            // Far enough ahead that the wheel never sees it as already due.
            let deadline = driver.clock().to_nanos(driver.clock().now()) + 3_600_000_000_000;
            let registrar = {
                let driver = driver.clone();
                let entry = states.file(None);
                thread::spawn(move || {
                    let inserted = driver.shard(0).insert(deadline, entry);
                    let Inserted::Pending { earlier_wake: Some(wake), .. } = inserted else {
                        panic!("the first timer must move the wake-up earlier: {inserted:?}")
                    };
                    driver.on_insert(wake);
                })
            };
            let wake_at = driver.prepare_park().map(|at| driver.clock().to_nanos(at));
            registrar.join().unwrap();
            driver.finish_park();
            // Either the sleeper's deadline already covers the timer, or the
            // registration woke it (and it recomputes on the next park).
            assert!(
                unparked.load(Ordering::SeqCst) || wake_at.is_some_and(|at| at <= deadline),
                "slept through a timer: wake_at {wake_at:?}, deadline {deadline}"
            );
        }
    }
}
