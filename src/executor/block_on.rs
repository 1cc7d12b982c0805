//! `block_on`: running a future to completion on the calling thread.
//!
//! - Multi-thread flavour: the caller only polls its own future and sleeps
//!   between wake-ups; the workers run the tasks.
//! - Current-thread flavour: the caller *is* the worker. It claims slot 0 and
//!   alternates between its future (whenever woken) and the queued tasks, parking
//!   in the driver when both are idle, and turning the driver without waiting
//!   every `event_interval` tasks while it is busy (sooner when polls are long:
//!   `periodic.rs`). If another thread already
//!   drives the runtime, the caller waits on its future like the multi-thread
//!   caller, and takes over the driving when that thread hands the runtime back.
//!   Once the runtime has shut down there is nothing left to drive: the caller
//!   drops the tasks its core still holds, hands the core back, and waits on
//!   its future alone.

use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::context::{self, Entered};
use super::park::Unparker;
use super::shared::{lock, Shared};
use super::worker::WorkerCore;
use crate::util::coop;

/// Tasks run between two polls of the main future in the current-thread flavour.
const MAIN_POLL_BUDGET: u32 = 61;

/// The `block_on_busy` protocol shared by both wakers: a thread inside
/// `block_on` counts as busy from the moment its future is woken until the
/// poll that follows has returned, so paused time never jumps while a woken
/// `block_on` future has yet to run.
///
/// A wake that no poll will consume any more (the `block_on` returned, or
/// moved on to another waker) is uncounted by [`MainWake::finish`]; a wake after
/// that is not counted at all.
#[derive(Debug)]
struct MainWake {
    /// Set by `wake`, cleared by the poller.
    woken: AtomicBool,
    /// Set by `finish`: later wakes are ignored.
    done: AtomicBool,
    /// The runtime, whose `block_on_busy` counts this future while woken.
    shared: Arc<Shared>,
}

impl MainWake {
    /// A future about to be polled for the first time: woken, counted busy.
    fn new(shared: &Arc<Shared>) -> MainWake {
        shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
        MainWake {
            woken: AtomicBool::new(true),
            done: AtomicBool::new(false),
            shared: shared.clone(),
        }
    }

    /// Marks the future woken; `true` if it was not already (then wake the thread).
    fn wake(&self) -> bool {
        if self.done.load(Ordering::SeqCst) {
            return false;
        }
        // Counted before the flag is visible, so the poller cannot consume the
        // wake (and uncount it) before it was counted.
        self.shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
        self.shared.clock.note_activity();
        if self.woken.swap(true, Ordering::SeqCst) {
            self.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        if self.done.load(Ordering::SeqCst) {
            // Raced with `finish`: whichever of the two takes the flag back
            // uncounts the wake (both use `swap`, so exactly one does).
            self.uncount_pending();
            return false;
        }
        true
    }

    /// No poll will follow: uncounts a pending wake, and ignores later ones (a
    /// task may keep a clone of the waker after `block_on` returned). Without
    /// this, a wake during the last poll stayed counted and paused time never
    /// auto-advanced again.
    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.uncount_pending();
    }

    /// Uncounts the pending wake, if the flag is still set.
    fn uncount_pending(&self) {
        if self.woken.swap(false, Ordering::SeqCst) {
            self.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
            self.shared.nudge_paused_drivers();
        }
    }

    /// Consumes a wake: `Some(guard)` that uncounts it after the poll.
    fn take(&self) -> Option<PollCount<'_>> {
        // `then`, not `then_some`: the guard must exist only for a consumed wake.
        self.woken.swap(false, Ordering::SeqCst).then(|| PollCount { wake: self })
    }

    /// Whether a wake is pending.
    fn is_woken(&self) -> bool {
        self.woken.load(Ordering::SeqCst)
    }
}

/// Uncounts a consumed wake once the poll it allowed has returned (or panicked).
struct PollCount<'a> {
    /// The wake state.
    wake: &'a MainWake,
}

