//! A caretaker: the thread that turns a group's driver while the group has no worker.
//!
//! A group's reactor and timers are turned only by the group's own workers
//! (`driver.rs`). `Runtime::resize` can leave a group with none (two groups,
//! `resize(1)`), and then the sockets registered in that group's reactor and the
//! timers in its shards would never fire. So the group gets a caretaker: one
//! thread, named `hioload-care-g{N}`, that holds the driver and parks in it as an
//! idle worker would. It runs no tasks: a wake it produces is off the workers, so
//! the task goes to its group's injector and a sleeper is notified
//! (`Shared::schedule_remote`); other groups' workers take it from there (they
//! visit the injectors of groups in care periodically, `worker.rs`).
//!
//! # Invariants
//!
//! - A group has a caretaker iff it has had a running worker and has none now
//!   (a group that never had one has nothing registered in it: nothing but its
//!   workers registers there, and spreading listeners skip it).
//! - Caretakers are started and stopped only under `resize_lock`
//!   ([`Shared::tend_groups`], `Shared::shutdown`).
//! - A caretaker holds its group's driver from its first turn to its exit.
//!
//! # Protocol
//!
//! 1. Shrinking: `resize` joins the retired workers, then `tend_groups` starts a
//!    caretaker for each group left without one. The driver is free by then (its
//!    workers are gone); should a retiring worker still hold it (resize called
//!    from that very worker), the caretaker waits for it (1 ms sleeps, bounded by
//!    that worker's exit).
//! 2. The caretaker loops: a driver turn (wait in the poller until an event, a
//!    notify or the next timer deadline; on a paused clock with the runtime idle,
//!    auto-advance to the earliest deadline of any group), then fire due timers,
//!    until told to stop.
//! 3. Growing: `resize` starts the new workers, then `tend_groups` stops the
//!    caretaker of each group that has a worker again ([`Caretaker::stop`]: set the
//!    flag, `Driver::unpark`, join) and unparks the group's workers: one that
//!    parked on its condvar while the caretaker held the driver parks again,
//!    this time in the driver.
//! 4. Shutdown: after the workers are joined, `Shared::shutdown` stops every
//!    caretaker (step 3) before it drains the injectors and shuts the drivers
//!    down, so no caretaker turns a driver that is shut down.
//!
//! Without a resize below the number of groups there is no caretaker, and the
//! workers pay one relaxed load every `global_queue_interval` ticks.
#![forbid(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;
use std::time::Duration;

use super::driver::{Driver, DriverTurn};
use super::shared::{lock, Shared};
use crate::time::AutoAdvance;

/// How long a starting caretaker sleeps between tries while a retiring worker
/// still holds the driver (protocol step 1).
const HELD_RETRY: Duration = Duration::from_millis(1);

/// A running caretaker thread of one group; stop it with [`Caretaker::stop`].
#[derive(Debug)]
pub(crate) struct Caretaker {
    /// Set by `stop`; read by the thread after each driver turn.
    stop: Arc<AtomicBool>,
    /// The group's driver, to wake the thread from its wait.
    driver: Arc<Driver>,
    /// The thread.
    thread: ThreadHandle<()>,
}

impl Caretaker {
    /// Starts the caretaker of group `group`, turning `driver`; `advance_to` is
    /// asked before each wait for the paused-clock auto-advance target
    /// (`Shared::auto_advance_target`), and `nudge` wakes every group's driver
    /// after a turn that jumped paused time or ended a sweep during which an
    /// auto-advance was refused (`Shared::unpark_drivers`). Returns once the
    /// thread runs (so it shows under its name).
    ///
    /// # Errors
    ///
    /// The OS error if the thread cannot be started.
    pub(crate) fn start(
        group: usize,
        driver: Arc<Driver>,
        advance_to: impl Fn() -> Option<AutoAdvance> + Send + 'static,
        nudge: impl Fn() + Send + 'static,
    ) -> io::Result<Caretaker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, turned) = (stop.clone(), driver.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new().name(format!("hioload-care-g{group}")).spawn(
            move || {
                // It sleeps in the poller like a worker: same timer precision.
                let _ = crate::time::set_worker_timer_slack();
                let _ = ready_tx.send(());
                tend(&turned, &flag, advance_to, nudge);
            },
        )?;
        // An error means the thread died before it ran: nothing to wait for.
        let _ = ready_rx.recv();
        Ok(Caretaker { stop, driver, thread })
    }

    /// Stops the thread and waits for it to exit (unless called on it: a waker
    /// run there dropped the runtime; it then exits after the current turn).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.driver.unpark();
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}

/// The caretaker's body: protocol steps 1 and 2.
fn tend(
    driver: &Driver,
    stop: &AtomicBool,
    advance_to: impl Fn() -> Option<AutoAdvance>,
    nudge: impl Fn(),
) {
    let turn = loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match driver.try_lock() {
            Some(turn) => break turn,
            None => std::thread::sleep(HELD_RETRY),
        }
    };
    turn_until(&turn, stop, advance_to, nudge);
}

/// Turns the held driver until `stop` is set (`stop` then `Driver::unpark`
/// ends the current wait: a poller notify is sticky, so it cannot be missed).
fn turn_until(
    turn: &DriverTurn<'_>,
    stop: &AtomicBool,
    advance_to: impl Fn() -> Option<AutoAdvance>,
    nudge: impl Fn(),
) {
    while !stop.load(Ordering::SeqCst) {
        let turned = turn.wait(None, advance_to(), || {});
        // What the sweep woke went to the group's injector, where the idle
        // checks see it: the sweep is over.
        if turned.finish(turn.clock()) {
            nudge();
        }
    }
}

