//! State shared by all workers of one runtime: queues, slots, sleepers, tasks.
//!
//! # Where a scheduled task goes
//!
//! 1. Woken on a worker of this runtime: that worker's LIFO slot (a task just
//!    woken by a message is likely hot in cache), the previous occupant of the
//!    slot moving to the back of the local queue. A task that woke itself while
//!    running (a yield) goes to the back of the local queue instead.
//! 2. Woken anywhere else: the injector of the task's group, and a
//!    sleeping worker is notified if nobody is searching (see `idle.rs`).
//! 3. After shutdown: nowhere. The `Runnable` is dropped, which drops the future.
//!
//! # Groups without workers
//!
//! `resize` may leave a group with no running worker (two groups, `resize(1)`).
//! Its injector still gets served (other groups' workers steal from it, and
//! visit it every `global_queue_interval` ticks while it is in care), but its
//! driver has no worker to turn it, so `resize` gives the group a caretaker
//! thread until it has a worker again (`caretaker.rs`).
//!
//! # Shutdown
//!
//! 1. Set `shutdown`; unpark every worker and driver.
//! 2. Workers see the flag at their next tick or wake-up, drop their queued
//!    tasks and exit; `shutdown` joins them (unless it runs on one of them).
//! 3. Stop and join the caretakers (a wake one produced after step 1 dropped
//!    its task: "where a scheduled task goes", step 3).
//! 4. Drop what is left in the injectors.
//! 5. Close the task registry: every live task is woken once more and, the
//!    runtime being shut down, its future is dropped (step 3 above).
//! 6. Shut the drivers, then the blocking pool down, waiting at most the
//!    caller's timeout for the latter.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use async_task::{Builder as TaskBuilder, ScheduleInfo, WithInfo};
use crossbeam_deque::{Injector, Steal, Stealer, Worker as Deque};

use super::blocking::BlockingPool;
use super::caretaker::Caretaker;
use super::config::{Config, Flavor};
use super::context::{self, Entered};
use super::driver::{Driver, TimeConfig};
use super::idle::Idle;
use super::metrics::WorkerMetrics;
use super::metrics::{bump, read as read_metric};
use super::park::{Parker, Unparker};
use super::registry::{Registration, Registry};
use super::spread::Spread;
use super::task_cell::{Runnable, TaskFuture, TaskMeta};
use super::task_handle::TaskHandle;
use super::worker;
use crate::time::{AutoAdvance, Clock};

/// A slot no thread occupies.
pub(crate) const SLOT_VACANT: u8 = 0;
/// A slot whose worker runs.
pub(crate) const SLOT_RUNNING: u8 = 1;
/// A slot whose worker was asked to retire (resize shrank the pool); a resize
/// that grows the pool again before the worker took it up cancels it (back to
/// `SLOT_RUNNING`).
pub(crate) const SLOT_RETIRING: u8 = 2;
/// A slot whose worker took up its retirement and is leaving (the worker moves
/// `SLOT_RETIRING` here, then to `SLOT_VACANT` once it is out of the idle
/// counts; it puts the deque back last).
pub(crate) const SLOT_EXITING: u8 = 3;

/// Spawns from outside the workers go to the groups in runs of this many.
///
/// Tasks spawned back to back are allocated side by side: dealt to the groups
/// one by one, neighbours in one cache line would run on different groups'
/// workers and every poll would bounce that line between them (measured: 19%
/// slower on `yield_many` with two groups). A run keeps neighbours together;
/// stealing still evens out a short burst.
const EXTERNAL_SPAWN_RUN: u64 = 64;

