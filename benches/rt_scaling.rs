//! Scaling: spawn, yield and ping-pong throughput of hioload and tokio with
//! 1, 2, 4, 8 and 16 workers (capped at the machine's CPUs), in one run.
//!
//! `cargo bench --bench rt_scaling`; `HIOLOAD_SCALING_MAX=N` caps the worker
//! counts; `HIOLOAD_BENCH_ROUNDS` sets the rounds (default 7).
//!
//! Each workload is sized so every worker has work: `spawn` spawns 100,000 tiny
//! tasks from 16 spawner tasks; `yield` runs 64 tasks x 2,000 yields; `ping_pong`
//! runs 64 concurrent chains of 500 oneshot round trips.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use support::{rounds, time, Samples};

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;
type Spawn = Arc<dyn Fn(BoxFut) -> BoxJoin + Send + Sync>;
type BoxJoin = Pin<Box<dyn Future<Output = ()> + Send>>;
type Yield = fn() -> BoxFut;

const SPAWNERS: usize = 16;
const SPAWNS_PER_SPAWNER: usize = 100_000 / SPAWNERS;
const YIELD_TASKS: usize = 64;
const YIELDS: usize = 2_000;
const PING_CHAINS: usize = 64;
const PINGS: usize = 500;

fn spawn_many(spawn: &Spawn) -> BoxFut {
    let spawn = spawn.clone();
    Box::pin(async move {
        let spawners: Vec<_> = (0..SPAWNERS)
            .map(|_| {
                let inner = spawn.clone();
                spawn(Box::pin(async move {
                    let joins: Vec<_> =
                        (0..SPAWNS_PER_SPAWNER).map(|_| inner(Box::pin(async {}))).collect();
                    for j in joins {
                        j.await;
                    }
                }))
            })
            .collect();
        for s in spawners {
            s.await;
        }
    })
}

fn yield_many(spawn: &Spawn, yield_now: Yield) -> BoxFut {
    let spawn = spawn.clone();
    Box::pin(async move {
        let tasks: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                spawn(Box::pin(async move {
                    for _ in 0..YIELDS {
                        yield_now().await;
                    }
                }))
            })
            .collect();
        for t in tasks {
            t.await;
        }
    })
}

fn ping_pong(spawn: &Spawn) -> BoxFut {
    let spawn = spawn.clone();
    Box::pin(async move {
        let chains: Vec<_> = (0..PING_CHAINS)
            .map(|_| {
                let inner = spawn.clone();
                spawn(Box::pin(async move {
                    for _ in 0..PINGS {
                        let (tx1, rx1) = oneshot::channel::<()>();
                        let (tx2, rx2) = oneshot::channel::<()>();
                        let pong = inner(Box::pin(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        }));
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        pong.await;
                    }
                }))
            })
            .collect();
        for c in chains {
            c.await;
        }
    })
}

fn hio(workers: usize) -> (hioload::Runtime, Spawn) {
    let rt = hioload::Runtime::builder().worker_threads(workers).build().unwrap();
    let h = rt.handle().clone();
    let spawn: Spawn = Arc::new(move |f| {
        let j = h.spawn(f);
        Box::pin(async move { j.await.unwrap() })
    });
    (rt, spawn)
}

fn tok(workers: usize) -> (tokio::runtime::Runtime, Spawn) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.handle().clone();
    let spawn: Spawn = Arc::new(move |f| {
        let j = h.spawn(f);
        Box::pin(async move { j.await.unwrap() })
    });
    (rt, spawn)
}

fn main() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap: usize = std::env::var("HIOLOAD_SCALING_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
        .min(cpus);
    let n = rounds(7);
    let hio_yield: Yield = || Box::pin(hioload::task::yield_now());
    let tok_yield: Yield = || Box::pin(tokio::task::yield_now());
    println!("rt_scaling: {cpus} CPUs, {n} rounds; median time per run (lower is better)");
    println!(
        "{:<10} {:>7} {:>12} {:>12} {:>8} {:>10} {:>10}",
        "workload", "workers", "hioload", "tokio", "ratio", "hio-speedup", "tok-speedup"
    );
    for workload in ["spawn", "yield", "ping_pong"] {
        let mut base: Option<(Duration, Duration)> = None;
        let mut workers = 1;
        while workers <= cap {
            let (hrt, hs) = hio(workers);
            let (trt, ts) = tok(workers);
            let run = |rt_block: &dyn Fn(BoxFut), s: &Spawn, y: Yield| -> Duration {
                let fut = match workload {
                    "spawn" => spawn_many(s),
                    "yield" => yield_many(s, y),
                    _ => ping_pong(s),
                };
                time(|| rt_block(fut))
            };
            let hb = |f: BoxFut| hrt.block_on(f);
            let tb = |f: BoxFut| trt.block_on(f);
            let mut h = Samples { name: "hioload", times: Vec::new() };
            let mut t = Samples { name: "tokio", times: Vec::new() };
            run(&hb, &hs, hio_yield);
            run(&tb, &ts, tok_yield);
            for round in 0..n {
                if round % 2 == 0 {
                    h.times.push(run(&hb, &hs, hio_yield));
                    t.times.push(run(&tb, &ts, tok_yield));
                } else {
                    t.times.push(run(&tb, &ts, tok_yield));
                    h.times.push(run(&hb, &hs, hio_yield));
                }
            }
            let (hm, tm) = (h.median(), t.median());
            let (h1, t1) = *base.get_or_insert((hm, tm));
            println!(
                "{:<10} {:>7} {:>12.3?} {:>12.3?} {:>8.2} {:>10.2} {:>10.2}",
                workload,
                workers,
                hm,
                tm,
                support::ratio(hm, tm),
                support::ratio(h1, hm),
                support::ratio(t1, tm)
            );
            drop((hrt, trt));
            workers *= 2;
        }
    }
}
