//! The runtime clock: real or paused (virtual) time.
//!
//! This file is the only caller of `std::time::Instant::now()` in the crate; every
//! other reader of time goes through a [`Clock`] (or [`real_now`] outside a runtime),
//! which is what makes paused time work for everything at once.
//!
//! # Model (the same as tokio's test clock)
//!
//! `now = base + (time since unfrozen)` while running, `now = base` while paused.
//! Pausing sets `base = now`; advancing adds to `base`; resuming restarts the real
//! stopwatch from `base`. Time is therefore monotonic across pause/advance/resume, and
//! may run ahead of the real clock after an advance.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Reads the real monotonic clock (the crate's single call to `Instant::now()`).
pub(crate) fn real_now() -> Instant {
    Instant::now()
}

/// A runtime's clock; cheap to clone (clones share the same time).
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// The shared state.
    inner: Arc<Inner>,
}

/// State shared by the clones of a [`Clock`].
#[derive(Debug)]
struct Inner {
    /// Time zero of the timer wheels (nanosecond deadlines count from here); fixed.
    origin: Instant,
    /// False until the clock is first paused: until then `now()` is the real clock
    /// and never takes the lock. Written once (false -> true) under `state`'s lock.
    ever_paused: AtomicBool,
    /// The virtual-time bookkeeping; read by `now()` once `ever_paused` is set.
    state: Mutex<State>,
    /// Bumped each time a thread of the runtime becomes busy (a worker leaves
    /// its park, a `block_on` future is woken, a parked worker fires timers)
    /// once the clock was ever paused: an auto-advance goes ahead only if it has
    /// not moved since the runtime was found idle (`advance_to_if_idle`).
    activity: AtomicU64,
}

/// The virtual-time bookkeeping of a clock.
#[derive(Debug)]
struct State {
    /// The clock's time when `unfrozen` was last set (or its frozen time when paused).
    base: Instant,
    /// The real instant from which time runs on from `base`; `None` while paused.
    unfrozen: Option<Instant>,
    /// Sweeps under way for threads that count as parked (`begin_firing`): the
    /// tasks they wake are in no queue yet, so the runtime is not idle.
    firing: usize,
    /// An auto-advance was refused since the last sweep ended: the sweep that
    /// ends next makes its caller wake the drivers to look again.
    refused: bool,
}

impl Clock {
    /// A clock that reads real time.
    #[cfg(test)]
    pub(crate) fn real() -> Clock {
        Clock::new(false)
    }

    /// A clock that starts paused at the current real time (`Builder::start_paused(true)`).
    #[cfg(test)]
    pub(crate) fn paused() -> Clock {
        Clock::new(true)
    }

    /// A clock that starts paused or running.
    pub(crate) fn new(start_paused: bool) -> Clock {
        let origin = real_now();
        let unfrozen = if start_paused { None } else { Some(origin) };
        Clock {
            inner: Arc::new(Inner {
                origin,
                ever_paused: AtomicBool::new(start_paused),
                state: Mutex::new(State { base: origin, unfrozen, firing: 0, refused: false }),
                activity: AtomicU64::new(0),
            }),
        }
    }

    /// The current time of this clock.
    pub(crate) fn now(&self) -> Instant {
        if !self.ever_paused() {
            let now = real_now();
            // Still never paused after the read: `pause` sets the flag before it
            // reads the real clock for its frozen time, so this reading is
            // earlier than that time, and the clock never goes backwards. A
            // pause that came in between is answered from the frozen state.
            if !self.ever_paused() {
                return now;
            }
        }
        let state = self.lock();
        match state.unfrozen {
            Some(since) => state.base + since.elapsed(),
            None => state.base,
        }
    }

    /// The instant the wheel deadlines count from.
    #[cfg(test)]
    pub(crate) fn origin(&self) -> Instant {
        self.inner.origin
    }

    /// The last instant paused time may reach: one nanosecond short of the
    /// [`HORIZON_NS`], where deadlines are never due.
    fn last_paused_instant(&self) -> Instant {
        self.nanos_to_instant(HORIZON_NS - 1)
    }

