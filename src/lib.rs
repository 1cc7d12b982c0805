//! hioload: an async runtime for std futures, built as the concurrency and
//! scheduling core of high-load network services.
//!
//! The parts (see `DESIGN.md` in the steering repository for the map):
//!
//! - a work-stealing **executor** on `async-task` + `crossbeam-deque`, one
//!   worker per CPU slot, grouped by NUMA node;
//! - a **reactor** on `polling` (epoll on Linux, IOCP on Windows);
//! - a high-resolution **timer scheduler** (`hioload::time`);
//! - `block_on`, `spawn`, `spawn_blocking`, cancelable `JoinHandle`s.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![doc(test(attr(deny(warnings))))]

mod executor;
mod loom;
pub mod net;
mod reactor;
pub mod runtime;
mod sys;
pub mod task;
pub mod testing;
pub mod time;
pub mod topology;
mod util;

use std::future::Future;

pub use runtime::{Builder, Handle, Runtime};
pub use task::{JoinError, JoinHandle};

/// Runs `future` to completion on a new multi-thread runtime, then shuts the
/// runtime down. The application entry point.
///
/// Replaces `#[tokio::main]` / `Runtime::new().unwrap().block_on(..)`.
///
/// # Examples
///
/// ```
/// let answer = hioload::block_on(async {
///     let task = hioload::spawn(async { 21 });
///     task.await.unwrap() * 2
/// });
/// assert_eq!(answer, 42);
/// ```
///
/// # Panics
///
/// If the runtime cannot be built (no thread can be started), or if called
/// from inside a runtime.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    executor::assert_not_in_runtime();
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => panic!("hioload::block_on: failed to build the runtime: {err}"),
    };
    runtime.block_on(future)
}

/// Spawns a task on the current runtime and returns its [`JoinHandle`].
///
/// The task starts running at once on a worker; dropping the handle detaches it.
/// Replaces `tokio::spawn`.
///
/// # Examples
///
/// ```
/// hioload::block_on(async {
///     let handle = hioload::spawn(async { "done" });
///     assert_eq!(handle.await.unwrap(), "done");
/// });
/// ```
///
/// The future must be `Send`, since any worker may run it:
///
/// ```compile_fail
/// hioload::block_on(async {
///     let not_send = std::rc::Rc::new(1);
///     hioload::spawn(async move { *not_send });
/// });
/// ```
///
/// # Panics
///
/// Outside a runtime, with a message saying there is no runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Borrowed, not cloned: a clone would write the runtime's shared count.
    let spawned = executor::with_current_shared(|shared| shared.map(|s| s.spawn_parts(future)));
    match spawned {
        Some((task, refused)) => {
            // Refused at shutdown: its future's `Drop` runs here, with the
            // thread's context no longer borrowed.
            drop(refused);
            JoinHandle::new(task)
        }
        None => panic!(
            "hioload::spawn called outside a runtime: there is no hioload runtime on this \
             thread (call it from inside `block_on` or a spawned task, or use `Handle::spawn`)"
        ),
    }
}

/// Runs a blocking closure on the runtime's blocking pool and returns its
/// [`JoinHandle`].
///
/// The pool grows on demand up to `max_blocking_threads` and shrinks after
/// `thread_keep_alive` idle. Replaces `tokio::task::spawn_blocking`.
///
/// # Examples
///
/// ```
/// hioload::block_on(async {
///     let sum = hioload::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
///     assert_eq!(sum, 55);
/// });
/// ```
///
/// # Panics
///
/// Outside a runtime, with a message saying there is no runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match executor::current_shared() {
        Some(shared) => JoinHandle::new(shared.spawn_blocking(f)),
        None => panic!(
            "hioload::spawn_blocking called outside a runtime: there is no hioload runtime on \
             this thread (call it from inside `block_on` or a spawned task, or use \
             `Handle::spawn_blocking`)"
        ),
    }
}
