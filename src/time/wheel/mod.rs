//! The timer wheel: a hierarchical timing wheel with sub-millisecond resolution.
//!
//! Owns no clock and no locks: it is a plain data structure that the time driver
//! keeps one of per shard, behind that shard's lock. Deadlines are `u64` nanoseconds
//! since the clock's origin; the wheel buckets them into ticks of 2^14 ns.
//!
//! # Why a 16.384 µs tick
//!
//! - It is as fine as the OS can honour: with the workers' timer slack lowered to
//!   [`TIMER_SLACK_NS`](super::TIMER_SLACK_NS), a `timerfd`/`epoll_pwait` wake-up on an
//!   idle Linux machine lands some 5–50 µs after its deadline, so a finer tick would
//!   only add cascading work without making anything fire sooner.
//! - Level 0 (64 slots) then spans 1.05 ms: the sub-millisecond sleeps and the short
//!   timeouts of a network service are inserted straight into level 0 and fire
//!   without ever cascading.
//! - Precision does not depend on the tick at all: the slot of the current tick is
//!   scanned entry by entry against the exact deadline, so a timer fires at the first
//!   `poll(now)` with `now >= deadline`, never earlier and never a tick later.
//! - A power of two makes "tick of a deadline" a shift.
//!
//! Tokio's wheel has the same shape with 1 ms ticks; its precision is 1 ms.
//!
//! # Complexity
//!
//! Insert and remove are O(1): a slab node linked into (or out of) a doubly linked
//! slot list. Finding the next expiry is O(levels) with one bitmap per level. An
//! entry cascades through at most one slot per level on its way to level 0.

mod level;
mod timer_wheel;

pub(crate) use timer_wheel::{Key, Wheel};

#[cfg(test)]
mod tests;
