//! Workers whose tasks poll for milliseconds at a time (CPU-heavy work that
//! cooperates with `yield_now`) still serve timers, sockets and remote spawns
//! within a few polls: the periodic checks follow the time spent polling (a
//! worker notices long polls within 8 of them), not a fixed count of 61 polls
//! (which was ~120 ms here).
//!
//! Lateness is counted in polls of the busy tasks, not in time, so a loaded
//! machine does not change what the tests see.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::AsyncReadExt;
use support::Watchdog;

/// How long each busy poll spins.
const POLL: Duration = Duration::from_millis(2);

/// Most busy polls (all workers together) an event may wait for. The fixed
/// count of 61 let it wait ~61 per worker.
const BOUND: u64 = 12;

/// [`BOUND`] for a socket's readiness where it comes as an IOCP completion.
/// Under Wine (CI's Windows runs), the AFD poll behind it is served by the
/// wineserver process, which competes for the same 2 CPUs as the busy workers
/// (seen once: 23 polls). Still below the 44-115 the fixed count of 61 gave.
const SOCKET_BOUND: u64 = if cfg!(windows) { 32 } else { BOUND };

/// Busy tasks: each spins `POLL`, counts a poll, yields; until `stop`.
struct Busy {
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
}

/// How a busy task gives the worker back between its polls.
#[derive(Clone, Copy)]
enum Yield {
    /// `yield_now().await`.
    Now,
    /// Wakes itself and returns `Pending` (no help from `yield_now`: only the
    /// worker's periodic checks let I/O and timers in).
    SelfWake,
}

impl Busy {
    fn start(rt: &hioload::Runtime, tasks: usize) -> Busy {
        Busy::start_with(rt, tasks, Yield::Now, 8)
    }

    /// `tasks` busy tasks; returns once each has polled about `warm` times.
    fn start_with(rt: &hioload::Runtime, tasks: usize, how: Yield, warm: u64) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicU64::new(0));
        for _ in 0..tasks {
            let (stop, polls) = (stop.clone(), polls.clone());
            drop(rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    while start.elapsed() < POLL {
                        std::hint::spin_loop();
                    }
                    polls.fetch_add(1, Ordering::SeqCst);
                    match how {
                        Yield::Now => hioload::task::yield_now().await,
                        Yield::SelfWake => {
                            let mut woke = false;
                            std::future::poll_fn(|cx| {
                                if std::mem::replace(&mut woke, true) {
                                    return std::task::Poll::Ready(());
                                }
                                cx.waker().wake_by_ref();
                                std::task::Poll::Pending
                            })
                            .await
                        }
                    }
                }
            }));
        }
        // Let them get going (inside block_on: a current-thread runtime runs
        // its tasks only there).
        let target = warm * tasks as u64;
        let counted = polls.clone();
        rt.block_on(async move {
            while counted.load(Ordering::SeqCst) < target {
                hioload::time::sleep(Duration::from_millis(1)).await;
            }
        });
        Busy { stop, polls }
    }

    fn polls(&self) -> u64 {
        self.polls.load(Ordering::SeqCst)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn flavours() -> Vec<(&'static str, hioload::Runtime)> {
    vec![
        ("current_thread", hioload::Runtime::builder().current_thread().build().unwrap()),
        ("two_workers", support::rt(2)),
    ]
}

/// The most busy polls that ended during one of five 1 ms sleeps of a task.
/// At most one per worker ends within the 1 ms itself; the rest are the
/// lateness.
fn worst_sleep_polls(rt: &hioload::Runtime, busy: &Busy) -> u64 {
    let polls = busy.polls.clone();
    rt.block_on(async move {
        hioload::spawn(async move {
            let mut worst = 0;
            for _ in 0..5 {
                let before = polls.load(Ordering::SeqCst);
                hioload::time::sleep(Duration::from_millis(1)).await;
                worst = worst.max(polls.load(Ordering::SeqCst) - before);
            }
            worst
        })
        .await
        .unwrap()
    })
}

#[test]
fn a_sleep_ends_within_a_few_busy_polls() {
    let _w = Watchdog::new("busy_sleep", Duration::from_secs(120));
    for (flavour, rt) in flavours() {
        let busy = Busy::start(&rt, 4);
        let worst = worst_sleep_polls(&rt, &busy);
        drop(busy);
        assert!(worst <= BOUND, "{flavour}: a 1 ms sleep waited {worst} busy polls");
    }
}

#[test]
fn a_socket_read_completes_within_a_few_busy_polls() {
    let _w = Watchdog::new("busy_read", Duration::from_secs(120));
    for (flavour, rt) in flavours() {
        let busy = Busy::start(&rt, 4);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut worst = 0;
        for _ in 0..5 {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            // The peer writes from a thread once the reader waits on the socket.
            let polls = busy.polls.clone();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let sent_at = polls.load(Ordering::SeqCst);
                peer.write_all(b"x").unwrap();
                (sent_at, peer)
            });
            let polls = busy.polls.clone();
            let read_at = rt.block_on(async move {
                hioload::spawn(async move {
                    let mut stream = hioload::net::TcpStream::from_std(client).unwrap();
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).await.unwrap();
                    polls.load(Ordering::SeqCst)
                })
                .await
                .unwrap()
            });
            let (sent_at, _peer) = writer.join().unwrap();
            worst = worst.max(read_at.saturating_sub(sent_at));
        }
        drop(busy);
        assert!(worst <= SOCKET_BOUND, "{flavour}: a ready socket waited {worst} busy polls");
    }
}

