//! Driver-level tests: manual wakers, a paused clock, several shards and threads.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::context::enter;
use super::{
    interval, interval_at, sleep, sleep_until, timeout, Clock, Instant, MissedTickBehavior, Sleep,
    TimeDriver,
};

/// A paused-clock driver with `shards` shards, and a counter of its `unpark` calls.
fn paused_driver(shards: usize) -> (Arc<TimeDriver>, Arc<AtomicUsize>) {
    let unparks = Arc::new(AtomicUsize::new(0));
    let counter = unparks.clone();
    let unpark = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (TimeDriver::new(Clock::paused(), shards, unpark), unparks)
}

/// A waker counting its wake-ups.
fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    (
        waker_fn::waker_fn(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
        wakes,
    )
}

/// Polls `fut` once with `waker`.
fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn never_fires_early_and_fires_when_due() {
    let (driver, _) = paused_driver(2);
    let _guard = enter(driver.clone(), 1);
    let start = Instant::now();
    let offsets = [1u64, 15, 16, 17, 500, 1_000, 1_001, 64_000, 2_000_000];
    let mut sleeps: Vec<(Sleep, Waker, Arc<AtomicUsize>)> = offsets
        .iter()
        .map(|&us| {
            let (waker, wakes) = counting_waker();
            (sleep(Duration::from_micros(us)), waker, wakes)
        })
        .collect();
    for (s, w, _) in &mut sleeps {
        assert!(poll(s, w).is_pending());
    }
    // Walk time forward 1 µs at a time around each deadline.
    for &us in &offsets {
        for t in [us - 1, us] {
            driver.clock().advance_to((start + Duration::from_micros(t)).into_std());
            driver.process();
            for (s, w, wakes) in &mut sleeps {
                let due = s.deadline() <= Instant::now();
                assert_eq!(wakes.load(Ordering::SeqCst) > 0, due, "woken iff due at {t} µs");
                assert_eq!(poll(s, w).is_ready(), due, "ready iff due at {t} µs");
            }
        }
    }
    assert_eq!(driver.len(), 0);
}

#[test]
fn fifty_thousand_timers_all_fire() {
    let (driver, _) = paused_driver(4);
    let (waker, wakes) = counting_waker();
    let mut sleeps = Vec::new();
    for i in 0..50_000u64 {
        let _guard = enter(driver.clone(), i as usize);
        let mut s = sleep(Duration::from_micros(1 + i * 37 % 3_000_000));
        assert!(poll(&mut s, &waker).is_pending());
        sleeps.push(s);
    }
    assert_eq!(driver.len(), 50_000);
    driver.clock().advance(Duration::from_secs(1));
    driver.process();
    let fired = wakes.load(Ordering::SeqCst);
    assert!(fired > 0 && fired < 50_000);
    driver.clock().advance(Duration::from_secs(3));
    driver.process();
    assert_eq!(wakes.load(Ordering::SeqCst), 50_000);
    assert!(sleeps.iter_mut().all(|s| poll(s, &waker).is_ready()));
    assert_eq!(driver.len(), 0);
    assert_eq!(driver.next_deadline(), None);
}

#[test]
fn two_hundred_thousand_register_and_cancel_are_cheap() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, _) = counting_waker();
    let started = std::time::Instant::now();
    for i in 0..200_000u64 {
        let mut s = sleep(Duration::from_micros(100 + i % 5_000));
        assert!(poll(&mut s, &waker).is_pending());
    }
    assert_eq!(driver.len(), 0, "dropping a Sleep cancels it");
    // Generous (debug build, shared CI machine); a few tens of ms in release.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn cancel_and_fire_from_other_threads() {
    let (driver, _) = paused_driver(2);
    let (waker, wakes) = counting_waker();
    let sleeps: Vec<Sleep> = {
        let _guard = enter(driver.clone(), 0);
        (0..1_000)
            .map(|i| {
                let mut s = sleep(Duration::from_micros(10 + i));
                assert!(poll(&mut s, &waker).is_pending());
                s
            })
            .collect()
    };
    // Half are dropped on one thread while another thread fires the rest.
    let (keep, cancel): (Vec<_>, Vec<_>) =
        sleeps.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    driver.clock().advance(ms(5));
    let canceller = std::thread::spawn(move || drop(cancel));
    let d = driver.clone();
    let firer = std::thread::spawn(move || d.process());
    canceller.join().unwrap();
    firer.join().unwrap();
    driver.process();
    assert_eq!(driver.len(), 0);
    let mut keep: Vec<Sleep> = keep.into_iter().map(|(_, s)| s).collect();
    assert!(wakes.load(Ordering::SeqCst) >= keep.len());
    std::thread::spawn(move || assert!(keep.iter_mut().all(|s| poll(s, &waker).is_ready())))
        .join()
        .unwrap();
}

