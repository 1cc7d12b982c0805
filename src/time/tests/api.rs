//! The public API on a paused clock: `Interval`, `Timeout`, `hioload::testing`, auto traits.
#![forbid(unsafe_code)]

use super::*;

/// Polls `interval` and returns the tick's offset from `start` if it is ready.
fn tick_at(iv: &mut crate::time::Interval, start: Instant, waker: &Waker) -> Option<Duration> {
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
        driver.clock().advance(ms(50)).unwrap();
        driver.process();
        assert_eq!(tick_at(&mut iv, start, &waker), Some(ms(50)));
        driver.clock().advance(ms(120)).unwrap();
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
            driver.clock().advance(ms(10)).unwrap();
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
    driver.clock().advance(ms(5)).unwrap();
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
    driver.clock().advance(ms(2)).unwrap();
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
fn public_types_are_send_sync_and_sleep_is_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<Sleep>();
    send_sync::<crate::time::Timeout<std::future::Pending<()>>>();
    send_sync::<crate::time::Interval>();
    send_sync::<Instant>();
    send_sync::<crate::time::error::Elapsed>();
    send_sync::<MissedTickBehavior>();
    send_sync::<TimeDriver>();
    unpin::<Sleep>();
    unpin::<crate::time::Interval>();
}
