//! A worker: the thread-local core and the run loop.
//!
//! # Where a worker looks for its next task
//!
//! 1. Every `global_queue_interval` ticks (fewer when polls are long:
//!    `periodic.rs`), its group's injector first, so remote
//!    spawns are not starved by a worker that keeps feeding itself; then, if
//!    `resize` left some group without workers, that group's injector (only
//!    other groups' workers run its tasks, see `caretaker.rs`).
//! 2. Its LIFO slot, at most `MAX_LIFO_POLLS` times in a row (then the slot's task
//!    goes to the back of the local queue, so two tasks ping-ponging cannot
//!    starve the rest).
//! 3. Its local queue, then a batch from its group's injector.
//! 4. Searching (at most half the workers at once): a batch stolen from a random
//!    peer of its own group, then from the other groups' injectors and workers.
//! 5. Otherwise it parks; the first idle worker of a group parks inside the
//!    group's driver (I/O and timers), the others on their condvars.
//!
//! Every `event_interval` ticks (fewer when polls are long: `periodic.rs`) a
//! busy worker turns the driver with a zero timeout and checks whether it
//! should retire (resize) or stop (shutdown).
//!
//! A task queued here wakes a sleeping sibling to steal it, except that the
//! tasks of a small batch of fired timers are served here alone
//! (`timer_batch.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_deque::Worker as Deque;

use super::config::Flavor;
use super::context::{self, Entered};
use super::metrics::bump;
use super::park::Parker;
use super::periodic::Periodic;
use super::shared::{lock, steal_retrying, Shared, SLOT_EXITING, SLOT_RETIRING, SLOT_VACANT};
use super::task_cell::Runnable;
use super::timer_batch::{dispatching_timers, Settle, TimerBatch};
use crate::util::rand::FastRand;

/// Rounds of `spin_for_work` before a searcher parks: each is
/// `SPIN_PAUSES` pause instructions and a queue check. A pause costs ~10 to
/// ~140 cycles depending on the CPU (Skylake-SP and later: ~140), so the
/// whole spin stays within about 1-2 us.
const SPIN_ROUNDS: u32 = 8;

/// Pause instructions per spin round.
const SPIN_PAUSES: u32 = 4;

/// Most tasks one steal takes from a short queue of another group.
const REMOTE_STEAL_BATCH: usize = 4;

/// A queue at least this long is halved by a steal from another group: a
/// burst of spawns, far longer than a group's own producer/consumer traffic
/// keeps queued (32 was reached there and cost locality).
const LONG_QUEUE: usize = 128;

/// Consecutive LIFO-slot polls before the slot's task must queue like the rest.
const MAX_LIFO_POLLS: u8 = 3;

/// The state a worker thread owns; reachable from its thread-local context.
pub(crate) struct WorkerCore {
    /// The runtime.
    shared: Arc<Shared>,
    /// Slot index.
    index: usize,
    /// The slot's group.
    group: usize,
    /// The owner end of the slot's deque.
    local: Deque<Runnable>,
    /// The task to run next (message-passing fast path).
    lifo: Cell<Option<Runnable>>,
    /// LIFO polls in a row.
    lifo_polls: Cell<u8>,
    /// Whether this worker is counted as searching in `Idle`.
    searching: Cell<bool>,
    /// When the periodic checks are due (`periodic.rs`).
    periodic: Periodic,
    /// Victim selection.
    rng: FastRand,
    /// The slot's parker, held while the thread runs.
    parker: RefCell<Option<Parker>>,
    /// When the worker last woke up (for the busy-time metric; wall clock,
    /// read only around parks, never per task).
    busy_since: Cell<Instant>,
    /// Held-back sibling wake-ups of fired timers (`timer_batch.rs`).
    timer_batch: TimerBatch,
}

impl std::fmt::Debug for WorkerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCore")
            .field("index", &self.index)
            .field("group", &self.group)
            .field("searching", &self.searching.get())
            .field("local_len", &self.local.len())
            .finish_non_exhaustive()
    }
}