#[test]
fn reset_moves_the_deadline_both_ways() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, wakes) = counting_waker();
    let start = Instant::now();
    let mut s = sleep(ms(10));
    assert!(poll(&mut s, &waker).is_pending());
    // Earlier.
    Pin::new(&mut s).reset(start + ms(1));
    assert_eq!(s.deadline(), start + ms(1));
    driver.clock().advance(ms(1));
    driver.process();
    assert_eq!(wakes.load(Ordering::SeqCst), 1, "the old waker is kept across reset");
    assert!(poll(&mut s, &waker).is_ready());
    // Later, after completion: pending again, and not at the old 10 ms.
    Pin::new(&mut s).reset(start + ms(20));
    assert!(!s.is_elapsed());
    assert!(poll(&mut s, &waker).is_pending());
    driver.clock().advance(ms(9));
    driver.process();
    assert!(poll(&mut s, &waker).is_pending());
    // Later while registered.
    Pin::new(&mut s).reset(start + ms(30));
    driver.clock().advance(ms(10));
    driver.process();
    assert!(poll(&mut s, &waker).is_pending(), "not at the replaced 20 ms deadline");
    assert_eq!(driver.len(), 1, "reset does not leave the old entry behind");
    driver.clock().advance(ms(10));
    driver.process();
    assert!(s.is_elapsed());
    assert!(poll(&mut s, &waker).is_ready());
    // Into the past: completes, and the registered waker is told.
    let mut t = sleep(ms(5));
    assert!(poll(&mut t, &waker).is_pending());
    let before = wakes.load(Ordering::SeqCst);
    Pin::new(&mut t).reset(start);
    assert_eq!(wakes.load(Ordering::SeqCst), before + 1);
    assert!(poll(&mut t, &waker).is_ready());
    assert_eq!(driver.len(), 0);
}

#[test]
fn shutdown_wakes_everything_and_later_polls_panic_clearly() {
    let (driver, _) = paused_driver(3);
    let (waker, wakes) = counting_waker();
    let mut sleeps: Vec<Sleep> = (0..30)
        .map(|i| {
            let _guard = enter(driver.clone(), i);
            let mut s = sleep(Duration::from_secs(1 + i as u64));
            assert!(poll(&mut s, &waker).is_pending());
            s
        })
        .collect();
    driver.shutdown();
    assert_eq!(wakes.load(Ordering::SeqCst), 30);
    assert_eq!(driver.len(), 0);
    let err = catch_unwind(AssertUnwindSafe(|| poll(&mut sleeps[0], &waker))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("runtime") && msg.contains("shut down"), "{msg}");
    drop(sleeps); // dropping after shutdown is fine
    let _guard = enter(driver.clone(), 0);
    let mut late = sleep(ms(1));
    assert!(catch_unwind(AssertUnwindSafe(|| poll(&mut late, &waker))).is_err());
}

#[test]
fn sleep_outside_a_runtime_panics_clearly() {
    let err = catch_unwind(|| sleep(ms(1))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("must be called from inside a hioload runtime"), "{msg}");
}

