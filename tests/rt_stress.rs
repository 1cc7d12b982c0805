//! Many spawners, many tasks, wakes from everywhere; bounded time.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::Watchdog;

#[test]
fn many_spawners_many_tasks() {
    let _w = Watchdog::new("stress", Duration::from_secs(120));
    for workers in [1, 2, 4] {
        let rt = hioload::Runtime::builder().worker_threads(workers).build().unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        // Outside spawners (threads) and inside spawners (tasks) at once.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let handle = rt.handle().clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let handles: Vec<_> = (0..5_000)
                        .map(|i| {
                            let done = done.clone();
                            handle.spawn(async move {
                                if (i + t) % 3 == 0 {
                                    hioload::task::yield_now().await;
                                }
                                done.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    handles
                })
            })
            .collect();
        let inner_done = done.clone();
        rt.block_on(async move {
            let spawners: Vec<_> = (0..8)
                .map(|_| {
                    let done = inner_done.clone();
                    hioload::spawn(async move {
                        let mut chain = Vec::new();
                        for _ in 0..2_500 {
                            let done = done.clone();
                            let (tx, rx) = futures_channel::oneshot::channel::<()>();
                            chain.push(hioload::spawn(async move {
                                rx.await.unwrap();
                                done.fetch_add(1, Ordering::Relaxed);
                            }));
                            // Wake it from another task.
                            drop(hioload::spawn(async move { tx.send(()).unwrap() }));
                        }
                        for h in chain {
                            h.await.unwrap();
                        }
                    })
                })
                .collect();
            for s in spawners {
                s.await.unwrap();
            }
        });
        for t in threads {
            let handles = t.join().unwrap();
            rt.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            });
        }
        assert_eq!(done.load(Ordering::SeqCst), 4 * 5_000 + 8 * 2_500, "workers={workers}");
    }
}

#[test]
fn cross_thread_ping_pong_never_loses_a_wakeup() {
    let _w = Watchdog::new("ping_pong_stress", Duration::from_secs(120));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let pairs: Vec<_> = (0..50)
            .map(|_| {
                hioload::spawn(async {
                    for _ in 0..200 {
                        let (tx1, rx1) = futures_channel::oneshot::channel::<()>();
                        let (tx2, rx2) = futures_channel::oneshot::channel::<()>();
                        let pong = hioload::spawn(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        });
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        pong.await.unwrap();
                    }
                })
            })
            .collect();
        for p in pairs {
            p.await.unwrap();
        }
    });
}

#[test]
fn wakes_from_plain_threads_with_idle_workers() {
    let _w = Watchdog::new("remote_wakes", Duration::from_secs(120));
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    for _ in 0..2_000 {
        let (tx, rx) = futures_channel::oneshot::channel::<u32>();
        let h = rt.spawn(async move { rx.await.unwrap() + 1 });
        // Let the workers go idle before the wake arrives, now and then.
        std::thread::yield_now();
        tx.send(1).unwrap();
        assert_eq!(rt.block_on(h).unwrap(), 2);
    }
}
