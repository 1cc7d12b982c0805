//! Reactor unit tests on real sockets (127.0.0.1), driven by `test_driver`; every
//! scenario runs in edge mode (where supported) and in oneshot mode (IOCP's path).
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::UdpSocket;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use super::test_driver::{block_on, TestDriver};
use super::{enter, Reactor};
use crate::net::Async;

/// A bound, non-blocking UDP socket registered with the current reactor.
fn udp() -> Async<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    Async::new(socket).unwrap()
}

/// Drains `socket` until a `readable()` wait really sleeps.
///
/// One `WouldBlock` is not always enough to clear the "assumed ready" read bit: if the
/// driver dispatches any event for the socket (in edge mode, the writable edge every new
/// registration gets) between `try_read_with`'s snapshot and its `WouldBlock`, the tick
/// check keeps the bit, by design, and the next `readable()` is a false positive (see
/// `Async::readable`). So drain again until a wait is pending.
fn drain(socket: &Async<UdpSocket>) {
    let mut buf = [0; 64];
    for _ in 0..100 {
        while socket.try_read_with(|s| s.recv(&mut buf)).is_ok() {}
        if poll_once(pin!(socket.readable())).is_pending() {
            return;
        }
    }
    panic!("read readiness of a drained socket never cleared");
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = waker_fn::waker_fn(|| {});
    fut.poll(&mut Context::from_waker(&waker))
}

#[test]
fn zero_capacity_is_an_error_naming_the_value() {
    let err = Reactor::new(0).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("(got 0)"), "{err}");
}

#[test]
fn a_reactor_reports_the_group_it_was_created_for() {
    assert_eq!(Reactor::new(8).unwrap().group(), 0);
    let reactor = Reactor::for_group(8, 3).unwrap();
    assert_eq!(reactor.group(), 3);
    assert!(format!("{reactor:?}").contains("group: 3"));
    let err = Reactor::for_group(0, 1).unwrap_err();
    assert!(err.to_string().contains("(got 0)"), "{err}");
}

