//! Reactor unit tests on real sockets (127.0.0.1), driven by `test_driver`; every
//! scenario runs in edge mode (where supported) and in oneshot mode (IOCP's path).
#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream as StdTcp, UdpSocket};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

// Both directions of one TCP socket, in both modes: what one direction's event
// (or a cancelled waiter, or a spent cooperative budget) leaves to the other.

/// Runs `f` on its own thread; panics if it does not finish within `secs`.
fn watchdog<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung for {secs}s (lost wake-up?)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

/// (non-blocking ours, blocking peer) TCP pair on loopback.
fn tcp_pair() -> (StdTcp, StdTcp) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = StdTcp::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (ours, peer)
}

fn flag_waker() -> (std::task::Waker, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    (
        waker_fn::waker_fn(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }),
        n,
    )
}

/// Turns `reactor` on this thread until `cond` or 3 s.
fn turn_until(reactor: &Reactor, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        let _ = reactor.try_turn(Some(Duration::from_millis(10)));
    }
    cond()
}

/// Turns `reactor` five times (up to 50 ms), whatever happens.
fn turn_for_a_while(reactor: &Reactor) {
    for _ in 0..5 {
        let _ = reactor.try_turn(Some(Duration::from_millis(10)));
    }
}

/// Fills our send buffer (and the peer's receive buffer) until `WouldBlock`, then
/// drains our receive side, and checks both waits really sleep.
fn make_both_not_ready(reactor: &Reactor, ours: &Async<StdTcp>) {
    // Flush the registration's first edges (edge mode) so ticks are stable.
    while reactor.try_turn(Some(Duration::ZERO)).is_some_and(|r| r.unwrap() > 0) {}
    let chunk = [7u8; 65536];
    for _ in 0..10_000 {
        match ours.try_write_with(|s| (&*s).write(&chunk)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut buf = [0u8; 65536];
    while ours.try_read_with(|s| (&*s).read(&mut buf)).is_ok() {}
    // A dispatch between snapshot and WouldBlock may keep a bit: retry.
    for _ in 0..50 {
        let r = poll_once(pin!(ours.readable())).is_pending();
        let w = poll_once(pin!(ours.writable())).is_pending();
        if r && w {
            return;
        }
        let _ = ours.try_write_with(|s| (&*s).write(&chunk));
        while ours.try_read_with(|s| (&*s).read(&mut buf)).is_ok() {}
    }
    panic!("could not make both directions not ready");
}

fn each_mode_manual(test: impl Fn(Arc<Reactor>, bool)) {
    for edge in [true, false] {
        let reactor = Arc::new(Reactor::with_mode(64, edge).unwrap());
        let _enter = enter(reactor.clone());
        test(reactor, edge);
    }
}

/// Reads everything the peer has queued towards us, on the peer side.
fn peer_drain(peer: &mut StdTcp) -> usize {
    peer.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match peer.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Our side may still be pushing queued data.
                thread::sleep(Duration::from_millis(20));
                match peer.read(&mut buf) {
                    Ok(n) if n > 0 => total += n,
                    _ => break,
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    peer.set_nonblocking(false).unwrap();
    total
}

#[test]
fn opposite_directions_each_woken_by_its_own_event() {
    // Both directions wait; one direction's event must neither wake the other
    // nor disarm its interest (in oneshot mode every event disarms the handle).
    for read_first in [true, false] {
        each_mode_manual(|reactor, edge| {
            let (ours, mut peer) = tcp_pair();
            let ours = Async::new(ours).unwrap();
            make_both_not_ready(&reactor, &ours);
            let (rw, rn) = flag_waker();
            let (ww, wn) = flag_waker();
            let mut r = pin!(ours.readable());
            let mut w = pin!(ours.writable());
            // Armed in either order too.
            for arm_read in [read_first, !read_first] {
                let armed = if arm_read {
                    r.as_mut().poll(&mut Context::from_waker(&rw))
                } else {
                    w.as_mut().poll(&mut Context::from_waker(&ww))
                };
                assert!(armed.is_pending());
            }
            // Data towards us readies our reading; the peer draining readies
            // our writing.
            let ready = |read: bool, peer: &mut StdTcp| {
                if read {
                    peer.write_all(b"x").unwrap();
                } else {
                    assert!(peer_drain(peer) > 0);
                }
            };
            let (first, second) = if read_first { (&rn, &wn) } else { (&wn, &rn) };
            let what = if read_first { ["reader", "writer"] } else { ["writer", "reader"] };
            ready(read_first, &mut peer);
            assert!(
                turn_until(&reactor, || first.load(Ordering::SeqCst) > 0),
                "edge={edge}: {} not woken",
                what[0]
            );
            assert_eq!(second.load(Ordering::SeqCst), 0, "edge={edge}: {} woken", what[1]);
            ready(!read_first, &mut peer);
            assert!(
                turn_until(&reactor, || second.load(Ordering::SeqCst) > 0),
                "edge={edge}: {} lost its wake-up",
                what[1]
            );
            assert!(r.as_mut().poll(&mut Context::from_waker(&rw)).is_ready());
            assert!(w.as_mut().poll(&mut Context::from_waker(&ww)).is_ready());
        });
    }
}

#[test]
fn cancelled_armed_waiter_leaves_other_direction_and_socket_working() {
    each_mode_manual(|reactor, edge| {
        let (ours, mut peer) = tcp_pair();
        let ours = Async::new(ours).unwrap();
        make_both_not_ready(&reactor, &ours);
        let (ww, wn) = flag_waker();
        let mut w = pin!(ours.writable());
        {
            // Reader armed, then cancelled.
            let (rw, _) = flag_waker();
            let mut r = pin!(ours.readable());
            assert!(r.as_mut().poll(&mut Context::from_waker(&rw)).is_pending());
            assert!(w.as_mut().poll(&mut Context::from_waker(&ww)).is_pending());
        }
        // Data arrives for nobody: the event must not leave the writer disarmed.
        peer.write_all(b"z").unwrap();
        turn_for_a_while(&reactor);
        assert_eq!(wn.load(Ordering::SeqCst), 0);
        assert!(peer_drain(&mut peer) > 0);
        assert!(
            turn_until(&reactor, || wn.load(Ordering::SeqCst) > 0),
            "edge={edge}: writer lost its wake-up"
        );
        // The read readiness of the unobserved event is kept.
        assert!(poll_once(pin!(ours.readable())).is_ready(), "edge={edge}: read event lost");
        let mut buf = [0; 8];
        assert_eq!(ours.try_read_with(|s| (&*s).read(&mut buf)).unwrap(), 1);
        // A cancelled writer, then a reader: same in reverse.
        make_both_not_ready(&reactor, &ours);
        let (rw, rn) = flag_waker();
        let mut r = pin!(ours.readable());
        {
            let (ww2, _) = flag_waker();
            let mut w2 = pin!(ours.writable());
            assert!(w2.as_mut().poll(&mut Context::from_waker(&ww2)).is_pending());
            assert!(r.as_mut().poll(&mut Context::from_waker(&rw)).is_pending());
        }
        assert!(peer_drain(&mut peer) > 0);
        turn_for_a_while(&reactor);
        peer.write_all(b"q").unwrap();
        assert!(
            turn_until(&reactor, || rn.load(Ordering::SeqCst) > 0),
            "edge={edge}: reader lost its wake-up"
        );
    });
}

#[test]
fn a_woken_waiter_completes_after_another_took_the_readiness_and_the_next_wait_is_armed() {
    // A readiness future an event woke completes at its next poll even if
    // another task took the data (and cleared the readiness) first; one woken
    // and dropped leaves nothing behind; a fresh wait is armed (oneshot) and woken.
    each_mode_manual(|reactor, edge| {
        let (ours, mut peer) = tcp_pair();
        let ours = Async::new(ours).unwrap();
        make_both_not_ready(&reactor, &ours);
        for round in 0..3 {
            let (wa, na) = flag_waker();
            let mut a = pin!(ours.readable());
            assert!(a.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
            let (wd, nd) = flag_waker();
            {
                let mut d = pin!(ours.readable());
                assert!(d.as_mut().poll(&mut Context::from_waker(&wd)).is_pending());
                peer.write_all(b"x").unwrap();
                let both = || na.load(Ordering::SeqCst) > 0 && nd.load(Ordering::SeqCst) > 0;
                assert!(turn_until(&reactor, both), "edge={edge} round={round}: not woken");
            }
            let mut buf = [0; 8];
            assert_eq!(ours.try_read_with(|s| (&*s).read(&mut buf)).unwrap(), 1);
            assert!(ours.try_read_with(|s| (&*s).read(&mut buf)).is_err());
            assert!(
                a.as_mut().poll(&mut Context::from_waker(&wa)).is_ready(),
                "edge={edge} round={round}: the woken waiter went back to sleep"
            );
            let (wb, nb) = flag_waker();
            let mut b = pin!(ours.readable());
            assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
            peer.write_all(b"y").unwrap();
            assert!(
                turn_until(&reactor, || nb.load(Ordering::SeqCst) > 0),
                "edge={edge} round={round}: the next wait lost its wake-up"
            );
            assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
            assert_eq!(ours.try_read_with(|s| (&*s).read(&mut buf)).unwrap(), 1);
            assert!(ours.try_read_with(|s| (&*s).read(&mut buf)).is_err());
        }
        let _ = peer_drain(&mut peer);
    });
}

#[test]
fn coop_pending_wakes_and_next_wait_is_armed() {
    use crate::util::coop;
    each_mode_manual(|reactor, edge| {
        let (ours, mut peer) = tcp_pair();
        let ours = Async::new(ours).unwrap();
        make_both_not_ready(&reactor, &ours);
        let (waker, wakes) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut buf = [0u8; 16];
        // Budget spent: Pending, and woken at once (not left without interest).
        let p = coop::budgeted(|| {
            (0..coop::BUDGET).for_each(|_| coop::made_progress());
            ours.poll_read_with(&mut cx, |s| (&*s).read(&mut buf))
        });
        assert!(p.is_pending());
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "edge={edge}: coop Pending without a wake");
        // The re-poll (fresh budget) finds nothing and must arm the direction.
        let p = coop::budgeted(|| ours.poll_read_with(&mut cx, |s| (&*s).read(&mut buf)));
        assert!(p.is_pending());
        peer.write_all(b"abc").unwrap();
        assert!(
            turn_until(&reactor, || wakes.load(Ordering::SeqCst) > 1),
            "edge={edge}: no wake after coop"
        );
        let p = coop::budgeted(|| ours.poll_read_with(&mut cx, |s| (&*s).read(&mut buf)));
        assert!(matches!(p, Poll::Ready(Ok(3))), "edge={edge}: {p:?}");
        // Budget spent while data is there: the data stays readable afterwards.
        peer.write_all(b"def").unwrap();
        assert!(turn_until(&reactor, || poll_once(pin!(ours.readable())).is_ready()));
        let p = coop::budgeted(|| {
            (0..coop::BUDGET).for_each(|_| coop::made_progress());
            ours.poll_read_with(&mut cx, |s| (&*s).read(&mut buf))
        });
        assert!(p.is_pending());
        let p = coop::budgeted(|| ours.poll_read_with(&mut cx, |s| (&*s).read(&mut buf)));
        assert!(matches!(p, Poll::Ready(Ok(3))), "edge={edge}: {p:?}");
    });
}

/// Stress: one task reads and another writes the same socket concurrently; every
/// wait in both directions follows a real `WouldBlock`, with competing turners.
#[test]
fn stress_concurrent_read_and_write_one_socket() {
    const BYTES: usize = 4 << 20;
    for edge in [true, false] {
        watchdog(60, &format!("stress edge={edge}"), move || {
            let driver = TestDriver::start(edge);
            let stop = Arc::new(AtomicBool::new(false));
            let turner = {
                let (reactor, stop) = (driver.reactor.clone(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = reactor.try_turn(Some(Duration::ZERO));
                        thread::yield_now();
                    }
                })
            };
            let (ours, peer) = tcp_pair();
            let ours = Arc::new(Async::new(ours).unwrap());
            let peer_r = peer.try_clone().unwrap();
            let mut peer_w = peer;
            // Peer: slow-ish reader and bursty writer.
            let pr = thread::spawn(move || {
                let mut peer_r = peer_r;
                let mut buf = vec![0u8; 7000];
                let mut total = 0;
                while total < BYTES {
                    let n = peer_r.read(&mut buf).unwrap();
                    assert!(n > 0);
                    total += n;
                    if total % 7 == 0 {
                        thread::yield_now();
                    }
                }
            });
            let pw = thread::spawn(move || {
                let chunk = vec![1u8; 3000];
                let mut sent = 0;
                let mut i = 0u32;
                while sent < BYTES {
                    let n = (BYTES - sent).min(1 + (i as usize * 7919) % 3000);
                    peer_w.write_all(&chunk[..n]).unwrap();
                    sent += n;
                    i += 1;
                    if i % 16 == 0 {
                        thread::sleep(Duration::from_micros(50));
                    }
                }
                peer_w
            });
            let reader = {
                let (ours, reactor) = (ours.clone(), driver.reactor.clone());
                thread::spawn(move || {
                    let _e = enter(reactor);
                    let mut buf = vec![0u8; 5000];
                    let mut total = 0;
                    while total < BYTES {
                        total += block_on(ours.read_with(|s| (&*s).read(&mut buf))).unwrap();
                    }
                })
            };
            let writer = {
                let (ours, reactor) = (ours.clone(), driver.reactor.clone());
                thread::spawn(move || {
                    let _e = enter(reactor);
                    let chunk = vec![2u8; 60000];
                    let mut sent = 0;
                    while sent < BYTES {
                        let n = (BYTES - sent).min(chunk.len());
                        sent += block_on(ours.write_with(|s| (&*s).write(&chunk[..n]))).unwrap();
                    }
                })
            };
            reader.join().unwrap();
            writer.join().unwrap();
            pr.join().unwrap();
            let _peer = pw.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            turner.join().unwrap();
        });
    }
}

/// Stress of the poll_* path (shared poll slots) with the TCP queue hint (drained clear).
#[test]
fn stress_poll_read_drained_and_poll_write() {
    const ROUNDS: usize = 3000;
    for edge in [true, false] {
        watchdog(60, &format!("drained edge={edge}"), move || {
            let driver = TestDriver::start(edge);
            let (ours, peer) = tcp_pair();
            let ours = Arc::new(crate::net::TcpStream::from_std(ours).unwrap());
            let mut peer_r = peer.try_clone().unwrap();
            let mut peer_w = peer;
            // Peer echoes back what it gets in odd pieces.
            let echo = thread::spawn(move || {
                let mut buf = [0u8; 64];
                let mut total = 0;
                while total < ROUNDS * 8 {
                    let n = peer_r.read(&mut buf).unwrap();
                    assert!(n > 0);
                    total += n;
                    for piece in buf[..n].chunks(3) {
                        peer_w.write_all(piece).unwrap();
                        if total % 5 == 0 {
                            thread::yield_now();
                        }
                    }
                }
            });
            let reader = {
                let (ours, reactor) = (ours.clone(), driver.reactor.clone());
                thread::spawn(move || {
                    let _e = enter(reactor);
                    let mut buf = [0u8; 8];
                    let mut total = 0;
                    while total < ROUNDS * 8 {
                        let n = block_on(std::future::poll_fn(|cx| {
                            crate::util::coop::budgeted(|| ours.poll_read_priv(cx, &mut buf))
                        }))
                        .unwrap();
                        assert!(n > 0);
                        total += n;
                    }
                })
            };
            let _e = enter(driver.reactor.clone());
            for i in 0..ROUNDS {
                let msg = (i as u64).to_le_bytes();
                let mut off = 0;
                while off < 8 {
                    off += block_on(std::future::poll_fn(|cx| {
                        crate::util::coop::budgeted(|| ours.poll_write_priv(cx, &msg[off..]))
                    }))
                    .unwrap();
                }
                if i % 10 == 0 {
                    thread::yield_now();
                }
            }
            reader.join().unwrap();
            echo.join().unwrap();
        });
    }
}
