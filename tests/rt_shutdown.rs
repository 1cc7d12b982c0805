//! Shutdown: pending futures dropped, bounded waits, idle CPU.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{rt, threads_cpu_ns, DropFlag, Watchdog};

#[test]
fn dropping_the_runtime_drops_every_pending_future() {
    let _w = Watchdog::new("drop_pending", Duration::from_secs(30));
    let rt = rt(2);
    let flags: Vec<Arc<AtomicBool>> = (0..100).map(|_| Arc::default()).collect();
    // Keep the senders alive: those tasks wait on something outside the runtime.
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for (i, flag) in flags.iter().enumerate() {
        let guard = DropFlag(flag.clone());
        if i % 2 == 0 {
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            senders.push(tx);
            drop(rt.spawn(async move {
                let _guard = guard;
                let _ = rx.await;
            }));
        } else {
            handles.push(rt.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }));
        }
    }
    drop(rt);
    assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)), "every future dropped");
    // Their join handles report cancellation.
    for h in handles {
        let err = futures_lite::future::block_on(h).unwrap_err();
        assert!(err.is_cancelled());
    }
    drop(senders);
}

#[test]
fn shutdown_timeout_returns_even_with_a_stuck_blocking_job() {
    let _w = Watchdog::new("shutdown_timeout", Duration::from_secs(30));
    let rt = rt(2);
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    drop(rt.spawn_blocking(move || {
        s.store(true, Ordering::SeqCst);
        while !r.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }));
    assert!(support::wait_until(Duration::from_secs(5), || started.load(Ordering::SeqCst)));
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(100));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(5), "{took:?}");
    release.store(true, Ordering::SeqCst);
}

#[test]
fn spawn_after_shutdown_reports_cancelled() {
    let rt = rt(1);
    let handle = rt.handle().clone();
    rt.shutdown_timeout(Duration::from_secs(1));
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = handle.spawn(async move { r.store(true, Ordering::SeqCst) });
    assert!(futures_lite::future::block_on(h).unwrap_err().is_cancelled());
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_drop_impl_that_spawns_or_sleeps_during_shutdown_does_not_abort_the_process() {
    // Cleanup in Drop (return a connection to a pool, schedule a close) is a
    // common pattern; tokio drops pending futures inside its context.
    struct SpawnsOnDrop(Arc<AtomicUsize>);
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let handle = hioload::spawn(async {});
            drop(hioload::time::sleep(Duration::from_millis(1)));
            let cancelled = futures_lite::future::block_on(handle).unwrap_err().is_cancelled();
            assert!(cancelled, "a spawn during shutdown is cancelled");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let _w = Watchdog::new("spawn_in_drop", Duration::from_secs(30));
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(2);
    for _ in 0..4 {
        let guard = SpawnsOnDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }));
    }
    std::thread::sleep(Duration::from_millis(20));
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 4);
}

#[test]
fn dropping_the_runtime_inside_spawn_blocking_returns() {
    // The pool's shutdown waited for every pool thread to exit, the one
    // running this job included: it waited for itself.
    let _w = Watchdog::new("drop_in_blocking", Duration::from_secs(30));
    let rt = rt(2);
    let (give, take) = std::sync::mpsc::channel::<hioload::Runtime>();
    let (done, finished) = std::sync::mpsc::channel();
    drop(rt.spawn_blocking(move || {
        drop(take.recv().unwrap());
        done.send(()).unwrap();
    }));
    give.send(rt).unwrap();
    finished.recv_timeout(Duration::from_secs(10)).expect("the drop returned");
}

#[test]
fn a_task_spawned_just_before_its_runtime_is_dropped_from_a_task_is_dropped() {
    // The child's first poll ran after shutdown had closed the task registry:
    // it waited in no queue and no registry, and nothing dropped it.
    let _w = Watchdog::new("drop_in_task_child", Duration::from_secs(60));
    for round in 0..20 {
        let rt = rt(1);
        let dropped = Arc::new(AtomicBool::new(false));
        let (give, take) = std::sync::mpsc::channel::<hioload::Runtime>();
        let (keep, kept) = std::sync::mpsc::channel();
        let flag = DropFlag(dropped.clone());
        drop(rt.spawn(async move {
            let rt = take.recv().unwrap();
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            keep.send(tx).unwrap(); // never fires: the child waits for ever
            drop(hioload::spawn(async move {
                let _flag = flag;
                let _ = rx.await;
            }));
            drop(rt);
        }));
        give.send(rt).unwrap();
        let _sender = kept.recv().unwrap();
        let done = support::wait_until(Duration::from_secs(5), || dropped.load(Ordering::SeqCst));
        assert!(done, "round {round}: the child's future outlived its runtime");
    }
}

#[test]
#[allow(clippy::async_yields_async)] // the handle of a task left queued is the point
fn current_thread_tasks_left_queued_are_dropped_with_the_runtime() {
    // The slot's deque kept them after block_on returned, and shutdown never
    // drained it: each such task kept the runtime (and its poller's file
    // descriptors) alive through its metadata.
    let _w = Watchdog::new("ct_queued", Duration::from_secs(30));
    let dropped = Arc::new(AtomicBool::new(false));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    let flag = DropFlag(dropped.clone());
    let queued = rt.block_on(async move {
        hioload::spawn(async move {
            let _flag = flag;
        })
    });
    drop(rt);
    assert!(dropped.load(Ordering::SeqCst), "a queued task outlived the runtime");
    let err = futures_lite::future::block_on(queued).unwrap_err();
    assert!(err.is_cancelled());
    #[cfg(target_os = "linux")]
    {
        let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let before = fds();
        for _ in 0..20 {
            let rt = hioload::Runtime::builder().current_thread().build().unwrap();
            drop(rt.block_on(async { hioload::spawn(async {}) }));
            drop(rt);
        }
        assert!(fds() <= before + 2, "runtimes leaked: {before} -> {} fds", fds());
    }
}

