//! The `spawn_blocking` pool: threads for jobs that block.
//!
//! Threads are started on demand up to `max_blocking_threads`, and exit after
//! `blocking_keep_alive` without work. A job is an `async-task` task whose future
//! runs the closure on its first poll, so it has the same join handle (and
//! panic capture) as any task; aborting it before it starts drops it unrun.
//!
//! # Shutdown
//!
//! 1. Mark the pool shut down (new jobs are dropped: their handles read cancelled).
//! 2. Drop queued jobs; wake idle threads so they exit.
//! 3. Wait until every thread exited, or the caller's timeout passed (a stuck
//!    job's thread is then left behind, detached).
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::config::{run_hook, Callback, Config};
use super::context;
use super::shared::lock;
use super::task_cell::Runnable;

/// Pool state behind its lock.
#[derive(Debug, Default)]
struct Synced {
    /// Jobs waiting for a thread.
    queue: VecDeque<Job>,
    /// Threads alive.
    num_threads: usize,
    /// Threads waiting for a job.
    num_idle: usize,
    /// Idle threads already notified of a job (taken out of `num_idle`).
    num_notified: usize,
    /// Set by shutdown.
    shutdown: bool,
}

/// Shared by the pool handle and its threads.
struct Inner {
    /// Queue and counters.
    synced: Mutex<Synced>,
    /// Idle threads wait here.
    job_ready: Condvar,
    /// Shutdown waits here for the last thread.
    all_exited: Condvar,
    /// Jobs queued or being run (read by paused-time auto-advance).
    running: Arc<AtomicUsize>,
    /// Most threads.
    max_threads: usize,
    /// Idle time before a thread exits.
    keep_alive: Duration,
    /// Thread start hook.
    on_thread_start: Option<Callback>,
    /// Thread stop hook.
    on_thread_stop: Option<Callback>,
    /// Stack size of pool threads.
    stack_size: Option<usize>,
}

/// The blocking pool of one runtime.
#[derive(Debug, Clone)]
pub(crate) struct BlockingPool {
    /// Shared state.
    inner: Arc<Inner>,
}

impl BlockingPool {
    /// Creates an empty pool.
    pub(crate) fn new(config: &Config) -> BlockingPool {
        let inner = Inner {
            synced: Mutex::default(),
            job_ready: Condvar::new(),
            all_exited: Condvar::new(),
            running: Arc::new(AtomicUsize::new(0)),
            max_threads: config.max_blocking_threads,
            keep_alive: config.blocking_keep_alive,
            on_thread_start: config.on_thread_start.clone(),
            on_thread_stop: config.on_thread_stop.clone(),
            stack_size: config.stack_size,
        };
        BlockingPool { inner: Arc::new(inner) }
    }

    /// Jobs queued or running right now.
    pub(crate) fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Threads alive (idle or running a job).
    pub(crate) fn num_threads(&self) -> usize {
        lock(&self.inner.synced).num_threads
    }

    /// Queues a job; wakes an idle thread or starts one.
    ///
    /// `enter` runs first on every new thread (it enters the runtime context).
    pub(crate) fn schedule(
        &self,
        runnable: Runnable,
        enter: impl Fn() -> Box<dyn std::any::Any> + Send + 'static,
    ) {
        // Counted from here until the job has run (and woken its awaiter) or
        // was dropped unrun: paused time must not advance past it.
        let job = Job { runnable, _count: RunningCount::new(&self.inner.running) };
        let mut synced = lock(&self.inner.synced);
        if synced.shutdown {
            drop(synced);
            drop(job);
            return;
        }
        synced.queue.push_back(job);
        if synced.num_idle > 0 {
            synced.num_idle -= 1;
            synced.num_notified += 1;
            self.inner.job_ready.notify_one();
        } else if synced.num_threads < self.inner.max_threads {
            synced.num_threads += 1;
            drop(synced);
            self.start_thread(enter);
        }
        // Else every thread is busy: the job waits for one to finish.
    }

