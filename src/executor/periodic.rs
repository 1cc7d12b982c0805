//! How often a busy worker looks beyond its own queue.
//!
//! A worker whose queue never runs dry never parks, so two things happen only
//! by count of polls ("ticks"): turning the driver with a zero timeout (I/O and
//! timers, `maintenance`) and taking from its group's injector (remote spawns).
//! A fixed count (`event_interval` = 61, `global_queue_interval` = 31, tokio's)
//! is a fixed time only while polls are short: with 3 ms polls (CPU-heavy tasks
//! that `yield_now`) 61 ticks are 180 ms, and a socket read or a 1 ms sleep
//! waited that long (tokio defers a yielded task until after its next driver
//! turn, and tunes its injector interval to ~200 µs of polling, so it served
//! them in a few ms).
//!
//! So a worker reads the clock every [`WINDOW`] ticks (or fewer) and sizes
//! both intervals to about [`TARGET`] of polling: `TARGET / mean poll time`
//! over the last window, at least 1 (2 for the injector: checked on every look
//! it would always come before the local queue) and at most the configured counts,
//! shrinking at once but growing at most twofold per window (one short poll
//! among long ones must not buy the long ones 61 ticks). Short polls keep the
//! configured counts at the cost of one clock read per 8 polls; polls that
//! turn long are noticed within 8 of them, and are then followed by a check
//! each. A park ends the window: the next one starts when the worker wakes.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::time::{Duration, Instant};

/// About how much polling a busy worker does between two periodic checks.
pub(crate) const TARGET: Duration = Duration::from_micros(200);

/// Most ticks between two clock reads.
pub(crate) const WINDOW: u32 = 8;

/// One worker's tick counts for its periodic checks.
#[derive(Debug)]
pub(crate) struct Periodic {
    /// The configured `event_interval`: the most ticks between maintenances.
    max_event: u32,
    /// The configured `global_queue_interval`: the most ticks between
    /// injector checks.
    max_queue: u32,
    /// Ticks between maintenances now.
    event: Cell<u32>,
    /// Ticks between injector checks now (at least 2 unless configured 1:
    /// checked on every tick, the injector would come before the local queue
    /// each time, and a stream of remote spawns would starve it).
    queue: Cell<u32>,
    /// Ticks left until the next injector check (at least 1).
    queue_left: Cell<u32>,
    /// Ticks since the last maintenance, up to the current window's start.
    since: Cell<u32>,
    /// Ticks left in the current window (at least 1).
    left: Cell<u32>,
    /// When the current window began, and how many ticks it lasts.
    window: Cell<(Instant, u32)>,
}

impl Periodic {
    /// Counts for a worker configured with `event_interval` and
    /// `global_queue_interval` (both at least 1), starting at `now`.
    pub(crate) fn new(event_interval: u32, global_queue_interval: u32, now: Instant) -> Periodic {
        let max_event = event_interval.max(1);
        let first = max_event.min(WINDOW);
        Periodic {
            max_event,
            max_queue: global_queue_interval.max(1),
            event: Cell::new(max_event),
            queue: Cell::new(global_queue_interval.max(1)),
            queue_left: Cell::new(global_queue_interval.max(1)),
            since: Cell::new(0),
            left: Cell::new(first),
            window: Cell::new((now, first)),
        }
    }

    /// Counts one tick; true when a maintenance is due. At the end of a
    /// window the intervals are sized from it (the clock is read only then).
    #[inline]
    pub(crate) fn tick(&self, now: impl FnOnce() -> Instant) -> bool {
        let left = self.left.get() - 1;
        if left > 0 {
            self.left.set(left);
            return false;
        }
        self.end_window(now())
    }

    /// Counts a look for work; true when this one checks the injector first.
    #[inline]
    pub(crate) fn checks_injector(&self) -> bool {
        let left = self.queue_left.get() - 1;
        if left > 0 {
            self.queue_left.set(left);
            return false;
        }
        self.queue_left.set(self.queue.get());
        true
    }

    /// The worker woke from a park at `now`: the time asleep is no polling,
    /// so the window starts over with the ticks it has left.
    pub(crate) fn restart(&self, now: Instant) {
        let (_, len) = self.window.get();
        let left = self.left.get();
        self.since.set(self.since.get() + (len - left));
        self.window.set((now, left));
    }

    /// Sizes both intervals from the window ending at `now`, starts the next
    /// one; true if a maintenance is due.
    fn end_window(&self, now: Instant) -> bool {
        let (start, ticks) = self.window.get();
        let spent = now.saturating_duration_since(start).as_nanos();
        let mean = (spent / u128::from(ticks.max(1))).max(1);
        let fit = u32::try_from(TARGET.as_nanos() / mean).unwrap_or(u32::MAX).max(1);
        // Shrink at once, grow at most twofold per window.
        let event = fit.min(self.event.get().saturating_mul(2)).min(self.max_event);
        self.event.set(event);
        let queue = fit.max(2).min(self.queue.get().saturating_mul(2)).min(self.max_queue);
        self.queue.set(queue);
        // A shorter interval applies from now, not from the next check.
        self.queue_left.set(self.queue_left.get().min(queue));
        let since = self.since.get() + ticks;
        let due = since >= event;
        let since = if due { 0 } else { since };
        self.since.set(since);
        let next = (event - since).min(WINDOW);
        self.left.set(next);
        self.window.set((now, next));
        due
    }