#[test]
fn dropping_a_runtime_inside_a_task_does_not_deadlock() {
    let _w = Watchdog::new("drop_inside", Duration::from_secs(30));
    let outer = rt(1);
    let inner = rt(2);
    outer.block_on(async move {
        hioload::spawn(async move { drop(inner) }).await.unwrap();
    });
}

#[test]
fn blocking_pool_grows_then_shrinks_after_keep_alive() {
    let _w = Watchdog::new("blocking_pool", Duration::from_secs(30));
    let rt = hioload::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                hioload::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=4).contains(&peak), "pool ran {peak} jobs at once (bound 4)");
    assert!(
        support::wait_until(Duration::from_secs(5), || rt.metrics().num_blocking_threads() == 0)
    );
}

#[test]
fn an_idle_runtime_uses_no_cpu() {
    let Some(_) = threads_cpu_ns("") else {
        return; // not Linux: no per-thread CPU accounting to read
    };
    let rt =
        hioload::Runtime::builder().worker_threads(2).thread_name("idle-probe").build().unwrap();
    // Let the workers start and park.
    rt.block_on(async {
        for _ in 0..100 {
            hioload::spawn(async {}).await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let before = threads_cpu_ns("idle-probe").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let used = threads_cpu_ns("idle-probe").unwrap() - before;
    // Only this runtime's workers are counted. A spinning worker would burn
    // ~500 ms here; a periodic wake-up a few ms.
    assert!(used < 2_000_000, "idle runtime used {} us of CPU in 500 ms", used / 1_000);
    drop(rt);
}

#[test]
fn a_future_refused_at_shutdown_may_drop_another_runtime_in_its_drop() {
    // The refused future was dropped while `spawn` still borrowed the thread's
    // runtime context: the inner runtime's shutdown, which enters a context to
    // run its own drops, panicked there ("already borrowed"), and its workers
    // were left running.
    let _w = Watchdog::new("refused_drop", Duration::from_secs(30));
    let stopped = Arc::new(AtomicUsize::new(0));
    let inner = {
        let stopped = stopped.clone();
        hioload::Runtime::builder()
            .worker_threads(2)
            .on_thread_stop(move || {
                stopped.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let outer = hioload::Builder::new_current_thread().build().unwrap();
    let handle = outer.handle().clone();
    drop(outer);
    let result = handle.block_on(async move {
        hioload::spawn(async move {
            let _inner = inner;
        })
        .await
    });
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(stopped.load(Ordering::SeqCst), 2, "the inner runtime's workers still run");
}

#[test]
#[allow(clippy::async_yields_async)] // the handle of a task left queued is the point
fn a_current_thread_runtime_shut_down_while_a_thread_drives_it_drops_that_threads_tasks() {
    // The shutdown drained the queues it could see, not the core the driving
    // thread held; that thread then put the task back in the slot, where it
    // kept the runtime (and three fds) alive and its handle never resolved.
    let _w = Watchdog::new("ct_driving_shutdown", Duration::from_secs(30));
    // The runtime dropped inside the driving thread's own future, and dropped
    // from another thread while the driving thread still runs.
    for from_another_thread in [false, true] {
        let dropped = Arc::new(AtomicBool::new(false));
        let rt = hioload::Runtime::builder().current_thread().build().unwrap();
        let (handle, metrics) = (rt.handle().clone(), rt.metrics());
        let flag = DropFlag(dropped.clone());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut rt = Some(rt);
        let dropper = from_another_thread.then(|| {
            let rt = rt.take();
            std::thread::spawn(move || {
                rx.recv().unwrap();
                drop(rt);
            })
        });
        let queued = handle.block_on(async move {
            let queued = hioload::spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await
            });
            match rt.take() {
                Some(rt) => drop(rt),
                None => {
                    tx.send(()).unwrap();
                    // Let the other thread's shutdown finish while this one drives.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            queued
        });
        if let Some(dropper) = dropper {
            dropper.join().unwrap();
        }
        assert!(dropped.load(Ordering::SeqCst), "a task of the driving thread outlived shutdown");
        assert_eq!(metrics.num_alive_tasks(), 0);
        let err = futures_lite::future::block_on(queued).unwrap_err();
        assert!(err.is_cancelled());
    }
}

#[test]
fn a_thread_still_driving_a_shut_down_current_thread_runtime_sleeps() {
    // It kept turning the shut-down driver, which returns at once: 430 ms of
    // CPU in a 500 ms wait (found by a review).
    let Some(_) = threads_cpu_ns("") else {
        return; // not Linux: no per-thread CPU accounting to read
    };
    let _w = Watchdog::new("ct_shut_down_driving", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    let handle = rt.handle().clone();
    let (tx, rx) = futures_channel::oneshot::channel::<()>();
    let driver = std::thread::Builder::new()
        .name("ct-shut-down".into())
        .spawn(move || {
            handle.block_on(async move {
                drop(rt);
                rx.await.unwrap();
            })
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let before = threads_cpu_ns("ct-shut-down").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let used = threads_cpu_ns("ct-shut-down").unwrap() - before;
    tx.send(()).unwrap();
    driver.join().unwrap();
    assert!(used < 30_000_000, "the waiting thread used {} ms of CPU in 300 ms", used / 1_000_000);
}
