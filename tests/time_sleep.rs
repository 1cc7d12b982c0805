//! `hioload::time::sleep` & co. through the public runtime (real clock).

mod support;

use std::time::Duration;

use hioload::time::{sleep, sleep_until, Instant};
use support::Watchdog;

#[test]
fn sub_millisecond_sleeps_are_never_early() {
    let _w = Watchdog::new("sub_millisecond_sleeps_are_never_early", Duration::from_secs(30));
    hioload::block_on(async {
        let mut best = Duration::MAX;
        for i in 0..200u64 {
            let want = Duration::from_micros(100 + i * 7 % 900);
            let start = Instant::now();
            sleep(want).await;
            let took = start.elapsed();
            assert!(took >= want, "early: {took:?} < {want:?}");
            best = best.min(took - want);
        }
        // Best of N against a generous bound (smol-rs/polling tests/precision.rs style).
        assert!(best < Duration::from_micros(500), "best lateness {best:?}");
    });
}

#[test]
fn sleep_until_the_past_completes_at_once() {
    hioload::block_on(async {
        let past = Instant::now() - Duration::from_millis(1);
        let start = std::time::Instant::now();
        sleep_until(past).await;
        sleep(Duration::ZERO).await;
        assert!(start.elapsed() < Duration::from_millis(100));
    });
}