/// One worker group: its injector and its driver.
#[derive(Debug)]
pub(crate) struct Group {
    /// Tasks scheduled from outside the group's workers.
    pub(crate) injector: Injector<Runnable>,
    /// The group's reactor and timers.
    pub(crate) driver: Arc<Driver>,
    /// The slot indices placed in this group, ascending.
    pub(crate) slots: Box<[usize]>,
    /// Workers of this group counted as searching (a subset of `Idle`'s
    /// searching count); lets a push wake a sleeper of its own group when the
    /// only searchers belong to other groups.
    pub(crate) searching: AtomicUsize,
    /// Workers of this group inside `park` (a notifier's pop shows here only
    /// once the worker runs again): lets a push skip the sleepers lock when its
    /// group has nobody to wake.
    pub(crate) sleeping: AtomicUsize,
    /// The thread turning the driver while the group has no running worker
    /// (`caretaker.rs`); written under `resize_lock` only.
    pub(crate) caretaker: Mutex<Option<Caretaker>>,
}

/// A worker position: a deque, a parker, counters; a thread occupies it while running.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Steals from this slot's deque.
    pub(crate) stealer: Stealer<Runnable>,
    /// The owner end of the deque while no thread holds it.
    pub(crate) deque: Mutex<Option<Deque<Runnable>>>,
    /// The parker while no thread holds it.
    pub(crate) parker: Mutex<Option<Parker>>,
    /// Wakes the slot's worker.
    pub(crate) unparker: Unparker,
    /// `SLOT_VACANT`, `SLOT_RUNNING`, `SLOT_RETIRING` or `SLOT_EXITING`; written
    /// by resize and the worker.
    pub(crate) state: AtomicU8,
    /// The slot's group.
    pub(crate) group: usize,
    /// The CPU its worker is pinned to, if pinning.
    pub(crate) cpu: Option<usize>,
    /// The slot's counters (they survive a worker retiring).
    pub(crate) metrics: WorkerMetrics,
    /// The thread occupying the slot, to join at retirement or shutdown.
    pub(crate) thread: Mutex<Option<ThreadHandle<()>>>,
}

/// Everything the workers of one runtime share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The configuration it was built with.
    pub(crate) config: Config,
    /// Worker groups (one per NUMA node or explicit CPU group).
    pub(crate) groups: Box<[Group]>,
    /// Worker slots; `config.max_workers` of them.
    pub(crate) slots: Box<[Slot]>,
    /// Slots `0..used` have been occupied at some time: steal loops stop there.
    pub(crate) used: AtomicUsize,
    /// Target number of workers; resize writes it under `resize_lock`.
    pub(crate) target_workers: AtomicUsize,
    /// Sleeping/searching bookkeeping.
    pub(crate) idle: Idle,
    /// Every task that waits outside the queues, for shutdown.
    pub(crate) registry: Arc<Registry>,
    /// Tasks spawned from outside the workers.
    external_spawned: AtomicU64,
    /// Task futures dropped outside the workers.
    external_dropped: AtomicU64,
    /// The `spawn_blocking` pool.
    pub(crate) blocking: BlockingPool,
    /// Set once shutdown starts; never cleared.
    pub(crate) shutdown: AtomicBool,
    /// The runtime's clock (real or paused), shared by every group's timers.
    pub(crate) clock: Clock,
    /// Threads inside a multi-thread `block_on` that are awake (polling their
    /// future); paused time only auto-advances when this is zero.
    pub(crate) block_on_busy: AtomicUsize,
    /// Current-thread flavour: threads in `block_on` waiting for the thread that
    /// drives the runtime to hand it back (each is unparked when it does).
    pub(crate) core_waiters: Mutex<Vec<std::thread::Thread>>,
    /// Serialises resize and shutdown.
    pub(crate) resize_lock: Mutex<()>,
    /// Round-robin state of listeners that spread connections over the groups.
    pub(crate) spread: Spread,
    /// Number of groups with a caretaker (no running worker); written under
    /// `resize_lock`, read by busy workers every `global_queue_interval` ticks.
    pub(crate) groups_in_care: AtomicUsize,
}