impl Shared {
    /// Starts a caretaker for each group that has had a worker and has none
    /// now, and stops the caretaker of each group that has one again (protocol
    /// steps 1 and 3). Called under `resize_lock`.
    ///
    /// # Errors
    ///
    /// The OS error if a caretaker thread cannot be started (the other groups
    /// are still tended).
    pub(crate) fn tend_groups(self: &Arc<Self>) -> io::Result<()> {
        let mut result = Ok(());
        for (g, group) in self.groups.iter().enumerate() {
            let mut caretaker = lock(&group.caretaker);
            let needs = self.group_had_workers(g) && !self.group_has_workers(g);
            match (needs, caretaker.is_some()) {
                (true, false) => {
                    let shared = Arc::downgrade(self);
                    let weak = shared.clone();
                    let advance_to = move || shared.upgrade().and_then(|s| s.auto_advance_target());
                    let nudge = move || weak.upgrade().map_or((), |s| s.unpark_drivers());
                    match Caretaker::start(g, group.driver.clone(), advance_to, nudge) {
                        Ok(started) => {
                            *caretaker = Some(started);
                            self.groups_in_care.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(err) => result = Err(err),
                    }
                }
                (false, true) => {
                    if let Some(caretaker) = caretaker.take() {
                        caretaker.stop();
                    }
                    self.groups_in_care.fetch_sub(1, Ordering::SeqCst);
                    self.unpark_group(g);
                }
                _ => {}
            }
        }
        result
    }

    /// Stops every caretaker (shutdown, protocol step 4).
    pub(crate) fn stop_caretakers(&self) {
        for group in self.groups.iter() {
            if let Some(caretaker) = lock(&group.caretaker).take() {
                caretaker.stop();
                self.groups_in_care.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Whether a worker of `group` has ever run (`used` only grows).
    fn group_had_workers(&self, group: usize) -> bool {
        self.group_has_slot_below(group, self.used.load(Ordering::Acquire))
    }

    /// Unparks the running workers of `group`, so one of them takes the driver.
    fn unpark_group(&self, group: usize) {
        let running = self.target_workers.load(Ordering::Acquire);
        for &slot in self.groups[group].slots.iter().take_while(|&&s| s < running) {
            self.slots[slot].unparker.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::mpsc;
    use std::task::Context;
    use std::time::Instant;

    use crate::time::Clock;

    fn driver(clock: Clock) -> Arc<Driver> {
        Arc::new(Driver::new(16, clock, 1).unwrap())
    }

    /// Registers a `sleep(after)` in `driver`'s timers; the receiver gets a
    /// message when the timer fires (the sleep is returned to keep it armed).
    fn armed_sleep(driver: &Driver, after: Duration) -> (crate::time::Sleep, mpsc::Receiver<()>) {
        let _time = crate::time::enter(driver.time().clone(), 0);
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let waker = waker_fn::waker_fn(move || {
            let _ = lock(&tx).send(());
        });
        let mut sleep = crate::time::sleep(after);
        let poll = pin!(&mut sleep).poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending());
        (sleep, rx)
    }

    #[test]
    fn fires_a_timer_of_its_driver() {
        let driver = driver(Clock::real());
        let caretaker = Caretaker::start(1, driver.clone(), || None, || {}).unwrap();
        let (_sleep, fired) = armed_sleep(&driver, Duration::from_millis(20));
        let start = Instant::now();
        fired.recv_timeout(Duration::from_secs(10)).expect("the caretaker fired the timer");
        assert!(start.elapsed() >= Duration::from_millis(19), "never early");
        caretaker.stop();
        assert!(driver.try_lock().is_some(), "the driver is free once stopped");
    }

    #[test]
    fn auto_advances_a_paused_clock() {
        let clock = Clock::paused();
        let driver = driver(clock.clone());
        let time = driver.time().clone();
        let advance = move || {
            let epoch = time.clock().activity();
            time.next_deadline().map(|target| AutoAdvance { target, epoch })
        };
        let caretaker = Caretaker::start(0, driver.clone(), advance, || {}).unwrap();
        let start = clock.now();
        let (_sleep, fired) = armed_sleep(&driver, Duration::from_secs(3600));
        fired.recv_timeout(Duration::from_secs(10)).expect("virtual hour passed at once");
        assert!(clock.now() >= start + Duration::from_secs(3600));
        caretaker.stop();
    }

    #[test]
    fn waits_for_a_held_driver_and_stops_promptly() {
        let driver = driver(Clock::real());
        let held = driver.try_lock().unwrap();
        let caretaker = Caretaker::start(0, driver.clone(), || None, || {}).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        drop(held);
        let (_sleep, fired) = armed_sleep(&driver, Duration::from_millis(1));
        fired.recv_timeout(Duration::from_secs(10)).expect("took the driver once free");
        let start = Instant::now();
        caretaker.stop(); // parked without a deadline: only the unpark ends the wait
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn stop_before_the_driver_is_free_does_not_hang() {
        let driver = driver(Clock::real());
        let _held = driver.try_lock().unwrap();
        Caretaker::start(0, driver.clone(), || None, || {}).unwrap().stop();
    }
}
