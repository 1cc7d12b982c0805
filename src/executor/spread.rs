//! Spreading I/O registrations over the worker groups' reactors.
//!
//! Normally a handle registers with the reactor of the thread that creates it, so
//! every connection accepted by one accept loop lands in that loop's group. A
//! listener with spreading on (`TcpListener::set_spread_across_groups`) asks
//! [`spread_reactor`] instead, which deals the groups round-robin.
//!
//! # The deal (`Shared::group_for_ticket`)
//!
//! 1. Take a ticket from the runtime-wide counter (one relaxed `fetch_add`; every
//!    spreading listener of the runtime shares it, so several accept loops still
//!    split evenly between them).
//! 2. Keep the groups with a running worker: a group that `resize` emptied has
//!    only a caretaker turning its reactor (`caretaker.rs`), so every event of a
//!    connection dealt there would wake a task across groups. Running slots are `0..target_workers` and a group's slot
//!    list is ascending, so "has a worker" is one comparison per group.
//! 3. Take the (ticket mod kept)-th of them.
//!
//! # Why round-robin, not "the group with the fewest registrations"
//!
//! - A registration count is a poor measure of load: a listener, a UDP socket and
//!   an idle keep-alive connection count the same as a busy connection.
//! - It lags: slots are released lazily (at the reactor's next turn), and a burst of
//!   accepts would read the same counts and herd onto one group.
//! - Reading every group's count touches a cache line each group writes on every
//!   register and deregister; the ticket is one line, written only by accepts.
//! - Connection lifetimes do not depend on the group a connection was dealt to, so
//!   round-robin keeps live connections even in expectation, and the split is exact
//!   and predictable (which is what tests and capacity planning need).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::context;
use super::shared::Shared;
use crate::reactor::{self, Reactor};

/// The runtime-wide round-robin state of spreading listeners.
#[derive(Debug, Default)]
pub(crate) struct Spread {
    /// Tickets handed out so far (wraps); written by every spreading accept.
    next: AtomicUsize,
}

impl Spread {
    /// The next ticket (step 1 of the module docs).
    pub(crate) fn next_ticket(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// The (`ticket` mod n)-th of the n groups below `groups` that `has_workers`;
/// group 0 if none has.
fn deal(ticket: usize, groups: usize, has_workers: impl Fn(usize) -> bool) -> usize {
    let kept = (0..groups).filter(|&g| has_workers(g)).count();
    if kept == 0 {
        return 0;
    }
    (0..groups).filter(|&g| has_workers(g)).nth(ticket % kept).unwrap_or(0)
}

impl Shared {
    /// Whether any worker of `group` is running (see the module docs, step 2).
    pub(super) fn group_has_workers(&self, group: usize) -> bool {
        self.group_has_slot_below(group, self.target_workers.load(Ordering::Acquire))
    }

    /// Whether `group` has a slot below `bound` (its slot list is ascending).
    pub(super) fn group_has_slot_below(&self, group: usize, bound: usize) -> bool {
        self.groups[group].slots.first().is_some_and(|&slot| slot < bound)
    }

    /// The group `ticket` deals among the groups with a running worker (steps 2
    /// and 3 of the module docs): connections of spreading listeners, and spawns
    /// from outside the workers.
    pub(super) fn group_for_ticket(&self, ticket: usize) -> usize {
        let running = self.target_workers.load(Ordering::Acquire);
        deal(ticket, self.groups.len(), |g| self.group_has_slot_below(g, running))
    }
}

/// The reactor a spread connection registers with: on a runtime with several
/// worker groups, the reactor of the group dealt next; otherwise (one group,
/// current-thread runtime) the thread's current reactor, as without spreading.
///
/// # Panics
///
/// Outside a hioload runtime (as `reactor::current`).
#[track_caller]
pub(crate) fn spread_reactor() -> Arc<Reactor> {
    match context::current_shared() {
        Some(shared) if shared.groups.len() > 1 => {
            let group = shared.group_for_ticket(shared.spread.next_ticket());
            shared.groups[group].driver.reactor().clone()
        }
        _ => reactor::current(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deals_every_group_in_turn() {
        let spread = Spread::default();
        let dealt: Vec<_> = (0..6).map(|_| deal(spread.next_ticket(), 3, |_| true)).collect();
        assert_eq!(dealt, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skips_groups_without_workers() {
        let dealt: Vec<_> = (0..4).map(|t| deal(t, 3, |g| g != 1)).collect();
        assert_eq!(dealt, [0, 2, 0, 2]);
    }

    #[test]
    fn one_group_and_no_group_with_workers_give_group_zero() {
        assert!((0..4).all(|t| deal(t, 1, |_| true) == 0));
        assert_eq!(deal(5, 2, |_| false), 0);
    }

    #[test]
    fn ticket_wrap_stays_in_range() {
        assert!(deal(usize::MAX, 3, |_| true) < 3);
    }
}
