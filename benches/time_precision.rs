//! Timer precision: lateness of 100k sleeps (50 µs .. 1 ms) spread over 1,000 tasks,
//! on hioload, tokio (multi-thread) and smol (async-executor + async-io timers), in
//! one process run. Prints percentiles and the ratio to tokio (lower is better).
//! Pending: needs the runtime merged, and in Cargo.toml:
//!     [[bench]]
//!     name = "time_precision"
//!     harness = false
//! (Self-contained; fold into the shared bench helper when benches/ has one.)

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: u64 = 1_000;
const SLEEPS_PER_TASK: u64 = 100;
const WORKERS: usize = 4;

/// The duration of sleep number `i` of task `t`: 50 µs .. 1 ms, deterministic.
fn duration(t: u64, i: u64) -> Duration {
    Duration::from_micros(50 + (t * 7_919 + i * 104_729) % 950)
}

/// Runs every task's sleeps with `sleep` on a runtime reached through `spawn_all`,
/// returning every lateness.
fn lateness_of<S, Fut>(
    spawn_all: impl FnOnce(
        Vec<std::pin::Pin<Box<dyn Future<Output = Vec<Duration>> + Send>>>,
    ) -> Vec<Vec<Duration>>,
    sleep: S,
) -> Vec<Duration>
where
    S: Fn(Duration) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + Send,
{
    let tasks = (0..TASKS)
        .map(|t| {
            Box::pin(async move {
                let mut late = Vec::with_capacity(SLEEPS_PER_TASK as usize);
                for i in 0..SLEEPS_PER_TASK {
                    let d = duration(t, i);
                    let start = Instant::now();
                    sleep(d).await;
                    late.push(start.elapsed().saturating_sub(d));
                }
                late
            }) as std::pin::Pin<Box<dyn Future<Output = Vec<Duration>> + Send>>
        })
        .collect();
    let mut all: Vec<Duration> = spawn_all(tasks).into_iter().flatten().collect();
    all.sort_unstable();
    all
}

fn hioload_run(
    tasks: Vec<std::pin::Pin<Box<dyn Future<Output = Vec<Duration>> + Send>>>,
) -> Vec<Vec<Duration>> {
    let rt = hioload::Runtime::builder().worker_threads(WORKERS).build().unwrap();
    rt.block_on(async {
        let handles: Vec<_> = tasks.into_iter().map(hioload::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    })
}

fn tokio_run(
    tasks: Vec<std::pin::Pin<Box<dyn Future<Output = Vec<Duration>> + Send>>>,
) -> Vec<Vec<Duration>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    })
}

fn smol_run(
    tasks: Vec<std::pin::Pin<Box<dyn Future<Output = Vec<Duration>> + Send>>>,
) -> Vec<Vec<Duration>> {
    let ex = Arc::new(async_executor::Executor::new());
    let mut stops = Vec::new();
    let threads: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            stops.push(tx);
            let ex = ex.clone();
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(rx)))
        })
        .collect();
    let handles: Vec<_> = tasks.into_iter().map(|t| ex.spawn(t)).collect();
    let out = futures_lite::future::block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await);
        }
        out
    });
    drop(stops);
    for t in threads {
        let _ = t.join();
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let hioload = lateness_of(hioload_run, hioload::time::sleep);
    let tokio = lateness_of(tokio_run, tokio::time::sleep);
    let smol = lateness_of(smol_run, |d| async move {
        async_io::Timer::after(d).await;
    });
    println!(
        "timer lateness, {} sleeps of 50 µs .. 1 ms on {WORKERS} workers",
        TASKS * SLEEPS_PER_TASK
    );
    println!("{:<10} {:>12} {:>12} {:>12} {:>14}", "runtime", "p50", "p99", "max", "p50 vs tokio");
    let base = pct(&tokio, 0.5).as_secs_f64();
    for (name, l) in [("hioload", &hioload), ("tokio", &tokio), ("smol", &smol)] {
        println!(
            "{name:<10} {:>12?} {:>12?} {:>12?} {:>13.2}x",
            pct(l, 0.5),
            pct(l, 0.99),
            l[l.len() - 1],
            pct(l, 0.5).as_secs_f64() / base
        );
    }
}
