//! The cooperative budget: how many I/O operations one poll of a task may make
//! before its sockets start answering `Pending` (tokio's `coop`, in small).
//!
//! A task that loops over a socket with data always queued never meets a
//! `Pending` by itself: it would keep its worker for as long as data comes, so
//! no other task there runs, and a `timeout` around the loop cannot fire (it is
//! only checked when the loop's future returns). Each poll of a task (and of a
//! `block_on` future) therefore starts with [`BUDGET`] units; every I/O
//! operation that makes progress uses one; once they are spent, the next
//! operation wakes the task and returns `Pending`, so the task goes to the back
//! of its worker's queue and the timers and other tasks get their turn.
//!
//! Code that polls outside a task (another executor, a plain thread) has no
//! budget and is never limited.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations per poll: tokio's number.
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    /// The units left in the poll running on this thread; `None` outside a poll.
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `poll` (one poll of a task or of a `block_on` future) with a fresh
/// budget, and puts back whatever budget was current before (polls nest: a
/// `block_on` inside `spawn_blocking`, a task run by a test harness).
pub(crate) fn budgeted<R>(poll: impl FnOnce() -> R) -> R {
    /// Restores the outer budget, also if `poll` unwinds.
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|left| left.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|left| left.replace(Some(BUDGET))));
    poll()
}

/// Before an I/O operation: `Ready` if the current poll may make one more,
/// else wakes the task (it runs again after the others) and `Pending`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    if LEFT.with(Cell::get) == Some(0) {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    Poll::Ready(())
}

/// After an I/O operation that made progress (anything but `WouldBlock`).
pub(crate) fn made_progress() {
    LEFT.with(|left| {
        if let Some(n) = left.get() {
            left.set(Some(n.saturating_sub(1)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Waker;

    fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = wakes.clone();
        let waker = waker_fn::waker_fn(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        (waker, wakes)
    }

    #[test]
    fn a_poll_makes_budget_operations_then_yields_once() {
        let (waker, wakes) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let made = budgeted(|| {
            let mut made = 0;
            while poll_proceed(&mut cx).is_ready() {
                made_progress();
                made += 1;
            }
            made
        });
        assert_eq!(made, usize::from(BUDGET));
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "woken to run again");
        assert!(budgeted(|| poll_proceed(&mut cx).is_ready()), "the next poll starts afresh");
    }

    #[test]
    fn no_budget_outside_a_poll_and_nested_polls_restore_the_outer_one() {
        let (waker, _) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..1_000 {
            made_progress();
            assert!(poll_proceed(&mut cx).is_ready(), "unlimited outside a poll");
        }
        budgeted(|| {
            made_progress();
            budgeted(|| (0..BUDGET).for_each(|_| made_progress()));
            assert_eq!(LEFT.with(Cell::get), Some(BUDGET - 1), "the outer poll's budget is back");
        });
        assert_eq!(LEFT.with(Cell::get), None);
    }
}
