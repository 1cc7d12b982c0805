//! The reactor: readiness of OS handles, on `polling` (epoll on Linux, IOCP on Windows).
//!
//! One [`Reactor`] per worker group (never a global). Handles are registered and
//! deregistered from any thread while it runs; a turn waits for one batch of events,
//! records readiness per registration and wakes the tasks waiting on it.
//!
//! # The interface the executor calls
//!
//! ```text
//! Reactor::new(event_capacity: usize) -> io::Result<Reactor>      // 0 is an error naming it
//! Reactor::for_group(event_capacity, group: usize) -> io::Result<Reactor> // group's reactor
//! Reactor::group(&self) -> usize          // the group given at creation (0 from `new`)
//! reactor::DEFAULT_EVENT_CAPACITY = 1024                          // the default batch size
//! Reactor::try_turn(&self, timeout: Option<Duration>) -> Option<io::Result<usize>>
//!     // None at once if another thread is turning; else waits up to `timeout`
//!     // (None = until an event or notify), dispatches the batch, wakes the tasks
//!     // (after releasing every lock) and returns Some(Ok(events in the batch)).
//!     // Busy workers call try_turn(Some(Duration::ZERO)) every N ticks.
//! Reactor::notify(&self) -> io::Result<()>   // wake the thread blocked in try_turn
//! Reactor::shutdown(&self)                   // every wait fails "runtime shut down";
//!                                            // later registrations fail too
//! reactor::enter(Arc<Reactor>) -> EnterGuard // set this thread's current reactor
//! reactor::current() -> Arc<Reactor>         // #[track_caller]; panics outside a runtime
//! reactor::try_current() -> Option<Arc<Reactor>>
//! ```
//!
//! `Reactor` is `Send + Sync`. Net types go through [`Registration`] (register, wait in
//! a direction, clear readiness after `WouldBlock`, deregister on drop).
//!
//! # What the executor must do
//!
//! 1. Create one reactor per worker group (`Reactor::for_group`) and `enter` it on each
//!    worker thread and in `block_on` (net types register with the current reactor when
//!    created; a spreading listener asks the executor for another group's instead).
//! 2. Whenever every worker of the group is idle, one of them must be parked *in*
//!    `try_turn(timeout)` (timeout = until the next timer), not on a condvar: otherwise
//!    I/O readiness is never collected. The others park elsewhere.
//! 3. When work arrives for the worker parked in the poller, call `notify()` (if no thread
//!    is in `try_turn`, the next turn returns at once instead).
//! 4. Busy workers call `try_turn(Some(Duration::ZERO))` every N ticks; a turn costs five
//!    syscalls with `polling` 3.11 (see `driver.rs`), so N should be tens (tokio: 61).
//! 5. At runtime shutdown call `shutdown()`; from then on `try_turn` returns
//!    `Some(Err(..))` at once, so stop turning.
//!
//! # Layout
//!
//! - `ready.rs`: readiness bits, directions, the packed readiness word + tick;
//! - `scheduled_io.rs`: one registration's readiness and waiters (the wait protocol);
//! - `registry.rs`: the slab of registrations, keys = index + generation, lazy release;
//! - `driver.rs`: `Reactor` (the turn protocol; edge vs oneshot);
//! - `registration.rs`: `Registration` and the `Readiness` future;
//! - `current.rs`: the thread-local current reactor.

mod current;
mod driver;
mod ready;
mod registration;
mod registry;
mod scheduled_io;
#[cfg(test)]
pub(crate) mod test_driver;
#[cfg(test)]
mod tests;

pub(crate) use current::current;
pub(crate) use current::{enter, EnterGuard};
pub(crate) use driver::{shutdown_error, Reactor, DEFAULT_EVENT_CAPACITY};
pub(crate) use ready::{Direction, Ready};
pub(crate) use registration::{Readiness, Registration};
