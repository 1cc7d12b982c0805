//! `task::Id`: an opaque number naming a task, for logs and maps.
#![forbid(unsafe_code)]

use std::fmt;
use std::num::NonZeroU64;

use crate::executor::task_id;

/// A task's id: unique among all tasks (and blocking jobs) of the process,
/// never reused. Replaces `tokio::task::Id`.
///
/// # Examples
///
/// ```
/// hioload::block_on(async {
///     let task = hioload::spawn(async { hioload::task::id() });
///     let id = task.id();
///     assert_eq!(task.await.unwrap(), id);
///     println!("task {id} finished");
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    /// Wraps the executor's id.
    pub(crate) fn new(id: NonZeroU64) -> Id {
        Id(id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

/// The id of the task being polled on this thread (or whose future is being
/// dropped: a `Drop` reads its own task's id, also when shutdown drops it
/// inside another task's poll).
///
/// `block_on`'s own future is no task; inside a `spawn_blocking` job it reads
/// the job's id, as in tokio.
///
/// # Panics
///
/// Outside a task (in `block_on`'s own future, or on a thread of no runtime),
/// with a message saying so; see [`try_id`].
#[track_caller]
pub fn id() -> Id {
    match try_id() {
        Some(id) => id,
        None => panic!(
            "hioload::task::id() called outside a task: only a spawned task or a \
             `spawn_blocking` job has an id (use `try_id` to ask)"
        ),
    }
}

/// The id of the task being polled on this thread, or `None` outside a task.
pub fn try_id() -> Option<Id> {
    task_id::current().map(Id)
}