    /// Nanoseconds from the origin to `t`: 0 before it, saturating at `u64::MAX`
    /// (584 years) so that far-future deadlines never overflow.
    pub(crate) fn to_nanos(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.inner.origin);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` nanoseconds after the origin (saturating at a far future).
    pub(crate) fn nanos_to_instant(&self, ns: u64) -> Instant {
        let origin = self.inner.origin;
        origin.checked_add(Duration::from_nanos(ns)).unwrap_or_else(|| far_future(origin))
    }

    /// True while the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.ever_paused() && self.lock().unfrozen.is_none()
    }

    /// Freezes time; returns false (and changes nothing) if it already was frozen.
    pub(crate) fn pause(&self) -> bool {
        let mut state = self.lock();
        let Some(since) = state.unfrozen.take() else { return false };
        // Flag first, then the frozen time: see `now`'s fast path.
        self.inner.ever_paused.store(true, Ordering::SeqCst);
        state.base += since.elapsed();
        true
    }

    /// Lets time run again from where it stands; returns false if it was not frozen.
    pub(crate) fn resume(&self) -> bool {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return false;
        }
        state.unfrozen = Some(real_now());
        true
    }

    /// Moves frozen time forward by `d`; no change if time is running, or if
    /// the move would reach the [`HORIZON_NS`].
    pub(crate) fn advance(&self, d: Duration) -> Result<(), AdvanceRefused> {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return Err(AdvanceRefused::Running);
        }
        let to = state.base.checked_add(d).unwrap_or_else(|| far_future(state.base));
        if to > self.last_paused_instant() {
            return Err(AdvanceRefused::PastHorizon);
        }
        state.base = to;
        Ok(())
    }

    /// Moves frozen time forward to `t`; never moves it backwards (tests; the
    /// runtime's auto-advance is [`Clock::advance_to_if_idle`]).
    ///
    /// Returns true if time is frozen (whether or not it moved), false if it runs.
    #[cfg(test)]
    pub(crate) fn advance_to(&self, t: Instant) -> bool {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return false;
        }
        state.base = state.base.max(t);
        true
    }

    /// True once the clock has ever been paused (one load): then time may jump,
    /// and "surely not elapsed yet" shortcuts must read it instead.
    pub(crate) fn ever_paused(&self) -> bool {
        self.inner.ever_paused.load(Ordering::SeqCst)
    }

    /// Records that a thread of the runtime became busy: call it before that
    /// thread reads the clock or registers a timer. One load while the clock
    /// has never been paused.
    pub(crate) fn note_activity(&self) {
        if self.ever_paused() {
            self.inner.activity.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Before a thread counted as parked fires timers (a driver holder's or a
    /// caretaker's sweep): while it does, and until the tasks it woke are
    /// where the idle checks see them, the runtime is not idle, and an
    /// auto-advance decided before is refused (the epoch moves). Returns
    /// whether it counted (only once the clock was ever paused); if so, call
    /// [`Clock::end_firing`] once the woken tasks are queued visibly.
    pub(crate) fn begin_firing(&self) -> bool {
        if !self.ever_paused() {
            return false;
        }
        let mut state = self.lock();
        state.firing += 1;
        self.inner.activity.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Ends a [`Clock::begin_firing`] that returned true. Returns true if an
    /// auto-advance was refused meanwhile and no sweep is left: the caller then
    /// wakes every driver, so the one refused looks again.
    #[must_use = "a refused auto-advance waits for the drivers to be woken"]
    pub(crate) fn end_firing(&self) -> bool {
        let mut state = self.lock();
        state.firing -= 1;
        state.firing == 0 && std::mem::take(&mut state.refused)
    }

    /// True while some thread fires timers for parked threads.
    pub(crate) fn is_firing(&self) -> bool {
        self.ever_paused() && self.lock().firing != 0
    }

    /// The activity epoch: read it before checking that the runtime is idle,
    /// and pass it to [`Clock::advance_to_if_idle`].
    pub(crate) fn activity(&self) -> u64 {
        self.inner.activity.load(Ordering::SeqCst)
    }

    /// Auto-advance: moves frozen time forward to `t` (never backwards) if no
    /// thread became busy since the activity epoch was `epoch`. The check and
    /// the move are one step under the lock that every reader of paused time
    /// takes, so a thread that becomes busy after the check reads the advanced
    /// time, and one that became busy before it stops the jump (it may be about
    /// to register a timer due before `t`).
    ///
    /// Returns `Some(moved)` if time is frozen and the runtime still idle,
    /// `None` if the jump was refused.
    pub(crate) fn advance_to_if_idle(&self, t: Instant, epoch: u64) -> Option<bool> {
        let mut state = self.lock();
        if state.unfrozen.is_some() {
            return None;
        }
        if state.firing != 0 || self.inner.activity.load(Ordering::SeqCst) != epoch {
            // The thread that made it busy wakes the drivers once it is done
            // (a sweep ending, a worker parking, a `block_on` poll returning).
            state.refused = true;
            return None;
        }
        // Targets are deadlines short of the horizon (`TimeDriver::next_deadline`).
        let t = t.min(self.last_paused_instant());
        let moved = t > state.base;
        state.base = state.base.max(t);
        Some(moved)
    }

    /// Locks the bookkeeping; a panic while holding it cannot leave it inconsistent
    /// (every update is a single assignment), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Timers count nanoseconds since their clock's origin in a `u64`, whose last
/// value means "fired": a deadline from here on (~584 years after the origin)
/// is never due, and paused time stops one nanosecond short of it
/// ([`Clock::advance`] refuses to pass it; auto-advance never targets it).
pub(crate) const HORIZON_NS: u64 = u64::MAX - 1;

/// Why [`Clock::advance`] did not move the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdvanceRefused {
    /// Time is not paused.
    Running,
    /// The move would reach the [`HORIZON_NS`].
    PastHorizon,
}

/// An instant about 30 years after `from`: "never" for a timer, without overflow.
pub(crate) fn far_future(from: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(THIRTY_YEARS).unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_only_moves_when_advanced() {
        let clock = Clock::paused();
        assert!(clock.is_paused());
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), t0);
        assert!(clock.advance(Duration::from_secs(5)).is_ok());
        assert_eq!(clock.now(), t0 + Duration::from_secs(5));
        assert!(clock.advance_to(t0 + Duration::from_secs(7)));
        assert!(clock.advance_to(t0 + Duration::from_secs(1)), "earlier target is a no-op");
        assert_eq!(clock.now(), t0 + Duration::from_secs(7));
    }

    #[test]
    fn pause_resume_is_monotonic() {
        let clock = Clock::real();
        assert!(!clock.is_paused());
        assert_eq!(clock.advance(Duration::from_secs(1)), Err(AdvanceRefused::Running));
        assert!(!clock.resume());
        assert!(clock.pause());
        assert!(!clock.pause());
        let frozen = clock.now();
        clock.advance(Duration::from_secs(3600)).unwrap();
        assert!(clock.resume());
        let t = clock.now();
        assert!(t >= frozen + Duration::from_secs(3600));
        assert!(clock.now() >= t);
        assert!(!clock.is_paused());
    }

    #[test]
    fn a_reader_racing_the_first_pause_never_sees_time_go_back() {
        // The reader passed the "never paused" check, then `pause` froze time
        // at a reading older than the reader's: time went back by up to 80 µs
        // in 45% of the trials (found by a review).
        for _ in 0..200 {
            let clock = Clock::real();
            let reader = clock.clone();
            let stop = Arc::new(AtomicBool::new(false));
            let done = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut last = reader.now();
                while !done.load(Ordering::Relaxed) {
                    let now = reader.now();
                    assert!(now >= last, "time went back by {:?}", last - now);
                    last = now;
                }
            });
            std::thread::sleep(Duration::from_micros(50));
            clock.pause();
            std::thread::sleep(Duration::from_micros(50));
            stop.store(true, Ordering::Relaxed);
            thread.join().unwrap();
        }
    }

    #[test]
    fn nanos_round_trip_and_saturate() {
        let clock = Clock::paused();
        let t = clock.origin() + Duration::from_micros(1_500);
        assert_eq!(clock.to_nanos(t), 1_500_000);
        assert_eq!(clock.nanos_to_instant(1_500_000), t);
        assert_eq!(clock.to_nanos(far_future(clock.origin())), 86_400 * 365 * 30 * 1_000_000_000);
        if let Some(before) = clock.origin().checked_sub(Duration::from_secs(1)) {
            assert_eq!(clock.to_nanos(before), 0);
        }
        let huge = clock.origin().checked_add(Duration::from_secs(u64::MAX / 4));
        if let Some(huge) = huge {
            assert_eq!(clock.to_nanos(huge), u64::MAX);
        }
        assert!(clock.nanos_to_instant(u64::MAX) > clock.origin());
    }
}