#[test]
fn far_future_deadlines_saturate() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, _) = counting_waker();
    let mut forever = sleep(Duration::MAX);
    assert!(forever.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 20));
    assert!(poll(&mut forever, &waker).is_pending());
    let far = Instant::now().checked_add(Duration::from_secs(86_400 * 365 * 1_000));
    let mut millennium = far.map(sleep_until);
    if let Some(m) = &mut millennium {
        assert!(poll(m, &waker).is_pending());
    }
    driver.clock().advance(Duration::from_secs(86_400 * 365));
    driver.process();
    assert!(poll(&mut forever, &waker).is_pending());
    assert!(driver.next_deadline().is_some());
}

#[test]
fn registration_unparks_only_for_an_earlier_deadline() {
    let (driver, unparks) = paused_driver(2);
    let (waker, _) = counting_waker();
    let _guard = enter(driver.clone(), 0);
    let mut a = sleep(ms(10));
    assert!(poll(&mut a, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 0, "nobody parked");
    let parked_until = driver.prepare_park();
    assert_eq!(parked_until, Some(a.deadline().into_std()), "level-0/1 deadline is exact");
    let mut later = sleep(ms(20));
    assert!(poll(&mut later, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 0, "a later deadline does not re-arm");
    let _other_shard = enter(driver.clone(), 1);
    let mut earlier = sleep(ms(5));
    assert!(poll(&mut earlier, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 1, "an earlier one does, from any shard");
    driver.finish_park();
    let mut again = sleep(ms(1));
    assert!(poll(&mut again, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 1, "not parked any more");
    // Parked with no timers: any registration unparks.
    drop((a, later, earlier, again));
    assert_eq!(driver.prepare_park(), None);
    let mut any = sleep(Duration::from_secs(3600));
    assert!(poll(&mut any, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 2);
    driver.finish_park();
}

#[test]
fn auto_advance_loop_reaches_every_deadline_in_order() {
    let (driver, _) = paused_driver(2);
    let _guard = enter(driver.clone(), 0);
    let start = Instant::now();
    let (waker, _) = counting_waker();
    let offsets =
        [ms(3), Duration::from_secs(2), Duration::from_secs(3_600), Duration::from_micros(7)];
    let mut sleeps: Vec<Sleep> = offsets.iter().map(|&d| sleep(d)).collect();
    for s in &mut sleeps {
        assert!(poll(s, &waker).is_pending());
    }
    // The executor's auto-advance loop, with nothing else to run.
    let mut done = Vec::new();
    let mut steps = 0;
    while let Some(deadline) = driver.prepare_park() {
        steps += 1;
        assert!(driver.clock().advance_to(deadline));
        driver.finish_park();
        driver.process();
        for (i, s) in sleeps.iter_mut().enumerate() {
            if !done.contains(&i) && poll(s, &waker).is_ready() {
                assert_eq!(Instant::now(), s.deadline(), "virtual time lands on the deadline");
                done.push(i);
            }
        }
    }
    assert_eq!(done, vec![3, 0, 1, 2]);
    assert!(steps < 40, "a few cascade steps per timer, not a spin ({steps})");
    assert_eq!(Instant::now() - start, Duration::from_secs(3_600));
}

/// Polls `interval` and returns the tick's offset from `start` if it is ready.
fn tick_at(iv: &mut super::Interval, start: Instant, waker: &Waker) -> Option<Duration> {
    match iv.poll_tick(&mut Context::from_waker(waker)) {
        Poll::Ready(t) => Some(t - start),
        Poll::Pending => None,
    }
}

#[test]
fn interval_missed_tick_behaviors_match_tokio() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, _) = counting_waker();
    // Period 50 ms; the consumer is away from 50 to 170 ms (ticks 100 and 150 missed),
    // then polls every 10 ms until 300 ms. Entries: (seen at, tick scheduled for), ms.
    for (behavior, expected) in [
        (
            MissedTickBehavior::Burst,
            vec![(170, 100), (170, 150), (200, 200), (250, 250), (300, 300)],
        ),
        (MissedTickBehavior::Delay, vec![(170, 100), (220, 220), (270, 270)]),
        (MissedTickBehavior::Skip, vec![(170, 100), (200, 200), (250, 250), (300, 300)]),
    ] {
        let start = Instant::now();
        let mut iv = interval(ms(50));
        iv.set_missed_tick_behavior(behavior);
        assert_eq!(iv.missed_tick_behavior(), behavior);
        assert_eq!(tick_at(&mut iv, start, &waker), Some(Duration::ZERO), "first tick at once");
        assert_eq!(tick_at(&mut iv, start, &waker), None);
        driver.clock().advance(ms(50));
        driver.process();
        assert_eq!(tick_at(&mut iv, start, &waker), Some(ms(50)));
        driver.clock().advance(ms(120));
        let mut seen = Vec::new();
        loop {
            driver.process();
            let now = (Instant::now() - start).as_millis() as u64;
            while let Some(tick) = tick_at(&mut iv, start, &waker) {
                seen.push((now, tick.as_millis() as u64));
            }
            if now >= 300 {
                break;
            }
            driver.clock().advance(ms(10));
        }
        assert_eq!(seen, expected, "{behavior:?}");
        assert_eq!(iv.period(), ms(50));
    }
}

#[test]
fn interval_zero_period_panics_and_interval_at_starts_later() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let err = catch_unwind(|| interval(Duration::ZERO)).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .copied()
        .map(String::from)
        .unwrap_or_else(|| err.downcast_ref::<String>().cloned().unwrap_or_default());
    assert!(msg.contains("`period` must be non-zero"), "{msg}");
    let (waker, _) = counting_waker();
    let start = Instant::now();
    let mut iv = interval_at(start + ms(5), ms(1));
    assert_eq!(tick_at(&mut iv, start, &waker), None);
    driver.clock().advance(ms(5));
    driver.process();
    assert_eq!(tick_at(&mut iv, start, &waker), Some(ms(5)));
    iv.reset();
    assert_eq!(tick_at(&mut iv, start, &waker), None);
    iv.reset_immediately();
    assert_eq!(tick_at(&mut iv, start, &waker), Some(ms(5)));
}

#[test]
fn timeout_polls_the_future_first_and_elapses() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, _) = counting_waker();
    let mut ready = timeout(Duration::ZERO, std::future::ready(7));
    assert_eq!(poll(&mut ready, &waker), Poll::Ready(Ok(7)));
    assert_eq!(driver.len(), 0, "no timer registered for a ready future");
    let mut slow = timeout(ms(2), std::future::pending::<()>());
    assert!(poll(&mut slow, &waker).is_pending());
    assert_eq!(driver.len(), 1);
    driver.clock().advance(ms(2));
    driver.process();
    let err = match poll(&mut slow, &waker) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected Elapsed, got {other:?}"),
    };
    assert_eq!(err.to_string(), "deadline has elapsed");
    assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
    let _ = slow.get_ref();
    assert!(poll(slow.get_mut(), &waker).is_pending());
    let _inner: std::future::Pending<()> = slow.into_inner();
}