impl Shared {
    /// Creates the shared state (no thread started yet).
    pub(crate) fn new(config: Config) -> std::io::Result<Arc<Shared>> {
        let clock = Clock::new(config.start_paused);
        let drivers = (0..config.num_groups)
            .map(|g| {
                let shards = config.placement.iter().filter(|(group, _)| *group == g).count();
                let time = TimeConfig { clock: clock.clone(), shards, slack: config.timer_slack };
                Driver::for_group(g, config.event_capacity, time).map(Arc::new)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let slots: Box<[Slot]> = config
            .placement
            .iter()
            .take(config.max_workers)
            .map(|&(group, cpu)| new_slot(drivers[group].clone(), group, cpu))
            .collect();
        let groups = drivers
            .into_iter()
            .enumerate()
            .map(|(g, driver)| Group {
                injector: Injector::new(),
                driver,
                slots: (0..slots.len()).filter(|&s| slots[s].group == g).collect(),
                searching: AtomicUsize::new(0),
                sleeping: AtomicUsize::new(0),
                caretaker: Mutex::new(None),
            })
            .collect();
        let workers = config.worker_threads;
        Ok(Arc::new(Shared {
            clock,
            block_on_busy: AtomicUsize::new(0),
            blocking: BlockingPool::new(&config),
            registry: Registry::new(slots.len()),
            external_spawned: AtomicU64::new(0),
            external_dropped: AtomicU64::new(0),
            idle: Idle::new(workers),
            used: AtomicUsize::new(workers),
            target_workers: AtomicUsize::new(workers),
            shutdown: AtomicBool::new(false),
            core_waiters: Mutex::new(Vec::new()),
            resize_lock: Mutex::new(()),
            spread: Spread::default(),
            groups_in_care: AtomicUsize::new(0),
            groups,
            slots,
            config,
        }))
    }

    /// Starts the worker threads of a multi-thread runtime.
    pub(crate) fn start(self: &Arc<Self>) -> std::io::Result<()> {
        if self.config.flavor == Flavor::CurrentThread {
            return Ok(());
        }
        for index in 0..self.config.worker_threads {
            self.start_worker(index)?;
        }
        Ok(())
    }

    /// Starts a worker thread on slot `index`; returns once it runs (and, when
    /// pinning, once it is pinned: a pinning failure is returned here).
    pub(crate) fn start_worker(self: &Arc<Self>, index: usize) -> std::io::Result<()> {
        // The user's name function first, before any state changes: a panic
        // of it, or a name the OS cannot take (std would panic on the NUL
        // byte), is this start's error.
        let name =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.config.thread_name)()))
                .map_err(|_| std::io::Error::other("the thread_name_fn callback panicked"))?;
        if name.contains('\0') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("thread name {name:?} contains a NUL byte"),
            ));
        }
        self.slots[index].state.store(SLOT_RUNNING, Ordering::SeqCst);
        let shared = self.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let mut builder = std::thread::Builder::new().name(name);
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let cpu = self.slots[index].cpu;
        let spawned = builder.spawn(move || {
            let pinned = cpu.map_or(Ok(()), crate::topology::pin_current_thread);
            let ok = pinned.is_ok();
            let _ = ready_tx.send(pinned);
            if ok {
                worker::run(shared, index);
            }
        });
        let result = match spawned {
            Ok(handle) => {
                *lock(&self.slots[index].thread) = Some(handle);
                ready_rx.recv().unwrap_or_else(|_| {
                    Err(std::io::Error::other("worker thread exited before it started"))
                })
            }
            Err(err) => Err(err),
        };
        if result.is_err() {
            join_worker(&self.slots[index]);
            self.slots[index].state.store(SLOT_VACANT, Ordering::SeqCst);
        }
        result
    }

    /// Whether shutdown has started.
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Spawns `future`; the task is scheduled at once (on a worker of this
    /// runtime: into its LIFO slot, without a second thread-local lookup).
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (handle, refused) = self.spawn_parts(future);
        drop(refused);
        handle
    }

    /// [`Shared::spawn`], except that a task refused because the runtime shut
    /// down comes back to be dropped by the caller: dropping it runs the
    /// future's `Drop`, user code, which must not run while the thread's
    /// context is borrowed (it may enter a runtime, or drop one).
    pub(crate) fn spawn_parts<F>(
        self: &Arc<Self>,
        future: F,
    ) -> (TaskHandle<F::Output>, Option<Runnable>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        context::with_core(self, |core| match core {
            Some(core) => {
                bump(&self.slots[core.index()].metrics.spawned, 1);
                let (runnable, handle) = self.new_task(future, core.group());
                if self.is_shutdown() {
                    return (handle, Some(runnable));
                }
                core.schedule_local(runnable, false);
                (handle, None)
            }
            None => {
                let n = self.external_spawned.fetch_add(1, Ordering::Relaxed);
                // Dealt like spread connections, so past groups that resize left
                // without workers (their tasks would always cross groups).
                let group = self.group_for_ticket((n / EXTERNAL_SPAWN_RUN) as usize);
                self.spawn_in(future, group)
            }
        })
    }

    /// Spawns `future` as a task of `group`, queued in that group's injector.
    pub(crate) fn spawn_on<F>(self: &Arc<Self>, group: usize, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.external_spawned.fetch_add(1, Ordering::Relaxed);
        let (handle, refused) = self.spawn_in(future, group);
        drop(refused);
        handle
    }

    /// Spawns `future` as a task of `group` (already counted as spawned),
    /// queued in the group's injector; a task refused at shutdown comes back
    /// (see [`Shared::spawn_parts`]).
    fn spawn_in<F>(
        self: &Arc<Self>,
        future: F,
        group: usize,
    ) -> (TaskHandle<F::Output>, Option<Runnable>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (runnable, handle) = self.new_task(future, group);
        if self.is_shutdown() {
            // Dropping the runnable drops the future unpolled; the handle
            // reports the task cancelled.
            return (handle, Some(runnable));
        }
        self.schedule_remote(runnable);
        (handle, None)
    }

    /// Creates (does not schedule) a task of this runtime in `group`.
    fn new_task<F>(self: &Arc<Self>, future: F, group: usize) -> (Runnable, TaskHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = TaskMeta::new(self.clone(), group);
        // SAFETY: `spawn_unchecked`'s conditions hold: the future is `Send`
        // (`F: Send`, and `&TaskMeta` is `Send` as `TaskMeta` is `Sync`); it
        // borrows nothing but the task's own metadata, which async-task keeps
        // until after the future is dropped (the case its docs allow); the
        // schedule function is a `Send + Sync + 'static` fn item.
        let (runnable, task) = unsafe {
            TaskBuilder::new()
                .metadata(meta)
                .spawn_unchecked(move |meta| TaskFuture::new(future, meta), WithInfo(schedule))
        };
        let handle = TaskHandle::new(&runnable, task);
        (runnable, handle)
    }

    /// Registers a task that returned `Pending` (see `task_cell.rs`).
    pub(crate) fn register_waiting(&self, waker: &std::task::Waker) -> Option<Registration> {
        let hint = context::with_core_any(|index| index).unwrap_or(0);
        self.registry.register(hint, waker)
    }

    /// Counts a task's future as dropped (on its worker's counter when possible).
    pub(crate) fn count_task_dropped(self: &Arc<Self>) {
        context::with_core(self, |core| match core {
            Some(core) => bump(&self.slots[core.index()].metrics.dropped, 1),
            None => {
                self.external_dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Tasks spawned and not yet dropped.
    pub(crate) fn alive_tasks(&self) -> usize {
        let mut spawned = self.external_spawned.load(Ordering::Relaxed);
        let mut dropped = self.external_dropped.load(Ordering::Relaxed);
        for slot in self.slots.iter() {
            spawned = spawned.wrapping_add(read_metric(&slot.metrics.spawned));
            dropped = dropped.wrapping_add(read_metric(&slot.metrics.dropped));
        }
        usize::try_from(spawned.saturating_sub(dropped)).unwrap_or(usize::MAX)
    }

    /// Runs `f` on the blocking pool.
    pub(crate) fn spawn_blocking<F, R>(self: &Arc<Self>, f: F) -> TaskHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.blocking.clone();
        let shared = self.clone();
        let schedule = move |runnable| {
            let shared = shared.clone();
            pool.schedule(runnable, move || Box::new(shared.enter_blocking()))
        };
        let job = async move { f() };
        let (runnable, task) = TaskBuilder::new()
            .metadata(TaskMeta::blocking())
            .spawn(move |meta: &TaskMeta| TaskFuture::untracked(job, meta.id), schedule);
        let handle = TaskHandle::new(&runnable, task);
        runnable.schedule();
        handle
    }

    /// Pushes a task into a group's injector and wakes a worker if needed.
    pub(crate) fn schedule_remote(&self, runnable: Runnable) {
        let group = runnable.metadata().group;
        self.groups[group].injector.push(runnable);
        self.notify_parked_in(group);
        // A shutdown that raced with the push may have drained the injector
        // already; drain again so the task's future is dropped, not leaked.
        if self.is_shutdown() {
            self.drain_injectors();
        }
    }

    /// Wakes one sleeping worker if nobody is searching for work.
    #[inline]
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify(|_| false) {
            self.wake_worker(index);
        }
    }

    /// Like `notify_parked`, for work queued in `group`: a sleeper of that group
    /// goes first, and with several groups a sleeper of `group` is woken even
    /// while other groups' workers search, as long as none of `group`'s does
    /// (otherwise another group's searcher would take the work across groups).
    #[inline]
    pub(crate) fn notify_parked_in(&self, group: usize) {
        let of_group = |w: usize| self.slots[w].group == group;
        if let Some(index) = self.idle.worker_to_notify(of_group) {
            self.wake_worker(index);
        } else if self.groups.len() > 1
            && self.groups[group].sleeping.load(Ordering::SeqCst) != 0
            && self.groups[group].searching.load(Ordering::SeqCst) == 0
        {
            if let Some(index) = self.idle.wake_sleeper(of_group) {
                self.wake_worker(index);
            }
        }
    }

    /// Wakes a sleeper of `group`, even while others search: a worker that
    /// left for good may have been the one waiting in the group's driver, and
    /// only a worker of the group can take that over (a woken sleeper finds no
    /// work, parks again and takes the free driver).
    pub(crate) fn wake_sleeper_in(&self, group: usize) {
        if let Some(index) = self.idle.wake_sleeper(|w| self.slots[w].group == group) {
            self.wake_worker(index);
        }
    }

    /// Unparks a worker a notifier popped (and counted as searching).
    fn wake_worker(&self, index: usize) {
        let slot = &self.slots[index];
        self.groups[slot.group].searching.fetch_add(1, Ordering::SeqCst);
        slot.unparker.unpark();
    }

    /// Whether any queue of any worker or group holds a task.
    pub(crate) fn has_pending_work(&self) -> bool {
        let used = self.used.load(Ordering::Acquire);
        self.groups.iter().any(|g| !g.injector.is_empty())
            || self.slots[..used].iter().any(|s| !s.stealer.is_empty())
    }

    /// Steals a batch from `group`'s injector into `dest`, returning one task.
    pub(crate) fn steal_injector(&self, group: usize, dest: &Deque<Runnable>) -> Option<Runnable> {
        steal_retrying(|| self.groups[group].injector.steal_batch_and_pop(dest))
    }

    /// Drops every task left in the injectors.
    fn drain_injectors(&self) {
        for group in self.groups.iter() {
            while let Some(runnable) = steal_retrying(|| group.injector.steal()) {
                drop(runnable);
            }
        }
    }

    /// Drops the tasks left in the workers' deques. Once the workers are joined
    /// only a deque put back in its slot can hold any: the current-thread
    /// flavour keeps its queued tasks there between `block_on`s, and a task
    /// queued in a slot holds the runtime (`TaskMeta`), so leaving it there
    /// would leak the runtime with its poller's file descriptors.
    fn drain_slots(&self) {
        for slot in self.slots.iter() {
            while let Some(runnable) = steal_retrying(|| slot.stealer.steal()) {
                drop(runnable);
            }
        }
    }

    /// Drops the tasks still queued after shutdown, inside the runtime's
    /// context (as the shutdown does): for tasks a current-thread core put back
    /// after the shutdown's own drain.
    pub(crate) fn drop_queued_after_shutdown(self: &Arc<Self>) {
        let _entered = self.enter_blocking();
        self.drain_queues();
    }

    /// Drops every task queued in an injector or a slot's deque.
    fn drain_queues(&self) {
        self.drain_injectors();
        self.drain_slots();
    }

    /// Makes this runtime current on the calling thread as on a thread that
    /// belongs to it without running its async code (a blocking-pool thread,
    /// the thread shutting it down): `spawn` queues to the injector, I/O and
    /// timers use group 0. Until the guards drop.
    pub(crate) fn enter_blocking(self: &Arc<Self>) -> (context::EnterGuard, GroupGuard) {
        (context::enter(Entered::Blocking(self.clone())), self.enter_group(0, 0))
    }

    /// Makes `group`'s reactor and timers (timer shard `shard`) current on this thread.
    pub(crate) fn enter_group(&self, group: usize, shard: usize) -> GroupGuard {
        let driver = &self.groups[group].driver;
        GroupGuard {
            _reactor: crate::reactor::enter(driver.reactor().clone()),
            _time: crate::time::enter(driver.time().clone(), shard),
        }
    }

    /// Makes this runtime current on the calling thread (`Handle::enter`), as
    /// [`Shared::enter_blocking`] does, until the guards drop.
    pub(crate) fn enter_outside(self: &Arc<Self>) -> (context::EnterGuard, GroupGuard) {
        if !context::is_entered() {
            return self.enter_blocking();
        }
        // A thread already running async code stays one: `block_on` must still
        // refuse to block it.
        (context::enter(Entered::Nested(self.clone())), self.enter_group(0, 0))
    }

    /// On a paused clock with the whole runtime idle (every worker parked, no
    /// blocking job, no `block_on` thread awake): the earliest timer deadline
    /// of any group, to jump the clock to. `None` otherwise.
    ///
    /// The clock's activity epoch is read first, so that a thread becoming busy
    /// after these checks stops the jump ([`crate::time::Clock::advance_to_if_idle`]).
    pub(crate) fn auto_advance_target(&self) -> Option<AutoAdvance> {
        let epoch = self.clock.activity();
        if !self.clock.is_paused()
            || self.idle.num_unparked() != 0
            || self.blocking.running() != 0
            || self.block_on_busy.load(Ordering::SeqCst) != 0
            || self.clock.is_firing()
            || self.has_pending_work()
            || self.io_in_other_groups()
        {
            return None;
        }
        let target = self.groups.iter().filter_map(|g| g.driver.time().next_deadline()).min()?;
        Some(AutoAdvance { target, epoch })
    }

    /// With several groups: whether some group's reactor holds I/O events that
    /// its driver holder has not collected yet (it is waking up with them, but
    /// still counts as parked). The holder deciding an auto-advance collects its
    /// own group's events itself (`DriverTurn::wait`).
    fn io_in_other_groups(&self) -> bool {
        self.groups.len() > 1
            && self.groups.iter().any(|g| g.driver.reactor().has_uncollected_events())
    }

    /// On a paused clock, wakes every group's driver holder so it re-evaluates
    /// auto-advance (something just went idle, or the clock just moved).
    pub(crate) fn nudge_paused_drivers(&self) {
        if self.clock.is_paused() {
            self.unpark_drivers();
        }
    }

    /// Wakes every group's driver holder so it recomputes its wait: after
    /// `testing::resume`, a holder parked with no timeout on the paused clock
    /// must start waiting for its next deadline in real time.
    pub(crate) fn unpark_drivers(&self) {
        for group in self.groups.iter() {
            group.driver.unpark();
        }
    }

    /// Runs the shutdown protocol (module docs); waits at most `timeout` for
    /// blocking jobs. Idempotent.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout: Duration) {
        let start = Instant::now();
        let _resize = lock(&self.resize_lock);
        self.shutdown.store(true, Ordering::Release);
        // The futures dropped below run their `Drop` impls on this thread: inside
        // the runtime's context, as on a worker, so that a `spawn` there returns
        // a cancelled handle and a timer can be created (outside a context they
        // panic, and a panic while async-task drops a future aborts the process).
        let _entered = self.enter_blocking();
        for slot in self.slots.iter() {
            slot.unparker.unpark();
        }
        for group in self.groups.iter() {
            group.driver.unpark();
        }
        for slot in self.slots.iter() {
            // A worker drops its queued tasks and exits within one poll.
            join_worker(slot);
        }
        self.stop_caretakers();
        self.drain_queues();
        self.registry.close();
        for group in self.groups.iter() {
            group.driver.shutdown();
        }
        self.blocking.shutdown(timeout.saturating_sub(start.elapsed()));
    }
}

