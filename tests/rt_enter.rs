//! `Runtime::enter` / `Handle::enter`: a runtime made current on a plain thread.

mod support;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use hioload::Handle;
use support::{rt, Watchdog};

fn named(name: &'static str) -> hioload::Runtime {
    hioload::Runtime::builder().worker_threads(1).thread_name(name).build().unwrap()
}

/// The name of the worker thread that runs a task spawned with `hioload::spawn` here.
fn spawn_lands_on(rt: &hioload::Runtime) -> String {
    let task = hioload::spawn(async { std::thread::current().name().unwrap_or("").to_owned() });
    rt.block_on(task).unwrap()
}

#[test]
fn spawn_timers_and_sockets_work_inside_the_guard_and_not_after() {
    let _w = Watchdog::new("enter_basic", Duration::from_secs(30));
    let rt = rt(2);
    assert!(Handle::try_current().is_err());
    let (task, nap, listener) = {
        let _guard = rt.enter();
        assert!(Handle::try_current().is_ok());
        let task = hioload::spawn(async { 21 * 2 });
        let nap = hioload::time::sleep(Duration::from_millis(2));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listener = hioload::net::TcpListener::from_std(std_listener).unwrap();
        (task, nap, listener)
    };
    assert!(Handle::try_current().is_err(), "the runtime stayed current after the guard");
    let addr = listener.local_addr().unwrap();
    rt.block_on(async move {
        assert_eq!(task.await.unwrap(), 42);
        nap.await;
        let client = hioload::spawn(async move { hioload::net::TcpStream::connect(addr).await });
        let (_server_side, _) = listener.accept().await.unwrap();
        client.await.unwrap().unwrap();
    });
}

#[test]
fn nested_guards_restore_the_outer_runtime() {
    let _w = Watchdog::new("enter_nested", Duration::from_secs(30));
    let (one, two) = (named("rt-one"), named("rt-two"));
    let _outer = one.enter();
    assert_eq!(spawn_lands_on(&one), "rt-one");
    {
        let _inner = two.enter();
        assert_eq!(spawn_lands_on(&two), "rt-two");
    }
    assert_eq!(spawn_lands_on(&one), "rt-one");
}

#[test]
fn block_on_works_inside_the_guard() {
    let rt = rt(2);
    let _guard = rt.enter();
    assert_eq!(rt.block_on(async { hioload::spawn(async { 7 }).await.unwrap() }), 7);
    // Still current once block_on returned.
    assert!(Handle::try_current().is_ok());
}

#[test]
fn guards_dropped_out_of_order_panic_with_a_message() {
    let (one, two) = (named("rt-a"), named("rt-b"));
    let outer = one.enter();
    let inner = two.enter();
    let err = std::panic::catch_unwind(AssertUnwindSafe(move || drop(outer))).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("out of order"), "unexpected panic: {msg:?}");
    drop(inner);
}

#[test]
fn a_guard_from_a_handle_outliving_its_runtime_gives_cancelled_spawns() {
    let _w = Watchdog::new("enter_after_drop", Duration::from_secs(30));
    let rt = rt(2);
    let handle = rt.handle().clone();
    let guard = handle.enter();
    drop(rt);
    let task = hioload::spawn(async { 1 });
    drop(guard);
    assert!(futures_lite::future::block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn block_on_inside_a_guard_taken_in_async_code_still_refuses_to_block() {
    // The guard replaced the thread's "running async code" state, so a
    // `block_on` inside it went ahead: on a current-thread runtime it waited
    // for the core its own thread held, for ever (found by a review; tokio
    // panics, as here).
    let _w = Watchdog::new("enter_block_on", Duration::from_secs(30));
    let refused = |msg: &str| msg.contains("Cannot start a runtime from within a runtime");
    let current = hioload::Builder::new_current_thread().build().unwrap();
    let handle = current.handle().clone();
    let err = std::panic::catch_unwind(AssertUnwindSafe(|| {
        current.block_on(async {
            let _guard = handle.enter();
            handle.block_on(hioload::time::sleep(Duration::from_millis(1)));
        })
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(refused(msg), "current-thread: {msg:?}");

    let multi = rt(2);
    let handle = multi.handle().clone();
    let task = multi.spawn(async move {
        let _guard = handle.enter();
        handle.block_on(async { 1 })
    });
    let err = multi.block_on(task).unwrap_err().into_panic();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(refused(msg), "worker: {msg:?}");
}
