//! The sync primitives of the modules that have a loom model: std's in every
//! build, loom's in the lib's own tests under `--cfg hioload_loom` (`.ci/loom`).
//!
//! Only `executor/park.rs`, `executor/idle.rs`, `reactor/scheduled_io.rs`,
//! `time/entry.rs`, `time/shard.rs` and `time/driver.rs` import from here; each
//! protocol has a `loom_tests` module next to its code that runs the real code
//! under `loom::model` (the shard's lock and lower bound serve the driver's). Outside
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

/// Marks a point where the real code relies on the single total order of its
/// `SeqCst` accesses (a store on one thread, then a load of another location,
/// against the mirror image on another thread). std gives that order; loom
/// models a `SeqCst` load as `Acquire` (its README, "Limitations"), so under
/// loom this is a `SeqCst` fence, which loom does model. A no-op otherwise.
#[inline(always)]
pub(crate) fn seq_cst_order() {
    #[cfg(all(test, hioload_loom))]
    ::loom::sync::atomic::fence(::loom::sync::atomic::Ordering::SeqCst);
}
