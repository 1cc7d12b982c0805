//! `Timeout`: a future with a deadline; `timeout` and `timeout_at`.
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::error::Elapsed;
use super::instant::Instant;
use super::sleep::{sleep_named, sleep_until_named, Sleep};

/// Runs `future` with a time limit of `duration`; replaces `tokio::time::timeout`.
///
/// Resolves to `Ok(output)` if the future completes first, `Err(Elapsed)` once the
/// limit passes. The future is polled first, so a ready future wins even with a zero
/// limit; no timer is registered unless the future returns `Pending`. Dropping the
/// `Timeout` drops the future and cancels the timer.
///
/// # Examples
///
/// ```
/// use hioload::time::timeout;
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
///     let slow = std::future::pending::<()>();
///     assert!(timeout(Duration::from_millis(1), slow).await.is_err());
/// });
/// ```
///
/// # Panics
///
/// If called outside a hioload runtime; polling it after that runtime shut down.
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout { value: future.into_future(), delay: sleep_named(duration, "hioload::time::timeout") }
}

/// Runs `future` until `deadline`; replaces `tokio::time::timeout_at`.
///
/// # Examples
///
/// ```
/// use hioload::time::{timeout_at, Instant};
/// use std::time::Duration;
///
/// hioload::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(1);
///     assert!(timeout_at(deadline, std::future::pending::<()>()).await.is_err());
/// });
/// ```
///
/// # Panics
///
/// If called outside a hioload runtime; polling it after that runtime shut down.
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    let delay = sleep_until_named(deadline, "hioload::time::timeout_at");
    Timeout { value: future.into_future(), delay }
}

pin_project! {
    /// The future of [`timeout`] / [`timeout_at`]; replaces `tokio::time::Timeout`.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        // The wrapped future. (Plain comments: pin-project-lite rejects doc attributes on fields.)
        #[pin]
        value: F,
        // The deadline.
        delay: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.value
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.value
    }

    /// Consumes the timeout (cancelling its timer) and returns the wrapped future.
    pub fn into_inner(self) -> F {
        self.value
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.value.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(this.delay).poll(cx).map(|()| Err(Elapsed::new()))
    }
}
