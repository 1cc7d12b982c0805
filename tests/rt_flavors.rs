//! The current-thread flavour, builder validation, thread hooks, resize.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{rt, Watchdog};

#[test]
fn current_thread_runs_everything_on_the_caller() {
    let _w = Watchdog::new("current_thread", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    let caller = std::thread::current().id();
    let ids = rt.block_on(async {
        let mut ids = vec![std::thread::current().id()];
        for _ in 0..10 {
            ids.push(hioload::spawn(async { std::thread::current().id() }).await.unwrap());
        }
        ids
    });
    assert!(ids.iter().all(|id| *id == caller));
}

#[test]
fn current_thread_wakes_from_another_thread() {
    let _w = Watchdog::new("current_thread_remote", Duration::from_secs(30));
    let rt = hioload::Builder::new_current_thread().build().unwrap();
    let (tx, rx) = futures_channel::oneshot::channel();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.send(5).unwrap();
    });
    assert_eq!(rt.block_on(rx).unwrap(), 5);
    // A task spawned from outside runs at the next block_on.
    let h = rt.handle().spawn(async { 6 });
    assert_eq!(rt.block_on(h).unwrap(), 6);
    t.join().unwrap();
}

#[test]
fn current_thread_keeps_pending_tasks_between_block_ons() {
    let rt = hioload::Builder::new_current_thread().build().unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let task = async move {
        for _ in 0..10 {
            c.fetch_add(1, Ordering::SeqCst);
            hioload::task::yield_now().await;
        }
    };
    // Spawned inside one block_on, finished by the next.
    let handle = rt.block_on(async move {
        let handle = hioload::spawn(task);
        hioload::task::yield_now().await;
        Some(handle)
    });
    let handle = handle.unwrap();
    rt.block_on(handle).unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 10);
}

#[test]
fn current_thread_block_on_from_a_second_thread_drives_once_the_first_returns() {
    // The second caller waits while the first drives, then must take over:
    // nobody else would turn the driver for its timer (it hung for ever).
    let _w = Watchdog::new("two_block_ons", Duration::from_secs(30));
    let rt = Arc::new(hioload::Runtime::builder().current_thread().build().unwrap());
    let first = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            rt.block_on(async { hioload::time::sleep(Duration::from_millis(50)).await })
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    let second = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            rt.block_on(async {
                let task = hioload::spawn(async { 7 });
                hioload::time::sleep(Duration::from_millis(200)).await;
                task.await.unwrap()
            })
        })
    };
    first.join().unwrap();
    assert_eq!(second.join().unwrap(), 7);
}

#[test]
fn current_thread_block_on_that_panics_leaves_the_runtime_usable() {
    let _w = Watchdog::new("panicking_block_on", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    let queued = Arc::new(AtomicUsize::new(0));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let queued = queued.clone();
            drop(hioload::spawn(async move { queued.fetch_add(1, Ordering::SeqCst) }));
            panic!("the main future panics");
        })
    }));
    assert!(result.is_err());
    rt.block_on(async { hioload::time::sleep(Duration::from_millis(1)).await });
    assert_eq!(queued.load(Ordering::SeqCst), 1, "the task queued before the panic ran");
}

#[test]
fn current_thread_tasks_that_stay_runnable_do_not_starve_timers_or_io() {
    let _w = Watchdog::new("runnable_starves", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().build().unwrap();
    rt.block_on(async {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinner = {
            let stop = stop.clone();
            hioload::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    hioload::task::yield_now().await;
                }
            })
        };
        let slept = hioload::time::timeout(
            Duration::from_secs(5),
            hioload::time::sleep(Duration::from_millis(10)),
        );
        assert!(slept.await.is_ok(), "a 10 ms sleep starved by a runnable task");
        let socket = hioload::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"ping", socket.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let received = hioload::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf));
        assert_eq!(received.await.expect("a datagram starved").unwrap().0, 4);
        stop.store(true, Ordering::Relaxed);
        spinner.await.unwrap();
    });
}

