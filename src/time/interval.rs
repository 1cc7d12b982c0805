//! `Interval`: a stream of evenly spaced ticks; `interval`, `interval_at`, and
//! `MissedTickBehavior`.
#![forbid(unsafe_code)]

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::instant::Instant;
use super::sleep::{sleep_until_named, Sleep};

/// How late a tick may be before it counts as missed (tokio's value, kept so that
/// code ported from tokio behaves the same).
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// An interval whose first tick completes immediately, then one every `period`;
/// replaces `tokio::time::interval`.
///
/// # Examples
///
/// ```
/// use hioload::time::{interval, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let start = Instant::now();
///     let mut every = interval(Duration::from_millis(2));
///     every.tick().await; // immediately
///     every.tick().await; // 2 ms after start
///     every.tick().await; // 4 ms after start
///     assert!(start.elapsed() >= Duration::from_millis(4));
/// });
/// ```
///
/// # Panics
///
/// If `period` is zero, or if called outside a hioload runtime.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    new_interval(Instant::now(), period, "hioload::time::interval")
}

/// An interval whose first tick completes at `start`, then one every `period`;
/// replaces `tokio::time::interval_at`.
///
/// # Examples
///
/// ```
/// use hioload::time::{interval_at, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let start = Instant::now() + Duration::from_millis(1);
///     let mut every = interval_at(start, Duration::from_millis(1));
///     assert_eq!(every.tick().await, start);
/// });
/// ```
///
/// # Panics
///
/// If `period` is zero, or if called outside a hioload runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    new_interval(start, period, "hioload::time::interval_at")
}

/// [`interval_at`], naming `what` in its panics.
#[track_caller]
fn new_interval(start: Instant, period: Duration, what: &str) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero ({what})");
    let delay = sleep_until_named(start, what);
    Interval { delay, period, missed_tick_behavior: MissedTickBehavior::Burst }
}

/// What an [`Interval`] does when ticks were missed (the consumer was late by more
/// than 5 ms); the same variants and semantics as `tokio::time::MissedTickBehavior`.
///
/// Say the period is 50 ms, ticks were due at 50, 100, 150 and 200 ms, and the
/// consumer only asks again at 170 ms:
///
/// - `Burst` (the default): the missed ticks (100, 150) complete at once, then the
///   schedule continues unchanged: 200, 250, ...
/// - `Delay`: the late tick completes now, and the schedule restarts from now:
///   220, 270, ...
/// - `Skip`: the late tick completes now, and the next one is the next multiple of
///   the period on the original schedule: 200, 250, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks as fast as possible, then keep the original schedule.
    #[default]
    Burst,
    /// Restart the schedule one period after the late tick was seen.
    Delay,
    /// Drop the missed ticks and keep to the original schedule's multiples.
    Skip,
}

impl MissedTickBehavior {
    /// The next deadline after the tick due at `timeout` was seen late, at `now`.
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => timeout.saturating_add(period),
            MissedTickBehavior::Delay => now.saturating_add(period),
            MissedTickBehavior::Skip => {
                let behind = (now - timeout).as_nanos() % period.as_nanos();
                // `behind < period`, so it fits in a Duration.
                let behind = Duration::from_nanos(u64::try_from(behind).unwrap_or(u64::MAX));
                now.saturating_add(period.saturating_sub(behind))
            }
        }
    }
}

/// Ticks every `period`; replaces `tokio::time::Interval`. Created by [`interval`]
/// or [`interval_at`]; dropping it cancels its timer.
#[derive(Debug)]
pub struct Interval {
    /// The timer of the next tick; its deadline is the next tick's scheduled time.
    delay: Sleep,
    /// Time between ticks; non-zero.
    period: Duration,
    /// What to do when ticks were missed.
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick, returning the instant it was scheduled for.
    ///
    /// Cancel-safe: dropping the future before it completes loses no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick, returning the instant it was scheduled for.
    ///
    /// When `Pending`, the waker of the latest `cx` is woken at the tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let timeout = self.delay.deadline();
        let now = self.delay.now();
        let next = if now > timeout.saturating_add(MISSED_AFTER) {
            self.missed_tick_behavior.next_timeout(timeout, now, self.period)
        } else {
            timeout.saturating_add(self.period)
        };
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(timeout)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.reset_at(self.delay.now().saturating_add(self.period));
    }

    /// Makes the next tick complete immediately, the schedule continuing from now.
    pub fn reset_immediately(&mut self) {
        self.reset_at(self.delay.now());
    }

    /// Makes the next tick complete after `after`, the schedule continuing from then.
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(self.delay.now().saturating_add(after));
    }

    /// Makes the next tick complete at `deadline`, the schedule continuing from then.
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The behaviour for missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets the behaviour for missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}
