//! Timers side by side: hioload, tokio's multi-thread runtime and smol
//! (async-executor + async-io's `Timer`), each with 2 worker threads.
//!
//! Workloads:
//! - `spread_100k`: 100,000 sleeps whose deadlines are spread uniformly over
//!   100 ms (1,000 tasks x 100 sleeps; task `t`'s sleep `i` ends at
//!   `base + (i * 1000 + t) µs`, so timers fire at 1M/s): lateness p50/p99/max
//!   and the process CPU time the run used.
//! - `sleep_250us`: one task repeating `sleep(250 µs)`: median elapsed.
//! - `timer_create_drop`: create a sleep, poll it once (registering it), drop it.
//! - `timeout_ready`: `timeout(d, ready future).await` (tokio's `time_timeout`).
//!
//! `cargo bench --bench time_precision [-- WORKLOAD]`;
//! `HIOLOAD_BENCH_ROUNDS=N` sets the rounds (default 7);
//! `HIOLOAD_TIMER_SLACK_US=N` runs hioload with `Builder::timer_slack(N µs)`
//! instead of the default (the header line says which).
//!
//! The heap is grown once before the first round (`support::warm_heap`): tokio's
//! spread costs a third as much in a process whose heap has grown as in one
//! whose heap has not.

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use support::{
    compare, median, pct, rounds, selected, time_cpu, verdict, warm_heap, Samples, Smol,
};

const WORKERS: usize = 2;
/// `spread_100k`: tasks, sleeps per task, and the spacing of deadlines.
const SPREAD_TASKS: u64 = 1_000;
const SPREAD_SLEEPS: u64 = 100;
const SPREAD_STEP: Duration = Duration::from_micros(1);
/// Lead time before the first deadline, so spawning does not count as lateness.
const SPREAD_LEAD: Duration = Duration::from_millis(5);
/// `sleep_250us`: sleeps per round.
const SHORT_SLEEPS: usize = 200;
const SHORT: Duration = Duration::from_micros(250);
/// `timer_create_drop` and `timeout_ready`: operations per round.
const OPS: u32 = 200_000;
/// A deadline far enough that it never fires during the bench.
const FAR: Duration = Duration::from_secs(60);

/// A boxed `Send` future.
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What each contender provides.
trait Rt {
    /// Spawns every future onto the workers and waits for all of them.
    fn run_all<T: Send + 'static>(&self, tasks: Vec<BoxFut<T>>) -> Vec<T>;
    /// Runs one future on a worker and waits for it.
    fn run_one<T: Send + 'static>(&self, task: BoxFut<T>) -> T {
        self.run_all(vec![task]).pop().unwrap()
    }
}

struct Hio(hioload::Runtime);
struct Tok(tokio::runtime::Runtime);

impl Rt for Hio {
    fn run_all<T: Send + 'static>(&self, tasks: Vec<BoxFut<T>>) -> Vec<T> {
        self.0.block_on(async {
            let handles: Vec<_> = tasks.into_iter().map(hioload::spawn).collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        })
    }
}

impl Rt for Tok {
    fn run_all<T: Send + 'static>(&self, tasks: Vec<BoxFut<T>>) -> Vec<T> {
        self.0.block_on(async {
            let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        })
    }
}

impl Rt for Smol {
    fn run_all<T: Send + 'static>(&self, tasks: Vec<BoxFut<T>>) -> Vec<T> {
        let handles: Vec<_> = tasks.into_iter().map(|t| self.ex.spawn(t)).collect();
        futures_lite::future::block_on(async {
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await);
            }
            out
        })
    }
}

/// One `spread_100k` run: every lateness (sorted) and the process CPU time.
fn spread<R, S, F>(rt: &R, sleep_until: S) -> (Vec<Duration>, Duration)
where
    R: Rt,
    S: Fn(Instant) -> F + Send + Sync + Copy + 'static,
    F: Future<Output = ()> + Send,
{
    let mut late = Vec::new();
    let (_, cpu) = time_cpu(|| {
        let base = Instant::now() + SPREAD_LEAD;
        let tasks: Vec<BoxFut<Vec<Duration>>> = (0..SPREAD_TASKS)
            .map(|t| {
                Box::pin(async move {
                    let mut late = Vec::with_capacity(SPREAD_SLEEPS as usize);
                    for i in 0..SPREAD_SLEEPS {
                        let step = (i * SPREAD_TASKS + t) as u32;
                        let deadline = base + SPREAD_STEP * step;
                        sleep_until(deadline).await;
                        late.push(Instant::now().saturating_duration_since(deadline));
                    }
                    late
                }) as BoxFut<Vec<Duration>>
            })
            .collect();
        late = rt.run_all(tasks).into_iter().flatten().collect();
    });
    late.sort_unstable();
    (late, cpu)
}

