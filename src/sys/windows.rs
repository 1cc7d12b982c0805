//! Windows backend of the platform contract (see `sys/mod.rs`).
#![forbid(unsafe_code)]

use std::io;

/// Windows has no per-thread timer slack.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn set_timer_slack(ns: u64) -> io::Result<()> {
    let _ = ns;
    Err(io::Error::new(io::ErrorKind::Unsupported, "timer slack is not available on Windows"))
}

// ---------------------------------------------------------------------------
// Topology: CPU affinity (used by `topology/`).
// ---------------------------------------------------------------------------

/// `core_affinity::set_for_current` pins with `SetThreadAffinityMask`.
pub(crate) const PIN_SUPPORTED: bool = true;

/// The highest CPU id plus one that `core_affinity::set_for_current` can pin to:
/// it builds a 64-bit thread affinity mask (one processor group).
pub(crate) const PIN_CPU_LIMIT: Option<usize> = Some(64);

/// Reading the process affinity is done through `core_affinity` on Windows.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn process_affinity() -> io::Result<Vec<usize>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "process CPU affinity is read on Linux only"))
}

/// Windows has no call to read a thread's affinity mask without changing it.
///
/// # Errors
///
/// Always `ErrorKind::Unsupported`.
#[allow(dead_code)]
pub(crate) fn thread_affinity() -> io::Result<Vec<usize>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "thread CPU affinity is read on Linux only"))
}
