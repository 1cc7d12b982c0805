//! The park protocol and the auto-advance loop the executor runs on paused time.
#![forbid(unsafe_code)]

use super::*;

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
        let parked = driver.park_timeout(Some(deadline), Some(driver.clock().activity()));
        assert!(matches!(parked, ParkTimeout::Advanced { .. }), "{parked:?}");
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
fn park_timeout_waits_on_real_time_and_advances_paused_time_only_when_idle() {
    let (driver, _) = paused_driver(1);
    let t0 = driver.clock().now();
    let d = t0 + ms(5);
    assert_eq!(driver.park_timeout(Some(d), None), ParkTimeout::Wait(None), "not idle");
    assert_eq!(driver.clock().now(), t0);
    assert_eq!(
        driver.park_timeout(None, Some(driver.clock().activity())),
        ParkTimeout::Wait(None),
        "no timer"
    );
    // A deadline the clock has passed some other way fires at once.
    driver.clock().advance(ms(6)).unwrap();
    assert_eq!(driver.park_timeout(Some(d), None), ParkTimeout::Wait(Some(Duration::ZERO)));
    let t0 = driver.clock().now();
    let d = t0 + ms(5);
    assert_eq!(
        driver.park_timeout(Some(d), Some(driver.clock().activity())),
        ParkTimeout::Advanced { moved: true }
    );
    assert_eq!(driver.clock().now(), d);
    assert_eq!(
        driver.park_timeout(Some(t0), Some(driver.clock().activity())),
        ParkTimeout::Advanced { moved: false },
        "never backwards"
    );
    assert_eq!(driver.clock().now(), d);
    // A thread that became busy after the runtime was found idle stops the jump
    // (it may be about to register an earlier timer).
    let epoch = driver.clock().activity();
    driver.clock().note_activity();
    let later = d + ms(5);
    assert_eq!(driver.park_timeout(Some(later), Some(epoch)), ParkTimeout::Wait(None));
    assert_eq!(driver.clock().now(), d, "no jump once something became busy");
    driver.clock().resume();
    match driver.park_timeout(Some(driver.clock().now() + ms(50)), Some(driver.clock().activity()))
    {
        ParkTimeout::Wait(Some(t)) => assert!(t <= ms(50) && t > ms(40), "{t:?}"),
        other => panic!("running clock must wait, got {other:?}"),
    }
    assert_eq!(driver.park_timeout(None, Some(driver.clock().activity())), ParkTimeout::Wait(None));
}

#[test]
fn a_slack_batches_across_shards_and_unparks_only_when_needed() {
    // Real clock, 20 ms of slack, deadlines an hour away so the clock's motion
    // during the test does not matter.
    let unparks = Arc::new(AtomicUsize::new(0));
    let counter = unparks.clone();
    let unpark = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let driver = TimeDriver::with_slack(Clock::real(), 2, ms(20), unpark);
    let (waker, _) = counting_waker();
    let base = Instant::now() + Duration::from_secs(3600);
    let _shard0 = enter(driver.clone(), 0);
    let mut a = sleep_until(base);
    assert!(poll(&mut a, &waker).is_pending());
    assert_eq!(driver.prepare_park(), Some(base.into_std()), "alone: on time");
    // Another shard, within the slack: no unpark (the sleeper's wake-up serves it
    // well enough), and the next park waits for the window's end.
    let _shard1 = enter(driver.clone(), 1);
    let mut b = sleep_until(base + ms(5));
    assert!(poll(&mut b, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 0);
    driver.finish_park();
    assert_eq!(driver.prepare_park(), Some((base + ms(20)).into_std()), "one wake-up for both");
    // A lone timer well before them needs its own wake-up: unpark.
    let mut c = sleep_until(base - ms(100));
    assert!(poll(&mut c, &waker).is_pending());
    assert_eq!(unparks.load(Ordering::SeqCst), 1);
    driver.finish_park();
    assert_eq!(driver.prepare_park(), Some((base - ms(100)).into_std()));
    driver.finish_park();
}
