//! Timers: `sleep`, `timeout`, `interval`, a resettable `Sleep`, and the runtime's
//! clock (real or paused); the names and semantics of `tokio::time`.
//!
//! ```
//! use hioload::time::{sleep, timeout, Instant};
//! use std::time::Duration;
//!
//! hioload::block_on(async {
//!     let start = Instant::now();
//!     sleep(Duration::from_micros(500)).await;
//!     assert!(start.elapsed() >= Duration::from_micros(500));
//!     assert!(timeout(Duration::from_millis(1), std::future::pending::<()>()).await.is_err());
//! });
//! ```
//!
//! # What lives here
//!
//! - `clock.rs`: `Clock` (crate-internal), real or paused; the only caller of
//!   `std::time::Instant::now()` in the crate.
//! - `wheel/`: a hierarchical timing wheel with 16.384 µs ticks, O(1) insert/cancel,
//!   which never reads the clock (`poll(now)`).
//! - `shard.rs`, `driver.rs`: the `TimeDriver`, one per runtime, with one wheel per
//!   shard (one shard per worker), each behind its own small lock (tokio#6504: one
//!   global timer mutex is a contention point).
//! - `entry.rs`: one timer's shared state; `filed.rs`: the wheel's pointer to it
//!   (the time layer's one unsafe module); `context.rs`: the thread-local current
//!   driver; `sleep.rs`, `timeout.rs`, `interval.rs`, `instant.rs`, `error.rs`: the
//!   public API.
//!
//! # Invariants
//!
//! - A timer never fires early: it fires at the first sweep whose clock reading is at
//!   or after its deadline (exact nanosecond comparison, not tick-rounded).
//! - Wakers are collected under a shard lock and woken after releasing it; no user code
//!   runs under a shard lock.
//! - Who may touch a timer entry under which lock: see `entry.rs` (in short: the
//!   owner inserts, removes and moves earlier under its shard's lock; it moves the
//!   deadline later with one CAS and no lock; the shard fires under its lock).
//!
//! # The interface the executor uses (crate-internal)
//!
//! ```text
//! time::TimeDriver::with_slack(clock: Clock, shards: usize, slack: Duration,
//!                             unpark: Arc<dyn Fn() + Send + Sync>) -> Arc<TimeDriver>
//! TimeDriver::clock(&self) -> &Clock
//! TimeDriver::process(&self)                 // fire due timers of all shards; idle shards skipped lock-free
//! TimeDriver::process_shard(&self, i: usize) // fire due timers of shard i % shards only
//! TimeDriver::next_deadline(&self) -> Option<std::time::Instant>  // lock-free lower bound
//! TimeDriver::prepare_park(&self) -> Option<std::time::Instant>   // wake-up time, recorded
//! TimeDriver::park_timeout(&self, deadline: Option<Instant>, idle_since: Option<u64>) -> ParkTimeout
//!     // ParkTimeout::Wait(Option<Duration>) | ParkTimeout::Advanced (paused auto-advance done)
//! TimeDriver::finish_park(&self)
//! TimeDriver::shutdown(&self)                // idempotent; wakes every timer
//! TimeDriver::is_shutdown(&self) -> bool
//! time::enter(driver: Arc<TimeDriver>, shard: usize) -> EnterGuard   // (= time::context::enter)
//! time::Clock::real() / Clock::paused() / Clock::new(start_paused: bool)   // Clone: shares the time
//! Clock::now(&self) -> std::time::Instant
//! Clock::pause / resume / advance(Duration) / advance_to(std::time::Instant) -> bool
//! Clock::note_activity(&self) / activity(&self) -> u64 / advance_to_if_idle(Instant, u64) -> bool
//! Clock::is_paused(&self) -> bool
//! time::TIMER_SLACK_NS: u64 = 1_000
//! time::set_worker_timer_slack() -> io::Result<()>   // sys::set_timer_slack(TIMER_SLACK_NS)
//! ```
//!
//! # Protocol: wiring a runtime
//!
//! 1. Build one `Clock` (`Clock::new(start_paused)`) and one `TimeDriver` per runtime
//!    with one shard per worker; `unpark` is the reactor's `Poller::notify`.
//! 2. Each worker thread, at start: `set_worker_timer_slack()` (ignore
//!    `Unsupported`), then holds `time::enter(driver.clone(), worker_index)` for its
//!    life. `block_on` holds `time::enter(driver.clone(), any_index)` while it runs
//!    (the shard index is taken modulo the shard count; nesting restores the outer one).
//! 3. At shutdown: `driver.shutdown()` (a `Sleep` keeps its driver alive through an
//!    `Arc`, so dropping the runtime's handle alone would not stop its timers).
//!
//! # Protocol: a worker parking in the poller
//!
//! Exactly one worker at a time sleeps in the poller with a timeout; the others park
//! without one (the executor wakes them).
//!
//! 1. `let deadline = driver.prepare_park();` records "a worker sleeps until
//!    `deadline`" and returns when to wake (`None`: no timers): the earliest
//!    deadline `d`, or `d + slack` when another timer is due by then (see
//!    Precision).
//!    Re-check the run queues after it: a task that became runnable meanwhile means
//!    `finish_park()` and no sleep.
//! 2. `match driver.park_timeout(deadline, idle)`: `Wait(t)` → wait in the poller
//!    with timeout `t` (on a running clock, `deadline - clock.now()`; on a paused one,
//!    `None`); `Advanced` → paused time was auto-advanced to `deadline` (see below):
//!    poll the poller with a zero timeout instead. A registration (or earlier reset)
//!    that needs an earlier wake-up calls `unpark` (the executor's `Poller::notify`),
//!    so the poller's timeout is re-armed only when the wake-up moves earlier;
//!    `driver.rs` explains why no registration is missed.
//! 3. `driver.finish_park();` then `driver.process();` fires what is due.
//!
//! Other workers call `process()` (or `process_shard(own index)`) between task
//! batches or before parking, so timers fire even while the poller-sleeper is busy;
//! `process` costs one atomic load per shard when nothing is due.
//!
//! # Protocol: paused time and auto-advance
//!
//! `Builder::start_paused(true)` builds the driver on `Clock::paused()`;
//! `hioload::testing::{pause, resume, advance}` act on the current runtime's clock.
//! While the clock is paused, time moves only when told to. `park_timeout` does the
//! auto-advance when the executor passes `idle_since = Some(epoch)`, which it must
//! only do when every worker is idle, no blocking job runs and no `block_on`
//! future is runnable, `epoch` being `clock.activity()` read before those checks.
//! Every thread of the runtime calls `clock.note_activity()` when it becomes busy
//! (a worker leaving its park, a `block_on` future woken), before it can read the
//! clock, and `clock.advance_to_if_idle` jumps only if the epoch has not moved,
//! checking under the lock that every reader of paused time takes: a worker woken
//! between the checks and the jump (by a spawn from outside) may be about to
//! register a timer due before the target. A thread that counts as parked but
//! sweeps timers (a worker waiting in a driver, a caretaker) brackets its sweep
//! with `clock.begin_firing()` / `end_firing()`: the tasks it wakes are in no
//! queue the idle checks see until it has queued them, and with several worker
//! groups another group's driver would otherwise jump past them. A refused jump
//! is retried when the drivers are woken: by the sweep's end (`end_firing` says
//! so), a worker parking, a `block_on` poll returning; and a driver whose jump
//! moved time wakes the others (their timers may be due). The jump never moves time backwards,
//! so a racing `testing::advance` is harmless. With `None` the worker waits for a
//! nudge: whoever advances time (`testing::advance`) fires the due timers itself,
//! and a task that becomes runnable notifies the poller as usual; a worker going
//! idle nudges the driver holder, which then looks again. The worker computes
//! the target once it holds the driver, not before (`executor/park.rs` says why:
//! a target computed earlier can be older than the last nudge). Threads outside
//! the runtime that read its paused clock (a `Sleep` polled by another executor,
//! `Handle::spawn_after` from a plain thread) are not counted.
//!
//! `next_deadline()` is a lower bound: after an advance to it, `process()` may fire
//! nothing (the timer sat in a crowded coarse wheel slot and was only cascaded down,
//! or its owner pushed it later); the loop then advances again, to the now exact
//! deadline. Virtual time never jumps past a timer.
//!
//! # Precision
//!
//! `polling` arms a `timerfd` for the poller's timeout on Linux (nanosecond
//! resolution, instead of `epoll_wait`'s milliseconds), so the worker wakes within
//! the kernel's timer slack of the deadline; the default slack (50 µs) is lowered to
//! `TIMER_SLACK_NS` = 1 µs (reasoning in `driver.rs`) by each worker at start
//! (`set_worker_timer_slack`, i.e. `sys::set_timer_slack`). smol-rs/polling's
//! `tests/precision.rs` checks that a 100 µs wait lands within 500 µs; the wheel adds
//! no rounding on top (see `wheel/mod.rs` for the choice of tick). Tokio's timer
//! rounds every deadline up to the next millisecond.
//!
//! Instead of the kernel's slack, the runtime has its own, `Builder::timer_slack`
//! (default 32 µs), which it can apply knowing the pending timers: the parked
//! worker wakes at the earliest deadline `d` if it is alone, and at `d + slack` if
//! another timer (of any shard) is due by then, firing all of them in one wake-up.
//! No timer is more than the slack late; a lone one is on time. Each shard keeps
//! its wake-up time next to its earliest deadline (`Shard::next_wake`, updated in
//! O(1) per insert, recomputed from the wheel after each sweep). Under 1M timer
//! fires per second a wake-up per distinct deadline would cost more CPU than the
//! timers themselves (measured: each sleep in the poller costs ~35 µs of CPU on the
//! 2-vCPU dev VM). (A fixed 32.8 µs wake-up grid was tried before and dropped: it
//! delayed lone timers too.) Measured by `tests/poller.rs`
//! (a real `Poller` park loop, debug build, shared 2-core VM): 200 sleeps of
//! 0.1–1 ms woke 34 µs late at best, 49 µs at the median, never early.

mod clock;
pub(crate) mod context;
mod driver;
mod entry;
pub mod error;
mod filed;
mod instant;
mod interval;
mod shard;
mod sleep;
mod timeout;
mod wake_list;
mod wheel;

pub(crate) use clock::{AdvanceRefused, Clock};
pub(crate) use context::{enter, EnterGuard};
pub(crate) use driver::{set_worker_timer_slack, AutoAdvance, ParkTimeout, TimeDriver};
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
/// Re-exported so that `use tokio::time::Duration` ports as `use hioload::time::Duration`.
pub use std::time::Duration;
pub use timeout::{timeout, timeout_at, Timeout};
#[cfg(test)]
mod tests;