impl Drop for PollCount<'_> {
    fn drop(&mut self) {
        self.wake.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
        // On a paused clock the runtime may now be idle.
        self.wake.shared.nudge_paused_drivers();
    }
}

/// Wakes a thread blocked in `block_on` (multi-thread flavour).
#[derive(Debug)]
struct ThreadNotify {
    /// Woken flag and busy count.
    main: MainWake,
    /// The blocked thread.
    thread: Thread,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.main.wake() {
            self.thread.unpark();
        }
    }
}

/// Wakes the current-thread driver: flags the main future and unparks slot 0.
#[derive(Debug)]
struct MainNotify {
    /// Woken flag and busy count.
    main: MainWake,
    /// Slot 0's unparker.
    unparker: Unparker,
}

impl Wake for MainNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.main.wake() {
            self.unparker.unpark();
        }
    }
}

/// Panics if this thread is already inside a runtime.
#[track_caller]
pub(crate) fn assert_not_in_runtime() {
    if context::is_entered() {
        panic!(
            "Cannot start a runtime from within a runtime: `block_on` was called on a thread \
             that is already running hioload tasks (inside `block_on` or on a worker). \
             Use `.await` instead, or `spawn_blocking` to leave the async context."
        );
    }
}

/// Polls `future` on this thread until it completes (multi-thread flavour).
pub(crate) fn block_on_waiting<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let future = pin!(future);
    match wait(shared, future, || false) {
        Some(output) => output,
        None => unreachable!("a multi-thread block_on never stops waiting for a core"),
    }
}

/// Polls `future` on this thread, sleeping between its wake-ups, until it
/// completes (`Some`) or, checked before each sleep, `core_free()` is true
/// (`None`: the caller takes over the driving).
fn wait<F: Future>(
    shared: &Arc<Shared>,
    mut future: Pin<&mut F>,
    core_free: impl Fn() -> bool,
) -> Option<F::Output> {
    let _enter = context::enter(Entered::BlockOn(shared.clone()));
    let _io_and_time = shared.enter_group(0, 0);
    let notify = Arc::new(ThreadNotify { main: MainWake::new(shared), thread: thread::current() });
    let _finish = Finish(&notify.main);
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        match notify.main.take() {
            Some(_polling) => {
                if let Poll::Ready(output) = coop::budgeted(|| future.as_mut().poll(&mut cx)) {
                    return Some(output);
                }
            }
            None if core_free() => return None,
            None => thread::park(),
        }
    }
}

/// Runs `future` and the runtime's tasks on this thread (current-thread flavour).
///
/// While another thread drives the runtime, this one waits on its future; when
/// that thread hands the runtime back (its `block_on` returned), this one
/// claims it and drives.
pub(crate) fn block_on_driving<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        if shared.is_shutdown() {
            // Nothing left to drive: wait on the future alone, asleep between
            // its wake-ups (turning a shut-down driver would return at once,
            // and the thread would spin).
            match wait(shared, future.as_mut(), || false) {
                Some(output) => return output,
                None => unreachable!("a waiter that never takes a core never stops waiting"),
            }
        }
        if let Some(core) = WorkerCore::claim(shared.clone(), 0) {
            match drive(shared, core, future.as_mut()) {
                Some(output) => return output,
                None => continue,
            }
        }
        let _registered = CoreWaiter::register(shared);
        let core_free = || lock(&shared.slots[0].deque).is_some();
        if let Some(output) = wait(shared, future.as_mut(), core_free) {
            return output;
        }
    }
}

