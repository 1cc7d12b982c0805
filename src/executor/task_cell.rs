//! The task cell: how a user future becomes an `async-task` task.
//!
//! Every spawned future is wrapped in a [`TaskFuture`] that
//!
//! 1. catches a panic of the user future and turns it into an `Err(payload)`
//!    output, so a panicking task never unwinds into a worker;
//! 2. registers the task in the runtime's task registry the first time it
//!    returns `Pending` (only then can it sit outside every queue, where
//!    shutdown could not find it), and releases the entry when the future is
//!    dropped; a task that completes in its first poll never touches the
//!    registry's locks;
//! 3. counts itself out of the runtime's live tasks when dropped;
//! 4. drops the user future itself, as soon as it completes or when the task is
//!    cancelled, catching a panic of its `Drop` (async-task aborts the process
//!    on a panic while it drops a future): after completion such a panic
//!    becomes the task's panic, at cancellation it is discarded.
//!
//! The task's metadata ([`TaskMeta`]) carries the abort flag that workers read
//! before running a task, and the task's one reference to its runtime: the
//! schedule function and the wrapper future both reach the runtime through it
//! (async-task lets a task's future borrow its metadata), so a spawn clones the
//! runtime's `Arc` once, not once per user. That count is written by the
//! spawning worker and again by whichever worker frees the task: every extra
//! clone was one more cache line bouncing between workers per spawn.

use std::any::Any;
use std::future::Future;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use std::sync::Arc;

use super::registry::Registration;
use super::shared::Shared;
use super::task_id;

/// What a task's future produces: its value, or the payload of its panic.
///
/// Dropped unread (a detached task, a `JoinHandle` dropped after completion),
/// it contains a panic of the value's `Drop`: async-task drops the output of a
/// detached task where a panic aborts the process, and tokio contains it too.
pub(crate) struct TaskOutput<T>(Option<Result<T, Box<dyn Any + Send + 'static>>>);

impl<T> TaskOutput<T> {
    /// Wraps a finished task's result.
    fn new(result: Result<T, Box<dyn Any + Send + 'static>>) -> TaskOutput<T> {
        TaskOutput(Some(result))
    }

    /// The task's value, or the payload of its panic.
    pub(crate) fn into_result(mut self) -> Result<T, Box<dyn Any + Send + 'static>> {
        self.0.take().expect("a task output is read once")
    }
}

impl<T> Drop for TaskOutput<T> {
    fn drop(&mut self) {
        if let Some(unread) = self.0.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(unread)));
        }
    }
}

/// A scheduled task, as workers see it.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// The handle the join side holds.
pub(crate) type RawTask<T> = async_task::FallibleTask<TaskOutput<T>, TaskMeta>;

/// Per-task metadata stored inside the `async-task` allocation.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The task's id (`task::Id`).
    pub(crate) id: NonZeroU64,
    /// Set by `JoinHandle::abort`; a worker that pops a task with this flag set
    /// drops the `Runnable` (and with it the future) instead of polling it, and
    /// a poll that starts after the worker's check sees it too (`TaskFuture::poll`).
    pub(crate) aborted: AtomicBool,
    /// The worker group the task was spawned in: a wake from outside the
    /// workers goes to this group's injector, keeping the task near its data.
    pub(crate) group: usize,
    /// The runtime that schedules and tracks the task; `None` for blocking
    /// jobs, which the pool schedules and which are always queued or running.
    /// Asserted unwind-safe so that `JoinHandle` stays `UnwindSafe` (as
    /// tokio's): the handle never reaches the runtime through it, and the
    /// runtime's own state survives a panicking task by design.
    pub(crate) owner: Option<AssertUnwindSafe<Arc<Shared>>>,
    /// Set once the user future has been dropped (a runtime task: after it
    /// completed, or at its cancellation). async-task reports an aborted task
    /// finished as soon as it is closed, before its future is dropped; tokio's
    /// `is_finished` promises the destructor has run: `JoinHandle::is_finished`
    /// also asks this.
    pub(crate) future_gone: AtomicBool,
}

impl TaskMeta {
    /// Metadata of a task of `owner` spawned in `group`.
    pub(crate) fn new(owner: Arc<Shared>, group: usize) -> TaskMeta {
        TaskMeta::with_owner(Some(owner), group)
    }

    /// The runtime of a runtime task (`None` for a blocking job).
    pub(crate) fn owner(&self) -> Option<&Arc<Shared>> {
        self.owner.as_deref()
    }

    /// Metadata of a blocking job (no runtime tracks it).
    pub(crate) fn blocking() -> TaskMeta {
        TaskMeta::with_owner(None, 0)
    }

    /// Fresh metadata (a new id, no abort, future present).
    fn with_owner(owner: Option<Arc<Shared>>, group: usize) -> TaskMeta {
        TaskMeta {
            id: task_id::next(),
            aborted: AtomicBool::new(false),
            group,
            owner: owner.map(AssertUnwindSafe),
            future_gone: AtomicBool::new(false),
        }
    }
}

