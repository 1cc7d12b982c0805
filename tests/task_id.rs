//! `task::Id`: `JoinHandle::id`, `AbortHandle::id`, `task::id()` / `try_id()`.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use hioload::task::{self, Id};
use support::{rt, Watchdog};

#[test]
fn a_task_reads_the_id_its_handle_reports_on_every_poll() {
    let _w = Watchdog::new("task_id", Duration::from_secs(30));
    for rt in [rt(2), hioload::Builder::new_current_thread().build().unwrap()] {
        rt.block_on(async {
            let handles: Vec<_> = (0..200)
                .map(|_| {
                    hioload::spawn(async {
                        let first = task::id();
                        hioload::time::sleep(Duration::from_millis(1)).await;
                        hioload::task::yield_now().await;
                        assert_eq!(task::id(), first, "the id changed between polls");
                        first
                    })
                })
                .collect();
            let mut seen = HashSet::new();
            for handle in handles {
                let (id, abort_id) = (handle.id(), handle.abort_handle().id());
                assert_eq!(id, abort_id);
                assert_eq!(handle.await.unwrap(), id);
                assert!(seen.insert(id), "{id} given twice");
            }
        });
    }
}

#[test]
fn only_tasks_and_blocking_jobs_have_an_id() {
    assert_eq!(task::try_id(), None);
    let rt = rt(2);
    rt.block_on(async {
        // `block_on`'s own future is no task (as in tokio).
        assert_eq!(task::try_id(), None);
        let job = hioload::spawn_blocking(task::try_id);
        let id = job.id();
        assert_eq!(job.await.unwrap(), Some(id));
    });
    let err = std::panic::catch_unwind(task::id).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("outside a task"), "{msg:?}");
}

#[test]
fn ids_display_as_numbers_and_differ_between_runtimes() {
    let (a, b) = (rt(1), rt(1));
    let ids: Vec<Id> =
        [&a, &b].iter().map(|rt| rt.block_on(rt.spawn(async { task::id() })).unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids[0].to_string().parse::<u64>().is_ok());
    assert!(format!("{:?}", ids[0]).starts_with("Id("));
}

#[test]
fn a_future_dropped_inside_another_tasks_poll_reads_its_own_id() {
    // Shutdown drops the pending futures of a runtime on the thread that shuts
    // it down; inside a task's poll, their `Drop` read that task's id (found by
    // a review). tokio marks the dropped task's own id, as here.
    let _w = Watchdog::new("task_id_drop", Duration::from_secs(30));
    let (outer, inner) = (rt(2), rt(2));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    /// Records `task::try_id()` when dropped.
    struct RecordId(std::sync::Arc<std::sync::Mutex<Option<Option<Id>>>>);
    impl Drop for RecordId {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(task::try_id());
        }
    }
    let record = RecordId(seen.clone());
    let pending = inner.spawn(async move {
        let _record = record;
        std::future::pending::<()>().await
    });
    let pending_id = pending.id();
    // Let it run once, so that it waits.
    std::thread::sleep(Duration::from_millis(20));
    let dropper = outer.spawn(async move {
        drop(inner);
        task::id()
    });
    let dropper_id = dropper.id();
    assert_eq!(outer.block_on(dropper).unwrap(), dropper_id);
    assert_eq!(*seen.lock().unwrap(), Some(Some(pending_id)), "the dropper is {dropper_id}");
}
