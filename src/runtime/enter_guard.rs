//! `Handle::enter`'s guard: a runtime made current on a thread outside it.
//!
//! Guards nest; each restores what was current before it. They must be dropped
//! in the reverse order of their creation (as tokio requires): a thread-local
//! depth counter catches a guard dropped out of order, which would otherwise
//! leave a stale runtime current.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use crate::executor::{ContextGuard, GroupGuard};

thread_local! {
    /// How many `EnterGuard`s are alive on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Keeps a runtime current on this thread until dropped: see [`Handle::enter`].
///
/// Not `Send`: it must be dropped on the thread that created it, and guards
/// must be dropped in the reverse order of their creation.
///
/// Replaces `tokio::runtime::EnterGuard`.
///
/// [`Handle::enter`]: crate::Handle::enter
#[must_use = "the runtime stays current only while the guard lives"]
pub struct EnterGuard<'a> {
    /// The executor's context (what `spawn` and `Handle::current` see).
    _context: ContextGuard,
    /// The reactor and timer contexts (what sockets and timers see).
    _group: GroupGuard,
    /// This guard's place in the thread's nesting.
    depth: usize,
    /// Tied to the handle's borrow, and to this thread.
    _marker: PhantomData<(&'a (), *const ())>,
}

impl EnterGuard<'_> {
    /// Wraps the contexts just entered.
    pub(crate) fn new(context: ContextGuard, group: GroupGuard) -> EnterGuard<'static> {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        EnterGuard { _context: context, _group: group, depth, _marker: PhantomData }
    }
}

impl Drop for EnterGuard<'_> {
    fn drop(&mut self) {
        // Out of order, the depth stays: the guard dropped last then balances it.
        let in_order = DEPTH.with(|d| {
            let in_order = d.get() == self.depth;
            if in_order {
                d.set(self.depth - 1);
            }
            in_order
        });
        if !in_order && !std::thread::panicking() {
            panic!(
                "`EnterGuard`s dropped out of order: guards returned by `Handle::enter` / \
                 `Runtime::enter` must be dropped in the reverse order of their creation"
            );
        }
    }
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").field("depth", &self.depth).finish_non_exhaustive()
    }
}
