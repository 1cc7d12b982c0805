//! tokio's `rt_multi_threaded` workloads, side by side: hioload, tokio's
//! multi-thread runtime, and async-executor, each with 2 worker threads.
//!
//! `spawn_many_local` is the definition (spawns from inside a task,
//! awaited); `spawn_many_local_detached` is tokio's bench shape (detached
//! spawns counting down a shared counter); both are reported.
//!
//! `cargo bench --bench rt_multi_threaded [-- WORKLOAD]`;
//! `HIOLOAD_BENCH_ROUNDS=N` sets the rounds (default 15).

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use support::{compare, rounds, selected, time, Smol};

const WORKERS: usize = 2;
const NUM_SPAWN: usize = 10_000;
const NUM_YIELD_TASKS: usize = 200;
const NUM_YIELDS: usize = 1_000;
const NUM_PINGS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;

/// What each runtime must provide for the workloads.
trait Rt {
    fn block_on<F: Future + Send + 'static>(&self, f: F) -> F::Output
    where
        F::Output: Send;
}

/// A boxed spawn function usable inside the workloads.
type SpawnFn = Arc<dyn Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync>;

struct Hio(hioload::Runtime);
struct Tok(tokio::runtime::Runtime);
impl Hio {
    fn new() -> Self {
        Hio(hioload::Runtime::builder().worker_threads(WORKERS).build().unwrap())
    }
}

impl Tok {
    fn new() -> Self {
        Tok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap())
    }
}

impl Rt for Hio {
    fn block_on<F: Future + Send + 'static>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        self.0.block_on(f)
    }
}

impl Rt for Tok {
    fn block_on<F: Future + Send + 'static>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        self.0.block_on(f)
    }
}

impl Rt for Smol {
    fn block_on<F: Future + Send + 'static>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        futures_lite::future::block_on(f)
    }
}

/// The spawn_many_local: 10,000 spawns from inside a task, each handle
/// awaited by the spawning task. One function per contender: their join
/// handles differ, and boxing them would add an allocation to every spawn.
fn spawn_many_local_hio(rt: &Hio) -> Duration {
    time(|| {
        rt.0.block_on(rt.0.spawn(async {
            let handles: Vec<_> = (0..NUM_SPAWN).map(|_| hioload::spawn(async {})).collect();
            for h in handles {
                h.await.unwrap();
            }
        }))
        .unwrap()
    })
}

/// [`spawn_many_local_hio`] on tokio.
fn spawn_many_local_tok(rt: &Tok) -> Duration {
    time(|| {
        rt.0.block_on(rt.0.spawn(async {
            let handles: Vec<_> = (0..NUM_SPAWN).map(|_| tokio::spawn(async {})).collect();
            for h in handles {
                h.await.unwrap();
            }
        }))
        .unwrap()
    })
}

/// [`spawn_many_local_hio`] on async-executor.
fn spawn_many_local_smol(rt: &Smol) -> Duration {
    let ex = rt.ex.clone();
    time(|| {
        let inner = ex.clone();
        futures_lite::future::block_on(ex.spawn(async move {
            let handles: Vec<_> = (0..NUM_SPAWN).map(|_| inner.spawn(async {})).collect();
            for h in handles {
                h.await;
            }
        }))
    })
}

/// tokio's own `spawn_many_local` shape: 10,000 detached spawns from inside a
/// task, each bumping a shared counter; the last one signals a channel. The
/// shared counter and `Arc`s bounce between the workers on every task.
fn spawn_many_local_detached<R: Rt>(rt: &R, spawn: impl Fn(&R) -> SpawnFn) -> Duration {
    let spawner = spawn(rt);
    time(|| {
        rt.block_on(async move {
            let (tx, rx) = oneshot::channel();
            let counter = Arc::new(AtomicUsize::new(0));
            let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
            let inner = spawner.clone();
            spawner(Box::pin(async move {
                for _ in 0..NUM_SPAWN {
                    let counter = counter.clone();
                    let tx = tx.clone();
                    inner(Box::pin(async move {
                        if counter.fetch_add(1, Ordering::Relaxed) + 1 == NUM_SPAWN {
                            let _ = tx.lock().unwrap().take().unwrap().send(());
                        }
                    }));
                }
            }));
            rx.await.unwrap();
        })
    })
}

/// Spawns from the thread inside `block_on` (tokio's `spawn_many_remote_idle`).
fn spawn_many_remote<R: Rt>(rt: &R, spawn: impl Fn(&R) -> SpawnFn) -> Duration {
    let spawner = spawn(rt);
    time(|| {
        rt.block_on(async move {
            let (tx, rx) = oneshot::channel();
            let counter = Arc::new(AtomicUsize::new(0));
            let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
            for _ in 0..NUM_SPAWN {
                let counter = counter.clone();
                let tx = tx.clone();
                spawner(Box::pin(async move {
                    if counter.fetch_add(1, Ordering::Relaxed) + 1 == NUM_SPAWN {
                        let _ = tx.lock().unwrap().take().unwrap().send(());
                    }
                }));
            }
            rx.await.unwrap()
        });
    })
}

