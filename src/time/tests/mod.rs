//! Unit tests of the time driver and the public timer types, with manual wakers; the
//! wheel has its own (`wheel/tests.rs`).
#![deny(unsafe_code)]

mod api;
mod driver;
mod park;
mod poller;
mod waker_identity;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::context::enter;
use super::driver::ParkTimeout;
use super::{
    interval, interval_at, sleep, sleep_until, timeout, Clock, Instant, MissedTickBehavior, Sleep,
    TimeDriver,
};

/// A paused-clock driver with `shards` shards, and a counter of its `unpark` calls.
fn paused_driver(shards: usize) -> (Arc<TimeDriver>, Arc<AtomicUsize>) {
    let unparks = Arc::new(AtomicUsize::new(0));
    let counter = unparks.clone();
    let unpark = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (TimeDriver::new(Clock::paused(), shards, unpark), unparks)
}

/// A waker counting its wake-ups.
fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    (
        waker_fn::waker_fn(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
        wakes,
    )
}

/// Polls `fut` once with `waker`.
fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
