//! The thread-local "current reactor".
//!
//! The executor sets it on each worker thread and in `block_on` with [`enter`]; the
//! net types read it with [`current`] when they are created. This layer owns it: there
//! is no shared context module (see STYLE.md).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::driver::Reactor;

thread_local! {
    /// The reactor of the runtime this thread belongs to, if any.
    static CURRENT: RefCell<Option<Arc<Reactor>>> = const { RefCell::new(None) };
}

/// Makes `reactor` this thread's current reactor until the guard drops (which restores
/// the previous one, so nested `enter`s unwind correctly).
pub(crate) fn enter(reactor: Arc<Reactor>) -> EnterGuard {
    let previous = CURRENT.with(|current| current.replace(Some(reactor)));
    EnterGuard { previous, _not_send: PhantomData }
}

/// This thread's current reactor, if any.
pub(crate) fn try_current() -> Option<Arc<Reactor>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// This thread's current reactor.
///
/// # Panics
///
/// If the thread is not inside a hioload runtime.
#[track_caller]
pub(crate) fn current() -> Arc<Reactor> {
    match try_current() {
        Some(reactor) => reactor,
        None => panic!(
            "hioload I/O used outside a hioload runtime: there is no reactor on this thread \
             (create net types inside `hioload::block_on` or a task spawned on a runtime)"
        ),
    }
}

/// Restores the previous current reactor when dropped; must drop on the thread that
/// entered (it is `!Send`).
pub(crate) struct EnterGuard {
    /// The reactor that was current before `enter`.
    previous: Option<Arc<Reactor>>,
    /// Thread-locals are per thread: the guard must not move.
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_nests_and_restores() {
        assert!(try_current().is_none());
        let outer = Arc::new(Reactor::new(8).unwrap());
        let inner = Arc::new(Reactor::new(8).unwrap());
        let g1 = enter(outer.clone());
        {
            let _g2 = enter(inner.clone());
            assert!(Arc::ptr_eq(&current(), &inner));
        }
        assert!(Arc::ptr_eq(&current(), &outer));
        drop(g1);
        assert!(try_current().is_none());
    }

    #[test]
    #[should_panic(expected = "outside a hioload runtime")]
    fn current_outside_runtime_panics_clearly() {
        let _ = current();
    }
}
