//! Helpers for tests of code that runs on hioload: paused (virtual) time.
//!
//! These act on the clock of the runtime the caller runs in; replaces
//! `tokio::time::{pause, resume, advance}` (tokio's `test-util` feature).
//!
//! While time is paused, [`Instant::now`](crate::time::Instant::now) stands still
//! and moves only by [`advance`], or by auto-advance: when every worker is idle and a
//! timer is pending, the runtime jumps virtual time straight to that timer's deadline,
//! so a test that sleeps for an hour finishes at once. A runtime built with
//! `Builder::start_paused(true)` starts paused.
//!
//! Idle means: no task queued or running, no `spawn_blocking` job running, no
//! `block_on` future woken, and no socket event ready. As in tokio, a task that
//! waits on I/O does not hold time back by itself: the runtime first collects
//! the I/O that is ready (a connect that completed, data that arrived) and
//! jumps only if nothing was. So a `timeout` around a read from a peer that
//! is itself a task of the runtime sees the data first; a peer outside the
//! runtime (another process, a thread that sleeps in real time) gets no such
//! grace, and neither does any peer on Windows, where readiness arrives as
//! completions the OS posts asynchronously (best effort there). With several
//! worker groups (`Builder::numa`), a jump can still slip
//! in while another group's worker is taking events out of its poller (a
//! window of a few microseconds; a test that mixes paused time and sockets
//! should use one group, the default on a one-node machine).
//!
//! # Examples
//!
//! ```
//! use hioload::time::{sleep, Instant};
//! use std::time::Duration;
//!
//! hioload::block_on(async {
//!     hioload::testing::pause();
//!     let start = Instant::now();
//!     let mut nap = Box::pin(sleep(Duration::from_secs(60)));
//!     hioload::testing::advance(Duration::from_secs(60)).await;
//!     assert!(nap.is_elapsed());
//!     nap.as_mut().await;
//!     assert_eq!(start.elapsed(), Duration::from_secs(60));
//! });
//! ```
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time::{context, AdvanceRefused};

/// Pauses the current runtime's clock.
///
/// # Panics
///
/// If called outside a hioload runtime, or if time is already paused.
#[track_caller]
pub fn pause() {
    let driver = context::expect_current_driver("hioload::testing::pause");
    assert!(driver.clock().pause(), "hioload::testing::pause: time is already paused");
}

/// Lets the current runtime's clock run again, from the (virtual) time it shows.
///
/// # Panics
///
/// If called outside a hioload runtime, or if time is not paused.
#[track_caller]
pub fn resume() {
    let driver = context::expect_current_driver("hioload::testing::resume");
    assert!(driver.clock().resume(), "hioload::testing::resume: time is not paused");
    // A worker waiting in a driver on the paused clock waits with no timeout
    // (virtual time did not pass by itself): wake it to wait for its next
    // deadline in real time.
    crate::executor::with_current_shared(|shared| shared.map(|s| s.unpark_drivers()));
}

/// True if the current runtime's clock is paused.
///
/// # Panics
///
/// If called outside a hioload runtime.
#[track_caller]
pub fn is_paused() -> bool {
    context::expect_current_driver("hioload::testing::is_paused").clock().is_paused()
}

/// Moves paused time forward by `duration`, fires the timers that became due, and
/// yields once so that the tasks they woke get to run.
///
/// The jump is made in one step: a timer due in the middle fires once, late by the
/// remainder, as with tokio's `advance`.
///
/// # Panics
///
/// If called outside a hioload runtime, if time is not paused, or if the move
/// would take paused time ~584 years or more past the runtime's start (timers
/// count nanoseconds in 64 bits; a deadline from there on never fires). All on
/// first poll.
pub async fn advance(duration: Duration) {
    let driver = context::expect_current_driver("hioload::testing::advance");
    match driver.clock().advance(duration) {
        Ok(()) => {}
        Err(AdvanceRefused::Running) => panic!(
            "hioload::testing::advance: time is not paused (call hioload::testing::pause first, \
             or build the runtime with start_paused(true))"
        ),
        Err(AdvanceRefused::PastHorizon) => panic!(
            "hioload::testing::advance: paused time cannot go ~584 years or more past the \
             runtime's start (timers count nanoseconds in 64 bits)"
        ),
    }
    driver.process();
    YieldOnce(false).await;
}

/// Returns `Pending` once (waking itself at once), then `Ready`.
#[derive(Debug)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
