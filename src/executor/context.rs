//! The executor's thread-local "current" state.
//!
//! A worker thread (and a current-thread `block_on`) sets [`Entered::Worker`]
//! with its core, which is how `schedule` finds the local queue. A
//! multi-thread `block_on` sets [`Entered::BlockOn`]: the thread belongs to the
//! runtime (so `spawn` and `Handle::current` work) but owns no queue. Blocking
//! pool threads set `Blocking`.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::shared::Shared;
use super::worker::WorkerCore;

/// What the current thread is to a runtime.
#[derive(Debug, Clone)]
pub(crate) enum Entered {
    /// A worker of the runtime, running tasks from its own queue.
    Worker(Rc<WorkerCore>),
    /// A thread inside the runtime's `block_on`.
    BlockOn(Arc<Shared>),
    /// A thread that belongs to the runtime without running its async code:
    /// a blocking-pool thread, the thread shutting the runtime down, or a
    /// plain thread inside `Handle::enter`. It may call `block_on` (tokio
    /// allows `Handle::block_on` inside `spawn_blocking`).
    Blocking(Arc<Shared>),
    /// A thread running some runtime's async code (a worker, a `block_on`)
    /// inside `Handle::enter`: `spawn` and `Handle::current` see the entered
    /// runtime, and `block_on` is still refused (it would stall the thread).
    Nested(Arc<Shared>),
}

thread_local! {
    /// The runtime this thread is in, if any.
    static CURRENT: RefCell<Option<Entered>> = const { RefCell::new(None) };
}

/// Restores the previous state when dropped.
#[derive(Debug)]
pub(crate) struct EnterGuard {
    /// What was current before.
    prev: Option<Entered>,
}

/// Makes `entered` current until the guard drops.
pub(crate) fn enter(entered: Entered) -> EnterGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(entered));
    EnterGuard { prev }
}

/// Whether this thread runs async code of a hioload runtime (a worker or a
/// `block_on`), where blocking on another future would stall the runtime.
pub(crate) fn is_entered() -> bool {
    CURRENT.with(|c| {
        matches!(&*c.borrow(), Some(Entered::Worker(_) | Entered::BlockOn(_) | Entered::Nested(_)))
    })
}

/// The runtime this thread is in.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    with_current_shared(|shared| shared.cloned())
}

/// Calls `f` with this thread's worker core if it is a worker of `shared`.
#[inline]
pub(crate) fn with_core<R>(shared: &Arc<Shared>, f: impl FnOnce(Option<&WorkerCore>) -> R) -> R {
    with_core_of(Arc::as_ptr(shared), f)
}

/// Calls `f` with this thread's worker core if it is a worker of the runtime
/// at `runtime` (an identity only: never dereferenced).
#[inline]
pub(crate) fn with_core_of<R>(
    runtime: *const Shared,
    f: impl FnOnce(Option<&WorkerCore>) -> R,
) -> R {
    CURRENT.with(|c| match &*c.borrow() {
        Some(Entered::Worker(core)) if std::ptr::eq(Arc::as_ptr(core.shared()), runtime) => {
            f(Some(core))
        }
        _ => f(None),
    })
}

/// Calls `f` with the runtime this thread is in (without cloning its `Arc`).
#[inline]
pub(crate) fn with_current_shared<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    CURRENT.with(|c| match &*c.borrow() {
        Some(Entered::Worker(core)) => f(Some(core.shared())),
        Some(Entered::BlockOn(shared) | Entered::Blocking(shared) | Entered::Nested(shared)) => {
            f(Some(shared))
        }
        None => f(None),
    })
}

/// Calls `f` with this thread's worker slot index, for any runtime.
pub(crate) fn with_core_any<R>(f: impl FnOnce(usize) -> R) -> Option<R> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(Entered::Worker(core)) => Some(f(core.index())),
        _ => None,
    })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}
