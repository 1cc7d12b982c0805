//! The runtime: owns the workers; its drop shuts them down.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use super::{Builder, EnterGuard, Handle, RuntimeMetrics};
use crate::executor::{self, Config, Flavor, Shared};
use crate::task::JoinHandle;

/// The hioload runtime: worker threads, their queues, reactor and timers.
///
/// Replaces `tokio::runtime::Runtime`. Dropping it shuts it down: workers stop,
/// every pending task's future is dropped, and the drop waits for running
/// `spawn_blocking` jobs (use [`Runtime::shutdown_timeout`] to bound that).
///
/// # Examples
///
/// ```
/// let rt = hioload::Runtime::new().unwrap();
/// let handle = rt.spawn(async { "hello" });
/// assert_eq!(rt.block_on(handle).unwrap(), "hello");
/// ```
pub struct Runtime {
    /// The shared handle.
    handle: Handle,
    /// Set by `shutdown_timeout`, so that `Drop` does not wait again.
    shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with one worker per available CPU.
    ///
    /// # Errors
    ///
    /// The OS error if a worker thread cannot be started.
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    /// A builder for a multi-thread runtime.
    pub fn builder() -> Builder {
        Builder::new_multi_thread()
    }

    /// Builds and starts a runtime from a validated configuration.
    pub(crate) fn from_config(config: Config) -> io::Result<Runtime> {
        let shared = Shared::new(config)?;
        let runtime = Runtime { handle: Handle::new(shared.clone()), shut_down: false };
        // On error the partly started runtime is dropped, which shuts it down.
        shared.start()?;
        Ok(runtime)
    }

    /// Runs `future` to completion on this thread and returns its output.
    ///
    /// On the multi-thread runtime the workers run spawned tasks while this
    /// thread waits; on the current-thread runtime this thread runs them.
    ///
    /// # Panics
    ///
    /// If called from inside a runtime (a task, or another `block_on`): blocking
    /// there would stall a worker. Use `.await` instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task on this runtime (see [`crate::spawn`]).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool (see [`crate::spawn_blocking`]).
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Makes this runtime current on this thread until the guard drops (see
    /// [`Handle::enter`]).
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// A handle to this runtime: cheap to clone, usable from any thread.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Grows or shrinks the worker pool to `workers` while tasks run.
    ///
    /// Shrinking retires the highest-numbered workers: each hands its queued
    /// tasks back to its group's injector (nothing is lost or run twice) and
    /// exits once its current poll returns; `resize` waits for that.
    ///
    /// A worker group left without workers (two groups, `resize(1)`) keeps
    /// serving the sockets and timers registered with it: a caretaker thread
    /// named `hioload-care-gN` turns its reactor and timers (it runs no tasks;
    /// the tasks it wakes run on the other groups' workers) until a later
    /// `resize` gives the group a worker again, which stops and joins it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `workers` is 0 or above `max_worker_threads`;
    /// `Unsupported` on the current-thread runtime; the OS error if a worker
    /// or caretaker thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    /// rt.resize(3).unwrap();
    /// assert_eq!(rt.metrics().num_workers(), 3);
    /// rt.resize(1).unwrap();
    /// assert_eq!(rt.metrics().num_workers(), 1);
    /// ```
    pub fn resize(&self, workers: usize) -> io::Result<()> {
        self.handle.shared().resize(workers)
    }

    /// Live counters of this runtime.
    ///
    /// A `RuntimeMetrics` holds the runtime's shared state: kept after the
    /// runtime is dropped, it keeps that state (and its poller's file
    /// descriptors) alive until it is dropped too, as a `Handle` does.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts the runtime down, waiting at most `timeout` for blocking jobs.
    ///
    /// Workers stop after their current poll and every pending task's future is
    /// dropped; a `spawn_blocking` job still running after `timeout` is left
    /// behind on its thread.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.handle.shared().shutdown(timeout);
        self.shut_down = true;
    }

    /// Shuts the runtime down without waiting for blocking jobs.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            self.handle.shared().shutdown(Duration::MAX);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match self.handle.shared().config.flavor {
            Flavor::MultiThread => "multi_thread",
            Flavor::CurrentThread => "current_thread",
        };
        f.debug_struct("Runtime")
            .field("flavor", &flavor)
            .field("workers", &self.metrics().num_workers())
            .finish()
    }
}

/// Runs `future` on `shared` from this thread (both flavours).
#[track_caller]
pub(crate) fn block_on_shared<F: Future>(shared: &std::sync::Arc<Shared>, future: F) -> F::Output {
    executor::assert_not_in_runtime();
    match shared.config.flavor {
        Flavor::MultiThread => executor::block_on_waiting(shared, future),
        Flavor::CurrentThread => executor::block_on_driving(shared, future),
    }
}