#[test]
fn testing_helpers_drive_paused_time() {
    let driver = TimeDriver::new(Clock::real(), 1, Arc::new(|| {}));
    let _guard = enter(driver.clone(), 0);
    futures_lite::future::block_on(async {
        assert!(!crate::testing::is_paused());
        crate::testing::pause();
        let start = Instant::now();
        let mut nap = sleep(Duration::from_secs(60));
        let (waker, wakes) = counting_waker();
        assert!(poll(&mut nap, &waker).is_pending());
        crate::testing::advance(Duration::from_secs(59)).await;
        assert!(!nap.is_elapsed());
        crate::testing::advance(Duration::from_secs(1)).await;
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "advance fires the due timers");
        assert!(nap.is_elapsed());
        nap.await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        crate::testing::resume();
        assert!(!crate::testing::is_paused());
    });
    let err = catch_unwind(|| futures_lite::future::block_on(crate::testing::advance(ms(1))));
    assert!(err.is_err(), "advance while not paused panics");
}

#[test]
fn park_protocol_never_misses_an_earlier_registration() {
    use std::sync::atomic::{AtomicBool, AtomicU64};
    // The registrar publishes, after each registration returns, the (ever smaller)
    // deadline it registered; the parker, after `prepare_park` returned D, checks that
    // any published deadline earlier than D came with an unpark (sticky flag).
    let notified = Arc::new(AtomicBool::new(false));
    let flag = notified.clone();
    let unpark = Arc::new(move || flag.store(true, Ordering::SeqCst));
    let driver = TimeDriver::new(Clock::paused(), 2, unpark);
    const N: u64 = 20_000;
    let published = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let registrar = {
        let (driver, published, stop) = (driver.clone(), published.clone(), stop.clone());
        std::thread::spawn(move || {
            let _guard = enter(driver.clone(), 1);
            let start = Instant::now();
            let (waker, _) = counting_waker();
            let mut keep = Vec::with_capacity(N as usize);
            for i in 0..N {
                let mut s = sleep_until(start + Duration::from_micros(10 * (N - i)));
                assert!(poll(&mut s, &waker).is_pending());
                published.store(driver.clock().to_nanos(s.deadline().into_std()), Ordering::SeqCst);
                keep.push(s);
            }
            stop.store(true, Ordering::SeqCst);
            keep
        })
    };
    let mut rounds = 0u64;
    while !stop.load(Ordering::SeqCst) {
        rounds += 1;
        let parked_until = driver.prepare_park().map(|d| driver.clock().to_nanos(d));
        let earliest_done = published.load(Ordering::SeqCst);
        if earliest_done < parked_until.unwrap_or(u64::MAX) {
            assert!(notified.load(Ordering::SeqCst), "round {rounds}: missed a registration");
        }
        driver.finish_park();
        notified.store(false, Ordering::SeqCst);
    }
    let keep = registrar.join().unwrap();
    assert_eq!(driver.len(), keep.len());
}

