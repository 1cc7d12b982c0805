//! `Sleep`: a future that completes at a deadline; `sleep` and `sleep_until`.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::context;
use super::entry::TimerEntry;
use super::instant::Instant;

/// Waits until `duration` has elapsed; replaces `tokio::time::sleep`.
///
/// The timer is registered on first poll with the current runtime's time driver and
/// fires at the first wheel sweep at or after the deadline (no earlier; wheel ticks
/// are 16 µs, so sub-millisecond sleeps are honoured). A duration too large to add to
/// the current instant saturates to a deadline about 30 years away. Dropping the
/// `Sleep` cancels the timer.
///
/// # Examples
///
/// ```
/// use hioload::time::{sleep, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_micros(300)).await;
///     assert!(start.elapsed() >= Duration::from_micros(300));
/// });
/// ```
///
/// # Panics
///
/// If called outside a hioload runtime; polling it after that runtime shut down.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    sleep_named(duration, "hioload::time::sleep")
}

/// [`sleep`], named `what` in the panic outside a runtime (`timeout`, ...).
#[track_caller]
pub(crate) fn sleep_named(duration: Duration, what: &str) -> Sleep {
    let home = context::expect_current_shard(what);
    let deadline = Instant::from_std(home.driver().clock().now()).saturating_add(duration);
    Sleep { deadline, entry: TimerEntry::new(home), ahead: duration >= SURELY_AHEAD }
}

/// Waits until `deadline`; replaces `tokio::time::sleep_until`.
///
/// A deadline in the past completes on first poll.
///
/// # Examples
///
/// ```
/// use hioload::time::{sleep_until, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(2);
///     sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
///
/// # Panics
///
/// If called outside a hioload runtime; polling it after that runtime shut down.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    sleep_until_named(deadline, "hioload::time::sleep_until")
}

/// [`sleep_until`], named `what` in the panic outside a runtime (`interval`, ...).
#[track_caller]
pub(crate) fn sleep_until_named(deadline: Instant, what: &str) -> Sleep {
    let home = context::expect_current_shard(what);
    Sleep { deadline, entry: TimerEntry::new(home), ahead: false }
}

/// The future of [`sleep`] / [`sleep_until`]; replaces `tokio::time::Sleep`.
///
/// It is `Unpin` (the timer state lives in a small shared allocation made on the first
/// registration), and [`Sleep::reset`] moves it to a new deadline without allocating,
/// which is the idle-timeout pattern: keep one `Sleep` and push it back on activity.
///
/// # Examples
///
/// ```
/// use hioload::time::{sleep, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let mut idle = Box::pin(sleep(Duration::from_secs(30)));
///     // ... activity seen: push the idle deadline back.
///     idle.as_mut().reset(Instant::now() + Duration::from_millis(1));
///     idle.await;
/// });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// When the sleep completes.
    deadline: Instant,
    /// The timer registration (made on first poll).
    entry: TimerEntry,
    /// The deadline was at least `SURELY_AHEAD` away when the clock was read at
    /// creation: the first poll registers without reading the clock again.
    ahead: bool,
}

/// A `sleep` at least this long is taken as not yet elapsed at its first poll (a
/// clock read saved: ~20 ns of the ~180 ns a sleep costs). If the task was held up
/// longer than that in between, the timer is filed anyway and fires at the next
/// sweep: late by that sweep, never early.
const SURELY_AHEAD: Duration = Duration::from_millis(1);

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed (the timer fired or the clock is past it).
    pub fn is_elapsed(&self) -> bool {
        self.entry.has_fired() || self.now() >= self.deadline
    }

    /// The current time of the clock this sleep's runtime reads.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_std(self.entry.driver().clock().now())
    }

    /// Moves the deadline to `deadline`, earlier or later, even after completion; the
    /// sleep then completes at the new deadline. Replaces `tokio::time::Sleep::reset`.
    ///
    /// Never allocates. Pushing a pending sleep's deadline later (the idle-timeout
    /// pattern) is one atomic compare-and-swap, with no lock; moving it earlier, or
    /// re-arming a completed sleep, is an O(1) move within its timer wheel.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        this.ahead = false;
        this.entry.reset(deadline.into_std());
    }
}

impl Future for Sleep {
    type Output = ();

    /// # Panics
    ///
    /// If the runtime that created this sleep has shut down.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.entry.poll_elapsed(cx, this.deadline.into_std(), this.ahead)
    }
}
