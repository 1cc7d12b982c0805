//! Parking a worker: on a condvar, or inside its group's I/O driver.
//!
//! A worker that runs out of work parks in one of two ways:
//!
//! - **driver**: the first idle worker of a group waits inside the group's
//!   [`Driver`] (the reactor's poller, with the next timer deadline as timeout),
//!   so I/O and timers are served with no dedicated thread;
//! - **condvar**: every other idle worker sleeps on its own condvar.
//!
//! [`Unparker::unpark`] wakes the worker whichever way it sleeps. The state
//! machine (one `AtomicUsize`) makes a notification sent before the worker
//! actually sleeps stick, so no wake-up is lost:
//!
//! ```text
//! EMPTY --park--> PARKED_CONDVAR | PARKED_DRIVER --unpark--> NOTIFIED --park returns--> EMPTY
//! EMPTY --unpark--> NOTIFIED --next park returns at once--> EMPTY
//! ```
//!
//! # Watching before sleeping
//!
//! A condvar sleep and its futex wake-up cost the two threads a context switch
//! each, and on a VM that is the dominant cost of a busy runtime: ~25 µs of CPU
//! per sleep on the 2-vCPU VM the benches run on (a plain `nanosleep` loop
//! costs the same; `perf` puts 86% of it in `finish_task_switch`). In a
//! request/response workload the next task arrives a few µs after a worker
//! runs dry, so a worker whose last sleep was short first watches its state
//! for up to [`PARK_SPIN`] (an unpark then is one atomic swap, no syscall).
//! One whose last sleep was long (an idle or sparse runtime) sleeps at once,
//! so idle stays idle. Measured on the VM (32 connections of TCP echo, 2
//! workers, 5 rounds each): 320 ms → 252 ms per round, and less process CPU
//! (2.67 s → 2.50 s), because the sleeps it saves cost more than the spins.
//!
//! The driver's holder watches the same way before it sleeps in the poller,
//! for a notification or for I/O events ([`DriverTurn::watch`]: one `poll(2)`
//! of the poller's descriptor per look). While nobody sleeps in the poller, a
//! thread that makes a socket ready wakes nobody, so an event that comes
//! during the watch costs the sender no wake-up either. That is what a
//! one-way stream pays most for: its writer's `send` woke the reader's worker
//! for each chunk. Measured on a 2-vCPU VM (1 GiB one way, `net_tcp_echo
//! bulk`, 25 rounds twice): 476 ms → 419 ms per GiB (median), against
//! tokio's 437–537 ms in the same runs; echo and connect did not move.
//!
//! [`DriverTurn::watch`]: super::driver::DriverTurn::watch
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{Driver, Turned};
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Condvar, Mutex};
use crate::time::AutoAdvance;

/// How long a worker whose last condvar sleep was short watches for a
/// notification before it sleeps (see the module docs).
const PARK_SPIN: Duration = Duration::from_micros(20);

/// Whether a watch that ends at `until` is over after `looks` looks at the state.
#[cfg(not(all(test, hioload_loom)))]
fn watch_over(until: Instant, _looks: u32) -> bool {
    Instant::now() >= until
}

/// Under loom a watch is two looks at the state, not a time: a model must be
/// deterministic.
#[cfg(all(test, hioload_loom))]
fn watch_over(_until: Instant, looks: u32) -> bool {
    looks >= 2
}

/// Pause instructions between two looks while watching (here and in
/// `DriverTurn::watch`).
pub(super) const WATCH_PAUSES: usize = 16;

/// A condvar sleep that ended within this counts as short: the next park
/// watches first.
const SHORT_SLEEP: Duration = Duration::from_micros(50);

/// Not parked, no pending notification.
const EMPTY: usize = 0;
/// Sleeping on the condvar.
const PARKED_CONDVAR: usize = 1;
/// Sleeping inside the driver.
const PARKED_DRIVER: usize = 2;
/// A notification is pending; the next park returns at once.
const NOTIFIED: usize = 3;

/// State shared by a worker's [`Parker`] and its [`Unparker`]s.
#[derive(Debug)]
struct Inner {
    /// One of `EMPTY`, `PARKED_CONDVAR`, `PARKED_DRIVER`, `NOTIFIED`.
    state: AtomicUsize,
    /// Guards the condvar sleep against a lost notify.
    mutex: Mutex<()>,
    /// Where a condvar-parked worker sleeps.
    condvar: Condvar,
    /// The worker's group driver (woken with `Driver::unpark`).
    driver: Arc<Driver>,
}

