//! `hioload::time::interval` through the public runtime, on paused time.

use std::time::Duration;

use hioload::time::{interval, interval_at, Instant, MissedTickBehavior};

fn paused() -> hioload::Runtime {
    hioload::Runtime::builder().start_paused(true).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn ticks_are_evenly_spaced_and_the_first_is_immediate() {
    paused().block_on(async {
        let start = Instant::now();
        let mut iv = interval(ms(10));
        for i in 0..5 {
            let t = iv.tick().await;
            assert_eq!(t - start, ms(10 * i));
            assert_eq!(Instant::now() - start, ms(10 * i));
        }
    });
}

#[test]
fn interval_at_starts_at_the_given_instant() {
    paused().block_on(async {
        let start = Instant::now() + ms(7);
        let mut iv = interval_at(start, ms(3));
        assert_eq!(iv.tick().await, start);
        assert_eq!(iv.tick().await, start + ms(3));
    });
}

/// Ticks (offsets from start, ms) seen when the consumer stalls from 50 to 170 ms.
async fn ticks_after_a_stall(behavior: MissedTickBehavior) -> Vec<u64> {
    let start = Instant::now();
    let mut iv = interval(ms(50));
    iv.set_missed_tick_behavior(behavior);
    iv.tick().await; // 0
    iv.tick().await; // 50
    hioload::testing::advance(ms(120)).await; // now 170: 100 and 150 missed
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push((iv.tick().await - start).as_millis() as u64);
    }
    seen
}

#[test]
fn missed_tick_behaviors_match_tokio() {
    paused().block_on(async {
        assert_eq!(ticks_after_a_stall(MissedTickBehavior::Burst).await, [100, 150, 200, 250]);
        assert_eq!(ticks_after_a_stall(MissedTickBehavior::Delay).await, [100, 220, 270, 320]);
        assert_eq!(ticks_after_a_stall(MissedTickBehavior::Skip).await, [100, 200, 250, 300]);
    });
}

#[test]
fn reset_restarts_the_schedule() {
    paused().block_on(async {
        let start = Instant::now();
        let mut iv = interval(ms(10));
        iv.tick().await;
        hioload::testing::advance(ms(4)).await;
        iv.reset();
        assert_eq!(iv.tick().await - start, ms(14));
        assert_eq!(iv.period(), ms(10));
        assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
    });
}

#[test]
#[should_panic(expected = "`period` must be non-zero")]
fn a_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}
