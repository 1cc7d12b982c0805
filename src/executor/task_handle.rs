//! The join side of a task, as the executor hands it to `task::JoinHandle`.
//!
//! Wraps `async_task::FallibleTask` so that
//!
//! - dropping the handle *detaches* the task (tokio's semantics; async-task's
//!   own handle would cancel it);
//! - `abort` works through `&self` (and through a separate [`AbortRef`]): it sets
//!   the task's abort flag and wakes the task, and the worker that pops it drops
//!   the future instead of polling it;
//! - a task closed without output (aborted, or dropped by shutdown) reads as
//!   `None`, never as a panic.

use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use super::task_cell::{RawTask, Runnable, TaskMeta, TaskOutput};

/// Aborts a task: its metadata and a waker of it.
///
/// # Invariants
///
/// `meta` points at the metadata inside the `async-task` allocation of the task
/// that `waker` wakes. An `async-task` allocation lives until its `Runnable`,
/// its `Task` and every waker of it are dropped, so the pointer is valid for as
/// long as `waker` is held, i.e. for the whole life of this value.
#[derive(Clone)]
pub(crate) struct AbortRef {
    /// The task's metadata (abort flag).
    meta: NonNull<TaskMeta>,
    /// Schedules the task, so an abort takes effect even while it sleeps.
    waker: Waker,
}

// SAFETY: `meta` points at a `TaskMeta`, which is `Send + Sync` (atomics, an `Arc`),
// and stays valid while `waker` (which is `Send + Sync`) is held.
unsafe impl Send for AbortRef {}
// SAFETY: as for `Send`: shared access only reads atomics and wakes the waker.
unsafe impl Sync for AbortRef {}

impl AbortRef {
    /// Sets the abort flag, then schedules the task.
    pub(crate) fn abort(&self) {
        // SAFETY: see `# Invariants`: `self.waker` keeps the allocation alive.
        let meta = unsafe { self.meta.as_ref() };
        meta.aborted.store(true, Ordering::Release);
        self.waker.wake_by_ref();
    }

    /// The task's id.
    pub(crate) fn id(&self) -> std::num::NonZeroU64 {
        // SAFETY: see `# Invariants`: `self.waker` keeps the allocation alive.
        unsafe { self.meta.as_ref() }.id
    }

    /// Whether the task's future has been dropped (always true for a blocking
    /// job, which the runtime does not track).
    pub(crate) fn future_gone(&self) -> bool {
        // SAFETY: see `# Invariants`: `self.waker` keeps the allocation alive.
        let meta = unsafe { self.meta.as_ref() };
        meta.owner().is_none() || meta.future_gone.load(Ordering::Acquire)
    }
}

/// The executor's join handle.
pub(crate) struct TaskHandle<T> {
    /// The async-task handle; taken only in `Drop` (to detach).
    task: Option<RawTask<T>>,
    /// Aborts the task.
    abort: AbortRef,
}

impl<T> Unpin for TaskHandle<T> {}

impl<T> TaskHandle<T> {
    /// Builds the handle for a task created together with `runnable`.
    pub(crate) fn new(
        runnable: &Runnable,
        task: async_task::Task<TaskOutput<T>, TaskMeta>,
    ) -> Self {
        let abort = AbortRef { meta: NonNull::from(runnable.metadata()), waker: runnable.waker() };
        TaskHandle { task: Some(task.fallible()), abort }
    }

    /// Asks for the task to be cancelled; no effect once it completed.
    pub(crate) fn abort(&self) {
        self.abort.abort();
    }

    /// The task's id.
    pub(crate) fn id(&self) -> std::num::NonZeroU64 {
        self.abort.id()
    }

    /// A separate abort handle.
    pub(crate) fn abort_ref(&self) -> AbortRef {
        self.abort.clone()
    }

    /// Whether the task's future completed or was dropped, its destructor
    /// included (async-task alone says so for an aborted task as soon as it is
    /// closed, before the worker has dropped its future).
    pub(crate) fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_finished()) && self.abort.future_gone()
    }
}

impl<T> Future for TaskHandle<T> {
    /// `None` if the task was cancelled before completing.
    type Output = Option<TaskOutput<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.task.as_mut() {
            Some(task) => Pin::new(task).poll(cx),
            None => Poll::Ready(None),
        }
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> std::fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle").field("finished", &self.is_finished()).finish()
    }
}

impl std::fmt::Debug for AbortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortRef").finish_non_exhaustive()
    }
}

/// Runs under miri (`.ci/miri`): the abort path dereferences `AbortRef::meta`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::task_cell::TaskFuture;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A run queue standing in for the workers.
    type Queue = Arc<Mutex<VecDeque<Runnable>>>;

    /// Spawns `future` into `queue` the way `Shared::new_task` does: the task
    /// future borrows the task's metadata (so miri checks that borrow too).
    fn spawn<F>(queue: &Queue, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let queue2 = queue.clone();
        let schedule = move |runnable| queue2.lock().unwrap().push_back(runnable);
        // SAFETY: as in `Shared::new_task`: the future is `Send` and borrows only
        // the task's own metadata; the schedule closure is `Send + Sync + 'static`.
        let (runnable, task) = unsafe {
            async_task::Builder::new()
                .metadata(TaskMeta::blocking())
                .spawn_unchecked(move |meta| TaskFuture::new(future, meta), schedule)
        };
        let handle = TaskHandle::new(&runnable, task);
        runnable.schedule();
        handle
    }

    /// Runs every queued task once, dropping aborted ones as a worker does.
    fn run_all(queue: &Queue) {
        loop {
            let Some(runnable) = queue.lock().unwrap().pop_front() else { return };
            if runnable.metadata().aborted.load(Ordering::Acquire) {
                drop(runnable);
            } else {
                runnable.run();
            }
        }
    }

    /// Polls `handle` once with a no-op waker; the output read out.
    fn poll<T>(
        handle: &mut TaskHandle<T>,
    ) -> Poll<Option<Result<T, Box<dyn std::any::Any + Send>>>> {
        Pin::new(handle)
            .poll(&mut Context::from_waker(Waker::noop()))
            .map(|output| output.map(TaskOutput::into_result))
    }

    #[test]
    fn abort_before_the_first_run_cancels() {
        let queue = Queue::default();
        let mut handle = spawn(&queue, async { 1 });
        handle.abort();
        run_all(&queue);
        assert!(matches!(poll(&mut handle), Poll::Ready(None)));
        assert!(handle.is_finished());
    }

    #[test]
    fn abort_ref_outlives_the_task_and_its_handle() {
        let queue = Queue::default();
        let mut handle = spawn(&queue, async { 7 });
        let abort = handle.abort_ref();
        run_all(&queue);
        assert!(matches!(poll(&mut handle), Poll::Ready(Some(Ok(7)))));
        drop(handle);
        // Only `abort`'s waker keeps the allocation alive now.
        abort.abort();
        run_all(&queue);
    }

    #[test]
    fn abort_from_another_thread_wakes_a_waiting_detached_task() {
        let queue = Queue::default();
        let handle = spawn(&queue, std::future::pending::<()>());
        run_all(&queue);
        let abort = handle.abort_ref();
        drop(handle);
        std::thread::spawn(move || abort.abort()).join().unwrap();
        assert_eq!(queue.lock().unwrap().len(), 1, "the abort scheduled the task");
        run_all(&queue);
    }
}
