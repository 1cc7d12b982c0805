//! Live resize: growing and shrinking the worker pool while tasks run.
//!
//! 1. Shrinking marks the highest slots `SLOT_RETIRING` and unparks them; each
//!    worker hands its queued tasks back to its group's injector, wakes a
//!    sleeper of its group (it may have been the one waiting in the group's
//!    driver) and exits (`worker.rs`); resize joins them.
//! 2. Growing starts workers on the next slots, one at a time. A slot whose
//!    worker has not taken up its retirement yet (it retired itself: a task of
//!    that worker shrank the pool, and a worker cannot join itself) keeps that
//!    worker; one whose worker is leaving is reused once it has left.
//! 3. Then every group left without a worker gets a caretaker for its driver,
//!    and groups that have workers again lose theirs (`caretaker.rs`).
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::config::Flavor;
use super::shared::{join_worker, lock, Shared, SLOT_RETIRING, SLOT_RUNNING, SLOT_VACANT};

impl Shared {
    /// Grows or shrinks the pool to `workers` (see `Runtime::resize`), then
    /// gives each group left without a worker a caretaker and stops those of
    /// groups that have one again.
    pub(crate) fn resize(self: &Arc<Self>, workers: usize) -> std::io::Result<()> {
        use std::io::{Error, ErrorKind};
        if self.config.flavor == Flavor::CurrentThread {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "resize is not available on a current-thread runtime (it has no worker threads)",
            ));
        }
        if workers == 0 || workers > self.slots.len() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "resize: workers must be between 1 and max_worker_threads ({}) (got {workers})",
                    self.slots.len()
                ),
            ));
        }
        let _resize = lock(&self.resize_lock);
        if self.is_shutdown() {
            return Err(Error::other("resize: the runtime is shut down"));
        }
        let resized = self.resize_workers(workers);
        let tended = self.tend_groups();
        resized.and(tended)
    }

    /// Starts or retires workers until `workers` run; under `resize_lock`.
    fn resize_workers(self: &Arc<Self>, workers: usize) -> std::io::Result<()> {
        let current = self.target_workers.load(Ordering::SeqCst);
        if workers < current {
            // Retire the highest slots; each hands its queue back and exits.
            for slot in &self.slots[workers..current] {
                slot.state.store(SLOT_RETIRING, Ordering::SeqCst);
                slot.unparker.unpark();
            }
            self.target_workers.store(workers, Ordering::SeqCst);
            for slot in &self.slots[workers..current] {
                join_worker(slot);
            }
        } else {
            for index in current..workers {
                let slot = &self.slots[index];
                let kept = slot.state.compare_exchange(
                    SLOT_RETIRING,
                    SLOT_RUNNING,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                if kept.is_ok() {
                    // Its worker is still there and counted: it just goes on.
                    self.target_workers.store(index + 1, Ordering::SeqCst);
                    continue;
                }
                // A worker that retired itself may still be leaving: the slot
                // is free once it has put its deque back.
                while slot.state.load(Ordering::SeqCst) != SLOT_VACANT
                    || lock(&slot.deque).is_none()
                {
                    std::thread::yield_now();
                }
                self.idle.add_worker();
                self.used.fetch_max(index + 1, Ordering::SeqCst);
                if let Err(err) = self.start_worker(index) {
                    self.idle.remove_worker();
                    self.target_workers.store(index, Ordering::SeqCst);
                    return Err(err);
                }
                self.target_workers.store(index + 1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}
