//! A fixed-size batch of wakers, filled under a lock and woken after releasing it.
#![forbid(unsafe_code)]

use std::task::Waker;

use crate::util::wake::wake_contained;

/// How many wakers a batch holds before the lock must be dropped to wake them.
const CAPACITY: usize = 32;

/// Wakers collected while a shard lock is held.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    /// The first `len` slots hold wakers; the rest are `None`.
    wakers: [Option<Waker>; CAPACITY],
    /// Number of wakers held.
    len: usize,
}

impl WakeList {
    /// Creates an empty batch.
    pub(crate) fn new() -> WakeList {
        WakeList::default()
    }

    /// True when no more wakers fit.
    pub(crate) fn is_full(&self) -> bool {
        self.len == CAPACITY
    }

    /// Adds a waker; the batch must not be full.
    pub(crate) fn push(&mut self, waker: Waker) {
        debug_assert!(!self.is_full());
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes and forgets every waker held. Call with no lock held.
    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                // A user's waker that panics does not unwind through the sweep.
                wake_contained(waker);
            }
        }
        self.len = 0;
    }
}
