//! The driver on the real clock, parked in a real `polling::Poller` by a thread that
//! plays the executor's part (the park protocol of `time/mod.rs`, steps 1-3).
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use polling::{Events, Poller};

use super::super::context::enter;
use super::super::{set_worker_timer_slack, sleep, sleep_until, Clock, Instant, TimeDriver};

/// A real-clock driver whose timers are fired by one "worker" thread parked in a poller.
struct Harness {
    driver: Arc<TimeDriver>,
    poller: Arc<Poller>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Harness {
    fn start(shards: usize) -> Harness {
        let poller = Arc::new(Poller::new().expect("poller"));
        let notifier = poller.clone();
        let unpark = Arc::new(move || {
            let _ = notifier.notify();
        });
        let driver = TimeDriver::new(Clock::real(), shards, unpark);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (driver, poller, stop) = (driver.clone(), poller.clone(), stop.clone());
            std::thread::spawn(move || park_loop(&driver, &poller, &stop))
        };
        Harness { driver, poller, stop, worker: Some(worker) }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.poller.notify();
        if let Some(worker) = self.worker.take() {
            worker.join().expect("worker thread panicked");
        }
    }
}

/// The executor's idle loop, reduced to its timer part.
fn park_loop(driver: &TimeDriver, poller: &Poller, stop: &AtomicBool) {
    let _ = set_worker_timer_slack(); // Unsupported off Linux: fine.
    let mut events = Events::new();
    while !stop.load(Ordering::SeqCst) {
        let deadline = driver.prepare_park();
        let timeout = deadline.map(|d| d.saturating_duration_since(driver.clock().now()));
        poller.wait(&mut events, timeout).expect("poller wait");
        events.clear();
        driver.finish_park();
        driver.process();
    }
}

#[test]
fn sub_millisecond_sleeps_are_never_early_and_rarely_late() {
    let harness = Harness::start(2);
    let _guard = enter(harness.driver.clone(), 0);
    let mut lateness = Vec::new();
    for i in 0..200u64 {
        let want = Duration::from_micros(100 + (i * 37) % 900);
        let s = sleep(want);
        let deadline = s.deadline();
        futures_lite::future::block_on(s);
        let woke = Instant::now();
        assert!(woke >= deadline, "early by {:?}", deadline - woke);
        lateness.push(woke - deadline);
    }
    lateness.sort_unstable();
    let (best, median) = (lateness[0], lateness[lateness.len() / 2]);
    eprintln!("lateness of 200 sub-ms sleeps: best {best:?}, median {median:?}");
    // Generous: the test machine is shared and noisy; speed is measured by benches.
    assert!(best < Duration::from_millis(1), "best lateness {best:?}");
}

#[test]
fn a_thousand_concurrent_sleeps_from_two_shards_all_complete() {
    let harness = Harness::start(2);
    let start = Instant::now();
    let futures: Vec<_> = (0..1_000u64)
        .map(|i| {
            let _guard = enter(harness.driver.clone(), i as usize % 2);
            let deadline = start + Duration::from_micros(50 + i * 13 % 20_000);
            let s = sleep_until(deadline);
            async move {
                s.await;
                assert!(Instant::now() >= deadline);
            }
        })
        .collect();
    let _guard = enter(harness.driver.clone(), 0);
    futures_lite::future::block_on(futures_util::future::join_all(futures));
    assert_eq!(harness.driver.len(), 0);
}

#[test]
fn an_earlier_registration_re_arms_a_long_park() {
    let harness = Harness::start(1);
    let _guard = enter(harness.driver.clone(), 0);
    // The worker parks until the hour-long timer; the short one must still fire promptly.
    let mut long = Box::pin(sleep(Duration::from_secs(3_600)));
    let waker = futures_util::task::noop_waker();
    assert!(long.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
    std::thread::sleep(Duration::from_millis(5)); // let the worker park
    let begin = Instant::now();
    futures_lite::future::block_on(sleep(Duration::from_millis(2)));
    assert!(begin.elapsed() < Duration::from_secs(2), "took {:?}", begin.elapsed());
}
