//! Whether a batch of fired timers is worth waking a sibling for.
//!
//! A task woken on a worker is queued there, and a queued task normally wakes a
//! sleeping sibling to steal it (`WorkerCore::schedule_local`). A batch of fired
//! timers is typically many tiny tasks (timeouts, ticks, retries, pings): running
//! them here is cheaper than the sibling's wake-up and steal, which costs it a
//! futex wake-up and a trip through its scheduler (5 to 50 µs, by host). With 1M
//! timer fires per second on 2 workers (`benches/time_precision`, `spread_100k`)
//! those wake-ups were a third of the process's CPU time on the VM: 105-117 ms
//! per run, against 67-74 ms with them held back.
//!
//! # Protocol
//!
//! 1. While a worker fires timers ([`dispatching_timers`]: the driver turn of a
//!    parked worker, and a busy worker's periodic check), the sibling wake-ups of
//!    the tasks it queues are held back ([`TimerBatch::hold`]).
//! 2. After the dispatch ([`TimerBatch::settle`]), the expected work is the
//!    number of queued tasks times this worker's mean poll time (learned at each
//!    park). At least [`HOLD`] of it wakes a sibling at once, as without this
//!    module; less is served here alone.
//! 3. Between tasks ([`TimerBatch::overdue`]): a batch still queued [`HOLD`] after
//!    its dispatch wakes a sibling then. So a batch waits for a sibling at most
//!    `HOLD` plus the poll that is running when it expires.
//!
//! Wake-ups from I/O, spawns and tasks waking tasks are never held.
//!
//! # The cost
//!
//! Step 3 runs between tasks. A task that blocks its worker (which async code
//! must not do: `spawn_blocking` is for that) holds the rest of its timer batch
//! back until it returns, where before a sibling would have been woken to take
//! them at once; and while it blocks nobody waits in the driver, as was already
//! the case when a single woken task blocked.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How much queued work (step 2), and how long a wait (step 3), a worker takes
/// on alone before it wakes a sibling for a timer batch.
pub(crate) const HOLD: Duration = Duration::from_micros(50);

thread_local! {
    /// Set while this thread fires timers (step 1).
    static DISPATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `fire` (a timer sweep) with the sibling wake-ups of the tasks it queues
/// on this thread's worker held back (step 1).
pub(crate) fn dispatching_timers<R>(fire: impl FnOnce() -> R) -> R {
    /// Clears the flag even if `fire` unwinds.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DISPATCHING.with(|d| d.set(false));
        }
    }
    DISPATCHING.with(|d| d.set(true));
    let _reset = Reset;
    fire()
}

/// What [`TimerBatch::settle`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// No wake-up was held: nothing to do.
    Nothing,
    /// Enough work is queued: wake a sibling now.
    WakeNow,
    /// This worker serves the batch alone (and checks `overdue` between tasks).
    Alone,
}

/// One worker's held-back timer wake-ups and its mean poll time.
#[derive(Debug)]
pub(crate) struct TimerBatch {
    /// A wake-up was held back in the current dispatch.
    held: Cell<bool>,
    /// When the batch being served alone was dispatched.
    alone_since: Cell<Option<Instant>>,
    /// Mean time per poll (ns, moving average over parks); starts at `HOLD`,
    /// so that until it is known every batch wakes a sibling.
    mean_poll_ns: Cell<u64>,
    /// Polls since the last park.
    polls: Cell<u32>,
}

impl Default for TimerBatch {
    fn default() -> Self {
        TimerBatch {
            held: Cell::new(false),
            alone_since: Cell::new(None),
            mean_poll_ns: Cell::new(HOLD.as_nanos() as u64),
            polls: Cell::new(0),
        }
    }
}

impl TimerBatch {
    /// Step 1: true if a sibling wake-up for a task just queued is to be held back
    /// (a timer dispatch runs on this thread).
    #[inline]
    pub(crate) fn hold(&self) -> bool {
        let dispatching = DISPATCHING.with(Cell::get);
        if dispatching {
            self.held.set(true);
        }
        dispatching
    }

    /// Step 2, after a dispatch, with `queued` tasks in the worker's queue.
    pub(crate) fn settle(&self, queued: usize) -> Settle {
        if !self.held.replace(false) {
            return Settle::Nothing;
        }
        let work = (queued as u64).saturating_mul(self.mean_poll_ns.get());
        if work >= HOLD.as_nanos() as u64 {
            self.alone_since.set(None);
            return Settle::WakeNow;
        }
        if self.alone_since.get().is_none() {
            self.alone_since.set(Some(Instant::now()));
        }
        Settle::Alone
    }

