//! CancellationToken composed into a shutdown, through the runtime.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hioload::task::CancellationToken;
use support::{rt, Watchdog};

#[test]
fn cancelling_a_parent_stops_every_worker_task() {
    let _w = Watchdog::new("cancel_tree", Duration::from_secs(30));
    let rt = rt(2);
    rt.block_on(async {
        let root = CancellationToken::new();
        let workers: Vec<_> = (0..1_000)
            .map(|i| {
                let token = if i % 2 == 0 { root.child_token() } else { root.clone() };
                hioload::spawn(async move {
                    token.cancelled().await;
                    i
                })
            })
            .collect();
        hioload::task::yield_now().await;
        root.cancel();
        let mut sum = 0;
        for w in workers {
            sum += w.await.unwrap();
        }
        assert_eq!(sum, (0..1_000).sum::<i32>());
    });
}

#[test]
fn drop_guard_cancels_and_owned_future_is_static() {
    let rt = rt(1);
    let token = CancellationToken::new();
    let waiter = rt.spawn(token.clone().cancelled_owned());
    let guard = token.clone().drop_guard();
    drop(guard);
    rt.block_on(waiter).unwrap();
    assert!(token.is_cancelled());
    let kept = CancellationToken::new().drop_guard().disarm();
    assert!(!kept.is_cancelled());
}

#[test]
fn a_descendant_is_cancelled_even_when_the_tokens_between_are_dropped() {
    // A parent holds its children weakly: a dropped intermediate token used to
    // take the path to its descendants with it (tokio-util keeps the tree).
    let root = CancellationToken::new();
    let grandchild = root.child_token().child_token();
    let middle = root.child_token();
    let below_dropped = middle.child_token().child_token();
    drop(middle);
    root.cancel();
    assert!(grandchild.is_cancelled());
    assert!(below_dropped.is_cancelled());
}

#[test]
fn run_until_cancelled_returns_the_output_or_none_and_drops_the_future() {
    let rt = rt(2);
    rt.block_on(async {
        let token = CancellationToken::new();
        assert_eq!(token.run_until_cancelled(async { 3 }).await, Some(3));

        // Cancelled while the future waits: None, and the future is dropped.
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = support::DropFlag(dropped.clone());
        let canceller = token.clone();
        let waiter = hioload::spawn(async move {
            canceller
                .clone()
                .run_until_cancelled_owned(async move {
                    let _guard = guard;
                    std::future::pending::<u8>().await
                })
                .await
        });
        hioload::time::sleep(Duration::from_millis(5)).await;
        token.cancel();
        assert_eq!(waiter.await.unwrap(), None);
        assert!(dropped.load(Ordering::SeqCst));

        // Already cancelled: the future is never polled.
        let polled = AtomicBool::new(false);
        let out = token.run_until_cancelled(async { polled.store(true, Ordering::SeqCst) }).await;
        assert_eq!(out, None);
        assert!(!polled.load(Ordering::SeqCst));
    });
}