/// Keeps a group's reactor and timers current on a thread (see `Shared::enter_group`).
#[derive(Debug)]
pub(crate) struct GroupGuard {
    /// The reactor context.
    _reactor: crate::reactor::EnterGuard,
    /// The timer context.
    _time: crate::time::EnterGuard,
}

/// Joins the thread occupying `slot`, unless it is the calling thread.
pub(crate) fn join_worker(slot: &Slot) {
    let mut thread = lock(&slot.thread);
    let Some(handle) = thread.take() else { return };
    if handle.thread().id() == std::thread::current().id() {
        // Called from this very worker (e.g. dropping the runtime, or resizing
        // it down, inside a task): it exits on its own once the current poll
        // returns. The handle stays, for a resize that keeps it after all.
        *thread = Some(handle);
        return;
    }
    drop(thread);
    let _ = handle.join();
}

/// Builds a vacant slot of `group`.
fn new_slot(driver: Arc<Driver>, group: usize, cpu: Option<usize>) -> Slot {
    let deque = Deque::new_fifo();
    let parker = Parker::new(driver);
    Slot {
        stealer: deque.stealer(),
        unparker: parker.unparker(),
        deque: Mutex::new(Some(deque)),
        parker: Mutex::new(Some(parker)),
        state: AtomicU8::new(SLOT_VACANT),
        group,
        cpu,
        metrics: WorkerMetrics::default(),
        thread: Mutex::new(None),
    }
}

/// The schedule function of every runtime task (see the module docs).
fn schedule(runnable: Runnable, info: ScheduleInfo) {
    let owner = runnable.metadata().owner().expect("a runtime task has an owner");
    if owner.is_shutdown() {
        drop(runnable);
        return;
    }
    // The runtime's identity, so that the runnable can move while it is compared.
    let runtime = Arc::as_ptr(owner);
    let yielded = info.woken_while_running;
    let runnable = context::with_core_of(runtime, |core| match core {
        Some(core) => {
            core.schedule_local(runnable, yielded);
            None
        }
        None => Some(runnable),
    });
    if let Some(runnable) = runnable {
        // Off the workers: the runnable may be run and freed (with the
        // metadata's reference) as soon as it is queued, so hold our own.
        let owner = runnable.metadata().owner().cloned().expect("a runtime task has an owner");
        owner.schedule_remote(runnable);
    }
}

/// Repeats a steal until it is not `Retry`.
#[inline]
pub(crate) fn steal_retrying(mut f: impl FnMut() -> Steal<Runnable>) -> Option<Runnable> {
    loop {
        match f() {
            Steal::Success(runnable) => return Some(runnable),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

/// Locks a mutex whose critical sections cannot leave it inconsistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
