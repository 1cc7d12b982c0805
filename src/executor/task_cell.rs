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
//! 3. counts itself out of the runtime's live tasks when dropped.
//!
//! The task's metadata ([`TaskMeta`]) carries the abort flag that workers read
//! before running a task.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use std::sync::Arc;

use super::registry::Registration;
use super::shared::Shared;

/// What a task's future produces: its value, or the payload of its panic.
pub(crate) type TaskOutput<T> = Result<T, Box<dyn Any + Send + 'static>>;

/// A scheduled task, as workers see it.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// The handle the join side holds.
pub(crate) type RawTask<T> = async_task::FallibleTask<TaskOutput<T>, TaskMeta>;

/// Per-task metadata stored inside the `async-task` allocation.
#[derive(Debug, Default)]
pub(crate) struct TaskMeta {
    /// Set by `JoinHandle::abort`; a worker that pops a task with this flag set
    /// drops the `Runnable` (and with it the future) instead of polling it.
    pub(crate) aborted: AtomicBool,
    /// The worker group the task was spawned in: a wake from outside the
    /// workers goes to this group's injector, keeping the task near its data.
    pub(crate) group: usize,
}

impl TaskMeta {
    /// Metadata of a task spawned in `group`.
    pub(crate) fn in_group(group: usize) -> TaskMeta {
        TaskMeta { aborted: AtomicBool::new(false), group }
    }
}

pin_project_lite::pin_project! {
    /// Wraps a user future: catches panics, registers the task once it waits,
    /// counts it out when dropped.
    pub(crate) struct TaskFuture<F> {
        #[pin]
        future: F,
        // The runtime that tracks this task; `None` for blocking jobs, which
        // are always in the pool's queue or running.
        owner: Option<Arc<Shared>>,
        // The task's registry entry, from its first `Pending` on.
        registration: Option<Registration>,
    }

    impl<F> PinnedDrop for TaskFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(owner) = this.owner.as_ref() {
                if let Some(registration) = this.registration.take() {
                    owner.registry.release(registration);
                }
                owner.count_task_dropped();
            }
        }
    }
}

impl<F> TaskFuture<F> {
    /// Wraps `future` as a task of `owner` (`None`: untracked blocking job).
    pub(crate) fn new(future: F, owner: Option<Arc<Shared>>) -> Self {
        TaskFuture { future, owner, registration: None }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = TaskOutput<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        // A panic leaves the future in an unknown state; async-task never polls a
        // completed task again, so the future is only dropped afterwards.
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => {
                if this.registration.is_none() {
                    if let Some(owner) = this.owner.as_ref() {
                        *this.registration = owner.register_waiting(cx.waker());
                    }
                }
                Poll::Pending
            }
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
