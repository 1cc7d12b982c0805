//! Yielding back to the scheduler.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: the task goes to the *back* of its worker's
/// queue, so every other ready task there runs before it resumes.
///
/// Replaces `tokio::task::yield_now`.
///
/// # Examples
///
/// ```
/// hioload::block_on(async {
///     for _ in 0..3 {
///         hioload::task::yield_now().await;
///     }
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

/// Pending once, having woken itself.
struct YieldNow {
    /// Whether the first poll happened.
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Woken while running: the scheduler puts the task at the back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
