//! Which workers sleep, and whom to wake when work arrives.
//!
//! The rule (tokio's, which it took from Go): wake a sleeping worker only when no
//! worker is already *searching* for work, and let at most half the workers
//! search at once. A search that finds work hands the baton on: the last
//! searcher to find a task wakes one more sleeper, so a burst of spawns ramps
//! workers up one at a time instead of waking all of them for each task.
//!
//! # Protocol
//!
//! 1. Pushing work calls [`Idle::worker_to_notify`]: if no one searches and
//!    someone sleeps, it pops a sleeper and counts it as unparked *and searching*.
//! 2. A worker out of local work calls [`Idle::transition_worker_to_searching`]
//!    (refused when half the workers already search).
//! 3. A searcher that finds work calls [`Idle::transition_worker_from_searching`];
//!    if it was the last searcher, it notifies another worker (step 1).
//! 4. A worker about to sleep calls [`Idle::transition_worker_to_parked`]; if it
//!    was the last searcher it must look at every queue once more and notify
//!    if it finds work, since a push during its search saw a searcher and woke no one.
//! 5. A worker woken by its driver (I/O, timers) rather than by step 1 removes
//!    itself from the sleepers with [`Idle::unpark_worker_by_id`].
#![forbid(unsafe_code)]

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Mutex, MutexGuard};

/// `state` packs the unparked count above this shift and the searching count below.
const UNPARK_SHIFT: usize = 16;
/// Mask of the searching count.
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;

/// Sleeping/searching bookkeeping for one runtime.
#[derive(Debug)]
pub(crate) struct Idle {
    /// `(unparked << UNPARK_SHIFT) | searching`; written with SeqCst so that a
    /// push's check and a parker's last look at the queues cannot both miss.
    state: AtomicUsize,
    /// Number of running workers; changed by resize.
    num_workers: AtomicUsize,
    /// Indices of sleeping workers. Changes to `state`'s unparked count happen
    /// under this lock, so it and the list agree.
    sleepers: Mutex<Vec<usize>>,
}

impl Idle {
    /// Bookkeeping for `num_workers` workers, all unparked and not searching.
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            num_workers: AtomicUsize::new(num_workers),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
        }
    }

    /// Step 1: the worker to wake for new work, if one should be woken;
    /// a sleeper for which `prefer` holds (same group as the work) goes first.
    pub(crate) fn worker_to_notify(&self, prefer: impl Fn(usize) -> bool) -> Option<usize> {
        if !self.notify_should_wakeup() {
            return None;
        }
        let mut sleepers = self.lock();
        // Checked again under the lock: another notifier may have been first.
        if !self.notify_should_wakeup() {
            return None;
        }
        let worker = match sleepers.iter().rposition(|w| prefer(*w)) {
            Some(pos) => pos,
            None => sleepers.len().checked_sub(1)?,
        };
        Some(self.unpark_as_searcher(&mut sleepers, worker))
    }

    /// Pops a sleeper for which `prefer` holds even while others search,
    /// counting it as unparked and searching (group-aware wakes, see
    /// `Shared::notify_parked_in`).
    pub(crate) fn wake_sleeper(&self, prefer: impl Fn(usize) -> bool) -> Option<usize> {
        let mut sleepers = self.lock();
        let pos = sleepers.iter().rposition(|w| prefer(*w))?;
        Some(self.unpark_as_searcher(&mut sleepers, pos))
    }

    /// Takes sleeper `pos` off the list, counting it unparked and searching.
    fn unpark_as_searcher(&self, sleepers: &mut Vec<usize>, pos: usize) -> usize {
        let worker = sleepers.swap_remove(pos);
        self.state.fetch_add((1 << UNPARK_SHIFT) | 1, SeqCst);
        worker
    }

    /// Step 2: may this worker search? Refused when half the workers search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * (state & SEARCH_MASK) >= self.num_workers.load(SeqCst) {
            return false;
        }
        // A racing searcher may push us slightly over half; harmless.
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Step 3: a searcher found work; `true` if it was the last searcher.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        prev & SEARCH_MASK == 1
    }

    /// Step 4: `worker` goes to sleep; `true` if it was the last searcher.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.lock();
        let dec = (1 << UNPARK_SHIFT) | usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        is_searching && prev & SEARCH_MASK == 1
    }

    /// Step 5: removes `worker` from the sleepers; `false` if a notifier already
    /// did (it then counts as searching).
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        let Some(pos) = sleepers.iter().position(|w| *w == worker) else {
            return false;
        };
        sleepers.swap_remove(pos);
        self.state.fetch_add(1 << UNPARK_SHIFT, SeqCst);
        true
    }

    /// Whether `worker` is still on the sleepers list.
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.lock().contains(&worker)
    }

    /// A new worker starts running (resize grows the pool).
    pub(crate) fn add_worker(&self) {
        let _sleepers = self.lock();
        self.num_workers.fetch_add(1, SeqCst);
        self.state.fetch_add(1 << UNPARK_SHIFT, SeqCst);
    }

    /// A running, unparked, non-searching worker leaves (resize shrinks the pool).
    pub(crate) fn remove_worker(&self) {
        let _sleepers = self.lock();
        self.num_workers.fetch_sub(1, SeqCst);
        self.state.fetch_sub(1 << UNPARK_SHIFT, SeqCst);
    }

    /// Number of workers not asleep.
    pub(crate) fn num_unparked(&self) -> usize {
        self.state.load(SeqCst) >> UNPARK_SHIFT
    }

    /// Number of workers searching for work.
    #[cfg(test)]
    pub(crate) fn num_searching(&self) -> usize {
        self.state.load(SeqCst) & SEARCH_MASK
    }

    /// Nobody searches and somebody sleeps.
    fn notify_should_wakeup(&self) -> bool {
        let state = self.state.load(SeqCst);
        state & SEARCH_MASK == 0 && (state >> UNPARK_SHIFT) < self.num_workers.load(SeqCst)
    }

    /// Locks the sleepers list (never poisoned in practice: no panics inside).
    fn lock(&self) -> MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Idle;

    #[test]
    fn notify_wakes_one_sleeper_and_counts_it_searching() {
        let idle = Idle::new(4);
        assert_eq!(idle.worker_to_notify(|_| false), None, "nobody sleeps");
        assert!(!idle.transition_worker_to_parked(2, false));
        assert!(!idle.transition_worker_to_parked(3, false));
        assert_eq!(idle.num_unparked(), 2);
        let woken = idle.worker_to_notify(|w| w == 2).unwrap();
        assert_eq!(woken, 2, "the preferred sleeper goes first");
        assert_eq!(idle.num_searching(), 1);
        assert_eq!(idle.worker_to_notify(|_| false), None, "a searcher exists");
        assert!(idle.transition_worker_from_searching());
        assert!(!idle.is_parked(woken));
    }

    #[test]
    fn at_most_half_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_from_searching());
        assert!(idle.transition_worker_from_searching());
    }

    #[test]
    fn last_searcher_to_park_is_told_so() {
        let idle = Idle::new(2);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_parked(0, true));
        assert!(idle.unpark_worker_by_id(0));
        assert!(!idle.unpark_worker_by_id(0));
        assert_eq!(idle.num_unparked(), 2);
    }
}