impl WorkerCore {
    /// Takes slot `index`'s deque and parker; `None` if a thread already holds them.
    pub(crate) fn claim(shared: Arc<Shared>, index: usize) -> Option<WorkerCore> {
        let slot = &shared.slots[index];
        let local = lock(&slot.deque).take()?;
        let parker = lock(&slot.parker).take();
        let group = slot.group;
        let config = &shared.config;
        let now = Instant::now();
        let periodic = Periodic::new(config.event_interval, config.global_queue_interval, now);
        Some(WorkerCore {
            rng: FastRand::new(0x5851_F42D_4C95_7F2D ^ (index as u64 + 1).wrapping_mul(0x9E37)),
            shared,
            index,
            group,
            local,
            lifo: Cell::new(None),
            lifo_polls: Cell::new(0),
            searching: Cell::new(false),
            periodic,
            parker: RefCell::new(parker),
            busy_since: Cell::new(now),
            timer_batch: TimerBatch::default(),
        })
    }

    /// The runtime.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Slot index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker's group.
    pub(crate) fn group(&self) -> usize {
        self.group
    }

    /// Schedules a task woken on this worker (see `shared.rs`, step 1).
    #[inline]
    pub(crate) fn schedule_local(&self, runnable: Runnable, yielded: bool) {
        let pushed = if yielded {
            self.local.push(runnable);
            true
        } else {
            match self.lifo.replace(Some(runnable)) {
                Some(prev) => {
                    self.local.push(prev);
                    true
                }
                None => false,
            }
        };
        // Work that others could steal: wake a sleeper unless someone searches
        // (or the task is one of a timer batch, held back until `settle`).
        if pushed && !self.searching.get() && !self.timer_batch.hold() {
            self.shared.notify_parked_in(self.group);
        }
    }

    /// After firing timers: wakes a sibling for the batch now, or serves it alone
    /// (`timer_batch.rs`, step 2).
    fn settle_timer_batch(&self) {
        if self.timer_batch.settle(self.local.len()) == Settle::WakeNow && !self.searching.get() {
            self.shared.notify_parked_in(self.group);
        }
    }

    /// Counts a tick towards the next periodic maintenance; true when it is due.
    #[inline]
    pub(crate) fn maintenance_due(&self) -> bool {
        self.periodic.tick(Instant::now)
    }