/// The sleeping side, owned by one worker.
#[derive(Debug)]
pub(crate) struct Parker {
    /// Shared with the unparkers.
    inner: Arc<Inner>,
    /// Whether the next untimed park watches before sleeping (condvar or
    /// driver): its last sleep, or its last watch, ended soon.
    watch: Cell<bool>,
}

/// The waking side; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Unparker {
    /// Shared with the parker.
    inner: Arc<Inner>,
}

impl Parker {
    /// Creates a parker for a worker of the group driven by `driver`.
    pub(crate) fn new(driver: Arc<Driver>) -> Parker {
        let inner = Inner {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
            driver,
        };
        Parker { inner: Arc::new(inner), watch: Cell::new(true) }
    }

    /// Returns the waking side.
    pub(crate) fn unparker(&self) -> Unparker {
        Unparker { inner: self.inner.clone() }
    }

    /// Sleeps until unparked, or until `timeout` passes; returns at once if a
    /// notification is pending. Waits in the driver when no other thread holds
    /// it; `advance_to` is asked for the paused-time auto-advance target only then,
    /// once the driver is held (see `park_driver`).
    ///
    /// Returns what a driver turn left to finish on a paused clock (see
    /// `DriverTurn::wait`); nothing after a condvar park.
    pub(crate) fn park(
        &self,
        timeout: Option<Duration>,
        advance_to: impl FnOnce() -> Option<AutoAdvance>,
    ) -> Turned {
        if self.take_notification() {
            return Turned::default();
        }
        match self.park_driver(timeout, advance_to) {
            Some(turned) => turned,
            None => {
                self.park_condvar(timeout);
                Turned::default()
            }
        }
    }

    /// Consumes a pending notification, if any.
    fn take_notification(&self) -> bool {
        self.inner.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok()
    }

    /// Waits inside the driver; `None` if another thread holds it, else what
    /// the turn left to finish. An untimed park whose last sleep was short
    /// first watches for a notification or I/O events (module docs).
    ///
    /// The auto-advance target is computed here, with the driver held, not
    /// before: a nudge ("the runtime may be idle now") goes to whoever waits in
    /// the driver, so a target computed before taking it could be older than a
    /// nudge the previous holder consumed, and the new holder would then wait
    /// with a stale "not idle" for good (seen: 1-3% of `tests/time_paused.rs`
    /// runs hung that way).
    fn park_driver(
        &self,
        timeout: Option<Duration>,
        advance_to: impl FnOnce() -> Option<AutoAdvance>,
    ) -> Option<Turned> {
        let inner = &*self.inner;
        let turn = inner.driver.try_lock()?;
        let watch = timeout.is_none() && self.watch.get();
        if watch
            && turn.watch(PARK_SPIN, || inner.state.load(SeqCst) == NOTIFIED)
            && self.take_notification()
        {
            return Some(Turned::default());
        }
        if inner.state.compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst).is_err() {
            // Notified in between: consume it and return without waiting.
            inner.state.store(EMPTY, SeqCst);
            return Some(Turned::default());
        }
        let advance_to = advance_to();
        let slept = Instant::now();
        let woke = Cell::new(None);
        // Leave PARKED_DRIVER as soon as the wait is over: the batch's wake-ups
        // are scheduled on this worker and may unpark it, and an unpark of a
        // PARKED_DRIVER worker notifies the poller, whose notification is sticky:
        // the next park's wait would return at once for nothing.
        let turned = turn.wait(timeout, advance_to, || {
            inner.state.store(EMPTY, SeqCst);
            woke.set(Some(Instant::now()));
        });
        if timeout.is_none() {
            let slept = woke.get().map_or(Duration::ZERO, |woke| woke - slept);
            self.watch.set(slept < SHORT_SLEEP);
        }
        // Consume a notification that raced with the wake-up or came from this
        // turn's own wake-ups (the worker re-checks its queues after parking).
        inner.state.store(EMPTY, SeqCst);
        Some(turned)
    }

    /// Sleeps on the condvar; an untimed park whose last sleep was short
    /// first watches for a notification (module docs).
    fn park_condvar(&self, timeout: Option<Duration>) {
        if timeout.is_none() && self.watch.get() && self.watch_for_notification() {
            return;
        }
        let slept = Instant::now();
        self.sleep_condvar(timeout);
        self.watch.set(slept.elapsed() < SHORT_SLEEP);
    }

    /// Watches the state for up to [`PARK_SPIN`]; true if a notification
    /// came (consumed).
    fn watch_for_notification(&self) -> bool {
        let until = Instant::now() + PARK_SPIN;
        let mut looks = 0;
        loop {
            for _ in 0..WATCH_PAUSES {
                std::hint::spin_loop();
            }
            if self.inner.state.load(SeqCst) == NOTIFIED && self.take_notification() {
                return true;
            }
            looks += 1;
            if watch_over(until, looks) {
                return false;
            }
        }
    }

    /// Sleeps on the condvar until notified or `timeout` passes.
    fn sleep_condvar(&self, timeout: Option<Duration>) {
        let inner = &*self.inner;
        let mut guard = inner.mutex.lock().unwrap_or_else(|p| p.into_inner());
        if inner.state.compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst).is_err() {
            inner.state.store(EMPTY, SeqCst);
            return;
        }
        match timeout {
            None => loop {
                guard = inner.condvar.wait(guard).unwrap_or_else(|p| p.into_inner());
                if self.take_notification() {
                    return;
                }
            },
            Some(timeout) => {
                let _ = inner.condvar.wait_timeout(guard, timeout);
                inner.state.store(EMPTY, SeqCst);
            }
        }
    }
}

