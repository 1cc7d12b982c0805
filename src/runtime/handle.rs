//! A cloneable reference to a runtime, and "the current runtime".
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::enter_guard::EnterGuard;
use super::runtime::block_on_shared;
use super::RuntimeMetrics;
use crate::executor::{self, Shared};
use crate::task::JoinHandle;

/// A handle to a runtime: spawn onto it from any thread.
///
/// `Clone + Send + Sync`. Replaces `tokio::runtime::Handle`.
///
/// # Examples
///
/// ```
/// let rt = hioload::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 5 }));
/// let task = from_thread.join().unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 5);
/// ```
#[derive(Clone)]
pub struct Handle {
    /// The runtime's shared state.
    shared: Arc<Shared>,
}

/// The error of [`Handle::try_current`]: this thread is not inside a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no hioload runtime on this thread: call this from inside \
             `block_on`, a spawned task, or a `spawn_blocking` job",
        )
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// Wraps shared state.
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The runtime's shared state.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The runtime this thread is running in.
    ///
    /// # Panics
    ///
    /// Outside a runtime, with a message saying so. See [`Handle::try_current`].
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(err) => panic!("Handle::current() called outside a runtime: {err}"),
        }
    }

    /// The runtime this thread is running in, or an error outside one.
    ///
    /// # Errors
    ///
    /// [`TryCurrentError`] when the thread is not inside a runtime.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        executor::current_shared().map(Handle::new).ok_or(TryCurrentError(()))
    }

    /// Makes this runtime current on this thread until the guard drops: then
    /// [`crate::spawn`], [`Handle::current`], timers and sockets created here
    /// use this runtime, as inside [`Handle::block_on`]. The thread does not run
    /// tasks; for async code, still use `block_on`.
    ///
    /// Guards nest; drop them in the reverse order of their creation (a guard
    /// dropped out of order panics).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = hioload::Runtime::new().unwrap();
    /// let task = {
    ///     let _guard = rt.enter();
    ///     // A plain thread inside `enter`: `spawn` finds the runtime.
    ///     hioload::spawn(async { 2 + 2 })
    /// };
    /// assert_eq!(rt.block_on(task).unwrap(), 4);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        let (context, group) = self.shared.enter_outside();
        EnterGuard::new(context, group)
    }

    /// Spawns a task on this runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        JoinHandle::new(self.shared.spawn(future))
    }

    /// Spawns a task onto worker group `group` (see [`crate::Builder::numa`]):
    /// it is queued in that group's injector, so the group's workers run it
    /// first; other groups only steal it when they are out of work.
    ///
    /// # Panics
    ///
    /// If `group` is not below `metrics().num_groups()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hioload::topology::Numa;
    ///
    /// let rt = hioload::Runtime::builder()
    ///     .worker_threads(2)
    ///     .numa(Numa::Groups(vec![vec![0], vec![1]]))
    ///     .build()
    ///     .unwrap();
    /// let task = rt.handle().spawn_on(1, async { 7 });
    /// assert_eq!(rt.block_on(task).unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, group: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let groups = self.shared.groups.len();
        assert!(
            group < groups,
            "spawn_on: group {group} does not exist (the runtime has {groups})"
        );
        JoinHandle::new(self.shared.spawn_on(group, future))
    }

    /// Spawns `future` to start at `deadline` (the seed design's
    /// `Schedule(delay, fn) -> Cancelable`): until then the task is only a timer.
    /// Aborting the handle before the deadline cancels the timer, and the
    /// future never runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hioload::time::Instant;
    ///
    /// let rt = hioload::Runtime::new().unwrap();
    /// let start = rt.block_on(async { Instant::now() });
    /// let late = rt.handle().spawn_at(start + Duration::from_millis(5), async { "late" });
    /// assert_eq!(rt.block_on(late).unwrap(), "late");
    ///
    /// let never = rt.handle().spawn_after(Duration::from_secs(3600), async { unreachable!() });
    /// never.abort();
    /// assert!(rt.block_on(never).unwrap_err().is_cancelled());
    /// ```
    pub fn spawn_at<F>(&self, deadline: crate::time::Instant, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(async move {
            crate::time::sleep_until(deadline).await;
            future.await
        })
    }

    /// Spawns `future` to start after `delay`, counted from this call (see
    /// [`Handle::spawn_at`]).
    pub fn spawn_after<F>(&self, delay: std::time::Duration, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // The deadline now, on this runtime's clock: counted from the task's
        // first poll, a busy runtime would add its queueing delay to `delay`.
        let now = crate::time::Instant::from_std(self.shared().clock.now());
        self.spawn_at(now.saturating_add(delay), future)
    }

    /// Runs a blocking closure on this runtime's blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        JoinHandle::new(self.shared.spawn_blocking(f))
    }

    /// Runs `future` to completion on this thread (see [`crate::Runtime::block_on`]).
    ///
    /// # Panics
    ///
    /// If called from inside a runtime.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on_shared(&self.shared, future)
    }

    /// Live counters of this runtime.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.clone())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}