/// The driving loop of [`block_on_driving`], on the claimed `core`: the
/// future's output, or `None` once the runtime has shut down (the core is
/// handed back, its queued tasks dropped, and the caller waits on its own).
fn drive<F: Future>(
    shared: &Arc<Shared>,
    core: WorkerCore,
    mut future: Pin<&mut F>,
) -> Option<F::Output> {
    // Declared first, so dropped last (also on unwinding): the runtime is
    // handed back once the context's reference to the core is gone.
    let release = ReleaseCore { shared, core: Some(Rc::new(core)) };
    let core = release.core();
    let _enter = context::enter(Entered::Worker(core.clone()));
    let _io_and_time = shared.enter_group(0, 0);
    // Sub-millisecond timers need less than the default timer slack; this
    // thread now drives the runtime (documented on `Builder::current_thread`).
    let _ = crate::time::set_worker_timer_slack();
    let notify = Arc::new(MainNotify {
        main: MainWake::new(shared),
        unparker: shared.slots[0].unparker.clone(),
    });
    let _finish = Finish(&notify.main);
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Some(_polling) = notify.main.take() {
            if let Poll::Ready(output) = coop::budgeted(|| future.as_mut().poll(&mut cx)) {
                return Some(output);
            }
        }
        if shared.is_shutdown() {
            // Shut down while this thread drives (the future dropped the
            // runtime, or another thread did): its queued tasks are dropped, not
            // run; the shutdown could not reach the ones this core holds.
            core.drop_queued();
            // A wake-up still pending goes to the waiting loop's first poll.
            return None;
        }
        let mut ran = false;
        for _ in 0..MAIN_POLL_BUDGET {
            if core.maintenance_due() {
                // Tasks that stay runnable must not starve I/O and timers: the
                // driver is otherwise turned only when this thread parks.
                core.maintenance();
            }
            match core.next_task() {
                Some(task) => {
                    core.run_task(task);
                    ran = true;
                }
                None => break,
            }
            if notify.main.is_woken() {
                break;
            }
        }
        if !ran {
            if notify.main.is_woken() {
                // The main future is busy (it yielded, or spent its budget):
                // still turn the driver once per round, as a park would.
                core.maintenance();
            } else {
                core.park_current_thread(&notify.main.woken);
            }
        }
    }
}

/// Ends a `block_on`'s wake accounting when it returns or unwinds.
struct Finish<'a>(&'a MainWake);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Hands the current-thread core back to slot 0 when the driving `block_on`
/// returns or unwinds, keeping its queued tasks, and wakes the threads waiting
/// to drive.
struct ReleaseCore<'a> {
    /// The runtime.
    shared: &'a Arc<Shared>,
    /// The claimed core (taken in `drop`).
    core: Option<Rc<WorkerCore>>,
}

impl ReleaseCore<'_> {
    /// The claimed core.
    fn core(&self) -> &Rc<WorkerCore> {
        self.core.as_ref().expect("held until drop")
    }
}

impl Drop for ReleaseCore<'_> {
    fn drop(&mut self) {
        let Some(core) = self.core.take() else { return };
        match Rc::try_unwrap(core) {
            Ok(core) => core.into_slot_keeping_tasks(),
            // Still referenced (cannot happen: the context's clone is dropped
            // first); leaking the slot is the only safe choice then.
            Err(_) => return,
        }
        // A shutdown that ran while this thread held the core drained the
        // queues it could see, not this core's: the tasks just put back would
        // be kept for ever (each holds the runtime). Either the shutdown's own
        // drain sees them, or this check sees its flag (both are SeqCst).
        if self.shared.is_shutdown() {
            self.shared.drop_queued_after_shutdown();
        }
        for thread in lock(&self.shared.core_waiters).iter() {
            thread.unpark();
        }
    }
}

/// A thread's entry in `Shared::core_waiters` while it waits to drive.
struct CoreWaiter<'a> {
    /// The runtime.
    shared: &'a Arc<Shared>,
}

impl<'a> CoreWaiter<'a> {
    /// Lists this thread among those unparked when the core is handed back.
    fn register(shared: &'a Arc<Shared>) -> CoreWaiter<'a> {
        lock(&shared.core_waiters).push(thread::current());
        CoreWaiter { shared }
    }
}

impl Drop for CoreWaiter<'_> {
    fn drop(&mut self) {
        let me = thread::current().id();
        lock(&self.shared.core_waiters).retain(|t| t.id() != me);
    }
}
