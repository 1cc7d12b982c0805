//! `RuntimeMetrics` getters given an index past the runtime's workers or groups.

/// A runtime with one running worker and four slots.
fn rt() -> hioload::Runtime {
    hioload::Runtime::builder().worker_threads(1).max_worker_threads(4).build().unwrap()
}

#[test]
#[should_panic(
    expected = "worker_park_count: worker 99 does not exist (the runtime has 4 worker slots: 0..4"
)]
fn worker_getter_past_the_slots_names_method_index_and_range() {
    rt().metrics().worker_park_count(99);
}

#[test]
#[should_panic(expected = "injector_depth: group 99 does not exist (the runtime has")]
fn group_getter_past_the_groups_names_method_index_and_range() {
    rt().metrics().injector_depth(99);
}

#[test]
fn slot_above_the_running_workers_reads_zero() {
    let rt = rt();
    let m = rt.metrics();
    assert_eq!(m.num_workers(), 1);
    // Slot 3 exists (max_worker_threads is 4) but no worker has run there.
    assert_eq!(m.worker_park_count(3), 0);
    assert_eq!(m.worker_poll_count(3), 0);
    assert_eq!(m.worker_local_queue_depth(3), 0);
    assert_eq!(m.worker_total_busy_duration(3), std::time::Duration::ZERO);
    // The last valid indices do not panic.
    let _ = m.worker_group(3);
    assert_eq!(m.injector_depth(m.num_groups() - 1), 0);
}
