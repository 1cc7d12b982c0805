//! Live runtime counters.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::executor::{read_metric, Shared};

/// A live view of a runtime's counters; every call reads the current values.
///
/// Counters are relaxed atomics written by their worker: reading them costs
/// the workers nothing. Per-worker values are indexed by worker slot:
/// `0..num_workers()` are the running workers, and the runtime has
/// `max_worker_threads` slots in all. A slot no worker has run on reads 0;
/// counters of retired slots keep their values. Per-group values are indexed
/// `0..num_groups()`; an index past either range panics with a message naming
/// the getter and the range.
///
/// Replaces `tokio::runtime::RuntimeMetrics` (which needs `tokio_unstable`).
///
/// # Examples
///
/// ```
/// let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     for _ in 0..10 {
///         hioload::spawn(async {}).await.unwrap();
///     }
/// });
/// let m = rt.metrics();
/// let polls: u64 = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum();
/// assert!(polls >= 10);
/// ```
#[derive(Clone)]
pub struct RuntimeMetrics {
    /// The runtime.
    shared: Arc<Shared>,
}

impl RuntimeMetrics {
    /// A view of `shared`.
    pub(crate) fn new(shared: Arc<Shared>) -> RuntimeMetrics {
        RuntimeMetrics { shared }
    }

    /// Number of running workers (the current-thread flavour counts its one).
    pub fn num_workers(&self) -> usize {
        self.shared.target_workers.load(Ordering::SeqCst)
    }

    /// Number of worker groups (NUMA nodes or explicit CPU groups).
    pub fn num_groups(&self) -> usize {
        self.shared.groups.len()
    }

    /// The group worker `worker` belongs to.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_group(&self, worker: usize) -> usize {
        self.check_worker("worker_group", worker);
        self.shared.slots[worker].group
    }

    /// The CPU `worker` is pinned to, if workers are pinned.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_cpu(&self, worker: usize) -> Option<usize> {
        self.check_worker("worker_cpu", worker);
        self.shared.slots[worker].cpu
    }

    /// Tasks polled by `worker`.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_poll_count", worker);
        read_metric(&self.shared.slots[worker].metrics.polls)
    }

    /// Successful steals by `worker` from workers of its own group.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_local_steal_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_local_steal_count", worker);
        read_metric(&self.shared.slots[worker].metrics.local_steals)
    }

    /// Successful steals by `worker` from other groups.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_remote_steal_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_remote_steal_count", worker);
        read_metric(&self.shared.slots[worker].metrics.remote_steals)
    }

    /// Times `worker` went to sleep.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_park_count", worker);
        read_metric(&self.shared.slots[worker].metrics.parks)
    }

    /// Times `worker` woke up.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_unpark_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_unpark_count", worker);
        read_metric(&self.shared.slots[worker].metrics.unparks)
    }

    /// Aborted tasks `worker` dropped without polling.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_aborted_count(&self, worker: usize) -> u64 {
        self.check_worker("worker_aborted_count", worker);
        read_metric(&self.shared.slots[worker].metrics.aborted)
    }

    /// Tasks in `worker`'s local queue right now.
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        self.check_worker("worker_local_queue_depth", worker);
        self.shared.slots[worker].stealer.len()
    }

    /// Tasks in `group`'s injector right now.
    ///
    /// # Panics
    ///
    /// If `group` is not below [`RuntimeMetrics::num_groups`].
    #[track_caller]
    pub fn injector_depth(&self, group: usize) -> usize {
        self.check_group("injector_depth", group);
        self.shared.groups[group].injector.len()
    }

    /// Tasks spawned and not yet finished (blocking jobs excluded).
    pub fn num_alive_tasks(&self) -> usize {
        self.shared.alive_tasks()
    }

    /// Tasks waiting outside the run queues (on I/O, a timer, a channel...).
    pub fn num_waiting_tasks(&self) -> usize {
        self.shared.registry.live()
    }

    /// `spawn_blocking` jobs queued or running right now.
    pub fn num_blocking_jobs_running(&self) -> usize {
        self.shared.blocking.running()
    }

    /// Wall time `worker` spent out of park (running or looking for tasks).
    ///
    /// # Panics
    ///
    /// If `worker` is not below `max_worker_threads` (the number of slots).
    #[track_caller]
    pub fn worker_total_busy_duration(&self, worker: usize) -> std::time::Duration {
        self.check_worker("worker_total_busy_duration", worker);
        std::time::Duration::from_nanos(read_metric(&self.shared.slots[worker].metrics.busy_ns))
    }

    /// Timers registered and not yet fired or cancelled, over all groups
    /// (takes each timer shard's lock briefly: not for hot paths).
    pub fn num_pending_timers(&self) -> usize {
        self.shared.groups.iter().map(|g| g.driver.time().len()).sum()
    }

    /// I/O sources registered with the reactors of all groups.
    pub fn num_io_registrations(&self) -> usize {
        self.shared.groups.iter().map(|g| g.driver.reactor().registrations()).sum()
    }

    /// I/O sources registered with the reactor of worker group `group`
    /// (including ones deregistered since its last turn, whose slots are freed
    /// lazily).
    ///
    /// Shows how connections are spread over the groups (see
    /// [`TcpListener::set_spread_across_groups`](crate::net::TcpListener::set_spread_across_groups)).
    ///
    /// # Panics
    ///
    /// If `group` is not below [`RuntimeMetrics::num_groups`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    /// let m = rt.metrics();
    /// let total: usize = (0..m.num_groups()).map(|g| m.num_io_registrations_in(g)).sum();
    /// assert_eq!(total, m.num_io_registrations());
    /// ```
    #[track_caller]
    pub fn num_io_registrations_in(&self, group: usize) -> usize {
        self.check_group("num_io_registrations_in", group);
        self.shared.groups[group].driver.reactor().registrations()
    }

    /// Threads of the blocking pool, idle or busy.
    pub fn num_blocking_threads(&self) -> usize {
        self.shared.blocking.num_threads()
    }

    /// Panics unless `worker` is a slot; `method` names the getter, so the
    /// message points at the caller's mistake rather than at an index inside
    /// hioload.
    #[track_caller]
    fn check_worker(&self, method: &str, worker: usize) {
        let slots = self.shared.slots.len();
        assert!(
            worker < slots,
            "{method}: worker {worker} does not exist (the runtime has {slots} worker slots: \
             0..{slots}, see max_worker_threads)"
        );
    }

    /// Panics unless `group` is a worker group; see `check_worker`.
    #[track_caller]
    fn check_group(&self, method: &str, group: usize) {
        let groups = self.shared.groups.len();
        assert!(
            group < groups,
            "{method}: group {group} does not exist (the runtime has {groups}: 0..{groups})"
        );
    }
}

impl fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("num_workers", &self.num_workers())
            .field("num_groups", &self.num_groups())
            .field("num_alive_tasks", &self.num_alive_tasks())
            .finish_non_exhaustive()
    }
}