/// One `sleep_250us` run: the elapsed time of each of SHORT_SLEEPS sleeps.
fn short_sleeps<R, S, F>(rt: &R, sleep: S) -> Vec<Duration>
where
    R: Rt,
    S: Fn(Duration) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    rt.run_one(Box::pin(async move {
        let mut out = Vec::with_capacity(SHORT_SLEEPS);
        for _ in 0..SHORT_SLEEPS {
            let start = Instant::now();
            sleep(SHORT).await;
            out.push(start.elapsed());
        }
        out
    }))
}

/// Times OPS runs of `op` inside one task on a worker; returns the time per op.
fn per_op<R, O, F>(rt: &R, op: O) -> Duration
where
    R: Rt,
    O: Fn() -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let total = rt.run_one(Box::pin(async move {
        let start = Instant::now();
        for _ in 0..OPS {
            op().await;
        }
        start.elapsed()
    }));
    total / OPS
}

/// Creates a sleep, polls it once (it registers: the deadline is far) and drops it.
async fn create_drop<S: Future>(s: S) {
    let mut s = pin!(s);
    black_box(poll_once(s.as_mut()).await.is_none());
}

/// Lateness percentiles of one contender, kept per round.
#[derive(Default)]
struct Spread {
    p50: Vec<Duration>,
    p99: Vec<Duration>,
    max: Vec<Duration>,
}

