//! A worker group's driver: its reactor and timers, turned by one idle worker.
//!
//! At most one worker of a group holds the driver at a time ([`Driver::try_lock`]);
//! it waits in the reactor's poller with the next timer deadline as timeout,
//! dispatches the batch of events, fires due timers, and releases the driver.
//! Busy workers take it with a zero timeout every few ticks so I/O is served
//! under CPU load. [`Driver::unpark`] wakes the holder (`Poller::notify`).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The per-group I/O and timer driver.
#[derive(Debug)]
pub(crate) struct Driver {
    /// Set while a worker holds the driver.
    held: AtomicBool,
}

/// Proof of holding the driver; releases it when dropped.
#[derive(Debug)]
pub(crate) struct DriverTurn<'a> {
    /// The held driver.
    driver: &'a Driver,
}

impl Driver {
    /// A driver without I/O sources, for unit tests of the parking protocol.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Driver {
        Driver { held: AtomicBool::new(true) }
    }

    /// Creates the driver of one group.
    pub(crate) fn new() -> Driver {
        // No reactor yet: report the driver as always held so workers park on
        // their condvars.
        Driver { held: AtomicBool::new(true) }
    }

    /// Takes the driver unless another worker holds it.
    pub(crate) fn try_lock(&self) -> Option<DriverTurn<'_>> {
        if self.held.swap(true, Ordering::Acquire) {
            None
        } else {
            Some(DriverTurn { driver: self })
        }
    }

    /// Wakes the worker waiting in the driver, if any.
    pub(crate) fn unpark(&self) {}
}

impl DriverTurn<'_> {
    /// Waits for I/O events or the next timer, at most `timeout`; dispatches them.
    pub(crate) fn wait(&self, timeout: Option<Duration>) {
        let _ = timeout;
    }
}

impl Drop for DriverTurn<'_> {
    fn drop(&mut self) {
        self.driver.held.store(false, Ordering::Release);
    }
}