    /// Step 3, before each task: true once a batch served alone has waited `HOLD`
    /// with tasks still queued (wake a sibling now). An empty queue ends it.
    /// `queue_empty` is asked, and the clock read, only while a batch is served
    /// alone: outside one this is a single load on the worker's hot path.
    #[inline]
    pub(crate) fn overdue(&self, queue_empty: impl FnOnce() -> bool) -> bool {
        let Some(since) = self.alone_since.get() else { return false };
        if queue_empty() {
            self.alone_since.set(None);
            return false;
        }
        self.overdue_at(since, Instant::now())
    }

    /// Step 3 for a batch served alone since `since`, with tasks queued, at `now`.
    fn overdue_at(&self, since: Instant, now: Instant) -> bool {
        if now.saturating_duration_since(since) < HOLD {
            return false;
        }
        self.alone_since.set(None);
        true
    }

    /// Counts one poll (for the mean poll time).
    #[inline]
    pub(crate) fn count_poll(&self) {
        self.polls.set(self.polls.get().saturating_add(1));
    }

    /// At a park: folds the busy time since the last park (`busy_ns`) into the
    /// mean poll time, weighting the new sample 1/8.
    pub(crate) fn learn(&self, busy_ns: u64) {
        let polls = self.polls.replace(0);
        if polls == 0 {
            return;
        }
        let sample = busy_ns / u64::from(polls);
        let mean = self.mean_poll_ns.get();
        self.mean_poll_ns.set(mean - mean / 8 + sample / 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Teaches `batch` a mean poll time: 64 parks of `polls` polls in 1 ms each.
    fn learn_polls_per_ms(batch: &TimerBatch, polls: u32) {
        for _ in 0..64 {
            (0..polls).for_each(|_| batch.count_poll());
            batch.learn(1_000_000);
        }
    }

    /// A timer dispatch that held back a wake-up.
    fn held(batch: &TimerBatch) {
        assert!(dispatching_timers(|| batch.hold()));
    }

    #[test]
    fn wake_ups_are_held_only_while_dispatching_timers() {
        let batch = TimerBatch::default();
        assert!(!batch.hold());
        assert_eq!(batch.settle(10), Settle::Nothing);
        assert!(dispatching_timers(|| batch.hold()));
        assert!(!batch.hold(), "the flag ends with the dispatch");
    }

    #[test]
    fn a_panicking_dispatch_still_ends_the_hold() {
        let result = std::panic::catch_unwind(|| dispatching_timers(|| panic!("sweep")));
        assert!(result.is_err());
        assert!(!TimerBatch::default().hold());
    }

    #[test]
    fn an_unknown_poll_time_wakes_a_sibling_for_any_batch() {
        let batch = TimerBatch::default();
        held(&batch);
        assert_eq!(batch.settle(1), Settle::WakeNow);
    }

    #[test]
    fn tiny_polls_are_served_alone_and_heavy_ones_are_shared() {
        let batch = TimerBatch::default();
        learn_polls_per_ms(&batch, 1_000); // 1 µs polls
        held(&batch);
        assert_eq!(batch.settle(20), Settle::Alone, "20 µs of work");
        assert!(!batch.overdue(|| true), "an empty queue ends the batch");
        held(&batch);
        assert_eq!(batch.settle(100), Settle::WakeNow, "100 µs of work");
        learn_polls_per_ms(&batch, 1); // now 1 ms polls
        held(&batch);
        assert_eq!(batch.settle(1), Settle::WakeNow);
    }

    #[test]
    fn a_batch_served_alone_is_shared_once_it_has_waited_hold() {
        let batch = TimerBatch::default();
        learn_polls_per_ms(&batch, 1_000);
        held(&batch);
        let before = Instant::now();
        assert_eq!(batch.settle(2), Settle::Alone);
        let since = batch.alone_since.get().expect("served alone");
        assert!(since >= before);
        assert!(!batch.overdue_at(since, since + HOLD / 2), "not yet");
        assert!(batch.overdue_at(since, since + HOLD));
        assert!(!batch.overdue(|| false), "once");
    }
}
