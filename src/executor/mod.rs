//! The work-stealing executor: workers, queues, parking, the blocking pool.
//!
//! Built on `async-task` (task cells) and `crossbeam-deque` (per-worker deques,
//! per-group injectors). Each worker owns a LIFO slot and a local FIFO deque;
//! each worker group owns an injector and a driver (reactor + timers). See
//! `worker.rs` for where a worker looks for work, `idle.rs` for who gets woken,
//! `shared.rs` for where a task goes when it is scheduled and how shutdown runs,
//! `spread.rs` for how spreading listeners deal connections to the groups' reactors,
//! `periodic.rs` for how often a busy worker turns the driver and checks its
//! injector, `resize.rs` and `caretaker.rs` for live resize.

mod block_on;
mod blocking;
mod caretaker;
mod config;
mod context;
mod driver;
mod idle;
mod metrics;
mod park;
mod periodic;
mod registry;
mod resize;
mod shared;
mod spread;
mod task_cell;
mod task_handle;
pub(crate) mod task_id;
mod timer_batch;
mod worker;

pub(crate) use block_on::{assert_not_in_runtime, block_on_driving, block_on_waiting};
pub(crate) use config::{Callback, Config, Flavor};
pub(crate) use context::{current_shared, with_current_shared, EnterGuard as ContextGuard};
pub(crate) use metrics::read as read_metric;
pub(crate) use shared::{GroupGuard, Shared};
pub(crate) use spread::spread_reactor;
pub(crate) use task_handle::{AbortRef, TaskHandle};