    /// Steps 1-3 of the module docs.
    pub(crate) fn next_task(&self) -> Option<Runnable> {
        if self.periodic.checks_injector() {
            if let Some(task) = self.shared.steal_injector(self.group, &self.local) {
                return Some(task);
            }
            if let Some(task) = self.steal_from_groups_in_care() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo.take() {
            if self.lifo_polls.get() < MAX_LIFO_POLLS {
                self.lifo_polls.set(self.lifo_polls.get() + 1);
                return Some(task);
            }
            self.local.push(task);
        }
        self.lifo_polls.set(0);
        self.local.pop().or_else(|| self.shared.steal_injector(self.group, &self.local))
    }

    /// Step 4: steal, as a searcher.
    pub(crate) fn steal_work(&self) -> Option<Runnable> {
        if !self.searching.get() {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.group_searching().fetch_add(1, Ordering::SeqCst);
            self.searching.set(true);
        }
        let shared = &*self.shared;
        let used = shared.used.load(Ordering::Acquire);
        let metrics = &shared.slots[self.index].metrics;
        if let Some(task) = self.steal_from_group(self.group, used) {
            bump(&metrics.local_steals, 1);
            return Some(task);
        }
        // Other groups only once this one is out of work.
        let groups = shared.groups.len();
        for offset in 1..groups {
            let group = (self.group + offset) % groups;
            // From another group take a few tasks at a time: moving half a
            // busy worker's queue across groups would drag its whole
            // producer/consumer cascade away from its data.
            let task = shared
                .steal_injector(group, &self.local)
                .or_else(|| self.steal_few_from_group(group, used));
            if task.is_some() {
                bump(&metrics.remote_steals, 1);
                return task;
            }
        }
        None
    }

    /// Step 1's second half: a batch from the injector of a group without
    /// workers. Without a resize below the number of groups this is one
    /// relaxed load.
    fn steal_from_groups_in_care(&self) -> Option<Runnable> {
        let shared = &*self.shared;
        if shared.groups_in_care.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let task = (0..shared.groups.len())
            .filter(|&g| g != self.group && !shared.group_has_workers(g))
            .find_map(|g| shared.steal_injector(g, &self.local));
        if task.is_some() {
            bump(&shared.slots[self.index].metrics.remote_steals, 1);
        }
        task
    }

    /// Steals from the first non-empty worker of another `group`: a few tasks
    /// (`REMOTE_STEAL_BATCH`) from a short queue, half of a long one.
    fn steal_few_from_group(&self, group: usize, used: usize) -> Option<Runnable> {
        let slots = &self.shared.groups[group].slots;
        let live = slots.partition_point(|&s| s < used);
        let start = if live > 0 { self.rng.below(live) } else { 0 };
        (0..live).find_map(|i| {
            let stealer = &self.shared.slots[slots[(start + i) % live]].stealer;
            // A short queue is a producer/consumer cascade that its own group will
            // get to: take a few, leaving the rest near its data (the locality
            // bench: 97-99% of steps on the home group). A long one is a real
            // imbalance (a burst of spawns): halve it, as within a group, or the
            // thief comes back for a few tasks at a time (ping_pong with two
            // groups: 1.13-1.25x one group with a quarter, 1.01-1.03x with half).
            let len = stealer.len();
            let limit = if len >= LONG_QUEUE { len / 2 } else { REMOTE_STEAL_BATCH };
            steal_retrying(|| stealer.steal_batch_with_limit_and_pop(&self.local, limit))
        })
    }

    /// Steals a batch from a random-start sweep over `group`'s workers, then its injector.
    fn steal_from_group(&self, group: usize, used: usize) -> Option<Runnable> {
        let slots = &self.shared.groups[group].slots;
        let live = slots.partition_point(|&s| s < used);
        if live > 0 {
            let start = self.rng.below(live);
            for i in 0..live {
                let victim = slots[(start + i) % live];
                if victim == self.index {
                    continue;
                }
                let stealer = &self.shared.slots[victim].stealer;
                if let Some(task) = steal_retrying(|| stealer.steal_batch_and_pop(&self.local)) {
                    return Some(task);
                }
            }
        }
        self.shared.steal_injector(group, &self.local)
    }

    /// Runs one task; ends this worker's search first (handing the baton on), and
    /// wakes a sibling for a timer batch served alone for too long.
    pub(crate) fn run_task(&self, task: Runnable) {
        if self.stop_searching() && self.shared.idle.transition_worker_from_searching() {
            self.shared.notify_parked();
        }
        if self.timer_batch.overdue(|| self.local.is_empty()) {
            self.shared.notify_parked_in(self.group);
        }
        self.timer_batch.count_poll();
        let metrics = &self.shared.slots[self.index].metrics;
        if task.metadata().aborted.load(Ordering::Acquire) {
            // Dropping the runnable drops the future, here and now.
            drop(task);
            bump(&metrics.aborted, 1);
            return;
        }
        bump(&metrics.polls, 1);
        crate::util::coop::budgeted(|| task.run());
    }

    /// A searcher about to sleep watches the queues for a few microseconds:
    /// a producer that spawns in a stream (a task every few hundred ns) then
    /// finds it awake, instead of paying a futex wake per park. Bounded, so an
    /// idle runtime still sleeps at once after this.
    fn spin_for_work(&self) -> bool {
        if !self.searching.get() {
            return false;
        }
        for _ in 0..SPIN_ROUNDS {
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
            if self.shared.has_pending_work() {
                return true;
            }
        }
        false
    }

    /// This worker's group's count of searching workers.
    fn group_searching(&self) -> &std::sync::atomic::AtomicUsize {
        &self.shared.groups[self.group].searching
    }

    /// Leaves the searching state (the group count too); returns whether it was searching.
    fn stop_searching(&self) -> bool {
        let was = self.searching.replace(false);
        if was {
            self.group_searching().fetch_sub(1, Ordering::SeqCst);
        }
        was
    }

    /// Moves the LIFO slot's task to the back of the local queue, where other
    /// threads see it.
    fn spill_lifo(&self) {
        if let Some(task) = self.lifo.take() {
            self.local.push(task);
        }
    }

    /// Whether the LIFO slot or local queue holds a task.
    fn has_tasks(&self) -> bool {
        // `Cell<Option<_>>` cannot be peeked; take and put back.
        let lifo = self.lifo.take();
        let has = lifo.is_some();
        self.lifo.set(lifo);
        has || !self.local.is_empty()
    }

    /// Step 5: sleeps until notified, or until the driver produced work here.
    ///
    /// `woken` is the current-thread flavour's main-future flag: its waker
    /// unparks this worker directly, outside the sleepers bookkeeping.
    pub(crate) fn park(&self, timeout: Option<Duration>, woken: Option<&AtomicBool>) {
        let shared = &*self.shared;
        let was_searching = self.stop_searching();
        let sleeping = &shared.groups[self.group].sleeping;
        sleeping.fetch_add(1, Ordering::SeqCst);
        let last_searcher = shared.idle.transition_worker_to_parked(self.index, was_searching);
        // The last searcher leaving (or the only worker of a current-thread
        // runtime) looks once more: a push it raced with woke nobody.
        let alone = shared.config.flavor == Flavor::CurrentThread;
        if (last_searcher || alone) && shared.has_pending_work() {
            shared.notify_parked();
        }
        let metrics = &shared.slots[self.index].metrics;
        bump(&metrics.parks, 1);
        let busy = u64::try_from(self.busy_since.get().elapsed().as_nanos()).unwrap_or(u64::MAX);
        bump(&metrics.busy_ns, busy);
        self.timer_batch.learn(busy);
        // On a paused clock, this park may be what makes the runtime idle: let
        // the driver holders re-evaluate auto-advance.
        shared.nudge_paused_drivers();
        let parker = self.parker.borrow();
        let parker = parker.as_ref().expect("a running worker holds its parker");
        loop {
            let turned = parker.park(timeout, || shared.auto_advance_target());
            if turned.firing {
                // This park's timer sweep woke tasks onto this worker: the first
                // went to the LIFO slot, which no other thread sees. Queued
                // where the idle checks look, they keep a paused clock from
                // jumping past their deadlines; then the sweep is over.
                self.spill_lifo();
            }
            if turned.finish(&shared.clock) {
                shared.unpark_drivers();
            }
            let main_woken = woken.is_some_and(|w| w.load(Ordering::SeqCst));
            if self.has_tasks()
                || main_woken
                || shared.is_shutdown()
                || self.is_retiring()
                || timeout.is_some()
            {
                // Woken by our own driver (or asked to stop): count ourselves
                // unparked, unless a notifier already did (then we search).
                if !shared.idle.unpark_worker_by_id(self.index) {
                    // Already counted as searching (group count too) by the notifier.
                    self.searching.set(true);
                }
                break;
            }
            if !shared.idle.is_parked(self.index) {
                // A notifier popped us and counted us as searching.
                self.searching.set(true);
                break;
            }
        }
        sleeping.fetch_sub(1, Ordering::SeqCst);
        // Busy again, before any task reads the clock: a paused clock's
        // auto-advance decided on before this must not go ahead.
        shared.clock.note_activity();
        bump(&metrics.unparks, 1);
        let now = Instant::now();
        self.busy_since.set(now);
        self.periodic.restart(now);
        self.settle_timer_batch();
    }

    /// Whether resize asked this worker to retire.
    fn is_retiring(&self) -> bool {
        self.shared.slots[self.index].state.load(Ordering::Acquire) == SLOT_RETIRING
    }

    /// Takes up a retirement resize asked for: true if this worker now leaves.
    /// A resize may cancel the request until then (`resize.rs`).
    fn take_up_retirement(&self) -> bool {
        let state = &self.shared.slots[self.index].state;
        state
            .compare_exchange(SLOT_RETIRING, SLOT_EXITING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Periodic work of a busy worker: poll I/O without blocking.
    pub(crate) fn maintenance(&self) {
        let driver = &self.shared.groups[self.group].driver;
        match driver.try_lock() {
            Some(turn) => turn.poll(),
            // Another worker holds the driver: still fire our own shard's timers.
            None => dispatching_timers(|| driver.time().process_shard(self.index)),
        }
        self.settle_timer_batch();
    }

    /// Leaves the search, drops or hands back queued tasks, returns the deque and parker.
    fn release(&self, hand_back: bool) {
        if self.stop_searching() && self.shared.idle.transition_worker_from_searching() {
            self.shared.notify_parked();
        }
        if hand_back {
            let injector = &self.shared.groups[self.group].injector;
            let lifo = self.lifo.take();
            for task in lifo.into_iter().chain(std::iter::from_fn(|| self.local.pop())) {
                injector.push(task);
            }
            self.shared.notify_parked();
        } else {
            self.drop_queued();
        }
    }

    /// Drops the tasks in the LIFO slot and the local queue (the runtime shut
    /// down: they are not to run).
    pub(crate) fn drop_queued(&self) {
        drop(self.lifo.take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
    }

    /// Parks the current-thread flavour's driving thread.
    pub(crate) fn park_current_thread(&self, woken: &AtomicBool) {
        self.park(None, Some(woken));
    }

    /// Keeps queued tasks for the next `block_on` and puts the core back.
    pub(crate) fn into_slot_keeping_tasks(self) {
        self.spill_lifo();
        if self.stop_searching() {
            self.shared.idle.transition_worker_from_searching();
        }
        self.into_slot();
    }

    /// Puts the deque and parker back into the slot (for a later occupant).
    fn into_slot(self) {
        let slot = &self.shared.slots[self.index];
        *lock(&slot.parker) = self.parker.take();
        *lock(&slot.deque) = Some(self.local);
    }
}

/// A worker thread's body: claims slot `index`, runs tasks until shutdown or retirement.
pub(crate) fn run(shared: Arc<Shared>, index: usize) {
    let Some(core) = WorkerCore::claim(shared.clone(), index) else {
        return;
    };
    let core = Rc::new(core);
    let _enter = context::enter(Entered::Worker(core.clone()));
    let _io_and_time = shared.enter_group(core.group, index);
    // Sub-millisecond timers need less than the default 50 us of timer slack;
    // `Unsupported` off Linux is fine.
    let _ = crate::time::set_worker_timer_slack();
    super::config::run_hook(shared.config.on_thread_start.as_ref());
    loop {
        if core.maintenance_due() {
            if shared.is_shutdown() || core.take_up_retirement() {
                break;
            }
            core.maintenance();
        }
        // Steps 1-4, then 5.
        if let Some(task) = core.next_task().or_else(|| core.steal_work()) {
            core.run_task(task);
            continue;
        }
        if shared.is_shutdown() || core.take_up_retirement() {
            break;
        }
        if core.spin_for_work() {
            continue;
        }
        core.park(None, None);
    }
    let retiring = !shared.is_shutdown();
    core.release(retiring);
    if retiring {
        // This worker may have held its group's driver: a sibling takes it over.
        shared.wake_sleeper_in(core.group);
    }
    super::config::run_hook(shared.config.on_thread_stop.as_ref());
    drop(_io_and_time);
    drop(_enter);
    let core = Rc::try_unwrap(core).expect("worker core still referenced after the loop");
    if retiring {
        shared.idle.remove_worker();
        core.shared.slots[index].state.store(SLOT_VACANT, Ordering::Release);
    }
    core.into_slot();
}
