//! Worker groups (NUMA): what grouping costs, what locality it buys, and how
//! long a resize takes.
//!
//! 1. `grouping_cost`: the runtime-core workloads on 2 workers, ungrouped
//!    (`Numa::Off`) vs two explicit groups of one CPU (`Numa::Groups`), in
//!    alternating rounds on fresh runtimes each round; prints grouped /
//!    ungrouped (target: within 5%). Run it a few times: on the 2-vCPU VM one
//!    run's median still moves by a few percent.
//! 2. `locality`: producer/consumer pairs in each group; the share of task polls
//!    that ran on a worker of the group that spawned the task (target >= 95%).
//! 3. `resize`: latency of growing by one worker and shrinking by one.
//!
//! `cargo bench --bench rt_numa [-- WORKLOAD]`; `HIOLOAD_BENCH_ROUNDS=N`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use hioload::topology::Numa;
use support::{ratio, rounds, selected, time, Samples};

fn runtime(numa: Numa) -> hioload::Runtime {
    let next = AtomicUsize::new(0);
    hioload::Runtime::builder()
        .worker_threads(2)
        .numa(numa)
        .thread_name_fn(move || format!("hio-{}", next.fetch_add(1, Ordering::Relaxed)))
        .build()
        .unwrap()
}

/// One timed run of a workload on a runtime.
type Workload = fn(&hioload::Runtime) -> Duration;

fn two_groups() -> Numa {
    Numa::Groups(vec![vec![0], vec![1]])
}

/// 10,000 spawns from inside a task, awaited.
fn spawn_many(rt: &hioload::Runtime) -> Duration {
    time(|| {
        rt.block_on(rt.spawn(async {
            let hs: Vec<_> = (0..10_000).map(|_| hioload::spawn(async {})).collect();
            for h in hs {
                h.await.unwrap();
            }
        }))
        .unwrap()
    })
}

