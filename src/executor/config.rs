//! What the runtime layer tells the executor to build.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A callback run on runtime threads (start/stop hooks).
pub(crate) type Callback = Arc<dyn Fn() + Send + Sync>;

/// Runs a start/stop hook, if set, containing its panic: the panic hook has
/// reported it, and the thread goes on with its own bookkeeping (a worker
/// that died in its hook would still count as running, and a pool thread
/// would never count itself out; both hung the runtime).
pub(crate) fn run_hook(hook: Option<&Callback>) {
    if let Some(hook) = hook {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook()));
    }
}

/// Single- or multi-threaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Worker threads run the tasks.
    MultiThread,
    /// Everything runs on the thread inside `block_on`.
    CurrentThread,
}

/// Executor configuration, validated by the builder.
#[derive(Clone)]
pub(crate) struct Config {
    /// Which flavour.
    pub(crate) flavor: Flavor,
    /// Workers started by `build()` (1 for the current-thread flavour).
    pub(crate) worker_threads: usize,
    /// Worker slots: the most workers `resize` can run.
    pub(crate) max_workers: usize,
    /// For slot `i`, its group (`slot_groups[i]`) and CPU to pin to (if any).
    pub(crate) placement: Vec<(usize, Option<usize>)>,
    /// Number of worker groups.
    pub(crate) num_groups: usize,
    /// Names worker threads.
    pub(crate) thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    /// Stack size of runtime threads.
    pub(crate) stack_size: Option<usize>,
    /// Run on every runtime thread when it starts.
    pub(crate) on_thread_start: Option<Callback>,
    /// Run on every runtime thread before it exits.
    pub(crate) on_thread_stop: Option<Callback>,
    /// Ticks between maintenance (zero-timeout I/O poll, timers, retire check).
    pub(crate) event_interval: u32,
    /// Ticks between checks of the group injector before the local queue.
    pub(crate) global_queue_interval: u32,
    /// Most blocking-pool threads.
    pub(crate) max_blocking_threads: usize,
    /// Idle time after which a blocking-pool thread exits.
    pub(crate) blocking_keep_alive: Duration,
    /// Events one reactor wait may return.
    pub(crate) event_capacity: usize,
    /// Whether the clock starts paused (virtual time).
    pub(crate) start_paused: bool,
    /// How late a timer may fire so that one wake-up serves several.
    pub(crate) timer_slack: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("max_workers", &self.max_workers)
            .field("num_groups", &self.num_groups)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive)
            .field("event_capacity", &self.event_capacity)
            .field("start_paused", &self.start_paused)
            .field("timer_slack", &self.timer_slack)
            .finish_non_exhaustive()
    }
}