#[test]
fn many_tasks_sleeping_concurrently_all_wake() {
    let _w = Watchdog::new("many_tasks_sleeping_concurrently_all_wake", Duration::from_secs(30));
    hioload::block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                hioload::spawn(async move {
                    let d = Duration::from_micros(i * 31 % 50_000);
                    sleep(d).await;
                    assert!(start.elapsed() >= d);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
}

#[test]
fn dropping_a_sleep_cancels_it_and_the_runtime_stays_idle() {
    hioload::block_on(async {
        for _ in 0..200_000 {
            drop(sleep(Duration::from_secs(10)));
        }
        let mut registered = Vec::new();
        for _ in 0..1_000 {
            let mut s = Box::pin(sleep(Duration::from_secs(10)));
            // Poll once to register, then drop.
            futures_lite::future::poll_once(s.as_mut()).await;
            registered.push(s);
        }
        drop(registered);
        sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn reset_is_the_idle_timeout_pattern() {
    let _w = Watchdog::new("reset_is_the_idle_timeout_pattern", Duration::from_secs(30));
    hioload::block_on(async {
        let start = Instant::now();
        let mut idle = Box::pin(sleep(Duration::from_millis(20)));
        // "Activity" every 5 ms for 30 ms keeps pushing the idle deadline back.
        for _ in 0..6 {
            sleep(Duration::from_millis(5)).await;
            assert!(!idle.is_elapsed());
            idle.as_mut().reset(Instant::now() + Duration::from_millis(20));
        }
        idle.as_mut().await;
        assert!(start.elapsed() >= Duration::from_millis(50));
        // Earlier, after completion. Not elapsed before the new deadline (a
        // loaded machine may pass it before the check: then only the order of
        // the two clock reads is asserted; a 1 ms margin flaked under Wine).
        let deadline = Instant::now() + Duration::from_millis(10);
        idle.as_mut().reset(deadline);
        let elapsed = idle.is_elapsed();
        assert!(!elapsed || Instant::now() >= deadline, "elapsed before its deadline");
        idle.as_mut().await;
        assert!(idle.is_elapsed());
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn sleep_is_send_and_moves_between_workers() {
    let rt = hioload::Runtime::builder().worker_threads(4).build().unwrap();
    rt.block_on(async {
        let s = sleep(Duration::from_millis(2));
        // Created here, awaited (and so registered/fired) on whatever worker runs it.
        hioload::spawn(s).await.unwrap();
    });
}

#[test]
#[should_panic(expected = "must be called from inside a hioload runtime")]
fn sleep_outside_a_runtime_panics() {
    drop(sleep(Duration::from_millis(1)));
}

#[test]
fn timeouts_and_intervals_outside_a_runtime_name_themselves_in_the_panic() {
    // They said `sleep` / `sleep_until`, the helpers they are built on.
    let message = |f: fn()| {
        let err = std::panic::catch_unwind(f).unwrap_err();
        err.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let named = [
        (message(|| drop(hioload::time::timeout(Duration::from_millis(1), async {}))), "timeout`"),
        (message(|| drop(hioload::time::interval(Duration::from_millis(1)))), "interval`"),
        (
            message(|| {
                let at = hioload::time::Instant::now();
                drop(hioload::time::interval_at(at, Duration::from_millis(1)));
            }),
            "interval_at`",
        ),
    ];
    for (msg, name) in named {
        assert!(msg.contains(&format!("hioload::time::{name}")), "{name}: {msg:?}");
    }
}

#[test]
fn polling_a_sleep_after_its_runtime_shut_down_panics_clearly() {
    let rt = hioload::Runtime::new().unwrap();
    // Created inside the runtime, carried out of it (in an Option: not itself a future).
    let s = rt.block_on(async { Some(sleep(Duration::from_secs(3_600))) }).unwrap();
    drop(rt);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures_lite::future::block_on(s);
    }))
    .expect_err("a timer of a dead runtime must not hang");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("shut down"), "{msg}");
}

#[test]
fn far_future_sleeps_do_not_overflow() {
    hioload::block_on(async {
        let s = sleep(Duration::MAX);
        assert!(s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 10));
        let r = hioload::time::timeout(Duration::from_millis(1), s).await;
        assert!(r.is_err());
    });
}

#[test]
fn timer_slack_batches_close_timers_and_leaves_a_lone_one_on_time() {
    let _w = Watchdog::new("timer_slack", Duration::from_secs(30));
    let slack = Duration::from_millis(40);
    let rt = hioload::Runtime::builder().worker_threads(2).timer_slack(slack).build().unwrap();
    rt.block_on(async {
        // Two deadlines 5 ms apart, within the slack: one wake-up at the first
        // deadline + slack fires both, so the first fires after the second's
        // deadline, never more than the slack (and scheduling noise) late.
        // The later one is registered first: the earlier one's registration then
        // finds it within the slack and moves no wake-up earlier. (The other
        // order races: a worker that parks between the two registrations sleeps
        // until the first deadline alone; batching is best effort.)
        let start = Instant::now();
        let (first, second) =
            (start + Duration::from_millis(20), start + Duration::from_millis(25));
        let (fired_first, fired_second) = hioload::spawn(async move {
            let mut late = Box::pin(sleep_until(second));
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(late.as_mut(), cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            sleep_until(first).await;
            let fired_first = Instant::now();
            late.await;
            (fired_first, Instant::now())
        })
        .await
        .unwrap();
        assert!(fired_first >= second, "not batched: fired {:?} after start", fired_first - start);
        assert!(fired_second >= second);
        assert!(fired_first - first < slack + Duration::from_millis(200));

        // Alone, a timer does not wait for the slack: best of a few against
        // half the slack.
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let want = Duration::from_millis(2);
            let start = Instant::now();
            sleep(want).await;
            best = best.min(start.elapsed() - want);
        }
        assert!(best < slack / 2, "a lone timer waited {best:?} with slack {slack:?}");
    });
}

#[test]
fn a_timer_slack_above_one_second_is_refused() {
    let err = hioload::Runtime::builder().timer_slack(Duration::from_secs(2)).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("timer_slack"), "{err}");
}

/// Spawns `n` tasks that each await `first()` (called at spawn time, so a
/// future that must start inside its task is an `async` block), then spin for
/// `spin`; returns the most that were spinning at once.
async fn most_spinning_at_once<F>(n: usize, spin: Duration, first: impl Fn() -> F) -> usize
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (running, most, first) = (running.clone(), most.clone(), first());
            hioload::spawn(async move {
                first.await;
                most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                let start = std::time::Instant::now();
                while start.elapsed() < spin {
                    std::hint::spin_loop();
                }
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    most.load(Ordering::SeqCst)
}

#[test]
fn timer_woken_tasks_that_run_long_are_shared_between_workers() {
    // A worker serves a small batch of fired timers alone (its tasks are
    // usually tiny), but never holds one back behind a long poll: the tasks
    // still queued once one has run wake the other worker.
    let _w = Watchdog::new("timer_woken_tasks_run_long", Duration::from_secs(60));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    let most = rt.block_on(async {
        // Teach both workers that polls are tiny first (they learn at each park).
        for _ in 0..40 {
            let yielders: Vec<_> = (0..2)
                .map(|_| {
                    hioload::spawn(async {
                        for _ in 0..1_000 {
                            hioload::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for yielder in yielders {
                yielder.await.unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_millis(20);
        // The sleep is created in the task (on its worker), not here.
        let first = move || async move { sleep_until(deadline).await };
        most_spinning_at_once(6, Duration::from_millis(30), first).await
    });
    assert_eq!(most, 2, "the second worker never joined in");
}

#[test]
fn a_waker_that_panics_when_its_timer_fires_does_not_take_a_worker_down() {
    // A future may be polled with any waker, a user's own among them; the timer
    // sweep that wakes it runs on a worker, which must survive its panic.
    use std::future::Future;
    use std::task::Context;
    let _w = Watchdog::new("panicking_timer_waker", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let polled = hioload::spawn(async {
            let bad =
                waker_fn::waker_fn(|| panic!("a user's waker panics (expected in this test)"));
            let mut s = Box::pin(sleep(Duration::from_millis(2)));
            assert!(s.as_mut().poll(&mut Context::from_waker(&bad)).is_pending());
            // The timer fires (and its waker panics) while this task sleeps on.
            sleep(Duration::from_millis(30)).await;
            s.await;
            7
        });
        assert_eq!(polled.await.unwrap(), 7);
        // Both workers are still there: two spinning tasks run at once.
        let most = most_spinning_at_once(2, Duration::from_millis(50), || async {}).await;
        assert_eq!(most, 2, "one worker is gone");
    });
}

#[test]
fn a_lone_timer_after_a_cancelled_one_fires_on_time_even_with_a_large_slack() {
    // The request-timeout pattern: arm, cancel, arm a later one. The shard
    // kept the cancelled timer as its earliest and batched the new one with it
    // (woken at cancelled + slack: 710 ms late with a 1 s slack).
    let _w = Watchdog::new("lone_after_cancel", Duration::from_secs(60));
    let rt = hioload::Runtime::builder()
        .worker_threads(1)
        .timer_slack(Duration::from_secs(1))
        .build()
        .unwrap();
    let late = rt
        .block_on(rt.spawn(async {
            {
                let mut armed = std::pin::pin!(sleep(Duration::from_millis(10)));
                assert!(futures_lite::future::poll_once(armed.as_mut()).await.is_none());
            }
            let deadline = Instant::now() + Duration::from_millis(300);
            hioload::time::sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "early");
            now - deadline
        }))
        .unwrap();
    assert!(late < Duration::from_millis(150), "a lone timer fired {late:?} late (slack 1 s)");
}
