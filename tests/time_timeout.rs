//! `hioload::time::timeout` / `timeout_at` through the public runtime.

use std::time::Duration;

use hioload::time::{error::Elapsed, sleep, timeout, timeout_at, Instant};

#[test]
fn a_ready_future_wins_even_with_zero_time() {
    hioload::block_on(async {
        assert_eq!(timeout(Duration::ZERO, async { 5 }).await, Ok(5));
    });
}

#[test]
fn a_slow_future_times_out_not_early() {
    hioload::block_on(async {
        let start = Instant::now();
        let r = timeout(Duration::from_millis(3), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(start.elapsed() >= Duration::from_millis(3));
    });
}

#[test]
fn timeout_at_and_accessors() {
    hioload::block_on(async {
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut t = timeout_at(deadline, sleep(Duration::from_millis(1)));
        assert!(t.get_ref().deadline() > deadline - Duration::from_millis(50));
        assert!(!t.get_mut().is_elapsed());
        assert_eq!(t.await, Ok(()));
        let inner = timeout(Duration::from_secs(1), async { 3 }).into_inner();
        assert_eq!(inner.await, 3);
    });
}

#[test]
fn elapsed_converts_to_io_timed_out() {
    hioload::block_on(async {
        let e: Elapsed =
            timeout(Duration::from_micros(200), std::future::pending::<()>()).await.unwrap_err();
        assert_eq!(e.to_string(), "deadline has elapsed");
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn ten_thousand_timeouts_that_never_fire_are_cheap() {
    hioload::block_on(async {
        let start = std::time::Instant::now();
        for i in 0..10_000u32 {
            let r = timeout(Duration::from_secs(30), hioload::task::yield_now()).await;
            assert!(r.is_ok(), "{i}");
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    });
}
