//! CancellationToken composed into a shutdown, through the runtime.

mod support;

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