/// loom models of the protocol (`.ci/loom`), with the run queues reduced to one
/// counter of pushed tasks.
#[cfg(all(test, hioload_loom))]
mod loom_tests {
    use super::Idle;
    use loom::sync::atomic::{fence, AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;
    use loom::thread;

    /// The real queue check and push are `SeqCst` accesses, ordered against
    /// `Idle::state` by the single total order of `SeqCst` operations. loom
    /// treats a `SeqCst` load as `Acquire` (its README, "Limitations") but does
    /// model `SeqCst` fences, so the model puts a fence where the code relies on
    /// that total order: between the `Idle` transition and the queue access.
    fn seq_cst_order() {
        fence(SeqCst);
    }

    #[test]
    fn push_racing_the_last_searchers_park_wakes_a_worker() {
        // Steps 1 and 4: worker 1 sleeps, worker 0 is the only searcher and
        // gives up just as a task is pushed. Either the push sees no searcher
        // and wakes worker 1, or worker 0's last look sees the task and does.
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            assert!(!idle.transition_worker_to_parked(1, false));
            assert!(idle.transition_worker_to_searching());
            let queued = Arc::new(AtomicUsize::new(0));

            let (idle2, queued2) = (idle.clone(), queued.clone());
            let pusher = thread::spawn(move || {
                queued2.fetch_add(1, SeqCst);
                seq_cst_order();
                idle2.worker_to_notify(|_| false)
            });
            let parker_woke = if idle.transition_worker_to_parked(0, true) {
                seq_cst_order();
                if queued.load(SeqCst) != 0 {
                    idle.worker_to_notify(|_| false)
                } else {
                    None
                }
            } else {
                None
            };
            let pusher_woke = pusher.join().unwrap();

            assert!(parker_woke.is_some() || pusher_woke.is_some(), "the task was stranded");
            assert_eq!(idle.num_unparked(), 1, "exactly one worker was woken");
            assert_eq!(idle.num_searching(), 1, "and it counts as searching");
        });
    }

    #[test]
    fn notifier_and_self_unpark_claim_a_sleeper_once() {
        // Steps 1 and 5: a notifier pops worker 1 while worker 1, woken by its
        // driver, takes itself off the list. Exactly one of them wins, and the
        // counts agree with the list afterwards.
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            assert!(!idle.transition_worker_to_parked(1, false));

            let idle2 = idle.clone();
            let notifier = thread::spawn(move || idle2.worker_to_notify(|_| false));
            let claimed_itself = idle.unpark_worker_by_id(1);
            let notified = notifier.join().unwrap();

            assert_ne!(claimed_itself, notified == Some(1), "claimed once");
            assert!(!idle.is_parked(1));
            assert_eq!(idle.num_unparked(), 2);
            assert_eq!(idle.num_searching(), usize::from(notified.is_some()));
        });
    }
}
