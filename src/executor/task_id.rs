//! Task ids: how they are handed out, and which task this thread is polling.
//!
//! Ids come from one process-wide counter, taken in blocks of [`BLOCK`] by each
//! thread that spawns, so a spawn costs a thread-local increment and workers
//! spawning side by side do not share a cache line. Ids are unique for the
//! life of the process (never reused); they grow roughly, not strictly, in
//! spawn order across threads.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids a thread takes from the global counter at a time.
const BLOCK: u64 = 1024;

/// The first id of the next block (ids start at 1).
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's unused ids: `start..end`.
    static BLOCK_LEFT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// The id of the task this thread is polling, if any.
    static CURRENT: Cell<Option<NonZeroU64>> = const { Cell::new(None) };
}

/// A fresh task id.
pub(crate) fn next() -> NonZeroU64 {
    let id = BLOCK_LEFT.with(|left| {
        let (mut start, mut end) = left.get();
        if start == end {
            start = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = start + BLOCK;
        }
        left.set((start + 1, end));
        start
    });
    NonZeroU64::new(id).expect("task ids start at 1 and a u64 does not wrap in practice")
}

/// Runs `poll` with `id` as this thread's current task (restored afterwards,
/// also if `poll` unwinds).
pub(crate) fn polling<R>(id: NonZeroU64, poll: impl FnOnce() -> R) -> R {
    /// Restores the previous current task.
    struct Restore(Option<NonZeroU64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|current| current.replace(Some(id))));
    poll()
}

/// The id of the task this thread is polling, if any.
pub(crate) fn current() -> Option<NonZeroU64> {
    CURRENT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..3_000).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn the_current_id_nests_and_is_restored() {
        let (a, b) = (next(), next());
        assert_eq!(current(), None);
        polling(a, || {
            assert_eq!(current(), Some(a));
            polling(b, || assert_eq!(current(), Some(b)));
            assert_eq!(current(), Some(a));
        });
        assert_eq!(current(), None);
    }
}
