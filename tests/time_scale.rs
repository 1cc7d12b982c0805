//! Timers at scale, across workers, cancelled by abort, and deterministic under
//! paused time.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hioload::time::{sleep, sleep_until, Instant};
use support::Watchdog;

#[test]
fn fifty_thousand_concurrent_timers_all_fire_never_early() {
    let _w = Watchdog::new("50k_timers", Duration::from_secs(60));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    let early = Arc::new(AtomicUsize::new(0));
    let fired = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..50_000u64)
            .map(|i| {
                let (early, fired) = (early.clone(), fired.clone());
                hioload::spawn(async move {
                    let deadline = start + Duration::from_micros(i % 50_000);
                    sleep_until(deadline).await;
                    if Instant::now() < deadline {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                    fired.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(fired.load(Ordering::SeqCst), 50_000);
    assert_eq!(early.load(Ordering::SeqCst), 0);
}

#[test]
fn two_hundred_thousand_register_and_cancel() {
    let _w = Watchdog::new("200k_cancel", Duration::from_secs(60));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                hioload::spawn(async {
                    for i in 0..50_000u64 {
                        let mut s = Box::pin(sleep(Duration::from_secs(10 + i % 100)));
                        // Register (first poll), then drop (cancel).
                        assert!(futures_lite::future::poll_once(s.as_mut()).await.is_none());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn aborting_a_sleeping_task_cancels_its_timer() {
    let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    let handle = rt.spawn(async { sleep(Duration::from_secs(3600)).await });
    std::thread::sleep(Duration::from_millis(20));
    handle.abort();
    assert!(rt.block_on(handle).unwrap_err().is_cancelled());
    // A delayed spawn aborted before its deadline never runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let delayed = rt.handle().spawn_after(Duration::from_millis(30), async move {
        r.fetch_add(1, Ordering::SeqCst);
    });
    delayed.abort();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(rt.block_on(delayed).unwrap_err().is_cancelled());
}

#[test]
fn a_timer_registered_on_one_worker_is_reset_and_fired_from_another() {
    let _w = Watchdog::new("cross_worker_timer", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        for _ in 0..200 {
            let mut s = Box::pin(sleep(Duration::from_secs(60)));
            assert!(futures_lite::future::poll_once(s.as_mut()).await.is_none());
            // Move the registered timer to another task (maybe another worker),
            // pull its deadline in, and wait there.
            let h = hioload::spawn(async move {
                s.as_mut().reset(Instant::now() + Duration::from_micros(200));
                s.await;
            });
            h.await.unwrap();
        }
    });
}

#[test]
fn reset_moves_the_deadline_both_ways() {
    let rt = hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let mut s = Box::pin(sleep(Duration::from_secs(10)));
        s.as_mut().reset(start + Duration::from_secs(20));
        s.as_mut().await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        let start = Instant::now();
        s.as_mut().reset(start + Duration::from_secs(30));
        s.as_mut().reset(start + Duration::from_secs(5));
        s.as_mut().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    });
}

/// Runs a pseudo-random workload of sleeping tasks under paused time and
/// returns the order (and virtual times) in which they finished.
fn trace(current_thread: bool, seed: u64) -> Vec<(u64, u64)> {
    let mut builder = if current_thread {
        hioload::Builder::new_current_thread()
    } else {
        hioload::Runtime::builder()
    };
    let rt = builder.worker_threads(2).start_paused(true).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on({
        let log = log.clone();
        async move {
            let start = Instant::now();
            let mut x = seed;
            let handles: Vec<_> = (0..200u64)
                .map(|id| {
                    // xorshift: distinct pseudo-random delays per task
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let delays = [x % 1_000, (x >> 10) % 1_000, (x >> 20) % 1_000];
                    let log = log.clone();
                    hioload::spawn(async move {
                        for (step, d) in delays.iter().enumerate() {
                            // Distinct per (task, step), so no two deadlines tie.
                            sleep(
                                Duration::from_millis(*d)
                                    + Duration::from_nanos(id * 3 + step as u64),
                            )
                            .await;
                        }
                        let at = start.elapsed().as_nanos() as u64;
                        log.lock().unwrap().push((id, at));
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    let log = log.lock().unwrap().clone();
    log
}

#[test]
fn paused_time_gives_the_same_trace_twice_on_both_flavours() {
    let _w = Watchdog::new("deterministic_trace", Duration::from_secs(60));
    for current_thread in [true, false] {
        let a = trace(current_thread, 0x9E37_79B9);
        let b = trace(current_thread, 0x9E37_79B9);
        assert_eq!(a.len(), 200);
        assert_eq!(a, b, "current_thread={current_thread}");
    }
}

#[test]
fn timers_after_shutdown_fail_clearly_not_hang() {
    let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    // Spawning onto a shut-down runtime reports cancellation at once.
    let h = handle.spawn(async { sleep(Duration::from_millis(1)).await });
    assert!(futures_lite::future::block_on(h).unwrap_err().is_cancelled());
    // A sleep polled outside any runtime panics with a clear message.
    let err = std::panic::catch_unwind(|| {
        futures_lite::future::block_on(sleep(Duration::from_millis(1)));
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default()
        + err.downcast_ref::<&str>().copied().unwrap_or("");
    assert!(msg.contains("runtime"), "{msg}");
}

#[test]
fn spawn_after_counts_the_delay_from_the_call() {
    // The delay used to start at the task's first poll: a busy worker added
    // its queueing time to it.
    let _w = Watchdog::new("spawn_after_from_call", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(1).build().unwrap();
    let (busy, blocked) = std::sync::mpsc::channel();
    drop(rt.spawn(async move {
        busy.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200)); // holds the only worker
    }));
    blocked.recv().unwrap();
    let start = std::time::Instant::now();
    let delayed =
        rt.handle().spawn_after(Duration::from_millis(100), async { std::time::Instant::now() });
    let ran = rt.block_on(delayed).unwrap().duration_since(start);
    assert!(ran >= Duration::from_millis(100), "early: {ran:?}");
    assert!(ran < Duration::from_millis(280), "{ran:?}: the delay ran from the first poll");
}
