//! Sleeps polled through wakers whose `clone` is the waker owner's own code:
//!
//! - Executors may lend a task a waker that points at their own memory (a slot
//!   reused by the next task) and whose clone is an owned, reference-counted one.
//!   What the wheel holds is a clone, so the lock-free "same waker as filed"
//!   check must compare against the clone, not the waker it was cloned from.
//! - A clone runs user code, so it must not run under a shard lock.
//!
//! Building such wakers takes `unsafe` (`Waker::from_raw`); nothing else here does.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::sync::Mutex;
use std::task::{RawWaker, RawWakerVTable, Wake};

use super::*;

/// A task: counts its wake-ups.
#[derive(Default)]
struct Task(AtomicUsize);

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An executor's slot: the task it currently polls.
struct Slot(Mutex<Option<Arc<Task>>>);

/// The one slot (static, so that nothing leaks; only one test uses it).
static SLOT: Slot = Slot(Mutex::new(None));

impl Slot {
    /// The task in the slot.
    fn current(&self) -> Arc<Task> {
        self.0.lock().unwrap().clone().expect("a task in the slot")
    }
}

/// The waker lent for one poll: the slot's address; cloning it gives an owned
/// waker of the slot's current task (a different data pointer).
fn lent_waker(slot: &'static Slot) -> Waker {
    // SAFETY: the data pointer is a `&'static Slot`, and `LENT`'s functions treat
    // it as one; `drop` owns nothing.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::from_ref(slot).cast(), &LENT)) }
}

static LENT: RawWakerVTable = RawWakerVTable::new(lent_clone, lent_wake, lent_wake, lent_drop);

/// Clones into an owned waker of the slot's current task.
unsafe fn lent_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is the `&'static Slot` of `lent_waker`.
    let slot = unsafe { &*data.cast::<Slot>() };
    let owned = ManuallyDrop::new(Waker::from(slot.current()));
    // Ownership of the `Arc` moves into the returned raw waker.
    RawWaker::new(owned.data(), owned.vtable())
}

/// Wakes the slot's current task.
unsafe fn lent_wake(data: *const ()) {
    // SAFETY: `data` is the `&'static Slot` of `lent_waker`.
    let slot = unsafe { &*data.cast::<Slot>() };
    slot.current().wake();
}

/// Nothing to release: the slot is static.
unsafe fn lent_drop(_: *const ()) {}

#[test]
fn a_task_polling_through_a_reused_lent_waker_is_the_one_woken() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let tasks: Vec<Arc<Task>> = (0..3).map(|_| Arc::default()).collect();
    let mut s = sleep(ms(1));
    // The sleep moves from task to task, each polling it through the same slot.
    for task in &tasks {
        *SLOT.0.lock().unwrap() = Some(task.clone());
        assert!(poll(&mut s, &lent_waker(&SLOT)).is_pending());
    }
    *SLOT.0.lock().unwrap() = None;
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    let wakes: Vec<usize> = tasks.iter().map(|t| t.0.load(Ordering::SeqCst)).collect();
    assert_eq!(wakes, [0, 0, 1], "only the last task to poll waits on the sleep");
}

/// The driver that `reentrant_clone` calls into.
static REENTERED: Mutex<Option<Arc<TimeDriver>>> = Mutex::new(None);

static REENTRANT: RawWakerVTable =
    RawWakerVTable::new(reentrant_clone, reentrant_noop, reentrant_noop, reentrant_noop);

/// Clones by asking the timer driver how many timers it holds (which takes every
/// shard's lock), then returns the same static waker.
unsafe fn reentrant_clone(_: *const ()) -> RawWaker {
    let driver = REENTERED.lock().unwrap().clone();
    if let Some(driver) = driver {
        let _ = driver.len();
    }
    RawWaker::new(std::ptr::null(), &REENTRANT)
}

/// Nothing to do: the waker is static.
unsafe fn reentrant_noop(_: *const ()) {}

#[test]
fn a_waker_whose_clone_uses_the_timer_driver_does_not_deadlock() {
    let (driver, _) = paused_driver(1);
    *REENTERED.lock().unwrap() = Some(driver.clone());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let d = driver.clone();
    std::thread::spawn(move || {
        let _guard = enter(d, 0);
        let (other, _) = counting_waker();
        // SAFETY: `REENTRANT`'s functions ignore the (null) data pointer.
        let reentrant = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &REENTRANT)) };
        let mut s = sleep(ms(1));
        assert!(poll(&mut s, &reentrant).is_pending(), "registers with a clone");
        assert!(poll(&mut s, &other).is_pending());
        assert!(poll(&mut s, &reentrant).is_pending(), "swaps a clone in");
        done_tx.send(()).unwrap();
    });
    let finished = done_rx.recv_timeout(Duration::from_secs(30));
    *REENTERED.lock().unwrap() = None;
    assert!(finished.is_ok(), "a waker clone ran under a shard lock and deadlocked");
}

/// The driver that `shutting_clone` shuts down (once).
static SHUTS_DOWN: Mutex<Option<Arc<TimeDriver>>> = Mutex::new(None);

static SHUTTING: RawWakerVTable =
    RawWakerVTable::new(shutting_clone, reentrant_noop, reentrant_noop, reentrant_noop);

/// Clones by shutting the driver down first: a shutdown that lands inside a
/// poll, after its first check of the driver's flag.
unsafe fn shutting_clone(_: *const ()) -> RawWaker {
    if let Some(driver) = SHUTS_DOWN.lock().unwrap().take() {
        driver.shutdown();
    }
    RawWaker::new(std::ptr::null(), &SHUTTING)
}

#[test]
fn a_shutdown_inside_a_poll_panics_rather_than_completing_the_sleep() {
    // The shutdown flush takes the entry out of the wheel as `FIRED`, as a fire
    // does: the poll must tell the two apart and not end a 10 s sleep early.
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (first, _) = counting_waker();
    let mut s = sleep(Duration::from_secs(10));
    assert!(poll(&mut s, &first).is_pending());
    *SHUTS_DOWN.lock().unwrap() = Some(driver.clone());
    // SAFETY: `SHUTTING`'s functions ignore the (null) data pointer.
    let shutting = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &SHUTTING)) };
    let polled = catch_unwind(AssertUnwindSafe(|| poll(&mut s, &shutting)));
    assert!(driver.is_shutdown(), "the clone shut the driver down");
    let err = polled.expect_err("a 10 s sleep completed at shutdown");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("shut down"), "{msg}");
    assert!(!s.is_elapsed(), "a flushed sleep is not elapsed");
}
