//! The owned permission to await a task's result, and to abort it.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Id, JoinError};
use crate::executor::{AbortRef, TaskHandle};

/// An owned handle to a spawned task: awaiting it yields the task's output.
///
/// Dropping a `JoinHandle` *detaches* the task: it keeps running, and its
/// output is dropped. [`JoinHandle::abort`] cancels it; the future is then
/// dropped on the next occasion a worker picks the task up (promptly, even if
/// the task was waiting on I/O or a timer).
///
/// Replaces `tokio::task::JoinHandle`.
///
/// # Examples
///
/// ```
/// hioload::block_on(async {
///     let handle = hioload::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
///
///     let sleeper = hioload::spawn(std::future::pending::<()>());
///     sleeper.abort();
///     assert!(sleeper.await.unwrap_err().is_cancelled());
/// });
/// ```
// Not `#[must_use]`, as tokio's is not: a ported `tokio::spawn(..);` line must
// not turn into a warning (dropping the handle detaches the task).
pub struct JoinHandle<T> {
    /// The executor's handle.
    raw: TaskHandle<T>,
}

impl<T> JoinHandle<T> {
    /// Wraps the executor's handle.
    pub(crate) fn new(raw: TaskHandle<T>) -> JoinHandle<T> {
        JoinHandle { raw }
    }

    /// Cancels the task.
    ///
    /// Awaiting the handle afterwards yields `Err(JoinError)` with
    /// [`JoinError::is_cancelled`], unless the task had already completed, in
    /// which case its output is returned. A `spawn_blocking` job that already
    /// started runs to the end (a thread cannot be interrupted).
    pub fn abort(&self) {
        self.raw.abort();
    }

    /// Whether the task finished: completed, panicked, or cancelled and dropped.
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }

    /// The task's id (as [`crate::task::id`] reads it inside the task).
    pub fn id(&self) -> Id {
        Id::new(self.raw.id())
    }

    /// A handle that can abort the task but not await it.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle { abort: self.raw.abort_ref() }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.raw).poll(cx).map(|output| match output.map(|o| o.into_result()) {
            Some(Ok(value)) => Ok(value),
            Some(Err(payload)) => Err(JoinError::panic(payload)),
            None => Err(JoinError::cancelled()),
        })
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// Aborts a task without owning its [`JoinHandle`].
///
/// Replaces `tokio::task::AbortHandle`.
#[derive(Clone)]
pub struct AbortHandle {
    /// Aborts the task.
    abort: AbortRef,
}

impl AbortHandle {
    /// Cancels the task (see [`JoinHandle::abort`]).
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        Id::new(self.abort.id())
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").finish_non_exhaustive()
    }
}
