//! Memory per idle spawned task: 100,000 tasks that each wait on a oneshot
//! channel, on hioload, tokio and async-executor; the resident-set growth per
//! task (Linux: /proc/self/statm), each runtime measured in its own phase.
//!
//! `cargo bench --bench rt_memory`

mod support;

use std::future::Future;

const TASKS: usize = 100_000;

/// Resident set size in bytes (Linux); 0 elsewhere.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Spawns TASKS idle tasks with `spawn`, measures RSS growth, then releases them.
fn measure(name: &str, spawn: &dyn Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>)) -> f64 {
    let mut senders = Vec::with_capacity(TASKS);
    let before = rss();
    for _ in 0..TASKS {
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        senders.push(tx);
        spawn(Box::pin(async move {
            let _ = rx.await;
        }));
    }
    // Let every task run its first poll and go idle.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = rss();
    let per_task = (after.saturating_sub(before)) as f64 / TASKS as f64;
    println!(
        "{name:<15} {per_task:>8.0} bytes per idle task (RSS +{} KiB for {TASKS})",
        (after - before) / 1024
    );
    drop(senders);
    std::thread::sleep(std::time::Duration::from_millis(300));
    per_task
}

fn child(which: &str) {
    // The channel (one allocation per task here) is the same for all three;
    // the difference between runtimes is the task itself.
    match which {
        "hioload" => {
            let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
            let h = rt.handle().clone();
            measure("hioload", &move |f| drop(h.spawn(f)));
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let h = rt.handle().clone();
            measure("tokio", &move |f| drop(h.spawn(f)));
        }
        _ => {
            let smol = support::Smol::new(2);
            let ex = smol.ex.clone();
            measure("async-executor", &move |f| ex.spawn(f).detach());
        }
    }
}

fn main() {
    // Each runtime runs in a fresh process, so no one reuses memory another freed.
    if let Some(which) = std::env::args().find_map(|a| a.strip_prefix("child=").map(str::to_owned))
    {
        child(&which);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut per_task = Vec::new();
    for which in ["hioload", "tokio", "async-executor"] {
        let out = std::process::Command::new(&exe).arg(format!("child={which}")).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        print!("{text}");
        let bytes: f64 =
            text.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        per_task.push(bytes);
    }
    println!(
        "ratio hioload/tokio {:.2}, async-executor/tokio {:.2}",
        per_task[0] / per_task[1],
        per_task[2] / per_task[1]
    );
}