#[test]
fn bad_builder_values_fail_build_naming_the_value() {
    let cases: Vec<(hioload::Builder, &str)> = vec![
        (
            {
                let mut b = hioload::Runtime::builder();
                b.worker_threads(0);
                b
            },
            "worker_threads",
        ),
        (
            {
                let mut b = hioload::Runtime::builder();
                b.event_interval(0);
                b
            },
            "event_interval",
        ),
        (
            {
                let mut b = hioload::Runtime::builder();
                b.global_queue_interval(0);
                b
            },
            "global_queue_interval",
        ),
        (
            {
                let mut b = hioload::Runtime::builder();
                b.max_blocking_threads(0);
                b
            },
            "max_blocking_threads",
        ),
        (
            {
                let mut b = hioload::Runtime::builder();
                b.worker_threads(4).max_worker_threads(2);
                b
            },
            "max_worker_threads",
        ),
        (
            {
                // Overflowed computing the default maximum.
                let mut b = hioload::Runtime::builder();
                b.worker_threads(usize::MAX);
                b
            },
            "worker_threads must be at most",
        ),
        (
            {
                // Allocated a slot per worker up front: the process aborted.
                let mut b = hioload::Runtime::builder();
                b.max_worker_threads(1 << 40);
                b
            },
            "max_worker_threads must be at most",
        ),
        (
            {
                // std panics on a thread name with a NUL byte.
                let mut b = hioload::Runtime::builder();
                b.worker_threads(1).thread_name("a\0b");
                b
            },
            "NUL",
        ),
    ];
    for (mut builder, name) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(name), "{err}");
    }
    let err = hioload::Runtime::builder().worker_threads(0).build().unwrap_err();
    assert!(err.to_string().contains("(got 0)"), "{err}");
}

#[test]
fn thread_names_and_hooks_run_on_every_worker() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s, t) = (started.clone(), stopped.clone());
    let rt = hioload::Runtime::builder()
        .worker_threads(3)
        .thread_name("svc-worker")
        .on_thread_start(move || {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            t.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let name =
        rt.block_on(rt.spawn(async { std::thread::current().name().map(str::to_owned) })).unwrap();
    assert_eq!(name.as_deref(), Some("svc-worker"));
    drop(rt);
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
}

#[test]
fn resize_grows_and_shrinks_while_tasks_run_losing_none() {
    let _w = Watchdog::new("resize", Duration::from_secs(60));
    let rt = rt(1);
    let ran = Arc::new(Mutex::new(vec![0u8; 100_000]));
    let mut handles = Vec::new();
    for i in 0..100_000usize {
        let ran = ran.clone();
        handles.push(rt.spawn(async move {
            if i % 7 == 0 {
                hioload::task::yield_now().await;
            }
            ran.lock().unwrap()[i] += 1;
        }));
    }
    for n in [4, 1, 2, 3, 1] {
        rt.resize(n).unwrap();
        assert_eq!(rt.metrics().num_workers(), n);
    }
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(ran.lock().unwrap().iter().all(|&c| c == 1), "every task ran exactly once");
    assert_eq!(rt.resize(0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let ct = hioload::Builder::new_current_thread().build().unwrap();
    assert_eq!(ct.resize(2).unwrap_err().kind(), std::io::ErrorKind::Unsupported);
}

#[test]
fn callbacks_that_panic_do_not_hang_the_runtime() {
    let _w = Watchdog::new("panicking_callbacks", Duration::from_secs(60));
    // A worker or pool thread whose start hook panicked died while still
    // counted: every task hung, and so did dropping the runtime.
    let rt = hioload::Runtime::builder()
        .worker_threads(1)
        .on_thread_start(|| panic!("on_thread_start panics"))
        .build()
        .unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 2)).unwrap(), 2);
    drop(rt);
    // A stop hook that panicked left the retired slot taken: the next grow spun.
    let rt = hioload::Runtime::builder()
        .worker_threads(2)
        .on_thread_stop(|| panic!("on_thread_stop panics"))
        .build()
        .unwrap();
    rt.resize(1).unwrap();
    rt.resize(2).unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
    drop(rt);
    // A name function that panicked left its slot marked running with no thread.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let rt = hioload::Runtime::builder()
        .worker_threads(1)
        .thread_name_fn(move || {
            if counted.fetch_add(1, Ordering::SeqCst) == 1 {
                panic!("thread_name_fn panics");
            }
            "named".to_string()
        })
        .build()
        .unwrap();
    let err = rt.resize(2).unwrap_err();
    assert!(err.to_string().contains("thread_name_fn"), "{err}");
    rt.resize(2).unwrap();
    assert_eq!(rt.block_on(rt.spawn(async { 4 })).unwrap(), 4);
}

#[test]
fn a_blocking_job_no_thread_can_run_is_cancelled_not_lost() {
    // The pool could not start a thread (a stack no OS gives) and none was
    // left: the job stayed queued and its handle waited for ever.
    let _w = Watchdog::new("unstartable_pool", Duration::from_secs(30));
    let rt = hioload::Runtime::builder().current_thread().thread_stack_size(1 << 44).build();
    let Ok(rt) = rt else { return }; // a platform that refuses the size up front is fine too
    let err = rt.block_on(rt.spawn_blocking(|| 1)).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
}