impl Unparker {
    /// Wakes the worker, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        let prev = inner.state.swap(NOTIFIED, SeqCst);
        match prev {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's check of
                // the state, so the condvar wait cannot miss it.
                drop(inner.mutex.lock().unwrap_or_else(|p| p.into_inner()));
                inner.condvar.notify_one();
            }
            PARKED_DRIVER => inner.driver.unpark(),
            state => unreachable!("invalid park state {state}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Instant;

    fn driver() -> Arc<Driver> {
        Arc::new(Driver::new(16, crate::time::Clock::real(), 1).unwrap())
    }

    fn parker() -> Parker {
        Parker::new(driver())
    }

    #[test]
    fn unpark_before_park_is_not_lost() {
        let parker = parker();
        parker.unparker().unpark();
        let start = Instant::now();
        parker.park(None, || None);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn park_timeout_returns() {
        let parker = parker();
        let start = Instant::now();
        parker.park(Some(Duration::from_millis(20)), || None);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn unpark_from_another_thread_wakes_both_kinds_of_sleeper() {
        let driver = driver();
        for _ in 0..200 {
            let a = Parker::new(driver.clone());
            let b = Parker::new(driver.clone());
            let (ua, ub) = (a.unparker(), b.unparker());
            let t = std::thread::spawn(move || {
                ua.unpark();
                ub.unpark();
            });
            let t2 = std::thread::spawn(move || b.park(None, || None));
            a.park(None, || None);
            t2.join().unwrap();
            t.join().unwrap();
        }
    }

    /// A parker whose group driver is held elsewhere, so it parks on its condvar.
    fn condvar_parker() -> (Parker, Arc<Driver>) {
        let driver = driver();
        (Parker::new(driver.clone()), driver)
    }

    #[test]
    fn a_notification_during_the_watch_ends_the_park_and_keeps_watching_on() {
        let (parker, driver) = condvar_parker();
        let _held = driver.try_lock().unwrap();
        for _ in 0..100 {
            assert!(parker.watch.get());
            let unparker = parker.unparker();
            let t = std::thread::spawn(move || unparker.unpark());
            parker.park(None, || None);
            t.join().unwrap();
            assert_eq!(parker.inner.state.load(SeqCst), EMPTY);
            // Under load the unpark may come after the watch: the sleep it
            // ends is then short or long depending on the scheduler; start over.
            parker.watch.set(true);
        }
    }

    /// Parks `parker` (untimed); another thread unparks it 20 ms after it
    /// reached `sleeping` (`PARKED_CONDVAR` or `PARKED_DRIVER`).
    fn park_unparked_20_ms_into_the_sleep(parker: &Parker, sleeping: usize) {
        let unparker = parker.unparker();
        let inner = parker.inner.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            while inner.state.load(SeqCst) != sleeping {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            unparker.unpark();
        });
        parker.park(None, || None);
        assert!(start.elapsed() >= Duration::from_millis(20));
        t.join().unwrap();
    }

    #[test]
    fn a_long_sleep_turns_the_watch_off() {
        let (parker, driver) = condvar_parker();
        let _held = driver.try_lock().unwrap();
        // Watching sees nothing: the park falls back to sleeping, and the
        // unpark comes 20 ms into that sleep, which turns the watch off.
        park_unparked_20_ms_into_the_sleep(&parker, PARKED_CONDVAR);
        assert!(!parker.watch.get(), "a 20 ms sleep left the watch on");
        // Not watching, a pending notification still ends the next park at once,
        // without a sleep to measure: the watch stays off.
        parker.unparker().unpark();
        parker.park(None, || None);
        assert!(!parker.watch.get());
    }

    #[test]
    fn a_notification_during_the_driver_watch_ends_the_park_and_leaves_the_poller_quiet() {
        // The driver is free: each park watches in it first. Wherever the
        // unpark lands (before, during or after the watch), the park ends,
        // the state is settled and no notification is left in the poller
        // for the next wait to trip over.
        let parker = parker();
        for _ in 0..100 {
            parker.watch.set(true);
            let unparker = parker.unparker();
            let t = std::thread::spawn(move || unparker.unpark());
            parker.park(None, || None);
            t.join().unwrap();
            assert_eq!(parker.inner.state.load(SeqCst), EMPTY);
            #[cfg(unix)]
            assert!(!parker.inner.driver.reactor().has_uncollected_events());
        }
    }

    #[test]
    fn a_long_driver_wait_turns_the_watch_off() {
        let parker = parker();
        assert!(parker.watch.get());
        park_unparked_20_ms_into_the_sleep(&parker, PARKED_DRIVER);
        assert!(!parker.watch.get(), "a 20 ms wait in the driver left the watch on");
    }

    #[test]
    fn a_wake_up_the_turn_sends_to_its_own_worker_leaves_the_next_park_a_real_wait() {
        // A timer fired in the parked worker's own turn wakes a task whose
        // scheduling unparks that same worker. The unpark must not go to the
        // poller (its notification would be sticky, and the next park would
        // return at once: a busy loop for a worker whose timers keep waking it).
        let parker = parker();
        let unparker = parker.unparker();
        let time = parker.inner.driver.time().clone();
        let _in_time = crate::time::enter(time, 0);
        let mut sleep = Box::pin(crate::time::sleep(Duration::from_millis(2)));
        let waker = waker_fn::waker_fn(move || unparker.unpark());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        parker.park(None, || None); // returns once the timer fired and woke us
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
        let start = Instant::now();
        parker.park(Some(Duration::from_millis(50)), || None);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(45), "the second park returned after {waited:?}");
    }
}

/// loom models of the condvar path (`.ci/loom`). The driver path waits in a real
/// poller, which loom cannot schedule around: each model holds the group's driver
/// for its whole run, so every `park` falls through to the condvar, as a worker's
/// does while another worker of its group holds the driver.
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Runs `body` under `loom::model` with a parker whose driver is held.
    /// The driver is made inside the model (its timers use loom atomics), on a
    /// model thread with room for it (the model's own stack is small).
    fn model(body: impl Fn(Parker) + Send + Sync + 'static) {
        let body = Arc::new(body);
        loom::model(move || {
            let body = body.clone();
            let main = thread::Builder::new().stack_size(1 << 20).spawn(move || {
                let driver = Arc::new(Driver::new(16, crate::time::Clock::real(), 1).unwrap());
                let _held = driver.try_lock().expect("a fresh driver is free");
                body(Parker::new(driver.clone()));
            });
            main.expect("spawn the model's main thread").join().unwrap();
        });
    }