pin_project_lite::pin_project! {
    /// Wraps a user future: catches panics, registers the task once it waits,
    /// counts it out when dropped.
    pub(crate) struct TaskFuture<'a, F> {
        // The user future, until it completes (or is dropped at cancellation).
        #[pin]
        stage: Stage<F>,
        // The task's own metadata (async-task drops the future before it):
        // runtime, abort flag, `future_gone`; `None` for blocking jobs.
        meta: Option<&'a TaskMeta>,
        // The task's registry entry, from its first `Pending` on.
        registration: Option<Registration>,
        // The task's id: `task::id()` reads it while this future is polled or
        // dropped, on whichever thread and inside whatever other task's poll.
        id: NonZeroU64,
    }

    impl<F> PinnedDrop for TaskFuture<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A cancelled task (abort, shutdown) still holds its future: drop it
            // here, where a panic of its `Drop` is contained (async-task aborts
            // the process on a panic while it drops a task's future). Its id is
            // marked: shutdown and refused spawns drop futures inside other
            // tasks' polls.
            let meta = *this.meta;
            task_id::polling(*this.id, || drop_contained(this.stage, meta));
            if let Some(owner) = meta.and_then(TaskMeta::owner) {
                if let Some(registration) = this.registration.take() {
                    owner.registry.release(registration);
                }
                owner.count_task_dropped();
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A task's user future, or nothing once it is dropped.
    #[project = StageProj]
    enum Stage<F> {
        Running { #[pin] future: F },
        Dropped,
    }
}

/// Drops the user future in `stage` (if still there), containing a panic of its
/// `Drop`, and records that it is gone in a runtime task's `meta`
/// (`TaskMeta::future_gone`); returns the panic's payload.
fn drop_contained<F>(
    mut stage: Pin<&mut Stage<F>>,
    meta: Option<&TaskMeta>,
) -> Option<Box<dyn Any + Send + 'static>> {
    if matches!(*stage, Stage::Dropped) {
        return None;
    }
    // `Pin::set` drops the future in place; should that drop unwind, the place
    // still receives `Dropped` (assignment writes the new value on unwind too),
    // so the future is never dropped twice.
    let payload = catch_unwind(AssertUnwindSafe(|| stage.set(Stage::Dropped))).err();
    if let Some(meta) = meta {
        meta.future_gone.store(true, std::sync::atomic::Ordering::Release);
    }
    payload
}

impl<'a, F> TaskFuture<'a, F> {
    /// Wraps `future` as the future of the task whose metadata is `meta`.
    pub(crate) fn new(future: F, meta: &'a TaskMeta) -> Self {
        TaskFuture {
            stage: Stage::Running { future },
            meta: Some(meta),
            registration: None,
            id: meta.id,
        }
    }

    /// Wraps the future of blocking job `id` (not tracked by a runtime).
    pub(crate) fn untracked(future: F, id: NonZeroU64) -> TaskFuture<'static, F> {
        TaskFuture { stage: Stage::Running { future }, meta: None, registration: None, id }
    }
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = TaskOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        task_id::polling(id, || self.poll_marked(cx))
    }
}

impl<F: Future> TaskFuture<'_, F> {
    /// [`Future::poll`], with the task's id marked.
    fn poll_marked(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskOutput<F::Output>> {
        let mut this = self.project();
        // Aborted after the worker's check but before this poll began: the
        // abort's wake-up found the task still scheduled and did nothing, so
        // this poll is the abort's only chance (without it the task slept for
        // ever, its future never dropped). Rescheduled instead of polled, it is
        // dropped by the worker that pops it next, which sees the flag now.
        let meta = *this.meta;
        if meta.is_some_and(|meta| meta.aborted.load(std::sync::atomic::Ordering::Acquire)) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let StageProj::Running { future } = this.stage.as_mut().project() else {
            unreachable!("a task's future polled after it completed");
        };
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => {
                if this.registration.is_none() {
                    if let Some(owner) = meta.and_then(TaskMeta::owner) {
                        *this.registration = owner.register_waiting(cx.waker());
                        if this.registration.is_none() {
                            // The runtime shut down (its registry is closed)
                            // while this ran: nothing would drop the task
                            // while it waits. Scheduled now, it is dropped by
                            // the schedule function.
                            cx.waker().wake_by_ref();
                        }
                    }
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(value)) => Ok(value),
            // A panic leaves the future in an unknown state: it is only dropped.
            Err(payload) => Err(payload),
        };
        // Done: drop the future now, here, where a panic of its `Drop` becomes
        // the task's panic (as with tokio) instead of aborting the process
        // inside async-task.
        match (drop_contained(this.stage, meta), output) {
            (Some(payload), Ok(value)) => {
                // The value goes unread; its own `Drop` is contained too.
                drop(TaskOutput::new(Ok(value)));
                Poll::Ready(TaskOutput::new(Err(payload)))
            }
            (_, output) => Poll::Ready(TaskOutput::new(output)),
        }
    }
}
