//! A tour of the task API: spawn and join, abort, a caught panic, blocking work,
//! and a cancellation token stopping a group of workers.
//!
//! `cargo run --release --example tasks`

use std::time::Duration;

use hioload::task::CancellationToken;

fn main() {
    hioload::block_on(async {
        // Spawn and join.
        let sum = hioload::spawn(async { (1..=100u64).sum::<u64>() });
        println!("joined: sum = {}", sum.await.unwrap());

        // Abort a task that would never finish: its future is dropped.
        let forever = hioload::spawn(std::future::pending::<()>());
        forever.abort();
        let err = forever.await.unwrap_err();
        println!("aborted: is_cancelled = {}", err.is_cancelled());

        // A panic inside a task becomes a JoinError; the worker keeps running.
        std::panic::set_hook(Box::new(|_| {}));
        let boom = hioload::spawn(async { panic!("something went wrong") });
        let err = boom.await.unwrap_err();
        let _ = std::panic::take_hook();
        println!("caught: {err}");

        // Blocking work goes to the blocking pool.
        let read = hioload::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(10));
            "slow result"
        });
        println!("blocking: {}", read.await.unwrap());

        // A cancellation token stops a group of tasks.
        let token = CancellationToken::new();
        let workers: Vec<_> = (0..4)
            .map(|id| {
                let token = token.child_token();
                hioload::spawn(async move {
                    let mut loops = 0u64;
                    while !token.is_cancelled() {
                        loops += 1;
                        hioload::task::yield_now().await;
                    }
                    (id, loops)
                })
            })
            .collect();
        hioload::task::yield_now().await;
        token.cancel();
        for w in workers {
            let (id, loops) = w.await.unwrap();
            println!("worker {id} stopped after {loops} iterations");
        }
    });
}