    /// Never parked: a parker between parks holds no `PARKED_*` state.
    fn assert_settled(parker: &Parker) {
        let state = parker.inner.state.load(SeqCst);
        assert!(state == EMPTY || state == NOTIFIED, "left in state {state}");
    }

    /// One unpark racing one untimed park that watches first or not. A lost
    /// notify leaves the parker in `condvar.wait` for ever: loom reports the
    /// deadlock.
    fn unpark_races_park(watch: bool) {
        model(move |parker| {
            parker.watch.set(watch);
            let unparker = parker.unparker();
            let t = thread::spawn(move || unparker.unpark());
            parker.park(None, || None);
            t.join().unwrap();
            assert_settled(&parker);
        });
    }

    #[test]
    fn unpark_racing_park_is_never_lost() {
        // A fresh parker watches first: the notification lands before the
        // watch, during it, between it and the condvar check (which then
        // refuses to sleep), or during the sleep.
        unpark_races_park(true);
    }

    #[test]
    fn unpark_racing_a_park_that_does_not_watch_is_never_lost() {
        // Like a worker after a long sleep: straight to the condvar.
        unpark_races_park(false);
    }

    #[test]
    fn two_unparkers_wake_one_timed_park() {
        // loom's `wait_timeout` never times out, so this checks that the timed
        // path, too, is woken, and that coalesced notifications leave no
        // `PARKED_*` state behind.
        model(|parker| {
            let (a, b) = (parker.unparker(), parker.unparker());
            let ta = thread::spawn(move || a.unpark());
            let tb = thread::spawn(move || b.unpark());
            parker.park(Some(Duration::from_secs(60)), || None);
            ta.join().unwrap();
            tb.join().unwrap();
            assert_settled(&parker);
        });
    }
}
