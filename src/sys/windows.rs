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