    /// Starts one pool thread.
    fn start_thread(&self, enter: impl Fn() -> Box<dyn std::any::Any> + Send + 'static) {
        let inner = self.inner.clone();
        let mut builder = std::thread::Builder::new().name("hioload-blocking".into());
        if let Some(size) = inner.stack_size {
            builder = builder.stack_size(size);
        }
        let spawned = builder.spawn(move || {
            POOL.with(|pool| pool.set(Arc::as_ptr(&inner) as usize));
            let _context = enter();
            run_hook(inner.on_thread_start.as_ref());
            inner.run();
            run_hook(inner.on_thread_stop.as_ref());
            inner.exit();
        });
        if spawned.is_err() {
            // Out of threads: undo the count. Queued jobs wait for a running
            // thread; with none left, nothing would ever run them: they are
            // dropped (their handles read cancelled).
            let mut synced = lock(&self.inner.synced);
            synced.num_threads -= 1;
            let orphaned = if synced.num_threads == 0 {
                std::mem::take(&mut synced.queue)
            } else {
                VecDeque::new()
            };
            self.inner.all_exited.notify_all();
            drop(synced);
            drop(orphaned);
        }
    }

    /// Runs the shutdown protocol (module docs).
    pub(crate) fn shutdown(&self, timeout: Duration) {
        let mut synced = lock(&self.inner.synced);
        synced.shutdown = true;
        let queued = std::mem::take(&mut synced.queue);
        self.inner.job_ready.notify_all();
        drop(synced);
        drop(queued);
        // A job of this pool may be what shuts it down (dropping the runtime
        // inside `spawn_blocking`): its own thread exits only after the job
        // returns, so it is not waited for.
        let this_pool = Arc::as_ptr(&self.inner) as usize;
        let own = usize::from(POOL.with(Cell::get) == this_pool);
        let synced = lock(&self.inner.synced);
        let _ = self
            .inner
            .all_exited
            .wait_timeout_while(synced, timeout, |s| s.num_threads > own)
            .unwrap_or_else(|p| p.into_inner());
    }
}

thread_local! {
    /// The pool this thread belongs to (its `Inner`'s address), 0 elsewhere.
    static POOL: Cell<usize> = const { Cell::new(0) };
}

/// A queued job and its place in the pool's `running` count.
#[derive(Debug)]
struct Job {
    /// The task.
    runnable: Runnable,
    /// Released after the job ran (or when it is dropped unrun).
    _count: RunningCount,
}

/// One unit of `Inner::running`, released when dropped.
#[derive(Debug)]
struct RunningCount {
    /// The pool's counter.
    counter: Arc<AtomicUsize>,
}

impl RunningCount {
    /// Counts one more job.
    fn new(counter: &Arc<AtomicUsize>) -> RunningCount {
        counter.fetch_add(1, Ordering::SeqCst);
        RunningCount { counter: counter.clone() }
    }
}

impl Drop for RunningCount {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("synced", &self.synced)
            .field("running", &self.running)
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// A pool thread's loop: run jobs; exit on shutdown or after `keep_alive` idle.
    fn run(&self) {
        let mut synced = lock(&self.synced);
        loop {
            if let Some(job) = synced.queue.pop_front() {
                drop(synced);
                let Job { runnable, _count: count } = job;
                if runnable.metadata().aborted.load(Ordering::Acquire) {
                    // Aborted before it started: drop it unrun.
                    drop(runnable);
                } else {
                    // `run` completes the task and wakes its awaiter; only then
                    // is the job counted out.
                    runnable.run();
                }
                drop(count);
                // On a paused clock the runtime may now be idle: let the
                // drivers re-evaluate auto-advance.
                if let Some(shared) = context::current_shared() {
                    shared.nudge_paused_drivers();
                }
                synced = lock(&self.synced);
                continue;
            }
            if synced.shutdown {
                return;
            }
            synced.num_idle += 1;
            let (guard, wait) = self
                .job_ready
                .wait_timeout(synced, self.keep_alive)
                .unwrap_or_else(|p| p.into_inner());
            synced = guard;
            if synced.num_notified > 0 {
                synced.num_notified -= 1;
            } else {
                synced.num_idle -= 1;
                if wait.timed_out() && synced.queue.is_empty() {
                    return;
                }
            }
        }
    }

    /// Counts this thread out and wakes a waiting shutdown.
    fn exit(&self) {
        let mut synced = lock(&self.synced);
        synced.num_threads -= 1;
        // Every exit: a shutdown run by a pool thread waits for one left.
        self.all_exited.notify_all();
    }
}
