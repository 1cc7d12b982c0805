//! The shared bench harness: runs each contender on the same workload in
//! alternating rounds (so drift hits all alike) and prints medians, best-of-N
//! and ratios against tokio.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// One contender's measured times for one workload.
pub struct Samples {
    /// Contender name.
    pub name: &'static str,
    /// One duration per round.
    pub times: Vec<Duration>,
}

impl Samples {
    /// Median of the rounds.
    pub fn median(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[t.len() / 2]
    }

    /// Best round.
    pub fn best(&self) -> Duration {
        *self.times.iter().min().expect("at least one round")
    }
}

/// Number of rounds, from `HIOLOAD_BENCH_ROUNDS` (default `default`).
pub fn rounds(default: usize) -> usize {
    std::env::var("HIOLOAD_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether the workload `name` was selected (`cargo bench -- NAME` filters).
pub fn selected(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    args.is_empty() || args.iter().any(|a| name.contains(a.as_str()))
}

/// Runs every contender `rounds` times, alternating, after one warm-up each.
/// Each closure runs the workload once and returns its duration.
pub fn compare(
    workload: &str,
    rounds: usize,
    contenders: &mut [(&'static str, &mut dyn FnMut() -> Duration)],
) -> Vec<Samples> {
    let mut samples: Vec<Samples> =
        contenders.iter().map(|(name, _)| Samples { name, times: Vec::new() }).collect();
    for (_, run) in contenders.iter_mut() {
        run();
    }
    for round in 0..rounds {
        // Rotate the order each round so no contender always runs first.
        let n = contenders.len();
        for k in 0..n {
            let i = (round + k) % n;
            let t = (contenders[i].1)();
            samples[i].times.push(t);
        }
    }
    report(workload, &samples);
    samples
}

/// Prints one workload's line per contender, with ratios to the second
/// contender (tokio) by convention: contender 0 is hioload.
pub fn report(workload: &str, samples: &[Samples]) {
    let base = samples.iter().find(|s| s.name == "tokio");
    for s in samples {
        let (rm, rb) = match base {
            Some(b) => (ratio(s.median(), b.median()), ratio(s.best(), b.best())),
            None => (f64::NAN, f64::NAN),
        };
        println!(
            "{workload:<22} {:<15} median {:>10.3?}  best {:>10.3?}  ratio/tokio median {:>5.2} best {:>5.2}",
            s.name,
            s.median(),
            s.best(),
            rm,
            rb
        );
    }
}

/// `a / b` as a float.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Times `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// CPU time used so far by the whole process (every thread, user + system).
/// Zero where the platform gives no per-process CPU clock.
pub fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// Allocates and frees 100 MB (10,000 blocks of 10 KB) on this thread, so that
/// every contender's first round runs in a process whose heap has grown once,
/// whichever contender runs first.
///
/// tokio's `spread_100k` costs 104–153 ms of CPU in a process whose heap has not
/// grown yet and 31–46 ms in one where it has (VM, standalone copies of the
/// workload: 100 MB of blocks freed before it does it, 10–20 MB does not; a
/// hioload spread or 100k tokio spawns run first do it too). In the expensive
/// mode tokio's timer shard lock is contended; the mechanism is not known.
/// hioload's spread costs the same either way, and a long-running service's
/// heap has grown long ago.
pub fn warm_heap() {
    let blocks: Vec<Vec<u8>> = (0..10_000).map(|_| vec![1u8; 10_000]).collect();
    drop(std::hint::black_box(blocks));
}

/// Wall time and process CPU time of `f`.
pub fn time_cpu(f: impl FnOnce()) -> (Duration, Duration) {
    let (start, cpu) = (Instant::now(), cpu_time());
    f();
    (start.elapsed(), cpu_time().saturating_sub(cpu))
}

/// The `p` quantile (0.0 ..= 1.0) of sorted samples.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Median of unsorted samples.
pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

/// Prints one line of the final summary: a measured value against its target.
pub fn verdict(what: &str, value: &str, target: &str, pass: bool) {
    println!("{what:<44} {value:>22}  target {target:<26} {}", if pass { "PASS" } else { "FAIL" });
}

/// smol's `async-executor` with `workers` runner threads (the third contender
/// of every bench); the runners are stopped and joined on drop.
pub struct Smol {
    /// The executor the runners drive.
    pub ex: std::sync::Arc<async_executor::Executor<'static>>,
    /// Dropping it ends every runner's `run` future.
    stop: Option<futures_channel::oneshot::Sender<()>>,
    /// The runner threads.
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Smol {
    /// Starts `workers` runner threads.
    pub fn new(workers: usize) -> Smol {
        let ex = std::sync::Arc::new(async_executor::Executor::new());
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let rx = futures_util::future::FutureExt::shared(rx);
        let threads = (0..workers)
            .map(|_| {
                let (ex, rx) = (ex.clone(), rx.clone());
                std::thread::spawn(move || {
                    futures_lite::future::block_on(ex.run(async move {
                        let _ = rx.await;
                    }))
                })
            })
            .collect();
        Smol { ex, stop: Some(tx), threads }
    }
}

impl Drop for Smol {
    fn drop(&mut self) {
        drop(self.stop.take());
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}