fn main() {
    warm_heap();
    let n = rounds(7);
    let mut builder = hioload::Runtime::builder();
    builder.worker_threads(WORKERS);
    let slack = std::env::var("HIOLOAD_TIMER_SLACK_US").ok().and_then(|v| v.parse().ok());
    if let Some(us) = slack {
        builder.timer_slack(Duration::from_micros(us));
    }
    let hio = Hio(builder.build().unwrap());
    let tok = Tok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap());
    let smol = Smol::new(WORKERS);
    let slack = slack.map_or("default".to_string(), |us| format!("{us} µs"));
    println!(
        "time_precision: {WORKERS} workers, {n} rounds, alternating contenders; hioload timer_slack {slack}"
    );
    let mut summary: Vec<Box<dyn Fn()>> = Vec::new();

    if selected("spread_100k") {
        let stats: [RefCell<Spread>; 3] = Default::default();
        let record = |k: usize, (late, cpu): (Vec<Duration>, Duration)| {
            let mut s = stats[k].borrow_mut();
            s.p50.push(pct(&late, 0.5));
            s.p99.push(pct(&late, 0.99));
            s.max.push(late[late.len() - 1]);
            cpu
        };
        println!(
            "spread_100k: {} sleeps, deadlines {:?} apart over {:?}; times below are process CPU",
            SPREAD_TASKS * SPREAD_SLEEPS,
            SPREAD_STEP,
            SPREAD_STEP * (SPREAD_TASKS * SPREAD_SLEEPS) as u32
        );
        let cpu = compare(
            "spread_100k cpu",
            n,
            &mut [
                ("hioload", &mut || {
                    record(
                        0,
                        spread(&hio, |d| {
                            hioload::time::sleep_until(hioload::time::Instant::from_std(d))
                        }),
                    )
                }),
                ("tokio", &mut || {
                    record(
                        1,
                        spread(&tok, |d| {
                            tokio::time::sleep_until(tokio::time::Instant::from_std(d))
                        }),
                    )
                }),
                ("smol", &mut || {
                    record(
                        2,
                        spread(&smol, |d| async move {
                            async_io::Timer::at(d).await;
                        }),
                    )
                }),
            ],
        );
        println!(
            "{:<22} {:<15} {:>12} {:>12} {:>12}   (median over rounds; warm-up excluded)",
            "spread_100k lateness", "", "p50", "p99", "max"
        );
        let names = ["hioload", "tokio", "smol"];
        // Drop each contender's warm-up round (the first one recorded).
        let stats: Vec<Spread> = stats
            .into_iter()
            .map(|s| {
                let mut s = s.into_inner();
                for v in [&mut s.p50, &mut s.p99, &mut s.max] {
                    v.remove(0);
                }
                s
            })
            .collect();
        for (name, s) in names.iter().zip(&stats) {
            println!(
                "{:<22} {:<15} {:>12.1?} {:>12.1?} {:>12.1?}   ratio/tokio p50 {:>6.3} p99 {:>6.3}",
                "spread_100k lateness",
                name,
                median(&s.p50),
                median(&s.p99),
                median(&s.max),
                support::ratio(median(&s.p50), median(&stats[1].p50)),
                support::ratio(median(&s.p99), median(&stats[1].p99)),
            );
        }
        let (p50, p99) = (median(&stats[0].p50), median(&stats[0].p99));
        let (hcpu, tcpu) = (cpu[0].median(), cpu[1].median());
        summary.push(Box::new(move || {
            verdict(
                "spread_100k lateness p50 (hioload)",
                &format!("{p50:.1?}"),
                "<= 50µs",
                p50 <= Duration::from_micros(50),
            );
            verdict(
                "spread_100k lateness p99 (hioload)",
                &format!("{p99:.1?}"),
                "<= 200µs",
                p99 <= Duration::from_micros(200),
            );
            verdict(
                "spread_100k CPU time (hioload vs tokio)",
                &format!("{hcpu:.1?} vs {tcpu:.1?}"),
                "<= tokio",
                hcpu <= tcpu,
            );
        }));
    }

    if selected("sleep_250us") {
        let all: [RefCell<Vec<Duration>>; 3] = Default::default();
        let keep = |k: usize, v: Vec<Duration>| {
            let m = median(&v);
            all[k].borrow_mut().extend(v);
            m
        };
        let s = compare(
            "sleep_250us",
            n,
            &mut [
                ("hioload", &mut || keep(0, short_sleeps(&hio, hioload::time::sleep))),
                ("tokio", &mut || keep(1, short_sleeps(&tok, tokio::time::sleep))),
                ("smol", &mut || {
                    keep(
                        2,
                        short_sleeps(&smol, |d| async move {
                            async_io::Timer::after(d).await;
                        }),
                    )
                }),
            ],
        );
        println!(
            "{:<22} {:<15} {:>12} {:>12} {:>12}   (all sleeps, warm-up included)",
            "sleep_250us elapsed", "", "p50", "p99", "max"
        );
        for (name, v) in ["hioload", "tokio", "smol"].iter().zip(&all) {
            let mut v = v.borrow().clone();
            v.sort_unstable();
            println!(
                "{:<22} {:<15} {:>12.1?} {:>12.1?} {:>12.1?}",
                "sleep_250us elapsed",
                name,
                pct(&v, 0.5),
                pct(&v, 0.99),
                v[v.len() - 1]
            );
        }
        let m = s[0].median();
        summary.push(Box::new(move || {
            verdict(
                "sleep(250µs) median elapsed (hioload)",
                &format!("{m:.1?}"),
                "< 350µs",
                m < Duration::from_micros(350),
            );
        }));
    }

    let per_op_verdict = |what: &'static str, s: &[Samples]| -> Box<dyn Fn()> {
        let (h, t) = (s[0].median(), s[1].median());
        Box::new(move || {
            verdict(what, &format!("{h:.1?} vs {t:.1?}"), "<= tokio", h <= t);
        })
    };

    if selected("timer_create_drop") {
        println!("timer_create_drop: times below are per op ({OPS} ops per round)");
        let s = compare(
            "timer_create_drop",
            n,
            &mut [
                ("hioload", &mut || per_op(&hio, || create_drop(hioload::time::sleep(FAR)))),
                ("tokio", &mut || per_op(&tok, || create_drop(tokio::time::sleep(FAR)))),
                ("smol", &mut || per_op(&smol, || create_drop(async_io::Timer::after(FAR)))),
            ],
        );
        summary.push(per_op_verdict("timer create+poll+drop per op (hioload vs tokio)", &s));
    }

    if selected("timeout_ready") {
        println!(
            "timeout_ready: times below are per op ({OPS} ops per round); smol = ready.or(Timer)"
        );
        let s = compare(
            "timeout_ready",
            n,
            &mut [
                ("hioload", &mut || {
                    per_op(&hio, || async {
                        black_box(hioload::time::timeout(FAR, async { 1u32 }).await.unwrap());
                    })
                }),
                ("tokio", &mut || {
                    per_op(&tok, || async {
                        black_box(tokio::time::timeout(FAR, async { 1u32 }).await.unwrap());
                    })
                }),
                ("smol", &mut || {
                    per_op(&smol, || async {
                        use futures_lite::FutureExt as _;
                        let r = async { Some(1u32) }
                            .or(async {
                                async_io::Timer::after(FAR).await;
                                None
                            })
                            .await;
                        black_box(r.unwrap());
                    })
                }),
            ],
        );
        summary.push(per_op_verdict("timeout(ready) per op (hioload vs tokio)", &s));
    }

    println!();
    println!("summary (hioload against the issue's targets):");
    for line in &summary {
        line();
    }
}