fn yield_many<R: Rt>(
    rt: &R,
    spawn: impl Fn(&R) -> SpawnFn,
    yield_now: fn() -> YieldFut,
) -> Duration {
    let spawner = spawn(rt);
    time(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel(NUM_YIELD_TASKS);
        for _ in 0..NUM_YIELD_TASKS {
            let tx = tx.clone();
            spawner(Box::pin(async move {
                for _ in 0..NUM_YIELDS {
                    yield_now().await;
                }
                tx.send(()).unwrap();
            }));
        }
        for _ in 0..NUM_YIELD_TASKS {
            rx.recv().unwrap();
        }
    })
}

type YieldFut = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

fn ping_pong<R: Rt>(rt: &R, spawn: impl Fn(&R) -> SpawnFn) -> Duration {
    let spawner = spawn(rt);
    time(|| {
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let rem = Arc::new(AtomicUsize::new(0));
        let sp = spawner.clone();
        rt.block_on(async move {
            let done_tx = done_tx.clone();
            let rem = rem.clone();
            rem.store(NUM_PINGS, Ordering::Relaxed);
            let sp2 = sp.clone();
            sp(Box::pin(async move {
                for _ in 0..NUM_PINGS {
                    let rem = rem.clone();
                    let done_tx = done_tx.clone();
                    let sp3 = sp2.clone();
                    sp2(Box::pin(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        sp3(Box::pin(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        }));
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if 1 == rem.fetch_sub(1, Ordering::Relaxed) {
                            done_tx.send(()).unwrap();
                        }
                    }));
                }
            }));
        });
        done_rx.recv().unwrap();
    })
}

fn chained_spawn<R: Rt>(rt: &R, spawn: impl Fn(&R) -> SpawnFn) -> Duration {
    fn iter(spawner: SpawnFn, done_tx: std::sync::mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done_tx.send(()).unwrap();
        } else {
            let s2 = spawner.clone();
            spawner(Box::pin(async move { iter(s2, done_tx, n - 1) }));
        }
    }
    let spawner = spawn(rt);
    time(|| {
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1000);
        let sp = spawner.clone();
        rt.block_on(async move {
            let s2 = sp.clone();
            sp(Box::pin(async move { iter(s2, done_tx, CHAIN_DEPTH) }));
        });
        done_rx.recv().unwrap();
    })
}

fn main() {
    let n = rounds(15);
    let hio = Hio::new();
    let tok = Tok::new();
    let smol = Smol::new(WORKERS);
    let tok_handle = tok.0.handle().clone();
    let tok_spawn = move |_: &Tok| -> SpawnFn {
        let h = tok_handle.clone();
        Arc::new(move |f| drop(h.spawn(f)))
    };
    let smol_ex = smol.ex.clone();
    let smol_spawn = move |_: &Smol| -> SpawnFn {
        let ex = smol_ex.clone();
        Arc::new(move |f| ex.spawn(f).detach())
    };
    let hio_yield: fn() -> YieldFut = || Box::pin(hioload::task::yield_now());
    let tok_yield: fn() -> YieldFut = || Box::pin(tokio::task::yield_now());
    let smol_yield: fn() -> YieldFut = || Box::pin(futures_lite::future::yield_now());

    println!("rt_multi_threaded: {WORKERS} workers, {n} rounds, alternating contenders");
    macro_rules! workload {
        ($name:literal, $hio:expr, $tok:expr, $smol:expr) => {
            if selected($name) {
                compare(
                    $name,
                    n,
                    &mut [
                        ("hioload", &mut || $hio),
                        ("tokio", &mut || $tok),
                        ("async-executor", &mut || $smol),
                    ],
                );
            }
        };
    }
    let hio_handle = hio.0.handle().clone();
    let hs = move |_: &Hio| -> SpawnFn {
        let h = hio_handle.clone();
        Arc::new(move |f| drop(h.spawn(f)))
    };
    let hs = &hs;
    workload!(
        "spawn_many_local",
        spawn_many_local_hio(&hio),
        spawn_many_local_tok(&tok),
        spawn_many_local_smol(&smol)
    );
    workload!(
        "spawn_many_local_detached",
        spawn_many_local_detached(&hio, hs),
        spawn_many_local_detached(&tok, &tok_spawn),
        spawn_many_local_detached(&smol, &smol_spawn)
    );
    workload!(
        "spawn_many_remote",
        spawn_many_remote(&hio, hs),
        spawn_many_remote(&tok, &tok_spawn),
        spawn_many_remote(&smol, &smol_spawn)
    );
    workload!(
        "yield_many",
        yield_many(&hio, hs, hio_yield),
        yield_many(&tok, &tok_spawn, tok_yield),
        yield_many(&smol, &smol_spawn, smol_yield)
    );
    workload!(
        "ping_pong",
        ping_pong(&hio, hs),
        ping_pong(&tok, &tok_spawn),
        ping_pong(&smol, &smol_spawn)
    );
    workload!(
        "chained_spawn",
        chained_spawn(&hio, hs),
        chained_spawn(&tok, &tok_spawn),
        chained_spawn(&smol, &smol_spawn)
    );
}
