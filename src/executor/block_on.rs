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

/// Wakes a thread blocked in `block_on`.
#[derive(Debug)]
struct ThreadNotify {
    /// Set by `wake`, cleared by the poller.
    woken: AtomicBool,
    /// The blocked thread.
    thread: Thread,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

/// Wakes the current-thread driver: flags the main future and unparks slot 0.
#[derive(Debug)]
struct MainNotify {
    /// Set by `wake`, cleared before each poll of the main future.
    woken: AtomicBool,
    /// Slot 0's unparker.
    unparker: Unparker,
}

impl Wake for MainNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
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

/// Counts this thread as awake in `block_on` (see `Shared::block_on_busy`).
struct Busy<'a> {
    /// The runtime.
    shared: &'a Shared,
}

impl<'a> Busy<'a> {
    /// Counts the thread in.
    fn enter(shared: &'a Shared) -> Busy<'a> {
        shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
        Busy { shared }
    }

    /// Sleeps until woken, counted out meanwhile (paused time may advance).
    fn park(&self) {
        self.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
        self.shared.nudge_paused_drivers();
        thread::park();
        self.shared.block_on_busy.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.shared.block_on_busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls `future` on this thread until it completes (multi-thread flavour).
pub(crate) fn block_on_waiting<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let _enter = context::enter(Entered::BlockOn(shared.clone()));
    let _io_and_time = shared.enter_group(0, 0);
    let busy = Busy::enter(shared);
    let notify = Arc::new(ThreadNotify { woken: AtomicBool::new(true), thread: thread::current() });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if notify.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        } else {
            busy.park();
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
        woken: AtomicBool::new(true),
        unparker: shared.slots[0].unparker.clone(),
    });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut tick = 0u32;
    let output = loop {
        if notify.woken.swap(false, Ordering::SeqCst) {
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
            if notify.woken.load(Ordering::Relaxed) {
                break;
            }
        }
        if !ran && !notify.woken.load(Ordering::SeqCst) {
            core.park_current_thread(&notify.woken);
        }
    };
    drop(_io_and_time);
    drop(_enter);
    let core = Rc::try_unwrap(core).expect("current-thread core still referenced");
    core.into_slot_keeping_tasks();
    output
}
