//! Paused (virtual) time: `Builder::start_paused`, auto-advance, `hioload::testing`.

mod support;

use std::time::Duration;

use hioload::time::{sleep, timeout, Instant};
use support::Watchdog;

fn paused() -> hioload::Runtime {
    hioload::Runtime::builder().start_paused(true).build().unwrap()
}

#[test]
fn an_hour_long_sleep_finishes_at_once_and_exactly() {
    let real = std::time::Instant::now();
    paused().block_on(async {
        let start = Instant::now();
        sleep(Duration::from_secs(3_600)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3_600));
    });
    assert!(real.elapsed() < Duration::from_secs(5), "auto-advance, not a real wait");
}

#[test]
fn auto_advance_visits_deadlines_in_order() {
    paused().block_on(async {
        let start = Instant::now();
        let a = hioload::spawn(async move {
            sleep(Duration::from_millis(30)).await;
            start.elapsed()
        });
        let b = hioload::spawn(async move {
            sleep(Duration::from_micros(700)).await;
            start.elapsed()
        });
        assert_eq!(b.await.unwrap(), Duration::from_micros(700));
        assert_eq!(a.await.unwrap(), Duration::from_millis(30));
    });
}

#[test]
fn timeouts_fire_in_virtual_time() {
    paused().block_on(async {
        let start = Instant::now();
        let r = timeout(Duration::from_secs(30), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    });
}

#[test]
fn pause_advance_resume_on_a_running_runtime() {
    hioload::block_on(async {
        hioload::testing::pause();
        assert!(hioload::testing::is_paused());
        let start = Instant::now();
        let mut nap = Box::pin(sleep(Duration::from_secs(60)));
        futures_lite::future::poll_once(nap.as_mut()).await;
        hioload::testing::advance(Duration::from_secs(59)).await;
        assert!(!nap.is_elapsed());
        hioload::testing::advance(Duration::from_secs(1)).await;
        assert!(nap.is_elapsed());
        nap.await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        hioload::testing::resume();
        assert!(!hioload::testing::is_paused());
    });
}

#[test]
fn no_auto_advance_while_a_blocking_job_runs() {
    paused().block_on(async {
        let start = Instant::now();
        let blocking = hioload::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
        let r = timeout(Duration::from_secs(3_600), blocking).await;
        assert!(r.is_ok(), "the hour-long timeout must not be auto-advanced past the job");
        assert!(start.elapsed() < Duration::from_secs(3_600));
    });
}

#[test]
#[should_panic(expected = "time is not paused")]
fn advance_without_pause_panics() {
    hioload::block_on(hioload::testing::advance(Duration::from_secs(1)));
}

#[test]
fn a_block_on_woken_during_its_last_poll_does_not_stop_auto_advance() {
    // The wake was counted as a busy `block_on` and never uncounted: paused
    // time then never auto-advanced again on that runtime.
    let _w = Watchdog::new("last_poll_wake", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap();
    rt.block_on(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        std::task::Poll::Ready(())
    }));
    rt.block_on(async { hioload::time::sleep(Duration::from_secs(5)).await });
}

#[test]
fn resume_on_a_multi_thread_runtime_lets_a_pending_timer_fire() {
    // The worker waiting in the driver on the paused clock waited with no
    // timeout; `resume` must wake it to wait for the timer in real time.
    let _w = Watchdog::new("resume_pending", Duration::from_secs(60));
    for _ in 0..10 {
        let rt = hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap();
        rt.block_on(async {
            let registered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = registered.clone();
            let sleeper = hioload::spawn(async move {
                let mut nap = Box::pin(sleep(Duration::from_millis(10)));
                assert!(futures_lite::future::poll_once(nap.as_mut()).await.is_none());
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                nap.await;
            });
            while !registered.load(std::sync::atomic::Ordering::SeqCst) {
                hioload::task::yield_now().await;
            }
            // Let the worker that registered park in the driver.
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(5) {
                hioload::task::yield_now().await;
            }
            hioload::testing::resume();
            sleeper.await.unwrap();
        });
    }
}

#[test]
fn auto_advance_never_jumps_past_a_timer_registered_by_a_worker_just_woken() {
    // A worker that found the runtime idle and chose to jump to an hour-long
    // timer must not jump once another worker, woken by a spawn from outside,
    // has read the clock for a 1 ms sleep. Three runtimes side by side, so that
    // the deciding worker gets preempted between its decision and the jump
    // (with the old code 1 run in 30 alone failed, half of them under load).
    let _w = Watchdog::new("jump_past", Duration::from_secs(120));
    let runs: Vec<_> = (0..3).map(|_| std::thread::spawn(jump_past_round)).collect();
    for run in runs {
        run.join().unwrap();
    }
}

