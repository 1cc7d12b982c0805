//! Test-only stand-in for the runtime: a `block_on` and a thread that turns a reactor.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use super::{enter, EnterGuard, Reactor};

/// Runs `fut` to completion on this thread, parking between polls.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let thread = thread::current();
    let waker = waker_fn::waker_fn(move || thread.unpark());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// A reactor turned by a background thread every 10 ms at most, entered on this thread.
pub(crate) struct TestDriver {
    /// The reactor under test.
    pub(crate) reactor: Arc<Reactor>,
    /// Tells the turning thread to stop.
    stop: Arc<AtomicBool>,
    /// The turning thread.
    thread: Option<thread::JoinHandle<()>>,
    /// Keeps the reactor current on the test thread.
    _enter: Option<EnterGuard>,
}

impl TestDriver {
    /// Starts a driver; `edge = false` forces oneshot mode.
    pub(crate) fn start(edge: bool) -> TestDriver {
        let reactor = Arc::new(Reactor::with_mode(64, edge).unwrap());
        assert_eq!(reactor.is_edge(), edge && cfg!(target_os = "linux"));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (reactor, stop) = (reactor.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if let Some(Err(_)) = reactor.try_turn(Some(Duration::from_millis(10))) {
                        return;
                    }
                }
            })
        };
        let guard = enter(reactor.clone());
        TestDriver { reactor, stop, thread: Some(thread), _enter: Some(guard) }
    }

    /// Runs `test` once per mode (edge where supported, and oneshot).
    pub(crate) fn each_mode(test: impl Fn(&TestDriver)) {
        for edge in [true, false] {
            let driver = TestDriver::start(edge);
            test(&driver);
        }
    }
}

impl Drop for TestDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.reactor.notify();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