#[test]
fn public_types_are_send_sync_and_sleep_is_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<Sleep>();
    send_sync::<super::Timeout<std::future::Pending<()>>>();
    send_sync::<super::Interval>();
    send_sync::<Instant>();
    send_sync::<super::error::Elapsed>();
    send_sync::<MissedTickBehavior>();
    send_sync::<TimeDriver>();
    unpin::<Sleep>();
    unpin::<super::Interval>();
}

#[test]
fn concurrent_register_reset_cancel_while_another_thread_fires() {
    let (driver, _) = paused_driver(4);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let firer = {
        let (driver, stop) = (driver.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                driver.clock().advance(Duration::from_micros(7));
                driver.process();
            }
        })
    };
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let driver = driver.clone();
            std::thread::spawn(move || {
                let _guard = enter(driver.clone(), t as usize);
                let (waker, _) = counting_waker();
                let mut seed = t + 1;
                let mut next = move |n: u64| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % n
                };
                let mut live: Vec<Sleep> = Vec::new();
                for _ in 0..5_000 {
                    match next(4) {
                        0 | 1 => {
                            let mut s = sleep(Duration::from_micros(next(2_000)));
                            let _ = poll(&mut s, &waker);
                            live.push(s);
                        }
                        2 if !live.is_empty() => {
                            let i = next(live.len() as u64) as usize;
                            let now = Instant::now();
                            Pin::new(&mut live[i]).reset(now + Duration::from_micros(next(2_000)));
                        }
                        _ if !live.is_empty() => {
                            let i = next(live.len() as u64) as usize;
                            drop(live.swap_remove(i));
                        }
                        _ => {}
                    }
                    // Whatever completes must not be early.
                    live.retain_mut(|s| match poll(s, &waker) {
                        Poll::Ready(()) => {
                            assert!(s.deadline() <= Instant::now(), "fired early");
                            false
                        }
                        Poll::Pending => true,
                    });
                }
                live
            })
        })
        .collect();
    let mut remaining: Vec<Sleep> =
        workers.into_iter().flat_map(|w| w.join().expect("worker panicked")).collect();
    stop.store(true, Ordering::SeqCst);
    firer.join().unwrap();
    assert!(driver.len() <= remaining.len(), "cancelled timers left behind");
    driver.clock().advance(Duration::from_secs(1));
    driver.process();
    let (waker, _) = counting_waker();
    assert!(remaining.iter_mut().all(|s| poll(s, &waker).is_ready()));
    drop(remaining);
    assert_eq!(driver.len(), 0);
}