/// One runtime: an hour-long timer always pending, 3,000 spawned 1 ms sleeps.
fn jump_past_round() {
    let rt = hioload::Runtime::builder().worker_threads(2).start_paused(true).build().unwrap();
    let handle = rt.handle().clone();
    let _far = rt.spawn(async {
        loop {
            sleep(Duration::from_secs(3600)).await;
        }
    });
    let mut tasks = Vec::new();
    for i in 0..3000u64 {
        tasks.push(handle.spawn(async move {
            let start = Instant::now();
            sleep(Duration::from_millis(1)).await;
            start.elapsed()
        }));
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    for task in tasks {
        let slept = futures_lite::future::block_on(task).unwrap();
        assert_eq!(slept, Duration::from_millis(1), "virtual time jumped past a timer");
    }
}

#[test]
fn a_sleep_advanced_past_before_its_first_poll_is_ready_at_that_poll() {
    let _w = Watchdog::new("elapsed_first_poll", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().worker_threads(1).start_paused(true).build().unwrap();
    rt.block_on(async {
        let mut nap = Box::pin(sleep(Duration::from_millis(10)));
        hioload::testing::advance(Duration::from_millis(20)).await;
        assert!(nap.is_elapsed());
        let polled = futures_lite::future::poll_once(nap.as_mut()).await;
        assert!(polled.is_some(), "is_elapsed() but the first poll was Pending");
    });
}

/// 200 paused sleeps of random length; the ones that ended at another virtual
/// time than their deadline.
async fn chained_sleeps(seed: u64) -> Vec<(Duration, Duration)> {
    let mut inexact = Vec::new();
    let mut x = seed * 7919 + 13;
    for _ in 0..200 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let d = Duration::from_micros(1 + (x >> 33) % 50_000);
        let before = Instant::now();
        sleep(d).await;
        let slept = Instant::now() - before;
        assert!(slept >= d, "early: {d:?} took {slept:?}");
        if slept != d {
            inexact.push((d, slept));
        }
    }
    inexact
}

#[test]
fn auto_advance_with_several_groups_never_jumps_past_a_timer_another_group_fired() {
    // Each group's driver may jump the shared clock. One group's sweep took a
    // timer out of its wheel and woke its task while that worker still counted
    // as parked; the other group's driver saw the runtime idle and jumped to
    // the next deadline before the task read the clock (3 runs in 10; 9 in 10
    // with one group emptied by a resize and tended by its caretaker).
    let _w = Watchdog::new("groups_jump_past", Duration::from_secs(120));
    for resize in [false, true] {
        let rt = hioload::Runtime::builder()
            .worker_threads(2)
            .numa(hioload::topology::Numa::Groups(vec![vec![0], vec![1]]))
            .start_paused(true)
            .build()
            .unwrap();
        let chains: Vec<_> =
            (0..6u64).map(|i| rt.handle().spawn_on((i % 2) as usize, chained_sleeps(i))).collect();
        if resize {
            std::thread::sleep(Duration::from_millis(20));
            rt.resize(1).unwrap();
        }
        for chain in chains {
            let inexact = rt.block_on(chain).unwrap();
            assert!(inexact.is_empty(), "resize {resize}: virtual time jumped: {inexact:?}");
        }
    }
}

const YEAR: Duration = Duration::from_secs(365 * 86_400);

#[test]
fn a_deadline_past_the_timer_horizon_never_fires_early() {
    // Found in review: timers count nanoseconds since the runtime's start in 64
    // bits (~584 years). A 700-year deadline was filed at that horizon, and
    // auto-advance jumped there and fired it 115 years early.
    let _w = Watchdog::new("past_the_horizon", Duration::from_secs(30));
    paused().block_on(async {
        let start = Instant::now();
        let far = hioload::spawn(hioload::time::sleep_until(start + 700 * YEAR));
        // The runtime idles for 200 ms of real time with that sleep its only
        // timer: auto-advance has nowhere to go.
        let (tx, rx) = futures_channel::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let _ = tx.send(());
        });
        rx.await.unwrap();
        assert!(!far.is_finished(), "a 700-year sleep fired after {:?}", start.elapsed());
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Auto-advance goes to the 10-year timeout, not to the horizon.
        let waited = timeout(10 * YEAR, sleep(500 * YEAR)).await;
        assert!(waited.is_err());
        assert_eq!(start.elapsed(), 10 * YEAR);
        // Close to the horizon, short timers still work, and the 700-year
        // sleep still waits.
        for _ in 0..19 {
            hioload::testing::advance(29 * YEAR).await;
        }
        let before = Instant::now();
        sleep(Duration::from_secs(1)).await;
        assert_eq!(before.elapsed(), Duration::from_secs(1));
        assert!(!far.is_finished(), "a 700-year sleep fired after {:?}", start.elapsed());
        far.abort();
    });
}

#[test]
#[should_panic(expected = "paused time cannot go ~584 years or more past the runtime's start")]
fn advancing_past_the_timer_horizon_panics_clearly() {
    // Found in review: past the horizon every new timer was due at once, and
    // an interval loop spun without yielding.
    paused().block_on(async {
        for _ in 0..25 {
            hioload::testing::advance(Duration::MAX).await; // ~30 years each
        }
    });
}
