//! Per-worker counters, written by their worker with relaxed atomics.
//!
//! Each counter has exactly one writer (its worker), so it is bumped with a
//! relaxed load and store rather than a locked read-modify-write: readers may
//! see a slightly stale value, never a torn or lost one.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one worker slot.
#[derive(Debug, Default)]
pub(crate) struct WorkerMetrics {
    /// Tasks polled.
    pub(crate) polls: AtomicU64,
    /// Steal operations that took work from a worker of the same group.
    pub(crate) local_steals: AtomicU64,
    /// Steal operations that took work from another group (peers or injector).
    pub(crate) remote_steals: AtomicU64,
    /// Times the worker went to sleep.
    pub(crate) parks: AtomicU64,
    /// Times the worker woke up.
    pub(crate) unparks: AtomicU64,
    /// Nanoseconds spent polling tasks.
    pub(crate) busy_ns: AtomicU64,
    /// Aborted tasks dropped without being polled.
    pub(crate) aborted: AtomicU64,
    /// Tasks spawned by this worker.
    pub(crate) spawned: AtomicU64,
    /// Task futures dropped on this worker (completed, aborted, shut down).
    pub(crate) dropped: AtomicU64,
}

/// Adds `n` to a single-writer counter.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Reads a counter.
#[inline]
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}