#[test]
fn only_one_thread_turns_and_notify_wakes_it() {
    let reactor = Arc::new(Reactor::new(16).unwrap());
    let (tx, rx) = mpsc::channel();
    let turner = {
        let reactor = reactor.clone();
        thread::spawn(move || {
            // Our zero-timeout probes below hold the turn for a moment: retry
            // until this thread is the one waiting.
            loop {
                let start = Instant::now();
                if let Some(result) = reactor.try_turn(None) {
                    tx.send(start.elapsed()).unwrap();
                    return Some(result.unwrap());
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    // Wait until the turner holds the poller (a turn by us returns None).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        thread::sleep(Duration::from_millis(5));
        if reactor.try_turn(Some(Duration::ZERO)).is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "turner never took the poller");
    }
    reactor.notify().unwrap();
    let waited = rx.recv_timeout(Duration::from_secs(5)).expect("notify did not wake the turn");
    assert!(waited < Duration::from_secs(5));
    assert_eq!(turner.join().unwrap(), Some(0));
}

#[test]
fn readiness_wakes_every_waiter() {
    TestDriver::each_mode(|driver| {
        let socket = Arc::new(udp());
        drain(&socket);
        let (tx, rx) = mpsc::channel();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (socket, tx) = (socket.clone(), tx.clone());
                thread::spawn(move || tx.send(block_on(socket.readable())).unwrap())
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", socket.get_ref().local_addr().unwrap()).unwrap();
        for _ in 0..4 {
            rx.recv_timeout(Duration::from_secs(5)).expect("a waiter was not woken").unwrap();
        }
        waiters.into_iter().for_each(|t| t.join().unwrap());
        drop(socket);
        let _ = driver;
    });
}

#[test]
fn dropped_waiter_leaves_socket_usable() {
    TestDriver::each_mode(|_driver| {
        let socket = udp();
        drain(&socket);
        {
            let mut buf = [0; 8];
            let mut read = pin!(socket.read_with(|s| s.recv(&mut buf)));
            assert!(poll_once(read.as_mut()).is_pending());
            // Dropped mid-wait, as a timeout or select would.
        }
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"hello", socket.get_ref().local_addr().unwrap()).unwrap();
        let mut buf = [0; 8];
        let n = block_on(socket.read_with(|s| s.recv(&mut buf))).unwrap();
        assert_eq!(&buf[..n], b"hello");
    });
}

#[test]
fn register_and_deregister_from_many_threads_while_events_flow() {
    TestDriver::each_mode(|driver| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let reactor = driver.reactor.clone();
                thread::spawn(move || {
                    let _enter = enter(reactor);
                    for i in 0..100u32 {
                        let socket = udp();
                        drain(&socket);
                        let addr = socket.get_ref().local_addr().unwrap();
                        socket.get_ref().send_to(&i.to_le_bytes(), addr).unwrap();
                        let mut buf = [0; 4];
                        let n = block_on(socket.read_with(|s| s.recv(&mut buf))).unwrap();
                        assert_eq!(u32::from_le_bytes(buf[..n].try_into().unwrap()), i);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        // Every slot is released by the next turns (lazily, between waits).
        let deadline = Instant::now() + Duration::from_secs(5);
        while driver.reactor.registrations() != 0 {
            assert!(Instant::now() < deadline, "slots leaked: {:?}", driver.reactor);
            thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn reused_fd_never_wakes_the_old_registration() {
    TestDriver::each_mode(|_driver| {
        let old = udp();
        drain(&old);
        let old_addr = old.get_ref().local_addr().unwrap();
        let old_socket = old.into_inner().unwrap();
        drop(old_socket);
        // The new socket most likely reuses the fd number; its key differs anyway.
        let new = udp();
        drain(&new);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let _ = sender.send_to(b"old", old_addr);
        sender.send_to(b"new", new.get_ref().local_addr().unwrap()).unwrap();
        let mut buf = [0; 8];
        let n = block_on(new.read_with(|s| s.recv(&mut buf))).unwrap();
        assert_eq!(&buf[..n], b"new");
    });
}

#[test]
fn shutdown_fails_waiters_and_later_registrations() {
    TestDriver::each_mode(|driver| {
        let socket = udp();
        drain(&socket);
        // The waiter is polled here, not on a thread, so that it is known to be pending
        // (waker stored, oneshot: armed) when shutdown runs.
        let woken = Arc::new(AtomicBool::new(false));
        let waker = {
            let woken = woken.clone();
            waker_fn::waker_fn(move || woken.store(true, Ordering::SeqCst))
        };
        let mut cx = Context::from_waker(&waker);
        let mut waiter = pin!(socket.readable());
        assert!(waiter.as_mut().poll(&mut cx).is_pending(), "a drained socket was readable");
        driver.reactor.shutdown();
        assert!(woken.load(Ordering::SeqCst), "shutdown did not wake the pending waiter");
        let Poll::Ready(result) = waiter.as_mut().poll(&mut cx) else {
            panic!("the waiter was still pending after shutdown");
        };
        let err = result.unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
        let err = block_on(socket.readable()).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
        let std = UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = Async::new(std).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
    });
}

#[test]
fn batch_larger_than_capacity_is_dispatched_over_turns() {
    // Capacity 64 (test driver), 200 ready sockets: every one must be seen.
    TestDriver::each_mode(|_driver| {
        let sockets: Vec<_> = (0..200).map(|_| udp()).collect();
        sockets.iter().for_each(drain);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in &sockets {
            sender.send_to(b"!", s.get_ref().local_addr().unwrap()).unwrap();
        }
        for s in &sockets {
            let mut buf = [0; 1];
            assert_eq!(block_on(s.read_with(|s| s.recv(&mut buf))).unwrap(), 1);
        }
    });
}

#[test]
fn reactor_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Reactor>();
    send_sync::<super::Registration>();
    send_sync::<Async<UdpSocket>>();
}

#[test]
fn competing_turners_lose_no_wakeups() {
    // Three extra threads race the driver for the poller with zero and short timeouts,
    // as busy and parked workers will; UDP ping-pongs must all complete.
    const ROUNDS: u32 = 300;
    TestDriver::each_mode(|driver| {
        let stop = Arc::new(AtomicBool::new(false));
        let turners: Vec<_> =
            [Duration::ZERO, Duration::from_micros(100), Duration::from_millis(1)]
                .into_iter()
                .map(|timeout| {
                    let (reactor, stop) = (driver.reactor.clone(), stop.clone());
                    thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            let _ = reactor.try_turn(Some(timeout));
                        }
                    })
                })
                .collect();
        let pairs: Vec<_> = (0..4)
            .map(|_| {
                let reactor = driver.reactor.clone();
                thread::spawn(move || {
                    let _enter = enter(reactor);
                    let (a, b) = (udp(), udp());
                    drain(&a);
                    drain(&b);
                    let b_addr = b.get_ref().local_addr().unwrap();
                    a.get_ref().connect(b_addr).unwrap();
                    // The echo side runs on its own thread, so each side mostly waits
                    // for the reactor to report the other's datagram.
                    let echo = thread::spawn(move || {
                        let mut buf = [0; 4];
                        for _ in 0..ROUNDS {
                            let (n, from) =
                                block_on(b.read_with(|s| s.recv_from(&mut buf))).unwrap();
                            block_on(b.write_with(|s| s.send_to(&buf[..n], from))).unwrap();
                        }
                    });
                    let mut buf = [0; 4];
                    for i in 0..ROUNDS {
                        block_on(a.write_with(|s| s.send(&i.to_le_bytes()))).unwrap();
                        let n = block_on(a.read_with(|s| s.recv(&mut buf))).unwrap();
                        assert_eq!(u32::from_le_bytes(buf[..n].try_into().unwrap()), i);
                    }
                    echo.join().unwrap();
                })
            })
            .collect();
        pairs.into_iter().for_each(|t| t.join().unwrap());
        stop.store(true, Ordering::Relaxed);
        turners.into_iter().for_each(|t| t.join().unwrap());
    });
}
