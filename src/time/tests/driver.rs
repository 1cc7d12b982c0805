//! The driver with manual wakers on a paused clock: firing, cancel, reset, shutdown.
#![forbid(unsafe_code)]

use super::*;

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
    driver.clock().advance(Duration::from_secs(1)).unwrap();
    driver.process();
    let fired = wakes.load(Ordering::SeqCst);
    assert!(fired > 0 && fired < 50_000);
    driver.clock().advance(Duration::from_secs(3)).unwrap();
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
    driver.clock().advance(ms(5)).unwrap();
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
fn a_sleep_polled_by_another_task_wakes_that_task_only() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    let mut s = sleep(ms(1));
    assert!(poll(&mut s, &first).is_pending());
    assert!(poll(&mut s, &first).is_pending(), "a re-poll by the same task");
    assert!(poll(&mut s, &second).is_pending(), "the sleep moved to another task");
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    assert_eq!(first_wakes.load(Ordering::SeqCst), 0, "the first task no longer waits");
    assert_eq!(second_wakes.load(Ordering::SeqCst), 1);
    assert!(poll(&mut s, &second).is_ready());
}

#[test]
fn a_sleep_reset_after_firing_wakes_the_task_that_polls_it_next() {
    let (driver, _) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    let mut s = sleep(ms(1));
    assert!(poll(&mut s, &first).is_pending());
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    assert_eq!(first_wakes.load(Ordering::SeqCst), 1);
    // Re-armed with no waker in the wheel: the next poll files its own.
    Pin::new(&mut s).reset(Instant::now() + ms(1));
    assert!(poll(&mut s, &second).is_pending());
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    assert_eq!(first_wakes.load(Ordering::SeqCst), 1);
    assert_eq!(second_wakes.load(Ordering::SeqCst), 1);
    assert!(poll(&mut s, &second).is_ready());
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
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    assert_eq!(wakes.load(Ordering::SeqCst), 1, "the old waker is kept across reset");
    assert!(poll(&mut s, &waker).is_ready());
    // Later, after completion: pending again, and not at the old 10 ms.
    Pin::new(&mut s).reset(start + ms(20));
    assert!(!s.is_elapsed());
    assert!(poll(&mut s, &waker).is_pending());
    driver.clock().advance(ms(9)).unwrap();
    driver.process();
    assert!(poll(&mut s, &waker).is_pending());
    // Later while registered.
    Pin::new(&mut s).reset(start + ms(30));
    driver.clock().advance(ms(10)).unwrap();
    driver.process();
    assert!(poll(&mut s, &waker).is_pending(), "not at the replaced 20 ms deadline");
    assert_eq!(driver.len(), 1, "reset does not leave the old entry behind");
    driver.clock().advance(ms(10)).unwrap();
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
    driver.clock().advance(Duration::from_secs(86_400 * 365)).unwrap();
    driver.process();
    assert!(poll(&mut forever, &waker).is_pending());
    assert!(driver.next_deadline().is_some());
}

#[test]
fn concurrent_register_reset_cancel_while_another_thread_fires() {
    let (driver, _) = paused_driver(4);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let firer = {
        let (driver, stop) = (driver.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                driver.clock().advance(Duration::from_micros(7)).unwrap();
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
                // Under miri (`.ci/miri`: the wheel's pointers to owners' state) fewer.
                for _ in 0..if cfg!(miri) { 150 } else { 5_000 } {
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
    driver.clock().advance(Duration::from_secs(1)).unwrap();
    driver.process();
    let (waker, _) = counting_waker();
    assert!(remaining.iter_mut().all(|s| poll(s, &waker).is_ready()));
    drop(remaining);
    assert_eq!(driver.len(), 0);
}

#[test]
fn extending_a_pending_timer_takes_no_lock_and_never_wakes_early() {
    let (driver, unparks) = paused_driver(1);
    let _guard = enter(driver.clone(), 0);
    let (waker, wakes) = counting_waker();
    let start = Instant::now();
    let mut idle = sleep(ms(10));
    assert!(poll(&mut idle, &waker).is_pending());
    // Activity every millisecond pushes the idle deadline 10 ms ahead.
    for t in 1..=30 {
        driver.clock().advance(ms(1)).unwrap();
        driver.process();
        Pin::new(&mut idle).reset(start + ms(t + 10));
        assert_eq!(wakes.load(Ordering::SeqCst), 0, "re-filed, not fired, at {t} ms");
        assert!(poll(&mut idle, &waker).is_pending());
        assert_eq!(driver.len(), 1);
    }
    assert_eq!(unparks.load(Ordering::SeqCst), 0);
    driver.clock().advance(ms(9)).unwrap();
    driver.process();
    assert!(poll(&mut idle, &waker).is_pending(), "not before 40 ms");
    driver.clock().advance(ms(1)).unwrap();
    driver.process();
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    assert!(poll(&mut idle, &waker).is_ready());
    assert_eq!(Instant::now() - start, ms(40));
    assert_eq!(driver.len(), 0);
}
