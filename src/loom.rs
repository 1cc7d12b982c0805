//! The sync primitives of the modules that have a loom model: std's in every
//! build, loom's in the lib's own tests under `--cfg hioload_loom` (`.ci/loom`).
//!
//! Only `executor/park.rs`, `executor/idle.rs`, `reactor/scheduled_io.rs` and
//! `time/entry.rs` import from here; each has a `loom_tests` module next to its
//! code that runs the real protocol under `loom::model`. Outside
//! `cfg(all(test, hioload_loom))` this is a plain re-export of `std::sync`, so
//! normal builds are unchanged.
//!
//! Under `--cfg hioload_loom` the lib's other unit tests build but must not run:
//! loom primitives panic outside a model (`.ci/loom` runs only `loom_tests`).
#![forbid(unsafe_code)]

#[cfg(not(all(test, hioload_loom)))]
pub(crate) use std::sync::{atomic, Condvar, Mutex, MutexGuard};

#[cfg(all(test, hioload_loom))]
pub(crate) use ::loom::sync::{atomic, Condvar, Mutex, MutexGuard};
