//! `JoinSet`: completion order, aborting on drop, detaching, joining all.

mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hioload::task::JoinSet;
use hioload::time::sleep;
use support::{rt, wait_until, DropFlag, Watchdog};

fn paused_rt() -> hioload::Runtime {
    hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap()
}

/// Spawns into `set` one task per flag that never completes; each sets its
/// flag when its future is dropped.
fn spawn_pending_with_flags(set: &mut JoinSet<()>, flags: &[Arc<AtomicBool>]) {
    for flag in flags {
        let guard = DropFlag(flag.clone());
        set.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
    }
}

#[test]
fn results_come_in_completion_order() {
    let _w = Watchdog::new("order", Duration::from_secs(30));
    let rt = paused_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        for ms in [30u64, 10, 20] {
            set.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 3);
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        assert_eq!(order, [10, 20, 30]);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    let _w = Watchdog::new("drop_aborts", Duration::from_secs(30));
    let rt = rt(2);
    let flags: Vec<_> = (0..8).map(|_| Arc::new(AtomicBool::new(false))).collect();
    rt.block_on(async {
        let mut set = JoinSet::new();
        spawn_pending_with_flags(&mut set, &flags);
    });
    assert!(wait_until(Duration::from_secs(5), || flags.iter().all(|f| f.load(Ordering::SeqCst))));
}

#[test]
fn detached_tasks_run_to_completion() {
    let _w = Watchdog::new("detach", Duration::from_secs(30));
    let rt = rt(2);
    let done = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..8 {
            let done = done.clone();
            set.spawn(async move {
                sleep(Duration::from_millis(5)).await;
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        set.detach_all();
        assert!(set.is_empty());
    });
    assert!(wait_until(Duration::from_secs(5), || done.load(Ordering::SeqCst) == 8));
}

#[test]
fn abort_all_reports_each_task_cancelled() {
    let _w = Watchdog::new("abort_all", Duration::from_secs(30));
    let rt = rt(2);
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..16 {
            set.spawn(std::future::pending::<()>());
        }
        set.abort_all();
        let mut cancelled = 0;
        while let Some(result) = set.join_next().await {
            assert!(result.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 16);
    });
}

#[test]
fn an_abort_handle_from_spawn_cancels_only_its_task() {
    let rt = rt(2);
    rt.block_on(async {
        let mut set = JoinSet::new();
        let stuck = set.spawn(std::future::pending::<u32>());
        set.spawn(async { 7 });
        stuck.abort();
        let mut results: Vec<_> = Vec::new();
        while let Some(result) = set.join_next().await {
            results.push(result.map_err(|e| e.is_cancelled()));
        }
        results.sort();
        assert_eq!(results, [Ok(7), Err(true)]);
    });
}

#[test]
fn try_join_next_returns_only_finished_tasks() {
    let _w = Watchdog::new("try_join", Duration::from_secs(30));
    let rt = rt(2);
    rt.block_on(async {
        let mut set = JoinSet::new();
        let gate = hioload::task::CancellationToken::new();
        let open = gate.clone();
        set.spawn(async move {
            open.cancelled().await;
            5
        });
        assert!(set.try_join_next().is_none());
        assert_eq!(set.len(), 1);
        gate.cancel();
        // The task finishes on a worker; poll until its result is there (a
        // loaded machine may take a while to run that worker).
        let start = std::time::Instant::now();
        let got = loop {
            if let Some(result) = set.try_join_next() {
                break result;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the finished task never showed");
            hioload::task::yield_now().await;
        };
        assert_eq!(got.unwrap(), 5);
        assert!(set.is_empty());
    });
}

#[test]
fn a_join_next_dropped_by_a_timeout_loses_no_result() {
    let _w = Watchdog::new("cancel_safe", Duration::from_secs(30));
    let rt = paused_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async {
            sleep(Duration::from_millis(50)).await;
            "late"
        });
        let early = hioload::time::timeout(Duration::from_millis(10), set.join_next()).await;
        assert!(early.is_err(), "nothing finished within 10 ms");
        assert_eq!(set.join_next().await.unwrap().unwrap(), "late");
    });
}

#[test]
fn join_all_returns_every_output_and_resumes_a_panic() {
    let _w = Watchdog::new("join_all", Duration::from_secs(30));
    let rt = rt(2);
    let mut outputs = rt.block_on(async {
        let set: JoinSet<u32> = (0..50u32).map(|i| async move { i }).collect();
        set.join_all().await
    });
    outputs.sort_unstable();
    assert_eq!(outputs, (0..50).collect::<Vec<_>>());

    let survivor = Arc::new(AtomicBool::new(false));
    let guard = DropFlag(survivor.clone());
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let mut set = JoinSet::new();
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            });
            set.spawn(async { panic!("boom in a set") });
            set.join_all().await
        })
    }))
    .unwrap_err();
    assert_eq!(panicked.downcast_ref::<&str>(), Some(&"boom in a set"));
    // The other task was aborted with the set.
    assert!(wait_until(Duration::from_secs(5), || survivor.load(Ordering::SeqCst)));
}

#[test]
fn shutdown_waits_until_every_task_is_gone() {
    let _w = Watchdog::new("shutdown", Duration::from_secs(30));
    let rt = rt(2);
    let flags: Vec<_> = (0..8).map(|_| Arc::new(AtomicBool::new(false))).collect();
    rt.block_on(async {
        let mut set = JoinSet::new();
        spawn_pending_with_flags(&mut set, &flags);
        set.shutdown().await;
        assert!(set.is_empty());
        assert!(
            flags.iter().all(|f| f.load(Ordering::SeqCst)),
            "a task's future outlived shutdown"
        );
    });
}

#[test]
fn spawn_on_a_handle_and_blocking_jobs_from_outside_the_runtime() {
    let _w = Watchdog::new("spawn_on", Duration::from_secs(30));
    let rt = rt(2);
    let mut set = JoinSet::new();
    set.spawn_on(async { 1u32 }, rt.handle());
    set.spawn_blocking_on(|| 2u32, rt.handle());
    let mut sum = 0;
    rt.block_on(async {
        set.spawn_blocking(|| 3u32);
        while let Some(result) = set.join_next().await {
            sum += result.unwrap();
        }
    });
    assert_eq!(sum, 6);
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let mut set = JoinSet::<()>::new();
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| {
        set.spawn(async {});
    }))
    .unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(msg.contains("runtime"), "unclear panic message: {msg:?}");
    assert!(set.is_empty());
}

#[test]
fn stress_many_tasks_joined_while_more_are_spawned() {
    let _w = Watchdog::new("stress", Duration::from_secs(120));
    let rt = rt(2);
    rt.block_on(async {
        let mut set = JoinSet::new();
        let mut next = 0u64;
        let mut sum = 0u64;
        let mut joined = 0u64;
        const TOTAL: u64 = 20_000;
        while joined < TOTAL {
            // Keep up to 256 tasks in flight, some finishing at once, some yielding.
            while set.len() < 256 && next < TOTAL {
                let i = next;
                set.spawn(async move {
                    if i % 3 == 0 {
                        hioload::task::yield_now().await;
                    }
                    i
                });
                next += 1;
            }
            sum += set.join_next().await.unwrap().unwrap();
            joined += 1;
        }
        assert_eq!(sum, TOTAL * (TOTAL - 1) / 2);
        assert!(set.join_next().await.is_none());
    });
}
