//! Waking wakers that the runtime did not make, from places where a panic must
//! not unwind: a worker's driver turn, a shutdown.
#![forbid(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Waker;

/// Wakes `waker`, containing a panic of its `wake`.
///
/// The reactor and the timers wake whatever waker a future was polled with, and
/// that may be a user's own that panics. Unwinding from there would take down
/// the worker thread that turns the driver, with its queued tasks, and leave the
/// runtime hanging. Contained, the panic is still reported (the panic hook has
/// already run when it is caught), the other wake-ups of the batch go on, and so
/// does the worker. Only the panicking waker's own task misses its wake-up.
pub(crate) fn wake_contained(waker: Waker) {
    // AssertUnwindSafe: the waker is consumed, and the caller's state is not
    // touched by `wake`.
    let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
}

/// [`wake_contained`] for each of `wakers`.
pub(crate) fn wake_all_contained(wakers: impl IntoIterator<Item = Waker>) {
    wakers.into_iter().for_each(wake_contained);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_panicking_waker_does_not_stop_the_others() {
        let woken = Arc::new(AtomicUsize::new(0));
        let counting = |woken: &Arc<AtomicUsize>| {
            let woken = woken.clone();
            waker_fn::waker_fn(move || {
                woken.fetch_add(1, Ordering::SeqCst);
            })
        };
        let panicking = waker_fn::waker_fn(|| panic!("a user's waker"));
        wake_all_contained([counting(&woken), panicking, counting(&woken)]);
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }
}
