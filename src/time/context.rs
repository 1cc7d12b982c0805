//! The thread-local "current time driver", set by each worker thread and by `block_on`.
//!
//! The time layer owns this thread-local (no shared context module): the executor
//! calls [`enter`] when a worker starts (with the worker's index as the shard) and
//! around `block_on`; `sleep` & co. and `Instant::now` read it.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use super::driver::TimeDriver;

/// One thread's way into a time driver: the driver and the shard the thread
/// registers its timers in.
///
/// Every timer holds one of these (an `Arc`), and every thread that enters a
/// runtime has its own, so creating and dropping timers updates a reference
/// count that stays in that thread's core. A count shared by all workers (the
/// driver's own) would move between cores on every timer: with 1M timer fires per
/// second on 2 workers that alone was the hottest spot of the profile.
#[derive(Debug)]
pub(crate) struct ShardRef {
    /// The runtime's time driver.
    driver: Arc<TimeDriver>,
    /// The shard (reduced modulo the shard count).
    shard: usize,
}

impl ShardRef {
    /// The driver.
    pub(crate) fn driver(&self) -> &Arc<TimeDriver> {
        &self.driver
    }

    /// The shard index (below the driver's shard count).
    pub(crate) fn index(&self) -> usize {
        self.shard
    }
}

/// The driver in effect on a thread.
type Current = Arc<ShardRef>;

thread_local! {
    /// The current driver of this thread, if it is inside a runtime.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Restores the previous current driver when dropped; not `Send` (it is thread-bound).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    /// What was current before `enter`.
    prev: Option<Current>,
    /// Keeps the guard on the thread whose thread-local it restores.
    _not_send: PhantomData<*const ()>,
}

/// Makes `driver` the current time driver of this thread, registering new timers in
/// `shard` (taken modulo the shard count), until the guard is dropped. Nests.
pub(crate) fn enter(driver: Arc<TimeDriver>, shard: usize) -> EnterGuard {
    let shard = shard % driver.shard_count();
    let prev = CURRENT.with(|c| c.replace(Some(Arc::new(ShardRef { driver, shard }))));
    EnterGuard { prev, _not_send: PhantomData }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The thread-local may already be gone if the thread is exiting.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// This thread's shard reference (for a new timer); panics outside a runtime
/// naming `what` was called.
#[track_caller]
pub(crate) fn expect_current_shard(what: &str) -> Arc<ShardRef> {
    match CURRENT.try_with(|c| c.borrow().clone()) {
        Ok(Some(current)) => current,
        _ => outside_runtime(what),
    }
}

/// Runs `f` on the current driver without cloning it; `None` outside a runtime.
pub(crate) fn with_current<R>(f: impl FnOnce(&TimeDriver) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow().as_ref().map(|cur| f(&cur.driver))).ok()?
}

/// The current driver; panics outside a runtime naming `what` was called.
#[track_caller]
pub(crate) fn expect_current_driver(what: &str) -> Arc<TimeDriver> {
    expect_current_shard(what).driver().clone()
}

/// The panic of a timer function called outside a runtime.
#[track_caller]
fn outside_runtime(what: &str) -> ! {
    panic!(
        "`{what}` must be called from inside a hioload runtime (no time driver on this \
         thread: use `hioload::block_on`, `Runtime::block_on` or a spawned task)"
    )
}
