//! Spawning and joining tasks through the public API.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{rt, wait_until, Watchdog};

#[test]
fn spawn_from_inside_a_task_and_join() {
    let _w = Watchdog::new("spawn_from_inside", Duration::from_secs(30));
    let rt = rt(2);
    let out = rt.block_on(async {
        hioload::spawn(async {
            let inner = hioload::spawn(async { 40 });
            inner.await.unwrap() + 2
        })
        .await
        .unwrap()
    });
    assert_eq!(out, 42);
}

#[test]
fn spawn_from_outside_through_runtime_and_handle() {
    let _w = Watchdog::new("spawn_from_outside", Duration::from_secs(30));
    let rt = rt(2);
    let a = rt.spawn(async { 1 });
    let handle = rt.handle().clone();
    let b = std::thread::spawn(move || handle.spawn(async { 2 })).join().unwrap();
    assert_eq!(rt.block_on(async { a.await.unwrap() + b.await.unwrap() }), 3);
}

#[test]
fn dropping_the_join_handle_detaches_the_task() {
    let _w = Watchdog::new("detach", Duration::from_secs(30));
    let rt = rt(2);
    let ran = Arc::new(AtomicBool::new(false));
    let (tx, rx) = futures_channel::oneshot::channel::<()>();
    let flag = ran.clone();
    drop(rt.spawn(async move {
        rx.await.unwrap();
        flag.store(true, Ordering::SeqCst);
    }));
    tx.send(()).unwrap();
    assert!(wait_until(Duration::from_secs(10), || ran.load(Ordering::SeqCst)));
}

#[test]
fn hundred_thousand_tasks_all_complete() {
    let _w = Watchdog::new("100k", Duration::from_secs(60));
    let rt = rt(2);
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    rt.block_on(async move {
        let handles: Vec<_> = (0..100_000)
            .map(|i| {
                let c = c.clone();
                hioload::spawn(async move {
                    c.fetch_add(1, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap() as u64;
        }
        assert_eq!(sum, (0..100_000u64).sum());
    });
    assert_eq!(count.load(Ordering::SeqCst), 100_000);
    assert!(wait_until(Duration::from_secs(5), || rt.metrics().num_alive_tasks() == 0));
}

#[test]
fn handle_current_inside_and_try_current_outside() {
    let rt = rt(1);
    assert!(hioload::Handle::try_current().is_err());
    let inside = rt.block_on(async {
        let h = hioload::Handle::current();
        h.spawn(async { 7 }).await.unwrap()
    });
    assert_eq!(inside, 7);
    let in_task = rt.block_on(rt.spawn(async { hioload::Handle::try_current().is_ok() })).unwrap();
    assert!(in_task);
}

#[test]
fn spawn_outside_a_runtime_panics_saying_so() {
    let err = std::panic::catch_unwind(|| drop(hioload::spawn(async {}))).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.downcast_ref::<String>().cloned().unwrap_or_default());
    assert!(msg.contains("outside a runtime"), "{msg}");
}

#[test]
fn block_on_inside_a_runtime_panics_clearly() {
    let rt = rt(1);
    let result = rt.block_on(async {
        hioload::spawn(async { std::panic::catch_unwind(|| hioload::block_on(async {})).is_err() })
            .await
    });
    assert!(result.unwrap(), "nested block_on must panic");
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { rt.block_on(async {}) })
    }));
    let err = nested.unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default()
        + err.downcast_ref::<&str>().copied().unwrap_or("");
    assert!(msg.contains("within a runtime"), "{msg}");
}

#[test]
fn yield_now_lets_other_tasks_run() {
    let _w = Watchdog::new("yield_now", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    let seen = rt.block_on(async move {
        hioload::spawn(async move {
            let setter = hioload::spawn(async move { f2.store(true, Ordering::SeqCst) });
            // On one worker, the setter can only run if this task yields.
            let mut spins = 0;
            while !flag.load(Ordering::SeqCst) && spins < 1000 {
                hioload::task::yield_now().await;
                spins += 1;
            }
            setter.await.unwrap();
            spins < 1000
        })
        .await
        .unwrap()
    });
    assert!(seen);
}

#[test]
fn a_self_waking_task_does_not_starve_others() {
    let _w = Watchdog::new("fairness", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(async {
        hioload::spawn(async {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            // A busy task that never finishes by itself: it keeps yielding.
            let spinner = hioload::spawn(async move {
                while !s.load(Ordering::SeqCst) {
                    hioload::task::yield_now().await;
                }
            });
            // Ping-pong between two tasks (LIFO slot) and a remote spawn must all progress.
            let remote = std::thread::spawn({
                let h = hioload::Handle::current();
                move || h.spawn(async { 5 })
            })
            .join()
            .unwrap();
            assert_eq!(remote.await.unwrap(), 5);
            for _ in 0..100 {
                let (tx, rx) = futures_channel::oneshot::channel();
                drop(hioload::spawn(async move { tx.send(1).unwrap() }));
                assert_eq!(rx.await.unwrap(), 1);
            }
            stop.store(true, Ordering::SeqCst);
            spinner.await.unwrap();
        })
        .await
        .unwrap()
    });
}