/// 200 tasks x 1,000 yields.
fn yield_many(rt: &hioload::Runtime) -> Duration {
    time(|| {
        rt.block_on(async {
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    hioload::spawn(async {
                        for _ in 0..1_000 {
                            hioload::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        })
    })
}

/// 1,000 ping-pongs through oneshot channels between spawned tasks.
fn ping_pong(rt: &hioload::Runtime) -> Duration {
    time(|| {
        rt.block_on(rt.spawn(async {
            let hs: Vec<_> = (0..1_000)
                .map(|_| {
                    hioload::spawn(async {
                        let (tx1, rx1) = oneshot::channel::<()>();
                        let (tx2, rx2) = oneshot::channel::<()>();
                        let pong = hioload::spawn(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        });
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        pong.await.unwrap();
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }))
        .unwrap()
    })
}

/// A chain of 1,000 spawns, each spawning the next.
fn chained_spawn(rt: &hioload::Runtime) -> Duration {
    fn chain(n: usize, done: oneshot::Sender<()>) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            drop(hioload::spawn(async move { chain(n - 1, done) }));
        }
    }
    time(|| {
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            drop(hioload::spawn(async move { chain(1_000, tx) }));
            rx.await.unwrap();
        })
    })
}

fn grouping_cost(n: usize) {
    let workloads: [(&str, Workload); 4] = [
        ("spawn_many_local", spawn_many),
        ("yield_many", yield_many),
        ("ping_pong", ping_pong),
        ("chained_spawn", chained_spawn),
    ];
    println!(
        "grouping_cost: 2 workers, 1 group vs 2 groups, {n} rounds (ratio = grouped / ungrouped)"
    );
    for (name, f) in workloads {
        let mut a = Samples { name: "1 group", times: Vec::new() };
        let mut b = Samples { name: "2 groups", times: Vec::new() };
        for round in 0..n {
            // Fresh runtimes each round: where the OS happens to place a
            // runtime's threads makes a whole instance fast or slow (chained_spawn:
            // ~140 vs ~200 us per run on the VM, either flavour), so one pair of
            // instances would measure placement luck, not grouping.
            let (flat, grouped) = (runtime(Numa::Off), runtime(two_groups()));
            f(&flat);
            f(&grouped);
            if round % 2 == 0 {
                a.times.push(f(&flat));
                b.times.push(f(&grouped));
            } else {
                b.times.push(f(&grouped));
                a.times.push(f(&flat));
            }
        }
        println!(
            "{name:<18} 1 group median {:>10.3?}  2 groups median {:>10.3?}  ratio median {:>5.2} best {:>5.2}",
            a.median(),
            b.median(),
            ratio(b.median(), a.median()),
            ratio(b.best(), a.best())
        );
    }
}

/// The group of the worker running this code (from its thread name `hio-N`).
fn current_group(groups: &[usize]) -> Option<usize> {
    let name = std::thread::current().name()?.to_owned();
    let index: usize = name.strip_prefix("hio-")?.parse().ok()?;
    groups.get(index).copied()
}

fn locality(n: usize) {
    let rt = runtime(two_groups());
    let m = rt.metrics();
    let groups: Arc<Vec<usize>> = Arc::new((0..2).map(|w| m.worker_group(w)).collect());
    let home = Arc::new(AtomicUsize::new(0));
    let away = Arc::new(AtomicUsize::new(0));
    const PAIRS: usize = 8;
    const MESSAGES: usize = 2_000;
    for _ in 0..n {
        let producers: Vec<_> = (0..2 * PAIRS)
            .map(|p| {
                let group = p % 2;
                let (groups, home, away) = (groups.clone(), home.clone(), away.clone());
                rt.handle().spawn_on(group, async move {
                    for _ in 0..MESSAGES {
                        let (tx, rx) = oneshot::channel::<u64>();
                        let (groups2, home2, away2) = (groups.clone(), home.clone(), away.clone());
                        let consumer = hioload::spawn(async move {
                            let v = rx.await.unwrap();
                            let on = current_group(&groups2);
                            let counter = if on == Some(group) { &home2 } else { &away2 };
                            counter.fetch_add(1, Ordering::Relaxed);
                            v
                        });
                        tx.send(1).unwrap();
                        consumer.await.unwrap();
                        let on = current_group(&groups);
                        let counter = if on == Some(group) { &home } else { &away };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for p in producers {
                p.await.unwrap();
            }
        });
    }
    let (h, a) = (home.load(Ordering::SeqCst), away.load(Ordering::SeqCst));
    let polls: Vec<u64> = (0..2).map(|w| m.worker_poll_count(w)).collect();
    let steals: Vec<u64> = (0..2).map(|w| m.worker_remote_steal_count(w)).collect();
    println!(
        "locality: {} pairs per group x {MESSAGES} messages x {n} rounds: {:.2}% of task steps ran on the \
         spawning group ({h} home, {a} away); polls per worker {polls:?}, cross-group steals {steals:?}",
        PAIRS,
        100.0 * h as f64 / (h + a).max(1) as f64
    );
}

fn resize(n: usize) {
    let rt = runtime(two_groups());
    // Keep the runtime busy-ish while resizing: a stream of small tasks.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let load = rt.spawn(async move {
        while !s.load(Ordering::Relaxed) {
            hioload::spawn(async {}).await.unwrap();
            hioload::task::yield_now().await;
        }
    });
    let mut grow = Samples { name: "grow", times: Vec::new() };
    let mut shrink = Samples { name: "shrink", times: Vec::new() };
    for _ in 0..n.max(10) {
        let t = Instant::now();
        rt.resize(3).unwrap();
        grow.times.push(t.elapsed());
        let t = Instant::now();
        rt.resize(2).unwrap();
        shrink.times.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    println!(
        "resize 2->3 (grow by one): median {:.1?} best {:.1?}; 3->2 (shrink by one, worker hands back \
         its queue and exits): median {:.1?} best {:.1?}",
        grow.median(),
        grow.best(),
        shrink.median(),
        shrink.best()
    );
}

fn main() {
    let n = rounds(15);
    if selected("grouping_cost") {
        grouping_cost(n);
    }
    if selected("locality") {
        locality(3);
    }
    if selected("resize") {
        resize(n);
    }
}
