//! Worker groups (NUMA), pinning and metrics, through the public API.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hioload::topology::Numa;
use support::Watchdog;

fn two_groups(pin: bool) -> hioload::Runtime {
    hioload::Runtime::builder()
        .worker_threads(2)
        .numa(Numa::Groups(vec![vec![0], vec![1]]))
        .pin_workers(pin)
        .build()
        .unwrap()
}

#[test]
fn workers_are_dealt_to_groups_in_turn() {
    let rt = two_groups(false);
    let m = rt.metrics();
    assert_eq!(m.num_groups(), 2);
    assert_eq!(m.worker_group(0), 0);
    assert_eq!(m.worker_group(1), 1);
    assert_eq!(m.worker_cpu(0), None, "not pinned");
    rt.resize(4).unwrap();
    let groups: Vec<_> = (0..4).map(|w| m.worker_group(w)).collect();
    assert_eq!(groups.iter().filter(|g| **g == 0).count(), 2, "{groups:?}");
}

#[test]
fn pinned_workers_report_their_cpu_affinity() {
    let cpus = hioload::topology::Topology::discover().unwrap().cpus();
    if cpus.len() < 2 || hioload::topology::current_thread_affinity().is_err() {
        return; // needs two CPUs and a readable affinity (Linux)
    }
    let rt = hioload::Runtime::builder()
        .worker_threads(2)
        .numa(Numa::Groups(vec![vec![cpus[0]], vec![cpus[1]]]))
        .pin_workers(true)
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    rt.block_on(async {
        // Enough tasks that both workers run some.
        let handles: Vec<_> = (0..2_000)
            .map(|_| {
                let seen = seen.clone();
                hioload::spawn(async move {
                    let affinity = hioload::topology::current_thread_affinity().unwrap();
                    seen.lock().unwrap().insert(affinity);
                    std::thread::sleep(Duration::from_micros(20));
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let seen = seen.lock().unwrap();
    for affinity in seen.iter() {
        assert_eq!(affinity.len(), 1, "a worker pinned to one CPU: {affinity:?}");
        assert!(cpus[..2].contains(&affinity[0]));
    }
    let m = rt.metrics();
    assert_eq!(m.worker_cpu(0), Some(cpus[0]));
    assert_eq!(m.worker_cpu(1), Some(cpus[1]));
    // Blocking-pool threads are not pinned.
    let blocking = rt.block_on(rt.spawn_blocking(hioload::topology::current_thread_affinity));
    assert!(blocking.unwrap().unwrap().len() >= 2);
}

#[test]
fn pinning_a_cpu_the_process_cannot_use_fails_build() {
    let err = hioload::Runtime::builder()
        .worker_threads(1)
        .numa(Numa::Groups(vec![vec![100_000]]))
        .pin_workers(true)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let err = hioload::Builder::new_current_thread().pin_workers(true).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    let err = hioload::Runtime::builder().numa(Numa::Groups(vec![vec![]])).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn an_idle_group_steals_from_an_overloaded_one() {
    let _w = Watchdog::new("cross_group_steal", Duration::from_secs(60));
    let rt = two_groups(false);
    rt.block_on(async {
        // One task floods its own worker's queue with CPU-bound tasks.
        hioload::spawn(async {
            let handles: Vec<_> = (0..2_000)
                .map(|_| hioload::spawn(async { std::thread::sleep(Duration::from_micros(50)) }))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let m = rt.metrics();
    let remote: u64 = (0..2).map(|w| m.worker_remote_steal_count(w)).sum();
    assert!(remote > 0, "the other group's worker stole work");
    let polls: u64 = (0..2).map(|w| m.worker_poll_count(w)).sum();
    assert!(polls >= 2_001, "polls {polls}");
}

#[test]
fn metrics_add_up() {
    let rt = hioload::Runtime::builder().worker_threads(2).build().unwrap();
    let before: u64 = (0..2).map(|w| rt.metrics().worker_poll_count(w)).sum();
    rt.block_on(async {
        for _ in 0..1_000 {
            hioload::spawn(async {}).await.unwrap();
        }
    });
    let m = rt.metrics();
    let polls: u64 = (0..2).map(|w| m.worker_poll_count(w)).sum();
    // Each task completes in one poll; a task may be polled once more only if
    // woken while running, which these are not.
    assert_eq!(polls - before, 1_000);
    assert_eq!(m.num_alive_tasks(), 0);
    assert_eq!(m.injector_depth(0), 0);
}
