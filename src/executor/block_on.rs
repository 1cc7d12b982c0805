//! `block_on`: running a future to completion on the calling thread.
//!
//! - Multi-thread flavour: the caller only polls its own future and sleeps
//!   between wake-ups; the workers run the tasks.
//! - Current-thread flavour: the caller *is* the worker. It claims slot 0 and
//!   alternates between its future (whenever woken) and the queued tasks, parking
//!   in the driver when both are idle. If another thread already drives the
//!   runtime, the caller waits on its future like the multi-thread caller.

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::context::{self, Entered};
use super::park::Unparker;
use super::shared::Shared;
use super::worker::WorkerCore;

/// Tasks run between two polls of the main future in the current-thread flavour.
const MAIN_POLL_BUDGET: u32 = 61;

/// The `block_on_busy` protocol shared by both wakers: a thread inside
/// `block_on` counts as busy from the moment its future is woken until the
/// poll that follows has returned, so paused time never jumps while a woken
/// `block_on` future has yet to run.
#[derive(Debug)]
struct MainWake {
    /// Set by `wake`, cleared by the poller.
    woken: AtomicBool,
    /// The runtime, whose `block_on_busy` counts this future while woken.
    shared: Arc<Shared>,
}

impl MainWake {
    /// A future about to be polled for the first time: woken, counted busy.
    fn new(shared: &Arc<Shared>) -> MainWake {
        shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
        MainWake { woken: AtomicBool::new(true), shared: shared.clone() }
    }

    /// Marks the future woken; `true` if it was not already (then wake the thread).
    fn wake(&self) -> bool {
        // Counted before the flag is visible, so the poller cannot consume the
        // wake (and uncount it) before it was counted.
        self.shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
        if self.woken.swap(true, Ordering::SeqCst) {
            self.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
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
    let _enter = context::enter(Entered::BlockOn(shared.clone()));
    let _io_and_time = shared.enter_group(0, 0);
    let notify = Arc::new(ThreadNotify { main: MainWake::new(shared), thread: thread::current() });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match notify.main.take() {
            Some(_polling) => {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            None => thread::park(),
        }
    }
}

/// Runs `future` and the runtime's tasks on this thread (current-thread flavour).
pub(crate) fn block_on_driving<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let Some(core) = WorkerCore::claim(shared.clone(), 0) else {
        return block_on_waiting(shared, future);
    };
    let core = Rc::new(core);
    let _enter = context::enter(Entered::Worker(core.clone()));
    let _io_and_time = shared.enter_group(0, 0);
    // Sub-millisecond timers need less than the default timer slack; this
    // thread now drives the runtime (documented on `Builder::current_thread`).
    let _ = crate::time::set_worker_timer_slack();
    let notify = Arc::new(MainNotify {
        main: MainWake::new(shared),
        unparker: shared.slots[0].unparker.clone(),
    });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut tick = 0u32;
    let output = loop {
        if let Some(_polling) = notify.main.take() {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                break output;
            }
        }
        let mut ran = false;
        for _ in 0..MAIN_POLL_BUDGET {
            tick = tick.wrapping_add(1);
            match core.next_task(tick) {
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
        if !ran && !notify.main.is_woken() {
            core.park_current_thread(&notify.main.woken);
        }
    };
    drop(_io_and_time);
    drop(_enter);
    let core = Rc::try_unwrap(core).expect("current-thread core still referenced");
    core.into_slot_keeping_tasks();
    output
}