#[test]
fn a_remote_spawn_starts_within_a_few_busy_polls() {
    let _w = Watchdog::new("busy_spawn", Duration::from_secs(120));
    let rt = support::rt(2);
    let busy = Busy::start(&rt, 4);
    let mut worst = 0;
    for _ in 0..5 {
        let (tx, rx) = std::sync::mpsc::channel();
        let polls = busy.polls.clone();
        let spawned_at = busy.polls();
        drop(rt.spawn(async move { tx.send(polls.load(Ordering::SeqCst)).unwrap() }));
        worst = worst.max(rx.recv().unwrap() - spawned_at);
    }
    drop(busy);
    assert!(worst <= BOUND, "a spawn from outside waited {worst} busy polls");
}

#[test]
fn tasks_that_wake_themselves_let_a_sleep_end_within_a_few_busy_polls() {
    // No yield_now: the periodic checks alone (they do not depend on how the
    // task gives the worker back).
    let _w = Watchdog::new("busy_self_wake", Duration::from_secs(120));
    let rt = support::rt(2);
    let busy = Busy::start_with(&rt, 4, Yield::SelfWake, 8);
    let worst = worst_sleep_polls(&rt, &busy);
    drop(busy);
    assert!(worst <= BOUND, "a 1 ms sleep waited {worst} busy polls");
}

/// Polls of a yielding local task (150 µs each) during 300 ms while a plain
/// thread keeps one 1 ms task waiting in the injector at all times.
fn local_polls_beside_a_remote_spawn_pump(rt: hioload::Runtime) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let local = Arc::new(AtomicU64::new(0));
    let (running, counted) = (stop.clone(), local.clone());
    rt.block_on(async move {
        // Spawned from a task: queued on the worker, not in the injector.
        hioload::spawn(async move {
            drop(hioload::spawn(async move {
                while !running.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_micros(150) {
                        std::hint::spin_loop();
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    hioload::task::yield_now().await;
                }
            }));
        })
        .await
        .unwrap();
    });
    let handle = rt.handle().clone();
    let pumping = stop.clone();
    let pump = std::thread::spawn(move || {
        while !pumping.load(Ordering::SeqCst) {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            drop(handle.spawn(async move {
                let _ = tx.send(());
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(1) {
                    std::hint::spin_loop();
                }
            }));
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    });
    let counted = local.clone();
    let polled = rt.block_on(async move {
        hioload::time::sleep(Duration::from_millis(50)).await;
        let before = counted.load(Ordering::SeqCst);
        hioload::time::sleep(Duration::from_millis(300)).await;
        counted.load(Ordering::SeqCst) - before
    });
    stop.store(true, Ordering::SeqCst);
    pump.join().unwrap();
    polled
}

#[test]
fn a_stream_of_remote_spawns_does_not_starve_the_local_queue() {
    // Long polls shrink the injector interval, but never to 1: checked on
    // every look, the injector came before the local queue each time, and the
    // local task did not run at all (found by a review).
    let _w = Watchdog::new("remote_pump", Duration::from_secs(120));
    for (flavour, rt) in [
        ("current_thread", hioload::Runtime::builder().current_thread().build().unwrap()),
        ("one_worker", support::rt(1)),
    ] {
        let polled = local_polls_beside_a_remote_spawn_pump(rt);
        assert!(polled >= 20, "{flavour}: the local task polled {polled} times in 300 ms");
    }
}
