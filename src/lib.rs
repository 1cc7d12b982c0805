//! hioload: an async runtime for std futures, built as the concurrency and
//! scheduling core of high-load network services.
//!
//! The parts (see `DESIGN.md` in the steering repository for the map):
//!
//! - a work-stealing **executor** on `async-task` + `crossbeam-deque`, one
//!   worker per CPU slot, grouped by NUMA node;
//! - a **reactor** on `polling` (epoll on Linux, IOCP on Windows);
//! - a high-resolution **timer scheduler** (`hioload::time`);
//! - `block_on`, `spawn`, `spawn_blocking`, cancelable `JoinHandle`s.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![doc(test(attr(deny(warnings))))]

pub mod net;
mod reactor;
mod sys;
mod util;