    /// Ticks between maintenances now (tests).
    #[cfg(test)]
    fn event_interval(&self) -> u32 {
        self.event.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks `poll`-long polls from `start` until a maintenance is due; returns
    /// when, and after how many ticks.
    fn until_due(p: &Periodic, start: Instant, poll: Duration) -> (Instant, u32) {
        let mut now = start;
        for n in 1.. {
            now += poll;
            if p.tick(|| now) {
                return (now, n);
            }
        }
        unreachable!()
    }

    #[test]
    fn short_polls_keep_the_configured_counts() {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        let (end, ticks) = until_due(&p, start, Duration::from_nanos(200));
        assert_eq!(ticks, 61, "due after 61 ticks");
        assert_eq!((p.event_interval(), p.queue.get()), (61, 31));
        assert_eq!(until_due(&p, end, Duration::from_nanos(200)).1, 61);
    }

    #[test]
    fn polls_that_turn_long_are_noticed_within_a_window() {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        let (end, ticks) = until_due(&p, start, Duration::from_millis(3));
        assert_eq!(ticks, WINDOW, "the first window showed them");
        assert_eq!((p.event_interval(), p.queue.get()), (1, 2));
        assert_eq!(until_due(&p, end, Duration::from_millis(3)).1, 1, "then after every poll");
        // The injector every other look, never every look (it would starve the
        // local queue).
        let checks: Vec<bool> = (0..4).map(|_| p.checks_injector()).collect();
        assert_eq!(checks.iter().filter(|&&c| c).count(), 2, "{checks:?}");
    }

    #[test]
    fn the_counts_follow_the_mean_poll_time_both_ways() {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        let (end, _) = until_due(&p, start, Duration::from_micros(50));
        assert_eq!((p.event_interval(), p.queue.get()), (4, 4), "200 µs / 50 µs");
        // Back up to the configured counts, doubling per window.
        let mut end = end;
        for _ in 0..8 {
            end = until_due(&p, end, Duration::from_micros(1)).0;
        }
        assert_eq!((p.event_interval(), p.queue.get()), (61, 31));
        until_due(&p, end, Duration::from_micros(20));
        assert_eq!((p.event_interval(), p.queue.get()), (10, 10));
    }

    #[test]
    fn one_short_poll_among_long_ones_does_not_stretch_the_interval() {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        let (end, _) = until_due(&p, start, Duration::from_millis(2));
        assert_eq!(p.event_interval(), 1);
        let now = end + Duration::from_micros(10);
        assert!(!p.tick(|| now), "one short poll: not due yet");
        assert_eq!((p.event_interval(), p.queue.get()), (2, 4));
        assert_eq!(until_due(&p, now, Duration::from_millis(2)).1, 1);
        assert_eq!((p.event_interval(), p.queue.get()), (1, 2));
    }

    /// The worker's order per tick: `tick`, then `checks_injector`. The worst
    /// gap between two injector checks over 100,000 ticks of `poll_ns` polls.
    fn worst_injector_gap(poll_ns: impl Fn(u32) -> u64) -> u32 {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        let mut now = start;
        let (mut last, mut worst) = (0u32, 0u32);
        for tick in 1..100_000u32 {
            p.tick(|| now);
            if p.checks_injector() {
                worst = worst.max(tick - last);
                last = tick;
            }
            now += Duration::from_nanos(poll_ns(tick));
        }
        worst
    }

    /// A spread of poll times around `base_ns` (a fixed pseudo-random sequence).
    fn wobbling(base_ns: u64, spread_ns: u32) -> impl Fn(u32) -> u64 {
        move |t| base_ns + u64::from(t.wrapping_mul(2_654_435_761) % spread_ns)
    }

    #[test]
    fn the_injector_waits_at_most_the_configured_interval() {
        // 6-7 µs polls: 200 µs fits 28-33 of them, around the configured 31.
        // (A `tick % interval` test let a wobbling interval skip 134 ticks.)
        let worst = worst_injector_gap(wobbling(6_000, 1_000));
        assert!(worst <= 31, "the injector waited {worst} ticks (configured at most 31)");
    }

    #[test]
    fn the_injector_is_checked_about_every_200_us_of_polling() {
        // 10-14 µs polls: ~17 ticks to 200 µs; within twice that at worst
        // (each window re-fits the interval to its own mean).
        let worst = worst_injector_gap(wobbling(10_000, 4_000));
        assert!(worst <= 34, "the injector waited {worst} ticks (~{} µs)", worst * 12);
    }

    #[test]
    fn time_asleep_does_not_count_as_polling() {
        let start = Instant::now();
        let p = Periodic::new(61, 31, start);
        // Part of a window of short polls, a long park, then the rest.
        let mut now = start;
        for _ in 0..5 {
            now += Duration::from_micros(1);
            assert!(!p.tick(|| now));
        }
        now += Duration::from_secs(1);
        p.restart(now);
        let (_, ticks) = until_due(&p, now, Duration::from_micros(1));
        assert_eq!(ticks, 61 - 5);
        assert_eq!((p.event_interval(), p.queue.get()), (61, 31));
    }

    #[test]
    fn a_count_of_one_is_kept() {
        let start = Instant::now();
        let p = Periodic::new(1, 1, start);
        assert!(p.tick(|| start));
        assert!(p.tick(|| start + Duration::from_micros(5)));
        assert!(p.checks_injector() && p.checks_injector(), "configured 1: every look");
    }
}
